"""A loopback server speaking the OpenAI chat-completions API with scripted replies, for the tests of
`migr_hf.services.llm` and its callers (LLM judge, reasoning writer and splitter, evaluation example)."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Action:
    """One scripted server answer: a reply text, an HTTP error, a delay before replying, or a broken body."""

    kind: str  # "reply" | "status" | "sleep" | "malformed"
    text: str = ""
    status: int = 200
    seconds: float = 0.0
    retry_after: float | None = None


def reply(text: str) -> Action:
    return Action("reply", text=text)


def status(code: int, retry_after: float | None = None) -> Action:
    return Action("status", status=code, retry_after=retry_after)


def sleep(seconds: float, text: str) -> Action:
    return Action("sleep", text=text, seconds=seconds)


MALFORMED = Action("malformed")
_REASON = re.compile(r'Reason: (?:""")?(.*?)(?:""")?\nAnswer Emotion:$', re.DOTALL)


class FakeOpenAIServer:
    """A real HTTP server on 127.0.0.1 answering ``POST /v1/chat/completions`` from a per-reason script.

    ``script(reason, *actions)`` sets the actions for prompts whose ``Reason:`` is ``reason`` (replacing any
    left); each request takes the next one, the last one repeats. Unscripted prompts get ``default`` (a
    "neutral" reply). A prompt without ``Reason:`` is its own reason. Records every request body (``bodies``)
    and ``Authorization`` header (``auth``), requests per reason (``counts``) and the most requests in flight at
    once (``max_in_flight``). ``inject_faults(rate, actions)`` makes each request, with probability ``rate``,
    get one of ``actions`` (chosen at random) instead of its scripted answer.
    """

    def __init__(self, default: Action | None = None) -> None:
        self.default = default or reply("neutral")
        self._scripts: dict[str, deque[Action]] = defaultdict(deque)
        self.bodies: list[dict] = []
        self.auth: list[str] = []
        self.counts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._fault_rate = 0.0
        self._faults: tuple[Action, ...] = ()
        self._random = random.Random(0)
        self.faults_injected: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, reason: str, *actions: Action) -> None:
        with self._lock:
            self._scripts[reason] = deque(actions)

    def inject_faults(self, rate: float, actions: tuple[Action, ...], seed: int = 0) -> None:
        with self._lock:
            self._fault_rate, self._faults, self._random = rate, actions, random.Random(seed)

    def _next_action(self, reason: str) -> Action:
        with self._lock:
            if self._faults and self._random.random() < self._fault_rate:
                fault = self._random.choice(self._faults)
                name = {"status": str(fault.status), "reply": f"reply {fault.text!r}"}.get(fault.kind, fault.kind)
                self.faults_injected[name] += 1
                return fault
            queue = self._scripts.get(reason)
            if not queue:
                return self.default
            return queue.popleft() if len(queue) > 1 else queue[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions":
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                prompt = body["messages"][-1]["content"]
                match = _REASON.search(prompt)
                reason = match.group(1) if match else prompt
                with server._lock:
                    server.bodies.append(body)
                    server.auth.append(self.headers.get("Authorization", ""))
                    server.counts[reason] += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(server._next_action(reason), body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, action: Action, body: dict) -> None:
                if action.kind == "status":
                    headers = {"Retry-After": str(action.retry_after)} if action.retry_after is not None else {}
                    error = {"error": {"message": f"scripted {action.status}", "type": "scripted", "code": None}}
                    self._send(action.status, json.dumps(error).encode(), headers)
                    return
                if action.kind == "malformed":
                    self._send(200, b"this is not json")
                    return
                if action.kind == "sleep":
                    time.sleep(action.seconds)
                completion = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": action.text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                self._send(200, json.dumps(completion).encode())

        return Handler

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

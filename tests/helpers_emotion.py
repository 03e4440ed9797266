"""Test helpers for the classifiers, rewards and evaluation: a tiny local sequence classifier and a loopback
server that speaks the OpenAI chat-completions API with scripted replies."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from migr_hf.classifiers import EmotionClassifier

CORPUS = (
    "In the video, the woman smiles broadly and her cheeks are raised.",
    "In the audio, his voice trembles and he sobs quietly.",
    "She frowns, glares at him and shouts loudly.",
    "His eyes widen and his mouth drops open in surprise.",
    "The man wrinkles his nose in disgust and turns away.",
    "The speaker sounds calm and neutral, with a steady tone.",
    "Her hands shake and she looks around in fear.",
    "Based on these cues, we can infer that the person is happy, sad, angry or worried.",
)


class ScriptedClassifier(EmotionClassifier):
    """Backend answering from a ``{text: ranked labels}`` dict (``default`` otherwise); records every call."""

    def __init__(self, answers, default=("neutral",), **kwargs):
        super().__init__(**kwargs)
        self.answers = answers
        self.default = default
        self.calls = []

    def _predict(self, texts, label_set):
        self.calls.append(list(texts))
        return [self.answers.get(text, self.default) for text in texts]


def build_tiny_classifier(
    path: str | Path,
    labels: Sequence[str],
    *,
    multi_label: bool = True,
    bias: Sequence[float] | None = None,
    generic_names: bool = False,
    seed: int = 0,
) -> Path:
    """Save a tiny random BERT sequence classifier and its WordPiece tokenizer (trained here) to ``path``.

    ``bias`` zeroes the classification head's weight and sets its bias, so every input gets exactly these
    logits. ``generic_names`` saves ``LABEL_i`` names instead of ``labels``.
    """
    path = Path(path)
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        CORPUS * 4, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials, show_progress=False)
    )
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=fast.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=len(labels),
        id2label={i: (f"LABEL_{i}" if generic_names else name) for i, name in enumerate(labels)},
        label2id={(f"LABEL_{i}" if generic_names else name): i for i, name in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    model = BertForSequenceClassification(config).eval()
    if bias is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.copy_(torch.tensor(list(bias), dtype=torch.float32))
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


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
_REASON = re.compile(r"Reason: (.*)\nAnswer Emotion:$", re.DOTALL)


class FakeOpenAIServer:
    """A real HTTP server on 127.0.0.1 answering ``POST /v1/chat/completions`` from a per-reason script.

    ``script(reason, *actions)`` sets the actions for prompts whose ``Reason:`` is ``reason`` (replacing any
    left); each request takes the next one, the last one repeats. Unscripted prompts get ``default`` (a
    "neutral" reply). Records every request body (``bodies``), requests per reason (``counts``) and the most
    requests in flight at once (``max_in_flight``).
    """

    def __init__(self, default: Action | None = None) -> None:
        self.default = default or reply("neutral")
        self._scripts: dict[str, deque[Action]] = defaultdict(deque)
        self.bodies: list[dict] = []
        self.counts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, reason: str, *actions: Action) -> None:
        with self._lock:
            self._scripts[reason] = deque(actions)

    def _next_action(self, reason: str) -> Action:
        with self._lock:
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

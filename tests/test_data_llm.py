"""The OpenAI-compatible call of the data pipeline (retries, cache, configuration), the LLM reasoning writer and
the LLM splitter, against a loopback server started by the tests."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migr_hf.data.fau import FAUEvidence
from migr_hf.data.llm import LLMClient, LLMError
from migr_hf.data.reasoning import LLMReasoningSplitter, ReasoningParts
from migr_hf.data.reasoning_writer import OpenAIReasoningWriter
from migr_hf.data.records import SampleRecord


class FakeOpenAI:
    """Loopback chat-completions server: answers with the scripted ``(status, content)`` replies in order (the
    last one repeats) and records every request body and Authorization header."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, str]] = [(200, "ok")]
        self.requests: list[dict] = []
        self.auth: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.auth.append(self.headers.get("Authorization", ""))
                status, content = fake.replies.pop(0) if len(fake.replies) > 1 else fake.replies[0]
                if status == 200:
                    payload = {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                else:
                    payload = {"error": {"message": content, "type": "server_error", "code": None}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def client(self, **kwargs) -> LLMClient:
        return LLMClient(base_url=self.url, api_key="test-key", initial_backoff=0.001, **kwargs)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeOpenAI()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


MESSAGES = [{"role": "user", "content": "hello"}]


def test_retries_with_backoff_then_caches_on_disk(server, tmp_path):
    server.replies = [(500, "boom"), (429, "slow down"), (200, "the answer")]
    client = server.client(cache_dir=tmp_path / "cache", max_retries=3)
    assert client.chat(MESSAGES) == "the answer"
    assert len(server.requests) == 3
    assert server.requests[0]["messages"] == MESSAGES and server.requests[0]["temperature"] == 0.0
    assert client.chat(MESSAGES) == "the answer"
    assert server.client(cache_dir=tmp_path / "cache").chat(MESSAGES) == "the answer"
    assert len(server.requests) == 3
    cached = list((tmp_path / "cache").rglob("*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["response"] == "the answer"
    server.client(cache_dir=tmp_path / "cache").chat([{"role": "user", "content": "other"}])
    assert len(server.requests) == 4


def test_gives_up_after_max_retries_and_never_retries_client_errors(server):
    server.replies = [(503, "down")]
    with pytest.raises(LLMError, match="after 3 attempt"):
        server.client(max_retries=2).chat(MESSAGES)
    assert len(server.requests) == 3
    server.requests.clear()
    server.replies = [(400, "bad request")]
    with pytest.raises(LLMError, match="after 1 attempt"):
        server.client(max_retries=5).chat(MESSAGES)
    assert len(server.requests) == 1
    server.replies = [(200, "   ")]
    with pytest.raises(LLMError, match="no text"):
        server.client().chat(MESSAGES)


def test_configuration_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("MIGR_LLM_MODEL", "judge-model")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    assert LLMClient(initial_backoff=0.001).chat(MESSAGES) == "ok"
    assert server.requests[-1]["model"] == "judge-model" and server.auth[-1] == "Bearer env-key"
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        LLMClient().chat(MESSAGES)


def test_openai_writer_sends_the_au_evidence(server):
    evidence = FAUEvidence(
        frame=31,
        timestamp=1.2,
        active_aus={"AU12": 3.05, "AU06": 2.55},
        present_aus=("AU06", "AU12"),
        matched={"happy": 1.88},
        matched_aus={"happy": ("AU06", "AU12")},
        num_peaks=1,
    )
    record = SampleRecord("dfew-00001", "dfew", "train", "00001.mp4", "happy", "dfew")
    server.replies = [(200, "In the video, she smiles. In the audio, no cue. Based on the smile, she is happy.")]
    writer = OpenAIReasoningWriter(server.client(model="writer-model"))
    assert writer.write(record, evidence, "happy").startswith("In the video")
    prompt = server.requests[-1]["messages"][0]["content"]
    assert "lip corner puller (AU12, intensity 3.05)" in prompt and '"happy"' in prompt and "1.20 s" in prompt
    assert writer.name == "llm:writer-model"


def test_llm_splitter_parses_json_and_falls_back_to_rules(server):
    text = "In the video, he frowns. In the audio, he shouts. Based on both, we can infer anger."
    reply = {
        "audio": ["In the audio, he shouts."],
        "visual": ["In the video, he frowns."],
        "conclusion": ["Based on both, we can infer anger."],
    }
    server.replies = [(200, "Here you go:\n```json\n" + json.dumps(reply) + "\n```")]
    splitter = LLMReasoningSplitter(server.client())
    expected = ReasoningParts(
        "In the audio, he shouts.", "In the video, he frowns.", "Based on both, we can infer anger."
    )
    assert splitter.split(text) == expected
    server.replies = [(200, "I cannot split this.")]
    assert splitter.split(text + " ") == expected
    assert "Reasoning:\nIn the video" in server.requests[0]["messages"][0]["content"]

"""The shared OpenAI-compatible client (`migr_hf.services.llm`) against a loopback server: retries and Retry-After,
non-retryable errors, timeouts, the request-keyed SQLite cache across instances and processes (a crash loses no
paid answer), bounded concurrency, `chat` errors, configuration from the environment; and the data pipeline's
callers of `chat` (OpenAI reasoning writer, LLM splitter)."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest
from llm_server import MALFORMED, FakeOpenAIServer, reply, sleep, status

from migr_hf.data.fau import FAUEvidence
from migr_hf.data.reasoning import LLMReasoningSplitter, ReasoningParts
from migr_hf.data.reasoning_writer import OpenAIReasoningWriter
from migr_hf.data.records import SampleRecord
from migr_hf.services.llm import DEFAULT_MODEL, LLMCache, LLMClient, LLMConfig, LLMError, default_cache_path

TESTS_DIR = Path(__file__).parent
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeOpenAIServer() as fake:
        yield fake


def make_client(server, tmp_path, **overrides) -> LLMClient:
    options = {
        "model": "test-model",
        "base_url": server.base_url,
        "api_key": "test-key",
        "cache_path": tmp_path / "llm.sqlite",
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "max_retries": 3,
        "timeout": 5.0,
    }
    options.update(overrides)
    return LLMClient(LLMConfig(**options))


def cache_rows(path) -> list[tuple[str, dict, str]]:
    """``(model, request, reply)`` of every cached reply."""
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT model, request, reply FROM chat_replies").fetchall()
    return [(model, json.loads(request), text) for model, request, text in rows]


def _cached(path) -> int:
    cache = LLMCache(path)
    try:
        return len(cache)
    finally:
        cache.close()


# ---- complete: batches ------------------------------------------------------------------------------------------


def test_complete_asks_each_distinct_prompt_once_and_caches_the_full_request(server, tmp_path):
    server.script("He shouts at her.", reply("Angry"))
    server.script("She weeps.", reply("sad."))
    client = make_client(server, tmp_path)
    assert client.complete(["He shouts at her.", "She weeps.", "He shouts at her."]) == ["Angry", "sad.", "Angry"]
    assert server.counts == {"He shouts at her.": 1, "She weeps.": 1}  # duplicates asked once
    body = server.bodies[0]
    assert body["model"] == "test-model" and body["temperature"] == 0.0 and "max_completion_tokens" not in body
    assert sorted((body["messages"] for body in server.bodies), key=str) == [
        [{"role": "user", "content": "He shouts at her."}],
        [{"role": "user", "content": "She weeps."}],
    ]

    def request(prompt):
        return {"model": "test-model", "messages": [{"role": "user", "content": prompt}], "temperature": 0.0}

    assert sorted(cache_rows(tmp_path / "llm.sqlite"), key=lambda row: row[2]) == [
        ("test-model", request("He shouts at her."), "Angry"),
        ("test-model", request("She weeps."), "sad."),
    ]


def test_rate_limit_and_server_errors_are_retried(server, tmp_path):
    server.script("429 first", status(429, retry_after=0.02), reply("happy"))
    server.script("500 twice", status(500), status(503), reply("fear"))
    client = make_client(server, tmp_path)
    start = time.perf_counter()
    assert client.complete(["429 first", "500 twice"]) == ["happy", "fear"]
    assert time.perf_counter() - start >= 0.02  # waited for Retry-After
    assert server.counts == {"429 first": 2, "500 twice": 3}
    assert client.stats.retries == 3 and client.stats.failures == 0


def test_timeout_is_retried(server, tmp_path):
    server.script("slow", sleep(3.0, "sad"), reply("surprise"))
    client = make_client(server, tmp_path, timeout=0.5)
    assert client.complete(["slow"]) == ["surprise"]  # the slow "sad" never arrived
    assert server.counts["slow"] >= 2 and client.stats.retries >= 1


def test_failures_are_recorded_and_nothing_else_is_lost(server, tmp_path):
    server.script("always 500", status(500))
    server.script("bad request", status(400))
    server.script("broken body", MALFORMED)
    for index in range(6):
        server.script(f"fine {index}", reply("happy"))
    client = make_client(server, tmp_path, max_retries=2)
    prompts = ["always 500", "bad request", "broken body", *(f"fine {i}" for i in range(6))]
    assert client.complete(prompts) == [None, None, None, *["happy"] * 6]
    assert server.counts["always 500"] == 3  # 1 + max_retries
    assert server.counts["bad request"] == 1  # 400 is not retried
    stats = client.stats
    assert stats.failures == 3 and len(stats.errors) == 3 and "HTTP 400" in " ".join(stats.errors)
    assert _cached(tmp_path / "llm.sqlite") == 6

    # The endpoint recovers: a rerun asks only what failed.
    server.script("always 500", reply("angry"))
    server.script("bad request", reply("sad"))
    server.script("broken body", reply("fear"))
    before = server.counts.total()
    rerun = make_client(server, tmp_path)
    assert rerun.complete(prompts) == ["angry", "sad", "fear", *["happy"] * 6]
    assert server.counts.total() - before == 3


def test_malformed_and_empty_replies_are_retried_like_server_errors(server, tmp_path):
    server.script("garbage first", MALFORMED, reply("happy"))
    server.script("empty first", reply(""), reply("  "), reply("sad"))
    client = make_client(server, tmp_path)
    assert client.complete(["garbage first", "empty first"]) == ["happy", "sad"]
    assert server.counts == {"garbage first": 2, "empty first": 3}
    assert client.stats.retries == 3 and client.stats.failures == 0


def test_rejected_replies_are_asked_again_and_never_served_as_cached_answers(server, tmp_path):
    server.script("fixes itself", reply("banana"), reply("sad"))
    server.script("stays wrong", reply("banana"))
    client = make_client(server, tmp_path, max_reasks=2)
    accept = lambda text: text in ("happy", "sad")  # noqa: E731
    assert client.complete(["fixes itself", "stays wrong"], accept=accept) == ["sad", "banana"]
    assert server.counts == {"fixes itself": 2, "stays wrong": 3}  # bounded: 1 + max_reasks
    assert client.stats.rejected == 4 and client.stats.failures == 0
    # The rejected reply is in the cache (it was paid for) but a rerun does not take it as an answer.
    assert sorted(row[2] for row in cache_rows(tmp_path / "llm.sqlite")) == ["banana", "sad"]
    server.script("stays wrong", reply("happy"))
    rerun = make_client(server, tmp_path)
    assert rerun.complete(["fixes itself", "stays wrong"], accept=accept) == ["sad", "happy"]
    assert rerun.stats.cache_hits == 1 and server.counts["fixes itself"] == 2
    assert rerun.complete(["stays wrong"], accept=accept) == ["happy"] and rerun.stats.cache_hits == 2


def test_api_key_is_hidden_from_repr(tmp_path):
    config = LLMConfig(api_key="sk-secret-123", cache_path=tmp_path / "c.sqlite")
    assert "sk-secret" not in repr(config) and "sk-secret" not in repr(LLMClient(config))


def test_rerun_is_served_from_disk_without_key_or_server(server, tmp_path, monkeypatch):
    server.script("She is furious.", reply("angry"))
    prompts = ["She is furious.", "He laughs."]
    first = make_client(server, tmp_path).complete(prompts)
    requests = server.counts.total()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    offline = make_client(server, tmp_path, api_key=None, base_url="http://127.0.0.1:9/v1")
    assert offline.complete(prompts) == first == ["angry", "neutral"]
    assert offline.chat([{"role": "user", "content": "She is furious."}]) == "angry"  # chat shares the entries
    assert server.counts.total() == requests
    assert offline.stats.cache_hits == 3 and offline.stats.requests == 0
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        offline.complete(["new text"])


def test_concurrency_is_bounded(server, tmp_path):
    for index in range(8):
        server.script(f"text {index}", sleep(0.3, "sad"))
    client = make_client(server, tmp_path, max_concurrency=3)
    start = time.perf_counter()
    assert client.complete([f"text {i}" for i in range(8)]) == ["sad"] * 8
    assert server.max_in_flight == 3
    assert time.perf_counter() - start >= 0.3 * 3  # ceil(8 / 3) rounds


_CRASHING_RUN = textwrap.dedent(
    """
    import sys
    from migr_hf.services.llm import LLMClient, LLMConfig
    config = LLMConfig(model="m", base_url=sys.argv[1], api_key="k", cache_path=sys.argv[2], max_concurrency=4)
    LLMClient(config).complete([f"Reason: text {i}\\nAnswer Emotion:" for i in range(8)])
    """
)


def test_a_crash_loses_at_most_the_requests_in_flight(server, tmp_path):
    """Kill the client (SIGKILL) while half the answers are in and the other half is in flight: a rerun in
    another process pays only for the requests that were in flight."""
    for index in range(4):
        server.script(f"text {index}", reply("happy"))
    for index in range(4, 8):
        server.script(f"text {index}", sleep(10.0, "late"))  # not answered before the kill
    cache_path = tmp_path / "crash.sqlite"
    process = subprocess.Popen([sys.executable, "-c", _CRASHING_RUN, server.base_url, str(cache_path)], cwd=TESTS_DIR)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.counts.total() == 8 and cache_path.exists() and _cached(cache_path) == 4:
                break
            assert process.poll() is None, "the client process ended before the kill"
            time.sleep(0.05)
        else:
            pytest.fail("the client process did not get its first answers in time")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    for index in range(4, 8):
        server.script(f"text {index}", reply("sad"))
    client = LLMClient(LLMConfig(model="m", base_url=server.base_url, api_key="k", cache_path=cache_path))
    replies = client.complete([f"Reason: text {i}\nAnswer Emotion:" for i in range(8)])
    assert replies == ["happy"] * 4 + ["sad"] * 4
    assert client.stats.cache_hits == 4 and client.stats.requests == 4


# ---- chat: one conversation -------------------------------------------------------------------------------------


def test_chat_retries_with_backoff_then_caches_on_disk(server, tmp_path):
    server.script("hello", status(500), status(429), reply("the answer"))
    client = make_client(server, tmp_path)
    assert client.chat(MESSAGES) == "the answer"
    assert len(server.bodies) == 3
    assert server.bodies[0]["messages"] == MESSAGES and server.bodies[0]["temperature"] == 0.0
    assert client.chat(MESSAGES) == "the answer"
    assert make_client(server, tmp_path).chat(MESSAGES) == "the answer"
    assert len(server.bodies) == 3
    rows = cache_rows(tmp_path / "llm.sqlite")
    assert len(rows) == 1 and rows[0][2] == "the answer"
    make_client(server, tmp_path).chat([{"role": "user", "content": "other"}])
    assert len(server.bodies) == 4


def test_chat_honours_retry_after(server, tmp_path):
    server.script("hello", status(503, retry_after=0.3), reply("late"))
    client = make_client(server, tmp_path, backoff_base=0.001, backoff_max=1.0)
    start = time.perf_counter()
    assert client.chat(MESSAGES) == "late"
    assert time.perf_counter() - start >= 0.3  # the backoff alone waits at most 1 ms
    assert server.counts["hello"] == 2 and client.stats.retries == 1


def test_chat_gives_up_after_max_retries_and_never_retries_client_errors(server, tmp_path):
    server.script("hello", status(503))
    with pytest.raises(LLMError, match="after 3 attempt"):
        make_client(server, tmp_path, max_retries=2).chat(MESSAGES)
    assert len(server.bodies) == 3
    server.bodies.clear()
    server.script("hello", status(400))
    with pytest.raises(LLMError, match="after 1 attempt"):
        make_client(server, tmp_path, max_retries=5).chat(MESSAGES)
    assert len(server.bodies) == 1
    server.script("hello", reply("   "))
    client = make_client(server, tmp_path)
    with pytest.raises(LLMError, match="after 4 attempt.*no text"):
        client.chat(MESSAGES)
    assert client.complete(["hello"]) == [None]  # the batch entry point reads the same failure as None
    assert client.stats.failures == 2 and "no text" in client.stats.errors[-1]
    server.script("hello", MALFORMED)
    with pytest.raises(LLMError, match="after 4 attempt.*malformed"):
        make_client(server, tmp_path).chat(MESSAGES)
    server.script("hello", sleep(3.0, "too late"))
    with pytest.raises(LLMError, match="after 2 attempt.*Timeout"):
        make_client(server, tmp_path, timeout=0.3, max_retries=1).chat(MESSAGES)
    assert cache_rows(tmp_path / "llm.sqlite") == []  # no failure is cached


def test_requests_differing_in_sampling_parameters_never_share_a_cache_entry(server, tmp_path):
    server.script("hello", reply("first"), reply("second"), reply("third"), reply("fourth"))
    assert make_client(server, tmp_path).chat(MESSAGES) == "first"
    assert make_client(server, tmp_path, temperature=0.7).chat(MESSAGES) == "second"
    assert make_client(server, tmp_path, max_completion_tokens=8).chat(MESSAGES) == "third"
    assert make_client(server, tmp_path, model="other-model").chat(MESSAGES) == "fourth"
    assert [body.get("temperature") for body in server.bodies] == [0.0, 0.7, 0.0, 0.0]
    assert [body.get("max_completion_tokens") for body in server.bodies] == [None, None, 8, None]
    assert make_client(server, tmp_path, temperature=0.7).chat(MESSAGES) == "second"
    assert make_client(server, tmp_path, max_completion_tokens=8).chat(MESSAGES) == "third"
    assert make_client(server, tmp_path).complete(["hello"]) == ["first"]
    assert len(server.bodies) == 4 and len(cache_rows(tmp_path / "llm.sqlite")) == 4


# ---- configuration ----------------------------------------------------------------------------------------------


def test_config_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MIGR_LLM_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("MIGR_LLM_CACHE", str(tmp_path / "env.sqlite"))
    config = LLMConfig()
    assert (config.model, config.base_url, config.api_key) == ("env-model", "http://127.0.0.1:1/v1", "env-key")
    assert config.cache_path == tmp_path / "env.sqlite"
    assert LLMConfig(model="arg-model").model == "arg-model"
    with pytest.raises(ValueError, match="max_concurrency"):
        LLMConfig(max_concurrency=0)
    for name in ("MIGR_LLM_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "MIGR_LLM_CACHE"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    config = LLMConfig()
    assert DEFAULT_MODEL == "gpt-4.1-mini"
    assert (config.model, config.base_url, config.api_key) == (DEFAULT_MODEL, None, None)
    assert config.cache_path == default_cache_path() == tmp_path / "xdg" / "migr_hf" / "llm_cache.sqlite"
    assert not config.cache_path.exists()


def test_a_client_configured_by_the_environment_alone(server, monkeypatch, tmp_path):
    server.script("hello", reply("ok"))
    monkeypatch.setenv("MIGR_LLM_MODEL", "judge-model")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("MIGR_LLM_CACHE", str(tmp_path / "env.sqlite"))
    assert LLMClient(LLMConfig(backoff_base=0.001)).chat(MESSAGES) == "ok"
    assert server.bodies[-1]["model"] == "judge-model" and server.auth[-1] == "Bearer env-key"
    assert [row[2] for row in cache_rows(tmp_path / "env.sqlite")] == ["ok"]
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("MIGR_LLM_CACHE", str(tmp_path / "empty.sqlite"))
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        LLMClient().chat(MESSAGES)


# ---- data-pipeline callers of chat ------------------------------------------------------------------------------


def test_openai_writer_sends_the_au_evidence(server, tmp_path):
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
    server.default = reply("In the video, she smiles. In the audio, no cue. Based on the smile, she is happy.")
    writer = OpenAIReasoningWriter(make_client(server, tmp_path, model="writer-model"))
    assert writer.write(record, evidence, "happy").startswith("In the video")
    prompt = server.bodies[-1]["messages"][0]["content"]
    assert "lip corner puller (AU12, intensity 3.05)" in prompt and '"happy"' in prompt and "1.20 s" in prompt
    assert writer.name == "llm:writer-model"


def test_llm_splitter_parses_json_and_falls_back_to_rules(server, tmp_path):
    text = "In the video, he frowns. In the audio, he shouts. Based on both, we can infer anger."
    split = {
        "audio": ["In the audio, he shouts."],
        "visual": ["In the video, he frowns."],
        "conclusion": ["Based on both, we can infer anger."],
    }
    server.default = reply("Here you go:\n```json\n" + json.dumps(split) + "\n```")
    splitter = LLMReasoningSplitter(make_client(server, tmp_path))
    expected = ReasoningParts(
        "In the audio, he shouts.", "In the video, he frowns.", "Based on both, we can infer anger."
    )
    assert splitter.split(text) == expected
    server.default = reply("I cannot split this.")
    assert splitter.split(text + " ") == expected
    assert "Reasoning:\nIn the video" in server.bodies[0]["messages"][0]["content"]

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers_emotion import MALFORMED, FakeOpenAIServer, reply, sleep, status

from migr_hf.classifiers import (
    JUDGE_PROMPT,
    JudgeCache,
    JudgeClient,
    JudgeConfig,
    LLMJudgeClassifier,
    build_judge_prompt,
    parse_judge_reply,
)

TESTS_DIR = Path(__file__).parent


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake


def make_judge(server, tmp_path, **overrides):
    options = {
        "model": "judge-model",
        "base_url": server.base_url,
        "api_key": "test-key",
        "cache_path": tmp_path / "judge.sqlite",
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "max_retries": 3,
        "timeout": 5.0,
    }
    options.update(overrides)
    return LLMJudgeClassifier(JudgeConfig(**options))


def test_prompt_and_reply_parsing():
    prompt = build_judge_prompt("He shouts.", "dfew")
    assert prompt == (
        "Read the reasoning content and respond with the appropriate emotion in happy, sad, neutral, angry, "
        "surprise, disgust, fear. Reply with only the emotion word.\nReason: He shouts.\nAnswer Emotion:"
    )
    assert parse_judge_reply(" Angry.\n", "dfew") == ("angry", True)
    assert parse_judge_reply("Sadness", "dfew") == ("sad", True)  # DFEW synonym
    assert parse_judge_reply("anxious", "mafw") == ("anxiety", True)
    assert parse_judge_reply("The emotion is anger", "dfew") == ("neutral", False)
    assert parse_judge_reply("", "emer") == ("neutral", False)


def test_good_replies_request_shape_and_cache_file(server, tmp_path):
    server.script("He shouts at her.", reply("Angry"))
    server.script("She weeps.", reply("sad."))
    judge = make_judge(server, tmp_path)
    assert judge.judge(["He shouts at her.", "She weeps.", "He shouts at her."], "dfew") == ["angry", "sad", "angry"]
    assert server.counts == {"He shouts at her.": 1, "She weeps.": 1}  # duplicates asked once
    body = server.bodies[0]
    assert body["model"] == "judge-model" and body["temperature"] == 0.0
    assert body["messages"] == [
        {
            "role": "user",
            "content": build_judge_prompt(body["messages"][0]["content"].split("Reason: ")[1].split("\n")[0], "dfew"),
        }
    ]
    rows = sqlite3.connect(tmp_path / "judge.sqlite").execute("SELECT model, prompt, reply FROM replies").fetchall()
    assert sorted(rows) == sorted(
        [
            ("judge-model", build_judge_prompt("He shouts at her.", "dfew"), "Angry"),
            ("judge-model", build_judge_prompt("She weeps.", "dfew"), "sad."),
        ]
    )


def test_garbage_reply_reads_as_neutral(server, tmp_path):
    server.script("She smiles.", reply("I think this is joy!"))
    judge = make_judge(server, tmp_path)
    assert judge.predict(["She smiles."], "mafw") == [("neutral",)]
    assert judge.out_of_vocabulary == 1


def test_rate_limit_and_server_errors_are_retried(server, tmp_path):
    server.script("429 first", status(429, retry_after=0.02), reply("happy"))
    server.script("500 twice", status(500), status(503), reply("fear"))
    judge = make_judge(server, tmp_path)
    start = time.perf_counter()
    assert judge.judge(["429 first", "500 twice"], "dfew") == ["happy", "fear"]
    assert time.perf_counter() - start >= 0.02  # waited for Retry-After
    assert server.counts == {"429 first": 2, "500 twice": 3}
    assert judge.client.stats.retries == 3 and judge.client.stats.failures == 0


def test_timeout_is_retried(server, tmp_path):
    server.script("slow", sleep(3.0, "sad"), reply("surprise"))
    judge = make_judge(server, tmp_path, timeout=0.5)
    assert judge.judge(["slow"], "dfew") == ["surprise"]  # the slow "sad" never arrived
    assert server.counts["slow"] >= 2 and judge.client.stats.retries >= 1


def test_failures_are_recorded_and_nothing_else_is_lost(server, tmp_path):
    server.script("always 500", status(500))
    server.script("bad request", status(400))
    server.script("broken body", MALFORMED)
    for index in range(6):
        server.script(f"fine {index}", reply("happy"))
    judge = make_judge(server, tmp_path, max_retries=2)
    texts = ["always 500", "bad request", "broken body", *(f"fine {i}" for i in range(6))]
    assert judge.predict(texts, "dfew") == [None, None, None, *[("happy",)] * 6]
    assert server.counts["always 500"] == 3  # 1 + max_retries
    assert server.counts["bad request"] == 1  # 400 is not retried
    stats = judge.client.stats
    assert stats.failures == 3 and len(stats.errors) == 3 and "HTTP 400" in " ".join(stats.errors)
    assert _cached(tmp_path / "judge.sqlite") == 6

    # The endpoint recovers: a rerun asks only what failed.
    server.script("always 500", reply("angry"))
    server.script("bad request", reply("sad"))
    server.script("broken body", reply("fear"))
    before = sum(server.counts.values())
    rerun = make_judge(server, tmp_path)
    assert rerun.judge(texts, "dfew") == ["angry", "sad", "fear", *["happy"] * 6]
    assert sum(server.counts.values()) - before == 3


def test_rerun_is_served_from_disk_without_key_or_server(server, tmp_path, monkeypatch):
    server.script("She is furious.", reply("angry"))
    texts = ["She is furious.", "He laughs."]
    first = make_judge(server, tmp_path).judge(texts, "mafw")
    requests = sum(server.counts.values())
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    offline = make_judge(server, tmp_path, api_key=None, base_url="http://127.0.0.1:9/v1")
    assert offline.judge(texts, "mafw") == first == ["anger", "neutral"]
    assert sum(server.counts.values()) == requests
    assert offline.client.stats.cache_hits == 2 and offline.client.stats.requests == 0
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        offline.judge(["new text"], "mafw")


def test_concurrency_is_bounded(server, tmp_path):
    for index in range(8):
        server.script(f"text {index}", sleep(0.3, "sad"))
    judge = make_judge(server, tmp_path, max_concurrency=3)
    start = time.perf_counter()
    assert judge.judge([f"text {i}" for i in range(8)], "dfew") == ["sad"] * 8
    assert server.max_in_flight == 3
    assert time.perf_counter() - start >= 0.3 * 3  # ceil(8 / 3) rounds


def test_config_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MIGR_JUDGE_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("MIGR_JUDGE_CACHE", str(tmp_path / "env.sqlite"))
    config = JudgeConfig()
    assert (config.model, config.base_url, config.api_key) == ("env-model", "http://127.0.0.1:1/v1", "env-key")
    assert config.cache_path == tmp_path / "env.sqlite"
    assert JudgeConfig(model="arg-model").model == "arg-model"
    with pytest.raises(ValueError, match="max_concurrency"):
        JudgeConfig(max_concurrency=0)
    with pytest.raises(ValueError, match="prompt_template"):
        LLMJudgeClassifier(JudgeConfig(), prompt_template="no fields")
    assert "{labels}" in JUDGE_PROMPT and "{reason}" in JUDGE_PROMPT


def _cached(path):
    cache = JudgeCache(path)
    try:
        return len(cache)
    finally:
        cache.close()


_CRASHING_RUN = textwrap.dedent(
    """
    import sys
    from migr_hf.classifiers import JudgeClient, JudgeConfig
    config = JudgeConfig(model="m", base_url=sys.argv[1], api_key="k", cache_path=sys.argv[2], max_concurrency=4)
    JudgeClient(config).complete([f"Reason: text {i}\\nAnswer Emotion:" for i in range(8)])
    """
)


def test_a_crash_loses_no_paid_answer(server, tmp_path):
    """Kill the judge (SIGKILL) while half the answers are in: a rerun pays only for the other half."""
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
            assert process.poll() is None, "the judge process ended before the kill"
            time.sleep(0.05)
        else:
            pytest.fail("the judge process did not get its first answers in time")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    for index in range(4, 8):
        server.script(f"text {index}", reply("sad"))
    client = JudgeClient(JudgeConfig(model="m", base_url=server.base_url, api_key="k", cache_path=cache_path))
    replies = client.complete([f"Reason: text {i}\nAnswer Emotion:" for i in range(8)])
    assert replies == ["happy"] * 4 + ["sad"] * 4
    assert client.stats.cache_hits == 4 and client.stats.requests == 4

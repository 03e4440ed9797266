"""The LLM judge classifier: ERV's prompt, reply parsing, the requests it sends and how failed requests read;
the client underneath (retries, cache, configuration) is tested in ``test_llm.py``."""

import pytest
from llm_server import FakeOpenAIServer, reply, status

from migr_hf.classifiers import (
    JUDGE_MAX_COMPLETION_TOKENS,
    JUDGE_PROMPT,
    LLMJudgeClassifier,
    build_judge_prompt,
    judge_config,
    parse_judge_reply,
)
from migr_hf.services.llm import LLMConfig


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
    return LLMJudgeClassifier(judge_config(**options))


def test_prompt_and_reply_parsing():
    prompt = build_judge_prompt("He shouts.", "dfew")
    assert prompt == (
        "Read the reasoning content and respond with the appropriate emotion in happy, sad, neutral, angry, "
        "surprise, disgust, fear. Reply with only the emotion word.\nReason: He shouts.\nAnswer Emotion:"
    )
    assert parse_judge_reply(" Angry.\n", "dfew") == ("angry", True)
    assert parse_judge_reply("Sadness", "dfew") == ("sad", True)  # DFEW synonym
    assert parse_judge_reply("anxious", "mafw") == ("anxiety", True)
    assert parse_judge_reply("angry", "mafw") == ("anger", True)
    assert parse_judge_reply("The emotion is anger", "dfew") == ("neutral", False)
    assert parse_judge_reply("", "emer") == ("neutral", False)


def test_good_replies_and_request_shape(server, tmp_path):
    server.script("He shouts at her.", reply("Angry"))
    server.script("She weeps.", reply("sad."))
    judge = make_judge(server, tmp_path)
    assert judge.judge(["He shouts at her.", "She weeps.", "He shouts at her."], "dfew") == ["angry", "sad", "angry"]
    assert server.counts == {"He shouts at her.": 1, "She weeps.": 1}  # duplicates asked once
    body = server.bodies[0]
    assert body["model"] == "judge-model" and body["temperature"] == 0.0
    assert body["max_completion_tokens"] == JUDGE_MAX_COMPLETION_TOKENS == 16
    assert body["messages"] == [
        {
            "role": "user",
            "content": build_judge_prompt(body["messages"][0]["content"].split("Reason: ")[1].split("\n")[0], "dfew"),
        }
    ]


def test_garbage_reply_reads_as_neutral(server, tmp_path):
    server.script("She smiles.", reply("I think this is joy!"))
    judge = make_judge(server, tmp_path)
    assert judge.predict(["She smiles."], "mafw") == [("neutral",)]
    assert judge.out_of_vocabulary == 1


def test_failed_requests_read_as_none_and_are_asked_again(server, tmp_path):
    server.script("bad request", status(400))
    server.script("no text", reply(""))
    server.script("fine", reply("happy"))
    judge = make_judge(server, tmp_path)
    texts = ["bad request", "no text", "fine"]
    assert judge.predict(texts, "dfew") == [None, None, ("happy",)]
    assert judge.judge(texts, "dfew") == [None, None, "happy"]
    assert judge.client.stats.failures == 4
    server.script("bad request", reply("sad"))
    server.script("no text", reply("fear"))
    assert judge.judge(texts, "dfew") == ["sad", "fear", "happy"]
    assert server.counts == {"bad request": 3, "no text": 3, "fine": 1}


def test_judge_configuration(monkeypatch, tmp_path):
    monkeypatch.setenv("MIGR_LLM_CACHE", str(tmp_path / "env.sqlite"))
    assert judge_config().max_completion_tokens == JUDGE_MAX_COMPLETION_TOKENS
    assert judge_config(max_completion_tokens=4, model="m").max_completion_tokens == 4
    assert LLMJudgeClassifier().client.config.max_completion_tokens == JUDGE_MAX_COMPLETION_TOKENS
    with pytest.raises(ValueError, match="prompt_template"):
        LLMJudgeClassifier(LLMConfig(), prompt_template="no fields")
    assert "{labels}" in JUDGE_PROMPT and "{reason}" in JUDGE_PROMPT

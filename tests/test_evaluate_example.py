import importlib.util
import json
from pathlib import Path

import pytest
from helpers_emotion import FakeOpenAIServer, reply

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "evaluate.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("migr_example_evaluate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def completion(think: str, answer: str) -> str:
    return f"<vis_desc>A face.</vis_desc><aud_desc>A voice.</aud_desc><think>{think}</think><answer>{answer}</answer>"


RECORDS = [
    {"id": "a", "label": "happy", "completion": completion("She is delighted.", "happy")},  # right, judge happy
    {
        "id": "b",
        "label": "sad",
        "completion": completion("He is furious.", "Sadness"),
    },  # right answer, angry reasoning
    {"id": "c", "label": "angry", "completion": completion("He looks sad.", "sad")},  # wrong, judge sad
    {"id": "d", "label": "fear", "completion": "I cannot tell."},  # no answer, no reasoning
]


def write_jsonl(path: Path, records, extra_lines=()) -> Path:
    lines = [json.dumps(record) for record in records] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_offline_judge_end_to_end(example, tmp_path, capsys):
    predictions = write_jsonl(
        tmp_path / "preds.jsonl",
        RECORDS,
        [
            "{not json",
            json.dumps({"id": "e", "label": "sad"}),
            json.dumps({"id": "f", "label": "worried", "completion": ""}),
        ],
    )
    report = example.main(["--predictions", str(predictions), "--label-set", "dfew", "--judge", "offline"])
    # judge reads: happy, angry, sad, (none)
    assert report["table1"] == pytest.approx({"FCR": 0.25, "EEA": 0.25, "EPC": 0.5, "UAR": 0.5, "WAR": 0.5})
    assert report["table2"] == {"all": pytest.approx(0.25), "among_correct": pytest.approx(0.5)}
    assert report["table3"]["per_class_recall"] == {"happy": 1.0, "sad": 1.0, "angry": 0.0, "fear": 0.0}
    assert report["counts"] == {
        "no_answer": 1, "answer_not_a_label": 0, "no_reasoning": 1, "judge_failures": 0, "not_well_formed": 1
    }  # fmt: skip
    assert len(report["skipped"]) == 3 and "line 5" in report["skipped"][0]
    assert [s["explanation"] for s in report["samples"]] == ["happy", "angry", "sad", None]

    out = tmp_path / "preds_eval"
    assert json.loads((out / "report.json").read_text())["table1"] == report["table1"]
    markdown = (out / "report.md").read_text()
    assert "| preds | 25.00 | 25.00 | 50.00 | 50.00 | 50.00 |" in markdown
    assert "| preds | 25.00 | 50.00 |" in markdown
    assert "| Method | Hap | Sad | Ang | Fea | UAR | WAR |" in markdown
    assert "Skipped 3 input lines" in markdown
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert "Table 1" in capsys.readouterr().out


def test_llm_judge_end_to_end_and_cached_rerun(example, tmp_path, monkeypatch):
    with FakeOpenAIServer(default=reply("fear")) as server:
        server.script("She is delighted.", reply("Happy"))
        server.script("He is furious.", reply("sad"))
        server.script("He looks sad.", reply("no idea"))  # out of vocabulary -> neutral
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("MIGR_JUDGE_CACHE", str(tmp_path / "judge.sqlite"))
        monkeypatch.setenv("MIGR_JUDGE_MODEL", "judge-model")
        records = [{**record, "label_set": "dfew"} for record in RECORDS]
        predictions = write_jsonl(tmp_path / "run.jsonl", records)
        args = ["--predictions", str(predictions), "--judge", "llm", "--output-dir", str(tmp_path / "out")]
        report = example.main(args)
        assert [s["explanation"] for s in report["samples"]] == ["happy", "sad", "neutral", None]
        assert report["table1"] == pytest.approx({"FCR": 0.5, "EEA": 0.5, "EPC": 0.5, "UAR": 0.5, "WAR": 0.5})
        assert report["table2"]["all"] == 0.0
        assert server.counts.total() == 3 and server.bodies[0]["model"] == "judge-model"
        assert example.main(args)["table1"] == report["table1"]
        assert server.counts.total() == 3  # the rerun paid nothing

        args += ["--reasoning", "all", "--model-name", "MIGR"]
        server.script("A face.\nA voice.\nShe is delighted.", reply("happy"))
        report = example.main(args)
        assert report["model"] == "MIGR" and report["samples"][0]["explanation"] == "happy"
        assert server.counts["A face.\nA voice.\nShe is delighted."] == 1


def test_label_set_must_be_known(example, tmp_path):
    mixed = [{**RECORDS[0], "label_set": "dfew"}, {**RECORDS[1], "label_set": "mafw"}]
    predictions = write_jsonl(tmp_path / "mixed.jsonl", mixed)
    with pytest.raises(ValueError, match="pass the label set"):
        example.main(["--predictions", str(predictions), "--judge", "offline"])
    empty = write_jsonl(tmp_path / "empty.jsonl", [], ["oops"])
    with pytest.raises(SystemExit, match="no usable prediction records"):
        example.main(["--predictions", str(empty), "--judge", "offline", "--label-set", "dfew"])

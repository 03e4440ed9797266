"""`migr-hf evaluate` (and `examples/evaluate.py`, which runs it): predictions JSONL, or a model run over a folder of
labelled clips on a generation engine -> the paper's tables."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fake_vllm import FakeVLLMBackend
from llm_server import MALFORMED, FakeOpenAIServer, reply, sleep, status
from media_fixtures import make_clip, sine

from migr_hf.cli import main

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "evaluate.py"


def evaluate(args: list[str], output_dir: Path) -> dict:
    """Run `migr-hf evaluate` and return the report.json it wrote."""
    assert main(["evaluate", *args]) == 0
    return json.loads((output_dir / "report.json").read_text())


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


def test_offline_judge_end_to_end(tmp_path, capsys):
    predictions = write_jsonl(
        tmp_path / "preds.jsonl",
        RECORDS,
        [
            "{not json",
            json.dumps({"id": "e", "label": "sad"}),
            json.dumps({"id": "f", "label": "worried", "completion": ""}),
        ],
    )
    out = tmp_path / "preds_eval"
    report = evaluate(["--predictions", str(predictions), "--label-set", "dfew", "--judge", "offline"], out)
    # judge reads: happy, angry, sad, (none)
    assert report["table1"] == pytest.approx({"FCR": 0.25, "EEA": 0.25, "EPC": 0.5, "UAR": 0.5, "WAR": 0.5})
    assert report["table2"] == {"all": pytest.approx(0.25), "among_correct": pytest.approx(0.5)}
    assert report["table3"]["per_class_recall"] == {"happy": 1.0, "sad": 1.0, "angry": 0.0, "fear": 0.0}
    assert report["counts"] == {
        "no_answer": 1, "answer_not_a_label": 0, "no_reasoning": 1, "judge_failures": 0, "judge_out_of_set": 0,
        "not_well_formed": 1,
    }  # fmt: skip
    # Both judge inputs side by side; visual + audio + think reads "A face. A voice. ..." for every record.
    assert report["judge_complete"] and set(report["judge_inputs"]) == {"think", "all"}
    assert report["judge_inputs"]["think"]["EEA"] == report["table1"]["EEA"]
    assert len(report["skipped"]) == 3 and "line 5" in report["skipped"][0]
    assert [s["explanation"] for s in report["samples"]] == ["happy", "angry", "sad", None]

    markdown = (out / "report.md").read_text()
    assert "| preds | 25.00 | 25.00 | 50.00 | 50.00 | 50.00 |" in markdown
    assert "| preds | 25.00 | 50.00 |" in markdown
    assert "| Method | Hap | Sad | Ang | Fea | UAR | WAR |" in markdown
    assert "Skipped 3 input lines" in markdown
    assert "| <think> (ERV's judge input) (Table 1) | 25.00 | 25.00 | 50.00 | 3 | 0 | 0 |" in markdown
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert "Table 1" in capsys.readouterr().out


def test_llm_judge_end_to_end_and_cached_rerun(tmp_path, monkeypatch):
    with FakeOpenAIServer(default=reply("fear")) as server:
        server.script("She is delighted.", reply("Happy"))
        server.script("He is furious.", reply("sad"))
        server.script("He looks sad.", reply("no idea"))  # out of the label set: asked again, then kept as such
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("MIGR_LLM_CACHE", str(tmp_path / "llm.sqlite"))
        monkeypatch.setenv("MIGR_LLM_MODEL", "judge-model")
        records = [{**record, "label_set": "dfew"} for record in RECORDS]
        predictions = write_jsonl(tmp_path / "run.jsonl", records)
        args = ["--predictions", str(predictions), "--judge", "llm", "--output-dir", str(tmp_path / "out")]
        args += ["--single-judge-input"]
        report = evaluate(args, tmp_path / "out")
        assert [s["explanation"] for s in report["samples"]] == ["happy", "sad", None, None]  # never "neutral"
        assert [s["judge_status"] for s in report["samples"]] == ["ok", "ok", "out_of_set", "no_reasoning"]
        assert report["table1"] == pytest.approx({"FCR": 0.5, "EEA": 0.5, "EPC": 0.5, "UAR": 0.5, "WAR": 0.5})
        assert report["table2"]["all"] == 0.0 and report["counts"]["judge_out_of_set"] == 1
        assert server.counts == {"She is delighted.": 1, "He is furious.": 1, "He looks sad.": 3}  # 2 re-asks
        assert server.bodies[0]["model"] == "judge-model"
        assert evaluate(args, tmp_path / "out")["table1"] == report["table1"]
        # The rerun paid nothing for the answers; the out-of-set reply is no answer, so it is asked again.
        assert server.counts == {"She is delighted.": 1, "He is furious.": 1, "He looks sad.": 6}

        args[-1:] = ["--reasoning", "all", "--model-name", "MIGR"]  # and both inputs side by side
        server.script("A face.\nA voice.\nShe is delighted.", reply("happy"))
        report = evaluate(args, tmp_path / "out")
        assert report["model"] == "MIGR" and report["samples"][0]["explanation"] == "happy"
        assert server.counts["A face.\nA voice.\nShe is delighted."] == 1
        assert report["judge_inputs"]["all"]["EEA"] == report["table1"]["EEA"] == pytest.approx(0.25)
        assert report["judge_inputs"]["think"]["EEA"] == pytest.approx(0.5)


def test_judge_failures_leave_the_judge_metrics_not_computed(tmp_path, monkeypatch, capsys):
    with FakeOpenAIServer(default=reply("fear")) as server:
        server.script("She is delighted.", reply("Happy"))
        server.script("He is furious.", status(400))  # a refused request: no judgement
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("MIGR_LLM_CACHE", str(tmp_path / "llm.sqlite"))
        predictions = write_jsonl(tmp_path / "run.jsonl", RECORDS)
        args = ["evaluate", "--predictions", str(predictions), "--label-set", "dfew", "--judge", "llm",
                "--single-judge-input", "--output-dir", str(tmp_path / "out")]  # fmt: skip
        assert main(args) == 1
        captured = capsys.readouterr()
        assert "EEA/EPC/FCR not computed: the judge gave no answer for 1 reasonings" in captured.err
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        assert not report["judge_complete"] and report["counts"]["judge_failures"] == 1
        assert report["table1"]["EEA"] is None and report["table1"]["WAR"] == 0.5  # recognition still reported
        assert "| run | n/a | n/a | n/a | 50.00 | 50.00 |" in captured.out
        # --allow-partial: the failed judgement counts as wrong, the report says so, exit 0.
        assert main([*args, "--allow-partial"]) == 0
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        assert report["judge_partial"] and report["table1"]["EEA"] == pytest.approx(0.25)
        assert "**Partial**" in (tmp_path / "out" / "report.md").read_text()


def test_erv_switches(tmp_path, monkeypatch):
    # ERV's EEA: a sample whose answer is no label scores 0 whatever its reasoning says.
    records = [{"id": "x", "label": "happy", "completion": completion("She is delighted.", "joyful")}, RECORDS[0]]
    predictions = write_jsonl(tmp_path / "erv.jsonl", records)
    base = ["--predictions", str(predictions), "--label-set", "dfew", "--judge", "offline", "--single-judge-input"]
    assert evaluate(base, tmp_path / "erv_eval")["table1"]["EEA"] == 1.0
    assert evaluate([*base, "--erv-eea"], tmp_path / "erv_eval")["table1"]["EEA"] == 0.5
    # ERV's judge fallback: out-of-set replies read as neutral.
    with FakeOpenAIServer(default=reply("banana")) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("MIGR_LLM_CACHE", str(tmp_path / "llm.sqlite"))
        llm = [*base[:-2], "llm", "--single-judge-input"]
        assert [s["explanation"] for s in evaluate(llm, tmp_path / "erv_eval")["samples"]] == [None, None]
        neutral = evaluate([*llm, "--judge-out-of-set", "neutral"], tmp_path / "erv_eval")
        assert [s["explanation"] for s in neutral["samples"]] == ["neutral", "neutral"]
    assert main(["evaluate", *base, "--judge-out-of-set", "neutral"]) == 2  # an LLM-judge option


def test_label_set_must_be_known(tmp_path, capsys):
    mixed = [{**RECORDS[0], "label_set": "dfew"}, {**RECORDS[1], "label_set": "mafw"}]
    predictions = write_jsonl(tmp_path / "mixed.jsonl", mixed)
    assert main(["evaluate", "--predictions", str(predictions), "--judge", "offline"]) == 2
    assert "pass the label set" in capsys.readouterr().err
    empty = write_jsonl(tmp_path / "empty.jsonl", [], ["oops"])
    assert main(["evaluate", "--predictions", str(empty), "--judge", "offline", "--label-set", "dfew"]) == 2
    assert "no usable prediction records" in capsys.readouterr().err


def test_example_script_runs_the_command(tmp_path):
    predictions = write_jsonl(tmp_path / "preds.jsonl", RECORDS)
    command = [sys.executable, str(SCRIPT), "--predictions", str(predictions), "--label-set", "dfew", "--judge", "offline"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Table 1" in result.stdout and (tmp_path / "preds_eval" / "report.json").is_file()


def test_fault_injection_run_judges_every_sample_or_fails_loudly(tmp_path, monkeypatch, capsys):
    """`migr-hf evaluate` against a judge that answers 30% of requests with a fault (429, 500, a timeout, a body
    that is not JSON, an empty reply, a word outside the label set): every sample ends judged with its true
    label (or, rarely, out of set), or the command exits 1 saying the judge metrics are not computed."""
    words = ["happy", "sad", "angry", "fear"]
    records = [
        {"id": f"s{i}", "label": words[i % 4], "completion": completion(f"Reason number {i}.", words[i % 4])}
        for i in range(24)
    ]
    predictions = write_jsonl(tmp_path / "faulty.jsonl", records)
    faults = (status(429, retry_after=0.01), status(500), sleep(2.0, "happy"), MALFORMED, reply(""), reply("banana"))
    with FakeOpenAIServer() as server:
        for i, record in enumerate(records):
            server.script(f"Reason number {i}.", reply(record["label"]))
            server.script(f"A face.\nA voice.\nReason number {i}.", reply(record["label"]))
        server.inject_faults(0.3, faults, seed=12)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("MIGR_LLM_CACHE", str(tmp_path / "llm.sqlite"))
        out = tmp_path / "out"
        code = main(["evaluate", "--predictions", str(predictions), "--label-set", "dfew", "--judge", "llm",
                     "--judge-timeout", "0.5", "--output-dir", str(out)])  # fmt: skip
        assert sum(server.faults_injected.values()) >= 10 and len(server.faults_injected) == 6, server.faults_injected
    report = json.loads((out / "report.json").read_text())
    err = capsys.readouterr().err
    for choice, values in report["judge_inputs"].items():
        assert values["judged"] + values["judge_failures"] == 24, choice
    statuses = {sample["judge_status"] for sample in report["samples"]}
    # Nothing is made up: a judged sample carries its scripted label; out of set is never read as neutral.
    for sample in report["samples"]:
        assert sample["explanation"] in (sample["reference"], None)
        assert (sample["explanation"] is None) == (sample["judge_status"] != "ok")
    if code == 0:
        assert report["judge_complete"] and "failed" not in statuses
        assert report["table1"]["EEA"] == pytest.approx(1 - report["counts"]["judge_out_of_set"] / 24)
    else:
        assert code == 1 and "EEA/EPC/FCR not computed" in err and report["table1"]["EEA"] is None


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """Three DFEW-named clips, a DFEW split CSV for two of them (label ids) plus a JSONL with all three."""
    folder = tmp_path_factory.mktemp("clips")
    for number in (1, 2, 3):
        make_clip(folder / f"{number:05d}.mp4", num_frames=10, audio=sine(1.0, freq=200 + 100 * number))
    (folder / "set_5.csv").write_text("video_name,label\n1,1\n2,2\n", encoding="utf-8")
    labels = [{"clip": "00001.mp4", "label": "happy"}, {"clip": "00002", "label": "sadness"}, {"clip": "3", "label": "7"}]
    write_jsonl(folder / "labels.jsonl", labels)
    return folder


def test_evaluate_predicts_a_clip_folder_then_scores_it(scripted_checkpoint, clip_folder, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["--clips", str(clip_folder), "--labels", str(clip_folder / "labels.jsonl"), "--label-set", "dfew",
            "--model", str(scripted_checkpoint), "--max-new-tokens", "80", "--batch-size", "2", "--judge", "offline"]  # fmt: skip
    report = evaluate([*args, "--output-dir", str(out)], out)
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [(p["id"], p["label"]) for p in predictions] == [("dfew-00001", "happy"), ("dfew-00002", "sad"), ("dfew-00003", "fear")]
    # the scripted model answers happy with a happy <think> for every clip
    assert report["table3"]["per_class_recall"] == {"happy": 1.0, "sad": 0.0, "fear": 0.0}
    assert report["table1"] == pytest.approx({"FCR": 1 / 3, "EEA": 1 / 3, "EPC": 1.0, "UAR": 1 / 3, "WAR": 1 / 3})
    assert report["model"] == "checkpoint" and "| checkpoint |" in capsys.readouterr().out

    csv_out = tmp_path / "csv"
    csv_args = [*args[:2], "--labels", str(clip_folder / "set_5.csv"), *args[4:], "--output-dir", str(csv_out)]
    assert [s["id"] for s in evaluate(csv_args, csv_out)["samples"]] == ["dfew-00001", "dfew-00002"]


def test_evaluate_over_a_clip_folder_on_the_vllm_engine_predicts_as_generate(
    tiny_checkpoint, clip_folder, tmp_path, monkeypatch
):
    from migr_hf.generation import vllm_engine

    backends = []
    monkeypatch.setattr(
        vllm_engine, "VLLMWorkerBackend", lambda kwargs, python=None: backends.append(FakeVLLMBackend(kwargs)) or backends[-1]
    )
    base = ["--clips", str(clip_folder), "--labels", str(clip_folder / "labels.jsonl"), "--label-set", "dfew",
            "--model", str(tiny_checkpoint), "--max-new-tokens", "6", "--batch-size", "2", "--judge", "offline"]  # fmt: skip
    completions = {}
    for backend in ("hf", "vllm"):
        out = tmp_path / backend
        evaluate([*base, "--generation-backend", backend, "--output-dir", str(out)], out)
        lines = (out / "predictions.jsonl").read_text().splitlines()
        completions[backend] = [json.loads(line)["completion"] for line in lines]
    assert len(completions["hf"]) == 3 and completions["vllm"] == completions["hf"]
    (backend,) = backends
    assert len(backend.requests) == 2  # one engine call per batch of 2 clips
    assert all(request["temperature"] == 0 for request in backend.requests)


def test_evaluate_clip_folder_errors_name_the_flag_or_the_row(tiny_checkpoint, clip_folder, tmp_path, capsys):
    base = ["evaluate", "--clips", str(clip_folder), "--label-set", "dfew", "--judge", "offline"]
    assert main([*base, "--model", str(tiny_checkpoint)]) == 2
    assert "--clips needs --labels" in capsys.readouterr().err
    labels = tmp_path / "labels.csv"
    labels.write_text("clip,label\n00001.mp4,happy\n00009.mp4,sad\n", encoding="utf-8")
    assert main([*base, "--labels", str(labels), "--model", str(tiny_checkpoint)]) == 2
    assert f"{labels}:3: missing_clip (dfew-00009): no clip '00009.mp4'" in capsys.readouterr().err
    predictions = write_jsonl(tmp_path / "preds.jsonl", RECORDS)
    assert main(["evaluate", "--predictions", str(predictions), "--model", "x", "--judge", "offline"]) == 2
    assert "--model applies to --clips" in capsys.readouterr().err

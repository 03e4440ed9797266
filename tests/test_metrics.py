from pathlib import Path
from unittest import mock

import evaluate
import pytest
from huggingface_hub import HfApi
from hypothesis import given, settings
from hypothesis import strategies as st

from migr_hf.evaluation import (
    METRIC_NAMES,
    ScoredSample,
    build_report,
    confusion_matrix,
    eea,
    epc,
    fcr,
    per_class_recall,
    plot_confusion_matrix,
    push_metrics,
    reasoning_answer_inconsistency,
    render_markdown,
    resolve_metric,
    uar,
    war,
)

# Hand-computed recognition case: happy 3/4, sad 1/2, angry 0/1.
REFS = ["happy"] * 4 + ["sad"] * 2 + ["angry"]
PREDS = ["happy", "happy", "happy", "sad", "sad", "happy", None]

# Hand-computed consistency case (y, ŷ, e per sample).
Y = ["happy", "happy", "sad", "sad", "angry"]
Y_HAT = ["happy", "sad", "sad", "sad", None]
E = ["happy", "sad", "happy", None, "angry"]
# EEA: samples 1, 5 -> 2/5; EPC: samples 1, 2 -> 2/5; FCR: sample 1 -> 1/5;
# R×/A✓: correct answers are 1, 3, 4; reasoning wrong in 3 and 4 -> 2/5 overall, 2/3 among correct.


def test_uar_war_per_class_recall_eq4_eq5():
    assert per_class_recall(PREDS, REFS) == {"angry": 0.0, "happy": 0.75, "sad": 0.5}
    assert uar(PREDS, REFS) == pytest.approx((0.75 + 0.5 + 0.0) / 3)
    assert war(PREDS, REFS) == pytest.approx(4 / 7)


def test_label_set_normalisation_and_invalid_predictions():
    preds = ["Happiness", "happy.", "HAPPY", "contempt", "Sadness", "surprise", "angry"]
    # DFEW synonyms map Happiness/Sadness; "contempt" is no DFEW word -> wrong, not a class
    assert per_class_recall(preds, REFS, "dfew") == {"happy": 0.75, "sad": 0.5, "angry": 1.0}
    assert uar(preds, REFS, "dfew") == pytest.approx(0.75)
    assert list(per_class_recall(preds, REFS, "dfew")) == ["happy", "sad", "angry"]  # label-set order
    with pytest.raises(ValueError, match=r"references\[0\]='worried' is not a dfew label"):
        war(["happy"], ["worried"], "dfew")


def test_input_validation():
    with pytest.raises(ValueError, match="differ in length"):
        uar(["happy"], ["happy", "sad"])
    with pytest.raises(ValueError, match="at least one sample"):
        war([], [])
    with pytest.raises(TypeError, match=r"predictions\[0\]"):
        war([3], ["happy"])
    with pytest.raises(ValueError, match=r"references\[0\]=None"):
        war(["happy"], [None])


def test_eea_epc_fcr_eq6_to_eq8():
    assert eea(E, Y) == pytest.approx(2 / 5)
    assert epc(E, Y_HAT) == pytest.approx(2 / 5)
    assert fcr(E, Y_HAT, Y) == pytest.approx(1 / 5)
    # None never matches, even None
    assert epc([None, None], [None, "sad"]) == 0.0
    # synonyms of the benchmark are applied to every column
    assert fcr(["Anger", "sad"], ["angry", "Sadness"], ["anger", "sad"], label_set="dfew") == 1.0


def test_reasoning_answer_inconsistency_table2():
    assert reasoning_answer_inconsistency(E, Y_HAT, Y) == {
        "all": pytest.approx(2 / 5),
        "among_correct": pytest.approx(2 / 3),
    }
    assert reasoning_answer_inconsistency(["sad"], ["happy"], ["sad"]) == {"all": 0.0, "among_correct": None}


_WORDS = st.sampled_from(["happy", "sad", "angry", None])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_WORDS, _WORDS, _WORDS.filter(lambda w: w is not None)), min_size=1, max_size=30))
def test_metric_identities(rows):
    e, p, y = map(list, zip(*rows))
    table2 = reasoning_answer_inconsistency(e, p, y)
    # R×/A✓ over all = among correct × accuracy (the paper's DFEW row: 5.45 ≈ 7.37 × 73.93%)
    if table2["among_correct"] is not None:
        assert table2["all"] == pytest.approx(table2["among_correct"] * war(p, y))
    # FCR + R×/A✓ = accuracy; FCR never exceeds EEA, EPC or WAR
    assert fcr(e, p, y) + table2["all"] == pytest.approx(war(p, y))
    assert fcr(e, p, y) <= min(eea(e, y), epc(e, p), war(p, y)) + 1e-12
    assert min(per_class_recall(p, y).values()) <= uar(p, y) <= max(per_class_recall(p, y).values())


def test_confusion_matrix():
    matrix = confusion_matrix(
        ["happy", "sadness", "xyz", None, "happy"], ["happy", "sad", "sad", "angry", "angry"], "dfew"
    )
    assert matrix.labels == ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")
    assert matrix.columns[-1] == "invalid"
    counts = matrix.counts
    assert counts.shape == (7, 8) and counts.sum() == 5
    assert counts[0, 0] == 1 and counts[1, 1] == 1 and counts[1, 7] == 1 and counts[3, 7] == 1 and counts[3, 0] == 1
    assert matrix.to_dict()["counts"][3] == [1, 0, 0, 0, 0, 0, 0, 1]


def test_report_tables_markdown_and_plot(tmp_path):
    samples = [ScoredSample(str(i), y, p, p, e, e is not None, True) for i, (y, p, e) in enumerate(zip(Y, Y_HAT, E))]
    report = build_report(samples, "dfew")
    assert report["table1"] == pytest.approx(
        {"FCR": 0.2, "EEA": 0.4, "EPC": 0.4, "UAR": (1 / 2 + 1 + 0) / 3, "WAR": 0.6}
    )
    assert report["table2"] == {"all": pytest.approx(0.4), "among_correct": pytest.approx(2 / 3)}
    assert report["table3"]["per_class_recall"] == {"happy": 0.5, "sad": 1.0, "angry": 0.0}
    assert report["counts"]["judge_failures"] == 0 and report["counts"]["no_reasoning"] == 1
    markdown = render_markdown(report, model_name="MIGR")
    assert "| MIGR | 20.00 | 40.00 | 40.00 | 50.00 | 60.00 |" in markdown
    assert "| MIGR | 40.00 | 66.67 |" in markdown
    assert "| Method | Hap | Sad | Ang | UAR | WAR |" in markdown
    assert "| MIGR | 50.00 | 100.00 | 0.00 | 50.00 | 60.00 |" in markdown
    path = plot_confusion_matrix(confusion_matrix(Y_HAT, Y, "dfew"), tmp_path / "plots" / "cm.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    with pytest.raises(ValueError, match="no scored samples"):
        build_report([], "dfew")


# ---- evaluate modules ------------------------------------------------------------------------------------------

EXPECTED = {"uar": (0.75 + 0.5) / 3, "war": 4 / 7}
EXPECTED_CONSISTENCY = {"eea": 2 / 5, "epc": 2 / 5, "fcr": 1 / 5}


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.delenv("MIGR_METRICS_DIR", raising=False)


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_evaluate_load_of_each_local_module(offline, name):
    path = resolve_metric(name)
    assert Path(path, f"{name}.py").is_file()
    module = evaluate.load(path, keep_in_memory=True)
    if name in EXPECTED:
        assert module.compute(predictions=PREDS, references=REFS) == {name: pytest.approx(EXPECTED[name])}
        module.add_batch(predictions=PREDS[:3], references=REFS[:3])
        module.add_batch(predictions=["Happiness"] + PREDS[4:], references=REFS[3:])  # DFEW synonym of happy
        assert module.compute(label_set="dfew") == {name: pytest.approx({"uar": (1 + 0.5) / 3, "war": 5 / 7}[name])}
    else:
        result = module.compute(predictions=Y_HAT, references=Y, explanations=E)
        assert result == {name: pytest.approx(EXPECTED_CONSISTENCY[name])}
        assert module.compute(predictions=Y_HAT, references=Y, explanations=E, label_set="dfew") == result
    assert "migr-hf" in Path(path, "README.md").read_text() and "title:" in Path(path, "README.md").read_text()


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_modules_accept_none_first_and_anywhere(offline, name):
    """An unparsable answer / a failed judgement in first place stays in S and counts as wrong."""
    module = evaluate.load(resolve_metric(name), keep_in_memory=True)
    references = ["happy", "sad", "sad", "angry"]
    predictions = [None, "sad", None, "angry"]
    explanations = [None, "sad", "sad", None]
    # by hand: war 2/4; uar (0 + 1/2 + 1) / 3; eea 2/4; epc 1/4 (sample 2 only); fcr 1/4 (sample 2 only)
    expected = {"uar": 0.5, "war": 0.5, "eea": 0.5, "epc": 0.25, "fcr": 0.25}[name]
    columns = {"predictions": predictions, "references": references}
    if name not in EXPECTED:
        columns["explanations"] = explanations
    assert module.compute(**columns) == {name: pytest.approx(expected)}
    module.add_batch(**{key: values[:1] for key, values in columns.items()})
    module.add_batch(**{key: values[1:] for key, values in columns.items()})
    assert module.compute(label_set="dfew") == {name: pytest.approx(expected)}


def test_resolve_metric(offline, monkeypatch, tmp_path):
    assert resolve_metric("migr/fcr") == resolve_metric("FCR")
    with pytest.raises(KeyError, match="unknown MIGR metric"):
        resolve_metric("bleu")
    with pytest.raises(FileNotFoundError, match="offline"):
        resolve_metric("uar", local_dir=tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_EVALUATE_OFFLINE")
    assert resolve_metric("uar", local_dir=tmp_path) == "migr/uar"
    assert resolve_metric("uar", local_dir=tmp_path, namespace="me") == "me/uar"
    (tmp_path / "uar").mkdir()
    (tmp_path / "uar" / "uar.py").write_text("")
    monkeypatch.setenv("MIGR_METRICS_DIR", str(tmp_path))
    assert resolve_metric("uar") == str(tmp_path / "uar")


def test_push_metrics_with_a_mocked_hub(tmp_path):
    api = mock.create_autospec(HfApi, instance=True)
    uploaded = {}

    def capture(*, repo_id, folder_path, **kwargs):
        assert kwargs["repo_type"] == "space"
        uploaded[repo_id] = {path.name: path.read_text() for path in Path(folder_path).iterdir() if path.is_file()}
        uploaded[repo_id]["wheels"] = sorted(path.name for path in Path(folder_path, "wheels").iterdir())

    api.upload_folder.side_effect = capture
    assert push_metrics(["uar", "fcr"], namespace="org", api=api) == ["org/uar", "org/fcr"]
    api.create_repo.assert_any_call("org/uar", repo_type="space", space_sdk="gradio", private=False, exist_ok=True)
    assert api.create_repo.call_count == 2
    files = uploaded["org/fcr"]
    assert set(files) == {"fcr.py", "README.md", "app.py", "requirements.txt", "wheels"}
    assert 'evaluate.load("org/fcr")' in files["app.py"] and "launch_gradio_widget" in files["app.py"]
    (wheel,) = files["wheels"]
    assert wheel.startswith("migr_hf-") and wheel.endswith(".whl")
    assert files["requirements.txt"].split() == ["evaluate>=0.4.6", f"./wheels/{wheel}"]
    assert "from migr_hf.evaluation import fcr" in files["fcr.py"]
    with pytest.raises(FileNotFoundError, match="lacks"):
        push_metrics(["uar"], api=api, local_dir=tmp_path)
    with pytest.raises(KeyError):
        push_metrics(["bleu"], api=api)

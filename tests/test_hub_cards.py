"""Model card rendering from evaluation reports, and `migr-hf push` up to the network call (HfApi mocked)."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import ModelCard, SpaceCard

import migr_hf
from migr_hf.cli import main
from migr_hf.services.hub import checkout_path, eval_results_from_report, push_model, push_space, render_model_card

ROOT = Path(__file__).resolve().parents[1]


def report(label_set: str = "dfew", **table1) -> dict:
    """A report shaped like `examples/evaluate.py`'s `report.json` (fractions)."""
    scores = {"FCR": 0.6848, "EEA": 0.7006, "EPC": 0.8895, "UAR": 0.6512, "WAR": 0.7393, **table1}
    return {
        "label_set": label_set,
        "num_samples": 2342,
        "table1": scores,
        "table2": {"all": 0.05, "among_correct": 0.0737},
        "model": "migr",
        "judge": "LLMJudge(model='gpt-4.1-mini')",
        "reasoning": "think",
    }


def test_eval_results_one_per_metric_in_percent():
    results = eval_results_from_report(report())
    assert [r.metric_name for r in results] == ["FCR", "EEA", "EPC", "UAR", "WAR"]
    assert [r.metric_value for r in results] == [68.48, 70.06, 88.95, 65.12, 73.93]
    assert {(r.dataset_type, r.dataset_name, r.dataset_split, r.task_type) for r in results} == {
        ("dfew", "DFEW", "test", "video-classification")
    }
    judged = {r.metric_name: r.metric_args for r in results}
    assert judged["EEA"] == {"judge": "LLMJudge(model='gpt-4.1-mini')", "reasoning": "think"}
    assert judged["UAR"] is None and judged["WAR"] is None


def test_model_card_from_two_benchmarks(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report("mafw", UAR=0.4)), encoding="utf-8")
    card = render_model_card(
        [report("dfew"), path], model_name="MIGR-Omni-7B", repo_id="org/MIGR-Omni-7B", base_model="org/base"
    )
    reloaded = ModelCard(str(card))
    assert reloaded.data.model_name == "MIGR-Omni-7B"
    assert reloaded.data.base_model == "org/base"
    assert reloaded.data.pipeline_tag == "video-text-to-text"
    results = reloaded.data.eval_results
    assert len(results) == 10
    assert {r.dataset_name for r in results} == {"DFEW", "MAFW"}
    assert next(r.metric_value for r in results if r.dataset_name == "MAFW" and r.metric_name == "UAR") == 40.0
    assert "| DFEW | 2342 | 68.48 | 70.06 | 88.95 | 65.12 | 73.93 | 7.37 |" in card.text
    assert "| MAFW | 2342 | 68.48 | 70.06 | 88.95 | 40.00 | 73.93 | 7.37 |" in card.text
    assert 'EmotionReasoner.from_pretrained("org/MIGR-Omni-7B", label_set="dfew")' in card.text


def test_card_from_the_evaluate_example_report(tmp_path):
    """The report `examples/evaluate.py` writes is what the card reads."""
    completion = "<vis_desc>A smile.</vis_desc><aud_desc>Laughter.</aud_desc><think>She is happy.</think>"
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text(
        "\n".join(
            json.dumps({"id": str(i), "label": label, "completion": f"{completion}<answer>{answer}</answer>"})
            for i, (label, answer) in enumerate([("happy", "happy"), ("sad", "happy")])
        ),
        encoding="utf-8",
    )
    out = tmp_path / "eval"
    arguments = ["--predictions", str(predictions), "--label-set", "dfew", "--judge", "offline", "--output-dir", str(out)]
    assert main(["evaluate", *arguments]) == 0
    card = render_model_card([out / "report.json"], model_name="m")
    values = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert values == {"FCR": 50.0, "EEA": 50.0, "EPC": 100.0, "UAR": 50.0, "WAR": 50.0}


def test_card_without_results_and_bad_reports():
    card = render_model_card([], model_name="m")
    assert card.data.eval_results is None and "No evaluation results" in card.text
    with pytest.raises(ValueError, match="table1.WAR"):
        render_model_card([{"label_set": "dfew", "num_samples": 1, "table1": {"UAR": 0.5}}], model_name="m")
    with pytest.raises(ValueError, match="one report per benchmark"):
        render_model_card([report(), report()], model_name="m")


def make_checkpoint(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def test_push_model_uploads_folder_and_card(tmp_path):
    api = mock.Mock()
    api.create_repo.return_value = "https://huggingface.co/org/m"
    card = render_model_card([report()], model_name="m")
    url = push_model(make_checkpoint(tmp_path / "ckpt"), "org/m", card=card, api=api)
    assert url == "https://huggingface.co/org/m"
    api.create_repo.assert_called_once_with("org/m", repo_type="model", private=False, exist_ok=True)
    upload = api.upload_folder.call_args.kwargs
    assert (upload["repo_id"], upload["repo_type"], upload["folder_path"]) == ("org/m", "model", str(tmp_path / "ckpt"))
    assert upload["ignore_patterns"] == ["README.md"]
    readme = api.upload_file.call_args.kwargs
    assert (readme["path_in_repo"], readme["repo_type"], readme["repo_id"]) == ("README.md", "model", "org/m")
    assert readme["path_or_fileobj"] == str(card).encode()
    with pytest.raises(FileNotFoundError, match="config.json"):
        push_model(tmp_path, "org/m", api=api)


def _capture_uploads(api) -> dict[str, dict[str, Path]]:
    """Make ``api.upload_folder`` copy what it would upload; returns repo id -> {relative path: copied file}."""
    uploads: dict[str, dict[str, Path]] = {}
    keep = Path(tempfile.mkdtemp())

    def capture(*, repo_id, folder_path, **kwargs):
        assert kwargs["repo_type"] == "space"
        copy = keep / repo_id.replace("/", "__")
        shutil.copytree(folder_path, copy)
        uploads[repo_id] = {str(p.relative_to(copy)): p for p in copy.rglob("*") if p.is_file()}

    api.upload_folder.side_effect = capture
    return uploads


def test_push_space_uploads_the_demo_with_a_wheel_and_sets_variables():
    api = mock.Mock()
    uploads = _capture_uploads(api)
    push_space("org/migr-demo", model="org/m", label_set="dfew", api=api)
    api.create_repo.assert_called_once_with(
        "org/migr-demo", repo_type="space", space_sdk="gradio", private=False, exist_ok=True
    )
    files = uploads["org/migr-demo"]
    (wheel,) = [name for name in files if name.startswith("wheels/migr_hf-") and name.endswith(".whl")]
    assert {"app.py", "README.md", "requirements.txt"} <= set(files)
    assert files["requirements.txt"].read_text().split() == [f"./{wheel}[demo]"]
    assert api.add_space_variable.call_args_list == [
        mock.call("org/migr-demo", "MIGR_MODEL", "org/m"),
        mock.call("org/migr-demo", "MIGR_LABEL_SET", "dfew"),
    ]


def test_space_folder_is_a_gradio_space():
    space = checkout_path("spaces/migr-demo")
    card = SpaceCard.load(space / "README.md")
    assert (card.data.sdk, card.data.app_file) == ("gradio", "app.py")
    assert "migr-hf[demo]" in (space / "requirements.txt").read_text().split()  # pointed to a wheel when pushed
    assert "demo_from_env" in (space / "app.py").read_text()


def test_push_model_command(tmp_path, capsys):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report()), encoding="utf-8")
    with mock.patch("migr_hf.services.hub.HfApi") as hf_api:
        hf_api.return_value.create_repo.return_value = "https://huggingface.co/org/MIGR-Omni"
        code = main(
            ["push", "model", str(make_checkpoint(tmp_path / "ckpt")), "org/MIGR-Omni", "--eval-report", str(path)]
        )
    assert code == 0
    api = hf_api.return_value
    api.create_repo.assert_called_once_with("org/MIGR-Omni", repo_type="model", private=False, exist_ok=True)
    card = ModelCard(api.upload_file.call_args.kwargs["path_or_fileobj"].decode())
    assert card.data.model_name == "MIGR-Omni" and len(card.data.eval_results) == 5
    assert "pushed https://huggingface.co/org/MIGR-Omni" in capsys.readouterr().out
    assert "## Training" not in card.text  # no training config beside the checkpoint, no --reward-classifier


@pytest.mark.parametrize(
    ("saved", "flag", "named"),
    [
        ("erv", None, "ERV's sentence classifier `Rhatanii/Emo_Classifier` (preset `erv`"),
        ("offline", None, "migr-hf's offline emotion lexicon (`offline`)"),
        ("erv", "erv:/models/emo", "ERV's sentence classifier `/models/emo` (preset `erv`"),
    ],
)
def test_push_model_card_names_the_reward_classifier(tmp_path, saved, flag, named):
    """The GRPO trainer saves its config as training_args.json; the card's Training section names its classifier."""
    checkpoint = make_checkpoint(tmp_path / "ckpt")
    (checkpoint / "training_args.json").write_text(json.dumps({"emotion_classifier": saved}), encoding="utf-8")
    with mock.patch("migr_hf.services.hub.HfApi") as hf_api:
        assert main(["push", "model", str(checkpoint), "org/m", *(["--reward-classifier", flag] if flag else [])]) == 0
    card = hf_api.return_value.upload_file.call_args.kwargs["path_or_fileobj"].decode()
    training = card.split("## Training", 1)[1].split("\n## ", 1)[0]
    assert f"sentence with {named}" in training


def test_push_dataset_command(tmp_path):
    built = tmp_path / "sft"
    (built / "data").mkdir(parents=True)
    table = pa.table({"id": ["a", "b"], "video": ["a.mp4", "b.mp4"], "modality_importance": ["audio", "visual"]})
    pq.write_table(table, built / "data" / "train-00000-of-00001.parquet")
    (built / "README.md").write_text("---\npretty_name: MIGR SFT data\n---\n# card\n", encoding="utf-8")
    with (
        mock.patch("datasets.DatasetDict.push_to_hub") as push_to_hub,
        mock.patch("migr_hf.data.dataset_card.HfApi") as hf_api,
    ):
        assert main(["push", "dataset", str(built), "org/migr-sft", "--private"]) == 0
    assert push_to_hub.call_args.args == ("org/migr-sft",) and push_to_hub.call_args.kwargs["private"] is True
    readme = hf_api.return_value.upload_file.call_args.kwargs
    assert (readme["repo_id"], readme["repo_type"], readme["path_in_repo"]) == ("org/migr-sft", "dataset", "README.md")
    assert readme["path_or_fileobj"] == str(built / "README.md")


def test_push_metrics_command(monkeypatch):
    monkeypatch.setenv("MIGR_METRICS_DIR", str(ROOT / "metrics"))
    with mock.patch("migr_hf.evaluation.modules.HfApi") as hf_api:
        assert main(["push", "metrics", "--namespace", "org", "--names", "uar", "fcr"]) == 0
    api = hf_api.return_value
    assert [c.args[0] for c in api.create_repo.call_args_list] == ["org/uar", "org/fcr"]
    assert {c.kwargs["repo_type"] for c in api.create_repo.call_args_list} == {"space"}
    assert [c.kwargs["repo_id"] for c in api.upload_folder.call_args_list] == ["org/uar", "org/fcr"]
    assert main(["push", "metrics", "--names", "bleu"]) == 2


def test_push_space_command():
    with mock.patch("migr_hf.services.hub.HfApi") as hf_api:
        uploads = _capture_uploads(hf_api.return_value)
        assert main(["push", "space", "org/migr-demo", "--model", "org/m"]) == 0
    api = hf_api.return_value
    assert api.create_repo.call_args.kwargs["repo_type"] == "space"
    assert "app.py" in uploads["org/migr-demo"]
    api.add_space_variable.assert_called_once_with("org/migr-demo", "MIGR_MODEL", "org/m")


def test_pushed_space_requirements_install_offline_into_a_clean_venv(tmp_path):
    """The Space's requirements.txt installs migr-hf from the uploaded wheel, with no index (as a Space builds it,
    minus the third-party dependencies, which come from this environment's site-packages)."""
    api = mock.Mock()
    uploads = _capture_uploads(api)
    push_space("org/migr-demo", api=api)
    space = uploads["org/migr-demo"]["app.py"].parent
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--no-deps", "-q"]
    # pip inspects the target interpreter; a PYTHONPATH to a checkout (with its egg-info) would show migr-hf installed
    clean_env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    subprocess.run([*install, "-r", "requirements.txt"], cwd=space, check=True, env=clean_env)
    dependencies = sysconfig.get_paths()["purelib"]
    probe = (
        "import importlib.metadata as m, migr_hf, migr_hf.labels; "
        "print(migr_hf.__file__); print(m.version('migr-hf')); print(sorted(m.metadata('migr-hf').get_all('Provides-Extra')))"
    )
    result = subprocess.run(
        [str(python), "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": dependencies},
    )
    assert result.returncode == 0, result.stderr
    location, version, extras = result.stdout.splitlines()
    assert Path(location).is_relative_to(venv) and version == migr_hf.__version__
    assert "demo" in extras

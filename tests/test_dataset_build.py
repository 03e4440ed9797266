"""End-to-end SFT and GRPO builds on tiny official-layout trees: bad input goes to the failures file, ties give
two rows, interrupted builds resume, the datasets reload offline, and the Hub push is wired."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import datasets
import pytest
from data_fixtures import (
    ANGRY_AUS,
    DISGUST_AUS,
    HAPPY_AUS,
    WORRIED_AUS,
    FakeEstimator,
    SimulatedCrash,
    emer_text,
    make_dfew_tree,
    make_mafw_tree,
    write_clip,
    write_corrupt_clip,
    write_emer_v1,
    write_emer_v2,
    write_mer_labels,
    write_mi_file,
    write_openface_csv,
)

from migr_hf import schema
from migr_hf.data.builder import build_grpo_dataset, build_sft_dataset
from migr_hf.data.dataset_card import push_dataset_to_hub
from migr_hf.data.storage import load_built_dataset
from migr_hf.data.jsonl import FailurePolicy
from migr_hf.data.readers import read_dfew, read_mafw
from migr_hf.data.reasoning_writer import TemplateReasoningWriter
from migr_hf.services.llm import LLMError

ROOT = Path(__file__).resolve().parents[1]

# Per-sample MI outcomes (audio-only, visual-only, audio-visual correct); others: (1, 0, 1) -> audio.
OUTCOMES = {"emer-sample_00000002": (True, True, True), "dfew-00001": (False, True, True)}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("benchmarks")
    mer = base / "MER2023"
    for name in ("sample_00000001", "sample_00000002", "sample_00000006"):
        write_clip(mer / f"{name}.mp4")
    write_corrupt_clip(mer / "sample_00000007.mp4")
    write_clip(mer / "sample_00000008.mp4", audio=False)
    labels = write_mer_labels(
        base / "mer_labels.csv",
        {
            "sample_00000001": "surprise",
            "sample_00000002": "happy",
            "sample_00000003": "sad",
            "sample_00000005": "confused",
            "sample_00000006": "worried",
            "sample_00000007": "sad",
        },
    )
    emer_v2 = write_emer_v2(
        base / "emer_v2.csv",
        [
            ("sample_00000001", emer_text("her eyes widen and her mouth opens.", "she gasps.", "What?", "surprise")),
            ("sample_00000002", emer_text("she smiles widely.", "she laughs.", "So good!", "happy")),
            ("sample_00000003", ""),
            ("sample_00000004", emer_text("he frowns.", "he sighs.", "No.", "sad")),
            ("sample_00000005", emer_text("he squints.", "he hums.", "Hmm.", "confused")),
            ("sample_00000006", "She is worried about it."),
            ("sample_00000007", emer_text("he cries.", "he sobs.", "Gone.", "sad")),
        ],
    )
    emer_v1 = write_emer_v1(
        base / "emer_v1.csv",
        [
            ("sample_00000001", "surprise", "What?", "In the video, she gasps. Based on it, surprise."),
            ("sample_00000008", "angry", "Out!", emer_text("he glares.", "he yells.", "Out!", "angry")),
        ],
    )
    dfew = make_dfew_tree(base / "DFEW", {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 4, 7: 2}, {8: 1}, extra_train_lines=["x,1"])
    (dfew / "Clip" / "original" / "00006.mp4").unlink()
    mafw = make_mafw_tree(
        base / "MAFW",
        {"00025": "anxiety", "00026": "happiness", "00027": "joy"},
        captions={"00025": "A woman bites her lip while waiting for news"},
    )
    openface = base / "openface"
    write_openface_csv(openface / "dfew" / "00001.csv", HAPPY_AUS)
    write_openface_csv(openface / "dfew" / "00002.csv", HAPPY_AUS)
    write_openface_csv(openface / "dfew" / "00005.csv", DISGUST_AUS, success=False)
    write_openface_csv(openface / "dfew" / "00006.csv", ANGRY_AUS)
    (openface / "dfew" / "00007.csv").write_text("garbage\n")
    write_openface_csv(openface / "mafw" / "00025.csv", WORRIED_AUS)
    write_openface_csv(openface / "mafw" / "00026.csv", DISGUST_AUS)
    return {
        "emer_v1": emer_v1,
        "emer_v2": emer_v2,
        "emer_labels": labels,
        "emer_video_dir": mer,
        "dfew_root": dfew,
        "mafw_root": mafw,
        "openface_dir": openface,
    }


def _failures(output_dir):
    lines = (Path(output_dir) / "build" / "failures.jsonl").read_text().splitlines()
    return sorted(((row["id"], row["reason"]) for row in map(json.loads, lines)), key=str)


EXPECTED_SFT_FAILURES = sorted(
    [
        ("emer-sample_00000003", "empty_reasoning"),
        ("emer-sample_00000004", "missing_label"),
        ("emer-sample_00000005", "unknown_label"),
        ("emer-sample_00000001", "duplicate_id"),
        ("emer-sample_00000006", "no_modality_reasoning"),
        ("emer-sample_00000007", "corrupt_clip"),
        ("emer-sample_00000008", "no_audio_stream"),
        (None, "malformed_row"),
        ("dfew-00004", "missing_openface"),
        ("dfew-00005", "no_face"),
        ("dfew-00006", "missing_clip"),
        ("dfew-00007", "malformed_openface"),
        ("mafw-00027", "unknown_label"),
    ],
    key=str,
)


def test_sft_build_end_to_end(trees, tmp_path):
    out = tmp_path / "sft"
    result = build_sft_dataset(
        out, mi_estimator=FakeEstimator(OUTCOMES), show_progress=False, cache_dir=tmp_path / "cache", **trees
    )
    train = result.dataset["train"]
    assert sorted(train[schema.ID]) == [
        "dfew-00001",
        "emer-sample_00000001",
        "emer-sample_00000002",
        "emer-sample_00000002__visual_first",
        "mafw-00025",
    ]
    assert list(train.features) == [
        "id",
        "source",
        "split",
        "video",
        "label",
        "label_set",
        "modality_importance",
        "reasoning",
        "prompt",
        "completion",
        "order",
    ]
    rows = {row[schema.ID]: row for row in train}
    tie_a, tie_v = rows["emer-sample_00000002"], rows["emer-sample_00000002__visual_first"]
    assert (tie_a["order"], tie_v["order"], tie_a["modality_importance"]) == ("audio_first", "visual_first", "both")
    assert tie_a["completion"].startswith("<aud_desc>In the audio, she laughs.") and tie_v["completion"].startswith(
        "<vis_desc>In the video, she smiles"
    )
    assert tie_a["completion"].endswith("</think><answer>happy</answer>")
    dfew = rows["dfew-00001"]
    assert (dfew["modality_importance"], dfew["order"], dfew["label"], dfew["label_set"]) == (
        "visual",
        "visual_first",
        "happy",
        "dfew",
    )
    assert "lip corner puller (AU12" in dfew["reasoning"] and dfew["completion"].startswith(
        "<vis_desc>In the video, at 1.20 s"
    )
    mafw = rows["mafw-00025"]
    assert mafw["modality_importance"] == "audio" and mafw["completion"].startswith(
        "<aud_desc>In the audio, no vocal cue"
    )
    assert "bites her lip" in mafw["reasoning"] and mafw["completion"].endswith("<answer>anxiety</answer>")
    assert rows["emer-sample_00000001"]["prompt"] == schema.MIGR_INSTRUCTION
    assert os.path.isabs(dfew["video"]) and dfew["video"].endswith("Clip/original/00001.mp4")

    assert _failures(out) == EXPECTED_SFT_FAILURES
    summary = result.summary
    assert summary.read == {"dfew": 7, "emer": 6, "mafw": 2}
    assert summary.kept == {"dfew": 1, "emer": 2, "mafw": 1} and summary.rows == 5
    assert summary.fau == {"match": 3, "mismatch": 2, "unmapped_label": 1}
    assert summary.modality_importance == {"audio": 2, "both": 1, "visual": 1}
    assert summary.orders == {"audio_first": 3, "visual_first": 2}
    assert summary.failures["unknown_label"] == 2 and sum(summary.failures.values()) == 13
    assert "failures: " in summary.format()

    card = (out / "README.md").read_text()
    assert "configs:" not in card and "| emer | happy | 2 |" in card and "| both | 1 |" in card
    assert "| no_face | 1 |" in card and "| mismatch | 2 |" in card and "writer: template" in card
    assert "'001': both" in card and str(tmp_path) not in card
    assert json.loads((out / "build" / "summary.json").read_text())["summary"]["rows"] == 5


def test_sft_build_reloads_offline(trees, tmp_path):
    out = tmp_path / "sft"
    build_sft_dataset(
        out, mi_estimator=FakeEstimator(OUTCOMES), show_progress=False, cache_dir=tmp_path / "cache", **trees
    )
    script = (
        "import json, sys\n"
        "from datasets import load_dataset\n"
        "hub_style = load_dataset(sys.argv[1])\n"
        "parquet = load_dataset('parquet', data_files={'train': sys.argv[1] + '/data/train-*.parquet'})\n"
        "print(json.dumps([hub_style['train'].num_rows, parquet['train'].num_rows, sorted(hub_style['train']['id']), "
        "str(parquet['train'].features['completion'])]))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "c2")}
    done = subprocess.run(
        [sys.executable, "-c", script, str(out)], env=env, capture_output=True, text=True, check=True
    )
    hub_rows, parquet_rows, ids, feature = json.loads(done.stdout.strip().splitlines()[-1])
    assert hub_rows == parquet_rows == 5 and "emer-sample_00000002__visual_first" in ids
    assert "string" in feature
    assert load_built_dataset(out, cache_dir=tmp_path / "cache")["train"].num_rows == 5


def test_two_built_folders_with_the_same_card_reload_their_own_rows(trees, tmp_path):
    """`load_dataset(<folder>)` must not hand one folder's cached rows to another folder (or a rebuilt one) whose
    card is the same: with a `configs:` entry in the card, datasets 5.2 keyed its cache on the card's patterns."""
    import pyarrow.parquet as pq

    out = tmp_path / "sft"
    build_sft_dataset(out, mi_estimator=FakeEstimator(OUTCOMES), show_progress=False, cache_dir=tmp_path / "cache", **trees)
    other = tmp_path / "other" / "sft"
    shutil.copytree(out, other)
    (parquet,) = (other / "data").glob("train-*.parquet")
    pq.write_table(pq.read_table(parquet).slice(0, 2), parquet)
    assert (other / "README.md").read_text() == (out / "README.md").read_text()
    script = (
        "import json, sys\n"
        "from datasets import load_dataset\n"
        "print(json.dumps([load_dataset(path)['train'].num_rows for path in sys.argv[1:]]))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "c2")}
    done = subprocess.run([sys.executable, "-c", script, str(out), str(other)], env=env, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [5, 2]


class ScriptedWriter(TemplateReasoningWriter):
    """Template writer that raises a scripted exception for some ids and counts its calls."""

    name = "scripted"

    def __init__(self, raises=None):
        self.raises = dict(raises or {})
        self.calls = []

    def write(self, record, evidence, target, context=None):
        self.calls.append(record.id)
        if record.id in self.raises:
            raise self.raises[record.id]
        return super().write(record, evidence, target, context)


def test_interrupted_sft_build_resumes_without_losing_or_repeating_work(trees, tmp_path):
    out = tmp_path / "sft"
    kwargs = dict(trees, show_progress=False, cache_dir=tmp_path / "cache")
    crashing_writer = ScriptedWriter({"mafw-00025": SimulatedCrash()})
    with pytest.raises(SimulatedCrash):
        build_sft_dataset(out, mi_estimator=FakeEstimator(), writer=crashing_writer, **kwargs)
    assert crashing_writer.calls == ["dfew-00001", "dfew-00006", "mafw-00025"]

    writer = ScriptedWriter()
    crashing_estimator = FakeEstimator(OUTCOMES, crash_after=2)
    with pytest.raises(SimulatedCrash):
        build_sft_dataset(out, mi_estimator=crashing_estimator, writer=writer, batch_size=1, **kwargs)
    assert writer.calls == ["mafw-00025"]
    assert crashing_estimator.predicted == ["emer-sample_00000001", "emer-sample_00000002"]
    assert not (out / "data").exists()

    resumed = FakeEstimator(OUTCOMES)
    idle_writer = ScriptedWriter()
    result = build_sft_dataset(out, mi_estimator=resumed, writer=idle_writer, batch_size=1, **kwargs)
    assert idle_writer.calls == [] and resumed.predicted == ["dfew-00001", "mafw-00025"]
    assert result.summary.rows == 5 and result.summary.fau == {"match": 3, "mismatch": 2, "unmapped_label": 1}
    mi_ids = [json.loads(line)["id"] for line in (out / "build" / "mi.jsonl").read_text().splitlines()]
    assert sorted(mi_ids) == sorted(set(mi_ids)) and len(mi_ids) == 4
    fau_ids = [json.loads(line)["id"] for line in (out / "build" / "fau.jsonl").read_text().splitlines()]
    assert len(fau_ids) == len(set(fau_ids)) == 6


def test_writer_and_estimator_errors_are_recorded_and_the_build_continues(trees, tmp_path):
    writer = ScriptedWriter({"dfew-00001": LLMError("endpoint down")})
    estimator = FakeEstimator(OUTCOMES, fail_ids={"mafw-00025"})
    result = build_sft_dataset(
        tmp_path / "sft",
        mi_estimator=estimator,
        writer=writer,
        show_progress=False,
        cache_dir=tmp_path / "cache",
        failure_policy=FailurePolicy(max_failed_fraction=1.0),  # the fixture trees are mostly broken on purpose
        **trees,
    )
    assert sorted(set(result.dataset["train"]["id"])) == [
        "emer-sample_00000001",
        "emer-sample_00000002",
        "emer-sample_00000002__visual_first",
    ]
    failures = _failures(tmp_path / "sft")
    assert ("dfew-00001", "reasoning_writer_error") in failures and ("mafw-00025", "mi_estimation_error") in failures


def test_grpo_build_with_mi_file_embedded_media_and_relative_paths(trees, tmp_path):
    records = read_dfew(trees["dfew_root"], on_failure=lambda failure: None) + read_mafw(
        trees["mafw_root"], on_failure=lambda f: None
    )
    known = [r for r in records if r.id not in {"dfew-00003", "mafw-00026"}]
    mi_file = write_mi_file(
        tmp_path / "mi.jsonl",
        known,
        FakeEstimator({"dfew-00002": (False, False, False), "dfew-00004": (False, True, False)}),
    )
    out = tmp_path / "grpo"
    result = build_grpo_dataset(
        out,
        dfew_root=trees["dfew_root"],
        mafw_root=trees["mafw_root"],
        mi_file=mi_file,
        drop_undetermined=True,
        embed_media=True,
        media_root=trees["dfew_root"].parent,
        show_progress=False,
        cache_dir=tmp_path / "cache",
    )
    train = result.dataset["train"]
    assert list(train.features) == [
        "id",
        "source",
        "split",
        "video",
        "label",
        "label_set",
        "modality_importance",
        "prompt",
        "video_bytes",
    ]
    rows = {row["id"]: row for row in train}
    assert sorted(rows) == ["dfew-00001", "dfew-00004", "dfew-00005", "dfew-00007", "mafw-00025"]
    assert (
        rows["dfew-00004"]["modality_importance"] == "visual" and rows["dfew-00001"]["modality_importance"] == "audio"
    )
    assert rows["dfew-00001"]["video"] == "DFEW/Clip/original/00001.mp4"
    assert rows["dfew-00001"]["video_bytes"] == (trees["dfew_root"] / "Clip" / "original" / "00001.mp4").read_bytes()
    assert rows["mafw-00025"]["label"] == "anxiety" and rows["mafw-00025"]["prompt"] == schema.MIGR_INSTRUCTION
    assert _failures(out) == sorted(
        [
            (None, "malformed_row"),
            ("mafw-00027", "unknown_label"),
            ("dfew-00006", "missing_clip"),
            ("dfew-00003", "missing_mi"),
            ("mafw-00026", "missing_mi"),
        ],
        key=str,
    )
    assert result.summary.modality_importance == {"audio": 4, "visual": 1} and result.summary.read == {
        "dfew": 7,
        "mafw": 2,
    }
    card = (out / "README.md").read_text()
    assert "Media are embedded" in card
    # the card says which sentence classifier the rewards use: none at build time, ERV's at training
    assert "No sentence classifier was used to build it" in card and "`Rhatanii/Emo_Classifier`, preset `erv`" in card


def test_builders_reject_incomplete_arguments(trees, tmp_path):
    with pytest.raises(ValueError, match="no input"):
        build_sft_dataset(tmp_path / "x", mi_file=tmp_path / "mi.jsonl")
    with pytest.raises(ValueError, match="openface_dir"):
        build_sft_dataset(tmp_path / "x", dfew_root=trees["dfew_root"], mi_file=tmp_path / "mi.jsonl")
    with pytest.raises(ValueError, match="exactly one"):
        build_grpo_dataset(tmp_path / "x", dfew_root=trees["dfew_root"])


def test_push_to_hub_pushes_the_parquet_dataset_then_the_card(trees, tmp_path):
    out = tmp_path / "grpo"
    mi_file = write_mi_file(
        tmp_path / "mi.jsonl", read_dfew(trees["dfew_root"], on_failure=lambda f: None), FakeEstimator()
    )
    build_grpo_dataset(
        out, dfew_root=trees["dfew_root"], mi_file=mi_file, show_progress=False, cache_dir=tmp_path / "cache"
    )
    with (
        mock.patch("datasets.DatasetDict.push_to_hub", autospec=True) as push,
        mock.patch("migr_hf.data.dataset_card.HfApi") as api,
    ):
        push_dataset_to_hub(out, "user/migr-grpo", private=True, token="hf_x", cache_dir=tmp_path / "cache")
    (dataset, repo_id), kwargs = push.call_args
    assert repo_id == "user/migr-grpo" and kwargs["private"] is True and kwargs["token"] == "hf_x"
    assert dataset["train"].num_rows == 6
    api.assert_called_once_with(token="hf_x")
    upload = api.return_value.upload_file.call_args.kwargs
    assert upload["path_in_repo"] == "README.md" and upload["repo_type"] == "dataset"
    assert Path(upload["path_or_fileobj"]).read_text().startswith("---\n")


def _run_script(name, argv):
    namespace = {"__name__": "dataset_script"}
    exec(compile((ROOT / "dataset_scripts" / name).read_text(), name, "exec"), namespace)
    namespace["main"](argv)


def test_cli_scripts(trees, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    records = read_dfew(trees["dfew_root"], on_failure=lambda f: None) + read_mafw(
        trees["mafw_root"], on_failure=lambda f: None
    )
    mi_file = write_mi_file(tmp_path / "mi.jsonl", records, FakeEstimator())
    _run_script(
        "build_grpo_dataset.py",
        [
            "--dfew-root",
            str(trees["dfew_root"]),
            "--mafw-root",
            str(trees["mafw_root"]),
            "--mi-file",
            str(mi_file),
            "--output-dir",
            str(tmp_path / "grpo"),
        ],
    )
    assert "GRPO dataset" in capsys.readouterr().out
    assert load_built_dataset(tmp_path / "grpo", cache_dir=tmp_path / "cache")["train"].num_rows == 8
    _run_script(
        "build_sft_dataset.py",
        [
            "--dfew-root",
            str(trees["dfew_root"]),
            "--mafw-root",
            str(trees["mafw_root"]),
            "--openface-dir",
            str(trees["openface_dir"]),
            "--mi-file",
            str(mi_file),
            "--undetermined",
            "drop",
            "--output-dir",
            str(tmp_path / "sft"),
        ],
    )
    assert "SFT dataset" in capsys.readouterr().out
    assert sorted(load_built_dataset(tmp_path / "sft", cache_dir=tmp_path / "cache")["train"]["id"]) == [
        "dfew-00001",
        "mafw-00025",
    ]
    with pytest.raises(SystemExit):
        _run_script("build_grpo_dataset.py", ["--output-dir", str(tmp_path / "x")])

"""Modality Importance estimators on a tiny MIGR-Omni model: condition prompts, one tower pass per sample, scoring
against brute force, answer parsing, the resumable driver, multi-process shards and the CLI."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from data_fixtures import FakeEstimator, SimulatedCrash, make_dfew_tree
from media_fixtures import make_clip, sine

from migr_hf.cli import main
from migr_hf.data.jsonl import FailureLog, JsonlStore
from migr_hf.generation import GenerationOutput
from migr_hf.data.modality_importance import (
    CONDITIONS,
    MIPrediction,
    estimate_modality_importance,
    merge_mi_parts,
    part_path,
    part_paths,
    run_mi_estimation,
    shard_records,
    stored_mi_ids,
)
from migr_hf.data.records import SampleRecord
from migr_hf.labels import DFEW
from migr_hf.models.migr_omni.mi_estimation import (
    ESTIMATORS,
    GenerateMIEstimator,
    LoglikMIEstimator,
    build_estimator,
    parse_answer,
    score_candidates,
)

ROOT = Path(__file__).resolve().parents[1]
LABELS = ("happy", "sad", "angry")


@pytest.fixture(scope="module")
def loglik(tiny_checkpoint):
    return build_estimator(tiny_checkpoint, method="loglik")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("mi-clips")
    paths = [
        make_clip(
            root / f"clip{i}.mp4", num_frames=10 + 3 * i, width=64, height=48, audio=sine(0.6, freq=300 + 150 * i)
        )
        for i in range(3)
    ]
    return {"root": root, "av": paths, "silent": make_clip(root / "silent.mp4", num_frames=10, width=64, height=48)}


@pytest.fixture(scope="module")
def records(clips):
    return [
        SampleRecord(f"dfew-{i:05d}", "dfew", "train", path, LABELS[i], "dfew") for i, path in enumerate(clips["av"])
    ]


def test_condition_prompts_hold_exactly_their_placeholders(loglik):
    prompts = loglik.condition_prompts(DFEW)
    counts = {c: (p.count("<video>"), p.count("<audio>")) for c, p in prompts.items()}
    assert counts == {"audio_only": (0, 1), "visual_only": (1, 0), "audio_visual": (1, 1)}
    assert all(", ".join(DFEW.labels) in prompt and "{labels}" not in prompt for prompt in prompts.values())
    assert prompts["audio_visual"].endswith("<|im_start|>assistant\n")

    inputs = loglik.condition_inputs(DFEW, 2)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    video = (ids == loglik.processor.video_token_id).sum(-1).tolist()
    audio = (ids == loglik.processor.audio_token_id).sum(-1).tolist()
    n_video, n_audio = loglik.model.config.num_video_tokens(), loglik.model.config.num_audio_tokens
    assert video == [0, 0, n_video, n_video, n_video, n_video]
    assert audio == [n_audio, n_audio, 0, 0, n_audio, n_audio]
    assert mask[:, -1].all() and not mask[:2, 0].any()  # left-padded, audio-visual rows are the longest


@pytest.mark.parametrize("method", ["loglik", "generate"])
def test_towers_run_once_per_sample(loglik, records, method):
    options = {"max_new_tokens": 2} if method == "generate" else {}
    estimator = ESTIMATORS[method](loglik.model, loglik.processor, **options)
    model = estimator.model.model
    rows = {"vision": [], "audio": [], "gate": []}
    hooks = [
        module.register_forward_hook(lambda m, args, out, name=name: rows[name].append(args[0].shape[0]))
        for name, module in (
            ("vision", model.vision_tower),
            ("audio", model.audio_tower),
            ("gate", model.instruction_gate),
        )
    ]
    try:
        predictions = estimator.predict(records[:2])
    finally:
        for hook in hooks:
            hook.remove()
    assert rows == {"vision": [2 * model.config.num_frames], "audio": [2], "gate": [2]}
    assert len(predictions) == 2


def test_scoring_matches_brute_force_forwards(loglik, records):
    batch = records[:2]
    video, audio = loglik.encode_media(batch, DFEW)
    inputs = loglik.condition_inputs(DFEW, len(batch))
    candidates = loglik.candidates(DFEW)
    lengths = [len(c) for c in candidates]
    assert len(set(lengths)) > 1  # right padding of the candidate rows is exercised
    features = {"video_features": video.repeat(3, 1, 1), "audio_features": audio.repeat(3, 1, 1)}
    scores = score_candidates(loglik.model, inputs["input_ids"], inputs["attention_mask"], candidates, **features)
    assert scores.shape == (6, len(DFEW.labels))

    checked = [lengths.index(min(lengths)), lengths.index(max(lengths))]
    expected = torch.empty(6, len(checked))
    with torch.no_grad():
        for row in range(6):
            prompt = inputs["input_ids"][row][inputs["attention_mask"][row].bool()].tolist()
            sequences = [prompt + candidates[k] for k in checked]
            batch_inputs = loglik.processor.tokenizer.pad(
                {"input_ids": sequences}, padding_side="right", return_tensors="pt"
            )
            sample = row % len(batch)
            logits = loglik.model(
                **batch_inputs,
                video_features=video[sample : sample + 1].expand(len(checked), -1, -1),
                audio_features=audio[sample : sample + 1].expand(len(checked), -1, -1),
            ).logits
            logprobs = logits.float().log_softmax(-1)
            for j, k in enumerate(checked):
                positions = torch.arange(len(prompt) - 1, len(prompt) - 1 + lengths[k])
                expected[row, j] = logprobs[j, positions, torch.tensor(candidates[k])].sum()
    torch.testing.assert_close(scores[:, checked], expected, atol=1e-4, rtol=1e-5)

    normalized = score_candidates(
        loglik.model, inputs["input_ids"], inputs["attention_mask"], candidates, length_normalize=True, **features
    )
    torch.testing.assert_close(normalized, scores / torch.tensor(lengths), atol=1e-5, rtol=1e-5)

    predictions = loglik.predict(batch)
    scores = scores.view(3, len(batch), -1)
    for sample, prediction in enumerate(predictions):
        for c, condition in enumerate(CONDITIONS):
            assert getattr(prediction, condition) == DFEW.labels[int(scores[c, sample].argmax())]
            assert prediction.scores[condition] == pytest.approx(dict(zip(DFEW.labels, scores[c, sample].tolist())))


def test_predict_groups_label_sets_and_keeps_record_order(loglik, records, clips, monkeypatch):
    mafw = SampleRecord("mafw-00001", "mafw", "train", clips["av"][2], "anger", "mafw")
    estimator = LoglikMIEstimator(loglik.model, loglik.processor, batch_size=1)
    calls = []

    def fake_batch(batch, label_set):
        calls.append(([r.id for r in batch], label_set.name))
        return [MIPrediction(r.id, label_set.name, None) for r in batch]

    monkeypatch.setattr(estimator, "_predict_batch", fake_batch)
    predictions = estimator.predict([records[0], mafw, records[1]])
    assert [(p.audio_only, p.visual_only) for p in predictions] == [
        (records[0].id, "dfew"),
        ("mafw-00001", "mafw"),
        (records[1].id, "dfew"),
    ]
    assert calls == [([records[0].id], "dfew"), ([records[1].id], "dfew"), (["mafw-00001"], "mafw")]


def test_parse_answer():
    assert parse_answer("<think>smiles</think><answer> happy </answer>", DFEW) == "happy"
    assert parse_answer("<answer>sad", DFEW) == "sad"  # unclosed answer runs to the end
    assert parse_answer("<answer></answer>", DFEW) is None
    assert parse_answer(" Happy.\n", DFEW) == "Happy"  # bare label word, normalized later
    assert parse_answer("sadness", DFEW) == "sadness"  # a synonym is a label word
    assert parse_answer("the person looks happy", DFEW) is None
    assert parse_answer("", DFEW) is None


def test_generate_batches_conditions_and_parses_answers(tiny_checkpoint, records, monkeypatch):
    estimator = build_estimator(tiny_checkpoint, method="generate", max_new_tokens=3)
    assert isinstance(estimator, GenerateMIEstimator)
    texts = estimator.generate(records[:1], DFEW)
    assert len(texts) == 3 and all(isinstance(text, str) for text in texts)

    completions = [  # condition-major: audio-only x2, visual-only x2, audio-visual x2
        "<answer>happy</answer>",
        "<think>low voice</think><answer> Sad </answer>",
        "Angry.",
        "the person looks happy",
        "<think>smile</think><answer>happiness</answer>",
        "",
    ]
    tokenizer = estimator.processor.tokenizer
    calls = []

    def fake_generate(model, inputs, options, num_samples=1):
        calls.append((inputs["input_ids"].shape[0], inputs["video_features"].shape[0], inputs["audio_features"].shape[0], options))
        ids = [tokenizer(text)["input_ids"] + [tokenizer.eos_token_id] for text in completions]
        return GenerationOutput(completion_ids=ids, logprobs=[[0.0] * len(row) for row in ids])

    monkeypatch.setattr(estimator.engine, "generate", fake_generate)
    first, second = estimator.predict(records[:2])
    assert (first.audio_only, first.visual_only, first.audio_visual) == ("happy", "Angry", "happiness")
    assert (second.audio_only, second.visual_only, second.audio_visual) == ("Sad", None, None)
    assert first.scores is None
    ((rows, video_rows, audio_rows, options),) = calls
    assert rows == video_rows == audio_rows == 6
    assert options.do_sample is False and options.max_new_tokens == 3


def test_estimator_plugs_into_the_driver_and_resumes(tiny_checkpoint, records, tmp_path):
    estimator = build_estimator(tiny_checkpoint, "loglik", batch_size=2)
    output = tmp_path / "mi.jsonl"
    first = estimate_modality_importance(records, estimator, output, batch_size=3, show_progress=False)
    rows = list(JsonlStore(output))
    assert [row["id"] for row in rows] == [r.id for r in records]
    assert all(set(row["scores"]) == set(CONDITIONS) for row in rows)
    assert all(row["predictions"]["audio_visual"] in DFEW.labels for row in rows)

    calls = []
    estimator.predict = lambda batch: calls.append(batch) or []
    again = estimate_modality_importance(records, estimator, output, batch_size=3, show_progress=False)
    assert again == first and calls == []
    assert len(output.read_text().splitlines()) == len(records)


def test_clip_without_audio_is_recorded_as_a_failure(loglik, records, clips, tmp_path):
    silent = SampleRecord("dfew-00099", "dfew", "train", clips["silent"], "sad", "dfew")
    with pytest.raises(ValueError, match=r"dfew-00099 .*silent\.mp4.*no audio stream"):
        loglik.predict([silent])
    failures = FailureLog(tmp_path / "failures.jsonl")
    mi = estimate_modality_importance(
        [records[0], silent], loglik, tmp_path / "mi.jsonl", batch_size=2, failures=failures, show_progress=False
    )
    assert set(mi) == {records[0].id}
    (failure,) = failures.failures
    assert failure.id == "dfew-00099" and failure.reason.value == "mi_estimation_error"
    assert "no audio stream" in failure.detail


def _fake_records(n):
    return [SampleRecord(f"dfew-{i:05d}", "dfew", "train", f"{i}.mp4", "happy", "dfew") for i in range(n)]


def test_shards_and_merge_simulating_two_processes(tmp_path):
    records = _fake_records(7)
    output = tmp_path / "mi.jsonl"
    estimate_modality_importance(records[:2], FakeEstimator(), output, show_progress=False)
    done = stored_mi_ids(output)
    todo = [r for r in records if r.id not in done]
    shards = [shard_records(todo, 2, rank) for rank in range(2)]
    assert sorted(r.id for shard in shards for r in shard) == sorted(r.id for r in todo)
    assert not {r.id for r in shards[0]} & {r.id for r in shards[1]}

    with pytest.raises(SimulatedCrash):  # rank 1 dies after its first batch of 1
        estimate_modality_importance(
            shards[1], FakeEstimator(crash_after=1), part_path(output, 1), batch_size=1, show_progress=False
        )
    estimate_modality_importance(shards[0], FakeEstimator(), part_path(output, 0), show_progress=False)
    assert [p.name for p in part_paths(output)] == ["mi.jsonl.part-0", "mi.jsonl.part-1"]
    assert stored_mi_ids(output) == {r.id for r in records[:2] + shards[0] + shards[1][:1]}

    JsonlStore(part_path(output, 1)).append(json.loads(output.read_text().splitlines()[0]))  # a duplicate id
    merge_mi_parts(output)
    assert part_paths(output) == []
    ids = [json.loads(line)["id"] for line in output.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 2 + len(shards[0]) + 1

    estimator = FakeEstimator()
    mi = run_mi_estimation(records, estimator, output, batch_size=4, show_progress=False)
    assert sorted(estimator.predicted) == sorted(r.id for r in shards[1][1:])
    assert set(mi) == {r.id for r in records}
    assert merge_mi_parts(output) == 0


def test_run_mi_estimation_merges_leftover_parts_first(tmp_path):
    records = _fake_records(4)
    output = tmp_path / "mi.jsonl"
    estimate_modality_importance(records[:3], FakeEstimator(), part_path(output, 3), show_progress=False)
    estimator = FakeEstimator()
    mi = run_mi_estimation(records, estimator, output, show_progress=False)
    assert estimator.predicted == [records[3].id] and len(mi) == 4
    assert part_paths(output) == [] and len(output.read_text().splitlines()) == 4


@pytest.mark.parametrize("command", [["estimate-mi"], ["build-data"], ["build-data", "sft"], ["build-data", "grpo"]])
def test_cli_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: migr-hf " + " ".join(command) in capsys.readouterr().out


def test_cli_estimate_mi_end_to_end(tiny_checkpoint, clips, tmp_path, capsys):
    dfew = make_dfew_tree(tmp_path / "DFEW", {1: 1, 2: 2})
    output = tmp_path / "mi.jsonl"
    base = ["estimate-mi", "--model", str(tiny_checkpoint), "--output", str(output), "--no-progress"]
    assert main([*base, "--dfew-root", str(dfew), "--method", "loglik", "--batch-size", "2"]) == 0
    assert "2 sample(s) with MI" in capsys.readouterr().out
    assert sorted(JsonlStore(output).done_ids) == ["dfew-00001", "dfew-00002"]

    rows = tmp_path / "rows.jsonl"
    shutil.copy(clips["av"][0], tmp_path / "extra.mp4")
    extra = SampleRecord("dfew-00003", "dfew", "train", "extra.mp4", "sad", "dfew").to_dict()
    old = SampleRecord("dfew-00001", "dfew", "train", "missing.mp4", "happy", "dfew").to_dict()
    rows.write_text(json.dumps(old) + "\n" + json.dumps(extra) + "\n")
    args = ["--records", str(rows), "--media-root", str(tmp_path), "--method", "generate", "--max-new-tokens", "2"]
    assert main([*base, *args]) == 0
    assert "2 sample(s) with MI" in capsys.readouterr().out
    assert len(output.read_text().splitlines()) == 3  # dfew-00001 was not recomputed (its clip path is bogus)

    assert main([*base, "--records", str(rows), "--method", "generate", "--length-normalize"]) == 2
    assert "--length-normalize applies to --method loglik" in capsys.readouterr().err


def test_cli_build_data_grpo_forwards_to_the_builder(tmp_path, capsys, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    dfew = make_dfew_tree(tmp_path / "DFEW", {1: 1, 2: 4})
    records = [SampleRecord(f"dfew-0000{i}", "dfew", "train", "x.mp4", "happy", "dfew") for i in (1, 2)]
    mi_file = tmp_path / "mi.jsonl"
    estimate_modality_importance(records, FakeEstimator(), mi_file, show_progress=False)
    argv = [
        "build-data",
        "grpo",
        "--dfew-root",
        str(dfew),
        "--mi-file",
        str(mi_file),
        "--output-dir",
        str(tmp_path / "grpo"),
    ]
    assert main(argv) == 0
    assert "GRPO dataset" in capsys.readouterr().out and (tmp_path / "grpo" / "README.md").is_file()


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(tiny_checkpoint, records, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records))
    output = tmp_path / "mi.jsonl"
    JsonlStore(part_path(output, 5)).append({"id": "dfew-00077", "correct": dict.fromkeys(CONDITIONS, False)})
    command = [  # `--cpu` would start one process: CPU processes come from `--multi_gpu` with ACCELERATE_USE_CPU
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "migr_hf.cli", "estimate-mi",
        "--model", str(tiny_checkpoint), "--records", str(rows), "--output", str(output), "--method", "loglik",
        "--batch-size", "1", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert part_paths(output) == []
    ids = [json.loads(line)["id"] for line in output.read_text().splitlines()]
    assert sorted(ids) == sorted([r.id for r in records] + ["dfew-00077"])
    assert "3 sample(s) with MI" in result.stdout
    assert result.stdout.count("with MI") == 1  # printed by the main process only

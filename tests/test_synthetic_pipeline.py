"""Pieces of the synthetic benchmark pipeline: the modality-dropout collator, MI scoring and the ablation tables."""

import pytest
from transformers import AutoProcessor

from migr_hf.synthetic import CorpusSpec, make_synthetic_corpus
from migr_hf.synthetic.ablation import aggregate, mean_std, render_ablation
from migr_hf.synthetic.config import BenchmarkConfig
from migr_hf.synthetic.pipeline import VISUAL_FIRST_RULE, arm_metrics, mi_scores, split_by_dominant
from migr_hf.synthetic.recognition import ModalityDropoutCollator, build_base_checkpoint, condition_target


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic-pipeline")
    corpus = make_synthetic_corpus(root / "corpus", CorpusSpec(num_dfew=6, num_emer=0, duration_s=(2.0, 2.0)), show_progress=False)
    model = build_base_checkpoint(root / "model", BenchmarkConfig())
    return corpus, AutoProcessor.from_pretrained(model)


def test_base_checkpoint_uses_the_short_audio_window(small):
    _, processor = small
    assert processor.feature_extractor.chunk_length == 2 and processor.num_audio_tokens == 33
    assert processor.num_frames == 4


@pytest.mark.parametrize(
    "weights, condition, video, audio",
    [((1, 0, 0), "audio_only", False, True), ((0, 1, 0), "visual_only", True, False), ((0, 0, 1), "audio_visual", True, True)],
)
def test_modality_dropout_shows_one_condition_and_targets_what_it_shows(small, weights, condition, video, audio):
    corpus, processor = small
    rows = [{**row, "video": str(corpus.dfew_root / "Clip" / "original" / f"{row['name']}.mp4")} for row in corpus.ground_truth().values()]
    collator = ModalityDropoutCollator(processor, weights=weights, seed=0)
    batch = collator(rows)
    ids = batch["input_ids"]
    assert bool((ids == processor.video_token_id).any(-1).all()) is video
    assert bool((ids == processor.audio_token_id).any(-1).all()) is audio
    assert ("pixel_values_videos" in batch) is video and ("input_features" in batch) is audio
    for index, row in enumerate(rows):
        supervised = ids[index][batch["labels"][index] != -100]
        text = processor.tokenizer.decode(supervised, skip_special_tokens=True)
        assert condition_target(row, condition) in text
    again = collator(rows)  # decoded media are reused: same tensors on the second pass
    if video:
        assert (again["pixel_values_videos"] == batch["pixel_values_videos"]).all()


def test_condition_targets_are_what_each_input_clearly_shows():
    row = {"label": "happy", "face": "neutral", "face_intensity": 1.0, "voice": "happy", "voice_intensity": 1.0}
    assert [condition_target(row, c) for c in ("audio_only", "visual_only", "audio_visual")] == ["happy", "neutral", "happy"]
    faint = {**row, "face": "sad", "face_intensity": 0.35}  # a faint distractor face reads as neutral
    assert [condition_target(faint, c) for c in ("audio_only", "visual_only", "audio_visual")] == ["happy", "neutral", "happy"]


def test_mi_scores_against_ground_truth():
    truth = {
        "a": {"dominant": "audio", "label": "sad"},
        "v": {"dominant": "visual", "label": "happy"},
        "b": {"dominant": "both", "label": "neutral"},
        "x": {"dominant": "audio", "label": "sad"},
    }
    correct = {"audio_only": True, "visual_only": False, "audio_visual": True}
    rows = [
        {"id": "a", "modality_importance": "audio", "correct": correct},
        {"id": "v", "modality_importance": "audio", "correct": correct},
        {"id": "b", "modality_importance": "both", "correct": correct},
        {"id": "x", "modality_importance": "audio", "correct": correct},
    ]
    scores = mi_scores(rows, truth)
    assert scores["accuracy"] == pytest.approx(2 / 3) and scores["num_audio_visual_clips"] == 3
    assert scores["both_accuracy"] == 1.0 and scores["confusion"]["visual"] == {"audio": 1}
    assert scores["condition_accuracy"]["visual_only"] == 0.0 and scores["chance_accuracy"] == 0.5


def test_visual_first_rule_orders_every_sample_visual_first():
    assert set(VISUAL_FIRST_RULE.to_dict().values()) == {"visual"}


def _report():
    samples = [
        {"id": "1", "reference": "happy", "prediction": "happy"},
        {"id": "2", "reference": "sad", "prediction": "happy"},
        {"id": "3", "reference": "sad", "prediction": "sad"},
    ]
    report = {
        "label_set": "dfew",
        "num_samples": 3,
        "table1": {"WAR": 2 / 3, "UAR": 0.75, "EEA": 0.5, "EPC": 0.5, "FCR": 0.5},
        "table2": {"all": 0.0, "among_correct": 0.0},
        "counts": {"no_answer": 1, "not_well_formed": 1},
        "samples": samples,
    }
    predictions = [
        {"id": "1", "label": "happy", "dominant": "audio", "completion": "<aud_desc>x</aud_desc><vis_desc>y</vis_desc>"},
        {"id": "2", "label": "sad", "dominant": "visual", "completion": "<aud_desc>x</aud_desc>"},
        {"id": "3", "label": "sad", "dominant": "both", "completion": "<vis_desc>y</vis_desc>"},
    ]
    return report, predictions


def test_arm_metrics_and_split_by_dominant():
    report, predictions = _report()
    metrics = arm_metrics(report, predictions)
    assert metrics["parsable_rate"] == pytest.approx(2 / 3) and metrics["chance_war"] == pytest.approx(2 / 3)
    assert metrics["order_alignment"] == 0.5  # the audio clip opens with audio, the visual one does not
    split = split_by_dominant(report, predictions)
    assert split["audio"]["war"] == 1.0 and split["visual"]["war"] == 0.0 and split["visual"]["opens_audio"] == 1.0
    assert split["both"]["opens_visual"] == 1.0


def test_aggregate_and_render():
    report, predictions = _report()
    run = {"seed": 0, "metrics": arm_metrics(report, predictions), "by_dominant": split_by_dominant(report, predictions), "reward_curves": {}}
    base = {"mi": {m: {"train": {"accuracy": 0.9}, "heldout": {"accuracy": 0.8}} for m in ("generate", "loglik")}, "mi_agreement": {"train": 1.0, "heldout": 0.5}}
    summary = aggregate({"migr_sft": [run, {**run, "seed": 1}]}, [base, base], "generate")
    assert summary["arms"]["migr_sft"]["metrics"]["war"] == {"mean": pytest.approx(2 / 3), "std": 0.0, "n": 2}
    summary.update(date="2026-01-01", command="cmd", wall_s=60, seeds=[0, 1], speech="tones", num_test=3)
    markdown = render_ablation(summary)
    assert "| (ii) MIGR SFT only | 75.0 ± 0.0 | 66.7 ± 0.0 |" in markdown and "generate (builders' default) | 90.0" in markdown
    assert mean_std([None]) == {"mean": None, "std": None, "n": 0}

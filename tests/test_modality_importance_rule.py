"""The Modality Importance rule (all 8 combinations, overrides) and the resumable estimation driver."""

import json

import pytest
from data_fixtures import FakeEstimator, SimulatedCrash

from migr_hf.data.jsonl import FailureLog
from migr_hf.data.modality_importance import (
    DEFAULT_MI_RULE,
    MIEstimator,
    MIPrediction,
    MIRule,
    estimate_modality_importance,
    is_correct,
    load_mi_file,
    load_mi_rule,
    mi_result_row,
    modality_importance,
)
from migr_hf.data.records import FailureReason, SampleRecord
from migr_hf.schema import ModalityImportance as MI

RULE_TABLE = [
    ((True, False, True), MI.AUDIO),
    ((True, False, False), MI.AUDIO),
    ((False, True, True), MI.VISUAL),
    ((False, True, False), MI.VISUAL),
    ((True, True, True), MI.BOTH),
    ((True, True, False), MI.BOTH),
    ((False, False, True), MI.BOTH),
    ((False, False, False), MI.UNDETERMINED),
]


@pytest.mark.parametrize(("correct", "expected"), RULE_TABLE)
def test_default_rule_table(correct, expected):
    assert modality_importance(*correct) is expected
    assert DEFAULT_MI_RULE(*correct) is expected


def test_rule_covers_all_eight_combinations_and_serializes():
    assert len(DEFAULT_MI_RULE.table) == 8
    assert DEFAULT_MI_RULE.to_dict() == {
        "101": "audio",
        "100": "audio",
        "011": "visual",
        "010": "visual",
        "111": "both",
        "110": "both",
        "001": "both",
        "000": "undetermined",
    }
    assert MIRule.from_mapping(DEFAULT_MI_RULE.to_dict()) == DEFAULT_MI_RULE


def test_rule_overrides_from_mapping_and_files(tmp_path):
    rule = MIRule.from_mapping({"001": "undetermined", (True, True, False): MI.UNDETERMINED})
    assert rule(False, False, True) is MI.UNDETERMINED and rule(True, True, False) is MI.UNDETERMINED
    assert rule(True, False, False) is MI.AUDIO
    (tmp_path / "rule.yaml").write_text('"100": undetermined\n"0,1,0": undetermined\n')
    from_yaml = load_mi_rule(tmp_path / "rule.yaml")
    assert from_yaml(True, False, False) is MI.UNDETERMINED and from_yaml(False, True, False) is MI.UNDETERMINED
    (tmp_path / "rule.json").write_text(json.dumps({"111": "audio"}))
    assert MIRule.from_file(tmp_path / "rule.json")(True, True, True) is MI.AUDIO
    assert load_mi_rule({"000": "both"})(False, False, False) is MI.BOTH
    assert load_mi_rule(None) is DEFAULT_MI_RULE and load_mi_rule(rule) is rule
    with pytest.raises(ValueError, match="three 0/1 digits"):
        MIRule.from_mapping({"12": "audio"})
    with pytest.raises(ValueError):
        MIRule.from_mapping({"101": "sound"})
    with pytest.raises(ValueError, match="misses"):
        MIRule({(True, True, True): MI.BOTH})


def test_correctness_uses_the_label_set_synonyms():
    assert is_correct("Sadness", "sad", "dfew") and is_correct("sad", "sadness", "mafw")
    assert not is_correct("sad", "happy", "dfew") and not is_correct(None, "happy", "dfew")
    assert not is_correct("<answer>sad</answer>", "sad", "dfew")


def _records(n, source="dfew"):
    labels = {"dfew": "happy", "mafw": "anger", "emer": "worried"}
    return [
        SampleRecord(f"{source}-{i:05d}", source, "train", f"{i:05d}.mp4", labels[source], source) for i in range(n)
    ]


def test_driver_resumes_after_a_crash_without_duplicates_or_losses(tmp_path):
    records = _records(10)
    path = tmp_path / "mi.jsonl"
    crashing = FakeEstimator(crash_after=5)
    assert isinstance(crashing, MIEstimator)
    with pytest.raises(SimulatedCrash):
        estimate_modality_importance(records, crashing, path, batch_size=2, show_progress=False)
    assert crashing.predicted == [r.id for r in records[:4]]
    assert len(path.read_text().splitlines()) == 4
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"id": "dfew-00004", "pred')  # torn line of a crash in the middle of a write
    outcomes = {records[7].id: (True, True, False), records[9].id: (False, False, False)}
    resumed = FakeEstimator(outcomes)
    mi = estimate_modality_importance(records, resumed, path, batch_size=4, show_progress=False)
    assert resumed.predicted == [r.id for r in records[4:]]
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert sorted(ids) == [r.id for r in records] and len(ids) == len(set(ids))
    assert mi[records[0].id] is MI.AUDIO and mi[records[7].id] is MI.BOTH and mi[records[9].id] is MI.UNDETERMINED
    again = FakeEstimator()
    assert estimate_modality_importance(records, again, path, show_progress=False) == mi and again.predicted == []


def test_driver_retries_a_failing_batch_per_sample_and_records_failures(tmp_path):
    records = _records(6, "mafw")
    failures = FailureLog(tmp_path / "failures.jsonl")
    estimator = FakeEstimator(fail_ids={records[2].id})
    mi = estimate_modality_importance(
        records, estimator, tmp_path / "mi.jsonl", batch_size=4, failures=failures, show_progress=False
    )
    assert set(mi) == {r.id for r in records} - {records[2].id}
    assert [(f.id, f.reason) for f in failures.failures] == [(records[2].id, FailureReason.MI_ESTIMATION_ERROR)]
    retry = FakeEstimator()
    mi = estimate_modality_importance(records, retry, tmp_path / "mi.jsonl", show_progress=False)
    assert retry.predicted == [records[2].id] and len(mi) == 6


def test_stored_rows_and_mi_file_recompute_under_another_rule(tmp_path):
    record = _records(1, "emer")[0]
    row = mi_result_row(record, MIPrediction("worry", "happy", None, scores={"audio_only": {"worried": -0.1}}))
    assert row["predictions"] == {"audio_only": "worry", "visual_only": "happy", "audio_visual": None}
    assert row["correct"] == {"audio_only": True, "visual_only": False, "audio_visual": False}
    assert row["modality_importance"] == "audio" and row["scores"] == {"audio_only": {"worried": -0.1}}
    path = tmp_path / "mi.jsonl"
    hand_made = {"id": "dfew-00001", "modality_importance": "visual"}
    path.write_text(json.dumps(row) + "\n" + json.dumps(hand_made) + "\n")
    assert load_mi_file(path) == {record.id: MI.AUDIO, "dfew-00001": MI.VISUAL}
    assert load_mi_file(path, MIRule.from_mapping({"100": "both"}))[record.id] is MI.BOTH
    with pytest.raises(FileNotFoundError):
        load_mi_file(tmp_path / "missing.jsonl")

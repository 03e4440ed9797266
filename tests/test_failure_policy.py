"""Batch stages that fail for most samples stop loudly; isolated failures are recorded and the stage goes on."""

import subprocess
import sys

import pytest
from data_fixtures import FakeEstimator, make_dfew_tree

from migr_hf.data.builder import build_grpo_dataset
from migr_hf.data.jsonl import FailureLog, FailurePolicy, TooManyFailuresError
from migr_hf.data.modality_importance import estimate_modality_importance
from migr_hf.data.records import Failure, FailureReason, SampleRecord


class BrokenEstimator:
    """An `MIEstimator` whose every call raises, as a library release that breaks the model would."""

    def predict(self, records):
        raise TypeError("MIGROmniCausalLMOutputWithPast.__init__() got an unexpected keyword argument 'cache'")


def _records(n: int) -> list[SampleRecord]:
    return [SampleRecord(f"dfew-{i:05d}", "dfew", "train", f"{i}.mp4", "happy", "dfew") for i in range(n)]


@pytest.mark.parametrize(
    ("failed", "tried", "stops"),
    [(4, 4, False), (3, 5, True), (5, 10, False), (6, 10, True), (1, 1, False), (100, 100, True)],
)
def test_default_policy_stops_after_five_samples_when_more_than_half_failed(failed, tried, stops):
    assert FailurePolicy().exceeded(failed, tried) is stops
    assert not FailurePolicy(max_failed_fraction=1.0).exceeded(failed, tried)


def test_policy_rejects_nonsense_thresholds():
    with pytest.raises(ValueError, match="max_failed_fraction"):
        FailurePolicy(max_failed_fraction=1.5)
    with pytest.raises(ValueError, match="min_samples"):
        FailurePolicy(min_samples=0)


def test_mi_estimation_that_fails_everywhere_stops_with_the_first_error(tmp_path):
    failures = FailureLog(tmp_path / "build" / "failures.jsonl")
    with pytest.raises(TooManyFailuresError) as caught:
        estimate_modality_importance(
            _records(7), BrokenEstimator(), tmp_path / "mi.jsonl", batch_size=8, failures=failures, show_progress=False
        )
    message = str(caught.value)
    assert message.startswith("Modality Importance failed for 7 of 7 samples (first: TypeError: MIGROmniCausalLM")
    assert "sample dfew-00000" in message and message.endswith(f"see {tmp_path / 'build' / 'failures.jsonl'}")
    assert len((tmp_path / "build" / "failures.jsonl").read_text().splitlines()) == 7


def test_mi_estimation_stops_early_on_a_large_batch_job(tmp_path):
    estimator = BrokenEstimator()
    calls = []
    predict = estimator.predict
    estimator.predict = lambda batch: calls.append(len(batch)) or predict(batch)
    with pytest.raises(TooManyFailuresError, match=r"failed for 8 of 8 samples"):
        estimate_modality_importance(_records(400), estimator, tmp_path / "mi.jsonl", batch_size=8, show_progress=False)
    assert sum(calls) < 20  # one batch (and its per-sample retries), not 400 samples


def test_isolated_mi_failures_are_recorded_and_the_job_goes_on(tmp_path):
    failures = FailureLog(tmp_path / "failures.jsonl")
    records = _records(10)
    mi = estimate_modality_importance(
        records,
        FakeEstimator(fail_ids={"dfew-00003", "dfew-00007"}),
        tmp_path / "mi.jsonl",
        batch_size=4,
        failures=failures,
        show_progress=False,
    )
    assert len(mi) == 8 and failures.ids() == {"dfew-00003", "dfew-00007"}


def test_dataset_build_that_fails_everywhere_never_reaches_datasets(tmp_path):
    dfew = make_dfew_tree(tmp_path / "DFEW", {n: 1 for n in range(1, 7)})
    with pytest.raises(TooManyFailuresError, match=r"^Modality Importance failed for 6 of 6 samples \(first: TypeError"):
        build_grpo_dataset(tmp_path / "grpo", dfew_root=dfew, mi_estimator=BrokenEstimator(), show_progress=False)
    assert not (tmp_path / "grpo" / "data").exists()


def test_dataset_build_that_keeps_nothing_says_so(tmp_path):
    dfew = make_dfew_tree(tmp_path / "DFEW", {n: 1 for n in range(1, 4)})
    with pytest.raises(TooManyFailuresError, match=r"the grpo build kept no sample \(left out: .*mi_estimation_error"):
        build_grpo_dataset(
            tmp_path / "grpo",
            dfew_root=dfew,
            mi_estimator=BrokenEstimator(),
            show_progress=False,
            failure_policy=FailurePolicy(max_failed_fraction=1.0),
        )
    assert not (tmp_path / "grpo" / "data").exists()


def test_command_line_reports_a_stopped_stage_in_one_line(tmp_path):
    dfew = make_dfew_tree(tmp_path / "DFEW", {n: 1 for n in range(1, 7)})
    mi_file = tmp_path / "mi.jsonl"
    mi_file.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "migr_hf.cli", "build-data", "grpo", "--output-dir", str(tmp_path / "out"),
         "--dfew-root", str(dfew), "--mi-file", str(mi_file), "--no-check-media"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("migr-hf build-data: stopped:")]
    assert len(lines) == 1 and "kept no sample" in lines[0]
    assert "Traceback" not in result.stderr


def test_watched_stage_stops_as_soon_as_most_of_what_it_tried_failed():
    failures = FailureLog()
    seen = []
    with pytest.raises(TooManyFailuresError, match=r"^Clip check failed for 3 of 5 samples"):
        for record in failures.watch("Clip check", _records(100)):
            seen.append(record.id)
            if len(seen) in (1, 3, 5):
                failures.add(Failure(record.id, "dfew", record.video, FailureReason.MISSING_CLIP, "no such file"))
    assert len(seen) == 5


def test_watched_stage_with_isolated_failures_goes_through():
    failures = FailureLog()
    records = _records(10)
    for record in failures.watch("FAU filter", records):
        if record.id in ("dfew-00002", "dfew-00007"):
            failures.add(Failure(record.id, "dfew", record.video, FailureReason.NO_FACE, "no tracked face"))
    assert failures.ids() == {"dfew-00002", "dfew-00007"}

"""Modality Importance (paper section 3.1.2): the rule that turns a model's predictions under audio-only,
visual-only and audio-visual input into the emotion-dominant modality, the estimator interface, and the resumable
estimation driver.

Default rule (``A`` = audio-only prediction correct, ``V`` = visual-only correct, ``AV`` = audio-visual correct):

==  ==  ==  ============  ==================================================================================
A   V   AV  MI            Rationale
==  ==  ==  ============  ==================================================================================
1   0   1   audio         Audio alone suffices and vision alone fails.
1   0   0   audio         The paper's defining case: audio alone is right, and adding vision makes the model
                          wrong, so the visual stream is irrelevant or misleading.
0   1   1   visual        Vision alone suffices and audio alone fails.
0   1   0   visual        Mirror of (1, 0, 0): audio misleads the fused prediction.
1   1   1   both          Each modality alone recovers the target: equally informative (a tie).
1   1   0   both          Each modality alone recovers the target; the fused error is a fusion failure that
                          says nothing about which modality dominates.
0   0   1   both          Only the combination recovers the target: both modalities are needed, neither
                          dominates.
0   0   0   undetermined  No condition recovers the target: the predictions give no evidence either way.
==  ==  ==  ============  ==================================================================================

The rule compares unimodal evidence first; the audio-visual outcome never overrides a unimodal asymmetry. Override
it with `MIRule.from_mapping` / `MIRule.from_file` (YAML or JSON, keys ``"<A><V><AV>"`` as 0/1 digits, e.g.
``{"001": "undetermined"}``; missing keys keep the default).

A prediction is correct when the benchmark's label set normalizes it (synonyms included) to the sample's label;
``None`` (no parsable answer) is wrong.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import yaml
from tqdm.auto import tqdm

from ..labels import get_label_set
from ..schema import ModalityImportance
from .jsonl import FailureLog, JsonlStore
from .records import Failure, FailureReason, SampleRecord, error_detail

if TYPE_CHECKING:
    from accelerate import Accelerator, PartialState

logger = logging.getLogger(__name__)

MI = ModalityImportance
MIKey = tuple[bool, bool, bool]
CONDITIONS = ("audio_only", "visual_only", "audio_visual")
MI_METHODS = ("generate", "loglik")

DEFAULT_MI_TABLE: Mapping[MIKey, ModalityImportance] = MappingProxyType(
    {
        (True, False, True): MI.AUDIO,
        (True, False, False): MI.AUDIO,
        (False, True, True): MI.VISUAL,
        (False, True, False): MI.VISUAL,
        (True, True, True): MI.BOTH,
        (True, True, False): MI.BOTH,
        (False, False, True): MI.BOTH,
        (False, False, False): MI.UNDETERMINED,
    }
)


def _parse_key(key: str | Sequence[Any]) -> MIKey:
    if isinstance(key, str):
        digits = key.replace(",", "").replace(" ", "")
        if len(digits) != 3 or set(digits) - {"0", "1"}:
            raise ValueError(f"MI rule key {key!r} must be three 0/1 digits: audio-only, visual-only, audio-visual")
        return tuple(d == "1" for d in digits)
    if len(key) != 3:
        raise ValueError(f"MI rule key {key!r} must have three entries")
    return tuple(bool(v) for v in key)


@dataclass(frozen=True)
class MIRule:
    """Complete mapping (audio-only correct, visual-only correct, audio-visual correct) -> `ModalityImportance`."""

    table: Mapping[MIKey, ModalityImportance] = field(default_factory=lambda: DEFAULT_MI_TABLE)

    def __post_init__(self) -> None:
        missing = [key for key in DEFAULT_MI_TABLE if key not in self.table]
        if missing:
            raise ValueError(f"MI rule misses the combination(s) {missing}")

    def __call__(self, audio_only: bool, visual_only: bool, audio_visual: bool) -> ModalityImportance:
        return self.table[(bool(audio_only), bool(visual_only), bool(audio_visual))]

    @classmethod
    def from_mapping(cls, overrides: Mapping[Any, str | ModalityImportance]) -> MIRule:
        """Default rule with some combinations replaced; keys are ``"101"``-style strings or 3-tuples of bools."""
        table = dict(DEFAULT_MI_TABLE)
        table.update({_parse_key(key): ModalityImportance(value) for key, value in overrides.items()})
        return cls(MappingProxyType(table))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> MIRule:
        """`from_mapping` of a YAML or JSON file."""
        return cls.from_mapping(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})

    def to_dict(self) -> dict[str, str]:
        """``{"101": "audio", ...}``, the format `from_mapping` reads."""
        return {"".join("1" if v else "0" for v in key): mi.value for key, mi in self.table.items()}


DEFAULT_MI_RULE = MIRule()


def load_mi_rule(rule: MIRule | Mapping[Any, str] | str | os.PathLike | None = None) -> MIRule:
    """An `MIRule` as given, from an override mapping or file, or the default."""
    if rule is None:
        return DEFAULT_MI_RULE
    if isinstance(rule, MIRule):
        return rule
    if isinstance(rule, Mapping):
        return MIRule.from_mapping(rule)
    return MIRule.from_file(rule)


def modality_importance(
    audio_only_correct: bool, visual_only_correct: bool, audio_visual_correct: bool, rule: MIRule | None = None
) -> ModalityImportance:
    """Emotion-dominant modality of one sample under ``rule`` (the default rule of the module docstring)."""
    return (rule or DEFAULT_MI_RULE)(audio_only_correct, visual_only_correct, audio_visual_correct)


def is_correct(prediction: str | None, label: str, label_set: str) -> bool:
    """Whether a predicted label word normalizes (synonyms included) to ``label``."""
    return prediction is not None and get_label_set(label_set).normalize(prediction) == label


@dataclass(frozen=True)
class MIPrediction:
    """A model's predicted label word under each input condition (``None``: no parsable answer).

    Attributes:
        scores: Optional per-condition scores, condition -> label word -> score (e.g. log-likelihoods), stored
            with the results for analysis.
    """

    audio_only: str | None
    visual_only: str | None
    audio_visual: str | None
    scores: Mapping[str, Mapping[str, float]] | None = field(default=None)


@runtime_checkable
class MIEstimator(Protocol):
    """Predicts a sample's emotion under audio-only, visual-only and audio-visual input.

    Implementations (generate-and-parse, log-likelihood scoring) live with the model:
    `migr_hf.models.migr_omni.mi_estimation.build_estimator`.
    """

    def predict(self, records: Sequence[SampleRecord]) -> list[MIPrediction]:
        """One `MIPrediction` per record, in order. May raise for the batch; the driver then retries per sample."""
        ...


def mi_result_row(record: SampleRecord, prediction: MIPrediction, rule: MIRule | None = None) -> dict[str, Any]:
    """The JSONL row the driver stores for one sample."""
    predictions = {c: getattr(prediction, c) for c in CONDITIONS}
    correct = {c: is_correct(predictions[c], record.label, record.label_set) for c in CONDITIONS}
    row: dict[str, Any] = {
        "id": record.id,
        "source": record.source,
        "label": record.label,
        "label_set": record.label_set,
        "predictions": predictions,
        "correct": correct,
        "modality_importance": modality_importance(*(correct[c] for c in CONDITIONS), rule=rule).value,
    }
    if prediction.scores is not None:
        row["scores"] = {c: dict(s) for c, s in prediction.scores.items()}
    return row


def mi_from_row(row: Mapping[str, Any], rule: MIRule | None = None) -> ModalityImportance:
    """MI of a stored row: recomputed with ``rule`` from its ``correct`` flags when present (so a changed rule
    needs no new predictions), else its ``modality_importance`` field (hand-made files)."""
    if "correct" in row:
        return modality_importance(*(bool(row["correct"][c]) for c in CONDITIONS), rule=rule)
    return ModalityImportance(row["modality_importance"])


def load_mi_file(path: str | os.PathLike, rule: MIRule | None = None) -> dict[str, ModalityImportance]:
    """Id -> MI of a JSONL written by `estimate_modality_importance` (or rows with ``id`` and
    ``modality_importance``); a torn last line is tolerated."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"MI file not found: {path}")
    return {row["id"]: mi_from_row(row, rule) for row in JsonlStore(path)}


def _predict_batch(
    estimator: MIEstimator, batch: Sequence[SampleRecord], failures: FailureLog
) -> list[tuple[SampleRecord, MIPrediction]]:
    try:
        predictions = estimator.predict(batch)
        if len(predictions) != len(batch):
            raise ValueError(f"estimator returned {len(predictions)} predictions for {len(batch)} samples")
        return list(zip(batch, predictions, strict=True))
    except Exception as err:
        if len(batch) == 1:
            logger.warning("MI estimation failed for %s: %s", batch[0].id, err)
            failures.add(
                Failure(
                    batch[0].id, batch[0].source, batch[0].video or "", FailureReason.MI_ESTIMATION_ERROR, error_detail(err)
                )
            )
            return []
        logger.warning("MI estimation failed for a batch of %d (%s); retrying sample by sample", len(batch), err)
        return [pair for record in batch for pair in _predict_batch(estimator, [record], failures)]


def estimate_modality_importance(
    records: Iterable[SampleRecord],
    estimator: MIEstimator,
    output_path: str | os.PathLike,
    batch_size: int = 8,
    *,
    rule: MIRule | None = None,
    failures: FailureLog | None = None,
    show_progress: bool = True,
) -> dict[str, ModalityImportance]:
    """Predict each record under the three conditions and derive its MI, resumably.

    Results are appended to the JSONL at ``output_path`` one batch at a time (flushed and fsynced), so a crash
    loses at most the batch in flight; a rerun skips the ids already stored. A batch that raises is retried sample
    by sample; samples that still fail go to ``failures`` and are retried on the next run. When most samples fail
    (``failures.policy``), the run stops with `TooManyFailuresError` naming the first error and the failures file.

    Returns:
        Id -> MI for every record with a stored result (this run's or an earlier one's).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    store = JsonlStore(output_path)
    unique = list({record.id: record for record in records}.values())
    todo = [record for record in unique if record.id not in store]
    logger.info(
        "MI estimation: %d sample(s), %d already done, %d to do", len(unique), len(unique) - len(todo), len(todo)
    )
    failures = failures if failures is not None else FailureLog()
    first_failure = len(failures)
    with tqdm(total=len(todo), desc="modality importance", unit="sample", disable=not show_progress) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            store.append_many(mi_result_row(r, p, rule) for r, p in _predict_batch(estimator, batch, failures))
            bar.update(len(batch))
            failures.check("Modality Importance", tried=start + len(batch), start=first_failure)
    return {record.id: mi_from_row(store.get(record.id), rule) for record in unique if record.id in store}


def part_path(output_path: str | os.PathLike, process_index: int) -> Path:
    """``<output_path>.part-<process_index>``: the results file of one process of a multi-process run."""
    return Path(f"{os.fspath(output_path)}.part-{process_index}")


def part_paths(output_path: str | os.PathLike) -> list[Path]:
    """The part files of ``output_path`` present on disk (from any number of processes), by process index."""
    output_path = Path(output_path)
    prefix = f"{output_path.name}.part-"
    parts = [p for p in output_path.parent.glob(f"{prefix}*") if p.name[len(prefix) :].isdigit()]
    return sorted(parts, key=lambda p: int(p.name[len(prefix) :]))


def stored_mi_ids(output_path: str | os.PathLike) -> set[str]:
    """Ids with a stored result in ``output_path`` or in any of its part files."""
    ids: set[str] = set()
    for path in (Path(output_path), *part_paths(output_path)):
        if path.exists():
            ids |= JsonlStore(path).done_ids
    return ids


def shard_records(records: Sequence[SampleRecord], num_shards: int, index: int) -> list[SampleRecord]:
    """Shard ``index`` of ``num_shards``: every ``num_shards``-th record from ``index`` (balanced, order kept)."""
    if not 0 <= index < num_shards:
        raise ValueError(f"shard index {index} is outside 0..{num_shards - 1}")
    return list(records[index::num_shards])


def merge_mi_parts(output_path: str | os.PathLike) -> int:
    """Append the rows of every part file whose id ``output_path`` lacks, then delete the parts.

    Crash-safe: rows are appended (and fsynced) before any part is deleted, and a rerun of an interrupted merge
    appends nothing twice. Returns the number of rows appended.
    """
    store = JsonlStore(output_path)
    appended = 0
    parts = part_paths(output_path)
    for path in parts:
        rows = [row for row in JsonlStore(path) if row["id"] not in store]
        store.append_many(rows)
        appended += len(rows)
    for path in parts:
        path.unlink()
    if parts:
        logger.info("merged %d MI result(s) from %d part file(s) into %s", appended, len(parts), output_path)
    return appended


def run_mi_estimation(
    records: Iterable[SampleRecord],
    estimator: MIEstimator,
    output_path: str | os.PathLike,
    batch_size: int = 8,
    accelerator: Accelerator | PartialState | None = None,
    *,
    rule: MIRule | None = None,
    failures: FailureLog | None = None,
    show_progress: bool = True,
) -> dict[str, ModalityImportance]:
    """`estimate_modality_importance` spread over the processes of an `accelerate` launch, resumably.

    Every process reads which ids are already stored (in ``output_path`` or a part file left by an interrupted run),
    takes its shard of the remaining records (`shard_records`) and appends its results to its own part file
    (`part_path`); after all have finished, the main process merges the parts into ``output_path``
    (`merge_mi_parts`). In a single process (``accelerator`` ``None`` or one process) leftover parts are merged
    first and results go straight to ``output_path``. Call it from every process with the same records.

    Args:
        accelerator: An `accelerate.Accelerator` or `accelerate.PartialState` (``None``: one process).
        failures: This process's failure log.

    Returns:
        Id -> MI for every record with a stored result, in every process.
    """
    records = list({record.id: record for record in records}.values())
    num_processes = accelerator.num_processes if accelerator is not None else 1
    if num_processes == 1:
        merge_mi_parts(output_path)
        return estimate_modality_importance(
            records, estimator, output_path, batch_size, rule=rule, failures=failures, show_progress=show_progress
        )
    done = stored_mi_ids(output_path)
    todo = [record for record in records if record.id not in done]
    shard = shard_records(todo, num_processes, accelerator.process_index)
    logger.info(
        "MI estimation, process %d/%d: %d of %d remaining sample(s)",
        accelerator.process_index,
        num_processes,
        len(shard),
        len(todo),
    )
    accelerator.wait_for_everyone()
    estimate_modality_importance(
        shard,
        estimator,
        part_path(output_path, accelerator.process_index),
        batch_size,
        rule=rule,
        failures=failures,
        show_progress=show_progress and accelerator.is_local_main_process,
    )
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        merge_mi_parts(output_path)
    accelerator.wait_for_everyone()
    store = JsonlStore(output_path)
    return {record.id: mi_from_row(store.get(record.id), rule) for record in records if record.id in store}


def check_mi_source(mi_estimator: MIEstimator | None, mi_file: str | os.PathLike | None) -> None:
    """Raise unless exactly one MI source is given: an estimator to run or a precomputed MI file."""
    if (mi_estimator is None) == (mi_file is None):
        raise ValueError("pass exactly one of mi_estimator and mi_file")


def resolve_modality_importance(
    records: Sequence[SampleRecord],
    *,
    mi_estimator: MIEstimator | None,
    mi_file: str | os.PathLike | None,
    rule: MIRule,
    store_path: str | os.PathLike,
    failures: FailureLog,
    batch_size: int = 8,
    show_progress: bool = True,
) -> dict[str, ModalityImportance]:
    """Id -> MI from a precomputed MI file or by running ``mi_estimator`` (results stored at ``store_path``).
    Samples without a result go to ``failures`` (missing_mi; estimator errors are recorded by the driver)."""
    check_mi_source(mi_estimator, mi_file)
    if mi_file is not None:
        mi = load_mi_file(mi_file, rule)
        for record in records:
            if record.id not in mi:
                failures.add(
                    Failure(record.id, record.source, str(mi_file), FailureReason.MISSING_MI, "id not in MI file")
                )
        return {record.id: mi[record.id] for record in records if record.id in mi}
    return estimate_modality_importance(
        records,
        mi_estimator,
        store_path,
        batch_size=batch_size,
        rule=rule,
        failures=failures,
        show_progress=show_progress,
    )


def mi_source_settings(
    mi_estimator: MIEstimator | None, mi_file: str | os.PathLike | None, rule: MIRule
) -> dict[str, Any]:
    """How a build got its MI, as recorded in its settings: the source (file name or estimator class) and rule."""
    source = f"file:{Path(mi_file).name}" if mi_file is not None else f"estimator:{type(mi_estimator).__name__}"
    return {"mi_source": source, "mi_rule": rule.to_dict()}

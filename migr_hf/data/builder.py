"""Build the MIGR SFT and GRPO datasets, one pipeline for both: read the benchmarks -> (SFT: FAU filter) -> drop
duplicate ids -> check the clips -> (SFT: split the reasoning) -> Modality Importance -> rows -> parquet `DatasetDict`
with a generated dataset card.

Output folder (``output_dir``; `migr_hf.data.storage` for the parquet layout)::

    README.md                          dataset card (`migr_hf.data.dataset_card`)
    data/train-00000-of-00001.parquet  the rows
    build/failures.jsonl               one {id, source, file, reason, detail} per sample left out (latest run)
    build/fau.jsonl                    FAU decisions and written reasoning (resumable, SFT only)
    build/mi.jsonl                     MI predictions when estimated here (resumable)
    build/summary.json                 the `BuildSummary` and the settings

``load_dataset(output_dir)`` (or `load_built_dataset`) reloads it offline. A rerun with the same ``output_dir``
skips the samples whose FAU decision or MI result is stored; files are written atomically.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datasets import DatasetDict

from .. import schema
from ..schema import ModalityImportance
from ..services.llm import LLMError
from .dataset_card import dataset_card
from .build_settings import BuildSettings, GRPOBuildSettings, PathLike, SFTBuildSettings
from .clips import check_clips
from .fau import load_fau_config
from .fau_filter import fau_filter
from .jsonl import FailureLog, JsonlStore, TooManyFailuresError, atomic_write_json, atomic_write_text
from .modality_importance import (
    MIEstimator,
    check_mi_source,
    load_mi_rule,
    mi_source_settings,
    resolve_modality_importance,
)
from .readers import MAFW_CAPTIONS, read_dfew, read_emer_v1, read_emer_v2, read_mafw, read_mafw_captions
from .reasoning import ReasoningParts, ReasoningSplitter, RuleBasedSplitter
from .reasoning_writer import ReasoningWriter, TemplateReasoningWriter
from .records import Failure, FailureReason, SampleRecord
from .reorder import build_sft_rows
from .storage import BUILD_DIR, DATA_DIR, GRPO_COLUMNS, dataset_features, load_built_dataset, write_parquet

logger = logging.getLogger(__name__)

@dataclass
class BuildSummary:
    """Counts of one build, logged, written to ``build/summary.json`` and rendered in the dataset card."""

    kind: str
    output_dir: str
    read: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    rows_per_source: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    modality_importance: dict[str, int] = field(default_factory=dict)
    orders: dict[str, int] = field(default_factory=dict)
    fau: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        """Multi-line text summary."""
        lines = [f"{self.kind.upper()} dataset in {self.output_dir}: {self.rows} rows"]
        for name in ("read", "kept", "rows_per_source", "modality_importance", "orders", "fau", "failures"):
            counts = getattr(self, name)
            if counts or name == "failures":
                lines.append(f"  {name}: " + (", ".join(f"{k}={v}" for k, v in counts.items()) or "none"))
        return "\n".join(lines)


@dataclass
class BuildResult:
    """The built dataset (reloaded from its parquet files) and the summary of the build."""

    dataset: DatasetDict
    summary: BuildSummary


def _counts(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _dedupe(records: Iterable[SampleRecord], failures: FailureLog) -> list[SampleRecord]:
    unique: dict[str, SampleRecord] = {}
    for record in records:
        if record.id in unique:
            failures.add(
                Failure(record.id, record.source, record.video or "", FailureReason.DUPLICATE_ID, "kept the first")
            )
        else:
            unique[record.id] = record
    return list(unique.values())


def split_records(
    records: Sequence[SampleRecord], splitter: ReasoningSplitter, failures: FailureLog
) -> dict[str, ReasoningParts]:
    """Id -> audio/visual/conclusion parts of each record's reasoning; splitter errors and reasoning without any
    audio or visual sentence go to ``failures``."""
    parts: dict[str, ReasoningParts] = {}
    first_failure = len(failures)
    for record in records:
        try:
            split = splitter.split(record.reasoning or "")
        except LLMError as err:
            failures.add(
                Failure(record.id, record.source, record.video or "", FailureReason.REASONING_SPLIT_ERROR, str(err))
            )
            continue
        if not split.audio and not split.visual:
            reason, detail = FailureReason.NO_MODALITY_REASONING, "no audio or visual sentence"
            failures.add(Failure(record.id, record.source, record.video or "", reason, detail))
            continue
        parts[record.id] = split
    failures.check("Reasoning split", tried=len(records), start=first_failure)
    return parts


def _read_sft_sources(
    settings: SFTBuildSettings, failures: FailureLog
) -> tuple[list[SampleRecord], list[SampleRecord], dict[str, str]]:
    """EMER records, DFEW/MAFW candidates for the FAU filter, and MAFW captions by id for the writer."""
    records: list[SampleRecord] = []
    if settings.emer_v2 is not None:
        records += read_emer_v2(
            settings.emer_v2, labels=settings.emer_labels, video_dir=settings.emer_video_dir, on_failure=failures.add
        )
    if settings.emer_v1 is not None:
        records += read_emer_v1(settings.emer_v1, video_dir=settings.emer_video_dir, on_failure=failures.add)
    dfew, mafw = _read_benchmarks(settings, failures)
    contexts: dict[str, str] = {}
    captions_path = Path(settings.mafw_root or "") / MAFW_CAPTIONS
    if mafw and settings.mafw_captions and captions_path.is_file():
        captions = read_mafw_captions(captions_path)
        contexts = {r.id: captions[Path(r.video).name] for r in mafw if Path(r.video).name in captions}
    return records, dfew + mafw, contexts


def _read_benchmarks(settings: BuildSettings, failures: FailureLog) -> tuple[list[SampleRecord], list[SampleRecord]]:
    """The DFEW and the MAFW training samples of ``settings.fold`` (empty without a root)."""
    read = (
        (read_dfew, settings.dfew_root),
        (read_mafw, settings.mafw_root),
    )
    dfew, mafw = (
        reader(root, fold=settings.fold, split="train", on_failure=failures.add) if root is not None else []
        for reader, root in read
    )
    return dfew, mafw


def build_dataset(
    settings: SFTBuildSettings | GRPOBuildSettings,
    *,
    mi_estimator: MIEstimator | None = None,
    writer: ReasoningWriter | None = None,
    splitter: ReasoningSplitter | None = None,
) -> BuildResult:
    """Run the build pipeline of the module docstring for ``settings`` (`SFTBuildSettings` or `GRPOBuildSettings`).

    Args:
        mi_estimator: The `MIEstimator` to run when ``settings.mi_file`` is not given (exactly one of the two).
        writer: SFT: reasoning writer for FAU-kept samples (default: `TemplateReasoningWriter`).
        splitter: SFT: reasoning splitter (default: the rule-based one).
    """
    settings.validate()
    check_mi_source(mi_estimator, settings.mi_file)
    sft = isinstance(settings, SFTBuildSettings)
    build_dir = Path(settings.output_dir) / BUILD_DIR
    failures = FailureLog(build_dir / "failures.jsonl", settings.failure_policy)
    rule = load_mi_rule(settings.mi_rule)
    kind_settings = settings.kind_settings()
    if sft:
        writer, splitter = writer or TemplateReasoningWriter(), splitter or RuleBasedSplitter()
        config = load_fau_config(settings.fau_config)
        kind_settings = {
            "fau": config.to_dict(),
            "writer": writer.name,
            "splitter": getattr(splitter, "name", type(splitter).__name__),
            "undetermined": settings.undetermined,
        }
        records, candidates, contexts = _read_sft_sources(settings, failures)
    else:
        records, candidates = [record for source in _read_benchmarks(settings, failures) for record in source], []
    summary = BuildSummary(
        kind=settings.kind, output_dir=str(settings.output_dir), read=_counts(r.source for r in records + candidates)
    )
    if candidates:
        kept, summary.fau = fau_filter(
            candidates,
            openface_dir=settings.openface_dir,
            config=config,
            writer=writer,
            store=JsonlStore(build_dir / "fau.jsonl"),
            failures=failures,
            contexts=contexts,
            show_progress=settings.show_progress,
        )
        records += kept
    records = _dedupe(records, failures)
    if settings.check_media:
        records = check_clips(
            records, failures, require_audio=settings.require_audio, show_progress=settings.show_progress
        )
    if sft:
        parts = split_records(records, splitter, failures)
        records = [record for record in records if record.id in parts]
    mi = resolve_modality_importance(
        records,
        mi_estimator=mi_estimator,
        mi_file=settings.mi_file,
        rule=rule,
        store_path=build_dir / "mi.jsonl",
        failures=failures,
        batch_size=settings.batch_size,
        show_progress=settings.show_progress,
    )
    rows: list[dict[str, Any]] = []
    kept_records: list[SampleRecord] = []
    for record in records:
        if record.id not in mi:
            continue
        if sft:
            record_rows = build_sft_rows(record, parts[record.id], mi[record.id], undetermined=settings.undetermined)
        elif settings.drop_undetermined and mi[record.id] is ModalityImportance.UNDETERMINED:
            record_rows = []
        else:
            record_rows = [_grpo_row(record, mi[record.id])]
        if record_rows:
            kept_records.append(record)
            rows += record_rows
    settings_record = {
        "kind": settings.kind,
        "fold": settings.fold,
        "sources": sorted(summary.read),
        **kind_settings,
        "check_media": settings.check_media,
        "require_audio": settings.require_audio,
        "embed_media": settings.embed_media,
        "media_paths": "relative" if settings.media_root is not None else "absolute",
        **mi_source_settings(mi_estimator, settings.mi_file, rule),
    }
    return _save(settings, rows, kept_records, mi, summary, failures, settings_record)


def _grpo_row(record: SampleRecord, mi: ModalityImportance) -> dict[str, Any]:
    row = {name: value for name, value in record.to_dict().items() if name in GRPO_COLUMNS}
    row[schema.MODALITY_IMPORTANCE] = mi.value
    row[schema.PROMPT] = schema.MIGR_INSTRUCTION
    return row


def _save(
    settings: BuildSettings,
    rows: list[dict[str, Any]],
    kept: Sequence[SampleRecord],
    mi: Mapping[str, ModalityImportance],
    summary: BuildSummary,
    failures: FailureLog,
    settings_record: Mapping[str, Any],
) -> BuildResult:
    """Count what was kept, write the parquet file, the card and the summary, then reload the dataset from disk."""
    summary.kept = _counts(r.source for r in kept)
    summary.rows = len(rows)
    summary.rows_per_source = _counts(row[schema.SOURCE] for row in rows)
    summary.labels = _counts(f"{row[schema.SOURCE]}/{row[schema.LABEL]}" for row in rows)
    summary.modality_importance = _counts(mi[r.id].value for r in kept)
    if settings.kind == "sft":
        summary.orders = _counts(row[schema.ORDER] for row in rows)
    summary.failures = failures.counts()
    if not rows:
        raise TooManyFailuresError(
            f"the {settings.kind} build kept no sample (left out: {summary.failures or 'none'}); see {failures.path}"
        )
    output_dir = Path(settings.output_dir)
    features = dataset_features(settings.kind, settings.embed_media)
    write_parquet(
        rows,
        features,
        output_dir / DATA_DIR / "train-00000-of-00001.parquet",
        media_root=settings.media_root,
        embed_media=settings.embed_media,
    )
    atomic_write_text(output_dir / "README.md", str(dataset_card(summary, settings_record, features)))
    atomic_write_json(output_dir / BUILD_DIR / "summary.json", {"summary": summary.to_dict(), "settings": settings_record})
    logger.info("%s", summary.format())
    return BuildResult(load_built_dataset(output_dir, cache_dir=settings.cache_dir), summary)


def build_sft_dataset(
    output_dir: PathLike,
    *,
    mi_estimator: MIEstimator | None = None,
    writer: ReasoningWriter | None = None,
    splitter: ReasoningSplitter | None = None,
    **settings: Any,
) -> BuildResult:
    """Build the modality-aligned SFT dataset: EMER plus FAU-filtered DFEW/MAFW training samples, split into
    audio/visual/conclusion parts and ordered by MI (one row per order; a tie gives two rows).

    ``settings`` are the fields of `SFTBuildSettings`; the other arguments as in `build_dataset`.
    """
    return build_dataset(
        SFTBuildSettings(output_dir, **settings), mi_estimator=mi_estimator, writer=writer, splitter=splitter
    )


def build_grpo_dataset(output_dir: PathLike, *, mi_estimator: MIEstimator | None = None, **settings: Any) -> BuildResult:
    """Build the GRPO dataset: DFEW/MAFW training samples with their MI label (``settings``: the fields of
    `GRPOBuildSettings`)."""
    return build_dataset(GRPOBuildSettings(output_dir, **settings), mi_estimator=mi_estimator)

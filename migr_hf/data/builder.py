"""Build the MIGR SFT and GRPO datasets: readers -> clip checks -> FAU filter -> reasoning split -> Modality
Importance -> parquet-backed `datasets.DatasetDict` with a generated dataset card.

Output folder (``output_dir``)::

    README.md                          dataset card (YAML header with the parquet config, counts, build settings)
    data/train-00000-of-00001.parquet  the rows (features stored in the parquet metadata)
    build/failures.jsonl               one {id, source, file, reason, detail} per sample left out (latest run)
    build/fau.jsonl                    FAU decisions and written reasoning (resumable, SFT only)
    build/mi.jsonl                     MI predictions when estimated here (resumable)
    build/summary.json                 the `BuildSummary`

``load_dataset(output_dir)`` (or `load_built_dataset`) reloads it offline. A rerun with the same ``output_dir``
skips the samples whose FAU decision or MI result is stored; files are written atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from datasets import DatasetDict, Features, Value, load_dataset
from huggingface_hub import DatasetCard, DatasetCardData, HfApi
from tqdm.auto import tqdm

from .. import __version__, schema
from ..llm import CACHE_FILE_NAME, LLMClient, LLMConfig, LLMError
from ..models.migr_omni.media import MediaError, probe_media
from ..schema import ModalityImportance
from .fau import FAUConfig, FAUDecision, FAUEvidence, fau_decision, load_fau_config
from .jsonl import (
    FailureLog,
    FailurePolicy,
    JsonlStore,
    TooManyFailuresError,
    atomic_write_json,
    atomic_write_text,
    user_file_mode,
)
from .modality_importance import (
    MI_METHODS,
    MIEstimator,
    MIRule,
    estimate_modality_importance,
    load_estimator,
    load_mi_file,
    load_mi_rule,
)
from .openface import NoFaceError
from .readers import (
    MAFW_CAPTIONS,
    read_dfew,
    read_emer_v1,
    read_emer_v2,
    read_mafw,
    read_mafw_captions,
)
from .reasoning import (
    LLMReasoningSplitter,
    ReasoningParts,
    ReasoningSplitter,
    RuleBasedSplitter,
    UndeterminedPolicy,
    build_sft_rows,
)
from .reasoning_writer import ReasoningWriter, TemplateReasoningWriter, get_writer
from .records import DataFormatError, Failure, FailureReason, SampleRecord, error_detail

logger = logging.getLogger(__name__)

BUILD_DIR = "build"
DATA_DIR = "data"
CARD_TEMPLATE = Path(__file__).with_name("dataset_card_template.md")
PARQUET_BATCH_ROWS = 256

_COLUMN_DOCS = {
    schema.ID: "unique sample id `<source>-<clip>`; the second order of a tie gets the suffix `__visual_first`",
    schema.SOURCE: "`dfew`, `mafw` or `emer`",
    schema.SPLIT: "split of the source benchmark (`train`)",
    schema.VIDEO: "path of the clip (audio is read from the same file), relative to the media root when one was given",
    schema.VIDEO_BYTES: "the clip's bytes (datasets built with embedded media)",
    schema.LABEL: "ground-truth label word in the vocabulary of `label_set`",
    schema.LABEL_SET: "label vocabulary (`migr_hf.labels`): `dfew`, `mafw` or `emer`",
    schema.MODALITY_IMPORTANCE: "emotion-dominant modality: `audio`, `visual`, `both` or `undetermined`",
    schema.REASONING: "original reasoning text (EMER annotation or FAU-grounded text)",
    schema.PROMPT: "instruction text (`migr_hf.schema.MIGR_INSTRUCTION`)",
    schema.COMPLETION: "target `<aud_desc>…</aud_desc><vis_desc>…</vis_desc><think>…</think><answer>label</answer>`,"
    " segments in MI order",
    schema.ORDER: "`audio_first` or `visual_first`",
}
_COMMON_COLUMNS = (schema.ID, schema.SOURCE, schema.SPLIT, schema.VIDEO, schema.LABEL, schema.LABEL_SET)
SFT_COLUMNS = (
    *_COMMON_COLUMNS,
    schema.MODALITY_IMPORTANCE,
    schema.REASONING,
    schema.PROMPT,
    schema.COMPLETION,
    schema.ORDER,
)
GRPO_COLUMNS = (*_COMMON_COLUMNS, schema.MODALITY_IMPORTANCE, schema.PROMPT)


def dataset_features(kind: str, embed_media: bool = False) -> Features:
    """Explicit features of the ``"sft"`` or ``"grpo"`` dataset: strings, plus binary ``video_bytes`` when media
    are embedded."""
    columns = {"sft": SFT_COLUMNS, "grpo": GRPO_COLUMNS}[kind]
    features = {name: Value("string") for name in columns}
    if embed_media:
        features[schema.VIDEO_BYTES] = Value("binary")
    return Features(features)


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


def check_clips(
    records: Sequence[SampleRecord],
    failures: FailureLog,
    *,
    require_audio: bool = True,
    show_progress: bool = True,
) -> list[SampleRecord]:
    """Records whose clip exists and probes with a video (and, with ``require_audio``, an audio) stream; the others
    go to ``failures`` (missing_clip, corrupt_clip, no_video_stream, no_audio_stream)."""
    good = []
    first_failure = len(failures)
    for tried, record in enumerate(tqdm(records, desc="checking clips", unit="clip", disable=not show_progress), 1):
        if tried > 1:
            failures.check("Clip check", tried=tried - 1, start=first_failure)
        path = record.video
        if path is None or not os.path.isfile(path):
            failures.add(Failure(record.id, record.source, path or "", FailureReason.MISSING_CLIP, "no such file"))
            continue
        try:
            info = probe_media(path)
        except MediaError as err:
            failures.add(Failure(record.id, record.source, path, FailureReason.CORRUPT_CLIP, error_detail(err)))
            continue
        if not info.has_video:
            failures.add(Failure(record.id, record.source, path, FailureReason.NO_VIDEO_STREAM, ""))
        elif require_audio and not info.has_audio:
            failures.add(Failure(record.id, record.source, path, FailureReason.NO_AUDIO_STREAM, ""))
        else:
            good.append(record)
    failures.check("Clip check", tried=len(records), start=first_failure)
    return good


def openface_csv_path(openface_dir: str | os.PathLike, record: SampleRecord) -> Path:
    """``<openface_dir>/<source>/<clip stem>.csv``, the file OpenFace writes for the record's clip."""
    return Path(openface_dir) / record.source / f"{Path(record.video or record.id).stem}.csv"


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def fau_filter(
    candidates: Sequence[SampleRecord],
    *,
    openface_dir: str | os.PathLike,
    config: FAUConfig,
    writer: ReasoningWriter,
    store: JsonlStore,
    failures: FailureLog,
    contexts: Mapping[str, str] | None = None,
    show_progress: bool = True,
) -> tuple[list[SampleRecord], dict[str, int]]:
    """Keep the candidates whose peak-frame AUs match exactly their label's emotion, with written reasoning.

    Decisions (and the reasoning of kept samples) are appended to ``store``; a stored decision made with the same
    FAU config (and, for kept samples, the same writer) is reused. Missing or unreadable OpenFace CSVs, clips
    without a tracked face and writer errors go to ``failures``.

    Returns:
        The kept records (``reasoning`` filled in) and the count of each outcome (match, mismatch, unmapped_label).
    """
    config_key = _fingerprint(config.to_dict())
    kept: list[SampleRecord] = []
    outcomes: Counter[str] = Counter()
    first_failure = len(failures)
    for tried, record in enumerate(tqdm(candidates, desc="FAU filter", unit="clip", disable=not show_progress), 1):
        if tried > 1:
            failures.check("FAU filter", tried=tried - 1, start=first_failure)
        stored = store.get(record.id)
        context = (contexts or {}).get(record.id)
        if (
            stored is not None
            and stored["fau_config"] == config_key
            and (
                stored["outcome"] != "match" or (stored["writer"] == writer.name and stored.get("context") == context)
            )
        ):
            outcomes[stored["outcome"]] += 1
            if stored["outcome"] == "match":
                kept.append(SampleRecord.from_dict({**record.to_dict(), schema.REASONING: stored["reasoning"]}))
            continue
        csv_path = openface_csv_path(openface_dir, record)
        try:
            decision = fau_decision(record.label_set, record.label, csv_path, config)
        except FileNotFoundError:
            failures.add(Failure(record.id, record.source, str(csv_path), FailureReason.MISSING_OPENFACE, ""))
            continue
        except NoFaceError as err:
            failures.add(Failure(record.id, record.source, str(csv_path), FailureReason.NO_FACE, str(err)))
            continue
        except DataFormatError as err:
            failures.add(Failure(record.id, record.source, str(csv_path), FailureReason.MALFORMED_OPENFACE, str(err)))
            continue
        row = _fau_row(record, decision, config_key)
        if decision.keep:
            try:
                reasoning = writer.write(record, decision.evidence, decision.target, context)
            except LLMError as err:
                failures.add(
                    Failure(record.id, record.source, str(csv_path), FailureReason.REASONING_WRITER_ERROR, str(err))
                )
                continue
            row.update(writer=writer.name, context=context, reasoning=reasoning)
            kept.append(SampleRecord.from_dict({**record.to_dict(), schema.REASONING: reasoning}))
        store.append(row)
        outcomes[decision.outcome] += 1
    failures.check("FAU filter", tried=len(candidates), start=first_failure)
    return kept, dict(sorted(outcomes.items()))


def _fau_row(record: SampleRecord, decision: FAUDecision, config_key: str) -> dict[str, Any]:
    evidence: FAUEvidence | None = decision.evidence
    return {
        "id": record.id,
        "source": record.source,
        "label": record.label,
        "fau_config": config_key,
        "outcome": decision.outcome,
        "target": decision.target,
        "evidence": evidence.to_dict() if evidence is not None else None,
    }


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
    if (mi_estimator is None) == (mi_file is None):
        raise ValueError("pass exactly one of mi_estimator and mi_file")
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


def _video_columns(row: dict[str, Any], media_root: str | os.PathLike | None, embed_media: bool) -> dict[str, Any]:
    path = row[schema.VIDEO]
    row = dict(row)
    if embed_media:
        row[schema.VIDEO_BYTES] = Path(path).read_bytes()
    row[schema.VIDEO] = os.path.relpath(path, media_root) if media_root is not None else os.path.abspath(path)
    return row


def write_parquet(
    rows: Sequence[dict[str, Any]],
    features: Features,
    path: str | os.PathLike,
    *,
    media_root: str | os.PathLike | None = None,
    embed_media: bool = False,
) -> None:
    """Write rows to one parquet file atomically, ``PARQUET_BATCH_ROWS`` rows (and clips) in memory at a time."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrow_schema = features.arrow_schema
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, user_file_mode())
    os.close(fd)
    try:
        with pq.ParquetWriter(tmp, arrow_schema) as writer:
            for start in range(0, max(len(rows), 1), PARQUET_BATCH_ROWS):
                batch = [
                    _video_columns(row, media_root, embed_media) for row in rows[start : start + PARQUET_BATCH_ROWS]
                ]
                writer.write_table(pa.Table.from_pylist(batch, schema=arrow_schema))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def split_files(output_dir: str | os.PathLike, splits: Iterable[str]) -> dict[str, str]:
    """Split -> parquet file pattern of a built dataset folder."""
    return {split: str(Path(output_dir) / DATA_DIR / f"{split}-*.parquet") for split in splits}


def load_built_dataset(output_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> DatasetDict:
    """Reload a built dataset from its parquet files (no network needed)."""
    splits = sorted({p.name.split("-")[0] for p in (Path(output_dir) / DATA_DIR).glob("*.parquet")})
    if not splits:
        raise FileNotFoundError(f"no parquet files under {Path(output_dir) / DATA_DIR}")
    return load_dataset(
        "parquet", data_files=split_files(output_dir, splits), cache_dir=str(cache_dir) if cache_dir else None
    )


def dataset_card(
    summary: BuildSummary,
    settings: Mapping[str, Any],
    features: Features,
    splits: Sequence[str] = ("train",),
) -> DatasetCard:
    """Dataset card with the parquet config, schema, counts per source / emotion / MI class, and build settings."""
    size = summary.rows
    size_category = "n<1K" if size < 1_000 else "1K<n<10K" if size < 10_000 else "10K<n<100K"
    card_data = DatasetCardData(
        language="en",
        license="other",
        pretty_name=f"MIGR {summary.kind.upper()} data",
        size_categories=size_category,
        task_categories=["video-classification", "text-generation"],
        tags=["emotion-recognition", "multimodal", "migr", summary.kind],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": f"{DATA_DIR}/{split}-*"} for split in splits],
            }
        ],
    )
    descriptions = {
        "sft": "Modality-aligned SFT data (paper section 3.1): EMER and FAU-filtered DFEW/MAFW samples whose "
        "reasoning is split into audio and visual segments and ordered by Modality Importance (a tie gives "
        "both orders).",
        "grpo": "Modality-aware GRPO data (paper section 3.2): DFEW/MAFW training clips with their Modality "
        "Importance label, used by the modality-aligned order and modality-grounded reasoning rewards.",
    }
    sources = sorted(set(summary.read) | set(summary.kept))
    media_note = (
        "Media are embedded: `video_bytes` holds each clip and `video` its original path."
        if schema.VIDEO_BYTES in features
        else "Media are referenced by path: clips are not part of this dataset."
    )
    return DatasetCard.from_template(
        card_data,
        template_path=str(CARD_TEMPLATE),
        pretty_name=card_data.pretty_name,
        description=descriptions[summary.kind],
        version=__version__,
        columns=[(name, feature.dtype, _COLUMN_DOCS[name]) for name, feature in features.items()],
        media_note=media_note,
        num_rows=summary.rows,
        num_samples=sum(summary.kept.values()),
        per_source=[
            (s, summary.read.get(s, 0), summary.kept.get(s, 0), summary.rows_per_source.get(s, 0)) for s in sources
        ],
        per_label=[(*key.split("/", 1), count) for key, count in summary.labels.items()],
        per_mi=list(summary.modality_importance.items()),
        per_order=list(summary.orders.items()),
        fau=list(summary.fau.items()),
        failures=list(summary.failures.items()),
        settings=yaml.safe_dump(dict(settings), sort_keys=True, default_flow_style=None, width=110).strip(),
    )


def save_dataset(
    rows_by_split: Mapping[str, Sequence[dict[str, Any]]],
    *,
    kind: str,
    output_dir: str | os.PathLike,
    summary: BuildSummary,
    settings: Mapping[str, Any],
    media_root: str | os.PathLike | None = None,
    embed_media: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> DatasetDict:
    """Write the parquet files, the card and the summary, then reload the dataset from disk."""
    output_dir = Path(output_dir)
    features = dataset_features(kind, embed_media)
    for split, rows in rows_by_split.items():
        write_parquet(
            rows,
            features,
            output_dir / DATA_DIR / f"{split}-00000-of-00001.parquet",
            media_root=media_root,
            embed_media=embed_media,
        )
    card = dataset_card(summary, settings, features, splits=list(rows_by_split))
    atomic_write_text(output_dir / "README.md", str(card))
    atomic_write_json(output_dir / BUILD_DIR / "summary.json", {"summary": summary.to_dict(), "settings": settings})
    return load_built_dataset(output_dir, cache_dir=cache_dir)


def push_dataset_to_hub(
    output_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> None:
    """Push a built dataset with `DatasetDict.push_to_hub`, then replace the generated README with its card."""
    output_dir = Path(output_dir)
    dataset = load_built_dataset(output_dir, cache_dir=cache_dir)
    dataset.push_to_hub(repo_id, private=private, token=token, revision=revision, commit_message="Upload MIGR data")
    HfApi(token=token).upload_file(
        path_or_fileobj=str(output_dir / "README.md"),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
        revision=revision,
        commit_message="Add MIGR dataset card",
    )
    logger.info("pushed %s to https://huggingface.co/datasets/%s", output_dir, repo_id)


def _mi_settings(mi_estimator: MIEstimator | None, mi_file: str | os.PathLike | None, rule: MIRule) -> dict[str, Any]:
    source = f"file:{Path(mi_file).name}" if mi_file is not None else f"estimator:{type(mi_estimator).__name__}"
    return {"mi_source": source, "mi_rule": rule.to_dict()}


def _finish(
    kind: str,
    rows: list[dict[str, Any]],
    kept: Sequence[SampleRecord],
    mi: Mapping[str, ModalityImportance],
    summary: BuildSummary,
    failures: FailureLog,
    kind_settings: Mapping[str, Any],
    *,
    fold: int,
    check_media: bool,
    require_audio: bool,
    embed_media: bool,
    media_root: str | os.PathLike | None,
    mi_settings: Mapping[str, Any],
    cache_dir: str | os.PathLike | None,
) -> BuildResult:
    """Count what was kept, then save the rows with the build settings (the shared ones around ``kind_settings``)."""
    settings = {
        "kind": kind,
        "fold": fold,
        "sources": sorted(summary.read),
        **kind_settings,
        "check_media": check_media,
        "require_audio": require_audio,
        "embed_media": embed_media,
        "media_paths": "relative" if media_root is not None else "absolute",
        **mi_settings,
    }
    summary.kept = _counts(r.source for r in kept)
    summary.rows = len(rows)
    summary.rows_per_source = _counts(row[schema.SOURCE] for row in rows)
    summary.labels = _counts(f"{row[schema.SOURCE]}/{row[schema.LABEL]}" for row in rows)
    summary.modality_importance = _counts(mi[r.id].value for r in kept)
    if kind == "sft":
        summary.orders = _counts(row[schema.ORDER] for row in rows)
    summary.failures = failures.counts()
    if not rows:
        raise TooManyFailuresError(
            f"the {kind} build kept no sample (left out: {summary.failures or 'none'}); see {failures.path}"
        )
    dataset = save_dataset(
        {"train": rows},
        kind=kind,
        output_dir=summary.output_dir,
        summary=summary,
        settings=settings,
        media_root=media_root,
        embed_media=embed_media,
        cache_dir=cache_dir,
    )
    logger.info("%s", summary.format())
    return BuildResult(dataset, summary)


def _check_sources(**sources: Any) -> None:
    if not any(value is not None for value in sources.values()):
        raise ValueError(f"no input given; pass at least one of {', '.join(sources)}")


def build_sft_dataset(
    output_dir: str | os.PathLike,
    *,
    emer_v1: str | os.PathLike | None = None,
    emer_v2: str | os.PathLike | None = None,
    emer_labels: str | os.PathLike | Mapping[str, str] | None = None,
    emer_video_dir: str | os.PathLike | None = None,
    dfew_root: str | os.PathLike | None = None,
    mafw_root: str | os.PathLike | None = None,
    openface_dir: str | os.PathLike | None = None,
    fold: int = 5,
    mi_estimator: MIEstimator | None = None,
    mi_file: str | os.PathLike | None = None,
    mi_rule: MIRule | Mapping[str, str] | str | os.PathLike | None = None,
    writer: ReasoningWriter | None = None,
    splitter: ReasoningSplitter | None = None,
    fau_config: FAUConfig | str | os.PathLike | None = None,
    mafw_captions: bool = True,
    undetermined: UndeterminedPolicy = "both",
    check_media: bool = True,
    require_audio: bool = True,
    embed_media: bool = False,
    media_root: str | os.PathLike | None = None,
    batch_size: int = 8,
    show_progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    failure_policy: FailurePolicy | None = None,
) -> BuildResult:
    """Build the modality-aligned SFT dataset: EMER plus FAU-filtered DFEW/MAFW training samples of ``fold``,
    split into audio/visual/conclusion parts and ordered by MI (one row per order; a tie gives two rows).

    Args:
        output_dir: Dataset folder (see the module docstring); reusing it resumes an interrupted build.
        emer_v1, emer_v2: EMER CSVs (V2 first on duplicate names). ``emer_labels``: MER2023 labels for V2.
        emer_video_dir: Folder of the MER2023 clips named ``<name>.<ext>``.
        dfew_root, mafw_root: Official release roots; their training samples are FAU-filtered.
        openface_dir: ``<openface_dir>/<dfew|mafw>/<clip stem>.csv`` (required with DFEW/MAFW).
        mi_estimator, mi_file: Exactly one: an `MIEstimator` run here (resumable) or a precomputed MI JSONL.
        mi_rule: MI rule override (`MIRule`, mapping or YAML/JSON path); default rule otherwise.
        writer: Reasoning writer for FAU-kept samples (default: `TemplateReasoningWriter`).
        splitter: Reasoning splitter (default: the rule-based one).
        fau_config: FAU table/thresholds (`FAUConfig` or override file); default otherwise.
        mafw_captions: Give MAFW's English captions (``Labels/descriptive_text.xlsx``, when present) to the writer.
        undetermined: What to do with undetermined-MI samples: "both" orders, one order, or "drop".
        check_media: Probe every clip and leave out missing or corrupt ones.
        require_audio: With ``check_media``, also leave out clips without an audio stream.
        embed_media: Store the clip bytes in a ``video_bytes`` column.
        media_root: Store ``video`` paths relative to this folder (absolute paths otherwise).
        batch_size: Samples per MI estimation batch.
        cache_dir: `datasets` cache for the reload.
        failure_policy: When a stage that fails for most samples stops the build (default `FailurePolicy()`).
    """
    _check_sources(emer_v1=emer_v1, emer_v2=emer_v2, dfew_root=dfew_root, mafw_root=mafw_root)
    if (dfew_root is not None or mafw_root is not None) and openface_dir is None:
        raise ValueError("DFEW/MAFW samples are FAU-filtered: pass openface_dir")
    if (mi_estimator is None) == (mi_file is None):
        raise ValueError("pass exactly one of mi_estimator and mi_file")
    output_dir = Path(output_dir)
    build_dir = output_dir / BUILD_DIR
    failures = FailureLog(build_dir / "failures.jsonl", failure_policy)
    rule = load_mi_rule(mi_rule)
    config = load_fau_config(fau_config)
    writer = writer or TemplateReasoningWriter()
    splitter = splitter or RuleBasedSplitter()

    records: list[SampleRecord] = []
    if emer_v2 is not None:
        records += read_emer_v2(emer_v2, labels=emer_labels, video_dir=emer_video_dir, on_failure=failures.add)
    if emer_v1 is not None:
        records += read_emer_v1(emer_v1, video_dir=emer_video_dir, on_failure=failures.add)
    candidates: list[SampleRecord] = []
    contexts: dict[str, str] = {}
    if dfew_root is not None:
        candidates += read_dfew(dfew_root, fold=fold, split="train", on_failure=failures.add)
    if mafw_root is not None:
        mafw = read_mafw(mafw_root, fold=fold, split="train", on_failure=failures.add)
        captions_path = Path(mafw_root) / MAFW_CAPTIONS
        if mafw_captions and captions_path.is_file():
            captions = read_mafw_captions(captions_path)
            contexts = {r.id: captions[Path(r.video).name] for r in mafw if Path(r.video).name in captions}
        candidates += mafw
    summary = BuildSummary(
        kind="sft", output_dir=str(output_dir), read=_counts(r.source for r in records + candidates)
    )

    if candidates:
        kept, summary.fau = fau_filter(
            candidates,
            openface_dir=openface_dir,
            config=config,
            writer=writer,
            store=JsonlStore(build_dir / "fau.jsonl"),
            failures=failures,
            contexts=contexts,
            show_progress=show_progress,
        )
        records += kept
    records = _dedupe(records, failures)
    if check_media:
        records = check_clips(records, failures, require_audio=require_audio, show_progress=show_progress)

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
            failures.add(
                Failure(
                    record.id,
                    record.source,
                    record.video or "",
                    FailureReason.NO_MODALITY_REASONING,
                    "no audio or visual sentence",
                )
            )
            continue
        parts[record.id] = split
    failures.check("Reasoning split", tried=len(records), start=first_failure)
    records = [record for record in records if record.id in parts]

    mi = resolve_modality_importance(
        records,
        mi_estimator=mi_estimator,
        mi_file=mi_file,
        rule=rule,
        store_path=build_dir / "mi.jsonl",
        failures=failures,
        batch_size=batch_size,
        show_progress=show_progress,
    )
    rows: list[dict[str, Any]] = []
    kept_records: list[SampleRecord] = []
    for record in records:
        if record.id not in mi:
            continue
        record_rows = build_sft_rows(record, parts[record.id], mi[record.id], undetermined=undetermined)
        if record_rows:
            kept_records.append(record)
            rows += record_rows
    sft_settings = {
        "fau": config.to_dict(),
        "writer": writer.name,
        "splitter": getattr(splitter, "name", type(splitter).__name__),
        "undetermined": undetermined,
    }
    return _finish(
        "sft",
        rows,
        kept_records,
        mi,
        summary,
        failures,
        sft_settings,
        fold=fold,
        check_media=check_media,
        require_audio=require_audio,
        embed_media=embed_media,
        media_root=media_root,
        mi_settings=_mi_settings(mi_estimator, mi_file, rule),
        cache_dir=cache_dir,
    )


def build_grpo_dataset(
    output_dir: str | os.PathLike,
    *,
    dfew_root: str | os.PathLike | None = None,
    mafw_root: str | os.PathLike | None = None,
    fold: int = 5,
    mi_estimator: MIEstimator | None = None,
    mi_file: str | os.PathLike | None = None,
    mi_rule: MIRule | Mapping[str, str] | str | os.PathLike | None = None,
    drop_undetermined: bool = False,
    check_media: bool = True,
    require_audio: bool = True,
    embed_media: bool = False,
    media_root: str | os.PathLike | None = None,
    batch_size: int = 8,
    show_progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    failure_policy: FailurePolicy | None = None,
) -> BuildResult:
    """Build the GRPO dataset: DFEW/MAFW training samples of ``fold`` with their MI label.

    Arguments as in `build_sft_dataset`; ``drop_undetermined`` leaves out samples whose MI is undetermined.
    """
    _check_sources(dfew_root=dfew_root, mafw_root=mafw_root)
    if (mi_estimator is None) == (mi_file is None):
        raise ValueError("pass exactly one of mi_estimator and mi_file")
    output_dir = Path(output_dir)
    build_dir = output_dir / BUILD_DIR
    failures = FailureLog(build_dir / "failures.jsonl", failure_policy)
    rule = load_mi_rule(mi_rule)
    records: list[SampleRecord] = []
    if dfew_root is not None:
        records += read_dfew(dfew_root, fold=fold, split="train", on_failure=failures.add)
    if mafw_root is not None:
        records += read_mafw(mafw_root, fold=fold, split="train", on_failure=failures.add)
    summary = BuildSummary(kind="grpo", output_dir=str(output_dir), read=_counts(r.source for r in records))
    records = _dedupe(records, failures)
    if check_media:
        records = check_clips(records, failures, require_audio=require_audio, show_progress=show_progress)
    mi = resolve_modality_importance(
        records,
        mi_estimator=mi_estimator,
        mi_file=mi_file,
        rule=rule,
        store_path=build_dir / "mi.jsonl",
        failures=failures,
        batch_size=batch_size,
        show_progress=show_progress,
    )
    kept = [
        record
        for record in records
        if record.id in mi and not (drop_undetermined and mi[record.id] is ModalityImportance.UNDETERMINED)
    ]
    rows = []
    for record in kept:
        row = {name: value for name, value in record.to_dict().items() if name in GRPO_COLUMNS}
        row[schema.MODALITY_IMPORTANCE] = mi[record.id].value
        row[schema.PROMPT] = schema.MIGR_INSTRUCTION
        rows.append(row)
    return _finish(
        "grpo",
        rows,
        kept,
        mi,
        summary,
        failures,
        {"drop_undetermined": drop_undetermined},
        fold=fold,
        check_media=check_media,
        require_audio=require_audio,
        embed_media=embed_media,
        media_root=media_root,
        mi_settings=_mi_settings(mi_estimator, mi_file, rule),
        cache_dir=cache_dir,
    )


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by the SFT and GRPO build CLIs (output, fold, MI source, media, Hub push)."""
    parser.add_argument("--output-dir", required=True, help="dataset folder; reuse it to resume a build")
    parser.add_argument("--fold", type=int, default=5, choices=range(1, 6), help="DFEW/MAFW fold")
    mi = parser.add_mutually_exclusive_group(required=True)
    mi.add_argument("--mi-file", help="precomputed MI results (JSONL written by the MI estimation driver)")
    mi.add_argument("--model", help="model folder for MI estimation (migr_hf.models.migr_omni.mi_estimation)")
    parser.add_argument(
        "--mi-method", choices=MI_METHODS, default="generate", help="MI estimation method with --model"
    )
    parser.add_argument("--mi-rule", help="YAML/JSON override of the MI rule, keys like '101'")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per MI estimation batch")
    parser.add_argument("--no-check-media", action="store_true", help="do not probe the clips")
    parser.add_argument("--allow-silent", action="store_true", help="keep clips without an audio stream")
    parser.add_argument("--embed-media", action="store_true", help="store clip bytes in a video_bytes column")
    parser.add_argument("--media-root", help="store video paths relative to this folder")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="push the built dataset and its card to the Hub")
    parser.add_argument("--private", action="store_true", help="create the Hub repository as private")
    parser.add_argument(
        "--max-failed-fraction",
        type=float,
        default=FailurePolicy.max_failed_fraction,
        help="stop a stage once it has tried at least 5 samples and more than this fraction failed "
        "(1.0 never stops)",
    )


def build_kwargs_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of the build functions from `add_build_arguments`' arguments (loads the estimator)."""
    return {
        "output_dir": args.output_dir,
        "fold": args.fold,
        "mi_file": args.mi_file,
        "mi_estimator": load_estimator(args.model, args.mi_method) if args.model else None,
        "mi_rule": args.mi_rule,
        "batch_size": args.batch_size,
        "check_media": not args.no_check_media,
        "require_audio": not args.allow_silent,
        "embed_media": args.embed_media,
        "media_root": args.media_root,
        "failure_policy": FailurePolicy(max_failed_fraction=args.max_failed_fraction),
    }


def finish_cli(result: BuildResult, args: argparse.Namespace) -> None:
    """Print the summary and push when ``--push-to-hub`` was given."""
    print(result.summary.format())
    if args.push_to_hub:
        push_dataset_to_hub(result.summary.output_dir, args.push_to_hub, private=args.private or None)


def add_sft_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """All arguments of the SFT build CLI (``dataset_scripts/build_sft_dataset.py``, ``migr-hf build-data sft``)."""
    parser.add_argument("--emer-v1", help="EMER-V1 CSV (names,emotions,subtitles,reasons)")
    parser.add_argument("--emer-v2", help="EMER-V2 CSV (name,chinese,english)")
    parser.add_argument("--emer-labels", help="MER2023 label CSV (name + discrete/emotion) for EMER-V2")
    parser.add_argument("--emer-video-dir", help="folder of the MER2023 clips <name>.<ext>")
    parser.add_argument("--dfew-root", help="DFEW release root")
    parser.add_argument("--mafw-root", help="MAFW release root")
    parser.add_argument("--openface-dir", help="OpenFace CSVs as <dir>/<dfew|mafw>/<clip stem>.csv")
    parser.add_argument("--fau-config", help="YAML/JSON override of the FAU table, thresholds or label map")
    parser.add_argument("--no-mafw-captions", action="store_true", help="do not give MAFW captions to the writer")
    parser.add_argument("--writer", choices=("template", "openai"), default="template", help="reasoning writer")
    parser.add_argument("--splitter", choices=("rules", "llm"), default="rules", help="reasoning splitter")
    parser.add_argument("--llm-model", help="model for --writer openai / --splitter llm (default $MIGR_LLM_MODEL)")
    parser.add_argument("--llm-cache-dir", help="on-disk cache of LLM responses")
    parser.add_argument(
        "--undetermined",
        choices=("both", "audio_first", "visual_first", "drop"),
        default="both",
        help="reasoning order(s) for samples whose MI is undetermined",
    )
    add_build_arguments(parser)


def run_sft_cli(args: argparse.Namespace) -> BuildResult:
    """Build the SFT dataset from `add_sft_cli_arguments`' arguments, print the summary and push if asked."""
    cache_path = Path(args.llm_cache_dir) / CACHE_FILE_NAME if args.llm_cache_dir else None
    client = LLMClient(LLMConfig(model=args.llm_model, cache_path=cache_path))
    result = build_sft_dataset(
        emer_v1=args.emer_v1,
        emer_v2=args.emer_v2,
        emer_labels=args.emer_labels,
        emer_video_dir=args.emer_video_dir,
        dfew_root=args.dfew_root,
        mafw_root=args.mafw_root,
        openface_dir=args.openface_dir,
        fau_config=args.fau_config,
        mafw_captions=not args.no_mafw_captions,
        writer=get_writer(args.writer, client),
        splitter=LLMReasoningSplitter(client) if args.splitter == "llm" else RuleBasedSplitter(),
        undetermined=args.undetermined,
        **build_kwargs_from_args(args),
    )
    finish_cli(result, args)
    return result


def add_grpo_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """All arguments of the GRPO build CLI (``dataset_scripts/build_grpo_dataset.py``, ``migr-hf build-data grpo``)."""
    parser.add_argument("--dfew-root", help="DFEW release root")
    parser.add_argument("--mafw-root", help="MAFW release root")
    parser.add_argument("--drop-undetermined", action="store_true", help="leave out samples with undetermined MI")
    add_build_arguments(parser)


def run_grpo_cli(args: argparse.Namespace) -> BuildResult:
    """Build the GRPO dataset from `add_grpo_cli_arguments`' arguments, print the summary and push if asked."""
    result = build_grpo_dataset(
        dfew_root=args.dfew_root,
        mafw_root=args.mafw_root,
        drop_undetermined=args.drop_undetermined,
        **build_kwargs_from_args(args),
    )
    finish_cli(result, args)
    return result

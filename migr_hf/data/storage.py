"""Storage of a built dataset: the column schema, atomic parquet writes and the offline reload.

Layout of a dataset folder (``output_dir``)::

    README.md                          dataset card (`migr_hf.data.dataset_card`)
    data/train-00000-of-00001.parquet  the rows (features stored in the parquet metadata)
    build/                             the build's resumable stores, failures and summary (`migr_hf.data.builder`)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import DatasetDict, Features, Value, load_dataset

from .. import schema
from .jsonl import user_file_mode

BUILD_DIR = "build"
DATA_DIR = "data"
PARQUET_BATCH_ROWS = 256

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

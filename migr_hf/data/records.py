"""The common sample record every reader returns, and the failure record every build stage reports."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .. import schema
from ..labels import get_label_set


class DataFormatError(ValueError):
    """A dataset file does not have the layout its reader expects."""


@dataclass(frozen=True)
class SampleRecord:
    """One clip of a benchmark, independent of the benchmark's file layout.

    Attributes:
        id: Unique over all sources: ``"<source>-<clip name>"`` (e.g. ``"dfew-00001"``, ``"emer-sample_00000123"``).
        source: ``"dfew"``, ``"mafw"`` or ``"emer"``.
        split: ``"train"`` or ``"test"``.
        video: Path of the clip (audio is read from the same file), or ``None`` when unknown.
        label: Label word in the vocabulary of ``label_set`` (see `migr_hf.labels`).
        label_set: Name of the label vocabulary.
        reasoning: Free-form reasoning text, when the source provides one.
    """

    id: str
    source: str
    split: str
    video: str | None
    label: str
    label_set: str
    reasoning: str | None = None

    def __post_init__(self) -> None:
        if self.label not in get_label_set(self.label_set):
            raise ValueError(f"{self.id}: {self.label!r} is not a {self.label_set} label word")

    def to_dict(self) -> dict[str, Any]:
        """Row with the shared column names of `migr_hf.schema`."""
        return {
            schema.ID: self.id,
            schema.SOURCE: self.source,
            schema.SPLIT: self.split,
            schema.VIDEO: self.video,
            schema.LABEL: self.label,
            schema.LABEL_SET: self.label_set,
            schema.REASONING: self.reasoning,
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> SampleRecord:
        """Inverse of `to_dict`; extra columns are ignored."""
        return cls(
            id=row[schema.ID],
            source=row[schema.SOURCE],
            split=row[schema.SPLIT],
            video=row.get(schema.VIDEO),
            label=row[schema.LABEL],
            label_set=row[schema.LABEL_SET],
            reasoning=row.get(schema.REASONING),
        )


class FailureReason(str, Enum):
    """Why a sample was left out of a build. Each value is the ``reason`` written to the failures file."""

    MALFORMED_ROW = "malformed_row"
    UNKNOWN_LABEL = "unknown_label"
    MISSING_LABEL = "missing_label"
    DUPLICATE_ID = "duplicate_id"
    EMPTY_REASONING = "empty_reasoning"
    NO_MODALITY_REASONING = "no_modality_reasoning"
    MISSING_CLIP = "missing_clip"
    CORRUPT_CLIP = "corrupt_clip"
    NO_VIDEO_STREAM = "no_video_stream"
    NO_AUDIO_STREAM = "no_audio_stream"
    MISSING_OPENFACE = "missing_openface"
    MALFORMED_OPENFACE = "malformed_openface"
    NO_FACE = "no_face"
    REASONING_WRITER_ERROR = "reasoning_writer_error"
    REASONING_SPLIT_ERROR = "reasoning_split_error"
    MI_ESTIMATION_ERROR = "mi_estimation_error"
    MISSING_MI = "missing_mi"


def error_detail(err: BaseException) -> str:
    """``"TypeError: message"``: how an exception is written in a failure's ``detail``."""
    return f"{type(err).__name__}: {err}"


@dataclass(frozen=True)
class Failure:
    """A sample (or a row that could not become one) left out of a build, with the file it came from."""

    id: str | None
    source: str
    file: str
    reason: FailureReason
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "file": self.file,
            "reason": self.reason.value,
            "detail": self.detail,
        }


def video_source(row: Mapping[str, Any], media_root: str | os.PathLike | None = None) -> str | bytes:
    """The clip of a dataset row: its embedded bytes when present, else its path (joined to ``media_root`` when the
    stored path is relative)."""
    data = row.get(schema.VIDEO_BYTES)
    if data:
        return data
    path = row[schema.VIDEO]
    if media_root is not None and not os.path.isabs(path):
        return os.path.join(media_root, path)
    return path

"""Reader for OpenFace 2.x ``FeatureExtraction`` CSVs (per-frame facial action units).

OpenFace is an external C++ tool (academic licence, no pip or Debian package); migr-hf only reads its output.
The FAU filter expects one CSV per clip, named after the clip, under ``<openface_dir>/<source>/``::

    FeatureExtraction -f Clip/original/00001.mp4 -out_dir openface/dfew -aus

which writes ``openface/dfew/00001.csv`` (``-aus`` limits the output to the AU columns; the full default output,
with gaze, pose and landmarks, reads the same). Several clips per call: repeat ``-f`` (one CSV per clip). MAFW
clips go to ``openface/mafw`` the same way.

CSV layout: separator ``", "`` (column names carry a leading space, stripped here); per frame ``frame``,
``face_id`` (2.2+), ``timestamp`` (s), ``confidence`` (0..1), ``success`` (0/1), then 17 intensities ``AUxx_r``
(0..5) and 18 presences ``AUxx_c`` (0/1, the same AUs plus AU28). When a CSV holds several faces, the face with
the most successful frames is kept.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .records import DataFormatError

logger = logging.getLogger(__name__)

AU_NAMES = {
    "AU01": "inner brow raiser",
    "AU02": "outer brow raiser",
    "AU04": "brow lowerer",
    "AU05": "upper lid raiser",
    "AU06": "cheek raiser",
    "AU07": "lid tightener",
    "AU09": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU12": "lip corner puller",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU17": "chin raiser",
    "AU20": "lip stretcher",
    "AU23": "lip tightener",
    "AU25": "lips part",
    "AU26": "jaw drop",
    "AU28": "lip suck",
    "AU45": "blink",
}
INTENSITY_AUS = tuple(au for au in AU_NAMES if au != "AU28")
PRESENCE_AUS = tuple(AU_NAMES)

_AU_COLUMN = re.compile(r"^(AU\d{2})_([rc])$")


class NoFaceError(ValueError):
    """An OpenFace CSV has no frame where a face was tracked successfully."""


@dataclass(frozen=True)
class OpenFaceFrames:
    """Per-frame OpenFace output of one clip (``N`` frames).

    Attributes:
        path: The CSV it was read from.
        frame: ``(N,)`` int, 1-based frame numbers.
        timestamp: ``(N,)`` float, seconds.
        confidence: ``(N,)`` float, tracking confidence in 0..1.
        success: ``(N,)`` bool, whether the face was tracked.
        intensity: ``(N, len(intensity_aus))`` float, AU intensities 0..5 (``AUxx_r``).
        intensity_aus: AU codes of the ``intensity`` columns, in file order.
        presence: ``(N, len(presence_aus))`` bool, AU presences (``AUxx_c``).
        presence_aus: AU codes of the ``presence`` columns, in file order.
        malformed_rows: Rows skipped because they had the wrong number of fields or non-numeric values.
    """

    path: str
    frame: np.ndarray
    timestamp: np.ndarray
    confidence: np.ndarray
    success: np.ndarray
    intensity: np.ndarray
    intensity_aus: tuple[str, ...]
    presence: np.ndarray
    presence_aus: tuple[str, ...]
    malformed_rows: int = 0

    def __len__(self) -> int:
        return len(self.frame)

    def successful(self, min_confidence: float = 0.0) -> OpenFaceFrames:
        """Only the frames with ``success == 1`` and ``confidence >= min_confidence``; raises `NoFaceError` when
        none is left."""
        keep = self.success & (self.confidence >= min_confidence)
        if not keep.any():
            raise NoFaceError(f"{self.path}: no successfully tracked face in {len(self)} frame(s)")
        return replace(
            self,
            frame=self.frame[keep],
            timestamp=self.timestamp[keep],
            confidence=self.confidence[keep],
            success=self.success[keep],
            intensity=self.intensity[keep],
            presence=self.presence[keep],
        )


def read_openface_csv(path: str | os.PathLike) -> OpenFaceFrames:
    """Read a ``FeatureExtraction`` CSV.

    Raises:
        FileNotFoundError: The file does not exist.
        DataFormatError: No header, no AU columns, a required column missing, or no parsable row.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, skipinitialspace=True))
    if not rows:
        raise DataFormatError(f"{path}: empty OpenFace CSV")
    header = [name.strip() for name in rows[0]]
    index = {name: i for i, name in enumerate(header)}
    missing = [name for name in ("frame", "timestamp", "confidence", "success") if name not in index]
    if missing:
        raise DataFormatError(f"{path}: not an OpenFace CSV, missing {missing}")
    intensity_cols = [
        (m.group(1), i) for i, name in enumerate(header) if (m := _AU_COLUMN.match(name)) and m.group(2) == "r"
    ]
    presence_cols = [
        (m.group(1), i) for i, name in enumerate(header) if (m := _AU_COLUMN.match(name)) and m.group(2) == "c"
    ]
    if not intensity_cols or not presence_cols:
        raise DataFormatError(f"{path}: no AUxx_r/AUxx_c columns (run FeatureExtraction with -aus)")
    wanted = [index["frame"], index["timestamp"], index["confidence"], index["success"]]
    wanted += [i for _, i in intensity_cols] + [i for _, i in presence_cols]
    face_col = index.get("face_id")
    values: list[list[float]] = []
    faces: list[int] = []
    malformed = 0
    for row in rows[1:]:
        if not row:
            continue
        if len(row) != len(header):
            malformed += 1
            continue
        try:
            values.append([float(row[i]) for i in wanted])
            faces.append(int(float(row[face_col])) if face_col is not None else 0)
        except ValueError:
            malformed += 1
    if not values:
        raise DataFormatError(f"{path}: no parsable frame ({malformed} malformed row(s))")
    if malformed:
        logger.warning("%s: skipped %d malformed row(s)", path, malformed)
    table = np.asarray(values, dtype=np.float64)
    face_ids = np.asarray(faces)
    success = table[:, 3] > 0.5
    if len(np.unique(face_ids)) > 1:
        best = max(np.unique(face_ids), key=lambda face: int(success[face_ids == face].sum()))
        table, success = table[face_ids == best], success[face_ids == best]
    n_r = len(intensity_cols)
    return OpenFaceFrames(
        path=str(path),
        frame=table[:, 0].astype(np.int64),
        timestamp=table[:, 1],
        confidence=table[:, 2],
        success=success,
        intensity=table[:, 4 : 4 + n_r],
        intensity_aus=tuple(au for au, _ in intensity_cols),
        presence=table[:, 4 + n_r :] > 0.5,
        presence_aus=tuple(au for au, _ in presence_cols),
        malformed_rows=malformed,
    )

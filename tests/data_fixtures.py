"""Builders of tiny benchmark trees in the official layouts (DFEW, MAFW, EMER, OpenFace CSVs) and a fake MI
estimator, for the data-pipeline tests: ``from data_fixtures import make_dfew_tree``."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from media_fixtures import make_clip, sine
from openpyxl import Workbook

from migr_hf.data.modality_importance import MIPrediction, mi_result_row
from migr_hf.data.openface import INTENSITY_AUS, PRESENCE_AUS
from migr_hf.data.records import SampleRecord
from migr_hf.labels import get_label_set


def write_clip(path: str | os.PathLike, *, audio: bool = True) -> Path:
    """A 4-frame 32x32 H.264 clip, with a 0.2 s mono AAC track when ``audio``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    waveform = sine(0.2, rate=16000, channels=1) if audio else None
    make_clip(path, num_frames=4, width=32, height=32, fps=10, audio=waveform, audio_rate=16000)
    return path


def write_corrupt_clip(path: str | os.PathLike) -> Path:
    """A file named like a clip whose bytes are not media."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a video" * 10)
    return path


def make_dfew_tree(
    root: str | os.PathLike,
    train: Mapping[int, int | str],
    test: Mapping[int, int | str] | None = None,
    *,
    folds: Sequence[int] = (5,),
    extra_train_lines: Sequence[str] = (),
    clips: bool = True,
) -> Path:
    """DFEW release layout: ``EmoLabel_DataSplit/{train,test}(single-labeled)/set_<fold>.csv`` (header
    ``video_name,label``; rows ``number -> label id``) and ``Clip/original/<number:05d>.mp4``.

    ``extra_train_lines`` are appended verbatim to the train CSVs (malformed rows)."""
    root = Path(root)
    for split, samples in (("train", train), ("test", test or {})):
        for fold in folds:
            path = root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"set_{fold}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = ["video_name,label", *(f"{n},{label}" for n, label in samples.items())]
            if split == "train":
                lines += extra_train_lines
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if clips:
            for number in samples:
                write_clip(root / "Clip" / "original" / f"{number:05d}.mp4")
    return root


def _write_xlsx(path: Path, rows: Iterable[Sequence[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)


def make_mafw_tree(
    root: str | os.PathLike,
    train: Mapping[str, int | str | None],
    test: Mapping[str, int | str | None] | None = None,
    *,
    folds: Sequence[int] = (5,),
    xlsx_labels: Mapping[str, int] | None = None,
    captions: Mapping[str, str] | None = None,
    extra_train_lines: Sequence[str] = (),
    clips: bool = True,
) -> Path:
    """MAFW release layout: ``Train & Test Set/single/no_caption/set_<fold>/{train,test}.txt`` (``<clip>.mp4 <label>``
    per line, no label when the value is ``None``), ``Labels/single-set.xlsx`` (clip, a middle column,
    ``single_label`` last), optional ``Labels/descriptive_text.xlsx`` and ``data/clips/<clip>.mp4``."""
    root = Path(root)
    for split, samples in (("train", train), ("test", test or {})):
        for fold in folds:
            path = root / "Train & Test Set" / "single" / "no_caption" / f"set_{fold}" / f"{split}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = [f"{clip}.mp4" if label is None else f"{clip}.mp4 {label}" for clip, label in samples.items()]
            if split == "train":
                lines += extra_train_lines
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if clips:
            for clip in samples:
                write_clip(root / "data" / "clips" / f"{clip}.mp4")
    rows = [("clip", "multi_label", "single_label")]
    rows += [(f"{clip}.mp4", str(label), label) for clip, label in (xlsx_labels or {}).items()]
    _write_xlsx(root / "Labels" / "single-set.xlsx", rows)
    if captions:
        _write_xlsx(
            root / "Labels" / "descriptive_text.xlsx",
            [(f"{clip}.mp4", "中文描述", text) for clip, text in captions.items()],
        )
    return root


def emer_text(visual: str, audio: str, subtitle: str, label: str) -> str:
    """EMER-V2-style reasoning: video, audio and text clues, then the inference."""
    return (
        f'In the video, {visual} In the audio, {audio} In the text, the subtitle reads: "{subtitle}" '
        f"Based on the facial expression, the voice and the words, we can infer that the emotional state of "
        f"the character is {label}."
    )


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_emer_v1(path: str | os.PathLike, rows: Iterable[tuple[str, str, str, str]]) -> Path:
    """EMER-V1 CSV: ``names,emotions,subtitles,reasons``."""
    return write_csv(path, ("names", "emotions", "subtitles", "reasons"), rows)


def write_emer_v2(path: str | os.PathLike, rows: Iterable[tuple[str, str]]) -> Path:
    """EMER-V2 CSV: ``name,chinese,english`` from ``(name, english)`` pairs."""
    return write_csv(path, ("name", "chinese", "english"), ((name, "中文推理", text) for name, text in rows))


def write_mer_labels(path: str | os.PathLike, labels: Mapping[str, str]) -> Path:
    """MER2023-style label CSV: ``name,discrete,valence``."""
    return write_csv(path, ("name", "discrete", "valence"), ((n, label, 0.0) for n, label in labels.items()))


def write_openface_csv(
    path: str | os.PathLike,
    aus: Mapping[str, float] | None = None,
    *,
    bumps: Sequence[tuple[int, Mapping[str, float]]] | None = None,
    num_frames: int = 60,
    fps: float = 25.0,
    peak: int = 30,
    width: int = 8,
    present: Iterable[str] | None = None,
    success: bool = True,
    baseline: float = 0.05,
) -> Path:
    """An OpenFace 2.2 ``FeatureExtraction`` CSV (``", "`` separators; frame, face_id, timestamp, confidence,
    success, gaze, pose, 2D landmarks, 17 ``AUxx_r``, 18 ``AUxx_c``).

    Each bump ``(frame index, {AU: peak intensity})`` (default: one bump of ``aus`` at ``peak``) rises linearly
    over ``width`` frames on each side; other AUs stay at ``baseline``. AUs of ``present`` (default: the AUs of
    the bump) have ``_c == 1`` within their bump. ``success=False`` marks every frame as failed."""
    bumps = list(bumps) if bumps is not None else [(peak, aus or {})]
    header = ["frame", "face_id", "timestamp", "confidence", "success"]
    header += [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
    header += [f"pose_{k}" for k in ("Tx", "Ty", "Tz", "Rx", "Ry", "Rz")]
    header += [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
    header += [f"{au}_r" for au in INTENSITY_AUS] + [f"{au}_c" for au in PRESENCE_AUS]
    lines = [", ".join(header)]
    for i in range(num_frames):
        intensity = dict.fromkeys(INTENSITY_AUS, baseline)
        on: set[str] = set()
        for center, bump_aus in bumps:
            weight = max(0.0, 1.0 - abs(i - center) / width)
            for au, value in bump_aus.items():
                if au in intensity:
                    intensity[au] += value * weight
            if weight > 0:
                on |= set(bump_aus if present is None else present)
        row = [str(i + 1), "0", f"{i / fps:.3f}", "0.98" if success else "0.00", "1" if success else "0"]
        row += ["0.10"] * 8 + ["12.0", "-3.5", "420.0", "0.05", "-0.02", "0.01"]
        row += [f"{100 + k:.1f}" for k in range(68)] + [f"{200 + k:.1f}" for k in range(68)]
        row += [f"{intensity[au]:.2f}" for au in INTENSITY_AUS]
        row += ["1" if au in on else "0" for au in PRESENCE_AUS]
        lines.append(", ".join(row))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# AU intensity profiles whose peak matches exactly one emotion of the default FAU table.
HAPPY_AUS = {"AU06": 2.5, "AU12": 3.0, "AU25": 1.0}
SAD_AUS = {"AU01": 2.0, "AU04": 2.2, "AU15": 1.4}
ANGRY_AUS = {"AU04": 2.5, "AU05": 1.5, "AU07": 2.0, "AU23": 1.8}
DISGUST_AUS = {"AU09": 2.5, "AU15": 1.5}
WORRIED_AUS = {"AU20": 2.0, "AU28": 0.0}


class SimulatedCrash(BaseException):
    """Stands for a process crash (not an `Exception`, so no handler in the pipeline catches it)."""


class FakeEstimator:
    """Deterministic `MIEstimator`: per sample, which of (audio-only, visual-only, audio-visual) is correct.

    Args:
        outcomes: Sample id -> correctness triple; other ids get ``default``.
        fail_ids: Ids for which `predict` raises `ValueError` (the whole batch fails, then the sample alone).
        crash_after: Raise `SimulatedCrash` once this many samples have been predicted.
    """

    def __init__(
        self,
        outcomes: Mapping[str, tuple[bool, bool, bool]] | None = None,
        default: tuple[bool, bool, bool] = (True, False, True),
        fail_ids: Iterable[str] = (),
        crash_after: int | None = None,
    ) -> None:
        self.outcomes = dict(outcomes or {})
        self.default = default
        self.fail_ids = set(fail_ids)
        self.crash_after = crash_after
        self.predicted: list[str] = []

    def predict(self, records: Sequence[SampleRecord]) -> list[MIPrediction]:
        if any(record.id in self.fail_ids for record in records):
            raise ValueError("decode error")
        if self.crash_after is not None and len(self.predicted) + len(records) > self.crash_after:
            raise SimulatedCrash
        self.predicted += [record.id for record in records]
        return [self._prediction(record) for record in records]

    def _prediction(self, record: SampleRecord) -> MIPrediction:
        wrong = next(label for label in get_label_set(record.label_set).labels if label != record.label)
        words = [record.label if ok else wrong for ok in self.outcomes.get(record.id, self.default)]
        return MIPrediction(*words)


def write_mi_file(path: str | os.PathLike, records: Iterable[SampleRecord], estimator: FakeEstimator) -> Path:
    """An MI JSONL as the estimation driver writes it, from ``estimator``'s predictions."""
    records = list(records)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [mi_result_row(r, p) for r, p in zip(records, estimator.predict(records), strict=True)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path

"""Readers for DFEW, MAFW and EMER (V1, V2) in their official layouts, all returning `SampleRecord`s.

Layouts (see ``docs/data-formats.md``; paths relative to the dataset root):

* DFEW: ``EmoLabel_DataSplit/{train,test}(single-labeled)/set_{1..5}.csv`` with header ``video_name,label``
  (integer clip number, label id 1..7). Clips ``Clip/original/{video_name:05d}.mp4``.
* MAFW: ``Train & Test Set/single/no_caption/set_{1..5}/{train,test}.txt``, one ``<clip>.mp4 <label>`` per line,
  the label an id 1..11 or a label word (``anger``); a line with no label takes it from ``Labels/single-set.xlsx``
  (column 0 ``clip``, last column ``single_label``). Clips ``data/clips/<clip>.mp4`` (assumed from the release;
  pass ``clip_dir`` when yours differs). English captions: ``Labels/descriptive_text.xlsx`` (clip, Chinese,
  English; no header).
* EMER-V1: CSV ``names,emotions,subtitles,reasons``. EMER-V2: CSV ``name,chinese,english`` without labels, which
  are joined by name from a MER2023 label CSV (``name`` and one of ``discrete``/``emotion``/``emotions``/``label``)
  or a mapping. Clips ``<video_dir>/<name>.<ext>`` (MER2023, EULA-gated).
* A labelled clip folder (`read_labeled_clips`, what ``migr-hf evaluate --clips`` reads): the clips, and a CSV or
  JSONL naming each clip with its label.

Every reader takes ``on_failure``: a bad row (malformed, unknown label, empty reasoning, duplicate) is passed to it
as a `Failure` and skipped; without it the reader raises `DataFormatError` on the first bad row. A file whose
header or layout is wrong always raises. `read_record_rows` reads sample rows that are already in the
`SampleRecord` columns (JSONL or parquet, e.g. a built dataset).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..labels import DFEW, EMER, MAFW, LabelSet, get_label_set
from .records import DataFormatError, Failure, FailureReason, SampleRecord

logger = logging.getLogger(__name__)

FailureCallback = Callable[[Failure], None]

FOLDS = (1, 2, 3, 4, 5)
SPLITS = ("train", "test")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".flv")

DFEW_CLIP_DIR = "Clip/original"
MAFW_CLIP_DIR = "data/clips"
MAFW_SINGLE_LABELS = "Labels/single-set.xlsx"
MAFW_CAPTIONS = "Labels/descriptive_text.xlsx"
MER_LABEL_COLUMNS = ("discrete", "emotion", "emotions", "label")


def make_id(source: str, name: str) -> str:
    """Dataset-wide sample id: ``"<source>-<clip name without extension>"``."""
    return f"{source}-{name}"


def _report(on_failure: FailureCallback | None, failure: Failure) -> None:
    if on_failure is None:
        raise DataFormatError(f"{failure.file}: {failure.reason.value} ({failure.id}): {failure.detail}")
    on_failure(failure)


def _check(fold: int, split: str) -> None:
    if fold not in FOLDS:
        raise ValueError(f"fold must be one of {FOLDS}, got {fold}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _parse_label(value: str, label_set: LabelSet) -> str | None:
    """Label word from an official 1-based id or a (synonym of a) label word; ``None`` when neither."""
    value = value.strip()
    if value.isdigit():
        index = int(value)
        return label_set.labels[index - 1] if 1 <= index <= len(label_set) else None
    return label_set.normalize(value)


def _read_csv(path: Path, required: Iterable[str]) -> Iterable[tuple[int, dict[str, str]]]:
    """Rows of a CSV with a header as ``(line number, row)``; raises `DataFormatError` when columns are missing."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in required if name not in fields]
        if missing:
            raise DataFormatError(f"{path}: missing column(s) {missing}; found {fields}")
        reader.fieldnames = fields
        for row in reader:
            yield reader.line_num, {key: (value or "") for key, value in row.items() if key is not None}


def read_dfew(
    root: str | os.PathLike,
    *,
    fold: int = 5,
    split: str = "train",
    clip_dir: str = DFEW_CLIP_DIR,
    video_ext: str = ".mp4",
    on_failure: FailureCallback | None = None,
) -> list[SampleRecord]:
    """Read one DFEW fold/split (single-labeled) from the official release rooted at ``root``."""
    _check(fold, split)
    root = Path(root)
    path = root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"set_{fold}.csv"
    records: list[SampleRecord] = []
    seen: set[str] = set()
    for line, row in _read_csv(path, ("video_name", "label")):
        name, label_value = row["video_name"].strip(), row["label"]
        where = f"{path}:{line}"
        if not name.isdigit():
            _report(on_failure, Failure(None, "dfew", where, FailureReason.MALFORMED_ROW, f"video_name={name!r}"))
            continue
        clip = f"{int(name):05d}"
        sample_id = make_id("dfew", clip)
        label = _parse_label(label_value, DFEW)
        if label is None:
            _report(
                on_failure, Failure(sample_id, "dfew", where, FailureReason.UNKNOWN_LABEL, f"label={label_value!r}")
            )
            continue
        if sample_id in seen:
            _report(on_failure, Failure(sample_id, "dfew", where, FailureReason.DUPLICATE_ID, "repeated video_name"))
            continue
        seen.add(sample_id)
        video = root / clip_dir / f"{clip}{video_ext}"
        records.append(SampleRecord(sample_id, "dfew", split, str(video), label, DFEW.name))
    logger.info("DFEW fold %d %s: %d samples from %s", fold, split, len(records), path)
    return records


def _xlsx_rows(path: Path) -> list[tuple]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        return [tuple(row) for row in workbook.worksheets[0].iter_rows(values_only=True) if any(row)]
    finally:
        workbook.close()


def read_mafw_single_labels(path: str | os.PathLike) -> dict[str, str]:
    """``Labels/single-set.xlsx`` as clip name (``"00025.mp4"``) -> MAFW label word; bad labels are skipped."""
    labels: dict[str, str] = {}
    for row in _xlsx_rows(Path(path)):
        clip, value = str(row[0]).strip(), str(row[-1]).strip()
        label = _parse_label(value.split(".")[0] if value.replace(".", "", 1).isdigit() else value, MAFW)
        if label is not None:
            labels[clip] = label
    return labels


def read_mafw_captions(path: str | os.PathLike) -> dict[str, str]:
    """``descriptive_text.xlsx`` as clip name -> English caption (third column)."""
    return {str(row[0]).strip(): str(row[2]).strip() for row in _xlsx_rows(Path(path)) if len(row) > 2 and row[2]}


def read_mafw(
    root: str | os.PathLike,
    *,
    fold: int = 5,
    split: str = "train",
    clip_dir: str = MAFW_CLIP_DIR,
    on_failure: FailureCallback | None = None,
) -> list[SampleRecord]:
    """Read one MAFW fold/split of the single-label, no-caption protocol from the release rooted at ``root``."""
    _check(fold, split)
    root = Path(root)
    path = root / "Train & Test Set" / "single" / "no_caption" / f"set_{fold}" / f"{split}.txt"
    xlsx_labels: dict[str, str] | None = None
    records: list[SampleRecord] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8-sig") as handle:
        lines = handle.read().splitlines()
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        clip = fields[0]
        stem, ext = os.path.splitext(clip)
        if len(fields) > 2 or ext.lower() not in VIDEO_EXTENSIONS:
            _report(on_failure, Failure(None, "mafw", where, FailureReason.MALFORMED_ROW, f"line={line!r}"))
            continue
        sample_id = make_id("mafw", stem)
        if len(fields) == 2:
            label = _parse_label(fields[1], MAFW)
            label_value = fields[1]
        else:
            if xlsx_labels is None:
                xlsx_labels = read_mafw_single_labels(root / MAFW_SINGLE_LABELS)
            label = xlsx_labels.get(clip)
            label_value = f"{clip} in {MAFW_SINGLE_LABELS}"
        if label is None:
            _report(
                on_failure, Failure(sample_id, "mafw", where, FailureReason.UNKNOWN_LABEL, f"label={label_value!r}")
            )
            continue
        if sample_id in seen:
            _report(on_failure, Failure(sample_id, "mafw", where, FailureReason.DUPLICATE_ID, "repeated clip"))
            continue
        seen.add(sample_id)
        records.append(SampleRecord(sample_id, "mafw", split, str(root / clip_dir / clip), label, MAFW.name))
    logger.info("MAFW fold %d %s: %d samples from %s", fold, split, len(records), path)
    return records


def find_video(video_dir: str | os.PathLike | None, name: str) -> str | None:
    """Path of ``<video_dir>/<name>.<ext>`` for the first existing extension of `VIDEO_EXTENSIONS` (``.mp4`` when
    none exists, so that the missing clip is reported downstream); ``None`` without a ``video_dir``."""
    if video_dir is None:
        return None
    for ext in VIDEO_EXTENSIONS:
        candidate = Path(video_dir) / f"{name}{ext}"
        if candidate.is_file():
            return str(candidate)
    return str(Path(video_dir) / f"{name}.mp4")


def _emer_record(
    name: str,
    label_value: str | None,
    reasoning: str,
    *,
    video_dir: str | os.PathLike | None,
    where: str,
    seen: set[str],
    on_failure: FailureCallback | None,
) -> SampleRecord | None:
    sample_id = make_id("emer", name)
    if label_value is None:
        _report(on_failure, Failure(sample_id, "emer", where, FailureReason.MISSING_LABEL, "no label for this name"))
        return None
    label = EMER.normalize(label_value)
    if label is None:
        _report(on_failure, Failure(sample_id, "emer", where, FailureReason.UNKNOWN_LABEL, f"label={label_value!r}"))
        return None
    if not reasoning.strip():
        _report(on_failure, Failure(sample_id, "emer", where, FailureReason.EMPTY_REASONING, ""))
        return None
    if sample_id in seen:
        _report(on_failure, Failure(sample_id, "emer", where, FailureReason.DUPLICATE_ID, "repeated name"))
        return None
    seen.add(sample_id)
    return SampleRecord(sample_id, "emer", "train", find_video(video_dir, name), label, EMER.name, reasoning.strip())


def _read_emer(
    path: Path,
    version: str,
    columns: tuple[str, ...],
    label_of: Callable[[str, dict[str, str]], str | None],
    *,
    video_dir: str | os.PathLike | None,
    on_failure: FailureCallback | None,
) -> list[SampleRecord]:
    """Records of an EMER CSV whose required ``columns`` start with the name and end with the reasoning;
    ``label_of(name, row)`` gives a row's label text (``None`` when it has none)."""
    records: list[SampleRecord] = []
    seen: set[str] = set()
    for line, row in _read_csv(path, columns):
        name = row[columns[0]].strip()
        if not name:
            _report(on_failure, Failure(None, "emer", f"{path}:{line}", FailureReason.MALFORMED_ROW, "empty name"))
            continue
        record = _emer_record(
            name,
            label_of(name, row),
            row[columns[-1]],
            video_dir=video_dir,
            where=f"{path}:{line}",
            seen=seen,
            on_failure=on_failure,
        )
        if record is not None:
            records.append(record)
    logger.info("%s: %d samples from %s", version, len(records), path)
    return records


def read_emer_v1(
    path: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    on_failure: FailureCallback | None = None,
) -> list[SampleRecord]:
    """Read an EMER-V1 CSV (``names,emotions,subtitles,reasons``); reasoning is ``reasons``."""
    return _read_emer(
        Path(path),
        "EMER-V1",
        ("names", "emotions", "reasons"),
        lambda name, row: row["emotions"],
        video_dir=video_dir,
        on_failure=on_failure,
    )


def read_mer2023_labels(path: str | os.PathLike, label_column: str | None = None) -> dict[str, str]:
    """A MER2023-style label CSV as name -> label text (column ``name`` and ``label_column``, by default the first
    of `MER_LABEL_COLUMNS` present)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        fields = [name.strip() for name in next(csv.reader(handle), [])]
    column = label_column or next((name for name in MER_LABEL_COLUMNS if name in fields), None)
    if column is None:
        raise DataFormatError(f"{path}: no label column; expected one of {MER_LABEL_COLUMNS}, found {fields}")
    return {row["name"].strip(): row[column].strip() for _, row in _read_csv(path, ("name", column))}


def read_emer_v2(
    path: str | os.PathLike,
    *,
    labels: Mapping[str, str] | str | os.PathLike | None = None,
    video_dir: str | os.PathLike | None = None,
    on_failure: FailureCallback | None = None,
) -> list[SampleRecord]:
    """Read an EMER-V2 CSV (``name,chinese,english``); reasoning is ``english``.

    Args:
        labels: name -> label mapping or the path of a MER2023 label CSV (see `read_mer2023_labels`). Not needed when
            the CSV carries its own ``emotion``/``emotions`` column.
    """
    path = Path(path)
    if labels is not None and not isinstance(labels, Mapping):
        labels = read_mer2023_labels(labels)
    return _read_emer(
        path,
        "EMER-V2",
        ("name", "english"),
        lambda name, row: row.get("emotion") or row.get("emotions") or (labels or {}).get(name),
        video_dir=video_dir,
        on_failure=on_failure,
    )


LABELED_CLIP_COLUMNS = ("clip", "video_name", "name")


def _labeled_clip_rows(path: Path) -> Iterable[tuple[str, str, str]]:
    """``(where, clip name, label text)`` of a labels file: CSV with a header, or JSONL."""
    if path.suffix == ".jsonl":
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                row = _json_row(path, number, line)
                clip = next((row[key] for key in LABELED_CLIP_COLUMNS if key in row), None)
                yield f"{path}:{number}", str(clip if clip is not None else ""), str(row.get("label", ""))
        return
    with open(path, newline="", encoding="utf-8-sig") as handle:
        fields = [name.strip() for name in next(csv.reader(handle), [])]
    clip_column = next((name for name in LABELED_CLIP_COLUMNS if name in fields), None)
    if clip_column is None:
        raise DataFormatError(f"{path}: no clip column (one of {list(LABELED_CLIP_COLUMNS)}); found {fields}")
    for line, row in _read_csv(path, (clip_column, "label")):
        yield f"{path}:{line}", row[clip_column], row["label"]


def read_labeled_clips(
    clip_dir: str | os.PathLike,
    labels: str | os.PathLike,
    label_set: str | LabelSet,
    *,
    split: str = "test",
    on_failure: FailureCallback | None = None,
) -> list[SampleRecord]:
    """The labelled clips of a folder, in the order of the labels file.

    ``labels`` is a CSV with a header (a clip column, one of `LABELED_CLIP_COLUMNS`, and ``label``) or a JSONL of
    ``{"clip", "label"}``. A clip is named by its file name, its stem, or a number matching a numeric stem
    (a DFEW split CSV, ``video_name,label``, names ``00001.mp4`` as ``1``). A label is a word of ``label_set``
    (synonyms allowed) or its 1-based id. Ids are ``"<label set>-<clip stem>"``, as `read_dfew` gives; clips of
    the folder without a label are left out.
    """
    clip_dir, labels = Path(clip_dir), Path(labels)
    label_set = get_label_set(label_set)
    if not clip_dir.is_dir():
        raise FileNotFoundError(f"clip folder not found: {clip_dir}")
    if not labels.is_file():
        raise FileNotFoundError(f"labels file not found: {labels}")
    clips = sorted(path for path in clip_dir.iterdir() if path.suffix.lower() in VIDEO_EXTENSIONS)
    by_name = {path.name: path for path in clips} | {path.stem: path for path in clips}
    by_number = {int(path.stem): path for path in clips if path.stem.isdigit()}
    records: list[SampleRecord] = []
    seen: set[str] = set()
    for where, name, label_value in _labeled_clip_rows(labels):
        name = name.strip()
        clip = by_name.get(name) or (by_number.get(int(name)) if name.isdigit() else None)
        sample_id = make_id(label_set.name, clip.stem if clip is not None else Path(name).stem)
        label = _parse_label(label_value, label_set)
        if not name:
            failure = Failure(None, label_set.name, where, FailureReason.MALFORMED_ROW, "empty clip name")
        elif clip is None:
            detail = f"no clip {name!r} in {clip_dir}"
            failure = Failure(sample_id, label_set.name, where, FailureReason.MISSING_CLIP, detail)
        elif label is None:
            failure = Failure(sample_id, label_set.name, where, FailureReason.UNKNOWN_LABEL, f"label={label_value!r}")
        elif sample_id in seen:
            failure = Failure(sample_id, label_set.name, where, FailureReason.DUPLICATE_ID, f"clip {name!r} again")
        else:
            seen.add(sample_id)
            records.append(SampleRecord(sample_id, label_set.name, split, str(clip), label, label_set.name))
            continue
        _report(on_failure, failure)
    logger.info("%d labelled clips of %s from %s (%d clips in the folder)", len(records), clip_dir, labels, len(clips))
    return records


def read_record_rows(path: str | Path) -> list[SampleRecord]:
    """Records from a JSONL file, a parquet file or a folder of parquet files (extra columns are ignored)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"no parquet files under {path}")
        return [record for file in files for record in read_record_rows(file)]
    if not path.is_file():
        raise FileNotFoundError(f"records file not found: {path}")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # here, not at the top: the CLI's parsers import this module

        rows = enumerate(pq.read_table(path).to_pylist(), start=1)
    else:
        lines = enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        rows = ((number, _json_row(path, number, line)) for number, line in lines if line.strip())
    records = []
    for number, row in rows:
        try:
            records.append(SampleRecord.from_dict(row))
        except (KeyError, ValueError) as err:
            raise DataFormatError(f"{path}:{number}: not a sample row ({err!r})") from None
    return records


def _json_row(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}:{number}: malformed JSON ({err})") from None

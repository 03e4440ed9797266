"""Readers of DFEW, MAFW, EMER and OpenFace files in their official layouts, the sample record, and the
crash-safe JSONL store."""

import json
import os

import numpy as np
import pytest
from data_fixtures import (
    HAPPY_AUS,
    emer_text,
    make_dfew_tree,
    make_mafw_tree,
    write_clip,
    write_csv,
    write_emer_v1,
    write_emer_v2,
    write_mer_labels,
    write_openface_csv,
)

from migr_hf import schema
from migr_hf.data.jsonl import FailureLog, JsonlStore, atomic_write_json
from migr_hf.data.openface import INTENSITY_AUS, PRESENCE_AUS, NoFaceError, read_openface_csv
from migr_hf.data.readers import (
    read_dfew,
    read_emer_v1,
    read_labeled_clips,
    read_emer_v2,
    read_mafw,
    read_mafw_captions,
    read_mafw_single_labels,
)
from migr_hf.data.records import DataFormatError, Failure, FailureReason, SampleRecord, video_source


def test_dfew_reads_every_fold_and_split_with_zero_padded_clips(tmp_path):
    root = make_dfew_tree(tmp_path / "DFEW", {1: 1, 23: 4, 456: 7}, {7: 2, 8: 3}, folds=(1, 2, 3, 4, 5), clips=False)
    for fold in range(1, 6):
        train = read_dfew(root, fold=fold, split="train")
        test = read_dfew(root, fold=fold, split="test")
        assert [r.id for r in train] == ["dfew-00001", "dfew-00023", "dfew-00456"]
        assert [r.label for r in train] == ["happy", "angry", "fear"]
        assert [(r.id, r.label, r.split) for r in test] == [
            ("dfew-00007", "sad", "test"),
            ("dfew-00008", "neutral", "test"),
        ]
    record = read_dfew(root, fold=5)[1]
    assert record.video == str(root / "Clip" / "original" / "00023.mp4")
    assert (record.source, record.label_set, record.reasoning) == ("dfew", "dfew", None)


def test_dfew_bad_rows_go_to_failures_or_raise(tmp_path):
    root = make_dfew_tree(
        tmp_path / "DFEW", {1: 1, 2: 5}, extra_train_lines=["abc,1", "3,9", "4,", "1,2"], clips=False
    )
    failures = FailureLog()
    records = read_dfew(root, on_failure=failures.add)
    assert [r.id for r in records] == ["dfew-00001", "dfew-00002"]
    assert [(f.id, f.reason) for f in failures.failures] == [
        (None, FailureReason.MALFORMED_ROW),
        ("dfew-00003", FailureReason.UNKNOWN_LABEL),
        ("dfew-00004", FailureReason.UNKNOWN_LABEL),
        ("dfew-00001", FailureReason.DUPLICATE_ID),
    ]
    assert failures.failures[0].file.endswith("set_5.csv:4")
    with pytest.raises(DataFormatError, match="malformed_row"):
        read_dfew(root)
    with pytest.raises(ValueError, match="fold"):
        read_dfew(root, fold=6)


def test_dfew_wrong_header_raises(tmp_path):
    path = tmp_path / "DFEW" / "EmoLabel_DataSplit" / "train(single-labeled)" / "set_5.csv"
    write_csv(path, ("clip", "emotion"), [(1, 1)])
    with pytest.raises(DataFormatError, match="video_name"):
        read_dfew(tmp_path / "DFEW")


def test_mafw_reads_ids_words_synonyms_and_xlsx_labels(tmp_path):
    root = make_mafw_tree(
        tmp_path / "MAFW",
        {"00025": "anger", "00026": 4, "00027": "anxious", "00028": None},
        {"00030": "helplessness"},
        folds=(1, 5),
        xlsx_labels={"00028": 11},
        extra_train_lines=["00031.mp4 joy", "notes.txt 1", "00032.mp4 1 2", "00025.mp4 anger"],
        clips=False,
    )
    failures = FailureLog()
    train = read_mafw(root, fold=1, on_failure=failures.add)
    assert [(r.id, r.label) for r in train] == [
        ("mafw-00025", "anger"),
        ("mafw-00026", "happiness"),
        ("mafw-00027", "anxiety"),
        ("mafw-00028", "disappointment"),
    ]
    assert train[0].video == str(root / "data" / "clips" / "00025.mp4")
    assert [f.reason for f in failures.failures] == [
        FailureReason.UNKNOWN_LABEL,
        FailureReason.MALFORMED_ROW,
        FailureReason.MALFORMED_ROW,
        FailureReason.DUPLICATE_ID,
    ]
    assert [(r.id, r.label, r.split) for r in read_mafw(root, split="test")] == [
        ("mafw-00030", "helplessness", "test")
    ]
    assert read_mafw_single_labels(root / "Labels" / "single-set.xlsx") == {"00028.mp4": "disappointment"}


def test_mafw_captions(tmp_path):
    root = make_mafw_tree(tmp_path / "MAFW", {"00025": 1}, captions={"00025": "A man shouts."}, clips=False)
    assert read_mafw_captions(root / "Labels" / "descriptive_text.xlsx") == {"00025.mp4": "A man shouts."}


def test_emer_v1_labels_reasoning_and_failures(tmp_path):
    video_dir = tmp_path / "videos"
    write_clip(video_dir / "sample_00000002.avi")
    path = write_emer_v1(
        tmp_path / "emer_v1.csv",
        [
            ("sample_00000001", "Happy", "Great!", emer_text("she smiles.", "she laughs.", "Great!", "happy")),
            ("sample_00000002", "worried", "Hmm.", "  In the video, he frowns.  "),
            ("sample_00000003", "confused", "", "In the video, he squints."),
            ("sample_00000004", "sad", "", "   "),
            ("", "sad", "", "text"),
        ],
    )
    failures = FailureLog()
    records = read_emer_v1(path, video_dir=video_dir, on_failure=failures.add)
    assert [(r.id, r.label, r.split) for r in records] == [
        ("emer-sample_00000001", "happy", "train"),
        ("emer-sample_00000002", "worried", "train"),
    ]
    assert records[1].reasoning == "In the video, he frowns."
    assert records[1].video == str(video_dir / "sample_00000002.avi")
    assert records[0].video == str(video_dir / "sample_00000001.mp4")
    assert [f.reason for f in failures.failures] == [
        FailureReason.UNKNOWN_LABEL,
        FailureReason.EMPTY_REASONING,
        FailureReason.MALFORMED_ROW,
    ]


def test_emer_v2_joins_labels_by_name(tmp_path):
    labels = write_mer_labels(tmp_path / "mer.csv", {"sample_1": "surprise", "sample_2": "anger"})
    path = write_emer_v2(
        tmp_path / "emer_v2.csv", [("sample_1", "In the video, eyes widen."), ("sample_2", "x"), ("sample_3", "y")]
    )
    failures = FailureLog()
    records = read_emer_v2(path, labels=labels, on_failure=failures.add)
    assert [(r.id, r.label, r.video) for r in records] == [
        ("emer-sample_1", "surprise", None),
        ("emer-sample_2", "angry", None),
    ]
    assert [(f.id, f.reason) for f in failures.failures] == [("emer-sample_3", FailureReason.MISSING_LABEL)]
    assert [
        r.label for r in read_emer_v2(path, labels={"sample_1": "worry", "sample_2": "sad", "sample_3": "neutral"})
    ] == [
        "worried",
        "sad",
        "neutral",
    ]


def test_labeled_clip_folder_matches_names_stems_and_numbers(tmp_path):
    folder = tmp_path / "clips"
    for name in ("00001.mp4", "00002.avi", "talk.mkv"):
        write_clip(folder / name)
    (folder / "notes.txt").write_text("not a clip")
    rows = [("00001.mp4", "happy"), ("2", "4"), ("talk", "Sadness"), ("talk.mkv", "sad"), ("00009", "fear"), ("1", "bored")]
    labels = write_csv(tmp_path / "labels.csv", ("name", "label"), rows)
    failures = []
    records = read_labeled_clips(folder, labels, "dfew", on_failure=failures.append)
    assert [(r.id, r.label, os.path.basename(r.video)) for r in records] == [
        ("dfew-00001", "happy", "00001.mp4"), ("dfew-00002", "angry", "00002.avi"), ("dfew-talk", "sad", "talk.mkv"),
    ]  # fmt: skip
    assert all((r.source, r.split, r.label_set) == ("dfew", "test", "dfew") for r in records)
    assert [(f.id, f.reason, f.file) for f in failures] == [
        ("dfew-talk", FailureReason.DUPLICATE_ID, f"{labels}:5"),
        ("dfew-00009", FailureReason.MISSING_CLIP, f"{labels}:6"),
        ("dfew-00001", FailureReason.UNKNOWN_LABEL, f"{labels}:7"),
    ]
    with pytest.raises(DataFormatError, match=r"labels.csv:5: duplicate_id \(dfew-talk\): clip 'talk.mkv' again"):
        read_labeled_clips(folder, labels, "dfew")
    bad_header = write_csv(tmp_path / "bad.csv", ("file", "label"), [("talk", "sad")])
    with pytest.raises(DataFormatError, match=r"no clip column \(one of \['clip', 'video_name', 'name'\]\)"):
        read_labeled_clips(folder, bad_header, "dfew")
    with pytest.raises(FileNotFoundError, match="clip folder not found"):
        read_labeled_clips(tmp_path / "nowhere", labels, "dfew")


def test_sample_record_round_trip_and_validation():
    record = SampleRecord("mafw-00025", "mafw", "train", "clips/00025.mp4", "anger", "mafw", "text")
    row = record.to_dict()
    assert list(row) == [
        schema.ID,
        schema.SOURCE,
        schema.SPLIT,
        schema.VIDEO,
        schema.LABEL,
        schema.LABEL_SET,
        schema.REASONING,
    ]
    assert SampleRecord.from_dict({**row, "extra": 1}) == record
    with pytest.raises(ValueError, match="not a mafw label"):
        SampleRecord("mafw-1", "mafw", "train", None, "angry", "mafw")
    assert video_source(row, "/data") == "/data/clips/00025.mp4"
    assert video_source({**row, schema.VIDEO_BYTES: b"abc"}) == b"abc"


def test_openface_csv_columns_arrays_and_malformed_rows(tmp_path):
    path = write_openface_csv(tmp_path / "00001.csv", HAPPY_AUS, num_frames=40, peak=20)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("41, 0, 1.6\n")
    frames = read_openface_csv(path)
    assert path.read_text().splitlines()[0].startswith("frame, face_id, timestamp, confidence, success")
    assert frames.intensity_aus == INTENSITY_AUS and len(INTENSITY_AUS) == 17
    assert frames.presence_aus == PRESENCE_AUS and "AU28" in PRESENCE_AUS and len(PRESENCE_AUS) == 18
    assert frames.intensity.shape == (40, 17) and frames.presence.shape == (40, 18)
    assert frames.malformed_rows == 1
    assert frames.frame[:3].tolist() == [1, 2, 3]
    np.testing.assert_allclose(frames.timestamp[1], 0.04)
    au12 = frames.intensity_aus.index("AU12")
    assert frames.intensity[20, au12] == pytest.approx(3.05)
    assert frames.presence[20, frames.presence_aus.index("AU06")] and not frames.presence[0].any()


def test_openface_no_face_and_bad_files(tmp_path):
    frames = read_openface_csv(write_openface_csv(tmp_path / "a.csv", HAPPY_AUS, success=False))
    with pytest.raises(NoFaceError):
        frames.successful()
    (tmp_path / "b.csv").write_text("frame, timestamp, confidence, success\n1, 0.0, 0.9, 1\n")
    with pytest.raises(DataFormatError, match="-aus"):
        read_openface_csv(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text("")
    with pytest.raises(DataFormatError):
        read_openface_csv(tmp_path / "c.csv")
    with pytest.raises(FileNotFoundError):
        read_openface_csv(tmp_path / "missing.csv")


def test_openface_multi_face_keeps_the_best_tracked_face(tmp_path):
    lines = ["frame, face_id, timestamp, confidence, success, AU12_r, AU12_c"]
    lines += [f"{i}, 0, {i / 25:.2f}, 0.9, {int(i < 3)}, 1.0, 1" for i in range(1, 6)]
    lines += [f"{i}, 1, {i / 25:.2f}, 0.9, 1, 2.0, 1" for i in range(1, 6)]
    (tmp_path / "multi.csv").write_text("\n".join(lines) + "\n")
    frames = read_openface_csv(tmp_path / "multi.csv")
    assert len(frames) == 5 and frames.intensity[:, 0].tolist() == [2.0] * 5


def test_jsonl_store_resumes_and_repairs_a_torn_last_line(tmp_path, caplog):
    path = tmp_path / "store.jsonl"
    store = JsonlStore(path)
    store.append({"id": "a", "v": 1})
    store.append_many([{"id": "b", "v": 2}, {"id": "c", "v": 3}])
    with open(path, "ab") as handle:
        handle.write(b'{"id": "d", "v"')
    reopened = JsonlStore(path)
    assert reopened.done_ids == {"a", "b", "c"} and len(reopened) == 3
    assert path.read_bytes().endswith(b'"v": 3}\n')
    reopened.append({"id": "a", "v": 10})
    assert JsonlStore(path).get("a") == {"id": "a", "v": 10}
    with open(path, "ab") as handle:
        handle.write(b'{"id": "e", "v": 5}')
    assert JsonlStore(path).get("e") == {"id": "e", "v": 5}
    assert path.read_bytes().endswith(b"}\n")
    # A torn line in the middle (a later append went on after it): quarantined with a warning, the job goes on.
    path.write_text('{"id": "a"}\n{"id": "torn", "v\n{"id": "b"}\n')
    with caplog.at_level("WARNING"):
        store = JsonlStore(path)
    assert store.done_ids == {"a", "b"} and ":2: malformed JSONL record" in caplog.text
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    assert store.quarantine_path.read_text() == '{"id": "torn", "v\n'
    with pytest.raises(KeyError):
        JsonlStore(tmp_path / "other.jsonl").append({"name": "x"})


def test_failure_log_truncates_per_run_and_counts(tmp_path):
    path = tmp_path / "failures.jsonl"
    log = FailureLog(path)
    log.add(Failure("dfew-1", "dfew", "a.csv", FailureReason.NO_FACE, "detail"))
    log.add(Failure("dfew-2", "dfew", "b.csv", FailureReason.NO_FACE))
    log.add(Failure(None, "mafw", "c.txt:3", FailureReason.MALFORMED_ROW))
    assert log.counts() == {"malformed_row": 1, "no_face": 2}
    assert log.ids() == {"dfew-1", "dfew-2"}
    assert json.loads(path.read_text().splitlines()[0]) == {
        "id": "dfew-1",
        "source": "dfew",
        "file": "a.csv",
        "reason": "no_face",
        "detail": "detail",
    }
    assert len(FailureLog(path)) == 0 and not path.exists()  # a run without failures leaves no (empty) file
    atomic_write_json(tmp_path / "x.json", {"b": 1, "a": [1]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": [1], "b": 1}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_outputs_follow_the_user_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        atomic_write_json(tmp_path / "summary.json", {"a": 1})
        assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o640
        os.umask(0o002)
        atomic_write_json(tmp_path / "summary.json", {"a": 2})
        assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o664  # not 0o600
    finally:
        os.umask(previous)

"""Tests for migr_hf.media: the frame sampling rule, seeking against full decoding, rotation, audio, bad media."""

from __future__ import annotations

import io
import pickle
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from media_fixtures import frame_index, make_audio, make_clip, sine

from migr_hf import media
from migr_hf.media import MediaError, MediaInfo, probe_media, read_audio, read_video_frames, sample_frame_indices


def decode_all(path: str | Path) -> tuple[list[np.ndarray], list[int]]:
    """Every frame of the first video stream as coded (no rotation), with its pts: the reference decoder."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return [frame.to_ndarray(format="rgb24") for frame in frames], [frame.pts for frame in frames]


def reference_frames(path: str | Path, num_frames: int) -> np.ndarray:
    """Full decode, then index selection with the sampling rule over the decoded frame count."""
    frames, _ = decode_all(path)
    return np.stack([frames[i] for i in sample_frame_indices(len(frames), num_frames)])


def time_rule_positions(path: str | Path, num_frames: int) -> list[int]:
    """Positions in the full decode of the frames the timestamp rule picks: for each sampled index ``i``, the
    first frame with ``pts >= start + (i - 1/2) / average_rate``."""
    _, pts = decode_all(path)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start, ticks = stream.start_time, 1 / (stream.average_rate * stream.time_base)
    positions = []
    for index in sample_frame_indices(probe_media(path).num_frames, num_frames):
        threshold = start + (index - Fraction(1, 2)) * ticks
        positions.append(next((k for k, p in enumerate(pts) if p >= threshold), len(pts) - 1))
    return positions


def dominant_frequency(waveform: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return float(np.fft.rfftfreq(len(waveform), 1 / rate)[np.argmax(spectrum)])


def truncate(path: str | Path, fraction: float = 0.5) -> Path:
    data = Path(path).read_bytes()
    out = Path(path).with_name("cut_" + Path(path).name)
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


# ----------------------------------------------------------------------------------------------------------
# Frame sampling rule (spec section 5.1)


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (100, [6, 19, 31, 43, 56, 68, 80, 93]),
        (9, [1, 2, 3, 4, 5, 6, 7, 8]),
        (5, [0, 1, 1, 2, 2, 3, 3, 4]),
    ],
)
def test_sample_frame_indices_matches_spec_table(total: int, expected: list[int]) -> None:
    indices = sample_frame_indices(total, 8)
    assert indices.dtype == np.int64
    assert indices.tolist() == expected


@settings(max_examples=300, deadline=None)
@given(total=st.integers(1, 100_000), num=st.integers(1, 128))
def test_sample_frame_indices_properties(total: int, num: int) -> None:
    indices = sample_frame_indices(total, num)
    assert indices.shape == (num,) and indices.dtype == np.int64
    assert np.all(np.diff(indices) >= 0)
    assert indices[0] >= 0 and indices[-1] <= total - 1
    seg = (total - 1) / num
    assert indices.tolist() == [int(np.round(seg * (i + 0.5) + 1e-6)) for i in range(num)]
    if total > num:
        assert len(set(indices.tolist())) == num


@pytest.mark.parametrize(("total", "num"), [(0, 8), (10, 0), (-1, 1)])
def test_sample_frame_indices_rejects_bad_arguments(total: int, num: int) -> None:
    with pytest.raises(ValueError):
        sample_frame_indices(total, num)


# ----------------------------------------------------------------------------------------------------------
# Seeking gives exactly the frames of a full decode


SEEK_CASES = {
    "mp4-x264-gop1": dict(suffix="mp4", num_frames=40, gop=1),
    "mp4-x264-gop5-bframes": dict(suffix="mp4", num_frames=90, gop=5, bframes=2),
    "mp4-x264-gop250-bframes": dict(suffix="mp4", num_frames=120, gop=250, bframes=3),
    "mp4-x264-gop12-30fps": dict(suffix="mp4", num_frames=75, fps=30, gop=12),
    "mp4-x264-gop7-12fps-start-offset": dict(suffix="mp4", num_frames=50, fps=12, gop=7, pts_offset=9),
    "mkv-x264-gop10": dict(suffix="mkv", num_frames=80, gop=10, bframes=2),
    "mkv-x264-gop9-start-offset": dict(suffix="mkv", num_frames=64, gop=9, pts_offset=7),
    "ts-x264-gop15": dict(suffix="ts", num_frames=90, gop=15, bframes=2, container_format="mpegts"),
    "webm-vp8-gop8": dict(suffix="webm", num_frames=48, gop=8, codec="libvpx"),
    "avi-mpeg4-gop6-24fps": dict(suffix="avi", num_frames=70, fps=24, gop=6, codec="mpeg4"),
    "h264-raw-no-timestamps": dict(suffix="h264", num_frames=30, gop=10, container_format="h264"),
}


@pytest.fixture(scope="module")
def seek_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("seek")
    clips = {}
    for name, case in SEEK_CASES.items():
        case = dict(case)
        suffix, offset = case.pop("suffix"), case.pop("pts_offset", 0)
        num = case["num_frames"]
        pts = [i + offset for i in range(num)] if offset else None
        clips[name] = Path(make_clip(root / f"{name}.{suffix}", pts=pts, **case))
    return clips


@pytest.mark.parametrize("name", list(SEEK_CASES))
@pytest.mark.parametrize("num_frames", [1, 8, 13, 100])
def test_seeking_returns_the_frames_of_a_full_decode(seek_clips: dict[str, Path], name: str, num_frames: int) -> None:
    path = seek_clips[name]
    decoded, _ = decode_all(path)
    frames = read_video_frames(path, num_frames)
    assert frames.dtype == np.uint8 and frames.shape == (num_frames, 48, 64, 3)
    np.testing.assert_array_equal(frames, reference_frames(path, num_frames))
    expected = sample_frame_indices(len(decoded), num_frames)
    assert [frame_index(frame) for frame in frames] == expected.tolist()
    assert probe_media(path).num_frames == len(decoded)


@pytest.mark.parametrize("name", ["mkv-x264-gop10", "ts-x264-gop15", "webm-vp8-gop8", "h264-raw-no-timestamps"])
def test_streams_without_frame_count_metadata(seek_clips: dict[str, Path], name: str) -> None:
    with av.open(str(seek_clips[name])) as container:
        assert container.streams.video[0].frames == 0
    assert probe_media(seek_clips[name]).num_frames == SEEK_CASES[name]["num_frames"]


def test_seeking_decodes_only_the_gops_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_clip(tmp_path / "long.mp4", num_frames=240, gop=10, bframes=2)
    decoded = 0
    original = media._SeekingDecoder._decode

    def counting(self: media._SeekingDecoder):
        nonlocal decoded
        for frame in original(self):
            decoded += 1
            yield frame

    monkeypatch.setattr(media._SeekingDecoder, "_decode", counting)
    frames = read_video_frames(path, 4)
    assert [frame_index(frame) for frame in frames] == sample_frame_indices(240, 4).tolist()
    assert decoded <= 4 * 2 * 10


def test_variable_frame_rate_maps_indices_through_the_average_rate(tmp_path: Path) -> None:
    pts_ms = [0, 40, 80, 200, 240, 250, 260, 400, 440, 480, 520, 700]
    path = make_clip(tmp_path / "vfr.mkv", num_frames=len(pts_ms), pts=pts_ms, time_base=Fraction(1, 1000))
    decoded, _ = decode_all(path)
    expected = time_rule_positions(path, 8)
    assert probe_media(path).num_frames == 18  # DURATION 740 ms x 25 fps (round half to even)
    assert expected == [1, 3, 3, 6, 7, 9, 11, 11]
    frames = read_video_frames(path, 8)
    assert [frame_index(frame) for frame in frames] == expected
    np.testing.assert_array_equal(frames, np.stack([decoded[k] for k in expected]))


@pytest.mark.parametrize(
    ("suffix", "encoder"),
    [("mkv", {}), ("mp4", {}), ("mp4", {"bframes": 2, "gop": 4})],
    ids=["mkv", "mp4", "mp4-bframes"],
)
def test_index_rule_picks_the_ith_frame_of_a_variable_frame_rate_clip(
    tmp_path: Path, suffix: str, encoder: dict[str, int]
) -> None:
    # Frame k shows k. 12 frames (packets), so M = 12 and seg = 11/8: indices round(1.375 * (j + 0.5)) are
    # 1, 2, 3, 5, 6, 8, 9, 10, the frames in presentation order whatever their pts (B-frames reorder packets).
    pts_ms = [0, 40, 80, 200, 240, 250, 260, 400, 440, 480, 520, 700]
    path = make_clip(tmp_path / f"vfr.{suffix}", num_frames=12, pts=pts_ms, time_base=Fraction(1, 1000), **encoder)
    frames = read_video_frames(path, 8, frame_selection="index")
    assert [frame_index(frame) for frame in frames] == [1, 2, 3, 5, 6, 8, 9, 10]
    decoded, _ = decode_all(path)
    np.testing.assert_array_equal(frames, np.stack([decoded[k] for k in (1, 2, 3, 5, 6, 8, 9, 10)]))
    if suffix == "mkv":
        # The time rule on the same clip: M = round(740 ms x 25 fps) = 18, seg = 17/8, indices 1, 3, 5, 7, 10,
        # 12, 14, 16 at thresholds (i - 1/2) x 40 ms = 20, 100, 180, 260, 380, 460, 540, 620 ms: the first frames
        # at or after them are those of pts 40, 200, 200, 260, 400, 480, 700, 700 ms.
        assert [frame_index(frame) for frame in read_video_frames(path, 8)] == [1, 3, 3, 6, 7, 9, 11, 11]


def test_both_rules_agree_on_constant_frame_rate_and_reject_unknown_rules(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "cfr.mp4", num_frames=40, gop=7, bframes=2)
    by_time = read_video_frames(path, 8, frame_selection="time")
    np.testing.assert_array_equal(by_time, read_video_frames(path, 8, frame_selection="index"))
    assert [frame_index(frame) for frame in by_time] == sample_frame_indices(40, 8).tolist()
    with pytest.raises(ValueError, match="frame_selection must be one of"):
        read_video_frames(path, 8, frame_selection="decode")


def test_fewer_frames_than_requested_are_duplicated(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "short.mp4", num_frames=5, gop=2)
    frames = read_video_frames(path, 8)
    assert [frame_index(frame) for frame in frames] == [0, 1, 1, 2, 2, 3, 3, 4]


def test_single_frame_clip(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "one.mkv", num_frames=1)
    assert [frame_index(frame) for frame in read_video_frames(path, 3)] == [0, 0, 0]


@pytest.mark.parametrize(("codec", "pix_fmt", "suffix"), [("mpeg4", "yuv420p", "mp4"), ("libx264", "yuv444p", "mkv")])
def test_odd_frame_size_is_decoded_at_true_size(tmp_path: Path, codec: str, pix_fmt: str, suffix: str) -> None:
    path = make_clip(
        tmp_path / f"odd.{suffix}", num_frames=20, width=97, height=61, codec=codec, pix_fmt=pix_fmt, gop=6
    )
    frames = read_video_frames(path, 8)
    assert frames.shape == (8, 61, 97, 3)
    np.testing.assert_array_equal(frames, reference_frames(path, 8))
    info = probe_media(path)
    assert (info.width, info.height, info.num_frames) == (97, 61, 20)


def _set_mkv_duration_tag(path: Path, old: str, new: str) -> Path:
    """Rewrite the Matroska DURATION tag in place (same length, so the file stays valid)."""
    data = path.read_bytes()
    assert data.count(old.encode()) == 1
    out = path.with_name("tag_" + path.name)
    out.write_bytes(data.replace(old.encode(), new.encode()))
    return out


def test_frame_count_estimate_overshoot_is_clamped(tmp_path: Path) -> None:
    clip = Path(make_clip(tmp_path / "est.mkv", num_frames=60, gop=10))
    path = _set_mkv_duration_tag(clip, "00:00:02.400000000", "00:00:02.480000000")
    assert probe_media(path).num_frames == 62
    indices = sample_frame_indices(62, 62)
    assert indices.max() > 59
    frames = read_video_frames(path, 62)
    assert [frame_index(frame) for frame in frames] == np.minimum(indices, 59).tolist()


def test_overshoot_on_b_frames_returns_the_true_last_frame(tmp_path: Path) -> None:
    """Non-reference frames before a target are not decoded; when the stream ends first, the last frame is still
    the stream's last frame, even if it was one of the skipped B-frames."""
    clip = Path(make_clip(tmp_path / "b.mkv", num_frames=60, gop=60, bframes=3))
    path = _set_mkv_duration_tag(clip, "00:00:02.400000000", "00:00:02.480000000")
    indices = sample_frame_indices(62, 8)
    frames = read_video_frames(path, 8)
    assert [frame_index(frame) for frame in frames] == np.minimum(indices, 59).tolist()
    frames = read_video_frames(path, 62)
    assert frame_index(frames[-1]) == 59


def test_frame_count_far_beyond_the_data_is_an_error(tmp_path: Path) -> None:
    clip = Path(make_clip(tmp_path / "est.mkv", num_frames=60, gop=10))
    path = _set_mkv_duration_tag(clip, "00:00:02.400000000", "00:00:09.000000000")
    with pytest.raises(MediaError, match=r"tag_est\.mkv: truncated or corrupt: .* 225 frames .* ends at frame 59"):
        read_video_frames(path, 8)


# ----------------------------------------------------------------------------------------------------------
# Rotation


@pytest.mark.parametrize(("matrix_ccw", "clockwise"), [(-90, 90), (90, 270), (180, 180), (0, 0)])
def test_display_matrix_rotation_is_applied(tmp_path: Path, matrix_ccw: int, clockwise: int) -> None:
    path = make_clip(tmp_path / "rot.mp4", num_frames=12, width=64, height=48, gop=4, rotation=matrix_ccw)
    info = probe_media(path)
    assert info.rotation == clockwise
    assert (info.width, info.height) == ((48, 64) if clockwise in (90, 270) else (64, 48))
    frames = read_video_frames(path, 4)
    coded = reference_frames(path, 4)
    np.testing.assert_array_equal(frames, np.rot90(coded, k=-clockwise // 90, axes=(1, 2)))
    if clockwise == 90:
        np.testing.assert_array_equal(frames[:, 0, :], coded[:, ::-1, 0])


def test_rotate_metadata_tag_is_applied_without_display_matrix(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "tag.mkv", num_frames=10, stream_metadata={"rotate": "90"})
    info = probe_media(path)
    assert (info.rotation, info.width, info.height) == (90, 48, 64)
    frames = read_video_frames(path, 2)
    np.testing.assert_array_equal(frames, np.rot90(reference_frames(path, 2), k=-1, axes=(1, 2)))


# ----------------------------------------------------------------------------------------------------------
# Probing and sources


def test_probe_reports_streams_and_geometry(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "av.mp4", num_frames=50, fps=25, audio=sine(2.0))
    assert probe_media(path) == MediaInfo(
        source=str(path),
        has_video=True,
        has_audio=True,
        num_frames=50,
        fps=25.0,
        duration_s=2.0,
        width=64,
        height=48,
        rotation=0,
    )


def test_bytes_file_objects_and_pathlike_give_the_same_frames(tmp_path: Path) -> None:
    path = Path(make_clip(tmp_path / "src.mkv", num_frames=30, gop=5, audio=sine(1.2), audio_codec="aac"))
    expected = read_video_frames(str(path), 8)
    np.testing.assert_array_equal(read_video_frames(path, 8), expected)
    np.testing.assert_array_equal(read_video_frames(path.read_bytes(), 8), expected)
    with open(path, "rb") as handle:
        handle.seek(3)
        handle.seek(0)
        np.testing.assert_array_equal(read_video_frames(handle, 8), expected)
        assert handle.tell() == 0
        info = probe_media(handle)
        np.testing.assert_array_equal(read_audio(handle), read_audio(path))
    assert info.source == str(path) and info.num_frames == 30
    assert probe_media(path.read_bytes()).source == f"<bytes, {path.stat().st_size} B>"


def test_decoded_frame_arrays_are_sampled_with_the_same_rule() -> None:
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 6, 3), np.uint8)
    out = read_video_frames(frames, 8)
    assert out.shape == (8, 4, 6, 3)
    assert out[:, 0, 0, 0].tolist() == sample_frame_indices(10, 8).tolist()
    listed = read_video_frames(list(frames[:5]), 8)
    assert listed[:, 0, 0, 0].tolist() == [0, 1, 1, 2, 2, 3, 3, 4]


@pytest.mark.parametrize(
    "frames",
    [np.zeros((0, 4, 4, 3), np.uint8), np.zeros((3, 4, 4), np.uint8), np.zeros((3, 4, 4, 3), np.float32), []],
)
def test_bad_frame_arrays_raise(frames: object) -> None:
    with pytest.raises(MediaError, match="<array>"):
        read_video_frames(frames, 8)


def test_frames_of_different_shapes_raise() -> None:
    with pytest.raises(MediaError, match=r"<array>: expected uint8 \(H, W, 3\) frames of one shape"):
        read_video_frames([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)], 2)


# ----------------------------------------------------------------------------------------------------------
# Audio


def test_audio_is_resampled_to_16k_mono_with_frequency_and_duration_kept(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "tone.mp4", num_frames=50, audio=sine(2.0, rate=44100, freq=440.0, channels=2))
    waveform = read_audio(path)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert 32000 <= len(waveform) <= 32000 + 1024 * 16000 // 44100 + 1
    assert dominant_frequency(waveform[:32000], 16000) == pytest.approx(440.0, abs=1.0)
    assert np.abs(waveform[1000:31000]).max() == pytest.approx(0.5, abs=0.03)


def test_channels_are_averaged_with_equal_weights(tmp_path: Path) -> None:
    left = sine(1.0, channels=1)[0]
    path = make_audio(tmp_path / "left_only.wav", np.stack([left, np.zeros_like(left)]))
    waveform = read_audio(path)
    assert len(waveform) == 16000
    assert np.abs(waveform[500:-500]).max() == pytest.approx(0.25, abs=0.01)


def test_max_duration_stops_decoding_early(tmp_path: Path) -> None:
    path = Path(make_audio(tmp_path / "long.wav", sine(60.0, rate=22050, freq=1000.0, channels=1), rate=22050))

    class TrackingReader(io.BytesIO):
        furthest = 0

        def read(self, size: int = -1) -> bytes:
            data = super().read(size)
            TrackingReader.furthest = max(TrackingReader.furthest, self.tell())
            return data

    waveform = read_audio(TrackingReader(path.read_bytes()), max_duration_s=1.0)
    assert len(waveform) == 16000
    assert dominant_frequency(waveform, 16000) == pytest.approx(1000.0, abs=2.0)
    # Opening reads a few seconds to probe the stream; decoding stops after the first second.
    assert TrackingReader.furthest < path.stat().st_size / 4


@pytest.mark.parametrize(
    ("name", "codec", "container_format", "cover_art"),
    [
        ("tone.wav", None, None, False),
        ("tone.mp3", "libmp3lame", None, False),
        ("cover.mp3", "libmp3lame", None, True),
        ("tone.m4a", "aac", "ipod", False),
    ],
)
def test_audio_only_files(
    tmp_path: Path, name: str, codec: str | None, container_format: str | None, cover_art: bool
) -> None:
    path = make_audio(
        tmp_path / name, sine(1.0, freq=600.0), codec=codec, container_format=container_format, cover_art=cover_art
    )
    info = probe_media(path)
    assert (info.has_video, info.has_audio, info.num_frames) == (False, True, 0)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)
    waveform = read_audio(path)
    assert 16000 - 400 <= len(waveform) <= 16000 + 1200
    assert dominant_frequency(waveform, 16000) == pytest.approx(600.0, abs=2.0)
    with pytest.raises(MediaError, match=f"{name}: no video stream"):
        read_video_frames(path, 8)


def test_video_without_audio_gives_none(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "silent.mp4", num_frames=10)
    assert read_audio(path) is None
    assert probe_media(path).has_audio is False


def test_waveform_arrays() -> None:
    stereo = sine(0.5, rate=16000, freq=300.0)
    np.testing.assert_allclose(read_audio(stereo), stereo[0], atol=1e-7)
    np.testing.assert_allclose(read_audio(stereo[0].astype(np.float64)), stereo[0], atol=1e-7)
    resampled = read_audio((sine(2.0, rate=44100, freq=300.0), 44100))
    assert resampled.dtype == np.float32 and abs(len(resampled) - 32000) <= 2
    assert dominant_frequency(resampled, 16000) == pytest.approx(300.0, abs=1.0)
    assert len(read_audio((sine(2.0, rate=8000), 8000), max_duration_s=0.5)) == 8000
    with_nan = stereo[0].copy()
    with_nan[100:110] = np.nan
    out = read_audio(with_nan)
    assert not np.isnan(out).any() and np.all(out[100:110] == 0.0)


@pytest.mark.parametrize(
    "waveform",
    [np.zeros(100, np.int16), np.zeros((1000, 2), np.float32), np.zeros((2, 0), np.float32), np.zeros((1, 2, 3))],
)
def test_bad_waveform_arrays_raise(waveform: np.ndarray) -> None:
    with pytest.raises(MediaError, match="<array>"):
        read_audio(waveform)


# ----------------------------------------------------------------------------------------------------------
# Bad media


ALL_READERS = [probe_media, read_video_frames, read_audio]


@pytest.mark.parametrize("reader", ALL_READERS)
def test_zero_byte_file(tmp_path: Path, reader) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty\.mp4: empty file \(0 bytes\)"):
        reader(path)
    with pytest.raises(MediaError, match=r"<bytes, 0 B>: empty file"):
        reader(b"")


@pytest.mark.parametrize("reader", ALL_READERS)
def test_nonexistent_path(tmp_path: Path, reader) -> None:
    with pytest.raises(MediaError, match=r"missing\.mp4: file not found"):
        reader(tmp_path / "missing.mp4")


@pytest.mark.parametrize("reader", ALL_READERS)
@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("notes.txt", b"just some text\nnot a video\n", "not a readable media file"),
        ("noise.bin", np.random.default_rng(1).integers(0, 256, 8192, dtype=np.uint8).tobytes(), "not a readable"),
        ("lyrics.lrc", b"[00:01.00]first line\n[00:02.00]second line\n", "no audio or video stream"),
    ],
)
def test_not_a_media_file(tmp_path: Path, reader, name: str, content: bytes, problem: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaError, match=f"{name}: {problem}"):
        reader(path)


@pytest.fixture(scope="module")
def av_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("truncated")
    audio = sine(2.4)
    return {
        "mp4": Path(make_clip(root / "clip.mp4", 60, gop=10, audio=audio)),
        "faststart": Path(
            make_clip(root / "fast.mp4", 60, gop=10, audio=audio, container_options={"movflags": "faststart"})
        ),
        "mkv": Path(make_clip(root / "clip.mkv", 60, gop=10, audio=audio)),
        "ts": Path(make_clip(root / "clip.ts", 60, gop=10, audio=audio, container_format="mpegts")),
    }


@pytest.mark.parametrize("reader", ALL_READERS)
def test_truncated_mp4_with_index_at_the_end_cannot_be_opened(av_clips: dict[str, Path], reader) -> None:
    with pytest.raises(MediaError, match=r"cut_clip\.mp4: not a readable media file"):
        reader(truncate(av_clips["mp4"]))


@pytest.mark.parametrize("kind", ["faststart", "mkv"])
def test_truncated_file_whose_header_survived(av_clips: dict[str, Path], kind: str) -> None:
    path = truncate(av_clips[kind])
    assert probe_media(path).num_frames == 60
    with pytest.raises(MediaError, match=f"{path.name}: truncated or corrupt: .* 60 frames but the video stream ends"):
        read_video_frames(path, 8)
    waveform = read_audio(path)
    assert 0 < len(waveform) < 2.4 * 16000


def test_truncated_mpegts_is_read_as_the_part_that_exists(av_clips: dict[str, Path]) -> None:
    path = truncate(av_clips["ts"])
    assert 10 < probe_media(path).num_frames < 60
    decoded, _ = decode_all(path)
    positions = time_rule_positions(path, 8)
    frames = read_video_frames(path, 8)
    np.testing.assert_array_equal(frames, np.stack([decoded[k] for k in positions]))
    waveform = read_audio(path)
    assert 0 < len(waveform) < 2.4 * 16000


def test_media_error_is_a_value_error_naming_the_source(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "voice.wav", sine(0.2))
    with pytest.raises(ValueError) as caught:
        read_video_frames(path, 8)
    assert isinstance(caught.value, MediaError)
    assert caught.value.source == str(path) and caught.value.problem == "no video stream"
    assert str(caught.value) == f"{path}: no video stream"
    restored = pickle.loads(pickle.dumps(caught.value))
    assert (type(restored), str(restored), restored.source) == (MediaError, str(caught.value), str(path))


# ---- remote sources: off by default, bounded when enabled ----------------------------------------------------


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []

    def accept():
        try:
            while True:
                accepted.append(server.accept()[0])
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/clip.mp4"
    server.close()
    for connection in accepted:
        connection.close()


def test_remote_source_is_refused_by_default_naming_it(silent_server, monkeypatch):
    monkeypatch.delenv("MIGR_ALLOW_REMOTE_MEDIA", raising=False)
    for read in (read_video_frames, read_audio, probe_media):
        with pytest.raises(MediaError, match=r"^http://127\.0\.0\.1:\d+/clip\.mp4: remote source refused"):
            read(silent_server)
    assert not media.is_remote("file:///tmp/a.mp4") and not media.is_remote("C:/clips/a.mp4")
    assert media.is_remote("rtsp://camera/stream") and media.is_remote("HTTPS://x/y.mp4")


def test_enabled_remote_source_that_stays_silent_times_out(silent_server, monkeypatch):
    monkeypatch.setenv("MIGR_ALLOW_REMOTE_MEDIA", "1")
    monkeypatch.setenv("MIGR_REMOTE_MEDIA_TIMEOUT", "0.5")
    start = time.monotonic()
    with pytest.raises(MediaError, match="no answer within 0.5 s"):
        read_video_frames(silent_server)
    assert time.monotonic() - start < 10  # bounded, never a hang
    monkeypatch.setenv("MIGR_REMOTE_MEDIA_TIMEOUT", "soon")
    with pytest.raises(MediaError, match="not a number of seconds"):
        read_video_frames(silent_server)

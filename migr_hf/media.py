"""Media decoding for migr-hf: probing, frame sampling, video frames and audio waveforms, all through PyAV.

This is the project's only media decoder. It reproduces the preprocessing of the original HumanOmni code
(frame sampling rule, 16 kHz mono audio) on top of PyAV instead of decord/torchaudio.

Sources
    Every function takes a path (``str`` / ``os.PathLike``), the raw bytes of a file or a binary file-like
    object. A file-like object is left at the position it had on entry when it is seekable.
    ``read_video_frames`` also takes already-decoded frames and ``read_audio`` a waveform array (see there).

Remote sources and time bounds
    A string with a URL scheme (``http://``, ``rtsp://``, ...; anything but ``file:``) is a remote source and is
    refused with a :class:`MediaError` naming it, unless ``MIGR_ALLOW_REMOTE_MEDIA=1``. When allowed, opening
    and every read carry a timeout (``MIGR_REMOTE_MEDIA_TIMEOUT`` seconds, default 30): a server that accepts
    and stays silent gives a :class:`MediaError` after that long instead of a hang. Local decoding is bounded by
    the input: video decoding seeks to the ``num_frames`` targets (at most one keyframe interval decoded per
    target, whatever the clip length or resolution) and keeps ``num_frames`` RGB frames in memory; audio keeps
    at most ``max_duration_s`` of samples.

Stream choice
    The first video stream that is not an attached picture (cover art of an .mp3/.m4a is not video) and
    the first audio stream. A source with neither is not a media file and raises :class:`MediaError`.

Frame count ``M`` (the input of :func:`sample_frame_indices`)
    The container's frame count (``nb_frames``, e.g. the sample table of an MP4) when it is non-zero,
    otherwise ``round(length_s * average_rate)`` with the stream's length taken from, in this order, the
    stream duration, the Matroska ``DURATION`` tag (an end timestamp, so the stream start is subtracted),
    the container duration. With ``frame_selection="index"``, the number of video packets instead. When
    none of these exist, or the stream has no start timestamp or no frame rate (raw elementary streams such
    as ``.h264``), every frame is decoded and ``M`` is the number of decoded frames.

Frame ``i`` and timestamps (``frame_selection``)
    ``"time"`` (default): frame ``i`` is the first decoded frame whose pts is at least
    ``start + (i - 1/2) / average_rate`` (pts and start in the stream's time base). For a constant-frame-rate
    stream this is exactly the ``i``-th frame; the half-frame margin absorbs rounded timestamps. For a
    variable-frame-rate stream it is the frame on screen at ``start + i / average_rate``: frames are spread
    evenly in time, whatever the frame spacing.
    ``"index"``: decord's rule, which the original HumanOmni code uses. ``M`` is the number of video packets
    (one per frame) and frame ``i`` is the ``i``-th frame in presentation order (packet pts sorted), whatever
    its time: frames are spread evenly in count, so a burst of short frames gets more of them. The packets
    are read once (not decoded) to list their pts; frames are then reached by the same seeking as ``"time"``.
    Both rules pick the same frames on constant-frame-rate clips; use ``"index"`` to reproduce a baseline's
    inputs exactly on variable-frame-rate clips. Decoded frames given as arrays have no timestamps: both
    rules pick by position.

Seeking
    Targets are visited in increasing order. For each one the decoder seeks to the keyframe at or before
    the target and decodes forward; it keeps decoding instead when no keyframe lies between the current
    position and the target. Keyframe positions come from the demuxer's index when the container has one
    (MP4/MOV sample tables, AVI indexes, Matroska cues); otherwise (MPEG-TS) the decoder keeps decoding
    when the target is no farther ahead than the longest keyframe interval seen so far. A seek that lands
    after the target (imprecise demuxer seeking) is retried further back. Packets before the first
    keyframe after a seek are skipped, never decoded into broken frames.

Frame count overshoot and truncation
    When the video stream ends before a target, the missing targets take the last decodable frame, as long
    as ``M`` overshoots the decodable frames by at most ``max(2, 5% of M)`` frames (rounded estimates, last
    frames with long durations, edit lists). A larger shortfall means the metadata describes data that is
    not there (a truncated file whose header survived) and raises :class:`MediaError`.

Rotation
    Frames are returned in display orientation: the display matrix that FFmpeg attaches to each decoded
    frame is applied (rotation only, to the nearest multiple of 90 degrees; mirroring is not applied). Without
    a display matrix a stream ``rotate`` metadata tag (any case) is honoured. :class:`MediaInfo` reports
    the clockwise rotation and the display width and height.

Audio
    The audio stream is resampled with :class:`av.AudioResampler` to float32 at the requested rate, keeping
    its channels, and the channels are then averaged with equal weights (stereo gives ``(L + R) / 2``;
    every channel of a 5.1 stream, LFE included, weighs 1/6). This differs from FFmpeg's own mono downmix,
    which gives ``(L + R) / sqrt(2)`` for stereo. The waveform starts at the first decoded audio sample
    (it is not aligned to the video start). NaN samples become 0 after resampling (the original code used
    -1.5); a NaN in resampled input can spread over the resampler's filter length (under 1 ms).
"""

from __future__ import annotations

import bisect
import io
import logging
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np
from av.sidedata.sidedata import Type as SideDataType
from av.video.reformatter import VideoReformatter

logger = logging.getLogger(__name__)

MediaSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO

ENV_ALLOW_REMOTE = "MIGR_ALLOW_REMOTE_MEDIA"
ENV_REMOTE_TIMEOUT = "MIGR_REMOTE_MEDIA_TIMEOUT"
DEFAULT_REMOTE_TIMEOUT_S = 30.0
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,15}://")
_OVERSHOOT_FRACTION = 0.05
_OVERSHOOT_MIN_FRAMES = 2
_REWIND_MARGIN_TICKS = 1 << 40
NO_VIDEO_STREAM = "no video stream"
# How frame `i` of the sampling rule is found in a clip (module docstring, "Frame `i` and timestamps").
FRAME_SELECTIONS = ("time", "index")


class MediaError(ValueError):
    """A media source cannot be decoded. The message names the source and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem

    def __reduce__(self) -> tuple[type[MediaError], tuple[str, str]]:
        return type(self), (self.source, self.problem)


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe_media` found.

    Attributes:
        source: Name of the source (path, ``"<bytes, N B>"`` or the file object's name).
        has_video: Whether there is a video stream (attached cover pictures do not count).
        has_audio: Whether there is an audio stream.
        num_frames: Frame count ``M`` used for sampling (see the module docstring); 0 without video.
        fps: Average frame rate in frames/s; 0.0 without video or when unknown.
        duration_s: Length in seconds of the video stream, else of the audio stream; 0.0 when unknown.
        width: Display width in pixels (after rotation); 0 without video.
        height: Display height in pixels (after rotation); 0 without video.
        rotation: Clockwise rotation in degrees (0, 90, 180 or 270) applied to decoded frames for display.
    """

    source: str
    has_video: bool
    has_audio: bool
    num_frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    rotation: int


def sample_frame_indices(total_frames: int, num_frames: int) -> np.ndarray:
    """Indices of the frames the original code samples: midpoints of ``num_frames`` equal segments.

    With ``seg = (total_frames - 1) / num_frames``, index ``i`` is ``round(seg * (i + 0.5) + 1e-6)``
    (NumPy round-half-to-even). Clips shorter than ``num_frames`` get duplicated indices.

    Returns:
        int64 array of shape ``(num_frames,)``, non-decreasing, within ``[0, total_frames - 1]``.
    """
    if total_frames < 1:
        raise ValueError(f"total_frames must be >= 1, got {total_frames}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    seg = (total_frames - 1) / num_frames
    return np.round(seg * (np.arange(num_frames) + 0.5) + 1e-6).astype(np.int64)


def probe_media(source: MediaSource) -> MediaInfo:
    """Describe a media source: streams, frame count, rate, length, display size and rotation.

    The first video frame is decoded to read the display matrix; a stream without usable timestamps is
    decoded completely to count its frames.
    """
    with _open_container(source) as (container, name):
        video, audio = _select_streams(container, name)
        if video is None:
            return MediaInfo(
                source=name,
                has_video=False,
                has_audio=True,
                num_frames=0,
                fps=0.0,
                duration_s=_stream_length_s(audio, container) or 0.0,
                width=0,
                height=0,
                rotation=0,
            )
        timeline = _timeline(video, container)
        if timeline is None:
            packets = _demux_all(container, video)
            num_frames = _count_decoded_frames(packets)
            first = next(_decode_packets(packets), None)
        else:
            num_frames = timeline.num_frames
            first = next(container.decode(video), None)
        if first is None:
            raise MediaError(name, "video stream has no decodable frames")
        rotation = _display_rotation(first, video)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        rate = _frame_rate(video)
        return MediaInfo(
            source=name,
            has_video=True,
            has_audio=audio is not None,
            num_frames=num_frames,
            fps=float(rate) if rate else 0.0,
            duration_s=_stream_length_s(video, container) or (num_frames / float(rate) if rate else 0.0),
            width=width,
            height=height,
            rotation=rotation,
        )


def read_video_frames(
    source: MediaSource | np.ndarray | list[np.ndarray], num_frames: int = 8, frame_selection: str = "time"
) -> np.ndarray:
    """Sample ``num_frames`` frames of a video with :func:`sample_frame_indices`, seeking between them.

    Args:
        source: A media source, or already-decoded frames: a uint8 array ``(M, H, W, 3)`` or a list of
            ``(H, W, 3)`` uint8 arrays, to which the same index rule is applied.
        num_frames: Number of frames ``T`` to return.
        frame_selection: ``"time"`` (frame ``i`` is the one on screen at ``start + i / average_rate``) or
            ``"index"`` (the ``i``-th frame, as decord picks it); they differ on variable-frame-rate clips
            only (module docstring).

    Returns:
        uint8 RGB array ``(num_frames, H, W, 3)`` in display orientation.

    Raises:
        MediaError: No video stream, nothing decodable, a truncated file, or not a media file.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if frame_selection not in FRAME_SELECTIONS:
        raise ValueError(f"frame_selection must be one of {FRAME_SELECTIONS}, got {frame_selection!r}")
    if isinstance(source, (np.ndarray, list)):
        return _sample_decoded_frames(source, num_frames)
    with _open_container(source) as (container, name):
        video, _ = _select_streams(container, name)
        if video is None:
            raise MediaError(name, NO_VIDEO_STREAM)
        timeline = _timeline(video, container)
        if timeline is None:
            logger.debug("%s: no usable timestamps or frame count; decoding every frame", name)
            frames = _select_by_full_decode(_demux_all(container, video), num_frames, name)
        elif frame_selection == "time":
            frames = _select_by_seeking(container, video, timeline, num_frames, name)
        else:
            packets = _demux_all(container, video)
            frame_pts = [packet.pts for packet in packets if packet.size]  # one packet per frame, as decord counts
            if not frame_pts or None in frame_pts:
                logger.debug("%s: video packets without timestamps; decoding every frame", name)
                frames = _select_by_full_decode(packets, num_frames, name)
            else:
                frames = _select_by_seeking(container, video, timeline, num_frames, name, sorted(frame_pts))
        rotation = _display_rotation(frames[0], video)
        reformatter = VideoReformatter()
        return np.stack([_to_rgb(frame, rotation, reformatter) for frame in frames])


def read_audio(
    source: MediaSource | np.ndarray | tuple[np.ndarray, int],
    sampling_rate: int = 16000,
    max_duration_s: float | None = None,
) -> np.ndarray | None:
    """Decode the audio of a media source as a mono waveform at ``sampling_rate``.

    Args:
        source: A media source (audio-only files work), a float waveform ``(N,)`` or ``(C, N)`` already at
            ``sampling_rate``, or a tuple ``(waveform, source_rate)`` that is resampled.
        sampling_rate: Output rate in Hz.
        max_duration_s: Keep only the first this many seconds; decoding stops there.

    Returns:
        float32 array ``(N,)``, channels averaged, NaN set to 0; ``None`` when the source has a video
        stream but no audio stream. Codec padding can add up to one codec frame at the end (AAC: 1024
        samples at the source rate).

    Raises:
        MediaError: Not a media file, or an audio stream without decodable samples.
    """
    if sampling_rate < 1:
        raise ValueError(f"sampling_rate must be >= 1, got {sampling_rate}")
    if max_duration_s is not None and max_duration_s <= 0:
        raise ValueError(f"max_duration_s must be > 0, got {max_duration_s}")
    if isinstance(source, tuple):
        waveform, source_rate = source
        return _audio_from_array(waveform, int(source_rate), sampling_rate, max_duration_s)
    if isinstance(source, np.ndarray):
        return _audio_from_array(source, sampling_rate, sampling_rate, max_duration_s)
    with _open_container(source) as (container, name):
        _, audio = _select_streams(container, name)
        if audio is None:
            return None
        resampler = av.AudioResampler(format="fltp", rate=sampling_rate)
        chunks: list[np.ndarray] = []
        decoded_s = 0.0
        for frame in _decode_audio(container, audio, name):
            chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
            decoded_s += frame.samples / frame.sample_rate
            if max_duration_s is not None and decoded_s >= max_duration_s:
                break
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
        if not chunks:
            raise MediaError(name, "audio stream has no decodable samples")
        return _finish_waveform(np.concatenate(chunks, axis=1).mean(axis=0), sampling_rate, max_duration_s)


def _decode_audio(container: av.container.InputContainer, stream: av.AudioStream, name: str) -> Iterator[av.AudioFrame]:
    """Decoded frames of an audio stream; packets the decoder rejects (corrupt, cut off) are skipped."""
    skipped = 0
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                skipped += 1
                continue
            yield from frames
    finally:
        if skipped:
            logger.warning("%s: skipped %d undecodable audio packet(s)", name, skipped)


@dataclass(frozen=True)
class _Timeline:
    """Maps frame indices of a video stream to pts thresholds (stream time base)."""

    start: int
    frame_ticks: Fraction
    num_frames: int
    count_source: str

    def threshold(self, index: int) -> Fraction:
        """Smallest pts that frame ``index`` may have: half a frame before its nominal timestamp."""
        return self.start + (index - Fraction(1, 2)) * self.frame_ticks

    def index_of(self, pts: int) -> int:
        """Nearest frame index of a pts."""
        return round((pts - self.start) / self.frame_ticks)


class _SeekingDecoder:
    """Returns, for increasing pts thresholds, the first frame at or after each, seeking only when it pays."""

    def __init__(
        self, container: av.container.InputContainer, stream: av.VideoStream, timeline: _Timeline, name: str
    ) -> None:
        self._container = container
        self._name = name
        self._stream = stream
        self._timeline = timeline
        self._index_trusted = len(stream.index_entries) > 0
        self._frames: Iterator[av.VideoFrame] | None = None
        self._last: av.VideoFrame | None = None
        self._ended = False
        self._position: int | None = None
        self._previous_key_pts: int | None = None
        self._max_key_gap: int | None = None
        self._threshold: Fraction | None = None
        self._skipped_pts: int | None = None

    @property
    def last(self) -> av.VideoFrame | None:
        """Last frame decoded so far (the stream's last frame once a target lay beyond the end)."""
        return self._last

    def frame_at(self, threshold: Fraction) -> av.VideoFrame | None:
        """First frame with ``pts >= threshold``, or ``None`` when the stream ends before it."""
        if self._last is not None and self._last.pts >= threshold:
            return self._last
        if self._ended:
            return None
        self._threshold = threshold
        if self._frames is None or self._should_seek(threshold):
            self._seek(threshold)
        for frame in self._frames:
            self._last = frame
            if frame.pts >= threshold:
                return frame
        self._ended = True
        self._decode_skipped_tail()
        return None

    def _decode_skipped_tail(self) -> None:
        """At the end of the stream, make `last` the stream's last frame even if it was a skipped one.

        Non-reference frames before the target are not decoded (see `_decode`); when the stream ends before a
        target, the last frame may be one of them, so the tail is decoded again without skipping.
        """
        if self._skipped_pts is None or (self._last is not None and self._last.pts > self._skipped_pts):
            return
        self._threshold = None
        self._seek(Fraction(self._skipped_pts))
        for frame in self._frames:
            self._last = frame

    def _should_seek(self, threshold: Fraction) -> bool:
        if self._position is None or self._last is None:
            return True
        if self._index_trusted:
            entries = self._stream.index_entries
            entry = entries.search_timestamp(math.floor(threshold), backward=True)
            return entry >= 0 and entries[entry].timestamp > self._position
        return self._max_key_gap is None or threshold - self._last.pts > self._max_key_gap

    def _seek(self, threshold: Fraction) -> None:
        """Seek so that the next decoded frame is before ``threshold`` or is the stream's first frame.

        A landing frame at or after ``threshold`` might hide an earlier frame that also qualifies, so the
        seek is retried further back (doubling the step); once the step passes the stream start, decoding
        restarts from the beginning.
        """
        self._last = None
        seek_ts = math.floor(threshold)
        back_off = self._timeline.frame_ticks
        while seek_ts >= self._timeline.start:
            self._container.seek(seek_ts, stream=self._stream, backward=True)
            frames = self._decode()
            first = next(frames, None)
            if first is not None and (first.pts < threshold or first.pts <= self._timeline.start):
                self._frames = _prepend(first, frames)
                return
            seek_ts = (seek_ts if first is None else min(seek_ts, first.pts)) - math.ceil(back_off)
            back_off *= 2
        self._rewind()

    def _rewind(self) -> None:
        """Decode from the first keyframe of the stream.

        Seeking to the start time is enough for most demuxers; MPEG-TS seeks on decoding timestamps and needs
        a target well before it, which AVI refuses (it rejects timestamps before its index).
        """
        frames: Iterator[av.VideoFrame] | None = None
        for seek_ts in (self._timeline.start, self._timeline.start - _REWIND_MARGIN_TICKS):
            try:
                self._container.seek(seek_ts, stream=self._stream, backward=True)
            except av.error.FFmpegError:
                continue
            decoded = self._decode()
            first = next(decoded, None)
            frames = decoded if first is None else _prepend(first, decoded)
            if first is not None and first.pts <= self._timeline.start:
                break
        if frames is None:
            raise MediaError(self._name, "cannot seek to the start of the video stream")
        self._frames = frames

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Frames from the demuxer's position on, skipping packets before the first keyframe; records the
        position (last packet timestamp) and the longest keyframe interval seen.

        A packet whose frame lies before the current target is decoded with ``skip_frame="NONREF"``: if no
        other frame refers to it (B-frames), it is not output-relevant and the decoder drops it unseen.
        """
        self._previous_key_pts = None
        seen_keyframe = False
        codec = self._stream.codec_context
        for packet in self._container.demux(self._stream):
            if not seen_keyframe:
                if not packet.is_keyframe:
                    continue
                seen_keyframe = True
            timestamp = packet.dts if packet.dts is not None else packet.pts
            if timestamp is not None:
                self._position = timestamp
            if packet.is_keyframe and packet.pts is not None:
                if self._previous_key_pts is not None:
                    gap = packet.pts - self._previous_key_pts
                    self._max_key_gap = max(gap, self._max_key_gap or 0)
                self._previous_key_pts = packet.pts
            skip = self._threshold is not None and packet.pts is not None and packet.pts < self._threshold
            codec.skip_frame = "NONREF" if skip and not packet.is_keyframe else "DEFAULT"
            if skip and not packet.is_keyframe:
                self._skipped_pts = max(packet.pts, self._skipped_pts or packet.pts)
            for frame in packet.decode():
                if frame.pts is None:
                    raise MediaError(self._name, "decoded video frame has no timestamp")
                yield frame


def _prepend(first: av.VideoFrame, rest: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
    yield first
    yield from rest


def _select_by_seeking(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    timeline: _Timeline,
    num_frames: int,
    name: str,
    frame_pts: list[int] | None = None,
) -> list[av.VideoFrame]:
    """Frames of the sampled indices: by time (``frame_pts`` is ``None``), or frame ``i`` is the one with pts
    ``frame_pts[i]`` (the index rule; ``frame_pts`` sorted)."""
    if frame_pts is None:
        total, count_source, threshold = timeline.num_frames, timeline.count_source, timeline.threshold
    else:
        total, count_source = len(frame_pts), "packet count"

        def threshold(index: int) -> Fraction:
            return Fraction(frame_pts[index])

    indices = sample_frame_indices(total, num_frames)
    decoder = _SeekingDecoder(container, stream, timeline, name)
    found: dict[int, av.VideoFrame] = {}
    missing: list[int] = []
    for index in sorted(set(indices.tolist())):
        frame = decoder.frame_at(threshold(index))
        if frame is None:
            missing.append(index)
        else:
            found[index] = frame
    if missing:
        last = decoder.last
        if last is None:
            raise MediaError(name, "video stream has no decodable frames")
        if frame_pts is None:
            last_index = timeline.index_of(last.pts)
        else:
            last_index = bisect.bisect_right(frame_pts, last.pts) - 1
        overshoot = total - 1 - last_index
        tolerance = max(_OVERSHOOT_MIN_FRAMES, math.ceil(_OVERSHOOT_FRACTION * total))
        if overshoot > tolerance:
            raise MediaError(
                name,
                f"truncated or corrupt: the {count_source} gives {total} frames "
                f"but the video stream ends at frame {last_index}",
            )
        logger.debug(
            "%s: %s %d overshoots the last frame %d; indices %s use the last frame",
            name,
            count_source,
            total,
            last_index,
            missing,
        )
        found.update(dict.fromkeys(missing, last))
    return [found[index] for index in indices.tolist()]


def _select_by_full_decode(packets: list[av.Packet], num_frames: int, name: str) -> list[av.VideoFrame]:
    total = _count_decoded_frames(packets)
    if total == 0:
        raise MediaError(name, "video stream has no decodable frames")
    indices = sample_frame_indices(total, num_frames)
    wanted = set(indices.tolist())
    found = {i: frame for i, frame in enumerate(_decode_packets(packets)) if i in wanted}
    return [found[index] for index in indices.tolist()]


def _demux_all(container: av.container.InputContainer, stream: av.VideoStream) -> list[av.Packet]:
    """Every packet of ``stream`` (compressed, so small), ending with the flush packet."""
    return list(container.demux(stream))


def _decode_packets(packets: list[av.Packet]) -> Iterator[av.VideoFrame]:
    if packets:
        packets[0].stream.codec_context.flush_buffers()
    for packet in packets:
        yield from packet.decode()


def _count_decoded_frames(packets: list[av.Packet]) -> int:
    return sum(1 for _ in _decode_packets(packets))


def _sample_decoded_frames(frames: np.ndarray | list[np.ndarray], num_frames: int) -> np.ndarray:
    name = "<array>"
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise MediaError(name, f"expected uint8 frames (M, H, W, 3), got {frames.dtype} {frames.shape}")
        if len(frames) == 0:
            raise MediaError(name, "no frames")
        return frames[sample_frame_indices(len(frames), num_frames)]
    if not frames:
        raise MediaError(name, "no frames")
    arrays = [np.asarray(frame) for frame in frames]
    kinds = sorted({(array.dtype.name, array.shape) for array in arrays})
    dtype, shape = kinds[0]
    if len(kinds) != 1 or dtype != "uint8" or len(shape) != 3 or shape[-1] != 3:
        raise MediaError(name, f"expected uint8 (H, W, 3) frames of one shape, got (dtype, shape) {kinds}")
    return np.stack([arrays[i] for i in sample_frame_indices(len(arrays), num_frames)])


def _audio_from_array(
    waveform: np.ndarray, source_rate: int, sampling_rate: int, max_duration_s: float | None
) -> np.ndarray:
    name = "<array>"
    array = np.asarray(waveform)
    if not np.issubdtype(array.dtype, np.floating):
        raise MediaError(name, f"expected a float waveform, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[None]
    elif array.ndim != 2 or array.shape[0] > array.shape[1]:
        raise MediaError(name, f"expected a waveform (N,) or (C, N) with C <= N, got shape {array.shape}")
    if array.shape[1] == 0:
        raise MediaError(name, "empty waveform")
    if source_rate < 1:
        raise MediaError(name, f"invalid source sampling rate {source_rate}")
    mono = array.astype(np.float32).mean(axis=0, dtype=np.float32)
    if source_rate != sampling_rate:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono[None]), format="fltp", layout="mono")
        frame.sample_rate = source_rate
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=sampling_rate)
        outs = resampler.resample(frame) + resampler.resample(None)
        mono = np.concatenate([out.to_ndarray()[0] for out in outs])
    return _finish_waveform(mono, sampling_rate, max_duration_s)


def _finish_waveform(waveform: np.ndarray, sampling_rate: int, max_duration_s: float | None) -> np.ndarray:
    if max_duration_s is not None:
        waveform = waveform[: round(max_duration_s * sampling_rate)]
    waveform = np.ascontiguousarray(waveform, dtype=np.float32)
    waveform[np.isnan(waveform)] = 0.0
    return waveform


def source_name(source: object) -> str:
    """How messages name a source: its path, `<bytes, N B>`, or the file object's name."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<bytes, {memoryview(source).nbytes} B>"
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else f"<{type(source).__name__}>"


def is_remote(source: object) -> bool:
    """Whether ``source`` is a URL other than ``file://`` (a remote source, see the module docstring)."""
    if not isinstance(source, str) or not _URL_SCHEME.match(source):
        return False
    return not source.lower().startswith("file://")


def _remote_timeout(name: str) -> float:
    """Open/read timeout in seconds for a remote source; raises :class:`MediaError` when remote media is off."""
    if os.environ.get(ENV_ALLOW_REMOTE, "").lower() not in ("1", "true", "yes", "on"):
        raise MediaError(name, f"remote source refused: set {ENV_ALLOW_REMOTE}=1 to read URLs, or download it first")
    value = os.environ.get(ENV_REMOTE_TIMEOUT, "")
    try:
        timeout = float(value) if value else DEFAULT_REMOTE_TIMEOUT_S
    except ValueError:
        raise MediaError(name, f"{ENV_REMOTE_TIMEOUT}={value!r} is not a number of seconds") from None
    if timeout <= 0:
        raise MediaError(name, f"{ENV_REMOTE_TIMEOUT} must be > 0 seconds, got {value}")
    return timeout


@contextmanager
def _open_container(source: MediaSource) -> Iterator[tuple[av.container.InputContainer, str]]:
    """Open ``source`` for reading; FFmpeg and OS errors inside the block become :class:`MediaError`."""
    name = source_name(source)
    restore_position: int | None = None
    timeout: float | None = None
    if is_remote(source):
        target, timeout = source, _remote_timeout(name)
    elif isinstance(source, (str, os.PathLike)):
        target = os.fspath(source)
        if os.path.isfile(target) and os.path.getsize(target) == 0:
            raise MediaError(name, "empty file (0 bytes)")
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if memoryview(source).nbytes == 0:
            raise MediaError(name, "empty file (0 bytes)")
        target = io.BytesIO(source)
    elif hasattr(source, "read"):
        target = source
        if getattr(source, "seekable", lambda: False)():
            restore_position = source.tell()
    else:
        raise TypeError(f"unsupported media source type {type(source).__name__}")
    try:
        container = av.open(target, mode="r", metadata_errors="ignore", timeout=timeout)
    except av.error.ExitError as exc:  # FFmpeg's interrupt callback: the timeout ran out
        raise MediaError(name, f"no answer within {timeout:g} s (remote open timeout)") from exc
    except FileNotFoundError as exc:
        raise MediaError(name, "file not found") from exc
    except OSError as exc:
        raise MediaError(name, f"cannot read ({exc.strerror or exc})") from exc
    except av.error.FFmpegError as exc:
        raise MediaError(
            name, f"not a readable media file ({_reason(exc)}: unknown format, truncated or corrupt)"
        ) from exc
    try:
        yield container, name
    except av.error.ExitError as exc:
        raise MediaError(name, f"no data within {timeout} s (remote read timeout)") from exc
    except av.error.FFmpegError as exc:
        raise MediaError(name, f"decoding failed ({_reason(exc)})") from exc
    finally:
        container.close()
        if restore_position is not None:
            source.seek(restore_position)


def _reason(exc: av.error.FFmpegError) -> str:
    return exc.strerror or str(exc)


def _select_streams(
    container: av.container.InputContainer, name: str
) -> tuple[av.VideoStream | None, av.AudioStream | None]:
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    audios = list(container.streams.audio)
    if not videos and not audios:
        raise MediaError(name, "no audio or video stream (not a media file)")
    return (videos[0] if videos else None), (audios[0] if audios else None)


def _frame_rate(stream: av.VideoStream) -> Fraction | None:
    rate = stream.average_rate or stream.guessed_rate
    return Fraction(rate) if rate else None


def _stream_length_s(stream: av.stream.Stream, container: av.container.InputContainer) -> float | None:
    """Length of a stream in seconds from the container metadata, ``None`` when nothing gives it."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    start_s = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    tag = next((value for key, value in stream.metadata.items() if key.upper() == "DURATION"), None)
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds) - start_s
        except ValueError:
            logger.debug("ignoring unparsable DURATION tag %r", tag)
    if container.duration:
        return container.duration / av.time_base
    return None


def _timeline(stream: av.VideoStream, container: av.container.InputContainer) -> _Timeline | None:
    """Index-to-pts mapping of a video stream, ``None`` when the stream lacks start time, rate or length."""
    rate = _frame_rate(stream)
    if rate is None or stream.start_time is None or not stream.time_base:
        return None
    frame_ticks = 1 / (rate * stream.time_base)
    if stream.frames > 0:
        return _Timeline(stream.start_time, frame_ticks, stream.frames, "container frame count")
    length_s = _stream_length_s(stream, container)
    if not length_s or length_s <= 0:
        return None
    return _Timeline(stream.start_time, frame_ticks, max(1, round(length_s * rate)), "duration x frame rate")


def _display_rotation(frame: av.VideoFrame, stream: av.VideoStream) -> int:
    """Clockwise rotation in degrees (0, 90, 180, 270) that puts ``frame`` in display orientation."""
    if SideDataType.DISPLAYMATRIX in frame.side_data:
        degrees = -float(frame.rotation)
    else:
        tag = next((value for key, value in stream.metadata.items() if key.lower() == "rotate"), None)
        try:
            degrees = float(tag) if tag else 0.0
        except ValueError:
            logger.warning("ignoring unparsable rotate tag %r", tag)
            degrees = 0.0
    rotation = round(degrees / 90.0) * 90 % 360
    if abs((degrees - rotation + 180.0) % 360.0 - 180.0) > 1.0:
        logger.warning("rotation of %.1f degrees rounded to %d", degrees, rotation)
    return rotation


def _to_rgb(frame: av.VideoFrame, rotation: int, reformatter: VideoReformatter) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of a frame, rotated clockwise by ``rotation`` degrees.

    One ``reformatter`` serves all frames of a clip: a fresh one per frame (what ``frame.to_ndarray(format=...)``
    does) sets up a new conversion context each time, ~40x slower for small frames.
    """
    rgb = reformatter.reformat(frame, format="rgb24").to_ndarray()
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90)))
    return rgb

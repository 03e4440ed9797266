"""Tiny media files for tests, encoded with PyAV: ``from media_fixtures import make_clip``.

Video frames carry their index as flat grey stripes (one base-4 digit per stripe, levels 32/96/160/224),
which survives lossy coding and chroma subsampling; :func:`frame_index` reads it back. Audio is a sine
of known frequency. Codecs available in PyAV 18 wheels and used here: libx264 (4:2:0 needs even sizes,
4:4:4 takes odd sizes), mpeg4, libvpx, aac, pcm_s16le, libmp3lame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction

import av
import numpy as np

PATTERN_LEVELS = (32, 96, 160, 224)
PATTERN_STRIPES = 5


def frame_pattern(index: int, width: int, height: int) -> np.ndarray:
    """``(height, width, 3)`` uint8 RGB frame encoding ``index`` (< 4**5) as grey stripes."""
    frame = np.empty((height, width, 3), np.uint8)
    bounds = np.linspace(0, width, PATTERN_STRIPES + 1).round().astype(int)
    for stripe in range(PATTERN_STRIPES):
        digit = (index // len(PATTERN_LEVELS) ** stripe) % len(PATTERN_LEVELS)
        frame[:, bounds[stripe] : bounds[stripe + 1]] = PATTERN_LEVELS[digit]
    return frame


def frame_index(frame: np.ndarray) -> int:
    """Index encoded by :func:`frame_pattern` in a decoded ``(H, W, 3)`` frame (the centre of each stripe)."""
    height, width = frame.shape[:2]
    bounds = np.linspace(0, width, PATTERN_STRIPES + 1).round().astype(int)
    index = 0
    for stripe in range(PATTERN_STRIPES):
        left, right = bounds[stripe], bounds[stripe + 1]
        margin_x, margin_y = (right - left) // 4, height // 4
        level = frame[margin_y : height - margin_y, left + margin_x : right - margin_x].mean()
        digit = int(np.argmin([abs(level - ref) for ref in PATTERN_LEVELS]))
        index += digit * len(PATTERN_LEVELS) ** stripe
    return index


def sine(duration_s: float, rate: int = 44100, freq: float = 440.0, channels: int = 2) -> np.ndarray:
    """``(channels, N)`` float32 sine at ``freq`` Hz, amplitude 0.5, identical in every channel."""
    t = np.arange(round(duration_s * rate)) / rate
    return np.repeat((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None], channels, axis=0)


def make_clip(
    path: str | os.PathLike,
    num_frames: int = 30,
    width: int = 64,
    height: int = 48,
    fps: int = 25,
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    gop: int | None = None,
    bframes: int | None = None,
    options: dict[str, str] | None = None,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int | None = None,
    stream_metadata: dict[str, str] | None = None,
    audio: np.ndarray | None = None,
    audio_rate: int = 44100,
    audio_codec: str | None = None,
    container_format: str | None = None,
    container_options: dict[str, str] | None = None,
) -> str:
    """Encode a clip whose frame ``i`` is ``frame_pattern(i)``; return its path.

    Args:
        path: Output file; the container follows its suffix unless ``container_format`` is given.
        num_frames, width, height, fps: Frame count, size in pixels and nominal rate (frames/s).
        codec, pix_fmt, gop, bframes, options: Video encoder settings. libx264 gets ``scenecut=0`` so that
            keyframes come only every ``gop`` frames (its default GOP is 250).
        pts: Presentation timestamps in ``time_base`` units (default ``i``, or ``i + offset`` from the caller),
            e.g. irregular ones for a variable-frame-rate clip.
        time_base: Stream time base for ``pts`` (default ``1/fps``).
        rotation: Display rotation written as a display matrix, counter-clockwise degrees (PyAV convention).
        stream_metadata: Tags written on the video stream (e.g. ``{"rotate": "90"}``).
        audio: ``(C, N)`` float32 waveform at ``audio_rate`` to add as an audio stream.
        audio_codec: Audio encoder (default aac, or pcm_s16le for .wav/.mkv/.avi).
        container_format: FFmpeg muxer name overriding the suffix (e.g. ``"mpegts"``).
        container_options: Muxer options (e.g. ``{"movflags": "faststart"}`` to put the MP4 index first).
    """
    path = os.fspath(path)
    with av.open(path, "w", format=container_format, options=container_options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        if gop is not None:
            stream.gop_size = gop
        if bframes is not None:
            stream.codec_context.max_b_frames = bframes
        encoder_options = {"x264-params": "scenecut=0"} if codec == "libx264" else {}
        encoder_options.update(options or {})
        stream.options = encoder_options
        if rotation is not None:
            stream.set_display_rotation(rotation)
        stream.metadata.update(stream_metadata or {})
        audio_stream = None
        if audio is not None:
            audio_stream = _add_audio_stream(container, path, audio, audio_rate, audio_codec)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(frame_pattern(i, width, height), format="rgb24")
            frame.pts = pts[i] if pts is not None else i
            if time_base is not None:
                frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio_stream is not None:
            _encode_audio(container, audio_stream, audio, audio_rate)
    return path


def make_audio(
    path: str | os.PathLike,
    waveform: np.ndarray,
    rate: int = 44100,
    codec: str | None = None,
    container_format: str | None = None,
    cover_art: bool = False,
) -> str:
    """Write an audio-only file from a ``(C, N)`` float32 waveform at ``rate`` Hz; return its path.

    ``cover_art`` adds a 32x32 MJPEG picture stream with the attached-picture disposition (as in .mp3 tags).
    """
    path = os.fspath(path)
    with av.open(path, "w", format=container_format) as container:
        stream = _add_audio_stream(container, path, waveform, rate, codec)
        if cover_art:
            cover = container.add_stream("mjpeg", rate=1)
            cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
            cover.disposition = av.stream.Disposition.attached_pic
            picture = av.VideoFrame.from_ndarray(frame_pattern(0, 32, 32), format="rgb24")
            picture.pts = 0
            container.mux(cover.encode(picture) + cover.encode())
        _encode_audio(container, stream, waveform, rate)
    return path


def _add_audio_stream(
    container: av.container.OutputContainer, path: str, waveform: np.ndarray, rate: int, codec: str | None
) -> av.AudioStream:
    if codec is None:
        codec = "pcm_s16le" if path.endswith((".wav", ".mkv", ".avi")) else "aac"
    layout = {1: "mono", 2: "stereo"}[waveform.shape[0]]
    return container.add_stream(codec, rate=rate, layout=layout)


def _encode_audio(
    container: av.container.OutputContainer, stream: av.AudioStream, waveform: np.ndarray, rate: int
) -> None:
    frame_size = stream.codec_context.frame_size or 1024
    for start in range(0, waveform.shape[1], frame_size):
        chunk = np.ascontiguousarray(waveform[:, start : start + frame_size], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=stream.layout.name)
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())

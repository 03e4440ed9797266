"""Seek-based 8-frame sampling (migr_hf.media.read_video_frames) against decoding every frame.

Encodes synthetic clips (libx264, smooth motion so that keyframes come only every ``--gops`` frames), then
times, over the same clips and in one run:

* migr-hf: ``read_video_frames(path, T)``, which seeks to the keyframe before each sampled index;
* baseline: decode every frame to an RGB array, then select the ``T`` indices of ``sample_frame_indices``
  (what ``torchvision.io.read_video`` + indexing, or decoding a whole clip with decord, does);
* decode-all lower bound: decode every frame but convert only the ``T`` selected ones to RGB (the best any
  decode-everything approach can do; printed for reference).

It checks that all three give identical frames and ends with the line ``ratio: <baseline time / migr-hf time>``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
from av.video.reformatter import VideoReformatter
import numpy as np

from migr_hf.media import read_video_frames, sample_frame_indices

logger = logging.getLogger(__name__)


def encode_clip(path: Path, seconds: float, fps: int, width: int, height: int, gop: int, seed: int) -> None:
    """Encode an H.264 MP4 of smoothly moving texture; keyframes every ``gop`` frames, B-frames on."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (height, 2 * width, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.gop_size = gop
        stream.options = {"preset": "veryfast", "x264-params": "scenecut=0"}
        for i in range(round(seconds * fps)):
            shift = (2 * i) % width
            image = texture[:, shift : shift + width].copy()
            image[..., 0] = (image[..., 0] // 2 + (xx + 3 * i) % 128).astype(np.uint8)
            image[..., 1] = (image[..., 1] // 2 + (yy + i) % 128).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def decode_all_then_select(path: Path, num_frames: int) -> np.ndarray:
    """Decode every frame to RGB, then select ``num_frames`` of them with the sampling rule.

    The conversion uses one shared reformatter, as `read_video_frames` does, so the comparison is about
    seeking and not about colour-conversion setup.
    """
    reformatter = VideoReformatter()
    with av.open(str(path)) as container:
        frames = [reformatter.reformat(frame, format="rgb24").to_ndarray() for frame in container.decode(video=0)]
    return np.stack([frames[i] for i in sample_frame_indices(len(frames), num_frames)])


def decode_all_convert_selected(path: Path, num_frames: int) -> np.ndarray:
    """Decode every frame (frame count from the container), converting only the selected ones to RGB."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        indices = sample_frame_indices(stream.frames, num_frames)
        wanted = set(indices.tolist())
        reformatter = VideoReformatter()
        selected = {
            i: reformatter.reformat(frame, format="rgb24").to_ndarray()
            for i, frame in enumerate(container.decode(stream))
            if i in wanted
        }
    return np.stack([selected[i] for i in indices.tolist()])


def time_methods(
    methods: dict[str, Callable[[Path, int], np.ndarray]], clips: list[Path], num_frames: int, repeat: int
) -> tuple[dict[str, float], dict[str, list[np.ndarray]]]:
    """Wall time in seconds of each method over ``clips`` (per clip, the best of ``repeat`` interleaved runs,
    which damps the noise of a shared machine) and each method's frames."""
    best = {name: [float("inf")] * len(clips) for name in methods}
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in methods}
    for attempt in range(repeat):
        for k, clip in enumerate(clips):
            for name, method in methods.items():
                start = time.perf_counter()
                frames = method(clip, num_frames)
                best[name][k] = min(best[name][k], time.perf_counter() - start)
                if attempt == 0:
                    outputs[name].append(frames)
    return {name: sum(times) for name, times in best.items()}, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips-per-gop", type=int, default=2, help="clips encoded for each GOP size")
    parser.add_argument("--gops", default="250,50", help="comma-separated keyframe intervals in frames")
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length in seconds")
    parser.add_argument("--fps", type=int, default=25, help="frame rate")
    parser.add_argument("--width", type=int, default=320, help="frame width in pixels")
    parser.add_argument("--height", type=int, default=240, help="frame height in pixels")
    parser.add_argument("--num-frames", type=int, default=8, help="frames sampled per clip (T)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per clip and method; the best is kept")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    gops = [int(gop) for gop in args.gops.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        clips_by_gop: dict[int, list[Path]] = {}
        start = time.perf_counter()
        for gop in gops:
            clips_by_gop[gop] = []
            for k in range(args.clips_per_gop):
                path = Path(tmp) / f"clip_gop{gop}_{k}.mp4"
                encode_clip(path, args.seconds, args.fps, args.width, args.height, gop, seed=k)
                clips_by_gop[gop].append(path)
        logger.info(
            "encoded %d clips of %.0f s, %dx%d @ %d fps, GOPs %s in %.1f s",
            sum(len(c) for c in clips_by_gop.values()),
            args.seconds,
            args.width,
            args.height,
            args.fps,
            gops,
            time.perf_counter() - start,
        )

        methods: dict[str, Callable[[Path, int], np.ndarray]] = {
            "migr-hf seek": read_video_frames,
            "baseline decode-all": decode_all_then_select,
            "decode-all, convert 8": decode_all_convert_selected,
        }
        totals = dict.fromkeys(methods, 0.0)
        for gop, clips in clips_by_gop.items():
            seconds, outputs = time_methods(methods, clips, args.num_frames, args.repeat)
            for name in methods:
                if not all(np.array_equal(a, b) for a, b in zip(outputs["migr-hf seek"], outputs[name], strict=True)):
                    raise SystemExit(f"GOP {gop}: {name} frames differ from migr-hf frames")
                totals[name] += seconds[name]
                logger.info("GOP %4d  %-22s %7.2f clips/s", gop, name, len(clips) / seconds[name])
        num_clips = sum(len(c) for c in clips_by_gop.values())
        logger.info("frames identical across methods: yes")
        for name, total in totals.items():
            logger.info("all GOPs  %-22s %7.2f clips/s", name, num_clips / total)
        logger.info("ratio vs decode-all, convert 8: %.2f", totals["decode-all, convert 8"] / totals["migr-hf seek"])
    print(f"ratio: {totals['baseline decode-all'] / totals['migr-hf seek']:.2f}")


if __name__ == "__main__":
    main()

"""8-frame sampling: migr-hf's seeking reader against decord's ``VideoReader.get_batch`` pattern (what HumanOmni runs).

HumanOmni reads a clip with ``decord.VideoReader(path)`` and ``get_batch(indices)`` of its 8 sampled indices.
decord does not install here, so the baseline re-implements with PyAV what decord does (read in
dmlc/decord ``src/video/video_reader.cc``: ``IndexKeyframes``, ``GetBatch``, ``SeekAccurate``, ``SkipFramesImpl``):

* opening the reader demuxes every packet of the video stream once (no decoding) to build the frame timestamp
  table and the keyframe list, then seeks back to the first frame;
* ``get_batch`` visits the indices in order (a repeated index is copied); for an index that is not the decoder's
  next frame, ``SeekAccurate`` decodes forward when the index lies ahead in the same keyframe interval, and
  otherwise seeks to the keyframe at or before the index and decodes forward from it. Every frame in between
  is decoded (then dropped before colour conversion); the target frame is converted to RGB.

It is not a decode-everything strawman: it seeks. migr-hf's ``read_video_frames`` differs in that it takes its
frame count and timestamps from the container instead of a demux pass, seeks only when a keyframe lies between
the decoder and the target, and does not decode the non-reference frames (B-frames) before a target. Also
printed for reference: decoding every frame, then indexing (``torchvision.io.read_video``).

Clips are synthetic H.264 MP4s (libx264, B-frames on, keyframes every ``--gops`` frames, smooth motion so that
there are no scene-cut keyframes), DFEW-length (2-5 s) and 30 s long. All readers use the same PyAV decoder
settings and must return identical frames. It prints the mean milliseconds per clip of each reader per clip
length, and ends with ``ratio: <decord-pattern time / migr-hf time>`` on the DFEW-length clips.

    python benchmarks/bench_frame_sampling.py [--short-seconds 2,3,4,5] [--long-seconds 30] [--gops 250,50]
"""

from __future__ import annotations

import argparse
import bisect
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from migr_hf.media import read_video_frames, sample_frame_indices


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


def decord_get_batch(path: Path, num_frames: int) -> np.ndarray:
    """decord's ``VideoReader(path).get_batch(sample_frame_indices(len(vr), T))``, re-implemented with PyAV."""
    reformatter = VideoReformatter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        # VideoReader(path): one demux pass over every packet builds the timestamp table and the keyframe list.
        packets = [(packet.pts, packet.is_keyframe) for packet in container.demux(stream) if packet.pts is not None]
        timestamps = sorted(pts for pts, _ in packets)
        position_of = {pts: index for index, pts in enumerate(timestamps)}
        keyframes = sorted(position_of[pts] for pts, key in packets if key)
        container.seek(timestamps[0], stream=stream, backward=True)
        decoded, position = container.decode(stream), 0  # position: index of the decoder's next frame

        def keyframe_before(index: int) -> int:
            return keyframes[max(bisect.bisect_right(keyframes, index) - 1, 0)]

        indices = sample_frame_indices(len(timestamps), num_frames).tolist()
        frames: dict[int, np.ndarray] = {}
        for index in indices:
            if index in frames:
                continue
            if index < position or keyframe_before(index) != keyframe_before(position):
                container.seek(timestamps[keyframe_before(index)], stream=stream, backward=True)
                decoded = container.decode(stream)
            for frame in decoded:  # frames before the target are decoded and dropped
                if frame.pts >= timestamps[index]:
                    break
            position = index + 1
            frames[index] = reformatter.reformat(frame, format="rgb24").to_ndarray()
    return np.stack([frames[index] for index in indices])


def decode_all_then_select(path: Path, num_frames: int) -> np.ndarray:
    """Decode every frame to RGB, then select ``num_frames`` of them (``torchvision.io.read_video`` + indexing)."""
    reformatter = VideoReformatter()
    with av.open(str(path)) as container:
        frames = [reformatter.reformat(frame, format="rgb24").to_ndarray() for frame in container.decode(video=0)]
    return np.stack([frames[i] for i in sample_frame_indices(len(frames), num_frames)])


READERS: dict[str, Callable[[Path, int], np.ndarray]] = {
    "migr-hf": read_video_frames,
    "decord get_batch pattern": decord_get_batch,
    "decode all (reference)": decode_all_then_select,
}


def time_readers(clips: list[Path], num_frames: int, repeat: int) -> dict[str, float]:
    """Mean seconds per clip of each reader over ``clips`` (per clip, the best of ``repeat`` interleaved runs, which
    damps the noise of a shared machine); checks that every reader returns migr-hf's frames."""
    best = {name: [float("inf")] * len(clips) for name in READERS}
    for attempt in range(repeat):
        for k, clip in enumerate(clips):
            outputs = {}
            for name, reader in READERS.items():
                start = time.perf_counter()
                outputs[name] = reader(clip, num_frames)
                best[name][k] = min(best[name][k], time.perf_counter() - start)
            if attempt == 0:
                for name, frames in outputs.items():
                    if not np.array_equal(frames, outputs["migr-hf"]):
                        raise SystemExit(f"{clip.name}: {name} frames differ from migr-hf's")
    return {name: sum(times) / len(times) for name, times in best.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short-seconds", default="2,3,4,5", help="lengths of the DFEW-length clips, comma-separated")
    parser.add_argument("--long-seconds", default="30,30", help="lengths of the long clips, comma-separated")
    parser.add_argument("--gops", default="250,50", help="keyframe intervals in frames (250: x264's default)")
    parser.add_argument("--fps", type=int, default=25, help="frame rate")
    parser.add_argument("--width", type=int, default=320, help="frame width in pixels")
    parser.add_argument("--height", type=int, default=240, help="frame height in pixels")
    parser.add_argument("--num-frames", type=int, default=8, help="frames sampled per clip (T)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per clip and reader; the best is kept")
    args = parser.parse_args(argv)
    gops = [int(gop) for gop in args.gops.split(",")]
    groups = {
        "2-5 s (DFEW length)": [float(s) for s in args.short_seconds.split(",")],
        "30 s": [float(s) for s in args.long_seconds.split(",")],
    }
    print(
        f"{args.width}x{args.height} H.264 @ {args.fps} fps, B-frames on, GOPs {gops} frames, "
        f"T={args.num_frames} frames per clip; ms per clip, best of {args.repeat} interleaved runs"
    )
    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:
        for group, lengths in groups.items():
            totals = dict.fromkeys(READERS, 0.0)
            for gop in gops:
                clips = []
                for k, seconds in enumerate(lengths):
                    path = Path(tmp) / f"clip_{seconds:g}s_gop{gop}_{k}.mp4"
                    encode_clip(path, seconds, args.fps, args.width, args.height, gop, seed=k)
                    clips.append(path)
                seconds_per_clip = time_readers(clips, args.num_frames, args.repeat)
                for name, value in seconds_per_clip.items():
                    totals[name] += value / len(gops)
                print(
                    f"{group:20s} GOP {gop:3d}: "
                    + ", ".join(f"{name} {1000 * value:6.1f}" for name, value in seconds_per_clip.items())
                )
            ratios[group] = totals["decord get_batch pattern"] / totals["migr-hf"]
            print(
                f"{group:20s} all GOPs: "
                + ", ".join(f"{name} {1000 * value:6.1f} ms/clip" for name, value in totals.items())
                + f"; ratio decord pattern / migr-hf {ratios[group]:.2f}"
            )
    print("frames identical across readers: yes")
    print(f"ratio (30 s clips): {ratios['30 s']:.2f}")
    print(f"ratio: {ratios['2-5 s (DFEW length)']:.2f}")


if __name__ == "__main__":
    main()

"""Modality Importance estimation: the scoring estimator (``loglik``) against generate-and-parse (``generate``).

Builds a random tiny MIGR-Omni checkpoint (`migr_hf.testing.tiny.build_tiny_checkpoint`) in a temporary folder, encodes
``--clips`` short clips with PyAV (H.264 frames + an AAC sine track), then runs, over the same records and with the
same model, batch size and driver batches:

* migr-hf: `LoglikMIEstimator`, one prompt forward + one batched candidate forward per batch, no generation;
* baseline: `GenerateMIEstimator`, greedy `generate` of ``--max-new-tokens`` tokens, answers parsed from the text.

Times are the best of ``--repeat`` interleaved runs of each (which damps the noise of a shared machine).

A random model almost never emits its end-of-turn token, so every generate call runs the full budget. The default
budget, 256 tokens, is the length of the reasoning the paper's generate-and-parse reads before the answer (EMER
reasonings average ~219 words; R1-Omni generates up to 512 tokens). Both estimators share the media work (one decode
per clip, Whisper log-mels, one vision + one audio tower pass per sample, counted with forward hooks), which the
breakdown reports separately: on a tiny model the Whisper encoder's fixed 1,500-frame attention is a large share of
it, which bounds the ratio. It prints samples/s of each, the agreement between
their audio-only / visual-only / audio-visual predictions (a random model seldom writes a parsable answer, so
agreement is low), and ends with ``ratio: <generate time / loglik time>``.

    python benchmarks/bench_mi.py [--clips 16] [--batch-size 8] [--max-new-tokens 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoProcessor

from migr_hf.data.modality_importance import CONDITIONS, MIPrediction
from migr_hf.data.records import SampleRecord
from migr_hf.labels import DFEW
from migr_hf.models.migr_omni.mi_estimation import BaseMIEstimator, GenerateMIEstimator, LoglikMIEstimator
from migr_hf.testing.tiny import build_tiny_checkpoint


def encode_clip(path: Path, num_frames: int, seed: int, fps: int = 25, size: int = 64, rate: int = 16000) -> None:
    """An H.264 MP4 of ``num_frames`` random-texture frames with a mono AAC sine track of the same length."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=rate, layout="mono")
        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode())
        seconds = num_frames / fps
        t = np.arange(round(seconds * rate)) / rate
        wave = (0.5 * np.sin(2 * np.pi * (200 + 40 * seed) * t)).astype(np.float32)[None]
        frame_size = audio.codec_context.frame_size or 1024
        for start in range(0, wave.shape[1], frame_size):
            chunk = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(wave[:, start : start + frame_size]), format="fltp", layout="mono"
            )
            chunk.sample_rate, chunk.time_base, chunk.pts = rate, Fraction(1, rate), start
            container.mux(audio.encode(chunk))
        container.mux(audio.encode())


class TowerCounter:
    """Rows seen by the vision tower (frames) and the audio tower (tracks), and time spent in `encode_media`."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.rows = {"vision": 0, "audio": 0}
        self.media_seconds = 0.0
        for name, module in (("vision", model.model.vision_tower), ("audio", model.model.audio_tower)):
            module.register_forward_hook(lambda m, args, out, name=name: self._count(name, args[0].shape[0]))

    def _count(self, name: str, rows: int) -> None:
        self.rows[name] += rows

    def reset(self) -> None:
        self.rows = {"vision": 0, "audio": 0}
        self.media_seconds = 0.0

    def time_media(self, estimator: BaseMIEstimator) -> None:
        encode: Callable = estimator.encode_media

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return encode(*args, **kwargs)
            finally:
                self.media_seconds += time.perf_counter() - start

        estimator.encode_media = timed


def run(estimator: BaseMIEstimator, records: list[SampleRecord], batch_size: int) -> tuple[list[MIPrediction], float]:
    """Predictions for ``records`` in driver-sized batches, and the wall time in seconds."""
    start = time.perf_counter()
    predictions = [
        p for i in range(0, len(records), batch_size) for p in estimator.predict(records[i : i + batch_size])
    ]
    return predictions, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=16, help="number of clips (samples)")
    parser.add_argument("--frames", type=int, default=25, help="frames per clip (25 fps, so also 1 s of audio each)")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per predict call (3 prompts each)")
    parser.add_argument(
        "--max-new-tokens", type=int, default=256, help="generation budget of the baseline (a reasoning's length)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="interleaved timed runs per estimator; the best counts")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        checkpoint = build_tiny_checkpoint(scratch / "tiny")
        records = []
        for index in range(args.clips):
            path = scratch / f"clip{index:03d}.mp4"
            encode_clip(path, args.frames, seed=index)
            records.append(
                SampleRecord(f"dfew-{index:05d}", "dfew", "train", str(path), DFEW.labels[index % 7], "dfew")
            )
        model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
        processor = AutoProcessor.from_pretrained(checkpoint)
        counter = TowerCounter(model)
        estimators = {
            "loglik": LoglikMIEstimator(model, processor),
            "generate": GenerateMIEstimator(model, processor, max_new_tokens=args.max_new_tokens),
        }
        for estimator in estimators.values():
            counter.time_media(estimator)
            estimator.predict(records[:2])  # warm-up

        print(
            f"{args.clips} clips x {args.frames} frames, batch {args.batch_size} (x3 condition prompts), "
            f"torch threads {torch.get_num_threads()}, generate max_new_tokens {args.max_new_tokens} (greedy)"
        )
        results, seconds, media, passes = {}, {}, {}, {}
        for _ in range(args.repeat):
            for name in ("generate", "loglik"):
                counter.reset()
                results[name], elapsed = run(estimators[name], records, args.batch_size)
                if elapsed < seconds.get(name, float("inf")):
                    seconds[name], media[name] = elapsed, counter.media_seconds
                passes[name] = (
                    counter.rows["vision"] / (len(records) * model.config.num_frames),
                    counter.rows["audio"] / len(records),
                )
        for name in ("generate", "loglik"):
            print(
                f"{name:>8}: {seconds[name]:7.2f} s  {len(records) / seconds[name]:6.2f} samples/s  "
                f"(media decode + towers {media[name]:5.2f} s, language model {seconds[name] - media[name]:5.2f} s)  "
                f"tower passes/sample: vision {passes[name][0]:g}, audio {passes[name][1]:g}"
            )

        parsed = sum(getattr(p, c) is not None for p in results["generate"] for c in CONDITIONS)
        print(f"generate: parsable answers {parsed}/{len(records) * len(CONDITIONS)}")
        agreements = []
        for condition in CONDITIONS:
            same = sum(
                DFEW.normalize(getattr(g, condition)) == getattr(s, condition)
                for g, s in zip(results["generate"], results["loglik"])
            )
            agreements.append(same)
            print(f"agreement {condition:>12}: {same}/{len(records)} ({same / len(records):.0%})")
        total = sum(agreements)
        print(f"agreement overall: {total}/{len(records) * len(CONDITIONS)} ({total / (len(records) * 3):.0%})")
        print(f"ratio: {seconds['generate'] / seconds['loglik']:.2f}")


if __name__ == "__main__":
    main()

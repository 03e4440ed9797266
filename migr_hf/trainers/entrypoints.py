"""Training runs as `examples/sft.py`, `examples/grpo.py` and `migr-hf sft|grpo` start them.

Arguments are trl's triple: `ScriptArguments` (dataset), the MIGR config (training) and `ModelConfig`
(model path, LoRA, 4-bit), parsed by `TrlParser` so a YAML recipe (`--config recipe.yaml`) and flags mix.
"""

import sys
from collections.abc import Sequence
from typing import TypeVar

import torch
from datasets import Dataset, DatasetDict, load_dataset
from transformers import AutoProcessor
from transformers.utils import logging
from trl import ModelConfig, ScriptArguments, TrlParser

from .grpo_config import MIGRGRPOConfig
from .grpo_trainer import MIGRGRPOTrainer
from .model_parts import load_migr_model, lora_config
from .sft_config import MIGRSFTConfig
from .sft_trainer import MIGRSFTTrainer

logger = logging.get_logger(__name__)
_Trainer = TypeVar("_Trainer", MIGRSFTTrainer, MIGRGRPOTrainer)


def load_training_data(script_args: ScriptArguments) -> tuple[Dataset, Dataset | None]:
    """Train (and, when present, eval) split of a dataset built by `migr-hf build-data`: a local directory or Hub id."""
    data = load_dataset(script_args.dataset_name, name=script_args.dataset_config)
    if not isinstance(data, DatasetDict) or script_args.dataset_train_split not in data:
        raise ValueError(f"{script_args.dataset_name}: no {script_args.dataset_train_split!r} split")
    return data[script_args.dataset_train_split], data.get(script_args.dataset_test_split)


def _model_and_peft(model_args: ModelConfig, training_args):
    if model_args.model_name_or_path is None:
        raise ValueError("pass --model_name_or_path (a MIGR-Omni checkpoint: local directory or Hub id)")
    dtype = model_args.dtype if model_args.dtype not in (None, "auto") else ("bfloat16" if training_args.bf16 else "float32")
    model = load_migr_model(
        model_args.model_name_or_path,
        dtype=getattr(torch, dtype) if isinstance(dtype, str) else dtype,
        load_in_4bit=model_args.load_in_4bit,
        attn_implementation=model_args.attn_implementation,
    )
    peft_config = None
    if model_args.use_peft:
        peft_config = lora_config(
            r=model_args.lora_r,
            alpha=model_args.lora_alpha,
            dropout=model_args.lora_dropout,
            target_modules=model_args.lora_target_modules,
            modules_to_save=model_args.lora_modules_to_save,
        )
    return model, AutoProcessor.from_pretrained(model_args.model_name_or_path), peft_config


def _train(
    trainer_class: type[_Trainer],
    script_args: ScriptArguments,
    training_args: MIGRSFTConfig | MIGRGRPOConfig,
    model_args: ModelConfig,
) -> _Trainer:
    """Load the data and model, train ``trainer_class`` (resuming when asked), save to `training_args.output_dir`."""
    train_dataset, eval_dataset = load_training_data(script_args)
    model, processor, peft_config = _model_and_peft(model_args, training_args)
    trainer = trainer_class(
        model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset if training_args.eval_strategy != "no" else None,
        processing_class=processor,
        peft_config=peft_config,
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    return trainer


def run_sft(script_args: ScriptArguments, training_args: MIGRSFTConfig, model_args: ModelConfig) -> MIGRSFTTrainer:
    """Modality-aligned SFT; saves the model and processor to `training_args.output_dir`."""
    return _train(MIGRSFTTrainer, script_args, training_args, model_args)


def run_grpo(script_args: ScriptArguments, training_args: MIGRGRPOConfig, model_args: ModelConfig) -> MIGRGRPOTrainer:
    """MIGR GRPO with the configured rewards; saves the model and processor to `training_args.output_dir`."""
    return _train(MIGRGRPOTrainer, script_args, training_args, model_args)


STAGES = {"sft": (MIGRSFTConfig, run_sft), "grpo": (MIGRGRPOConfig, run_grpo)}


def main(stage: str, argv: Sequence[str] | None = None):
    """Parse `argv` (default: the command line) for `stage` ("sft" or "grpo"), run it and, once every process has
    finished, destroy the process group: a gloo process left to interpreter teardown can abort (SIGABRT,
    "terminate called without an active exception") while another rank is still saving."""
    config_class, run = STAGES[stage]
    parser = TrlParser((ScriptArguments, config_class, ModelConfig), prog=f"migr-hf {stage}")
    script_args, training_args, model_args = parser.parse_args_and_config(
        args=list(argv) if argv is not None else sys.argv[1:]
    )
    trainer = run(script_args, training_args, model_args)
    trainer.accelerator.wait_for_everyone()
    trainer.accelerator.end_training()
    return trainer


__all__ = ["load_training_data", "main", "run_grpo", "run_sft"]

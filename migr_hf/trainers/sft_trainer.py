"""Modality-aligned SFT of MIGR-Omni on MI-reordered reasoning (paper section 3.1)."""

from typing import Any

from datasets import Dataset, IterableDataset
from peft import PeftConfig
from transformers import PreTrainedModel, ProcessorMixin
from trl import SFTTrainer

from .data_collator import MIGRDataCollator
from .model_parts import prepare_model
from .sft_config import MIGRSFTConfig


class MIGRSFTTrainer(SFTTrainer):
    """[`SFTTrainer`] for MIGR-Omni: clips are decoded and tokenized by [`MIGRDataCollator`], the loss covers the
    assistant completion only, and the towers (and the gate's BERT) stay frozen unless the config says otherwise.

    Args:
        model: A MIGR-Omni model or the path / Hub id of one.
        args: A [`MIGRSFTConfig`].
        train_dataset / eval_dataset: Rows with `prompt` (instruction), `completion` (target) and `video` (clip).
        processing_class: The model's processor; loaded from `model` when it is a path.
        peft_config: Optional LoRA config, e.g. `migr_hf.trainers.lora_config()`.
    """

    _tag_names = ["trl", "sft", "migr"]

    def __init__(
        self,
        model: str | PreTrainedModel,
        args: MIGRSFTConfig | None = None,
        train_dataset: Dataset | IterableDataset | None = None,
        eval_dataset: Dataset | IterableDataset | dict[str, Dataset] | None = None,
        processing_class: ProcessorMixin | None = None,
        peft_config: PeftConfig | None = None,
        data_collator: Any = None,
        **kwargs,
    ):
        args = args if args is not None else MIGRSFTConfig(output_dir="migr-sft")
        model, processing_class = prepare_model(model, processing_class, args, peft_config)
        data_collator = data_collator or MIGRDataCollator(
            processing_class, media_root=args.media_root, max_length=args.max_length
        )
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            peft_config=peft_config,
            **kwargs,
        )


__all__ = ["MIGRSFTTrainer"]

"""Configuration of modality-aligned SFT (paper section 3.1, hyperparameters of section 4.3)."""

from dataclasses import dataclass, field

from trl import SFTConfig

from .model_parts import MIGRModelPartsArguments


@dataclass
class MIGRSFTConfig(SFTConfig, MIGRModelPartsArguments):
    r"""[`SFTConfig`] with the paper's SFT defaults and the MIGR model-part switches.

    Paper defaults: 5 epochs, cosine schedule, warm-up ratio 0.03, learning rate 2e-5, global batch 32
    (`per_device_train_batch_size=4` on 8 GPUs; scale `gradient_accumulation_steps` to keep 32 on fewer).
    Sequences hold the media placeholders (2,068 tokens for HumanOmni-7B at 8 frames), so `max_length`
    defaults to 4096 and truncation never cuts into the prompt. The collator prepares the batches, so the
    dataset columns are kept and trl's dataset preparation is skipped.
    """

    num_train_epochs: float = field(default=5.0, metadata={"help": "Training epochs (paper: 5)."})
    learning_rate: float = field(default=2e-5, metadata={"help": "Peak learning rate (paper: 2e-5)."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule (paper: cosine)."})
    warmup_ratio: float = field(default=0.03, metadata={"help": "Warm-up share of the steps (paper: 0.03)."})
    per_device_train_batch_size: int = field(default=4, metadata={"help": "Clips per device per step."})
    max_length: int | None = field(default=4096, metadata={"help": "Longest sequence in tokens, placeholders included."})
    activation_checkpointing: bool | None = field(
        default=True,
        metadata={"help": "Recompute activations in the backward pass (trl's default, under transformers' name)."},
    )
    gradient_checkpointing: bool | None = field(
        default=None, metadata={"help": "Deprecated alias of activation_checkpointing (transformers >= 5.24)."}
    )
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep the clip columns for the collator."})
    dataset_kwargs: dict | None = field(
        default_factory=lambda: {"skip_prepare_dataset": True},
        metadata={"help": "trl dataset preparation is skipped: the MIGR collator tokenizes."},
    )


__all__ = ["MIGRSFTConfig"]

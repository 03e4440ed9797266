"""The one config of the synthetic benchmark: corpus size, model sizes, which parts train, learning rates, steps.

Sizes are chosen so that the whole pipeline learns on 2 CPU cores: 64 px frames with 8 px patches, 4 frames,
a 2 s audio window (33 audio tokens instead of Whisper's 500 for 30 s) and a 2-layer language model.
`BenchmarkConfig.quickstart()` is the reduced single arm of `migr-hf quickstart`, `BenchmarkConfig.ci()` the
reduced run of the CI test.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from .corpus import CorpusSpec

ARMS = ("r1_omni", "migr_sft", "migr_sft_rewards")
ARM_TITLES = {
    "r1_omni": "(i) R1-Omni style: visual-first order, answer + format rewards",
    "migr_sft": "(ii) MIGR SFT only",
    "migr_sft_rewards": "(iii) MIGR SFT + MIGR rewards",
}


@dataclass
class BenchmarkConfig:
    """Every size, learning rate and trainable part of the benchmark pipeline.

    Stages: tower warm-up (`warmup_*`, standing in for SigLIP/Whisper pretraining: each tower with a linear
    head learns the emotion its modality shows), base recognition training (`base_*`: answer-only targets with
    random audio-only / visual-only / audio-visual inputs), Modality Importance (`mi_*`), MI-ordered SFT
    (`sft_*`) and GRPO (`grpo_*`). `train_*` name the parts that train in the base, SFT and GRPO stages.
    """

    corpus: CorpusSpec = field(default_factory=CorpusSpec)
    fold: int = 5  # DFEW fold: its train split trains, its test split is held out
    # model
    num_frames: int = 4
    audio_seconds: int = 2
    image_size: int = 64
    patch_size: int = 8
    # tower warm-up
    warmup_epochs: int = 12
    warmup_learning_rate: float = 2e-3
    warmup_batch_size: int = 32
    # base recognition model (answer-only, modality dropout)
    base_steps: int = 300
    base_learning_rate: float = 2e-3
    base_batch_size: int = 16
    modality_dropout: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)  # audio-only, visual-only, audio-visual
    train_vision_tower: bool = True
    train_audio_tower: bool = True
    train_projectors: bool = True
    train_language_model: bool = True
    # Modality Importance
    mi_method: str = "generate"  # the builders' default estimator
    mi_batch_size: int = 16
    # MI-ordered SFT
    sft_steps: int = 200
    sft_learning_rate: float = 1e-3
    sft_batch_size: int = 8
    # GRPO
    grpo_steps: int = 30
    grpo_learning_rate: float = 2e-5
    grpo_generations: int = 4
    grpo_prompts_per_step: int = 2
    grpo_temperature: float = 1.0
    max_completion_length: int = 96
    # evaluation
    eval_batch_size: int = 16
    seed: int = 0

    @classmethod
    def quickstart(cls) -> BenchmarkConfig:
        """The reduced single arm of `migr-hf quickstart` (target: at most 8 minutes on 2 CPU cores)."""
        return cls(corpus=CorpusSpec(num_dfew=250, num_emer=50), warmup_epochs=8, base_steps=150, sft_steps=80, grpo_steps=6)

    @classmethod
    def ci(cls) -> BenchmarkConfig:
        """The reduced, fixed-seed run of the CI learning test."""
        return cls(
            corpus=CorpusSpec(num_dfew=150, num_emer=20, duration_s=(2.0, 2.5)),
            warmup_epochs=8,
            base_steps=100,
            sft_steps=10,
            grpo_steps=1,
            grpo_generations=2,
            grpo_prompts_per_step=1,
            max_completion_length=16,
        )

    def replace(self, **changes: Any) -> BenchmarkConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BenchmarkConfig:
        values = dict(values)
        if isinstance(values.get("corpus"), dict):
            corpus = {k: tuple(v) if isinstance(v, list) else v for k, v in values["corpus"].items()}
            values["corpus"] = CorpusSpec(**corpus)
        if isinstance(values.get("modality_dropout"), list):
            values["modality_dropout"] = tuple(values["modality_dropout"])
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown benchmark config field(s): {sorted(unknown)}")
        return cls(**values)


__all__ = ["ARMS", "ARM_TITLES", "BenchmarkConfig"]

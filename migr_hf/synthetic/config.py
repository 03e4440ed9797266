"""The one config of the synthetic benchmark: corpus size, model sizes, which parts train, learning rates, steps.

Sizes are chosen so that the whole pipeline learns on 2 CPU cores: 64 px frames with 8 px patches, 4 frames,
a 2 s audio window (33 audio tokens instead of Whisper's 500 for 30 s), a 3-layer, 128-wide language model and a
BPE tokenizer trained on the domain's text. `BenchmarkConfig.quickstart()` is the reduced single arm of
`migr-hf quickstart`, `BenchmarkConfig.ci()` the reduced run of the CI learning test (`migr-hf quickstart --reduced`).
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
    head learns the emotion its modality clearly shows, from generated faces and voices that are not corpus
    clips), base recognition training (`base_*`: answer-only targets with random audio-only / visual-only /
    audio-visual inputs), Modality Importance (`mi_*`), MI-ordered SFT
    (`sft_*`) and GRPO (`grpo_*`). `train_*` name the parts that train in the base stage; SFT and GRPO train the
    language model, and the projectors only with `finetune_projectors`.
    """

    corpus: CorpusSpec = field(default_factory=CorpusSpec)
    fold: int = 5  # DFEW fold: its train split trains, its test split is held out
    # model
    num_frames: int = 4
    audio_seconds: int = 2
    image_size: int = 64
    patch_size: int = 8
    vocab_size: int = 1500  # BPE tokenizer trained on the domain's text (`recognition.domain_texts`)
    text_hidden_size: int = 128
    text_layers: int = 3
    # tower warm-up: SigLIP on freshly rendered faces (steps x batch), Whisper on freshly synthesized voices
    warmup_vision_steps: int = 250
    warmup_vision_batch_size: int = 64
    warmup_audio_clips: int = 500
    warmup_audio_epochs: int = 8
    warmup_batch_size: int = 32
    warmup_audio_input_gain: float = 10.0
    warmup_learning_rate: float = 2e-3
    # base recognition model (answer-only, modality dropout)
    base_steps: int = 200
    base_learning_rate: float = 2e-3
    base_batch_size: int = 16
    modality_dropout: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)  # audio-only, visual-only, audio-visual
    train_vision_tower: bool = False  # base training only: the warm-up pretrained the towers
    train_audio_tower: bool = False
    train_projectors: bool = True
    train_language_model: bool = True
    # SFT and GRPO train the language model; the projectors keep what base training taught them (trained in SFT
    # too, the media-to-text mapping drifted with the reasoning text: held-out WAR 64% instead of 86% on one seed)
    finetune_projectors: bool = False
    # Modality Importance
    mi_method: str = "generate"  # the builders' default estimator
    mi_batch_size: int = 16
    # MI-ordered SFT
    sft_steps: int = 300
    sft_learning_rate: float = 3e-3
    sft_batch_size: int = 8
    # GRPO
    grpo_steps: int = 20
    grpo_learning_rate: float = 5e-5
    grpo_generations: int = 4
    grpo_prompts_per_step: int = 2
    grpo_temperature: float = 1.0
    max_completion_length: int = 160
    # evaluation
    eval_batch_size: int = 16
    seed: int = 0

    @classmethod
    def quickstart(cls) -> BenchmarkConfig:
        """The reduced single arm of `migr-hf quickstart` (target: at most 8 minutes on 2 CPU cores)."""
        return cls(corpus=CorpusSpec(num_dfew=250, num_emer=150), base_steps=150, grpo_steps=6)

    @classmethod
    def ci(cls) -> BenchmarkConfig:
        """The reduced, fixed-seed run of the CI learning test."""
        return cls(
            corpus=CorpusSpec(num_dfew=150, num_emer=20, duration_s=(2.0, 2.5)),
            base_steps=150,
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

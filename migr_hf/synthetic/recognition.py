"""The base recognition model of the synthetic benchmark, standing in for HumanOmni.

1. `build_base_checkpoint`: a small random MIGR-Omni (`migr_hf.tiny`) sized by the `BenchmarkConfig` (frames,
   image/patch size, a short Whisper window).
2. `warm_up_towers`: the stand-in for SigLIP / Whisper pretraining. Random towers hide the clip content (random
   Whisper states differ between clips by under 1% of their spread; a random SigLIP at 64 px barely separates
   the faces), which real pretrained towers do not. So each tower, with a linear head on its mean-pooled states,
   is trained for a few epochs to classify the emotion *its own modality* shows (face emotion for SigLIP, voice
   emotion for Whisper). The heads are discarded; only the towers keep the warm-up.
3. `train_base_model`: `MIGRSFTTrainer` on answer-only targets with random modality dropout: every row is shown
   audio-only, visual-only or audio-visual, and its target is what that input shows (the voice's emotion, the
   face's emotion, the label), under the two instructions the Modality Importance estimators use
   (``<answer>x</answer>`` for the generate estimator's R1-Omni question, the bare word for the log-likelihood
   estimator's one-word question). So the model's unimodal predictions mean something, as the paper assumes of
   HumanOmni.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoProcessor, WhisperFeatureExtractor

from ..data.modality_importance import CONDITIONS
from ..data.records import SampleRecord, video_source
from ..labels import get_label_set
from ..media import read_audio, read_video_frames
from ..models.migr_omni.mi_estimation import GENERATE_INSTRUCTION, LOGLIK_INSTRUCTION, format_instruction
from ..schema import ANSWER_CLOSE, ANSWER_OPEN, COMPLETION, ID, LABEL, PROMPT, VIDEO
from ..testing.tiny import build_tiny_checkpoint
from ..trainers import MIGRSFTConfig, MIGRSFTTrainer
from ..trainers.data_collator import CONDITION, MIGRDataCollator
from .config import BenchmarkConfig
from .corpus import EMOTIONS

logger = logging.getLogger(__name__)


def build_base_checkpoint(output_dir: str | os.PathLike, config: BenchmarkConfig, seed: int = 0) -> Path:
    """A random MIGR-Omni of the benchmark's sizes and its processor (Whisper window `config.audio_seconds`)."""
    output_dir = Path(output_dir)
    positions = config.audio_seconds * 50  # Whisper: 100 mel frames per second, conv stride 2
    build_tiny_checkpoint(
        output_dir,
        seed=seed,
        num_frames=config.num_frames,
        vision_config=dict(image_size=config.image_size, patch_size=config.patch_size),
        audio_config=dict(max_source_positions=positions),
    )
    processor = AutoProcessor.from_pretrained(output_dir)
    processor.feature_extractor = WhisperFeatureExtractor(
        feature_size=processor.feature_extractor.feature_size, chunk_length=config.audio_seconds
    )
    processor.save_pretrained(output_dir)
    return output_dir


@dataclass
class WarmupResult:
    """Per-tower accuracy of the warm-up heads on the training clips and on held-out clips (emotion shown)."""

    vision_train: float
    vision_heldout: float
    audio_train: float
    audio_heldout: float
    epochs: int

    def to_dict(self) -> dict[str, float]:
        return dict(vars(self))


def encode_clips(processor, videos: Sequence[str], batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """`(N, T, 3, S, S)` frames and `(N, n_mels, frames)` log-mels of each clip, decoded once."""
    pixels, mels = [], []
    for start in tqdm(range(0, len(videos), batch_size), desc="decode clips", unit="batch", disable=len(videos) < 64):
        chunk = list(videos[start : start + batch_size])
        inputs = processor(text=["<video>\n<audio>\n"] * len(chunk), videos=chunk, audio=chunk)
        pixels.append(inputs["pixel_values_videos"])
        mels.append(inputs["input_features"])
    return torch.cat(pixels), torch.cat(mels)


def warm_up_towers(
    model_dir: str | os.PathLike,
    train: Sequence[Mapping[str, Any]],
    heldout: Sequence[Mapping[str, Any]],
    config: BenchmarkConfig,
) -> WarmupResult:
    """Train each tower with a linear head on the emotion its modality shows; save the model in place.

    Args:
        train / heldout: Ground-truth rows (``video``, ``face``, ``voice``) of the training and held-out clips.
    """
    torch.manual_seed(config.seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)
    base = model.model
    classes = {emotion: index for index, emotion in enumerate(EMOTIONS)}
    data = {}
    for name, rows in (("train", train), ("heldout", heldout)):
        pixels, mels = encode_clips(processor, [row[VIDEO] for row in rows])
        faces = torch.tensor([classes[row["face"]] for row in rows])
        voices = torch.tensor([classes[row["voice"]] for row in rows])
        data[name] = (pixels, mels, faces, voices)
    vision_head = torch.nn.Linear(base.vision_tower.config.hidden_size, len(EMOTIONS))
    audio_head = torch.nn.Linear(base.audio_tower.config.d_model, len(EMOTIONS))

    def logits(pixels: torch.Tensor, mels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vision = base.get_vision_tower_states(pixels).mean(dim=(1, 2))
        audio = base.get_audio_tower_states(mels).mean(dim=1)
        return vision_head(vision), audio_head(audio)

    parameters = [*base.vision_tower.parameters(), *base.audio_tower.parameters()]
    parameters += [*vision_head.parameters(), *audio_head.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=config.warmup_learning_rate)
    pixels, mels, faces, voices = data["train"]
    size = config.warmup_batch_size
    model.train()
    for _ in tqdm(range(config.warmup_epochs), desc="tower warm-up", unit="epoch"):
        order = torch.randperm(len(faces))
        for start in range(0, len(order), size):
            index = order[start : start + size]
            vision_logits, audio_logits = logits(pixels[index], mels[index])
            loss = torch.nn.functional.cross_entropy(vision_logits, faces[index])
            loss = loss + torch.nn.functional.cross_entropy(audio_logits, voices[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    accuracy = {}
    with torch.no_grad():
        for name, (pixels, mels, faces, voices) in data.items():
            vision_logits, audio_logits = logits(pixels, mels)
            accuracy[name] = (
                (vision_logits.argmax(-1) == faces).float().mean().item(),
                (audio_logits.argmax(-1) == voices).float().mean().item(),
            )
    model.save_pretrained(model_dir)
    return WarmupResult(
        vision_train=accuracy["train"][0],
        vision_heldout=accuracy["heldout"][0],
        audio_train=accuracy["train"][1],
        audio_heldout=accuracy["heldout"][1],
        epochs=config.warmup_epochs,
    )


def condition_target(row: Mapping[str, Any], condition: str) -> str:
    """What an input condition shows: the voice's emotion, the face's emotion, or (audio-visual) the label."""
    return {"audio_only": row["voice"], "visual_only": row["face"], "audio_visual": row[LABEL]}[condition]


@dataclass
class DecodedMediaCollator(MIGRDataCollator):
    """`MIGRDataCollator` that decodes each clip once (its sampled frames and its audio window) and keeps the
    arrays in memory, so that later epochs skip the video decoding that dominates a small model's step on CPU."""

    def __post_init__(self) -> None:
        self._decoded: dict[str, tuple[Any, Any]] = {}

    def media_sources(self, row: Mapping[str, Any]) -> tuple[Any, Any]:
        clip = video_source(row, self.media_root)
        if not isinstance(clip, str):
            return clip, clip
        if clip not in self._decoded:
            extractor = self.processor.feature_extractor
            frames = read_video_frames(clip, num_frames=self.processor.num_frames)
            waveform = read_audio(clip, sampling_rate=extractor.sampling_rate, max_duration_s=extractor.n_samples / extractor.sampling_rate)
            self._decoded[clip] = (np.stack(frames), waveform)
        return self._decoded[clip]


@dataclass
class ModalityDropoutCollator(DecodedMediaCollator):
    """`MIGRDataCollator` that shows each row under a random condition (`weights`: audio-only, visual-only,
    audio-visual) with one of the two estimator instructions, and targets what that input shows."""

    weights: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    label_set: str = "dfew"
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._rng = random.Random(self.seed)
        labels = get_label_set(self.label_set)
        self._instructions = (
            (GENERATE_INSTRUCTION, ANSWER_OPEN + "{}" + ANSWER_CLOSE),
            (format_instruction(LOGLIK_INSTRUCTION, labels), "{}"),
        )

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        shown = []
        for row in rows:
            condition = self._rng.choices(CONDITIONS, weights=self.weights)[0]
            instruction, template = self._rng.choice(self._instructions)
            target = condition_target(row, condition)
            shown.append({**row, CONDITION: condition, PROMPT: instruction, COMPLETION: template.format(target)})
        return super().__call__(shown)


def train_base_model(
    model_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    rows: Sequence[Mapping[str, Any]],
    config: BenchmarkConfig,
) -> list[dict[str, Any]]:
    """Answer-only training with modality dropout (`ModalityDropoutCollator`); returns the trainer's log."""
    dataset = Dataset.from_list([{k: row[k] for k in (ID, VIDEO, LABEL, "face", "voice")} for row in rows])
    args = MIGRSFTConfig(
        output_dir=str(output_dir),
        max_steps=config.base_steps,
        learning_rate=config.base_learning_rate,
        warmup_ratio=0.05,
        per_device_train_batch_size=config.base_batch_size,
        train_vision_tower=config.train_vision_tower,
        train_audio_tower=config.train_audio_tower,
        train_projectors=config.train_projectors,
        train_language_model=config.train_language_model,
        **trainer_args(config),
    )
    processor = AutoProcessor.from_pretrained(model_dir)
    collator = ModalityDropoutCollator(processor, max_length=args.max_length, weights=config.modality_dropout, seed=config.seed)
    trainer = MIGRSFTTrainer(str(model_dir), args=args, train_dataset=dataset, processing_class=processor, data_collator=collator)
    trainer.train()
    trainer.save_model(str(output_dir))
    processor.save_pretrained(str(output_dir))
    return trainer.state.log_history


def trainer_args(config: BenchmarkConfig) -> dict[str, Any]:
    """Arguments every trainer of the benchmark shares (CPU, no checkpoints, quiet)."""
    return dict(
        logging_steps=5,
        save_strategy="no",
        report_to="none",
        seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        activation_checkpointing=False,
        disable_tqdm=True,
    )


def records_with_truth(records: Sequence[SampleRecord], truth: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Reader records joined with their ground-truth rows (``face``, ``voice``, ``dominant``, ...)."""
    missing = [record.id for record in records if record.id not in truth]
    if missing:
        raise KeyError(f"{len(missing)} record(s) without ground truth, e.g. {missing[:3]}")
    return [{**truth[record.id], **record.to_dict()} for record in records]


__all__ = [
    "DecodedMediaCollator",
    "ModalityDropoutCollator",
    "WarmupResult",
    "build_base_checkpoint",
    "condition_target",
    "records_with_truth",
    "train_base_model",
    "trainer_args",
    "warm_up_towers",
]

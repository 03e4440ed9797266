"""The base recognition model of the synthetic benchmark, standing in for HumanOmni.

1. `build_base_checkpoint`: a small random MIGR-Omni (`migr_hf.tiny`) sized by the `BenchmarkConfig` (frames,
   image/patch size, a short Whisper window).
2. `warm_up_towers`: the stand-in for SigLIP / Whisper pretraining. Random towers hide the clip content (random
   Whisper states differ between clips by under 1% of their spread; a random SigLIP at 64 px barely separates
   the faces), which real pretrained towers do not. So each tower, with a linear head on its mean-pooled states,
   learns the emotion *its own modality* clearly shows, from data of its own as real pretraining is: SigLIP from
   freshly rendered face images, Whisper from freshly synthesized voices. The heads are discarded.
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

from ..data.fau import FAUEvidence
from ..data.modality_importance import CONDITIONS
from ..data.reasoning_writer import TemplateReasoningWriter
from ..data.records import SampleRecord, video_source
from ..labels import get_label_set
from ..media import read_audio, read_video_frames
from ..models.migr_omni.mi_estimation import GENERATE_INSTRUCTION, LOGLIK_INSTRUCTION, format_instruction
from ..schema import ANSWER_CLOSE, ANSWER_OPEN, COMPLETION, ID, LABEL, PROMPT, VIDEO
from ..testing.sample_data import AU_PATTERNS
from ..testing.tiny import build_tiny_checkpoint
from ..trainers import MIGRSFTConfig, MIGRSFTTrainer
from ..trainers.data_collator import CONDITION, MIGRDataCollator
from .config import BenchmarkConfig
from .corpus import (
    AUDIO_CUES,
    EMOTIONS,
    SUBTITLE_POOL,
    VISUAL_CUES,
    CorpusSpec,
    render_face_images,
    sample_clip_specs,
    shown_emotion,
    synthesize_voices,
)

logger = logging.getLogger(__name__)


def domain_texts(spec: CorpusSpec) -> list[str]:
    """The text the benchmark's tokenizer is trained on, standing in for a pretrained tokenizer that covers the
    domain: every clip's EMER-style reasoning and subtitle, the cue phrases, and the FAU template reasoning of the
    data pipeline for each emotion's AU pattern at the peak times the clips have."""
    texts = [f"{clip.reasoning()} {clip.subtitle}" for clip in sample_clip_specs(spec)]
    texts += [cue for cues in (*VISUAL_CUES.values(), *AUDIO_CUES.values(), *SUBTITLE_POOL.values()) for cue in cues]
    writer = TemplateReasoningWriter()
    for emotion in EMOTIONS:
        aus = AU_PATTERNS[emotion]
        record = SampleRecord(id="dfew-0", source="dfew", split="train", video=None, label=emotion, label_set="dfew")
        for tenth in range(int(10 * spec.duration_s[1] / 2) + 1):
            evidence = FAUEvidence(
                frame=tenth + 1,
                timestamp=tenth / 10,
                active_aus={au: 2.5 for au in aus},
                present_aus=aus,
                matched={emotion: 2.5} if aus else {},
                matched_aus={emotion: aus} if aus else {},
                num_peaks=1,
            )
            texts.append(writer.write(record, evidence, emotion))
    return texts


def build_base_checkpoint(output_dir: str | os.PathLike, config: BenchmarkConfig, seed: int = 0) -> Path:
    """A random MIGR-Omni of the benchmark's sizes and its processor (Whisper window `config.audio_seconds`), with
    a tokenizer trained on `domain_texts`."""
    output_dir = Path(output_dir)
    positions = config.audio_seconds * 50  # Whisper: 100 mel frames per second, conv stride 2
    build_tiny_checkpoint(
        output_dir,
        seed=seed,
        tokenizer_texts=domain_texts(config.corpus),
        tokenizer_vocab_size=config.vocab_size,
        num_frames=config.num_frames,
        vision_config=dict(image_size=config.image_size, patch_size=config.patch_size),
        audio_config=dict(max_source_positions=positions),
        text_config=dict(
            hidden_size=config.text_hidden_size,
            intermediate_size=2 * config.text_hidden_size,
            num_hidden_layers=config.text_layers,
        ),
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
    vision_steps: int
    audio_epochs: int

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
    """Pretrain each tower with a linear head on what its modality clearly shows; save the model in place.

    SigLIP learns from a stream of freshly rendered face images (`render_face_images`),
    `config.warmup_vision_steps` batches; Whisper from `config.warmup_audio_clips` freshly synthesized voices
    (`synthesize_voices`), `config.warmup_audio_epochs` epochs; neither sees a corpus clip. Whisper's conv weights
    are first multiplied by `config.warmup_audio_input_gain`
    (at random init the fixed position embeddings swamp the conv output; pretrained Whisper does not have that
    problem). Targets are `shown_emotion` (a faint distractor counts as neutral). The heads are discarded.

    Args:
        train / heldout: Ground-truth rows (``video``, ``face``, ``voice`` and their intensities) of the training and
            held-out clips; held-out clips are only scored.
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng([config.seed, 1])
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)
    base = model.model
    classes = {emotion: index for index, emotion in enumerate(EMOTIONS)}
    data = {}
    for name, rows in (("train", train), ("heldout", heldout)):
        pixels, mels = encode_clips(processor, [row[VIDEO] for row in rows])
        faces = torch.tensor([classes[shown_emotion(row, "face")] for row in rows])
        voices = torch.tensor([classes[shown_emotion(row, "voice")] for row in rows])
        data[name] = (pixels, mels, faces, voices)
    vision_head = torch.nn.Linear(base.vision_tower.config.hidden_size, len(EMOTIONS))
    audio_head = torch.nn.Linear(base.audio_tower.config.d_model, len(EMOTIONS))

    def vision_logits(pixels: torch.Tensor) -> torch.Tensor:
        return vision_head(base.get_vision_tower_states(pixels).mean(dim=(1, 2)))

    def audio_logits(mels: torch.Tensor) -> torch.Tensor:
        return audio_head(base.get_audio_tower_states(mels).mean(dim=1))

    def fit(parameters: list[torch.nn.Parameter], batches: Any, loss_of: Any, description: str, total: int) -> None:
        optimizer = torch.optim.AdamW(parameters, lr=config.warmup_learning_rate)
        for batch in tqdm(batches, desc=description, total=total, unit="batch"):
            loss = loss_of(*batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    def face_batches() -> Any:
        for _ in range(config.warmup_vision_steps):
            images, labels = render_face_images(
                rng, config.warmup_vision_batch_size, config.image_size, weak_intensity=config.corpus.weak_intensity
            )
            pixels = processor.image_processor(images=images, return_tensors="pt")["pixel_values"][:, None]
            yield pixels, torch.tensor([classes[label] for label in labels])

    def voice_batches() -> Any:
        waveforms, labels = synthesize_voices(
            rng, config.warmup_audio_clips, config.audio_seconds, weak_intensity=config.corpus.weak_intensity
        )
        mels = processor.feature_extractor(
            waveforms, sampling_rate=processor.feature_extractor.sampling_rate, return_tensors="pt"
        )["input_features"]
        voices = torch.tensor([classes[label] for label in labels])
        for _ in range(config.warmup_audio_epochs):
            order = torch.randperm(len(voices))
            for start in range(0, len(order), config.warmup_batch_size):
                index = order[start : start + config.warmup_batch_size]
                yield mels[index], voices[index]

    with torch.no_grad():
        for conv in (base.audio_tower.conv1, base.audio_tower.conv2):
            conv.weight.mul_(config.warmup_audio_input_gain)
    model.train()
    fit(
        [*base.vision_tower.parameters(), *vision_head.parameters()],
        face_batches(),
        lambda pixels, labels: torch.nn.functional.cross_entropy(vision_logits(pixels), labels),
        "vision tower warm-up",
        config.warmup_vision_steps,
    )
    audio_steps = config.warmup_audio_epochs * -(-config.warmup_audio_clips // config.warmup_batch_size)
    fit(
        [*base.audio_tower.parameters(), *audio_head.parameters()],
        voice_batches(),
        lambda mels, labels: torch.nn.functional.cross_entropy(audio_logits(mels), labels),
        "audio tower warm-up",
        audio_steps,
    )
    model.eval()
    accuracy = {}
    with torch.no_grad():
        for name, (pixels, mels, faces, voices) in data.items():
            accuracy[name] = (
                (vision_logits(pixels).argmax(-1) == faces).float().mean().item(),
                (audio_logits(mels).argmax(-1) == voices).float().mean().item(),
            )
    model.save_pretrained(model_dir)
    return WarmupResult(
        vision_train=accuracy["train"][0],
        vision_heldout=accuracy["heldout"][0],
        audio_train=accuracy["train"][1],
        audio_heldout=accuracy["heldout"][1],
        vision_steps=config.warmup_vision_steps,
        audio_epochs=config.warmup_audio_epochs,
    )


def condition_target(row: Mapping[str, Any], condition: str) -> str:
    """What an input condition clearly shows: the voice's or the face's `shown_emotion`, or (audio-visual) the label."""
    if condition == "audio_visual":
        return row[LABEL]
    return shown_emotion(row, {"audio_only": "voice", "visual_only": "face"}[condition])


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
    columns = (ID, VIDEO, LABEL, "face", "voice", "face_intensity", "voice_intensity")
    dataset = Dataset.from_list([{k: row[k] for k in columns} for row in rows])
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
    "domain_texts",
    "records_with_truth",
    "train_base_model",
    "trainer_args",
    "warm_up_towers",
]

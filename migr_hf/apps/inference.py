"""`EmotionReasoner`: clip(s) in, emotion and modality-segmented reasoning out.

>>> reasoner = EmotionReasoner.from_pretrained("path/or/hub-id", label_set="dfew")
>>> result = reasoner("clip.mp4")                       # audio + video
>>> result.emotion, result.first_modality, result.audio_reasoning
>>> reasoner(["a.mp4", "b.mp4"], mode="audio")          # audio-only batch

A batch always finishes: a clip that cannot be used (unreadable, or lacking a modality that ``mode`` asks for)
gets a `ClipError` in its place, and the other clips their `EmotionPrediction`.
"""

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoProcessor, BatchFeature, PreTrainedModel, ProcessorMixin
from transformers.utils import logging

from ..conversation import build_conversation
from ..data.records import SampleRecord
from ..generation import GenerationEngine, GenerationOptions, build_engine
from ..labels import LabelSet, get_label_set
from ..media import MediaError, probe_media, source_name
from ..parsing import AUDIO_SEGMENT, VISUAL_SEGMENT, parse_completion
from ..schema import COMPLETION, ID, LABEL, MIGR_INSTRUCTION

logger = logging.get_logger(__name__)

Clip = str | os.PathLike | bytes | Mapping[str, Any]
Mode = Literal["audio+video", "video", "audio"]
MODES: tuple[str, ...] = ("audio+video", "video", "audio")


@dataclass(frozen=True)
class EmotionPrediction:
    """What the model said about one clip.

    Attributes:
        emotion: The answer as a label word of the reasoner's label set (`None` when it is not one), or the
            stripped lower-case answer when the reasoner has no label set.
        answer: Raw text inside `<answer>`.
        audio_reasoning / visual_reasoning / think: Text of the `<aud_desc>`, `<vis_desc>` and `<think>` segments.
        first_modality: `"audio"` or `"visual"`: the modality segment the reasoning starts with, if any.
        well_formed: Whether the completion has exactly the MIGR structure.
        raw_text: The decoded completion.
        mode: The input condition, `"audio+video"`, `"video"` or `"audio"`.
    """

    emotion: str | None
    answer: str | None
    audio_reasoning: str | None
    visual_reasoning: str | None
    think: str | None
    first_modality: Literal["audio", "visual"] | None
    well_formed: bool
    raw_text: str
    mode: str


@dataclass(frozen=True)
class ClipError:
    """A clip of a batch that got no prediction.

    Attributes:
        clip: How the clip is named (path, or ``<bytes, N B>``).
        error: What is wrong, e.g. ``"clip.mp4: no audio stream (mode 'audio' needs one)"``.
        mode: The input condition asked for.
    """

    clip: str
    error: str
    mode: str


_NEEDS = {"audio+video": ("video", "audio"), "video": ("video",), "audio": ("audio",)}
_CLIP_ERRORS = (ValueError, OSError)  # MediaError is a ValueError


class EmotionReasoner:
    """Runs a MIGR-Omni model on clips with its processor and parses the MIGR-formatted answers.

    Args:
        model: A loaded `MIGROmniForCausalLM`.
        processor: Its `MIGROmniProcessor`.
        label_set: Label vocabulary (`"dfew"`, `"mafw"`, `"emer"` or a `LabelSet`) answers are normalised to.
        instruction: The user instruction; defaults to the MIGR instruction the SFT data uses.
        max_new_tokens: Generation budget per clip.
        generation_backend: `"hf"` (transformers `generate`, default) or `"vllm"` (vLLM on the exported
            language model fed with prompt embeddings; see `migr_hf.generation`).
        engine: A ready generation engine (overrides `generation_backend`).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        label_set: str | LabelSet | None = None,
        instruction: str = MIGR_INSTRUCTION,
        max_new_tokens: int = 512,
        generation_backend: str = "hf",
        engine: GenerationEngine | None = None,
    ):
        self.model = model.eval()
        self.processor = processor
        self.engine = engine if engine is not None else build_engine(generation_backend, model, processor)
        self.label_set = get_label_set(label_set) if label_set is not None else None
        self.instruction = instruction
        self.max_new_tokens = max_new_tokens

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype = "auto",
        **kwargs,
    ) -> "EmotionReasoner":
        """Load model and processor from a local checkpoint or a Hub id; `kwargs` go to `__init__`."""
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)
        if device is not None:
            model.to(device)
        return cls(model, AutoProcessor.from_pretrained(name_or_path), **kwargs)

    def conversation(self, clip: Clip, mode: str) -> tuple[list[dict], Any, Any]:
        """The chat for one clip and the video / audio sources its blocks refer to (`None` when unused)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if isinstance(clip, Mapping):
            video, audio = clip.get("video"), clip.get("audio")
        else:
            video = audio = clip
        video = video if mode in ("audio+video", "video") else None
        audio = audio if mode in ("audio+video", "audio") else None
        if video is None and audio is None:
            raise ValueError(f"mode {mode!r} needs a {'video' if mode == 'video' else 'audio'} source for the clip")
        return build_conversation(self.instruction, video=video is not None, audio=audio is not None), video, audio

    @torch.no_grad()
    def __call__(
        self,
        clips: Clip | Sequence[Clip],
        mode: Mode = "audio+video",
        *,
        do_sample: bool = False,
        temperature: float = 0.3,
        top_p: float = 1.0,
        max_new_tokens: int | None = None,
        batch_size: int = 4,
    ) -> EmotionPrediction | list[EmotionPrediction | ClipError]:
        """Predict the emotion of one clip (returns one `EmotionPrediction`, raises when the clip cannot be used)
        or a list of clips (returns one `EmotionPrediction` or `ClipError` per clip, in order).

        Args:
            clips: A path, bytes, or `{"video": ..., "audio": ...}` (arrays allowed), or a list of them.
            mode: Which modalities the model sees.
            do_sample: Sample instead of greedy decoding (deterministic by default); `temperature` and
                `top_p` apply only when sampling (the paper evaluates with temperature 0.3).
            batch_size: Clips per engine call.
        """
        single = isinstance(clips, (str, os.PathLike, bytes, Mapping))
        clip_list = [clips] if single else list(clips)
        if single:
            self.check_clip(clips, mode)
            return self._predict_batch(clip_list, mode, do_sample, temperature, top_p, max_new_tokens)[0]
        results: list[EmotionPrediction | ClipError | None] = [None] * len(clip_list)
        usable = []
        for index, clip in enumerate(clip_list):
            try:
                self.check_clip(clip, mode)
                usable.append(index)
            except _CLIP_ERRORS as error:
                results[index] = self._failure(clip, mode, error)
        batches = range(0, len(usable), batch_size)
        for start in tqdm(batches, desc="inference", unit="batch", disable=len(batches) < 2):
            indices = usable[start : start + batch_size]
            args = (mode, do_sample, temperature, top_p, max_new_tokens)
            try:
                predictions = self._predict_batch([clip_list[i] for i in indices], *args)
            except _CLIP_ERRORS:  # one clip spoiled the batch: run its clips one by one
                predictions = []
                for index in indices:
                    try:
                        predictions.extend(self._predict_batch([clip_list[index]], *args))
                    except _CLIP_ERRORS as error:
                        predictions.append(self._failure(clip_list[index], mode, error))
            for index, prediction in zip(indices, predictions):
                results[index] = prediction
        return results

    def check_clip(self, clip: Clip, mode: str) -> None:
        """Raise `MediaError` when a file or bytes source of ``clip`` lacks a modality that ``mode`` asks for (or
        cannot be read); in-memory arrays are taken as given."""
        _, video, audio = self.conversation(clip, mode)
        for modality, source in (("video", video), ("audio", audio)):
            if modality not in _NEEDS[mode] or not isinstance(source, (str, os.PathLike, bytes)):
                continue
            info = probe_media(source)
            if not (info.has_video if modality == "video" else info.has_audio):
                raise MediaError(source_name(source), f"no {modality} stream (mode {mode!r} needs one)")

    @staticmethod
    def _failure(clip: Clip, mode: str, error: Exception) -> ClipError:
        source = clip.get("video") or clip.get("audio") if isinstance(clip, Mapping) else clip
        name = source_name(source)
        logger.warning(f"{name}: {error}")
        return ClipError(clip=name, error=str(error), mode=mode)

    def prepare_inputs(self, clips: Sequence[Clip], mode: str) -> BatchFeature:
        """Left-padded model inputs for a batch of clips, on the model's device: `input_ids` `(B, L)` with the
        video / audio placeholders, `pixel_values_videos` and `input_features` in the model's dtype."""
        chats, videos, audios = zip(*(self.conversation(clip, mode) for clip in clips))
        prompts = self.processor.apply_chat_template(list(chats), add_generation_prompt=True)
        inputs = self.processor(
            text=prompts,
            videos=[v for v in videos if v is not None] or None,
            audio=[a for a in audios if a is not None] or None,
            padding_side="left",
        ).to(self.model.device)
        if "pixel_values_videos" in inputs:
            inputs["pixel_values_videos"] = inputs["pixel_values_videos"].to(self.model.dtype)
        if "input_features" in inputs:
            inputs["input_features"] = inputs["input_features"].to(self.model.dtype)
        return inputs

    def _predict_batch(
        self, clips: list[Clip], mode: str, do_sample: bool, temperature: float, top_p: float, max_new_tokens: int | None
    ) -> list[EmotionPrediction]:
        inputs = self.prepare_inputs(clips, mode)
        options = GenerationOptions(
            max_new_tokens=max_new_tokens or self.max_new_tokens, do_sample=do_sample, temperature=temperature, top_p=top_p
        )
        output = self.engine.generate(self.model, inputs, options)
        texts = self.processor.batch_decode(output.completion_ids, skip_special_tokens=True)
        return [self.parse(text, mode) for text in texts]

    def parse(self, text: str, mode: str = "audio+video") -> EmotionPrediction:
        """Turn a decoded completion into an `EmotionPrediction`."""
        parsed = parse_completion(text)
        answer = parsed.answer
        if self.label_set is not None:
            emotion = self.label_set.normalize(answer)
        elif answer:
            emotion = answer.strip().lower()
        else:
            emotion = None
        first = parsed.first_segment
        segment = parsed.get
        return EmotionPrediction(
            emotion=emotion,
            answer=answer,
            audio_reasoning=segment(AUDIO_SEGMENT).text if segment(AUDIO_SEGMENT) else None,
            visual_reasoning=segment(VISUAL_SEGMENT).text if segment(VISUAL_SEGMENT) else None,
            think=segment("think").text if segment("think") else None,
            first_modality={AUDIO_SEGMENT: "audio", VISUAL_SEGMENT: "visual"}.get(first),
            well_formed=parsed.well_formed,
            raw_text=text,
            mode=mode,
        )


def write_predictions(
    reasoner: EmotionReasoner,
    records: Sequence[SampleRecord],
    path: str | os.PathLike,
    *,
    mode: Mode = "audio+video",
    batch_size: int = 4,
) -> Path:
    """Predict the clips of `records` (batches of `batch_size` through the reasoner's engine) and write the
    predictions JSONL `migr-hf evaluate` scores: one `{"id", "label", "completion"}` per record, in order, with
    `"error"` (and an empty completion, scored as no answer) for a clip that got no prediction."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    results = reasoner([record.video for record in records], mode=mode, batch_size=batch_size)
    with path.open("w", encoding="utf-8") as handle:
        for record, result in zip(records, results):
            row = {ID: record.id, LABEL: record.label, COMPLETION: getattr(result, "raw_text", "")}
            if isinstance(result, ClipError):
                row["error"] = result.error
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


__all__ = ["ClipError", "EmotionPrediction", "EmotionReasoner", "MODES", "write_predictions"]

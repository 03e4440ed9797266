"""Modality Importance estimators for MIGR-Omni (paper section 3.1.2): a sample's predicted emotion under
audio-only, visual-only and audio-visual input.

Both estimators share the media path. For each batch of records every clip is decoded once (its frames and its
audio track, with the processor), the vision tower + instruction gate and the audio tower run once per sample
(`get_video_features` / `get_audio_features`), and the three condition prompts of every sample run as one batch
of ``3 * B`` left-padded rows, ordered condition-major (all audio-only rows, then visual-only, then audio-visual),
with the precomputed feature rows repeated per condition; a row without a placeholder ignores its feature row.

Condition prompts (Qwen chat template, the instruction as the user text; the gate reads the same instruction in
every condition):

- audio-only: ``<audio>\\n{instruction}``
- visual-only: ``<video>\\n{instruction}``
- audio-visual: ``<video>\\n<audio>\\n{instruction}`` (HumanOmni's order)

``{labels}`` in an instruction is replaced by the comma-separated label words of the sample's benchmark.

Estimators:

- `GenerateMIEstimator` (``method="generate"``, as the paper): one `generate` call over the ``3 * B`` prompts
  (greedy by default), then `parse_answer`: the text of ``<answer>`` when the completion has one, else the whole
  completion when it is a bare label word (e.g. ``"Happy."``), else ``None``. Default instruction: the R1-Omni
  question with its ``<think>``/``<answer>`` format hint.
- `LoglikMIEstimator` (``method="loglik"``): no generation. One forward over the prompts fills the KV cache,
  which is repeated once per candidate label, and one more batched forward scores every candidate for every
  prompt (`score_candidates`). The candidate continuation is ``candidate_template`` with the label word filled
  in, by default ``"{label}<|im_end|>"`` (the label, then the end-of-turn token, so that a label that is a prefix
  of another one is not favoured), tokenized on its own and appended to the prompt (which ends with
  ``"<|im_start|>assistant\\n"``, a pre-tokenizer boundary). Its score is the total log-probability of its tokens,
  or their mean with ``length_normalize=True``; the prediction is the argmax, and every score is returned in
  ``MIPrediction.scores``. Default instruction: the question and ``"Answer with one word from: {labels}."``.
  The repeated cache holds ``3 * B * num_labels`` copies of the prompt keys and values: lower the batch size for
  large models.

Clips without an audio (or video) stream: Modality Importance compares the three conditions, and a clip without
audio has no audio-only input at all. Rather than inventing a prediction (``None`` for audio-only would push the
default rule towards "visual" without evidence), the estimator raises a `ValueError` naming the sample and its
file, before any model work; the estimation driver then retries the batch sample by sample and records the
silent clip in its failures (``mi_estimation_error``). The dataset builders drop such clips earlier
(``no_audio_stream``) unless told to keep them.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoProcessor, PreTrainedModel, ProcessorMixin
from transformers.utils import logging

from ...data.modality_importance import CONDITIONS, MI_METHODS, MIEstimator, MIPrediction
from ...generation import GenerationEngine, GenerationOptions, build_engine
from ...data.records import SampleRecord, video_source
from ...labels import LabelSet, get_label_set
from ...parsing import parse_completion
from ...schema import BASELINE_FORMAT_HINT, EMOTION_QUESTION

logger = logging.get_logger(__name__)

GENERATE_INSTRUCTION = f"{EMOTION_QUESTION}\n{BASELINE_FORMAT_HINT}"
LOGLIK_INSTRUCTION = f"{EMOTION_QUESTION}\nAnswer with one word from: {{labels}}."
LABELS_FIELD = "{labels}"
CONDITION_BLOCKS: Mapping[str, tuple[str, ...]] = {
    "audio_only": ("audio",),
    "visual_only": ("video",),
    "audio_visual": ("video", "audio"),
}


def format_instruction(instruction: str, label_set: LabelSet) -> str:
    """``instruction`` with ``{labels}`` replaced by the label words of ``label_set`` (``"happy, sad, ..."``)."""
    return instruction.replace(LABELS_FIELD, ", ".join(label_set.labels))


def parse_answer(text: str, label_set: LabelSet) -> str | None:
    """The answer of a generated completion: the text of its ``<answer>`` segment (``None`` when empty), else the
    whole completion stripped of spaces and end punctuation when that is a label word of ``label_set`` (synonyms
    included), else ``None``."""
    answer = parse_completion(text).answer
    if answer is not None:
        return answer or None
    bare = text.strip().rstrip(".!").strip()
    return bare if label_set.normalize(bare) is not None else None


def prompt_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """`(R, L)` positions of left-padded rows: 0 at each row's first real token (padding gets 0), as `generate`."""
    return (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)


def _log_probs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """float32 log-probabilities `(..., k)` of token ids `(..., k)` under `(..., V)` logits, through a logsumexp
    instead of a full log-softmax over the vocabulary."""
    return logits.gather(-1, tokens).float() - logits.float().logsumexp(-1, keepdim=True)


@torch.inference_mode()
def score_candidates(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    candidates: Sequence[Sequence[int]],
    *,
    video_features: torch.Tensor | None = None,
    audio_features: torch.Tensor | None = None,
    length_normalize: bool = False,
) -> torch.Tensor:
    """Log-likelihood of every candidate continuation after every prompt, with two forwards in all.

    The prompt forward fills the KV cache and gives the first candidate token's distribution; the cache is then
    repeated once per candidate and a second forward runs the candidates' remaining tokens (right-padded and
    masked; their positions continue each prompt's) over all ``R * K`` rows at once.

    Args:
        input_ids, attention_mask: `(R, L)` left-padded prompts.
        candidates: `K` token-id sequences (each non-empty).
        video_features, audio_features: `(R, tokens, H)` precomputed media features, one row per prompt row.
        length_normalize: Divide each total by the candidate's token count.

    Returns:
        `(R, K)` float32 sums (or means) of the candidate tokens' log-probabilities.
    """
    if not candidates or any(len(candidate) == 0 for candidate in candidates):
        raise ValueError("every candidate continuation needs at least one token")
    device = input_ids.device
    rows, num = input_ids.shape[0], len(candidates)
    lengths = torch.tensor([len(candidate) for candidate in candidates], device=device)
    width = int(lengths.max())
    targets = torch.zeros(num, width, dtype=torch.long, device=device)
    for index, candidate in enumerate(candidates):
        targets[index, : len(candidate)] = torch.tensor(candidate, device=device)
    target_mask = torch.arange(width, device=device)[None] < lengths[:, None]

    outputs = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=prompt_position_ids(attention_mask),
        video_features=video_features,
        audio_features=audio_features,
        use_cache=True,
        logits_to_keep=1,
    )
    scores = _log_probs(outputs.logits[:, -1], targets[:, 0].expand(rows, -1))
    if width > 1:
        cache = outputs.cache
        cache.batch_repeat_interleave(num)  # row r * K + k: prompt r, candidate k
        inputs, input_mask = targets[:, :-1].repeat(rows, 1), target_mask[:, :-1].repeat(rows, 1)
        scored, scored_mask = targets[:, 1:].repeat(rows, 1), target_mask[:, 1:].repeat(rows, 1)
        positions = attention_mask.sum(-1).repeat_interleave(num)[:, None] + torch.arange(width - 1, device=device)
        logits = model(
            input_ids=inputs,
            attention_mask=torch.cat([attention_mask.repeat_interleave(num, 0), input_mask.long()], dim=1),
            position_ids=positions,
            cache=cache,
            use_cache=True,
        ).logits
        follow = _log_probs(logits, scored.unsqueeze(-1)).squeeze(-1).masked_fill(~scored_mask, 0.0)
        scores = scores + follow.sum(-1).view(rows, num)
    if length_normalize:
        scores = scores / lengths.to(scores.dtype)
    return scores


class BaseMIEstimator(ABC):
    """Shared media and prompt handling of the MIGR-Omni `MIEstimator`s (see the module docstring).

    Args:
        model: A loaded `MIGROmniForCausalLM` (put in eval mode).
        processor: Its `MIGROmniProcessor`.
        instruction: User instruction of every condition; ``{labels}`` becomes the benchmark's label words.
        batch_size: Samples per model call (``3 * batch_size`` prompt rows); ``None``: each `predict` call at once.
        media_root: Folder that relative clip paths of the records are relative to.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        *,
        instruction: str,
        batch_size: int | None = None,
        media_root: str | os.PathLike | None = None,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size must be >= 1 or None")
        self.model = model.eval()
        self.processor = processor
        self.instruction = instruction
        self.batch_size = batch_size
        self.media_root = media_root
        self._prompt_ids: dict[str, list[list[int]]] = {}

    def condition_prompts(self, label_set: str | LabelSet) -> dict[str, str]:
        """Condition -> chat prompt (placeholders not expanded) for samples of ``label_set``."""
        text = format_instruction(self.instruction, get_label_set(label_set))
        chats = [
            [{"role": "user", "content": [*({"type": b} for b in CONDITION_BLOCKS[c]), {"type": "text", "text": text}]}]
            for c in CONDITIONS
        ]
        return dict(zip(CONDITIONS, self.processor.apply_chat_template(chats, add_generation_prompt=True)))

    def condition_inputs(self, label_set: str | LabelSet, num_samples: int) -> dict[str, torch.Tensor]:
        """`input_ids` / `attention_mask` `(3 * num_samples, L)`, left-padded, condition-major rows."""
        label_set = get_label_set(label_set)
        if label_set.name not in self._prompt_ids:
            prompts = self.condition_prompts(label_set).values()
            expanded = [self.processor._expand_placeholders(prompt) for prompt in prompts]
            self._prompt_ids[label_set.name] = self.processor.tokenizer(expanded)["input_ids"]
        rows = [ids for ids in self._prompt_ids[label_set.name] for _ in range(num_samples)]
        batch = self.processor.tokenizer.pad({"input_ids": rows}, padding_side="left", return_tensors="pt")
        return {name: tensor.to(self.model.device) for name, tensor in batch.items()}

    def _clip(self, record: SampleRecord) -> str | bytes:
        if record.video is None:
            raise ValueError(f"{record.id}: the record has no clip path")
        return video_source(record.to_dict(), self.media_root)

    @torch.inference_mode()
    def encode_media(self, records: Sequence[SampleRecord], label_set: LabelSet) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode each clip once and run each tower once per sample.

        Returns:
            `(B, num_video_tokens, H)` video features (gated with the instruction) and `(B, 500, H)` audio features.

        Raises:
            ValueError: A clip has no video or no audio stream (naming the sample and the file).
        """
        clips = [self._clip(record) for record in records]
        gate_text = format_instruction(self.instruction, label_set)
        prompt = self.condition_prompts(label_set)["audio_visual"]
        inputs = self.processor(
            text=[prompt] * len(records), videos=clips, audio=clips, gate_text=[gate_text] * len(records)
        )
        input_ids = inputs["input_ids"]
        for token_id, stream in ((self.processor.video_token_id, "video"), (self.processor.audio_token_id, "audio")):
            missing = [index for index, present in enumerate((input_ids == token_id).any(-1).tolist()) if not present]
            if missing:
                raise ValueError(
                    "; ".join(f"{records[i].id} ({clips[i]})" for i in missing)
                    + f": no {stream} stream, so the audio-only / visual-only / audio-visual comparison of modality "
                    "importance is undefined"
                )
        device = self.model.device
        video_features = self.model.get_video_features(
            inputs["pixel_values_videos"].to(device),
            inputs["gate_input_ids"].to(device),
            inputs["gate_attention_mask"].to(device),
        )
        audio_features = self.model.get_audio_features(inputs["input_features"].to(device))
        return video_features, audio_features

    def predict(self, records: Sequence[SampleRecord]) -> list[MIPrediction]:
        """One `MIPrediction` per record, in order (records of several benchmarks may be mixed)."""
        predictions: dict[int, MIPrediction] = {}
        groups: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            groups.setdefault(record.label_set, []).append(index)
        for name, indices in groups.items():
            step = self.batch_size or len(indices)
            for start in range(0, len(indices), step):
                chunk = indices[start : start + step]
                results = self._predict_batch([records[i] for i in chunk], get_label_set(name))
                predictions.update(zip(chunk, results))
        return [predictions[index] for index in range(len(records))]

    @abstractmethod
    def _predict_batch(self, records: Sequence[SampleRecord], label_set: LabelSet) -> list[MIPrediction]:
        """Predictions for records of one label set, at most `batch_size` of them."""


class GenerateMIEstimator(BaseMIEstimator):
    """Generate-and-parse: greedy `generate` on the three condition prompts, answers read with `parse_answer`.

    Args:
        max_new_tokens: Generation budget per prompt.
        generation_kwargs: `GenerationOptions` fields (e.g. ``{"do_sample": True, "temperature": 0.3}``);
            greedy decoding by default.
        generation_backend: ``"hf"`` (transformers `generate`) or ``"vllm"`` (see `migr_hf.generation`).
        engine: A ready generation engine (overrides `generation_backend`).
        kwargs: See `BaseMIEstimator`.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        *,
        instruction: str = GENERATE_INSTRUCTION,
        max_new_tokens: int = 512,
        generation_kwargs: Mapping[str, Any] | None = None,
        generation_backend: str = "hf",
        engine: GenerationEngine | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, processor, instruction=instruction, **kwargs)
        self.max_new_tokens = max_new_tokens
        self.generation_kwargs = {"do_sample": False, **(generation_kwargs or {})}
        self.engine = engine if engine is not None else build_engine(generation_backend, model, processor)

    @torch.inference_mode()
    def generate(self, records: Sequence[SampleRecord], label_set: LabelSet) -> list[str]:
        """Decoded completions of the `3 * B` condition prompts, condition-major (on `self.engine`)."""
        video_features, audio_features = self.encode_media(records, label_set)
        inputs = {
            **self.condition_inputs(label_set, len(records)),
            "video_features": video_features.repeat(len(CONDITIONS), 1, 1),
            "audio_features": audio_features.repeat(len(CONDITIONS), 1, 1),
        }
        options = GenerationOptions(max_new_tokens=self.max_new_tokens, **self.generation_kwargs)
        output = self.engine.generate(self.model, inputs, options)
        return self.processor.batch_decode(output.completion_ids, skip_special_tokens=True)

    def _predict_batch(self, records: Sequence[SampleRecord], label_set: LabelSet) -> list[MIPrediction]:
        answers = [parse_answer(text, label_set) for text in self.generate(records, label_set)]
        size = len(records)
        return [MIPrediction(*(answers[c * size + i] for c in range(len(CONDITIONS)))) for i in range(size)]


class LoglikMIEstimator(BaseMIEstimator):
    """Scoring: the label word with the highest log-likelihood as the answer, per condition (`score_candidates`).

    Args:
        candidate_template: Scored continuation, ``{label}`` replaced by each label word; default
            ``"{label}" + eos_token`` (``"{label}<|im_end|>"`` for Qwen).
        length_normalize: Score by the mean instead of the total log-probability of the candidate tokens.
        kwargs: See `BaseMIEstimator`.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        *,
        instruction: str = LOGLIK_INSTRUCTION,
        candidate_template: str | None = None,
        length_normalize: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, processor, instruction=instruction, **kwargs)
        self.candidate_template = candidate_template or "{label}" + processor.tokenizer.eos_token
        self.length_normalize = length_normalize

    def candidates(self, label_set: LabelSet) -> list[list[int]]:
        """Token ids of each label's continuation, in the label set's order."""
        texts = [self.candidate_template.replace("{label}", label) for label in label_set.labels]
        return self.processor.tokenizer(texts, add_special_tokens=False)["input_ids"]

    @torch.inference_mode()
    def scores(self, records: Sequence[SampleRecord], label_set: LabelSet) -> torch.Tensor:
        """`(3, B, K)` candidate scores: condition, sample, label (label-set order)."""
        video_features, audio_features = self.encode_media(records, label_set)
        inputs = self.condition_inputs(label_set, len(records))
        scores = score_candidates(
            self.model,
            inputs["input_ids"],
            inputs["attention_mask"],
            self.candidates(label_set),
            video_features=video_features.repeat(len(CONDITIONS), 1, 1),
            audio_features=audio_features.repeat(len(CONDITIONS), 1, 1),
            length_normalize=self.length_normalize,
        )
        return scores.view(len(CONDITIONS), len(records), -1).cpu()

    def _predict_batch(self, records: Sequence[SampleRecord], label_set: LabelSet) -> list[MIPrediction]:
        scores = self.scores(records, label_set)
        best = scores.argmax(-1)
        labels = label_set.labels
        return [
            MIPrediction(
                *(labels[int(best[c, i])] for c in range(len(CONDITIONS))),
                scores={condition: dict(zip(labels, scores[c, i].tolist())) for c, condition in enumerate(CONDITIONS)},
            )
            for i in range(len(records))
        ]


ESTIMATORS: Mapping[str, type[BaseMIEstimator]] = {"generate": GenerateMIEstimator, "loglik": LoglikMIEstimator}


def build_estimator(
    model_path_or_model: str | os.PathLike | PreTrainedModel,
    method: str = "generate",
    processor: ProcessorMixin | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype = "auto",
    instruction: str | None = None,
    max_new_tokens: int | None = None,
    media_root: str | os.PathLike | None = None,
    **kwargs: Any,
) -> MIEstimator:
    """A MIGR-Omni `MIEstimator`, for the MI driver of `migr_hf.data.modality_importance`.

    Args:
        model_path_or_model: Checkpoint folder or Hub id, or a loaded `MIGROmniForCausalLM`.
        method: ``"generate"`` (`GenerateMIEstimator`) or ``"loglik"`` (`LoglikMIEstimator`).
        processor: Its processor; loaded from the checkpoint (or the model's ``name_or_path``) when omitted.
        batch_size: Samples per model call (``None``: each `predict` call, i.e. the driver's batch, at once).
        device: Device to move the model to.
        dtype: Weights dtype when loading.
        instruction: Condition prompt text (default: the method's, see the module docstring).
        max_new_tokens: Generation budget (``"generate"`` only; default 512).
        media_root: Folder that relative clip paths are relative to.
        kwargs: Method options: ``generation_kwargs`` (generate), ``candidate_template`` and
            ``length_normalize`` (loglik).
    """
    if method not in MI_METHODS:
        raise ValueError(f"unknown MI estimation method {method!r}; choose one of {MI_METHODS}")
    logger.info(f"Modality Importance estimation by {method} with {model_path_or_model!r}")
    if isinstance(model_path_or_model, PreTrainedModel):
        model = model_path_or_model
    else:
        model = AutoModelForCausalLM.from_pretrained(model_path_or_model, dtype=dtype)
    if processor is None:
        processor = AutoProcessor.from_pretrained(
            model.name_or_path if isinstance(model_path_or_model, PreTrainedModel) else model_path_or_model
        )
    if device is not None:
        model.to(device)
    options: dict[str, Any] = {"batch_size": batch_size, "media_root": media_root, **kwargs}
    if instruction is not None:
        options["instruction"] = instruction
    if max_new_tokens is not None:
        if method != "generate":
            raise ValueError("max_new_tokens applies to method='generate' only")
        options["max_new_tokens"] = max_new_tokens
    return ESTIMATORS[method](model, processor, **options)


__all__ = [
    "ESTIMATORS",
    "GENERATE_INSTRUCTION",
    "LOGLIK_INSTRUCTION",
    "BaseMIEstimator",
    "GenerateMIEstimator",
    "LoglikMIEstimator",
    "build_estimator",
    "format_instruction",
    "parse_answer",
    "score_candidates",
]

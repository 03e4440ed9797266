"""Emotion classifier backed by a transformers sequence-classification model (e.g. a GoEmotions checkpoint).

Multi-label models (``problem_type="multi_label_classification"``, e.g. GoEmotions) are read as ERV reads its
reward classifier: sigmoid over all model labels, keep those above ``threshold``, at most ``top_k`` of them, the
argmax when none passes; the kept model labels are then mapped to label words of the requested label set (a label
with no word becomes ``UNMAPPED``). Single-label models give the softmax argmax. Texts are sorted by length and
run in batches on the model's device under ``torch.inference_mode``. Named presets (ERV's classifier:
``SequenceEmotionClassifier.from_preset("erv")``) are in `migr_hf.classifiers.presets`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from ..labels import LabelSet
from .base import UNMAPPED, EmotionClassifier
from .presets import GOEMOTIONS_LABEL_MAPS, GOEMOTIONS_LABELS, SEQUENCE_PRESETS

logger = logging.getLogger(__name__)

_GENERIC_LABEL = re.compile(r"^LABEL_\d+$")


class SequenceEmotionClassifier(EmotionClassifier):
    """``e_classifier`` over a local or Hub sequence-classification checkpoint.

    Args:
        model: Path or Hub id (loaded with ``AutoModelForSequenceClassification``), or a loaded model.
        tokenizer: Path, Hub id or tokenizer; defaults to the model's own.
        multi_label: Sigmoid/threshold/top-k reading (True) or softmax argmax (False); from the config's
            ``problem_type`` when ``None``.
        threshold: Sigmoid probability a model label must exceed (multi-label only; ERV: ``probs > 0.1``).
        top_k: Most model labels kept per text (multi-label only).
        id2label: Model label names by output index; defaults to ``config.id2label``, or to the GoEmotions names
            when the config only has generic ``LABEL_i`` names for 28 outputs.
        label_maps: Per label-set name, model label name -> label word or ``None``. Defaults to
            `GOEMOTIONS_LABEL_MAPS` (``data/goemotions_label_maps.json``). Names missing from the map fall back
            to ``LabelSet.normalize`` (so a model trained on the benchmark's own words needs no map); a kept
            label with no word is reported as ``UNMAPPED``.
        batch_size: Texts per forward pass.
        max_length: Tokens kept per text; ``None``: the tokenizer's own limit (``model_max_length``), as ERV.
        device: Where to run a model loaded here (default: CUDA when available); a given model stays put.
        model_kwargs: Extra ``from_pretrained`` arguments (``dtype``, ``revision``, ...).
        cache_size: See :class:`~migr_hf.classifiers.base.EmotionClassifier`.
    """

    def __init__(
        self,
        model: str | PreTrainedModel,
        tokenizer: str | PreTrainedTokenizerBase | None = None,
        *,
        multi_label: bool | None = None,
        threshold: float = 0.1,
        top_k: int = 2,
        id2label: Mapping[int, str] | Sequence[str] | None = None,
        label_maps: Mapping[str, Mapping[str, str | None]] | None = None,
        batch_size: int = 64,
        max_length: int | None = 128,
        device: str | torch.device | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
        cache_size: int = 200_000,
    ) -> None:
        super().__init__(cache_size=cache_size)
        if top_k < 1 or batch_size < 1:
            raise ValueError(f"top_k and batch_size must be >= 1, got top_k={top_k}, batch_size={batch_size}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold is a probability in [0, 1], got {threshold}")
        if isinstance(model, str):
            model_id = model
            model = AutoModelForSequenceClassification.from_pretrained(model, **dict(model_kwargs or {}))
            model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        else:
            model_id = model.config.name_or_path
        if tokenizer is None or isinstance(tokenizer, str):
            tokenizer = AutoTokenizer.from_pretrained(tokenizer or model_id)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = model_id
        self.multi_label = (
            model.config.problem_type == "multi_label_classification" if multi_label is None else multi_label
        )
        self.threshold = threshold
        self.top_k = top_k
        self.batch_size = batch_size
        self.max_length = max_length
        self.id2label = self._resolve_id2label(id2label)
        self.label_maps = {name: dict(mapping) for name, mapping in (label_maps or GOEMOTIONS_LABEL_MAPS).items()}
        self.preset: str | None = None

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> SequenceEmotionClassifier:
        """The classifier of a named preset (`SEQUENCE_PRESETS`, e.g. ``"erv"``); ``overrides`` replace its
        arguments, e.g. ``model=`` a local copy of the preset's checkpoint."""
        if name not in SEQUENCE_PRESETS:
            raise KeyError(f"unknown sequence-classifier preset {name!r}; known: {', '.join(SEQUENCE_PRESETS)}")
        classifier = cls(**{**SEQUENCE_PRESETS[name], **overrides})
        classifier.preset = name
        return classifier

    def _resolve_id2label(self, id2label: Mapping[int, str] | Sequence[str] | None) -> tuple[str, ...]:
        num_labels = self.model.config.num_labels
        if id2label is None:
            names = [self.model.config.id2label[i] for i in range(num_labels)]
            if num_labels == len(GOEMOTIONS_LABELS) and all(_GENERIC_LABEL.match(n) for n in names):
                logger.info("%s has generic label names and 28 outputs: reading them as GoEmotions labels", self.name)
                names = list(GOEMOTIONS_LABELS)
        elif isinstance(id2label, Mapping):
            names = [id2label[i] for i in range(num_labels)]
        else:
            names = list(id2label)
        if len(names) != num_labels:
            raise ValueError(f"id2label has {len(names)} names but the model has {num_labels} outputs")
        return tuple(names)

    def _label_words(self, label_set: LabelSet) -> tuple[str, ...]:
        """Label word (or ``UNMAPPED``) for every model output index."""
        mapping = self.label_maps.get(label_set.name, {})
        words = (mapping[name] if name in mapping else label_set.normalize(name) for name in self.id2label)
        return tuple(UNMAPPED if word is None else word for word in words)

    @torch.inference_mode()
    def _predict(self, texts: list[str], label_set: LabelSet) -> list[tuple[str, ...] | None]:
        words = self._label_words(label_set)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: list[tuple[str, ...] | None] = [None] * len(texts)
        starts = range(0, len(order), self.batch_size)
        for start in tqdm(starts, desc="emotion classifier", leave=False, disable=len(starts) < 8):
            batch = order[start : start + self.batch_size]
            encoded = self.tokenizer(
                [texts[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.model.device)
            logits = self.model(**encoded).logits.float()
            for i, indices in zip(batch, self._select(logits)):
                results[i] = tuple(dict.fromkeys(words[j] for j in indices))
        return results

    def _select(self, logits: torch.Tensor) -> list[list[int]]:
        """Model label indices per row of ``logits`` (shape ``(batch, num_labels)``), best first."""
        if not self.multi_label:
            return [[index] for index in logits.argmax(dim=-1).tolist()]
        probs = logits.sigmoid()
        top_probs, top_indices = probs.topk(min(self.top_k, probs.shape[-1]), dim=-1)
        selected = []
        for row_probs, row_indices in zip(top_probs.tolist(), top_indices.tolist()):
            kept = [index for prob, index in zip(row_probs, row_indices) if prob > self.threshold]
            selected.append(kept or row_indices[:1])
        return selected

    def __repr__(self) -> str:
        mode = f"multi_label, threshold={self.threshold}, top_k={self.top_k}" if self.multi_label else "single_label"
        preset = f"preset={self.preset!r}, " if self.preset else ""
        return f"{type(self).__name__}({preset}{self.name!r}, {mode}, device={self.model.device})"

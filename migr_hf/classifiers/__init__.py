"""Sentence-level emotion classifiers (the paper's ``e_classifier``) and the LLM judge.

One interface, :class:`EmotionClassifier`: texts in, label words of a benchmark vocabulary out. Backends:

- ``"offline"`` (:class:`LexiconEmotionClassifier`): hand-written lexicon, no download; quickstart, CPU and CI.
- ``"erv"`` / ``"erv:<path or id>"`` (:class:`SequenceEmotionClassifier` preset): ERV's sentence classifier
  ``Rhatanii/Emo_Classifier`` (or a copy of it) read as ERV's reward reads it (`migr_hf.classifiers.presets`).
- a path or Hub id (:class:`SequenceEmotionClassifier`): a transformers sequence classifier, e.g. GoEmotions.
- ``"llm"`` / ``"llm:<model>"`` (:class:`LLMJudgeClassifier`): an OpenAI-compatible chat model with ERV's prompt.
- ``"auto"``: ``"erv"`` when its Hub model is cached or the Hub provides it, else ``"offline"``, with a warning
  saying which (:func:`resolve_classifier_spec`; the default of ``MIGRGRPOConfig.emotion_classifier``).

Build one from a string with :func:`get_classifier`; :func:`describe_classifier_spec` says in words what a spec is
(cards and reports).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ..lazy import lazy_exports
from ..services.llm import DEFAULT_MODEL, ENV_MODEL
from .base import NEUTRAL, UNMAPPED, ClassifierStats, EmotionClassifier, Judgement
from .llm_judge import (
    JUDGE_MAX_COMPLETION_TOKENS,
    JUDGE_PROMPT,
    LLMJudgeClassifier,
    build_judge_prompt,
    fence_reasoning,
    judge_config,
    parse_judge_reply,
)
from .offline import LexiconEmotionClassifier
from .presets import ERV_MODEL_ID, GOEMOTIONS_LABEL_MAPS, GOEMOTIONS_LABELS, SEQUENCE_PRESETS, hub_model_problem
from .sentences import SentenceScore, load_emotion_sentences, score_classifier

# The transformers-backed classifier loads on first access (PEP 562): torch and transformers stay unimported
# until it is used.
__getattr__, __dir__ = lazy_exports(globals(), {"SequenceEmotionClassifier": ".sequence"})

logger = logging.getLogger(__name__)

OFFLINE_NAMES = ("offline", "lexicon")
LLM_PREFIXES = ("llm", "openai")
AUTO = "auto"


def resolve_classifier_spec(spec: str) -> str:
    """``spec`` itself, except ``"auto"``: ``"erv"`` when ERV's Hub model (`ERV_MODEL_ID`) is in the Hub cache or
    the Hub provides it, else ``"offline"``. Logs a warning naming the choice (and why the ERV model is not used).
    """
    if spec.strip().lower() != AUTO:
        return spec
    problem = hub_model_problem(ERV_MODEL_ID)
    if problem is None:
        logger.warning("emotion classifier 'auto' -> 'erv': ERV's sentence classifier %s", ERV_MODEL_ID)
        return "erv"
    logger.warning("emotion classifier 'auto' -> 'offline' (migr-hf's lexicon): %s", problem)
    return "offline"


def describe_classifier_spec(spec: str) -> str:
    """A spec of :func:`get_classifier` in words, e.g. for a model card; loads nothing."""
    prefix, _, rest = spec.strip().partition(":")
    if spec.strip().lower() in OFFLINE_NAMES:
        return "migr-hf's offline emotion lexicon (`offline`)"
    if spec.strip().lower() == AUTO:
        return "`auto`: ERV's sentence classifier when its Hub model is available, else the offline lexicon"
    if prefix.lower() == "erv":
        return (
            f"ERV's sentence classifier `{rest or ERV_MODEL_ID}` (preset `erv`: sigmoid above 0.1, top-2 "
            "GoEmotions labels mapped to the benchmark's label words)"
        )
    if prefix.lower() in LLM_PREFIXES:
        return f"LLM judge `{rest or os.environ.get(ENV_MODEL) or DEFAULT_MODEL}`"
    return f"sequence classifier `{rest if prefix.lower() == 'hf' and rest else spec}`"


def get_classifier(spec: str | EmotionClassifier = "offline", **kwargs: Any) -> EmotionClassifier:
    """Build an emotion classifier from a spec string; an :class:`EmotionClassifier` is returned unchanged.

    Specs: ``"offline"``/``"lexicon"``; ``"erv"`` (ERV's ``Rhatanii/Emo_Classifier``) or ``"erv:<path or id>"``
    (the same reading of another copy; or pass ``model=``); ``"auto"`` (see :func:`resolve_classifier_spec`);
    ``"llm"`` or ``"openai"`` (judge model from ``$MIGR_LLM_MODEL``, default ``gpt-4.1-mini``) or
    ``"llm:<model>"``/``"openai:<model>"``; ``"hf:<path or id>"`` or any other string, a sequence-classification
    checkpoint (local path or Hub id). ``kwargs`` go to the backend's constructor (for a preset they override its
    arguments); for the LLM they are :class:`~migr_hf.services.llm.LLMConfig` fields (see :func:`judge_config`).
    """
    if isinstance(spec, EmotionClassifier):
        if kwargs:
            raise ValueError(f"options {sorted(kwargs)} given with an already built classifier {spec!r}")
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"classifier spec must be a non-empty string or an EmotionClassifier, got {spec!r}")
    spec = resolve_classifier_spec(spec.strip())
    prefix, _, rest = spec.partition(":")
    if spec.lower() in OFFLINE_NAMES:
        return LexiconEmotionClassifier(**kwargs)
    if prefix.lower() in LLM_PREFIXES:
        options = {key: kwargs.pop(key) for key in ("cache_size", "out_of_set", "prompt_template") if key in kwargs}
        return LLMJudgeClassifier(judge_config(model=rest or None, **kwargs), **options)
    from .sequence import SequenceEmotionClassifier

    if prefix.lower() in SEQUENCE_PRESETS:
        if rest and "model" in kwargs:
            raise ValueError(f"classifier spec {spec!r} names a model and model={kwargs['model']!r} names another")
        return SequenceEmotionClassifier.from_preset(prefix.lower(), **({"model": rest} if rest else {}), **kwargs)
    if prefix.lower() == "hf" and rest:
        spec = rest
    return SequenceEmotionClassifier(spec, **kwargs)


__all__ = [
    "AUTO",
    "ERV_MODEL_ID",
    "GOEMOTIONS_LABELS",
    "GOEMOTIONS_LABEL_MAPS",
    "JUDGE_MAX_COMPLETION_TOKENS",
    "JUDGE_PROMPT",
    "LLM_PREFIXES",
    "NEUTRAL",
    "SEQUENCE_PRESETS",
    "UNMAPPED",
    "ClassifierStats",
    "EmotionClassifier",
    "Judgement",
    "LLMJudgeClassifier",
    "LexiconEmotionClassifier",
    "SentenceScore",
    "SequenceEmotionClassifier",
    "build_judge_prompt",
    "describe_classifier_spec",
    "fence_reasoning",
    "get_classifier",
    "judge_config",
    "load_emotion_sentences",
    "parse_judge_reply",
    "resolve_classifier_spec",
    "score_classifier",
]

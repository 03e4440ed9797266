"""Sentence-level emotion classifiers (the paper's ``e_classifier``) and the LLM judge.

One interface, :class:`EmotionClassifier`: texts in, label words of a benchmark vocabulary out. Backends:

- ``"offline"`` (:class:`LexiconEmotionClassifier`): hand-written lexicon, no download; quickstart and CI.
- a path or Hub id (:class:`SequenceEmotionClassifier`): a transformers sequence classifier, e.g. GoEmotions.
- ``"llm"`` / ``"llm:<model>"`` (:class:`LLMJudgeClassifier`): an OpenAI-compatible chat model with ERV's prompt.

Build one from a string with :func:`get_classifier`.
"""

from __future__ import annotations

from typing import Any

from ..lazy import lazy_exports
from .base import NEUTRAL, ClassifierStats, EmotionClassifier, Judgement
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
from .sentences import SentenceScore, load_emotion_sentences, score_classifier

# The transformers-backed classifier loads on first access (PEP 562): torch and transformers stay unimported
# until it is used.
__getattr__, __dir__ = lazy_exports(
    globals(),
    {name: ".sequence" for name in ("GOEMOTIONS_LABEL_MAPS", "GOEMOTIONS_LABELS", "SequenceEmotionClassifier")},
)

OFFLINE_NAMES = ("offline", "lexicon")
LLM_PREFIXES = ("llm", "openai")


def get_classifier(spec: str | EmotionClassifier = "offline", **kwargs: Any) -> EmotionClassifier:
    """Build an emotion classifier from a spec string; an :class:`EmotionClassifier` is returned unchanged.

    Specs: ``"offline"``/``"lexicon"``; ``"llm"`` or ``"openai"`` (judge model from ``$MIGR_LLM_MODEL``, default
    ``gpt-4.1-mini``) or ``"llm:<model>"``/``"openai:<model>"``; ``"hf:<path or id>"`` or any other string, a
    sequence-classification checkpoint (local path or Hub id). ``kwargs`` go to the backend's constructor; for
    the LLM they are :class:`~migr_hf.services.llm.LLMConfig` fields (see :func:`judge_config`).
    """
    if isinstance(spec, EmotionClassifier):
        if kwargs:
            raise ValueError(f"options {sorted(kwargs)} given with an already built classifier {spec!r}")
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"classifier spec must be a non-empty string or an EmotionClassifier, got {spec!r}")
    spec = spec.strip()
    prefix, _, rest = spec.partition(":")
    if spec.lower() in OFFLINE_NAMES:
        return LexiconEmotionClassifier(**kwargs)
    if prefix.lower() in LLM_PREFIXES:
        options = {key: kwargs.pop(key) for key in ("cache_size", "out_of_set", "prompt_template") if key in kwargs}
        return LLMJudgeClassifier(judge_config(model=rest or None, **kwargs), **options)
    if prefix.lower() == "hf" and rest:
        spec = rest
    from .sequence import SequenceEmotionClassifier

    return SequenceEmotionClassifier(spec, **kwargs)


__all__ = [
    "GOEMOTIONS_LABELS",
    "GOEMOTIONS_LABEL_MAPS",
    "JUDGE_MAX_COMPLETION_TOKENS",
    "JUDGE_PROMPT",
    "LLM_PREFIXES",
    "NEUTRAL",
    "ClassifierStats",
    "EmotionClassifier",
    "Judgement",
    "LLMJudgeClassifier",
    "LexiconEmotionClassifier",
    "SentenceScore",
    "SequenceEmotionClassifier",
    "build_judge_prompt",
    "fence_reasoning",
    "get_classifier",
    "judge_config",
    "load_emotion_sentences",
    "parse_judge_reply",
    "score_classifier",
]

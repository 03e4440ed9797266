"""The modality-aligned order reward (paper section 3.2, eq. 1): the completion starts with the segment of the
emotion-dominant modality ``<M>``, whose sentences already name the target emotion ``e*``.

Modality Importance and ``e_classifier`` as read in `migr_hf.rewards.common`. Bad model output never raises:
missing or malformed segments score 0.0.
"""

from __future__ import annotations

from typing import Any, Literal

from ..classifiers import EmotionClassifier
from ..labels import LabelSet
from ..parsing import parse_completion, split_sentences
from ..schema import ModalityImportance
from .common import DOMINANT_SEGMENTS, classify_sentences, modality_reward_columns

Start = Literal["strict", "tolerant"]


def first_segment_sentences(
    completion: Any, importance: ModalityImportance, start: Start = "strict"
) -> list[str] | None:
    """Sentences of the completion's first segment when it is ``<M>`` (``[]`` otherwise); ``None`` when the MI has
    no dominant modality. ``start="strict"``: only whitespace may precede ``<M>``; ``"tolerant"``: anything may."""
    if importance not in DOMINANT_SEGMENTS:
        return None
    parsed = parse_completion(completion)
    first = parsed.starts_with if start == "strict" else parsed.first_segment
    if first not in DOMINANT_SEGMENTS[importance]:
        return []
    return split_sentences(parsed.segments[0].text)


def modality_aligned_order_reward(
    completions: list[Any],
    label: list[str] | None = None,
    modality_importance: list[str | None] | None = None,
    *,
    classifier: EmotionClassifier,
    label_set: list[str] | str | LabelSet | None = None,
    start: Start = "strict",
    **kwargs: Any,
) -> list[float | None]:
    """Eq. 1: 1.0 when the completion starts with ``<M>`` and ``e*`` is in ``E_m``, else 0.0; ``None`` without MI.

    "Starts with ``<M>``": the first segment is ``<M>`` and only whitespace precedes it; any text or stray tag
    before it gives 0.0. ``E_m`` is the union of the label sets of the sentences of that first segment; an
    empty segment scores 0.0.

    Args:
        completions: Completions (strings or chat messages), ``B*G`` of them.
        label: Dataset column: target label word per completion.
        modality_importance: Dataset column: ``audio``/``visual``/``both``/``undetermined`` (or missing).
        classifier: The ``e_classifier``.
        label_set: Dataset column (one name per completion) or one label set for all.
        start: ``"strict"`` (eq. 1 as written, the default) or ``"tolerant"``: the first segment counts
            whatever precedes it.

    Returns:
        One float (or ``None``) per completion.
    """
    name = "modality_aligned_order_reward"
    if start not in ("strict", "tolerant"):
        raise ValueError(f"{name}: start must be 'strict' or 'tolerant', got {start!r}")
    sets, gold, importances = modality_reward_columns(name, completions, label, modality_importance, label_set)
    sentences = [first_segment_sentences(c, m, start) for c, m in zip(completions, importances)]
    return [
        None if labels is None else float(any(target in s for s in labels))
        for target, labels in zip(gold, classify_sentences(classifier, sets, sentences))
    ]

"""The modality-grounded reasoning reward (paper section 3.2, eq. 2): the share of the sentences of ``<M>`` (the
emotion-dominant modality's segment) and ``<think>`` whose emotion is the target ``e*``.

Modality Importance and ``e_classifier`` as read in `migr_hf.rewards.common`. Bad model output never raises:
missing or malformed segments score 0.0.
"""

from __future__ import annotations

from typing import Any, Literal

from ..classifiers import NEUTRAL, UNMAPPED, EmotionClassifier
from ..labels import LabelSet
from ..parsing import THINK_SEGMENT, parse_completion
from ..schema import ModalityImportance
from .common import DOMINANT_SEGMENTS, classify_sentences, modality_reward_columns

Denominator = Literal["all", "non_neutral", "non_neutral_erv"]


def grounding_sentences(completion: Any, importance: ModalityImportance) -> list[str] | None:
    """``S_m``: the sentences of every ``<M>`` and every ``<think>`` segment, wherever they appear; ``None`` when
    the MI has no dominant modality."""
    if importance not in DOMINANT_SEGMENTS:
        return None
    return parse_completion(completion).sentences(*DOMINANT_SEGMENTS[importance], THINK_SEGMENT)


def share_matching(target: str, sentence_labels: list[frozenset[str]], denominator: Denominator = "all") -> float:
    """Share of the sentences whose label set contains ``target`` (0.0 without sentences); ``"non_neutral"``
    counts only sentences with a non-neutral label word and ``"non_neutral_erv"`` every sentence not labelled
    neutral alone (``UNMAPPED`` beside neutral counts), unless ``target`` is neutral."""
    if denominator == "non_neutral" and target != NEUTRAL:
        sentence_labels = [labels for labels in sentence_labels if labels - {NEUTRAL, UNMAPPED}]
    elif denominator == "non_neutral_erv" and target != NEUTRAL:
        sentence_labels = [labels for labels in sentence_labels if labels != {NEUTRAL}]
    if not sentence_labels:
        return 0.0
    return sum(target in labels for labels in sentence_labels) / len(sentence_labels)


def modality_grounded_reasoning_reward(
    completions: list[Any],
    label: list[str] | None = None,
    modality_importance: list[str | None] | None = None,
    *,
    classifier: EmotionClassifier,
    label_set: list[str] | str | LabelSet | None = None,
    denominator: Denominator = "all",
    **kwargs: Any,
) -> list[float | None]:
    """Eq. 2: share of the sentences ``S_m`` (of ``<M>`` and ``<think>``) whose label set contains ``e*``.

    No sentence gives 0.0; no MI gives ``None``.

    Args:
        completions: Completions (strings or chat messages), ``B*G`` of them.
        label: Dataset column: target label word per completion.
        modality_importance: Dataset column: ``audio``/``visual``/``both``/``undetermined`` (or missing).
        classifier: The ``e_classifier``.
        label_set: Dataset column (one name per completion) or one label set for all.
        denominator: ``"all"``: ``|S_m|``, as eq. 2 writes it. ``"non_neutral"``: only sentences with a
            non-neutral label word (all of them when ``e*`` is neutral), as ERV's reward divides; labels with no
            word (``UNMAPPED``, or a classifier failure) do not count. ``"non_neutral_erv"``: ERV exactly, which
            counts a sentence as neutral only when neutral is its one label: an unmapped label, alone or beside
            neutral, makes it non-neutral.

    Returns:
        One float in [0, 1] (or ``None``) per completion.
    """
    name = "modality_grounded_reasoning_reward"
    if denominator not in ("all", "non_neutral", "non_neutral_erv"):
        raise ValueError(f"{name}: denominator must be 'all', 'non_neutral' or 'non_neutral_erv', got {denominator!r}")
    sets, gold, importances = modality_reward_columns(name, completions, label, modality_importance, label_set)
    sentences = [grounding_sentences(c, m) for c, m in zip(completions, importances)]
    return [
        None if labels is None else share_matching(target, labels, denominator)
        for target, labels in zip(gold, classify_sentences(classifier, sets, sentences))
    ]

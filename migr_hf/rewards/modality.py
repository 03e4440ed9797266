"""MIGR's modality rewards (paper section 3.2): modality-aligned order (eq. 1), modality-grounded reasoning (eq. 2).

Both read the target emotion ``e*`` (``label`` column) and the Modality Importance ``m``
(``modality_importance`` column) of each sample, split segments into sentences
(:func:`migr_hf.parsing.split_sentences`) and run the ``e_classifier`` on all sentences of the batch in one
call per label set.

How ``e_classifier(s) = e*`` is read: the classifier gives a *set* of label words per sentence (multi-label,
e.g. GoEmotions top-2 over threshold 0.1); a sentence matches when its set contains ``e*``, as ERV counts.

Modality Importance:

- ``audio`` / ``visual``: ``<M>`` is ``<aud_desc>`` / ``<vis_desc>``.
- ``both`` (audio and visual equally informative; SFT shows both orders): eq. 1 accepts either modality first,
  with ``E_m`` taken from that first segment; eq. 2 aggregates both modality segments and ``<think>``, since
  both modalities carry the emotion.
- ``undetermined`` or missing: both rewards return ``None`` for that completion. There is no dominant modality
  to align with, so any number would be arbitrary: 0 would push every order down, 1 would pay for nothing.
  trl reads ``None`` as "not applicable": the sample's other rewards still count, and the logged mean of this
  reward leaves it out. Since all completions of a prompt share ``m``, their group gets no signal from these
  rewards, which is the intent.

Bad model output never raises: missing or malformed segments simply score 0.0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from ..classifiers import NEUTRAL, EmotionClassifier
from ..labels import LabelSet
from ..parsing import AUDIO_SEGMENT, THINK_SEGMENT, VISUAL_SEGMENT, ParsedCompletion, parse_completion, split_sentences
from ..schema import ModalityImportance
from .common import classify_groups, label_sets, modality_importances, targets

# Segments that are "<M>" for each Modality Importance.
MODALITY_SEGMENTS: dict[ModalityImportance, tuple[str, ...]] = {
    ModalityImportance.AUDIO: (AUDIO_SEGMENT,),
    ModalityImportance.VISUAL: (VISUAL_SEGMENT,),
    ModalityImportance.BOTH: (AUDIO_SEGMENT, VISUAL_SEGMENT),
}
Denominator = Literal["all", "non_neutral", "non_neutral_erv"]
Start = Literal["strict", "tolerant"]


def _modality_rewards(
    name: str,
    completions: list[Any],
    label: list[str] | None,
    modality_importance: list[str | None] | None,
    *,
    classifier: EmotionClassifier,
    label_set: list[str] | str | LabelSet | None,
    select: Callable[[ParsedCompletion, tuple[str, ...]], list[str]],
    score: Callable[[str, list[frozenset[str]]], float],
) -> list[float | None]:
    """The skeleton of both rewards: ``None`` without MI, 0.0 without sentences, else ``score(e*, sentence labels)``.

    ``select(parsed completion, <M> segment names)`` gives the sentences to classify; all of the batch go to the
    classifier together, in one call per label set. ``name`` is the reward's, for error messages.
    """
    sets = label_sets(label_set, len(completions), name)
    gold = targets(label, sets, name)
    importances = modality_importances(modality_importance, len(completions), name)
    rewards: list[float | None] = []
    groups: list[tuple[LabelSet, list[str]]] = []
    pending: list[int] = []
    for index, (completion, importance) in enumerate(zip(completions, importances)):
        if importance not in MODALITY_SEGMENTS:
            rewards.append(None)
            continue
        rewards.append(0.0)
        sentences = select(parse_completion(completion), MODALITY_SEGMENTS[importance])
        if sentences:
            pending.append(index)
            groups.append((sets[index], sentences))
    for index, sentence_labels in zip(pending, classify_groups(classifier, groups)):
        rewards[index] = score(gold[index], sentence_labels)
    return rewards


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
    if start not in ("strict", "tolerant"):
        raise ValueError(f"modality_aligned_order_reward: start must be 'strict' or 'tolerant', got {start!r}")

    def first_segment(parsed: ParsedCompletion, modality_segments: tuple[str, ...]) -> list[str]:
        first = parsed.starts_with if start == "strict" else parsed.first_segment
        if first not in modality_segments:
            return []
        return split_sentences(parsed.segments[0].text)

    def in_first_segment(target: str, sentence_labels: list[frozenset[str]]) -> float:
        return float(any(target in labels for labels in sentence_labels))

    return _modality_rewards(
        "modality_aligned_order_reward",
        completions,
        label,
        modality_importance,
        classifier=classifier,
        label_set=label_set,
        select=first_segment,
        score=in_first_segment,
    )


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

    ``S_m`` gathers the sentences of every ``<M>`` segment (both modality segments for MI ``both``) and every
    ``<think>`` segment, wherever they appear. No sentence gives 0.0; no MI gives ``None``.

    Args:
        completions: Completions (strings or chat messages), ``B*G`` of them.
        label: Dataset column: target label word per completion.
        modality_importance: Dataset column: ``audio``/``visual``/``both``/``undetermined`` (or missing).
        classifier: The ``e_classifier``.
        label_set: Dataset column (one name per completion) or one label set for all.
        denominator: ``"all"``: ``|S_m|``, as eq. 2 writes it. ``"non_neutral"``: only sentences with a
            non-neutral label (all of them when ``e*`` is neutral), as ERV's reward divides; sentences whose
            labels map to no label word (empty set) are left out. ``"non_neutral_erv"``: ERV exactly, which
            counts those unmapped sentences as non-neutral.

    Returns:
        One float in [0, 1] (or ``None``) per completion.
    """
    name = "modality_grounded_reasoning_reward"
    if denominator not in ("all", "non_neutral", "non_neutral_erv"):
        raise ValueError(f"{name}: denominator must be 'all', 'non_neutral' or 'non_neutral_erv', got {denominator!r}")

    def modality_and_think(parsed: ParsedCompletion, modality_segments: tuple[str, ...]) -> list[str]:
        return parsed.sentences(*modality_segments, THINK_SEGMENT)

    def share_matching(target: str, sentence_labels: list[frozenset[str]]) -> float:
        if denominator == "non_neutral" and target != NEUTRAL:
            sentence_labels = [labels for labels in sentence_labels if labels - {NEUTRAL}]
        elif denominator == "non_neutral_erv" and target != NEUTRAL:
            sentence_labels = [labels for labels in sentence_labels if labels != {NEUTRAL}]
        if not sentence_labels:
            return 0.0
        return sum(target in labels for labels in sentence_labels) / len(sentence_labels)

    return _modality_rewards(
        name,
        completions,
        label,
        modality_importance,
        classifier=classifier,
        label_set=label_set,
        select=modality_and_think,
        score=share_matching,
    )

"""Column handling shared by the rewards: label sets, targets, Modality Importance, the dominant-modality segments
``<M>``, batched classification.

How the modality rewards (`order`, `grounding`) read Modality Importance:

- ``audio`` / ``visual``: ``<M>`` is ``<aud_desc>`` / ``<vis_desc>``.
- ``both`` (audio and visual equally informative; SFT shows both orders): eq. 1 accepts either modality first,
  with ``E_m`` taken from that first segment; eq. 2 aggregates both modality segments and ``<think>``, since
  both modalities carry the emotion.
- ``undetermined`` or missing: both rewards return ``None`` for that completion. There is no dominant modality
  to align with, so any number would be arbitrary: 0 would push every order down, 1 would pay for nothing.
  trl reads ``None`` as "not applicable": the sample's other rewards still count, and the logged mean of this
  reward leaves it out. Since all completions of a prompt share ``m``, their group gets no signal from these
  rewards, which is the intent.

How ``e_classifier(s) = e*`` is read: the classifier gives a *set* of label words per sentence (multi-label,
e.g. GoEmotions top-2 over threshold 0.1); a sentence matches when its set contains ``e*``, as ERV counts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ..classifiers import EmotionClassifier
from ..labels import LabelSet, get_label_set
from ..parsing import AUDIO_SEGMENT, MODALITY_SEGMENTS, VISUAL_SEGMENT
from ..schema import LABEL, LABEL_SET, MODALITY_IMPORTANCE, ModalityImportance

# The segments that are "<M>" for each Modality Importance that has a dominant modality.
DOMINANT_SEGMENTS: dict[ModalityImportance, tuple[str, ...]] = {
    ModalityImportance.AUDIO: (AUDIO_SEGMENT,),
    ModalityImportance.VISUAL: (VISUAL_SEGMENT,),
    ModalityImportance.BOTH: MODALITY_SEGMENTS,
}


def column(values: Any, name: str, size: int, reward: str) -> list[Any]:
    """A dataset column as trl passes it (one value per completion), checked for presence and length."""
    if values is None:
        raise ValueError(f"{reward} needs the {name!r} dataset column")
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{reward}: column {name!r} must be a list with one value per completion, got {values!r:.80}")
    if len(values) != size:
        raise ValueError(f"{reward}: column {name!r} has {len(values)} values for {size} completions")
    return list(values)


def label_sets(values: Any, size: int, reward: str) -> list[LabelSet]:
    """Label set per completion from the ``label_set`` column, or one name/`LabelSet` for all."""
    if isinstance(values, (str, LabelSet)):
        return [get_label_set(values)] * size
    if values is None:
        raise ValueError(
            f"{reward} needs the {LABEL_SET!r} dataset column, or a default: get_reward_funcs(..., label_set=)"
        )
    return [get_label_set(value) for value in column(values, LABEL_SET, size, reward)]


def targets(values: Any, sets: list[LabelSet], reward: str) -> list[str]:
    """Ground-truth label word per completion from the ``label`` column, normalised in its label set."""
    words = []
    for index, (value, label_set) in enumerate(zip(column(values, LABEL, len(sets), reward), sets)):
        word = label_set.normalize(value) if isinstance(value, str) else None
        if word is None:
            raise ValueError(f"{reward}: label[{index}]={value!r} is not a {label_set.name} label {label_set.labels}")
        words.append(word)
    return words


def modality_importances(values: Any, size: int, reward: str) -> list[ModalityImportance]:
    """`ModalityImportance` per completion; missing values (``None``, ``""``, NaN) read as ``UNDETERMINED``."""
    result = []
    for index, value in enumerate(column(values, MODALITY_IMPORTANCE, size, reward)):
        if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
            result.append(ModalityImportance.UNDETERMINED)
            continue
        try:
            result.append(ModalityImportance(value.strip().lower() if isinstance(value, str) else value))
        except ValueError:
            choices = ", ".join(member.value for member in ModalityImportance)
            raise ValueError(f"{reward}: modality_importance[{index}]={value!r} is not one of {choices}") from None
    return result


def classify_groups(
    classifier: EmotionClassifier, groups: Sequence[tuple[LabelSet, list[str]]]
) -> list[list[frozenset[str]]]:
    """Label sets per sentence for each ``(label set, sentences)`` group, in one classifier call per label set."""
    by_label_set: dict[str, list[int]] = defaultdict(list)
    for index, (label_set, _) in enumerate(groups):
        by_label_set[label_set.name].append(index)
    results: list[list[frozenset[str]]] = [[] for _ in groups]
    for indices in by_label_set.values():
        label_set = groups[indices[0]][0]
        flat = [sentence for index in indices for sentence in groups[index][1]]
        labels = iter(classifier.classify(flat, label_set) if flat else [])
        for index in indices:
            results[index] = [next(labels) for _ in groups[index][1]]
    return results


def classify_sentences(
    classifier: EmotionClassifier, sets: Sequence[LabelSet], sentences: Sequence[list[str] | None]
) -> list[list[frozenset[str]] | None]:
    """Label sets of each completion's sentences (``None`` stays ``None``), all of the batch in one classifier call
    per label set."""
    pending = [index for index, group in enumerate(sentences) if group]
    labels: list[list[frozenset[str]] | None] = [None if group is None else [] for group in sentences]
    for index, group_labels in zip(pending, classify_groups(classifier, [(sets[i], sentences[i]) for i in pending])):
        labels[index] = group_labels
    return labels


def modality_reward_columns(
    name: str,
    completions: Sequence[Any],
    label: Any,
    modality_importance: Any,
    label_set: Any,
) -> tuple[list[LabelSet], list[str], list[ModalityImportance]]:
    """The label set, target label and Modality Importance of each completion, checked; ``name`` is the reward's,
    for error messages."""
    sets = label_sets(label_set, len(completions), name)
    return sets, targets(label, sets, name), modality_importances(modality_importance, len(completions), name)

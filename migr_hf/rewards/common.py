"""Column handling shared by the rewards: label sets, targets, Modality Importance, batched classification."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ..classifiers import EmotionClassifier
from ..labels import LabelSet, get_label_set
from ..schema import LABEL, LABEL_SET, MODALITY_IMPORTANCE, ModalityImportance


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

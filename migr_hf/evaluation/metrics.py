"""Recognition and reasoning-consistency metrics (paper appendix 7.2, eq. 4-8, and Table 2).

Inputs are label words per sample: ``references`` (ground truth ``y``), ``predictions`` (the model's answer
``ŷ``) and ``explanations`` (the emotion ``e`` the judge read from the reasoning). ``predictions`` and
``explanations`` may hold ``None`` (no parsable answer, judge failure): it never equals anything, so it counts
as wrong. With ``label_set`` given, every value is first normalised with the benchmark's synonyms; a
prediction outside the label set becomes ``None`` and a reference outside it is an error. All results are
fractions in [0, 1] (the paper prints percentages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..labels import LabelSet, get_label_set

Labels = Sequence[str | None]


def _normalize(values: Labels, label_set: LabelSet | None, name: str, required: bool = False) -> list[str | None]:
    normalized = []
    for index, value in enumerate(values):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name}[{index}] must be a label word or None, got {type(value).__name__}")
        word = label_set.normalize(value) if label_set is not None else value
        if required and word is None:
            where = f"a {label_set.name} label {label_set.labels}" if label_set is not None else "a label word"
            raise ValueError(f"{name}[{index}]={value!r} is not {where}")
        normalized.append(word)
    return normalized


def _prepare(
    label_set: str | LabelSet | None, **columns: Labels
) -> tuple[LabelSet | None, dict[str, list[str | None]]]:
    """Check lengths (equal, non-zero) and normalise; ``references`` must all be labels."""
    sizes = {name: len(values) for name, values in columns.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"inputs differ in length: {sizes}")
    if not next(iter(sizes.values())):
        raise ValueError("metrics need at least one sample")
    resolved = get_label_set(label_set) if label_set is not None else None
    return resolved, {
        name: _normalize(values, resolved, name, required=name == "references") for name, values in columns.items()
    }


def _classes(references: list[str | None], label_set: LabelSet | None) -> list[str]:
    """Classes present in the ground truth, in the label set's order (sorted without a label set)."""
    present = set(references)
    return [label for label in label_set.labels if label in present] if label_set is not None else sorted(present)


def per_class_recall(
    predictions: Labels, references: Labels, label_set: str | LabelSet | None = None
) -> dict[str, float]:
    """Recall ``TP_i / N_i`` per class present in ``references`` (label-set order)."""
    resolved, cols = _prepare(label_set, predictions=predictions, references=references)
    pairs = list(zip(cols["predictions"], cols["references"]))
    recalls = {}
    for label in _classes(cols["references"], resolved):
        hits = [prediction == reference for prediction, reference in pairs if reference == label]
        recalls[label] = sum(hits) / len(hits)
    return recalls


def uar(predictions: Labels, references: Labels, label_set: str | LabelSet | None = None) -> float:
    """Eq. 5, unweighted average recall: mean of the per-class recalls over the classes in ``references``."""
    recalls = per_class_recall(predictions, references, label_set)
    return sum(recalls.values()) / len(recalls)


def war(predictions: Labels, references: Labels, label_set: str | LabelSet | None = None) -> float:
    """Eq. 4, weighted average recall: ``sum TP_i / sum N_i``, i.e. accuracy."""
    _, cols = _prepare(label_set, predictions=predictions, references=references)
    return _mean(p == r for p, r in zip(cols["predictions"], cols["references"]))


def eea(explanations: Labels, references: Labels, label_set: str | LabelSet | None = None) -> float:
    """Eq. 6, explanation emotion accuracy: share with ``e == y``."""
    _, cols = _prepare(label_set, explanations=explanations, references=references)
    return _mean(e is not None and e == y for e, y in zip(cols["explanations"], cols["references"]))


def epc(explanations: Labels, predictions: Labels, label_set: str | LabelSet | None = None) -> float:
    """Eq. 7, explanation-prediction consistency: share with ``e == ŷ`` (``None`` never matches)."""
    _, cols = _prepare(label_set, explanations=explanations, predictions=predictions)
    return _mean(e is not None and e == p for e, p in zip(cols["explanations"], cols["predictions"]))


def fcr(
    explanations: Labels, predictions: Labels, references: Labels, label_set: str | LabelSet | None = None
) -> float:
    """Eq. 8, faithful consistency rate: share with ``e == y`` and ``ŷ == y``."""
    _, cols = _prepare(label_set, explanations=explanations, predictions=predictions, references=references)
    return _mean(e == y and p == y for e, p, y in zip(cols["explanations"], cols["predictions"], cols["references"]))


def reasoning_answer_inconsistency(
    explanations: Labels, predictions: Labels, references: Labels, label_set: str | LabelSet | None = None
) -> dict[str, float | None]:
    """Table 2, R×/A✓: samples with a correct answer (``ŷ == y``) but wrong reasoning (``e != y``).

    Returns:
        ``{"all": share of all samples, "among_correct": share of correctly answered samples}``;
        ``among_correct`` is ``None`` when no answer is correct.
    """
    _, cols = _prepare(label_set, explanations=explanations, predictions=predictions, references=references)
    correct = [(e, y) for e, p, y in zip(cols["explanations"], cols["predictions"], cols["references"]) if p == y]
    inconsistent = sum(e != y for e, y in correct)
    return {
        "all": inconsistent / len(cols["references"]),
        "among_correct": inconsistent / len(correct) if correct else None,
    }


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (true label, predicted label).

    Attributes:
        labels: Row labels (every label of the label set, or the reference classes without one).
        counts: Integer array, shape ``(len(labels), len(labels) + 1)``; the last column counts predictions that
            are no label (unparsable or outside the set): they are wrong, never an extra class.
    """

    labels: tuple[str, ...]
    counts: np.ndarray

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names: the labels, then ``"invalid"``."""
        return (*self.labels, "invalid")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready ``{"labels", "columns", "counts"}``."""
        return {"labels": list(self.labels), "columns": list(self.columns), "counts": self.counts.tolist()}


def confusion_matrix(
    predictions: Labels, references: Labels, label_set: str | LabelSet | None = None
) -> ConfusionMatrix:
    """Confusion matrix of the answers (rows: ground truth, columns: prediction or ``invalid``)."""
    resolved, cols = _prepare(label_set, predictions=predictions, references=references)
    labels = tuple(resolved.labels) if resolved is not None else tuple(sorted(set(cols["references"])))
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels) + 1), dtype=np.int64)
    for prediction, reference in zip(cols["predictions"], cols["references"]):
        counts[index[reference], index.get(prediction, len(labels))] += 1
    return ConfusionMatrix(labels=labels, counts=counts)


def _mean(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags)

"""The labelled sentence set that measures sentence-level emotion classifiers.

``data/emotion_sentences.json``: 407 sentences in the style of EMER/DFEW/MAFW reasoning (video, audio and
subtitle clues), written by hand for migr-hf, each labelled with its MAFW word and, where the class exists
there, its DFEW and EMER word. Split ``dev`` (275, 25 per MAFW class) built and tuned the offline lexicon;
split ``test`` (132, 12 per class) was written after the lexicon was frozen and is only for reporting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..labels import LabelSet, get_label_set
from .base import UNMAPPED, EmotionClassifier

SENTENCES_PATH = Path(__file__).parent / "data" / "emotion_sentences.json"
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class SentenceScore:
    """Accuracy of a classifier on the labelled sentences of one label set (fractions in [0, 1]).

    Attributes:
        label_set: Label set name.
        split: ``"dev"``, ``"test"`` or ``"all"``.
        size: Number of scored sentences.
        top1: Share whose top label (:meth:`EmotionClassifier.judge`) is the gold label.
        in_set: Share whose label set (:meth:`EmotionClassifier.classify`) contains the gold label.
        mean_set_size: Mean number of label words per sentence (``UNMAPPED`` not counted).
    """

    label_set: str
    split: str
    size: int
    top1: float
    in_set: float
    mean_set_size: float


def load_emotion_sentences(label_set: str | LabelSet, split: str = "test") -> list[tuple[str, str]]:
    """``(sentence, gold label word)`` pairs of ``split`` (``"dev"``, ``"test"`` or ``"all"``) for a label set.

    Sentences whose class has no word in the label set are left out.
    """
    label_set = get_label_set(label_set)
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be one of {SPLITS + ('all',)}, got {split!r}")
    rows = json.loads(SENTENCES_PATH.read_text(encoding="utf-8"))["sentences"]
    if label_set.name not in rows[0]:
        raise ValueError(f"the labelled sentences have no labels for label set {label_set.name!r}")
    return [
        (row["text"], row[label_set.name])
        for row in rows
        if row[label_set.name] is not None and split in ("all", row["split"])
    ]


def score_classifier(classifier: EmotionClassifier, label_set: str | LabelSet, split: str = "test") -> SentenceScore:
    """Top-1 and set accuracy of ``classifier`` on the labelled sentences of ``label_set``."""
    label_set = get_label_set(label_set)
    pairs = load_emotion_sentences(label_set, split)
    texts = [text for text, _ in pairs]
    tops = classifier.judge(texts, label_set)
    sets = classifier.classify(texts, label_set)
    return SentenceScore(
        label_set=label_set.name,
        split=split,
        size=len(pairs),
        top1=sum(top == gold for top, (_, gold) in zip(tops, pairs)) / len(pairs),
        in_set=sum(gold in labels for labels, (_, gold) in zip(sets, pairs)) / len(pairs),
        mean_set_size=sum(len(labels - {UNMAPPED}) for labels in sets) / len(pairs),
    )

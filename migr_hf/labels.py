"""Emotion label vocabularies and synonym maps: the one place every benchmark's label words live.

The words and synonym maps follow how the baselines (R1-Omni, ERV) score DFEW and MAFW: a predicted word
is mapped through the benchmark's synonyms and must then be one of the benchmark's label words; anything
else, or no parsable answer, is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class LabelSet:
    """A benchmark's label vocabulary.

    Attributes:
        name: Registry name (``"dfew"``, ``"mafw"``, ``"emer"``).
        labels: Label words in the benchmark's official index order (index ``i`` is official id ``i + 1``).
        synonyms: Lower-case variant -> label word, applied before matching.
    """

    name: str
    labels: tuple[str, ...]
    synonyms: Mapping[str, str] = field(default_factory=dict)

    def normalize(self, word: str | None) -> str | None:
        """Map a free-form answer word to a label word of this set, or ``None`` when it is not one."""
        if word is None:
            return None
        key = re.sub(r"[^a-z ]+", " ", word.lower()).strip()
        key = re.sub(r"\s+", " ", key)
        key = self.synonyms.get(key, key)
        return key if key in self.labels else None

    def from_official_id(self, index: int) -> str:
        """Label word for the benchmark's 1-based official label id."""
        if not 1 <= index <= len(self.labels):
            raise ValueError(f"{self.name}: label id {index} is outside 1..{len(self.labels)}")
        return self.labels[index - 1]

    def __contains__(self, word: object) -> bool:
        return word in self.labels

    def __len__(self) -> int:
        return len(self.labels)


DFEW = LabelSet(
    name="dfew",
    labels=("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"),
    synonyms=MappingProxyType({"sadness": "sad", "happiness": "happy", "anger": "angry"}),
)

MAFW = LabelSet(
    name="mafw",
    labels=(
        "anger",
        "disgust",
        "fear",
        "happiness",
        "neutral",
        "sadness",
        "surprise",
        "contempt",
        "anxiety",
        "helplessness",
        "disappointment",
    ),
    synonyms=MappingProxyType(
        {
            "angry": "anger",
            "sad": "sadness",
            "anxious": "anxiety",
            "helpless": "helplessness",
            "disappointed": "disappointment",
            "happy": "happiness",
            "contemptuous": "contempt",
        }
    ),
)

# EMER labels come from MER2023 (EMER-V1 uses five of them and no "neutral").
EMER = LabelSet(
    name="emer",
    labels=("neutral", "angry", "happy", "sad", "worried", "surprise"),
    synonyms=MappingProxyType({"happiness": "happy", "sadness": "sad", "anger": "angry", "worry": "worried"}),
)

LABEL_SETS: Mapping[str, LabelSet] = MappingProxyType({ls.name: ls for ls in (DFEW, MAFW, EMER)})


def get_label_set(name: str | LabelSet) -> LabelSet:
    """Look up a label set by name (case-insensitive); a ``LabelSet`` is returned unchanged."""
    if isinstance(name, LabelSet):
        return name
    try:
        return LABEL_SETS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown label set {name!r}; known: {', '.join(LABEL_SETS)}") from None

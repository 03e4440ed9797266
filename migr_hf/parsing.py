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
  opened inside ``x`` is reported ``<y> nested in <x>`` and marked ``nested``.
- ``</y>`` that closes nothing is reported ``stray </y>`` and dropped from the text.
- A segment never closed runs to the end of the text, less what inner segments hold (``<answer>`` to end of
  text, as the baselines score it), and is reported ``unclosed``. So ``<think> a <answer> b`` gives think
  ``a`` and answer ``b`` (the answer is not nested: nothing closes around it).

The answer is the *last* ``<answer>`` segment that is not nested: an ``<answer>`` written inside a closed
``<think>`` (``<think>... <answer>happy</answer> ...</think><answer>sad</answer>``) is never the answer.

Model text is hostile input: everything here runs in time linear in the length of the text, and at most
``MAX_COMPLETION_CHARS`` characters of a completion are read (the rest is ignored and reported as an issue).
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

# Characters of a completion that the parser reads (1 MiB of text); longer completions are cut there.
MAX_COMPLETION_CHARS = 1 << 20
# Possessive quantifiers: no backtracking, so "<" followed by a million spaces is one linear scan.
_TAG = re.compile(r"<\s*+(/?)\s*+(" + "|".join(SEGMENT_NAMES) + r")\s*+>", re.IGNORECASE)
_WORD_CHAR = re.compile(r"\w")
_TERMINATORS = ".!?"
_CJK_TERMINATORS = "\u3002\uff01\uff1f"
# Closing marks that stay with the sentence they end: quotes, brackets, CJK corner brackets.
_CLOSERS = "\"'\u201d\u2019)]\u300d\u300f"
_QUOTES = '"\u201c\u201d'
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "approx", "no", "fig"})
_LONGEST_ABBREVIATION = 12  # characters looked back for an abbreviation, quotes and brackets included


@dataclass(frozen=True)
class Segment:
    """One tagged segment of a completion.

    Attributes:
        name: ``"aud_desc"``, ``"vis_desc"``, ``"think"`` or ``"answer"``.
        text: Content without tags, stripped.
        start: Character offset of the opening tag.
        end: Character offset just past the closing tag (where the segment stopped when unclosed).
        closed: Whether a closing tag (or bare reopening tag) ended it.
        nested: Whether it lies inside another segment that a closing tag ends.
    """

    name: str
    text: str
    start: int
    end: int
    closed: bool
    nested: bool = False


@dataclass(frozen=True)
class ParsedCompletion:
    """What :func:`parse_completion` found in one completion.

    Attributes:
        text: The completion as plain text.
        segments: Segments in order of appearance.
        issues: Deviations from the MIGR structure, human-readable (empty when well-formed).
        leading_text: What precedes the first segment, stray tags included, stripped (``""`` when only
            whitespace does).
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
        """Name of the segment the completion starts with (only whitespace before it), else ``None``.

        Strict, as eq. 1 reads: text or a stray tag before the first segment gives ``None``.
        """
        return self.first_segment if not self.leading_text else None

    @property
    def answer(self) -> str | None:
        """Text of the last ``<answer>`` segment not nested in another one, or ``None`` when there is none."""
        segment = next(
            (s for s in reversed(self.segments) if s.name == ANSWER_SEGMENT and not s.nested), None
        )
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
    """Split text into sentences; the one sentence splitter of migr-hf (SFT targets, rewards, evaluation).

    - A line break always ends a sentence.
    - ``.``, ``!``, ``?`` (a run of them, with closing quotes or brackets) end a sentence when whitespace or the
      end of the line follows and the next word does not start in lower case; a single ``.`` after an
      abbreviation (``ABBREVIATIONS``: "Mr.", "e.g.") does not. So "3.5 s" and "e.g. this" stay whole.
    - CJK full stops (``。！？``) end a sentence wherever they are.
    - Quoted speech stays one sentence: nothing ends inside ``"..."`` or ``“...”``; a terminator followed by
      the closing quote ends the sentence after the quote. A line whose quotes do not balance is split as if
      it had none.

    Sentences are stripped slices of ``text``; pieces without a word character (stray punctuation) are dropped.
    Linear in ``len(text)``.
    """
    sentences: list[str] = []
    for line in text.split("\n"):
        pieces, balanced = _split_line(line, respect_quotes=True)
        if not balanced:
            pieces, _ = _split_line(line, respect_quotes=False)
        sentences.extend(piece for piece in pieces if _WORD_CHAR.search(piece))
    return sentences


def _split_line(line: str, respect_quotes: bool) -> tuple[list[str], bool]:
    """Stripped sentences of one line (see :func:`split_sentences`) and whether its quotes balanced."""
    pieces: list[str] = []
    start, i, n = 0, 0, len(line)
    curly, straight = 0, False
    while i < n:
        char = line[i]
        if char in _TERMINATORS or char in _CJK_TERMINATORS:
            cjk = char in _CJK_TERMINATORS
            run = _TERMINATORS if not cjk else _CJK_TERMINATORS
            end = i + 1
            while end < n and line[end] in run:
                end += 1
            while end < n and line[end] in _CLOSERS:
                if respect_quotes and line[end] in _QUOTES:
                    curly, straight = _quote(line[end], curly, straight)
                end += 1
            inside = respect_quotes and (curly > 0 or straight)
            if not inside and (cjk or _ends_sentence(line, i, end)):
                pieces.append(line[start:end].strip())
                start = end
            i = end
            continue
        if respect_quotes and char in _QUOTES:
            curly, straight = _quote(char, curly, straight)
        i += 1
    pieces.append(line[start:].strip())
    return [piece for piece in pieces if piece], not (curly > 0 or straight)


def _quote(char: str, curly: int, straight: bool) -> tuple[int, bool]:
    if char == "\u201c":
        return curly + 1, straight
    if char == "\u201d":
        return max(0, curly - 1), straight
    return curly, not straight


def _ends_sentence(line: str, terminator: int, end: int) -> bool:
    """Whether the ``.!?`` run starting at ``terminator`` (closers included up to ``end``) ends a sentence."""
    if end < len(line) and not line[end].isspace():
        return False
    following = end
    while following < len(line) and line[following].isspace():
        following += 1
    if following < len(line) and line[following].islower():
        return False
    if line[terminator] != ".":
        return True
    word_start = terminator
    while word_start > 0 and not line[word_start - 1].isspace():
        if terminator - word_start == _LONGEST_ABBREVIATION:
            return True  # a longer word is no abbreviation
        word_start -= 1
    return line[word_start:terminator].lower().lstrip("\"'\u201c(") not in ABBREVIATIONS


def parse_completion(completion: Any) -> ParsedCompletion:
    """Parse one completion (string or chat messages) into its MIGR segments. Never raises; see the module doc."""
    text = completion_text(completion)
    issues: list[str] = []
    if len(text) > MAX_COMPLETION_CHARS:
        text = text[:MAX_COMPLETION_CHARS]
        issues.append(f"cut at {MAX_COMPLETION_CHARS} characters")
    found: list[tuple[str, str, int, int, bool]] = []
    nested: set[int] = set()
    outside: list[str] = []
    stack: list[_OpenSegment] = []
    cursor = 0

    def finish(frame: _OpenSegment, end: int, closed: bool) -> None:
        found.append((frame.name, "".join(frame.pieces).strip(), frame.start, end, closed))
        if closed:
            nested.update(frame.descendants)
        else:
            issues.append(f"unclosed <{frame.name}>")
        if stack:
            stack[-1].descendants.extend((*frame.descendants, len(found) - 1))

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

    order = sorted(range(len(found)), key=lambda index: found[index][2])
    segments = [Segment(*found[index], nested=index in nested) for index in order]
    leading_text = (text[: segments[0].start] if segments else text).strip()
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
    descendants: list[int] = field(default_factory=list)  # indices of finished segments opened inside this one


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

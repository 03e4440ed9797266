"""Reasoning-answer pairs for FAU-filtered samples, grounded in the action units seen at the peak frame.

Both writers produce EMER-structured text ("In the video, ..." / "In the audio, ..." / "Based on ..."), so the
rule-based splitter of `migr_hf.data.reasoning` separates it like EMER. The audio paragraph states that no audio
cue was measured: the FAU evidence is visual only, and nothing about the audio is invented.
"""

from __future__ import annotations

from typing import Protocol

from ..services.llm import LLMClient
from .fau import FAUEvidence
from .openface import AU_NAMES
from .records import SampleRecord

MAX_LISTED_AUS = 6


class ReasoningWriter(Protocol):
    """Writes the reasoning text of a FAU-filtered sample. ``name`` identifies the writer in build records."""

    name: str

    def write(self, record: SampleRecord, evidence: FAUEvidence, target: str, context: str | None = None) -> str:
        """Reasoning for ``record`` (whose label matches table emotion ``target``); ``context`` is an optional
        description of the clip (e.g. MAFW's English caption)."""
        ...


def describe_aus(evidence: FAUEvidence, limit: int = MAX_LISTED_AUS) -> list[str]:
    """Active AUs at the peak, strongest first, as ``"cheek raiser (AU06, intensity 2.31)"``."""
    return [f"{AU_NAMES[au]} ({au}, intensity {value:.2f})" for au, value in list(evidence.active_aus.items())[:limit]]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", '"', "”")) else f"{text}."


class TemplateReasoningWriter:
    """Offline writer: fills a fixed EMER-style template with the peak-frame evidence."""

    name = "template"

    def write(self, record: SampleRecord, evidence: FAUEvidence, target: str, context: str | None = None) -> str:
        listed = describe_aus(evidence)
        shown = ", ".join(listed) if listed else "no strongly active action unit"
        video = [f"In the video, at {evidence.timestamp:.2f} s, the peak of the expression, the face shows {shown}."]
        if context:
            video.append(_sentence(f"The clip is described as follows: {context}"))
        pattern = [AU_NAMES[au] for au in evidence.matched_aus.get(target, ())]
        if pattern:
            video.append(f"Together, the {_join(pattern)} form the facial pattern of a {target} expression.")
        audio = "In the audio, no vocal cue has been measured for this clip, so the judgment rests on the face."
        conclusion = (
            f"Based on the facial action units at the peak of the expression, we can infer that the emotion "
            f"conveyed is {record.label}."
        )
        return " ".join([*video, audio, conclusion])


WRITER_PROMPT = """Write a short explanation (3 to 6 sentences) of why the person in a video clip shows the \
emotion "{label}".
Facial action units measured with OpenFace at the peak of the expression ({timestamp:.2f} s), intensity 0 to 5:
{aus}
These action units match the facial pattern of a {target} expression.{context}
Write three paragraphs, each starting with exactly these words:
"In the video," describe the facial movements above in plain words (no AU codes).
"In the audio," say that no audio cue was measured, unless the clip description states one.
"Based on" conclude that the emotion is {label}.
Use only the evidence given and invent no other detail."""


class OpenAIReasoningWriter:
    """Writer backed by an OpenAI-compatible chat model (`migr_hf.services.llm.LLMClient`: retries, on-disk cache)."""

    def __init__(self, client: LLMClient | None = None) -> None:
        self.client = client or LLMClient()
        self.name = f"llm:{self.client.config.model}"

    def prompt(self, record: SampleRecord, evidence: FAUEvidence, target: str, context: str | None = None) -> str:
        """The user message sent for one sample."""
        aus = "\n".join(f"- {line}" for line in describe_aus(evidence)) or "- no strongly active action unit"
        return WRITER_PROMPT.format(
            label=record.label,
            timestamp=evidence.timestamp,
            aus=aus,
            target=target,
            context=f"\nClip description: {context}" if context else "",
        )

    def write(self, record: SampleRecord, evidence: FAUEvidence, target: str, context: str | None = None) -> str:
        return self.client.chat([{"role": "user", "content": self.prompt(record, evidence, target, context)}])


def get_writer(name: str, client: LLMClient | None = None) -> ReasoningWriter:
    """``"template"`` or ``"openai"`` (with ``client``, or an `LLMClient` configured from the environment)."""
    if name == "template":
        return TemplateReasoningWriter()
    if name == "openai":
        return OpenAIReasoningWriter(client)
    raise ValueError(f"unknown reasoning writer {name!r}; choose 'template' or 'openai'")

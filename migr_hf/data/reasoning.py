"""Split reasoning text into audio, visual and concluding parts (paper 3.1.3); `migr_hf.data.reorder` puts the
parts in Modality Importance order.

Rule-based splitter (`split_reasoning`). The text is cut into sentences by migr-hf's one sentence splitter,
:func:`migr_hf.parsing.split_sentences` (quote-aware: a quoted subtitle with several sentences stays one
sentence; abbreviations such as "e.g." and decimals do not end a sentence; line breaks always do), the same that
the rewards and the evaluation use. Each sentence is then assigned, in order of precedence:

1. Header cue at the start of the sentence: it opens an explicit section that the following sentences stay in
   until the next header.

   * visual: "In/From the video/clip/footage/scene/image(s)/frame(s)/visuals", "Visually", "In terms of the
     visual/facial ...", "The visual/facial cues/content/information/expression ...", "Looking at/Observing/
     Watching the video/face/person ...".
   * audio: "In/From the audio/speech/voice/sound(track)", "Acoustically", "In terms of the audio/voice/speech/
     tone ...", "The audio/acoustic/vocal cues/content/information/track ...", "Listening to ...", "Hearing ...",
     and the spoken content: "In/From the text/subtitle(s)/transcript/dialogue/lines", "The subtitle/transcript
     ...". Subtitles are the speech of the audio track, so text clues belong to the audio part.
   * conclusion: "Based on", "Therefore", "Thus", "Hence", "Consequently", "Overall", "In summary", "To
     summarize", "In conclusion", "To conclude", "To sum up", "Taken together", "All in all", "In short",
     "Considering/Combining/Integrating/Putting all/these/the above/together/both ...".

2. Inference cue anywhere in the sentence ("we can infer/conclude/deduce", "can be inferred/concluded/deduced"):
   conclusion, and the following sentences stay there.
3. Inside an explicit section (opened by a header or an inference cue), the sentence continues that section.
4. Otherwise, keyword vote: audio words (audio, voice, vocal, tone, intonation, pitch, speech, speak*, said,
   says, sound*, volume, loud*, whisper*, shout*, yell*, scream*, sigh*, sob*, subtitle*, transcript, utterance,
   words, accent, prosody, music, hear*, listen*, acoustic*) against visual words (video, visual*, face, facial,
   expression*, eye*, brow*, forehead, mouth, lip(s), smil*, frown*, gaz*, star(e|ing), glanc*, head, nod*, body,
   gesture*, posture, hand*, look*, frame*, scene, cheek*, jaw, nose, tear*, AUxx, action unit(s), appearance,
   wrinkl*). The larger count wins; a tie continues the current part, and a first sentence without cues goes to
   the conclusion.

EMER's "In the video, ... In the audio, ... In the text, ... Based on ..., we can infer ..." therefore splits into
video sentences (visual), audio and subtitle sentences (audio), and the final inference (conclusion).
`LLMReasoningSplitter` asks an OpenAI-compatible model instead, falling back to the rules when its reply cannot
be parsed.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol

from ..parsing import split_sentences
from ..services.llm import LLMClient
from .records import SampleRecord

logger = logging.getLogger(__name__)

VISUAL_HEADER_CUES = (
    r"(in|from|within) the (video|clip|footage|scene|images?|frames?|visuals?)\b",
    r"visually\b",
    r"in terms of (the )?(visual|facial|video)",
    r"(the )?(visual|facial) (cues?|content|information|modality|evidence|expressions?)\b",
    r"(looking at|observing|watching) (the )?(video|clip|face|frames?|person|character|man|woman)",
)
AUDIO_HEADER_CUES = (
    r"(in|from|within) the (audio|speech|voice|sound|soundtrack)\b",
    r"acoustically\b",
    r"in terms of (the )?(audio|voice|speech|tone|acoustics?)",
    r"(the )?(audio|acoustic|vocal) (cues?|content|information|modality|evidence|track)\b",
    r"(listening to|hearing)\b",
    r"(in|from|within) the (text|subtitles?|transcript|dialogue|lines)\b",
    r"(the )?(subtitles?|transcript)\b",
)
CONCLUSION_HEADER_CUES = (
    r"based on\b",
    r"(therefore|thus|hence|consequently|overall|in summary|to summari[sz]e|in conclusion|to conclude|to sum up"
    r"|taken together|all in all|in short)\b",
    r"(considering|combining|integrating|putting) (all|these|the above|together|both|everything)\b",
)
INFERENCE_CUES = (r"\bwe can (infer|conclude|deduce)\b", r"\bcan be (inferred|concluded|deduced)\b")
AUDIO_KEYWORDS = tuple(
    r"audio voice vocal tones? intonation pitch speech speak\w* spoke said says sound\w* volume loud\w* whisper\w*"
    r" shout\w* yell\w* scream\w* sigh\w* sob\w* subtitle\w* transcript utterance words accent prosody music hear\w*"
    r" listen\w* acoustic\w*".split()
)
VISUAL_KEYWORDS = tuple(
    r"video visual\w* face facial expression\w* eye\w* brow\w* forehead mouth lips? smil\w* frown\w* gaz\w*"
    r" star(?:e|es|ed|ing) glanc\w* head nod\w* body gesture\w* posture hand\w* look\w* frames? scene cheek\w* jaw"
    r" nose tears? au\d{2} action\sunits? appearance wrinkl\w*".split()
)

_LEADING = r"^[\s\"'“‘(\[-]*"
_VISUAL_HEADER = re.compile(_LEADING + "(" + "|".join(VISUAL_HEADER_CUES) + ")", re.IGNORECASE)
_AUDIO_HEADER = re.compile(_LEADING + "(" + "|".join(AUDIO_HEADER_CUES) + ")", re.IGNORECASE)
_CONCLUSION_HEADER = re.compile(_LEADING + "(" + "|".join(CONCLUSION_HEADER_CUES) + ")", re.IGNORECASE)
_INFERENCE = re.compile("|".join(INFERENCE_CUES), re.IGNORECASE)
_AUDIO_WORDS = re.compile(r"\b(" + "|".join(AUDIO_KEYWORDS) + r")\b", re.IGNORECASE)
_VISUAL_WORDS = re.compile(r"\b(" + "|".join(VISUAL_KEYWORDS) + r")\b", re.IGNORECASE)

AUDIO, VISUAL, CONCLUSION = "audio", "visual", "conclusion"


@dataclass(frozen=True)
class ReasoningParts:
    """A reasoning text split by modality; each part is its sentences joined by single spaces ("" when none)."""

    audio: str
    visual: str
    conclusion: str


def classify_sentence(sentence: str) -> tuple[str | None, bool]:
    """``(part, is_header)`` from the cues of one sentence alone: part is ``"audio"``, ``"visual"``,
    ``"conclusion"`` or ``None`` (no decisive cue); ``is_header`` when a header or inference cue decided it."""
    for pattern, part in ((_CONCLUSION_HEADER, CONCLUSION), (_AUDIO_HEADER, AUDIO), (_VISUAL_HEADER, VISUAL)):
        if pattern.match(sentence):
            return part, True
    if _INFERENCE.search(sentence):
        return CONCLUSION, True
    audio, visual = len(_AUDIO_WORDS.findall(sentence)), len(_VISUAL_WORDS.findall(sentence))
    if audio != visual:
        return (AUDIO if audio > visual else VISUAL), False
    return None, False


def split_reasoning(text: str) -> ReasoningParts:
    """Split reasoning into audio, visual and concluding parts with the rules of the module docstring."""
    parts: dict[str, list[str]] = {AUDIO: [], VISUAL: [], CONCLUSION: []}
    current: str | None = None
    explicit = False
    for sentence in split_sentences(text):
        sentence = " ".join(sentence.split())
        part, is_header = classify_sentence(sentence)
        if is_header:
            current, explicit = part, True
        elif current is not None and (explicit or part is None):
            pass
        else:
            current = part or CONCLUSION
        parts[current].append(sentence)
    return ReasoningParts(*(" ".join(parts[key]) for key in (AUDIO, VISUAL, CONCLUSION)))


class ReasoningSplitter(Protocol):
    """Anything that splits a reasoning text into `ReasoningParts`."""

    def split(self, text: str) -> ReasoningParts: ...


class RuleBasedSplitter:
    """`split_reasoning` as a `ReasoningSplitter`."""

    name = "rules"

    def split(self, text: str) -> ReasoningParts:
        return split_reasoning(text)


SPLIT_PROMPT = """Split the emotion reasoning below into three parts, copying its sentences verbatim and in order:
- "audio": what is heard: voice, tone, speech, sounds, and the spoken words or subtitles;
- "visual": what is seen: face, expressions, gestures, body, scene;
- "conclusion": sentences that combine the clues or state the inferred emotion.
Every sentence goes to exactly one part. Reply with only a JSON object with the keys "audio", "visual" and
"conclusion", each a list of strings.

Reasoning:
{text}"""


class LLMReasoningSplitter:
    """Split with an OpenAI-compatible model (`migr_hf.services.llm.LLMClient`); an unparsable reply falls back to
    the rules. Endpoint failures raise `migr_hf.services.llm.LLMError`."""

    def __init__(self, client: LLMClient | None = None) -> None:
        self.client = client or LLMClient()
        self.name = f"llm:{self.client.config.model}"

    def split(self, text: str) -> ReasoningParts:
        reply = self.client.chat([{"role": "user", "content": SPLIT_PROMPT.format(text=text)}])
        try:
            return _parse_split_reply(reply)
        except ValueError as err:
            logger.warning("unparsable LLM split (%s); using the rule-based splitter", err)
            return split_reasoning(text)


def _parse_split_reply(reply: str) -> ReasoningParts:
    start, end = reply.find("{"), reply.rfind("}")  # linear, unlike a backtracking regex
    if start < 0 or end < start:
        raise ValueError("no JSON object in the reply")
    data: Any = json.loads(reply[start : end + 1])
    if not isinstance(data, dict) or any(not isinstance(data.get(k), list) for k in (AUDIO, VISUAL, CONCLUSION)):
        raise ValueError("the JSON object needs the lists 'audio', 'visual' and 'conclusion'")
    return ReasoningParts(
        *(" ".join(str(s).strip() for s in data[k] if str(s).strip()) for k in (AUDIO, VISUAL, CONCLUSION))
    )

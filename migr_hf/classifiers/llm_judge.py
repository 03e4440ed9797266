"""The LLM judge: the LLM emotion classifier and the EEA/EPC/FCR judge, on the shared client of
:mod:`migr_hf.services.llm` (retries, on-disk cache, configuration from ``MIGR_LLM_MODEL``, ``MIGR_LLM_CACHE``,
``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``).

:class:`LLMJudgeClassifier` asks ERV's question (``JUDGE_PROMPT``, ERV's wording) and maps the reply onto the
label set. The reasoning is model text, so it is fenced before it reaches the judge (:func:`fence_reasoning`): it
stands between triple quotes, its angle brackets become ``‹ ›`` (no tag survives) and any ``Answer Emotion:`` in
it loses its colon, so a reasoning cannot end the quote, add tags or answer for the judge.

A reply outside the label set is asked again (``max_reasks`` of the client config), and if it stays outside it is
an ``out_of_set`` judgement: a wrong explanation, never read as ``neutral`` and never taken from the cache as an
answer. ``out_of_set="neutral"`` restores ERV's fallback to ``neutral`` (a compatibility switch, off by default).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

from ..labels import LabelSet, get_label_set
from ..services.llm import LLMClient, LLMConfig
from .base import EmotionClassifier

logger = logging.getLogger(__name__)

JUDGE_MAX_COMPLETION_TOKENS = 16
# ERV's explanation-emotion prompt (data-formats.md).
JUDGE_PROMPT = (
    "Read the reasoning content and respond with the appropriate emotion in {labels}. "
    'Reply with only the emotion word.\nReason: """{reason}"""\nAnswer Emotion:'
)
# Possessive quantifiers keep both patterns linear in the length of the reasoning.
_ANSWER_LINE = re.compile(r"(answer\s*+emotion\s*+):", re.IGNORECASE)
_QUOTE_RUN = re.compile(r'"{3,}+')
_ANGLES = str.maketrans({"<": "\u2039", ">": "\u203a"})
OutOfSet = Literal["keep", "neutral"]


def fence_reasoning(reason: str) -> str:
    """``reason`` made safe to quote in the judge prompt: ``<``/``>`` become ``‹``/``›``, runs of three or more
    double quotes become two (the fence cannot be closed) and ``Answer Emotion:`` loses its colon. Linear time."""
    reason = reason.translate(_ANGLES)
    reason = _QUOTE_RUN.sub('""', reason)
    return _ANSWER_LINE.sub(r"\1 -", reason)


def judge_config(**overrides: Any) -> LLMConfig:
    """:class:`~migr_hf.services.llm.LLMConfig` of the judge: ``overrides`` over a reply cap of
    ``JUDGE_MAX_COMPLETION_TOKENS`` (one label word)."""
    return LLMConfig(**{"max_completion_tokens": JUDGE_MAX_COMPLETION_TOKENS, **overrides})


def build_judge_prompt(reason: str, label_set: str | LabelSet, template: str = JUDGE_PROMPT) -> str:
    """The judge prompt for one reasoning text (fenced, :func:`fence_reasoning`), listing the label words of
    ``label_set``."""
    return template.format(labels=", ".join(get_label_set(label_set).labels), reason=fence_reasoning(reason))


def parse_judge_reply(reply: str, label_set: str | LabelSet) -> str | None:
    """The label word of a judge reply (synonyms mapped), ``None`` when it is not one."""
    return get_label_set(label_set).normalize(reply)


class LLMJudgeClassifier(EmotionClassifier):
    """``e_classifier`` (and EEA/EPC/FCR judge) that asks an LLM which label word a text expresses.

    Each text gets ``JUDGE_PROMPT``; the reply is one label word, so :meth:`classify` gives one-element sets.
    Texts whose request failed give ``None`` from :meth:`predict` (``failed`` judgements) and are asked again on
    the next call. Replies outside the label set, once re-asks are spent, give ``()`` (``out_of_set``
    judgements, empty sets), or ``("neutral",)`` with ``out_of_set="neutral"`` (ERV).

    Args:
        client: A :class:`~migr_hf.services.llm.LLMClient` or its :class:`~migr_hf.services.llm.LLMConfig`; :func:`judge_config`
            (from the environment) when ``None``.
        prompt_template: Prompt with ``{labels}`` and ``{reason}`` fields.
        cache_size: See :class:`~migr_hf.classifiers.base.EmotionClassifier` (in memory, on top of the disk cache).
        out_of_set: ``"keep"`` (default): an out-of-set reply is a wrong explanation. ``"neutral"``: ERV's
            fallback, read it as ``neutral``.
    """

    def __init__(
        self,
        client: LLMClient | LLMConfig | None = None,
        *,
        prompt_template: str = JUDGE_PROMPT,
        cache_size: int = 200_000,
        out_of_set: OutOfSet = "keep",
    ) -> None:
        super().__init__(cache_size=cache_size)
        for name in ("{labels}", "{reason}"):
            if name not in prompt_template:
                raise ValueError(f"prompt_template must contain {name}")
        self.client = client if isinstance(client, LLMClient) else LLMClient(client or judge_config())
        if out_of_set not in ("keep", "neutral"):
            raise ValueError(f"out_of_set must be 'keep' or 'neutral', got {out_of_set!r}")
        self.prompt_template = prompt_template
        self.out_of_set = out_of_set
        self.empty_is_neutral = out_of_set == "neutral"
        self.out_of_vocabulary = 0

    def _predict(self, texts: list[str], label_set: LabelSet) -> list[tuple[str, ...] | None]:
        prompts = [build_judge_prompt(text, label_set, self.prompt_template) for text in texts]
        predictions: list[tuple[str, ...] | None] = []
        replies = self.client.complete(
            prompts, desc="LLM judge", accept=lambda reply: parse_judge_reply(reply, label_set) is not None
        )
        for reply in replies:
            if reply is None:
                predictions.append(None)
                continue
            label = parse_judge_reply(reply, label_set)
            if label is None:
                self.out_of_vocabulary += 1
                reading = "read as neutral (ERV)" if self.out_of_set == "neutral" else "kept as out of set"
                logger.warning("judge reply %r is not a %s label: %s", reply[:80], label_set.name, reading)
            predictions.append((label,) if label is not None else ())
        return predictions

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r}, out_of_set={self.out_of_set!r})"

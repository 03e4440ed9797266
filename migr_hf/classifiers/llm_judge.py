"""The LLM judge: the LLM emotion classifier and the EEA/EPC/FCR judge, on the shared client of
:mod:`migr_hf.services.llm` (retries, on-disk cache, configuration from ``MIGR_LLM_MODEL``, ``MIGR_LLM_CACHE``,
``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``).

:class:`LLMJudgeClassifier` asks ERV's question (``JUDGE_PROMPT``) and maps the reply onto the label set;
out-of-vocabulary replies become ``neutral``, as in ERV.
"""

from __future__ import annotations

import logging
from typing import Any

from ..labels import LabelSet, get_label_set
from ..services.llm import LLMClient, LLMConfig
from .base import NEUTRAL, EmotionClassifier

logger = logging.getLogger(__name__)

JUDGE_MAX_COMPLETION_TOKENS = 16
# ERV's explanation-emotion prompt (data-formats.md).
JUDGE_PROMPT = (
    "Read the reasoning content and respond with the appropriate emotion in {labels}. "
    "Reply with only the emotion word.\nReason: {reason}\nAnswer Emotion:"
)


def judge_config(**overrides: Any) -> LLMConfig:
    """:class:`~migr_hf.services.llm.LLMConfig` of the judge: ``overrides`` over a reply cap of
    ``JUDGE_MAX_COMPLETION_TOKENS`` (one label word)."""
    return LLMConfig(**{"max_completion_tokens": JUDGE_MAX_COMPLETION_TOKENS, **overrides})


def build_judge_prompt(reason: str, label_set: str | LabelSet, template: str = JUDGE_PROMPT) -> str:
    """The judge prompt for one reasoning text, listing the label words of ``label_set``."""
    return template.format(labels=", ".join(get_label_set(label_set).labels), reason=reason)


def parse_judge_reply(reply: str, label_set: str | LabelSet) -> tuple[str, bool]:
    """``(label word, in vocabulary)`` for a judge reply; out-of-vocabulary replies give ``("neutral", False)``."""
    label = get_label_set(label_set).normalize(reply)
    return (label, True) if label is not None else (NEUTRAL, False)


class LLMJudgeClassifier(EmotionClassifier):
    """``e_classifier`` (and EEA/EPC/FCR judge) that asks an LLM which label word a text expresses.

    Each text gets ``JUDGE_PROMPT``; the reply is one label word (``neutral`` when out of vocabulary), so
    :meth:`classify` gives one-element sets. Texts whose request failed (or got no text) give ``None`` from
    :meth:`predict` (empty sets, ``None`` judgements) and are asked again on the next call.

    Args:
        client: A :class:`~migr_hf.services.llm.LLMClient` or its :class:`~migr_hf.services.llm.LLMConfig`; :func:`judge_config`
            (from the environment) when ``None``.
        prompt_template: Prompt with ``{labels}`` and ``{reason}`` fields.
        cache_size: See :class:`~migr_hf.classifiers.base.EmotionClassifier` (in memory, on top of the disk cache).
    """

    def __init__(
        self,
        client: LLMClient | LLMConfig | None = None,
        *,
        prompt_template: str = JUDGE_PROMPT,
        cache_size: int = 200_000,
    ) -> None:
        super().__init__(cache_size=cache_size)
        for name in ("{labels}", "{reason}"):
            if name not in prompt_template:
                raise ValueError(f"prompt_template must contain {name}")
        self.client = client if isinstance(client, LLMClient) else LLMClient(client or judge_config())
        self.prompt_template = prompt_template
        self.out_of_vocabulary = 0

    def _predict(self, texts: list[str], label_set: LabelSet) -> list[tuple[str, ...] | None]:
        prompts = [build_judge_prompt(text, label_set, self.prompt_template) for text in texts]
        predictions: list[tuple[str, ...] | None] = []
        for reply in self.client.complete(prompts, desc="LLM judge"):
            if reply is None:
                predictions.append(None)
                continue
            label, in_vocabulary = parse_judge_reply(reply, label_set)
            if not in_vocabulary:
                self.out_of_vocabulary += 1
                logger.debug("judge reply %r is not a %s label: read as %s", reply, label_set.name, NEUTRAL)
            predictions.append((label,))
        return predictions

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"

"""The baselines' rewards (R1-Omni, ERV): the answer reward and the format reward, for the MIGR structure."""

from __future__ import annotations

from typing import Any

from ..labels import LabelSet
from ..parsing import parse_completion
from .common import label_sets, targets


def answer_reward(
    completions: list[Any],
    label: list[str] | None = None,
    label_set: list[str] | str | LabelSet | None = None,
    **kwargs: Any,
) -> list[float]:
    """1.0 when the ``<answer>`` text, normalised with the benchmark's synonyms, is the target label, else 0.0.

    The answer is the first ``<answer>`` segment (to the end of the text when unclosed); a missing answer, or a
    word outside the label set after synonyms, scores 0.0.

    Args:
        completions: Completions (strings or chat messages), ``B*G`` of them.
        label: Dataset column: target label word per completion.
        label_set: Dataset column (one name per completion) or one label set for all.
    """
    sets = label_sets(label_set, len(completions), "answer_reward")
    gold = targets(label, sets, "answer_reward")
    return [
        float(label_set.normalize(parse_completion(completion).answer) == target)
        for completion, label_set, target in zip(completions, sets, gold)
    ]


def format_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 for a well-formed MIGR completion, else 0.0.

    Well-formed: one ``<aud_desc>`` and one ``<vis_desc>`` segment in either order, then ``<think>``, then
    ``<answer>``, each closed (paired closing tag, or the bare tag repeated), none nested, and only whitespace
    outside them (see :mod:`migr_hf.parsing`). Content is not checked, as in the baselines' regex.
    """
    return [float(parse_completion(completion).well_formed) for completion in completions]

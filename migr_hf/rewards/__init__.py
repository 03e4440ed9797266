"""MIGR reward functions for trl's ``GRPOTrainer`` and their registry.

Each reward follows trl's signature: ``f(prompts=..., completions=..., completion_ids=..., **columns)``
returning one ``float`` (or ``None``, "not applicable") per completion; it reads the ``label``, ``label_set``
and ``modality_importance`` columns and ignores the rest. The paper's total (eq. 3) is
``modality_aligned_order + modality_grounded_reasoning + answer``::

    from migr_hf.rewards import get_reward_funcs

    reward_funcs = get_reward_funcs(
        ["modality_aligned_order", "modality_grounded_reasoning", "answer"], classifier="offline"
    )
    trainer = GRPOTrainer(model=..., reward_funcs=reward_funcs, ...)

trl logs each as ``rewards/<function name>/mean``, e.g. ``rewards/modality_aligned_order_reward/mean``.

One file per reward of the paper: `order` (modality-aligned order, eq. 1), `grounding` (modality-grounded
reasoning, eq. 2), `basic` (answer, format); `common` reads the dataset columns and batches the classifier.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..classifiers import EmotionClassifier, get_classifier
from ..labels import LabelSet
from .basic import answer_reward, format_reward
from .grounding import modality_grounded_reasoning_reward
from .order import modality_aligned_order_reward

RewardFunc = Callable[..., list[float | None]]

# Registry name -> reward function; ``CLASSIFIER_REWARDS`` also need an emotion classifier.
REWARD_FUNCS_REGISTRY: Mapping[str, RewardFunc] = {
    "answer": answer_reward,
    "format": format_reward,
    "modality_aligned_order": modality_aligned_order_reward,
    "modality_grounded_reasoning": modality_grounded_reasoning_reward,
}
CLASSIFIER_REWARDS = frozenset({"modality_aligned_order", "modality_grounded_reasoning"})
MIGR_REWARDS = ("modality_aligned_order", "modality_grounded_reasoning", "answer")  # eq. 3


def bind_reward(func: RewardFunc, **defaults: Any) -> RewardFunc:
    """``functools.partial(func, **defaults)`` carrying ``func``'s ``__name__`` (what trl logs) and docstring.

    A partial stays picklable, and keyword arguments given at call time, such as a ``label_set`` dataset
    column, take precedence over ``defaults``.
    """
    reward = functools.partial(func, **defaults)
    functools.update_wrapper(reward, func)
    return reward


def get_reward_funcs(
    names: Sequence[str],
    *,
    classifier: str | EmotionClassifier | None = None,
    label_set: str | LabelSet | None = None,
    reward_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[RewardFunc]:
    """Reward functions by registry name, ready for ``GRPOTrainer(reward_funcs=...)``.

    Args:
        names: Registry names (see `REWARD_FUNCS_REGISTRY`).
        classifier: The ``e_classifier`` for the modality rewards: a built classifier or a
            :func:`~migr_hf.classifiers.get_classifier` spec (``"offline"``, a checkpoint, ``"llm"``). One
            instance serves every reward, so they share its cache.
        label_set: Label set for datasets without a ``label_set`` column.
        reward_kwargs: Extra keyword arguments per registry name, e.g.
            ``{"modality_grounded_reasoning": {"denominator": "non_neutral"}}``.
    """
    unknown = [name for name in [*names, *(reward_kwargs or {})] if name not in REWARD_FUNCS_REGISTRY]
    if unknown:
        raise KeyError(f"unknown reward(s) {unknown}; known: {', '.join(REWARD_FUNCS_REGISTRY)}")
    needs_classifier = [name for name in names if name in CLASSIFIER_REWARDS]
    if needs_classifier and classifier is None:
        raise ValueError(f"{needs_classifier} need an emotion classifier: pass classifier= (e.g. 'offline')")
    built = get_classifier(classifier) if needs_classifier else None
    funcs = []
    for name in names:
        defaults: dict[str, Any] = dict((reward_kwargs or {}).get(name, {}))
        if label_set is not None and name != "format":
            defaults["label_set"] = label_set
        if name in CLASSIFIER_REWARDS:
            defaults["classifier"] = built
        func = REWARD_FUNCS_REGISTRY[name]
        funcs.append(bind_reward(func, **defaults) if defaults else func)
    return funcs


__all__ = [
    "CLASSIFIER_REWARDS",
    "MIGR_REWARDS",
    "REWARD_FUNCS_REGISTRY",
    "RewardFunc",
    "answer_reward",
    "bind_reward",
    "format_reward",
    "get_reward_funcs",
    "modality_aligned_order_reward",
    "modality_grounded_reasoning_reward",
]

"""MIGR's reordering (paper section 3.1.3): the audio and visual reasoning parts of an SFT target in Modality
Importance order, the emotion-dominant modality first; a tie (``both``) gives one target per order."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from .. import schema
from ..schema import ModalityImportance
from .reasoning import ReasoningParts
from .records import SampleRecord


class Order(str, Enum):
    """Order of the modality segments in an SFT target."""

    AUDIO_FIRST = "audio_first"
    VISUAL_FIRST = "visual_first"


UndeterminedPolicy = Literal["both", "audio_first", "visual_first", "drop"]


def orders_for(mi: ModalityImportance, undetermined: UndeterminedPolicy = "both") -> tuple[Order, ...]:
    """Segment orders for a sample: audio -> audio first, visual -> visual first, both (a tie) -> both orders;
    undetermined -> ``undetermined`` ("both", one order, or "drop": no target)."""
    mi = ModalityImportance(mi)
    if mi is ModalityImportance.AUDIO:
        return (Order.AUDIO_FIRST,)
    if mi is ModalityImportance.VISUAL:
        return (Order.VISUAL_FIRST,)
    if mi is ModalityImportance.BOTH or undetermined == "both":
        return (Order.AUDIO_FIRST, Order.VISUAL_FIRST)
    if undetermined == "drop":
        return ()
    return (Order(undetermined),)


def compose_target(parts: ReasoningParts, label: str, order: Order) -> str:
    """``<aud_desc>A</aud_desc><vis_desc>V</vis_desc><think>C</think><answer>label</answer>`` in ``order``."""
    audio = f"{schema.AUDIO_OPEN}{parts.audio}{schema.AUDIO_CLOSE}"
    visual = f"{schema.VISUAL_OPEN}{parts.visual}{schema.VISUAL_CLOSE}"
    first, second = (audio, visual) if Order(order) is Order.AUDIO_FIRST else (visual, audio)
    return (
        f"{first}{second}{schema.THINK_OPEN}{parts.conclusion}{schema.THINK_CLOSE}"
        f"{schema.ANSWER_OPEN}{label}{schema.ANSWER_CLOSE}"
    )


def build_sft_rows(
    record: SampleRecord,
    parts: ReasoningParts,
    mi: ModalityImportance,
    *,
    undetermined: UndeterminedPolicy = "both",
    prompt: str = schema.MIGR_INSTRUCTION,
) -> list[dict[str, Any]]:
    """One SFT row per order of `orders_for`; the first keeps the sample id, a second order gets the suffix
    ``"__<order>"`` (e.g. ``"emer-sample_1__visual_first"``)."""
    rows = []
    for k, order in enumerate(orders_for(mi, undetermined)):
        row = record.to_dict()
        row[schema.ID] = record.id if k == 0 else f"{record.id}__{order.value}"
        row[schema.MODALITY_IMPORTANCE] = ModalityImportance(mi).value
        row[schema.PROMPT] = prompt
        row[schema.COMPLETION] = compose_target(parts, record.label, order)
        row[schema.ORDER] = order.value
        rows.append(row)
    return rows

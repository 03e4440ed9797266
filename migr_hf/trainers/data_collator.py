"""Collating SFT rows (instruction, target completion, clip) into MIGR-Omni inputs with assistant-only labels."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import ProcessorMixin

from .. import schema
from ..conversation import build_conversation
from ..data.records import video_source

ASSISTANT_HEADER = "<|im_start|>assistant\n"
CONDITION = "condition"
# Modality Importance condition -> (video block, audio block) of the prompt.
CONDITION_MEDIA = {"audio_only": (False, True), "visual_only": (True, False), "audio_visual": (True, True)}


@dataclass
class MIGRDataCollator:
    """Runs the processor on the clip (video and its audio track) and the chat of each row.

    A row may carry a `condition` column (`"audio_only"`, `"visual_only"` or `"audio_visual"`, the Modality
    Importance conditions): the prompt then holds only that condition's media blocks, e.g. for training with
    modality dropout. Without it every row gets the video and the audio of its clip.

    Labels are the assistant turn only (its content and the closing `<|im_end|>\\n`, as HumanOmni SFT
    supervises); the system and user turns, the media placeholders and the padding are `-100`. Sequences
    longer than `max_length` lose the end of their completion; a prompt that alone exceeds it is an error,
    since cutting it would cut media placeholders.

    Args:
        processor: The model's `MIGROmniProcessor`.
        media_root: Directory relative `video` paths are resolved against.
        max_length: Longest sequence in tokens (media placeholders included), or `None`.
        prompt_column / completion_column: Columns holding the instruction and the target completion.
    """

    processor: ProcessorMixin
    media_root: str | None = None
    max_length: int | None = None
    prompt_column: str = schema.PROMPT
    completion_column: str = schema.COMPLETION

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        media = [CONDITION_MEDIA[row.get(CONDITION) or "audio_visual"] for row in rows]
        chats = [build_conversation(row[self.prompt_column], *present) for row, present in zip(rows, media)]
        prompts = self.processor.apply_chat_template(chats, add_generation_prompt=True)
        texts = self.processor.apply_chat_template(
            [chat + [{"role": "assistant", "content": row[self.completion_column]}] for chat, row in zip(chats, rows)]
        )
        sources = [self.media_sources(row) for row in rows]
        videos = [source[0] for source, (video, _) in zip(sources, media) if video]
        audio = [source[1] for source, (_, has_audio) in zip(sources, media) if has_audio]
        batch = self.processor(
            text=texts, videos=videos or None, audio=audio or None, padding=True, padding_side="right"
        )
        header = self.processor.tokenizer(ASSISTANT_HEADER, add_special_tokens=False)["input_ids"]
        labels = torch.full_like(batch["input_ids"], -100)
        for index, (prompt, text) in enumerate(zip(prompts, texts)):
            if not text.startswith(prompt):
                raise ValueError(f"{self._name(rows[index])}: the chat template renders the prompt differently with the answer")
            start = self._completion_start(batch["input_ids"][index].tolist(), header, prompt.count(ASSISTANT_HEADER))
            if self.max_length is not None and start >= self.max_length:
                raise ValueError(
                    f"{self._name(rows[index])}: the prompt takes {start} tokens (media placeholders included), "
                    f"more than max_length={self.max_length}"
                )
            labels[index, start:] = batch["input_ids"][index, start:]
        labels[batch["attention_mask"] == 0] = -100
        batch["labels"] = labels
        if self.max_length is not None and batch["input_ids"].shape[1] > self.max_length:
            for key in ("input_ids", "attention_mask", "labels"):
                batch[key] = batch[key][:, : self.max_length]
        return dict(batch)

    def media_sources(self, row: Mapping[str, Any]) -> tuple[Any, Any]:
        """The video and the audio source of a row: its clip (path or bytes) for both."""
        clip = video_source(row, self.media_root)
        return clip, clip

    @staticmethod
    def _completion_start(ids: list[int], header: list[int], occurrences: int) -> int:
        """Index just past the `occurrences`-th assistant header in `ids`."""
        seen, width = 0, len(header)
        for position in range(len(ids) - width + 1):
            if ids[position : position + width] == header:
                seen += 1
                if seen == occurrences:
                    return position + width
        raise ValueError(f"assistant header {ASSISTANT_HEADER!r} not found {occurrences} time(s) in the tokenized chat")

    @staticmethod
    def _name(row: Mapping[str, Any]) -> str:
        return str(row.get(schema.ID) or row.get(schema.VIDEO) or "sample")


__all__ = ["ASSISTANT_HEADER", "CONDITION", "CONDITION_MEDIA", "MIGRDataCollator"]

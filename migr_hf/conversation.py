"""The chat a MIGR prompt is made of: one user turn with the clip's video/audio blocks and the instruction."""

from typing import Any


def build_conversation(
    instruction: str, video: bool = True, audio: bool = True, completion: str | None = None
) -> list[dict[str, Any]]:
    """`[user: (video block) (audio block) instruction]`, plus `[assistant: completion]` when given.

    The blocks carry no source: the processor receives the clip separately (a clip serves as both the video
    and the audio source), so that logged prompts stay small.
    """
    blocks = ([{"type": "video"}] if video else []) + ([{"type": "audio"}] if audio else [])
    chat = [{"role": "user", "content": [*blocks, {"type": "text", "text": instruction}]}]
    if completion is not None:
        chat.append({"role": "assistant", "content": completion})
    return chat


__all__ = ["build_conversation"]

"""Names shared by the data pipeline, the trainers, the rewards and the evaluation.

Dataset columns, Modality Importance classes, the MIGR reasoning tags and the default instruction.
"""

from __future__ import annotations

from enum import Enum

# Dataset columns (SFT and GRPO datasets, predictions files).
ID = "id"
SOURCE = "source"  # "dfew" | "mafw" | "emer"
SPLIT = "split"
VIDEO = "video"  # path (or bytes) of the clip; audio is read from the same file
VIDEO_BYTES = "video_bytes"  # the clip's bytes, only in datasets built with embedded media
LABEL = "label"  # ground-truth label word in the benchmark's vocabulary
LABEL_SET = "label_set"  # name of the label vocabulary, see migr_hf.labels
REASONING = "reasoning"  # free-form reasoning text before splitting
MODALITY_IMPORTANCE = "modality_importance"  # a ModalityImportance value
PROMPT = "prompt"
COMPLETION = "completion"
ORDER = "order"  # SFT targets: "audio_first" | "visual_first"


class ModalityImportance(str, Enum):
    """Which modality carries the target emotion for a sample (paper section 3.1.2)."""

    AUDIO = "audio"
    VISUAL = "visual"
    BOTH = "both"  # audio and visual are equally informative: both orders are valid
    UNDETERMINED = "undetermined"  # the predictions give no evidence either way


# MIGR reasoning tags. Paired open/close forms are used for the modality segments too (the paper writes
# the same token at both ends): closing tags let a parser tell a finished segment from a truncated one.
AUDIO_OPEN, AUDIO_CLOSE = "<aud_desc>", "</aud_desc>"
VISUAL_OPEN, VISUAL_CLOSE = "<vis_desc>", "</vis_desc>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
REASONING_TAGS = (
    AUDIO_OPEN,
    AUDIO_CLOSE,
    VISUAL_OPEN,
    VISUAL_CLOSE,
    THINK_OPEN,
    THINK_CLOSE,
    ANSWER_OPEN,
    ANSWER_CLOSE,
)

# The baselines' instruction (R1-Omni / ERV) and the MIGR format hint.
EMOTION_QUESTION = (
    "As an emotional recognition expert; throughout the video, which emotion conveyed by the characters "
    "is the most obvious to you?"
)
BASELINE_FORMAT_HINT = (
    "Output the thinking process in <think> </think> and final emotion in <answer> </answer> tags."
)
MIGR_FORMAT_HINT = (
    "First describe the cues of the modality that conveys the emotion most clearly, then the other one: "
    "audio cues in <aud_desc> </aud_desc> and visual cues in <vis_desc> </vis_desc>. Then output the "
    "thinking process in <think> </think> and final emotion in <answer> </answer> tags."
)
MIGR_INSTRUCTION = f"{EMOTION_QUESTION}\n{MIGR_FORMAT_HINT}"

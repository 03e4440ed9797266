"""MIGR data pipeline: benchmark readers, FAU emotion-consistent filtering, Modality Importance, MI-ordered
reasoning targets and the SFT / GRPO dataset builders (paper sections 3.1-3.2).

Modules: `records` (`SampleRecord`, failures), `readers` (DFEW, MAFW, EMER V1/V2), `openface` (OpenFace CSVs and
the command that makes them), `fau` (FAU table, peak frame, exact match), `reasoning_writer` (template and LLM
writers), `reasoning` (audio/visual/conclusion split, target composition), `modality_importance` (MI rule,
`MIEstimator`, resumable driver), `jsonl` (crash-safe stores), `builder`. LLM calls (OpenAI writer, LLM splitter)
go through `migr_hf.llm`.

SFT dataset (split ``train``; one row per reasoning order, a tie gives two rows):

=====================  ======  ===================================================================================
column                 type    content
=====================  ======  ===================================================================================
id                     string  ``<source>-<clip>``; the second order of a tie gets ``__visual_first``
source                 string  ``dfew`` | ``mafw`` | ``emer``
split                  string  split of the source benchmark (``train``)
video                  string  clip path (absolute, or relative to the build's ``media_root``)
label                  string  label word in the vocabulary of ``label_set``
label_set              string  ``dfew`` | ``mafw`` | ``emer`` (`migr_hf.labels`)
modality_importance    string  ``audio`` | ``visual`` | ``both`` | ``undetermined``
reasoning              string  original reasoning text (EMER annotation or FAU-grounded text)
prompt                 string  `migr_hf.schema.MIGR_INSTRUCTION`
completion             string  ``<aud_desc>…</aud_desc><vis_desc>…</vis_desc><think>…</think><answer>label</answer>``
                               with the two segments in MI order
order                  string  ``audio_first`` | ``visual_first``
=====================  ======  ===================================================================================

GRPO dataset (split ``train``): id, source, split, video, label, label_set, modality_importance, prompt, as above.
Both gain a binary ``video_bytes`` column when built with embedded media; `records.video_source` picks bytes or
path for a row.
"""

from .builder import (
    BuildResult,
    BuildSummary,
    build_grpo_dataset,
    build_sft_dataset,
    load_built_dataset,
    push_dataset_to_hub,
)
from .fau import FAUConfig, FAUDecision, FAUEvidence, FAUThresholds, analyze_frames, fau_decision, find_peaks
from .jsonl import FailureLog, JsonlStore
from .modality_importance import (
    DEFAULT_MI_RULE,
    MIEstimator,
    MIPrediction,
    MIRule,
    estimate_modality_importance,
    load_estimator,
    load_mi_file,
    modality_importance,
)
from .openface import NoFaceError, OpenFaceFrames, read_openface_csv
from .readers import read_dfew, read_emer_v1, read_emer_v2, read_mafw
from .reasoning import (
    LLMReasoningSplitter,
    Order,
    ReasoningParts,
    RuleBasedSplitter,
    build_sft_rows,
    compose_target,
    orders_for,
    split_reasoning,
)
from .reasoning_writer import OpenAIReasoningWriter, TemplateReasoningWriter
from .records import DataFormatError, Failure, FailureReason, SampleRecord, video_source

__all__ = [
    "DEFAULT_MI_RULE",
    "BuildResult",
    "BuildSummary",
    "DataFormatError",
    "FAUConfig",
    "FAUDecision",
    "FAUEvidence",
    "FAUThresholds",
    "Failure",
    "FailureLog",
    "FailureReason",
    "JsonlStore",
    "LLMReasoningSplitter",
    "MIEstimator",
    "MIPrediction",
    "MIRule",
    "NoFaceError",
    "OpenAIReasoningWriter",
    "OpenFaceFrames",
    "Order",
    "ReasoningParts",
    "RuleBasedSplitter",
    "SampleRecord",
    "TemplateReasoningWriter",
    "analyze_frames",
    "build_grpo_dataset",
    "build_sft_dataset",
    "build_sft_rows",
    "compose_target",
    "estimate_modality_importance",
    "fau_decision",
    "find_peaks",
    "load_built_dataset",
    "load_estimator",
    "load_mi_file",
    "modality_importance",
    "orders_for",
    "push_dataset_to_hub",
    "read_dfew",
    "read_emer_v1",
    "read_emer_v2",
    "read_mafw",
    "read_openface_csv",
    "split_reasoning",
    "video_source",
]

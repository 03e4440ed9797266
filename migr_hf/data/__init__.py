"""MIGR data pipeline: benchmark readers, FAU emotion-consistent filtering, Modality Importance, MI-ordered
reasoning targets and the SFT / GRPO dataset builders (paper sections 3.1-3.2).

Modules: `records` (`SampleRecord`, failures), `readers` (DFEW, MAFW, EMER V1/V2, a labelled clip folder),
`openface` (OpenFace CSVs and the command that makes them), `fau` (FAU table, peak frame, exact match),
`reasoning_writer` (template and LLM writers), `reasoning` (audio/visual/conclusion split, target composition),
`modality_importance` (MI rule, `MIEstimator`, resumable driver), `jsonl` (crash-safe stores), `builder`. LLM calls
(OpenAI writer, LLM splitter) go through `migr_hf.services.llm`.

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

from ..lazy import lazy_exports

_EXPORTS = {
    "BuildSettings": ".build_settings",
    "GRPOBuildSettings": ".build_settings",
    "SFTBuildSettings": ".build_settings",
    "BuildResult": ".builder",
    "BuildSummary": ".builder",
    "build_dataset": ".builder",
    "build_grpo_dataset": ".builder",
    "build_sft_dataset": ".builder",
    "push_dataset_to_hub": ".dataset_card",
    "FAUConfig": ".fau",
    "FAUDecision": ".fau",
    "FAUEvidence": ".fau",
    "FAUThresholds": ".fau",
    "analyze_frames": ".fau",
    "fau_decision": ".fau",
    "find_peaks": ".fau",
    "FailureLog": ".jsonl",
    "JsonlStore": ".jsonl",
    "DEFAULT_MI_RULE": ".modality_importance",
    "MIEstimator": ".modality_importance",
    "MIPrediction": ".modality_importance",
    "MIRule": ".modality_importance",
    "estimate_modality_importance": ".modality_importance",
    "load_mi_file": ".modality_importance",
    "modality_importance": ".modality_importance",
    "NoFaceError": ".openface",
    "OpenFaceFrames": ".openface",
    "read_openface_csv": ".openface",
    "read_dfew": ".readers",
    "read_emer_v1": ".readers",
    "read_emer_v2": ".readers",
    "read_labeled_clips": ".readers",
    "read_mafw": ".readers",
    "read_record_rows": ".readers",
    "LLMReasoningSplitter": ".reasoning",
    "ReasoningParts": ".reasoning",
    "RuleBasedSplitter": ".reasoning",
    "split_reasoning": ".reasoning",
    "OpenAIReasoningWriter": ".reasoning_writer",
    "TemplateReasoningWriter": ".reasoning_writer",
    "DataFormatError": ".records",
    "Failure": ".records",
    "FailureReason": ".records",
    "SampleRecord": ".records",
    "video_source": ".records",
    "Order": ".reorder",
    "build_sft_rows": ".reorder",
    "compose_target": ".reorder",
    "orders_for": ".reorder",
    "load_built_dataset": ".storage",
}
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)

__all__ = [
    "DEFAULT_MI_RULE",
    "BuildResult",
    "BuildSettings",
    "BuildSummary",
    "DataFormatError",
    "FAUConfig",
    "FAUDecision",
    "FAUEvidence",
    "FAUThresholds",
    "Failure",
    "FailureLog",
    "FailureReason",
    "GRPOBuildSettings",
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
    "SFTBuildSettings",
    "SampleRecord",
    "TemplateReasoningWriter",
    "analyze_frames",
    "build_dataset",
    "build_grpo_dataset",
    "build_sft_dataset",
    "build_sft_rows",
    "compose_target",
    "estimate_modality_importance",
    "fau_decision",
    "find_peaks",
    "load_built_dataset",
    "load_mi_file",
    "modality_importance",
    "orders_for",
    "push_dataset_to_hub",
    "read_dfew",
    "read_labeled_clips",
    "read_emer_v1",
    "read_emer_v2",
    "read_mafw",
    "read_record_rows",
    "read_openface_csv",
    "split_reasoning",
    "video_source",
]

"""`migr-hf build-data sft|grpo`: build the MIGR SFT or GRPO dataset (the `dataset_scripts/` builds as commands).

`add_sft_arguments` / `add_grpo_arguments` define the flags and `run_sft` / `run_grpo` turn them into the
`migr_hf.data.build_settings` dataclasses, construct the MI estimator, writer and splitter, build, print the
summary and push when asked.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.jsonl import FailurePolicy
from ..data.modality_importance import MI_METHODS

if TYPE_CHECKING:
    from ..data.builder import BuildResult


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "build-data",
        help="build the MIGR SFT or GRPO dataset from the benchmark releases",
        description="Build a MIGR dataset folder (parquet + dataset card); rerun with the same --output-dir to "
        "resume. `sft`: EMER + FAU-filtered DFEW/MAFW with MI-ordered reasoning; `grpo`: DFEW/MAFW with MI labels.",
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    sft = kinds.add_parser(
        "sft",
        help="modality-aligned SFT dataset (EMER + FAU-filtered DFEW/MAFW, MI-ordered reasoning)",
        description="Build the MIGR modality-aligned SFT dataset (EMER + FAU-filtered DFEW/MAFW, MI-ordered "
        "reasoning); see migr_hf.data.builder.build_dataset.",
    )
    add_sft_arguments(sft)
    sft.set_defaults(func=run, build=run_sft)
    grpo = kinds.add_parser(
        "grpo",
        help="GRPO dataset (DFEW/MAFW training clips with their Modality Importance label)",
        description="Build the MIGR GRPO dataset (DFEW/MAFW training clips with their Modality Importance label); "
        "see migr_hf.data.builder.build_dataset.",
    )
    add_grpo_arguments(grpo)
    grpo.set_defaults(func=run, build=run_grpo)


def run(args: argparse.Namespace) -> int:
    args.build(args)
    return 0


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by the SFT and GRPO builds (output, DFEW/MAFW, fold, MI source, media, Hub push)."""
    parser.add_argument("--output-dir", required=True, help="dataset folder; reuse it to resume a build")
    parser.add_argument("--dfew-root", help="DFEW release root")
    parser.add_argument("--mafw-root", help="MAFW release root")
    parser.add_argument("--fold", type=int, default=5, choices=range(1, 6), help="DFEW/MAFW fold")
    mi = parser.add_mutually_exclusive_group(required=True)
    mi.add_argument("--mi-file", help="precomputed MI results (JSONL written by `migr-hf estimate-mi`)")
    mi.add_argument("--model", help="MIGR-Omni checkpoint that estimates MI here (resumable)")
    parser.add_argument(
        "--mi-method", choices=MI_METHODS, default="generate", help="MI estimation method with --model"
    )
    parser.add_argument("--mi-rule", help="YAML/JSON override of the MI rule, keys like '101'")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per MI estimation batch")
    parser.add_argument("--no-check-media", action="store_true", help="do not probe the clips")
    parser.add_argument("--allow-silent", action="store_true", help="keep clips without an audio stream")
    parser.add_argument("--embed-media", action="store_true", help="store clip bytes in a video_bytes column")
    parser.add_argument("--media-root", help="store video paths relative to this folder")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="push the built dataset and its card to the Hub")
    parser.add_argument("--private", action="store_true", help="create the Hub repository as private")
    parser.add_argument(
        "--max-failed-fraction",
        type=float,
        default=FailurePolicy.max_failed_fraction,
        help="stop a stage once it has tried at least 5 samples and more than this fraction failed "
        "(1.0 never stops)",
    )


def add_sft_arguments(parser: argparse.ArgumentParser) -> None:
    """All arguments of the SFT build (``migr-hf build-data sft``, ``dataset_scripts/build_sft_dataset.py``)."""
    parser.add_argument("--emer-v1", help="EMER-V1 CSV (names,emotions,subtitles,reasons)")
    parser.add_argument("--emer-v2", help="EMER-V2 CSV (name,chinese,english)")
    parser.add_argument("--emer-labels", help="MER2023 label CSV (name + discrete/emotion) for EMER-V2")
    parser.add_argument("--emer-video-dir", help="folder of the MER2023 clips <name>.<ext>")
    parser.add_argument("--openface-dir", help="OpenFace CSVs as <dir>/<dfew|mafw>/<clip stem>.csv")
    parser.add_argument("--fau-config", help="YAML/JSON override of the FAU table, thresholds or label map")
    parser.add_argument("--no-mafw-captions", action="store_true", help="do not give MAFW captions to the writer")
    parser.add_argument("--writer", choices=("template", "openai"), default="template", help="reasoning writer")
    parser.add_argument("--splitter", choices=("rules", "llm"), default="rules", help="reasoning splitter")
    parser.add_argument("--llm-model", help="model for --writer openai / --splitter llm (default $MIGR_LLM_MODEL)")
    parser.add_argument("--llm-cache-dir", help="on-disk cache of LLM responses")
    parser.add_argument(
        "--undetermined",
        choices=("both", "audio_first", "visual_first", "drop"),
        default="both",
        help="reasoning order(s) for samples whose MI is undetermined",
    )
    add_build_arguments(parser)


def add_grpo_arguments(parser: argparse.ArgumentParser) -> None:
    """All arguments of the GRPO build (``migr-hf build-data grpo``, ``dataset_scripts/build_grpo_dataset.py``)."""
    parser.add_argument("--drop-undetermined", action="store_true", help="leave out samples with undetermined MI")
    add_build_arguments(parser)


def _shared_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "output_dir": args.output_dir,
        "dfew_root": args.dfew_root,
        "mafw_root": args.mafw_root,
        "fold": args.fold,
        "mi_file": args.mi_file,
        "mi_rule": args.mi_rule,
        "batch_size": args.batch_size,
        "check_media": not args.no_check_media,
        "require_audio": not args.allow_silent,
        "embed_media": args.embed_media,
        "media_root": args.media_root,
        "failure_policy": FailurePolicy(max_failed_fraction=args.max_failed_fraction),
    }


def _estimator(args: argparse.Namespace):
    """The MI estimator of ``--model`` (None with ``--mi-file``); the commands layer builds it for the data layer."""
    if not args.model:
        return None
    from ..models.migr_omni.mi_estimation import build_estimator

    return build_estimator(args.model, method=args.mi_method)


def _finish(result: BuildResult, args: argparse.Namespace) -> None:
    print(result.summary.format())
    if args.push_to_hub:
        from ..data.dataset_card import push_dataset_to_hub

        push_dataset_to_hub(result.summary.output_dir, args.push_to_hub, private=args.private or None)


def run_sft(args: argparse.Namespace) -> BuildResult:
    """Build the SFT dataset from `add_sft_arguments`' arguments, print the summary and push if asked."""
    from ..data.build_settings import SFTBuildSettings
    from ..data.builder import build_dataset
    from ..data.reasoning import LLMReasoningSplitter, RuleBasedSplitter
    from ..data.reasoning_writer import get_writer
    from ..services.llm import CACHE_FILE_NAME, LLMClient, LLMConfig

    cache_path = Path(args.llm_cache_dir) / CACHE_FILE_NAME if args.llm_cache_dir else None
    client = LLMClient(LLMConfig(model=args.llm_model, cache_path=cache_path))
    settings = SFTBuildSettings(
        emer_v1=args.emer_v1,
        emer_v2=args.emer_v2,
        emer_labels=args.emer_labels,
        emer_video_dir=args.emer_video_dir,
        openface_dir=args.openface_dir,
        fau_config=args.fau_config,
        mafw_captions=not args.no_mafw_captions,
        undetermined=args.undetermined,
        **_shared_settings(args),
    )
    settings.validate()
    result = build_dataset(
        settings,
        mi_estimator=_estimator(args),
        writer=get_writer(args.writer, client),
        splitter=LLMReasoningSplitter(client) if args.splitter == "llm" else RuleBasedSplitter(),
    )
    _finish(result, args)
    return result


def run_grpo(args: argparse.Namespace) -> BuildResult:
    """Build the GRPO dataset from `add_grpo_arguments`' arguments, print the summary and push if asked."""
    from ..data.build_settings import GRPOBuildSettings
    from ..data.builder import build_dataset

    settings = GRPOBuildSettings(drop_undetermined=args.drop_undetermined, **_shared_settings(args))
    settings.validate()
    result = build_dataset(settings, mi_estimator=_estimator(args))
    _finish(result, args)
    return result

"""`migr-hf build-data sft|grpo`: build the MIGR SFT or GRPO dataset (the `dataset_scripts/` builds as commands)."""

import argparse

from ..data.builder import add_grpo_cli_arguments, add_sft_cli_arguments, run_grpo_cli, run_sft_cli


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
        "reasoning); see migr_hf.data.builder.build_sft_dataset.",
    )
    add_sft_cli_arguments(sft)
    sft.set_defaults(func=run, build=run_sft_cli)
    grpo = kinds.add_parser(
        "grpo",
        help="GRPO dataset (DFEW/MAFW training clips with their Modality Importance label)",
        description="Build the MIGR GRPO dataset (DFEW/MAFW training clips with their Modality Importance label); "
        "see migr_hf.data.builder.build_grpo_dataset.",
    )
    add_grpo_cli_arguments(grpo)
    grpo.set_defaults(func=run, build=run_grpo_cli)


def run(args: argparse.Namespace) -> int:
    args.build(args)
    return 0

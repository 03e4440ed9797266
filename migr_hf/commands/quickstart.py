"""`migr-hf quickstart`: the whole pipeline on the built-in sample, offline (see `migr_hf.apps.quickstart`)."""

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "quickstart",
        help="run the whole MIGR pipeline on a small built-in sample (no downloads, CPU, a few minutes)",
        description="Sample clips -> tiny model -> Modality Importance -> SFT/GRPO datasets -> SFT -> GRPO -> "
        "inference -> evaluation -> report. Prints the report path.",
    )
    parser.add_argument("--output-dir", default="migr_hf_outputs/quickstart", help="where everything is written")
    parser.add_argument("--reduced", action="store_true", help="a smoke-test run: a few training steps only")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..apps.quickstart import QuickstartSettings, run_quickstart

    settings = QuickstartSettings.reduced() if args.reduced else QuickstartSettings()
    report = run_quickstart(args.output_dir, settings)
    print(f"quickstart report: {report.resolve()}")
    return 0

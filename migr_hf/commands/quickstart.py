"""`migr-hf quickstart`: the reduced single arm of the synthetic benchmark, offline (see `migr_hf.synthetic.quickstart`)."""

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "quickstart",
        help="run the whole MIGR pipeline on a generated corpus with a known dominant modality (CPU, no downloads)",
        description="Synthetic corpus -> base model (tower warm-up, modality dropout) -> Modality Importance (both "
        "estimators, scored against the ground truth) -> SFT/GRPO datasets -> MI-ordered SFT -> GRPO with the MIGR "
        "rewards -> inference on held-out clips -> evaluation -> report.md and report.json. Prints the report path.",
    )
    parser.add_argument("--output-dir", default="migr_hf_outputs/quickstart", help="where everything is written")
    parser.add_argument(
        "--reduced", action="store_true", help="the smaller, fixed-seed run of the CI learning test (about half the time)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..synthetic.config import BenchmarkConfig
    from ..synthetic.quickstart import run_quickstart

    config = BenchmarkConfig.ci() if args.reduced else BenchmarkConfig.quickstart()
    report = run_quickstart(args.output_dir, config)
    print(f"quickstart report: {report.resolve()}")
    return 0

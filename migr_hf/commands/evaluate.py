"""`migr-hf evaluate`: a predictions JSONL -> the paper's tables (Table 1-3), JSON and a confusion-matrix plot."""

import argparse
from pathlib import Path


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `migr-hf evaluate` and `examples/evaluate.py`."""
    from ..evaluation import REASONING_CHOICES
    from ..labels import LABEL_SETS

    parser.add_argument("--predictions", required=True, type=Path, help="JSONL of {id, label, completion}")
    parser.add_argument(
        "--label-set", choices=sorted(LABEL_SETS), help="benchmark vocabulary (default: the records' label_set field)"
    )
    parser.add_argument(
        "--judge",
        default="llm",
        help="'llm' / 'llm:<model>' (OpenAI-compatible, default model gpt-4.1-mini), 'offline', "
        "or a sequence-classifier checkpoint",
    )
    parser.add_argument(
        "--reasoning",
        choices=sorted(REASONING_CHOICES),
        default="think",
        help="what the judge reads: <think> (ERV, the paper) or all reasoning segments",
    )
    parser.add_argument("--output-dir", type=Path, help="where to write the report (default: <stem>_eval)")
    parser.add_argument("--model-name", help="row name in the tables (default: the predictions file stem)")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score predictions: UAR, WAR, EEA, EPC, FCR, reasoning-answer inconsistency, per-emotion recall",
        description="Score a predictions JSONL the way the MIGR paper does and write report.md, report.json and "
        "confusion_matrix.png.",
    )
    add_evaluate_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_predictions

    output_dir = args.output_dir or args.predictions.with_name(f"{args.predictions.stem}_eval")
    evaluate_predictions(
        args.predictions,
        label_set=args.label_set,
        judge=args.judge,
        reasoning=args.reasoning,
        output_dir=output_dir,
        model_name=args.model_name,
    )
    print((output_dir / "report.md").read_text(encoding="utf-8"))
    print(f"Wrote {output_dir / 'report.md'}, report.json and confusion_matrix.png")
    return 0

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
        help="'llm' / 'llm:<model>' (OpenAI-compatible, default model gpt-4.1-mini), 'offline', 'erv' (ERV's "
        "sentence classifier Rhatanii/Emo_Classifier; 'erv:<dir>' for a local copy), or a sequence-classifier "
        "checkpoint; the report names it",
    )
    parser.add_argument(
        "--reasoning",
        choices=sorted(REASONING_CHOICES),
        default="think",
        help="what the judge reads: <think> (ERV, the paper) or all reasoning segments",
    )
    parser.add_argument(
        "--single-judge-input",
        action="store_true",
        help="judge only the --reasoning input (default: judge <think> and visual+audio+think, side by side)",
    )
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="when the judge failed on some reasoning, report EEA/EPC/FCR with those counted wrong and exit 0 "
        "(default: report them as not computed and exit 1)",
    )
    parser.add_argument(
        "--erv-eea", action="store_true", help="ERV compatibility: a sample whose answer is no label scores 0 in EEA"
    )
    parser.add_argument(
        "--judge-out-of-set",
        choices=("keep", "neutral"),
        default="keep",
        help="LLM judge replies outside the label set: kept as wrong explanations, or read as neutral as ERV does "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--judge-timeout", type=float, help="LLM judge: seconds per request before it is retried (default: 60)"
    )
    parser.add_argument(
        "--judge-max-retries", type=int, help="LLM judge: retries of a failed request (default: 6)"
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
    import sys

    from ..classifiers import LLM_PREFIXES, get_classifier
    from ..evaluation import evaluate_predictions

    judge = args.judge
    llm_options = {
        key: value
        for key, value in (("out_of_set", args.judge_out_of_set), ("timeout", args.judge_timeout),
                           ("max_retries", args.judge_max_retries))
        if value is not None and (key, value) != ("out_of_set", "keep")
    }  # fmt: skip
    if llm_options:
        if judge.partition(":")[0].lower() not in LLM_PREFIXES:
            flags = ", ".join("--judge-" + key.replace("_", "-") for key in llm_options)
            raise ValueError(f"{flags} apply to the LLM judge, not to --judge {judge}")
        judge = get_classifier(judge, **llm_options)
    output_dir = args.output_dir or args.predictions.with_name(f"{args.predictions.stem}_eval")
    report = evaluate_predictions(
        args.predictions,
        label_set=args.label_set,
        judge=judge,
        reasoning=args.reasoning,
        output_dir=output_dir,
        model_name=args.model_name,
        compare_reasoning=not args.single_judge_input,
        allow_partial=args.allow_partial,
        erv_eea=args.erv_eea,
    )
    print((output_dir / "report.md").read_text(encoding="utf-8"))
    print(f"Wrote {output_dir / 'report.md'}, report.json and confusion_matrix.png")
    if not report["judge_complete"] and not args.allow_partial:
        inputs = report.get("judge_inputs") or {args.reasoning: report["counts"]}
        failed = sum(values["judge_failures"] for values in inputs.values())
        print(
            f"error: EEA/EPC/FCR not computed: the judge gave no answer for {failed} reasonings "
            "(rerun to ask again, or pass --allow-partial)",
            file=sys.stderr,
        )
        return 1
    return 0

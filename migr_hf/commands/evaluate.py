"""`migr-hf evaluate`: a predictions JSONL, or a model run over a folder of labelled clips -> the paper's tables
(Table 1-3), JSON and a confusion-matrix plot."""

import argparse
from pathlib import Path


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `migr-hf evaluate` and `examples/evaluate.py`."""
    from ..evaluation import REASONING_CHOICES
    from ..labels import LABEL_SETS

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--predictions", type=Path, help="JSONL of {id, label, completion}")
    source.add_argument(
        "--clips",
        type=Path,
        help="folder of clips to predict with --model first (needs --labels and --label-set); the predictions "
        "go to <output dir>/predictions.jsonl",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        help="with --clips: CSV with a header (a clip column: clip, video_name or name; and label) or JSONL of "
        "{clip, label}; a clip is named by file name, stem or number (a DFEW split CSV works as is)",
    )
    parser.add_argument("--model", help="with --clips: MIGR-Omni checkpoint (local path or Hub id)")
    parser.add_argument(
        "--generation-backend",
        choices=("hf", "vllm"),
        default="hf",
        help="with --clips: hf (transformers generate) or vllm (vLLM on the exported language model fed with "
        "prompt embeddings; its Python in $MIGR_HF_VLLM_PYTHON, see `make vllm-venv`)",
    )
    parser.add_argument(
        "--mode", choices=("audio+video", "video", "audio"), default="audio+video", help="with --clips: model inputs"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="with --clips: clips per engine call")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="with --clips: generation budget per clip")
    parser.add_argument("--device", help="with --clips: torch device (default: cuda when available, else cpu)")
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
    parser.add_argument(
        "--output-dir",
        type=Path,
        help="where to write the report (default: <predictions stem>_eval beside the file; with --clips, "
        "<clips folder name>_eval in the working directory)",
    )
    parser.add_argument(
        "--model-name", help="row name in the tables (default: the predictions file stem; with --clips, the model name)"
    )


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score predictions: UAR, WAR, EEA, EPC, FCR, reasoning-answer inconsistency, per-emotion recall",
        description="Score a predictions JSONL, or predict a folder of labelled clips with a model first, the way "
        "the MIGR paper does and write report.md, report.json and confusion_matrix.png.",
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
    if args.clips is not None:
        output_dir = args.output_dir or Path(f"{args.clips.name}_eval")
        predictions = predict_clip_folder(args, output_dir / "predictions.jsonl")
        model_name = args.model_name or Path(args.model).name
    else:
        for flag in ("labels", "model"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag} applies to --clips, not to --predictions")
        output_dir = args.output_dir or args.predictions.with_name(f"{args.predictions.stem}_eval")
        predictions, model_name = args.predictions, args.model_name
    report = evaluate_predictions(
        predictions,
        label_set=args.label_set,
        judge=judge,
        reasoning=args.reasoning,
        output_dir=output_dir,
        model_name=model_name,
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


def predict_clip_folder(args: argparse.Namespace, path: Path) -> Path:
    """Predict the labelled clips of `--clips` with `--model` on the `--generation-backend` engine; the predictions
    JSONL at `path`."""
    missing = [flag for flag in ("labels", "model", "label_set") if getattr(args, flag) is None]
    if missing:
        raise ValueError(f"--clips needs {', '.join('--' + flag.replace('_', '-') for flag in missing)}")
    from ..apps.inference import write_predictions
    from ..data.readers import read_labeled_clips
    from .infer import load_reasoner

    records = read_labeled_clips(args.clips, args.labels, args.label_set)
    if not records:
        raise ValueError(f"{args.labels}: no labelled clip of {args.clips}")
    reasoner = load_reasoner(args)
    with reasoner.engine:
        return write_predictions(reasoner, records, path, mode=args.mode, batch_size=args.batch_size)

"""`migr-hf estimate-mi`: Modality Importance of samples with a MIGR-Omni model, resumable and multi-process.

    migr-hf estimate-mi --model CKPT --dfew-root DFEW --output mi.jsonl --method loglik
    accelerate launch --multi_gpu --num_processes 4 -m migr_hf.cli estimate-mi --model CKPT --records rows.jsonl \
        --output mi.jsonl

Several CPU processes on one machine: ``ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 ...``
(``accelerate launch --cpu`` alone starts a single process).

The output JSONL is what ``migr-hf build-data ... --mi-file`` reads.
"""

import argparse
from pathlib import Path

from ..data.jsonl import FailureLog, FailurePolicy
from ..data.modality_importance import MI_METHODS, load_mi_rule, run_mi_estimation
from ..data.readers import read_dfew, read_mafw, read_record_rows
from ..schema import ModalityImportance


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "estimate-mi",
        help="predict samples under audio-only / visual-only / audio-visual input and derive their Modality Importance",
        description="Run a MIGR-Omni model on each sample under audio-only, visual-only and audio-visual input and "
        "append the predictions and the resulting Modality Importance to a JSONL (rerun to resume; under "
        "`accelerate launch` every process takes a shard).",
    )
    parser.add_argument(
        "--records",
        action="append",
        default=[],
        metavar="PATH",
        help="JSONL or parquet file of rows with id, source, split, video, label, label_set (or a folder of parquet "
        "files); repeatable",
    )
    parser.add_argument("--dfew-root", help="DFEW release root (reads --split of --fold)")
    parser.add_argument("--mafw-root", help="MAFW release root (reads --split of --fold)")
    parser.add_argument("--fold", type=int, default=5, choices=range(1, 6), help="DFEW/MAFW fold")
    parser.add_argument("--split", choices=("train", "test"), default="train", help="DFEW/MAFW split")
    parser.add_argument("--media-root", help="folder that relative video paths of --records rows are relative to")
    parser.add_argument("--model", required=True, help="MIGR-Omni checkpoint: local path or Hub id")
    parser.add_argument("--method", choices=MI_METHODS, default="generate", help="generate-and-parse or scoring")
    parser.add_argument("--output", required=True, help="results JSONL (appended to; existing ids are skipped)")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per model call (3 prompts each)")
    parser.add_argument("--rule", help="YAML/JSON override of the MI rule, keys like '101'")
    parser.add_argument("--instruction", help="condition prompt text; {labels} becomes the label words")
    parser.add_argument("--max-new-tokens", type=int, help="generation budget (--method generate; default 512)")
    parser.add_argument(
        "--generation-backend",
        choices=("hf", "vllm"),
        default="hf",
        help="--method generate: transformers generate (hf) or vLLM fed with prompt embeddings",
    )
    parser.add_argument("--length-normalize", action="store_true", help="score by mean token log-prob (loglik)")
    parser.add_argument("--failures", help="failures JSONL (default: OUTPUT.failures.jsonl, one per process)")
    parser.add_argument(
        "--max-failed-fraction",
        type=float,
        default=FailurePolicy.max_failed_fraction,
        help="stop once at least 5 samples were tried and more than this fraction failed (1.0 never stops)",
    )
    parser.add_argument("--device", help="torch device (default: the process's accelerate device)")
    parser.add_argument("--dtype", default="auto", help="weights dtype, e.g. bfloat16; auto: the checkpoint's")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _failures_path(args: argparse.Namespace, process_index: int, num_processes: int) -> Path:
    path = Path(args.failures or f"{args.output}.failures.jsonl")
    return path if num_processes == 1 else path.with_name(f"{path.stem}.{process_index}{path.suffix}")


def run(args: argparse.Namespace) -> int:
    from accelerate import Accelerator

    from ..models.migr_omni.mi_estimation import build_estimator

    if not (args.records or args.dfew_root or args.mafw_root):
        raise ValueError("no input given; pass --records, --dfew-root or --mafw-root")
    if args.length_normalize and args.method != "loglik":
        raise ValueError("--length-normalize applies to --method loglik only")
    state = Accelerator()
    failures = FailureLog(
        _failures_path(args, state.process_index, state.num_processes),
        FailurePolicy(max_failed_fraction=args.max_failed_fraction),
    )
    records = [record for path in args.records for record in read_record_rows(path)]
    if args.dfew_root:
        records += read_dfew(args.dfew_root, fold=args.fold, split=args.split, on_failure=failures.add)
    if args.mafw_root:
        records += read_mafw(args.mafw_root, fold=args.fold, split=args.split, on_failure=failures.add)
    options = {"instruction": args.instruction, "max_new_tokens": args.max_new_tokens, "media_root": args.media_root}
    if args.length_normalize:
        options["length_normalize"] = True
    if args.generation_backend != "hf":
        if args.method != "generate":
            raise ValueError("--generation-backend applies to --method generate only")
        options["generation_backend"] = args.generation_backend
    estimator = build_estimator(
        args.model, method=args.method, device=args.device or state.device, dtype=args.dtype, **options
    )
    mi = run_mi_estimation(
        records,
        estimator,
        args.output,
        args.batch_size,
        accelerator=state,
        rule=load_mi_rule(args.rule),
        failures=failures,
        show_progress=not args.no_progress,
    )
    if state.is_main_process:
        counts = {value.value: sum(m is value for m in mi.values()) for value in ModalityImportance}
        print(f"{args.output}: {len(mi)} sample(s) with MI ({', '.join(f'{k}={v}' for k, v in counts.items())})")
    if len(failures):
        print(f"process {state.process_index}: {len(failures)} failure(s) in {failures.path}")
    state.end_training()  # destroys the process group before interpreter teardown, where gloo can abort
    return 0

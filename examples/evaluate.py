"""Evaluate a predictions file the way the MIGR paper does: Table 1 (FCR, EEA, EPC, UAR, WAR), Table 2 (R×/A✓)
and Table 3 (per-emotion recall), as markdown and JSON, plus a confusion-matrix plot.

Input: JSONL with one ``{"id", "label", "completion"}`` per line (``label`` is the ground-truth word). Each
completion's ``<answer>`` is scored against the label and its reasoning (``<think>`` by default, as ERV does)
goes to the judge, which names the emotion it expresses.

    # the paper's judge (gpt-4.1-mini; OPENAI_API_KEY, optionally OPENAI_BASE_URL for a compatible server)
    python examples/evaluate.py --predictions preds.jsonl --label-set dfew --judge llm
    # no network: the offline lexicon reads the reasoning instead (not comparable to the paper's numbers)
    python examples/evaluate.py --predictions preds.jsonl --label-set dfew --judge offline

Outputs in ``--output-dir`` (default ``<predictions stem>_eval`` beside the file): ``report.md``,
``report.json`` (numbers as fractions, counts, skipped lines, per-sample results), ``confusion_matrix.png``.
Judge replies are cached on disk (``MIGR_JUDGE_CACHE``): a rerun pays nothing again.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from migr_hf.classifiers import get_classifier
from migr_hf.evaluation import (
    build_report,
    plot_confusion_matrix,
    read_predictions,
    render_markdown,
    score_predictions,
)
from migr_hf.labels import LABEL_SETS
from migr_hf.parsing import MODALITY_SEGMENTS, THINK_SEGMENT

logger = logging.getLogger("migr_hf.examples.evaluate")

REASONING = {"think": (THINK_SEGMENT,), "all": (*MODALITY_SEGMENTS, THINK_SEGMENT)}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--predictions", required=True, type=Path, help="JSONL of {id, label, completion}")
    parser.add_argument(
        "--label-set", choices=sorted(LABEL_SETS), help="benchmark vocabulary (default: the records' label_set field)"
    )
    parser.add_argument(
        "--judge",
        default="llm",
        help="'llm' / 'llm:<model>' (OpenAI-compatible, default model gpt-4.1-mini), 'offline', "
        "or a sequence-classifier checkpoint (default: %(default)s)",
    )
    parser.add_argument(
        "--reasoning",
        choices=sorted(REASONING),
        default="think",
        help="what the judge reads: <think> (ERV, the paper) or all reasoning segments (default: %(default)s)",
    )
    parser.add_argument("--output-dir", type=Path, help="where to write the report (default: <stem>_eval)")
    parser.add_argument("--model-name", help="row name in the tables (default: the predictions file stem)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the evaluation; returns the JSON report that is also written to disk."""
    args = parse_args(argv)
    output_dir = args.output_dir or args.predictions.with_name(f"{args.predictions.stem}_eval")
    model_name = args.model_name or args.predictions.stem

    records, label_set, skipped = read_predictions(args.predictions, args.label_set)
    if not records:
        raise SystemExit(f"{args.predictions}: no usable prediction records ({len(skipped)} lines skipped)")
    judge = get_classifier(args.judge)
    logger.info("judging %d reasonings of %s with %r", len(records), args.predictions, judge)
    samples = score_predictions(records, label_set, judge, reasoning_segments=REASONING[args.reasoning])

    report = build_report(samples, label_set)
    report.update(model=model_name, judge=repr(judge), reasoning=args.reasoning, skipped=skipped)
    markdown = render_markdown(report, model_name=model_name)
    if skipped:
        markdown += f"\nSkipped {len(skipped)} input lines: see report.json.\n"

    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "report.md").write_text(markdown, encoding="utf-8")
    (output_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    plot_confusion_matrix(
        report["confusion_matrix"], output_dir / "confusion_matrix.png", title=f"{model_name} on {label_set.upper()}"
    )
    print(markdown)
    print(f"Wrote {output_dir / 'report.md'}, report.json and confusion_matrix.png")
    return report


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main()

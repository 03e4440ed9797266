"""`migr-hf quickstart`: the reduced single arm of the synthetic benchmark (MIGR SFT + MIGR rewards), offline, on CPU.

Stages, each through the project's own code paths (see `migr_hf.synthetic.pipeline`):

1. a synthetic corpus with a known emotion-dominant modality per clip, in the DFEW / EMER / OpenFace layouts;
2. the base recognition model: a small MIGR-Omni whose towers are pretrained on generated faces and voices, then
   trained on answer-only targets with modality dropout;
3. Modality Importance with both estimators, scored against the ground truth;
4. the SFT and GRPO datasets (EMER + FAU-filtered DFEW, MI-ordered reasoning), MI-ordered SFT, GRPO with the MIGR
   rewards;
5. inference on the held-out DFEW test clips and the paper's metrics with the offline judge;
6. ``report.md`` (with plots) and ``report.json`` beside it.

Sizes and learning rates: `BenchmarkConfig.quickstart()`; `--reduced` runs `BenchmarkConfig.ci()`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from datasets import disable_progress_bars as disable_datasets_progress_bars
from transformers.utils import logging

from ..data.jsonl import JsonlStore, atomic_write_text
from .ablation import SYNTHETIC_NOTE
from .config import BenchmarkConfig
from .corpus import DOMINANT_MODALITIES, make_synthetic_corpus
from .pipeline import ArmRun, BaseRun, prepare_base, reward_curves, run_arm

ARM = "migr_sft_rewards"
MI_OUTCOMES = ("audio", "visual", "both", "undetermined")


def run_quickstart(output_dir: str | os.PathLike, config: BenchmarkConfig | None = None) -> Path:
    """Run every stage into `output_dir` (an existing run is resumed stage by stage) and return ``report.md``."""
    config = config or BenchmarkConfig.quickstart()
    logging.disable_progress_bar()
    disable_datasets_progress_bars()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    corpus = make_synthetic_corpus(output_dir / "corpus", config.corpus)
    base = prepare_base(output_dir / "base", corpus, config)
    arm = run_arm(ARM, output_dir / ARM, corpus, base, config)
    summary = quickstart_summary(base, arm, config, wall_s=time.perf_counter() - start, speech=corpus.speech)
    atomic_write_text(output_dir / "report.json", json.dumps(summary, indent=2, ensure_ascii=False))
    plot_training(arm, output_dir / "training.png")
    report = output_dir / "report.md"
    atomic_write_text(report, render_report(summary, arm))
    return report


def quickstart_summary(
    base: BaseRun, arm: ArmRun, config: BenchmarkConfig, wall_s: float, speech: str
) -> dict[str, Any]:
    """The figures of ``report.json``: headline metrics (fractions), MI against the ground truth, timings."""
    method = config.mi_method
    return {
        "wall_s": round(wall_s, 1),
        **arm.metrics,
        "mi_method": method,
        "mi_accuracy": base.mi[method]["all"]["accuracy"],
        "mi_agreement": base.mi_agreement["all"],
        "mi": base.mi,
        "mi_agreement_by_part": base.mi_agreement,
        "warmup": base.warmup,
        "by_dominant": arm.by_dominant,
        "reward_curves": reward_curves(arm.grpo_log),
        "builds": arm.builds,
        "timings": {**base.timings, **arm.timings},
        "speech": speech,
        "config": config.to_dict(),
    }


def plot_training(arm: ArmRun, path: Path) -> Path:
    """SFT loss and the mean of each GRPO reward against the training step."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    sft = [(entry["step"], entry["loss"]) for entry in arm.sft_log if "loss" in entry]
    if sft:
        left.plot(*zip(*sft), marker="o", markersize=3)
    left.set(title="MI-ordered SFT", xlabel="step", ylabel="loss")
    for name, points in reward_curves(arm.grpo_log).items():
        right.plot(*zip(*points), marker="o", label=name)
    right.set(title="GRPO with the MIGR rewards", xlabel="step", ylabel="mean reward")
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def mi_confusion_table(confusion: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Markdown rows: ground-truth dominant modality -> counts of each estimated Modality Importance."""
    lines = ["| ground truth \\ estimated | " + " | ".join(MI_OUTCOMES) + " |", "|:---|" + "---:|" * len(MI_OUTCOMES)]
    for truth in DOMINANT_MODALITIES:
        lines.append(f"| {truth} | " + " | ".join(str(confusion.get(truth, {}).get(o, 0)) for o in MI_OUTCOMES) + " |")
    return lines


def decoded_examples(arm: ArmRun) -> dict[str, dict[str, Any]]:
    """One held-out prediction per ground-truth dominant modality (a correct one when there is one)."""
    predictions = {row["id"]: row for row in JsonlStore(arm.directory / "predictions.jsonl")}
    examples: dict[str, dict[str, Any]] = {}
    for sample in arm.evaluation["samples"]:
        row = predictions[sample["id"]]
        current = examples.get(row["dominant"])
        if current is None or (not current["correct"] and sample["prediction"] == sample["reference"]):
            examples[row["dominant"]] = {**row, "prediction": sample["prediction"], "correct": sample["prediction"] == sample["reference"]}
    return examples


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def render_report(summary: Mapping[str, Any], arm: ArmRun) -> str:
    """``report.md``: what is synthetic, headline numbers, MI against the ground truth, data, curves, tables."""
    method = summary["mi_method"]
    mi = summary["mi"]
    lines = [
        "# migr-hf quickstart report",
        "",
        SYNTHETIC_NOTE.format(speech=summary["speech"]),
        "",
        f"Arm: MIGR SFT + MIGR rewards. Wall time: {summary['wall_s'] / 60:.1f} min.",
        "",
        "| held-out test clips | parsable | WAR | UAR | chance WAR | MI accuracy | MI agreement |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {summary['num_test']} | {_pct(summary['parsable_rate'])} | {_pct(summary['war'])} | {_pct(summary['uar'])} "
        f"| {_pct(summary['chance_war'])} | {_pct(summary['mi_accuracy'])} | {_pct(summary['mi_agreement'])} |",
        "",
        f"Chance WAR is the majority class's share of the test clips. MI accuracy: the builders' default estimator "
        f"(`{method}`) against the ground truth over the clips whose dominant modality is audio or visual; "
        "MI agreement: share of clips where both estimators give the same Modality Importance.",
        "",
        "## Modality Importance against the ground truth",
        "",
    ]
    for name in mi:
        scores = mi[name]["all"]
        default = " (builders' default)" if name == method else ""
        lines += [
            f"**{name}**{default}: accuracy {_pct(scores['accuracy'])} over {scores['num_audio_visual_clips']} audio/visual "
            f"clips (train {_pct(mi[name]['train']['accuracy'])}, held-out {_pct(mi[name]['heldout']['accuracy'])}); "
            f"`both` clips estimated `both`: {_pct(scores['both_accuracy'])} of {scores['num_both_clips']}.",
            "",
            *mi_confusion_table(scores["confusion"]),
            "",
        ]
    warmup = summary["warmup"]
    if warmup:
        lines += [
            f"Tower warm-up (held-out clips, the emotion each modality clearly shows): vision "
            f"{_pct(warmup['vision_heldout'])}, audio {_pct(warmup['audio_heldout'])}.",
            "",
        ]
    sft, grpo = summary["builds"]["sft"], summary["builds"]["grpo"]
    lines += [
        "## Data",
        "",
        f"- SFT dataset: {sft['rows']} rows from {sft['rows_per_source']}; FAU filter: {sft['fau']};",
        f"  Modality Importance: {sft['modality_importance']}; orders: {sft['orders']}.",
        f"- GRPO dataset: {grpo['rows']} rows; Modality Importance: {grpo['modality_importance']}.",
        "",
        "## Training",
        "",
        "![training curves](training.png)",
        "",
        "## Evaluation (held-out DFEW-layout test clips, offline judge)",
        "",
        (arm.directory / "evaluation" / "report.md").read_text(encoding="utf-8"),
        "",
        f"![confusion matrix]({ARM}/evaluation/confusion_matrix.png)",
        "",
        "**By ground-truth dominant modality** (WAR; share of completions opening with audio / visual)",
        "",
        "| dominant | clips | WAR | opens audio | opens visual |",
        "|:---|---:|---:|---:|---:|",
    ]
    for modality, split in summary["by_dominant"].items():
        lines.append(
            f"| {modality} | {split['num']} | {_pct(split['war'])} | {_pct(split['opens_audio'])} | {_pct(split['opens_visual'])} |"
        )
    lines += ["", "## One decoded example per dominant modality", ""]
    for modality, example in decoded_examples(arm).items():
        verdict = "correct" if example["correct"] else "wrong"
        lines += [
            f"**{modality}** ({example['id']}, label {example['label']}, predicted {example['prediction']}: {verdict})",
            "",
            "```",
            example["completion"],
            "```",
            "",
        ]
    lines += [
        "## Stage timings (s)",
        "",
        "| stage | seconds |",
        "|:---|---:|",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in summary["timings"].items()),
    ]
    return "\n".join(lines) + "\n"


__all__ = ["quickstart_summary", "render_report", "run_quickstart"]

"""`migr-hf quickstart`: the whole MIGR pipeline on the built-in sample, offline, on the CPU.

Stages, each with the project's own code paths:

1. sample corpus (`migr_hf.testing.sample_data`): EMER-V1 CSV and clips, a DFEW fold-5 tree, OpenFace CSVs;
2. a tiny random MIGR-Omni checkpoint and tokenizers (`migr_hf.testing.tiny`);
3. the SFT dataset (EMER + FAU-filtered DFEW, Modality Importance by log-likelihood scoring, MI-ordered
   reasoning) and the GRPO dataset (DFEW train with MI), through `migr_hf.data.builder`;
4. modality-aligned SFT (`MIGRSFTTrainer`), then GRPO with the MIGR rewards (`MIGRGRPOTrainer`);
5. inference on the DFEW test clips (`EmotionReasoner`) and the paper's tables with the offline judge;
6. `report.md` with plots, whose path is printed.

The model is tiny and random, so the numbers only show that every stage runs and connects: SFT here uses a
learning rate of 3e-3 (not the paper's 2e-5) so that the tiny model picks up the MIGR output format within a
few minutes of training.
"""

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from datasets import disable_progress_bars as disable_datasets_progress_bars
from transformers import ProgressCallback, Trainer
from transformers.utils import logging

from ..data.builder import BuildResult, build_grpo_dataset, build_sft_dataset
from ..data.readers import read_dfew
from ..evaluation.report import evaluate_predictions
from ..models.migr_omni.mi_estimation import build_estimator
from ..testing.sample_data import make_sample_corpus
from ..testing.tiny import build_tiny_checkpoint
from ..trainers import MIGRGRPOConfig, MIGRGRPOTrainer, MIGRSFTConfig, MIGRSFTTrainer
from .inference import EmotionReasoner, write_predictions

logger = logging.get_logger(__name__)


@dataclass
class QuickstartSettings:
    """Sizes of the quickstart run; `reduced()` is the CI smoke version."""

    sft_steps: int = 120
    sft_learning_rate: float = 3e-3
    grpo_steps: int = 4
    grpo_generations: int = 4
    max_completion_length: int = 96
    seed: int = 0

    @classmethod
    def reduced(cls) -> "QuickstartSettings":
        return cls(sft_steps=4, grpo_steps=1, grpo_generations=2, max_completion_length=12)


@dataclass
class QuickstartRun:
    """What a run produced: directories, stage timings (s) and the evaluation report."""

    output_dir: Path
    settings: QuickstartSettings
    timings: dict[str, float] = field(default_factory=dict)
    speech: str = ""
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)
    sft_log: list[dict[str, Any]] = field(default_factory=list)
    grpo_log: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] = field(default_factory=dict)

    def stage(self, name: str, function: Callable[[], Any]) -> Any:
        """Run one stage, time it and log its start and end."""
        logger.warning(f"[quickstart] {name} ...")
        start = time.perf_counter()
        result = function()
        self.timings[name] = time.perf_counter() - start
        logger.warning(f"[quickstart] {name}: {self.timings[name]:.1f} s")
        return result


def _trainer_args(settings: QuickstartSettings) -> dict[str, Any]:
    return dict(report_to=[], use_cpu=True, bf16=False, save_strategy="no", seed=settings.seed, disable_tqdm=False)


class StepProgressCallback(ProgressCallback):
    """The training progress bar without the metric dictionaries (they go to the report, not to the terminal)."""

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        return None


def _train(trainer: Trainer) -> Trainer:
    """Train with `StepProgressCallback` as the progress bar, then save the model to the trainer's output folder."""
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(StepProgressCallback)
    trainer.train()
    trainer.save_model(trainer.args.output_dir)
    return trainer


def run_quickstart(output_dir: str | os.PathLike, settings: QuickstartSettings | None = None) -> Path:
    """Run every stage into `output_dir` (created; an existing build is resumed) and return the report path."""
    settings = settings or QuickstartSettings()
    # The quickstart's terminal output is its stages and progress bars: no per-file loading or split-generation bars.
    logging.disable_progress_bar()
    disable_datasets_progress_bars()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    run = QuickstartRun(output_dir, settings)
    torch.manual_seed(settings.seed)

    corpus = run.stage("sample corpus", lambda: make_sample_corpus(output_dir / "sample"))
    run.speech = corpus.speech
    base_model = run.stage("tiny model", lambda: build_tiny_checkpoint(output_dir / "base-model", seed=settings.seed))
    estimator = build_estimator(base_model, method="loglik")

    def build(kind: str) -> BuildResult:
        common = dict(mi_estimator=estimator, show_progress=False)
        if kind == "sft":
            return build_sft_dataset(
                output_dir / "data" / "sft",
                emer_v1=corpus.emer_v1,
                emer_video_dir=corpus.emer_video_dir,
                dfew_root=corpus.dfew_root,
                openface_dir=corpus.openface_dir,
                **common,
            )
        return build_grpo_dataset(output_dir / "data" / "grpo", dfew_root=corpus.dfew_root, **common)

    datasets = {kind: run.stage(f"{kind} dataset", lambda kind=kind: build(kind)) for kind in ("sft", "grpo")}
    run.builds = {kind: result.summary.to_dict() for kind, result in datasets.items()}

    def sft() -> MIGRSFTTrainer:
        args = MIGRSFTConfig(
            output_dir=str(output_dir / "sft-model"),
            max_steps=settings.sft_steps,
            learning_rate=settings.sft_learning_rate,
            warmup_ratio=0.1,
            per_device_train_batch_size=4,
            logging_steps=1,
            **_trainer_args(settings),
        )
        return _train(MIGRSFTTrainer(str(base_model), args=args, train_dataset=datasets["sft"].dataset["train"]))

    run.sft_log = run.stage("SFT", sft).state.log_history

    def grpo() -> MIGRGRPOTrainer:
        args = MIGRGRPOConfig(
            output_dir=str(output_dir / "grpo-model"),
            max_steps=settings.grpo_steps,
            num_generations=settings.grpo_generations,
            per_device_train_batch_size=settings.grpo_generations,
            gradient_accumulation_steps=1,
            max_completion_length=settings.max_completion_length,
            learning_rate=1e-5,
            logging_steps=1,
            **_trainer_args(settings),
        )
        return _train(
            MIGRGRPOTrainer(str(output_dir / "sft-model"), args=args, train_dataset=datasets["grpo"].dataset["train"])
        )

    run.grpo_log = run.stage("GRPO", grpo).state.log_history
    predictions = run.stage("inference", lambda: predict_test_clips(run, corpus.dfew_root))
    run.evaluation = run.stage(
        "evaluation",
        lambda: evaluate_predictions(
            predictions, label_set="dfew", judge="offline", output_dir=output_dir / "evaluation", model_name="MIGR (tiny)"
        ),
    )
    return write_report(run)


def predict_test_clips(run: QuickstartRun, dfew_root: Path) -> Path:
    """Predictions JSONL (`id`, `label`, `completion`) of the final model on the DFEW fold-5 test clips."""
    reasoner = EmotionReasoner.from_pretrained(
        run.output_dir / "grpo-model", label_set="dfew", max_new_tokens=run.settings.max_completion_length
    )
    return write_predictions(reasoner, read_dfew(dfew_root, fold=5, split="test"), run.output_dir / "predictions.jsonl")


def plot_training(run: QuickstartRun, path: Path) -> Path:
    """SFT loss and GRPO per-reward means against the training step."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    sft = [(entry["step"], entry["loss"]) for entry in run.sft_log if "loss" in entry]
    left.plot(*zip(*sft), marker="o", markersize=3)
    left.set(title="Modality-aligned SFT", xlabel="step", ylabel="loss")
    for key in sorted({k for entry in run.grpo_log for k in entry if k.startswith("rewards/") and k.endswith("/mean")}):
        points = [(entry["step"], entry[key]) for entry in run.grpo_log if key in entry]
        right.plot(*zip(*points), marker="o", label=key.split("/")[1])
    right.set(title="MIGR GRPO rewards", xlabel="step", ylabel="mean reward")
    right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_report(run: QuickstartRun) -> Path:
    """`report.md` in the output directory: stages, data, training curves and the paper's tables."""
    output_dir = run.output_dir
    plot_training(run, output_dir / "training.png")
    sft, grpo = run.builds["sft"], run.builds["grpo"]
    lines = [
        "# migr-hf quickstart report",
        "",
        "The whole MIGR pipeline on the built-in sample with a tiny random model: the numbers show that the stages",
        "run and connect, not what MIGR achieves. Settings: "
        + ", ".join(f"{k}={v}" for k, v in asdict(run.settings).items())
        + f"; clip audio: {run.speech}.",
        "",
        "| stage | seconds |",
        "|---|---:|",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in run.timings.items()),
        f"| **total** | **{sum(run.timings.values()):.1f}** |",
        "",
        "## Data",
        "",
        f"- SFT dataset: {sft['rows']} rows from {sft['rows_per_source']}; FAU filter: {sft['fau']};",
        f"  Modality Importance: {sft['modality_importance']}; orders: {sft['orders']}; left out: {sft['failures'] or 'none'}.",
        f"- GRPO dataset: {grpo['rows']} rows; Modality Importance: {grpo['modality_importance']}.",
        f"- Datasets: `{output_dir / 'data'}` (reload with `datasets.load_dataset(<dir>)`).",
        "",
        "## Training",
        "",
        "![training curves](training.png)",
        "",
        "## Evaluation (DFEW fold-5 test clips, offline judge)",
        "",
        (output_dir / "evaluation" / "report.md").read_text(encoding="utf-8"),
        "",
        "![confusion matrix](evaluation/confusion_matrix.png)",
        "",
        "## Outputs",
        "",
        f"- models: `{output_dir / 'sft-model'}`, `{output_dir / 'grpo-model'}`",
        f"- predictions: `{output_dir / 'predictions.jsonl'}`",
        f"- evaluation: `{output_dir / 'evaluation'}`",
    ]
    report = output_dir / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (output_dir / "quickstart.json").write_text(
        json.dumps({"settings": asdict(run.settings), "timings": run.timings, "builds": run.builds}, indent=2),
        encoding="utf-8",
    )
    return report


__all__ = ["QuickstartSettings", "run_quickstart"]

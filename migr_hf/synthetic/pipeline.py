"""The MIGR pipeline on the synthetic corpus, through the project's own code paths.

`prepare_base` (shared by the arms of one seed): base recognition model (`recognition`), then Modality Importance
of every EMER, DFEW-train and DFEW-test clip with both estimators (`estimate_modality_importance`), scored against
the ground truth. `run_arm`: the SFT and GRPO datasets (`build_sft_dataset` / `build_grpo_dataset`, with the
default estimator's MI file), MI-ordered SFT (`MIGRSFTTrainer`), GRPO (`MIGRGRPOTrainer`) for the arms that have
it, inference on the held-out DFEW test clips (`EmotionReasoner`) and the paper's metrics
(`evaluate_predictions` with the offline lexicon classifier as judge), split by ground-truth dominant modality.

Arms (paper ablation): ``r1_omni`` (every sample visual-first, answer + format rewards), ``migr_sft`` (MI-ordered
SFT only), ``migr_sft_rewards`` (MI-ordered SFT, then GRPO with the MIGR rewards of eq. 3).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import AutoProcessor

from ..data.builder import build_grpo_dataset, build_sft_dataset
from ..data.jsonl import JsonlStore, atomic_write_text
from ..data.modality_importance import (
    CONDITIONS,
    DEFAULT_MI_TABLE,
    MIRule,
    estimate_modality_importance,
)
from ..models.migr_omni.mi_estimation import build_estimator
from ..data.readers import read_dfew, read_emer_v1
from ..evaluation.metrics import uar, war
from ..evaluation.report import evaluate_predictions
from ..apps.inference import EmotionReasoner
from ..rewards import MIGR_REWARDS
from ..trainers import MIGRGRPOConfig, MIGRGRPOTrainer, MIGRSFTConfig, MIGRSFTTrainer
from .config import ARMS, BenchmarkConfig
from .corpus import DOMINANT_MODALITIES, SyntheticCorpus
from .recognition import (
    DecodedMediaCollator,
    build_base_checkpoint,     records_with_truth,
    train_base_model,
    trainer_args,
    warm_up_towers,
)

logger = logging.getLogger(__name__)

MI_METHODS = ("generate", "loglik")
# Arm (i): every sample visual-first, as R1-Omni's fixed order.
VISUAL_FIRST_RULE = MIRule.from_mapping({"".join("1" if v else "0" for v in key): "visual" for key in DEFAULT_MI_TABLE})
ARM_REWARDS = {"r1_omni": ["answer", "format"], "migr_sft": None, "migr_sft_rewards": list(MIGR_REWARDS)}


class Timer:
    """Stage name -> wall seconds, logged as each stage starts and ends."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, function: Callable[[], Any]) -> Any:
        logger.warning(f"[{self.prefix}] {name} ...")
        start = time.perf_counter()
        result = function()
        self.seconds[name] = round(time.perf_counter() - start, 2)
        logger.warning(f"[{self.prefix}] {name} done in {self.seconds[name]:.1f} s")
        return result


def mi_scores(rows: Sequence[Mapping[str, Any]], truth: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Estimated MI against the ground truth: accuracy over ``audio``/``visual`` clips, ``both`` clips separately,
    the confusion (ground truth -> estimated -> count), each condition's accuracy and the chance accuracy (the
    majority label's share)."""
    pairs = [(truth[row["id"]]["dominant"], row["modality_importance"]) for row in rows]
    dominant = [(t, e) for t, e in pairs if t != "both"]
    both = [(t, e) for t, e in pairs if t == "both"]
    confusion = {t: dict(Counter(e for gt, e in pairs if gt == t)) for t in DOMINANT_MODALITIES}
    return {
        "num_clips": len(pairs),
        "accuracy": sum(t == e for t, e in dominant) / len(dominant) if dominant else None,
        "num_audio_visual_clips": len(dominant),
        "both_accuracy": sum(e == "both" for _, e in both) / len(both) if both else None,
        "num_both_clips": len(both),
        "confusion": confusion,
        "condition_accuracy": {c: sum(row["correct"][c] for row in rows) / len(rows) for c in CONDITIONS} if rows else {},
        "chance_accuracy": max(Counter(truth[row["id"]]["label"] for row in rows).values()) / len(rows) if rows else None,
    }


@dataclass
class BaseRun:
    """What `prepare_base` produced for one seed."""

    directory: Path
    model_dir: Path
    mi_files: dict[str, Path]
    warmup: dict[str, float]
    base_log: list[dict[str, Any]]
    mi: dict[str, dict[str, Any]]  # method -> {"train" | "heldout" | "all": scores}
    mi_agreement: dict[str, float]  # "train" / "heldout" / "all" -> share of clips where both estimators give the same MI
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "mi_files": {k: str(v) for k, v in self.mi_files.items()},
            "warmup": self.warmup,
            "mi": self.mi,
            "mi_agreement": self.mi_agreement,
            "timings": self.timings,
        }


def corpus_records(corpus: SyntheticCorpus, fold: int) -> dict[str, list]:
    """The corpus read with the project's readers: EMER, DFEW train and DFEW test of ``fold``."""
    return {
        "emer": read_emer_v1(corpus.emer_v1, video_dir=corpus.emer_video_dir),
        "train": read_dfew(corpus.dfew_root, fold=fold, split="train"),
        "test": read_dfew(corpus.dfew_root, fold=fold, split="test"),
    }


def prepare_base(directory: str | os.PathLike, corpus: SyntheticCorpus, config: BenchmarkConfig) -> BaseRun:
    """Tower warm-up, base recognition training and Modality Importance with both estimators (resumable MI files).

    MI is estimated for the clips the datasets are built from (EMER and DFEW train, ``"train"``) and for the
    held-out DFEW test clips (``"heldout"``), whose estimates no training stage sees; ``"all"`` scores both.
    """
    directory = Path(directory)
    timer = Timer(f"base seed {config.seed}")
    truth = corpus.ground_truth()
    records = corpus_records(corpus, config.fold)
    train_rows = records_with_truth(records["train"], truth)
    test_rows = records_with_truth(records["test"], truth)
    model_dir = directory / "base-model"
    warmup: dict[str, float] = {}
    log: list[dict[str, Any]] = []
    if not (model_dir / "model.safetensors").exists():
        initial = timer("random checkpoint", lambda: build_base_checkpoint(directory / "init-model", config, seed=config.seed))
        warmup = timer("tower warm-up", lambda: warm_up_towers(initial, train_rows, test_rows, config)).to_dict()
        log = timer("base training", lambda: train_base_model(initial, model_dir, train_rows, config))
        (model_dir / "warmup.json").write_text(json.dumps({"warmup": warmup, "log": log}, indent=2), encoding="utf-8")
    else:
        saved = json.loads((model_dir / "warmup.json").read_text(encoding="utf-8"))
        warmup, log = saved["warmup"], saved["log"]
    mi_files, mi = {}, {}
    estimated = [*records["emer"], *records["train"], *records["test"]]
    heldout = {r.id for r in records["test"]}
    parts = (("train", lambda i: i not in heldout), ("heldout", lambda i: i in heldout), ("all", lambda i: True))
    for method in MI_METHODS:
        path = directory / f"mi-{method}.jsonl"
        kwargs = {"max_new_tokens": 12} if method == "generate" else {}
        estimator = build_estimator(model_dir, method=method, batch_size=config.mi_batch_size, **kwargs)
        timer(
            f"MI ({method})",
            lambda: estimate_modality_importance(
                estimated, estimator, path, batch_size=config.mi_batch_size, show_progress=False
            ),
        )
        rows = {row["id"]: row for row in JsonlStore(path)}
        mi[method] = {part: mi_scores([row for i, row in rows.items() if selected(i)], truth) for part, selected in parts}
        mi_files[method] = path
    stored = {method: {row["id"]: row["modality_importance"] for row in JsonlStore(path)} for method, path in mi_files.items()}
    agreement = {}
    for part, selected in parts:
        ids = [i for i in stored["generate"] if selected(i) and i in stored["loglik"]]
        agreement[part] = sum(stored["generate"][i] == stored["loglik"][i] for i in ids) / len(ids) if ids else None
    return BaseRun(directory, model_dir, mi_files, warmup, log, mi, agreement, timer.seconds)


@dataclass
class ArmRun:
    """What `run_arm` produced: datasets, training logs, the evaluation and its split by dominant modality."""

    arm: str
    seed: int
    directory: Path
    builds: dict[str, dict[str, Any]]
    sft_log: list[dict[str, Any]]
    grpo_log: list[dict[str, Any]]
    evaluation: dict[str, Any]
    metrics: dict[str, Any]
    by_dominant: dict[str, dict[str, Any]]
    timings: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "seed": self.seed,
            "directory": str(self.directory),
            "builds": self.builds,
            "metrics": self.metrics,
            "by_dominant": self.by_dominant,
            "reward_curves": reward_curves(self.grpo_log),
            "sft_loss": [(e["step"], e["loss"]) for e in self.sft_log if "loss" in e],
            "timings": self.timings,
        }


def reward_curves(log: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Reward name -> [(step, mean reward)] from a GRPO trainer's log history."""
    keys = sorted({k for entry in log for k in entry if k.startswith("rewards/") and k.endswith("/mean")})
    return {key.split("/")[1]: [(entry["step"], entry[key]) for entry in log if key in entry] for key in keys}


def _first_modality(completion: str) -> str | None:
    from ..parsing import parse_completion

    first = parse_completion(completion).first_segment
    return {"aud_desc": "audio", "vis_desc": "visual"}.get(first)


def arm_metrics(report: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Flat per-arm numbers (fractions): the paper's tables, parsable rate, chance level and order alignment."""
    t1, t2 = report["table1"], report["table2"]
    labels = [row["label"] for row in predictions]
    counts = Counter(labels)
    aligned = [row for row in predictions if row["dominant"] != "both"]
    return {
        "num_test": report["num_samples"],
        "war": t1["WAR"],
        "uar": t1["UAR"],
        "eea": t1["EEA"],
        "epc": t1["EPC"],
        "fcr": t1["FCR"],
        "r_x_all": t2["all"],
        "r_x_among_correct": t2["among_correct"],
        "parsable_rate": 1 - report["counts"]["no_answer"] / report["num_samples"],
        "well_formed_rate": 1 - report["counts"]["not_well_formed"] / report["num_samples"],
        "chance_war": max(counts.values()) / len(labels),
        "order_alignment": (
            sum(_first_modality(row["completion"]) == row["dominant"] for row in aligned) / len(aligned) if aligned else None
        ),
    }


def split_by_dominant(report: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """WAR, UAR and the share of completions opening with that modality, per ground-truth dominant modality."""
    dominant = {row["id"]: row["dominant"] for row in predictions}
    completions = {row["id"]: row["completion"] for row in predictions}
    result = {}
    for modality in DOMINANT_MODALITIES:
        samples = [s for s in report["samples"] if dominant[s["id"]] == modality]
        if not samples:
            continue
        preds = [s["prediction"] for s in samples]
        refs = [s["reference"] for s in samples]
        firsts = [_first_modality(completions[s["id"]]) for s in samples]
        result[modality] = {
            "num": len(samples),
            "war": war(preds, refs, report["label_set"]),
            "uar": uar(preds, refs, report["label_set"]),
            "opens_audio": firsts.count("audio") / len(samples),
            "opens_visual": firsts.count("visual") / len(samples),
        }
    return result


def finetuned_parts(config: BenchmarkConfig) -> dict[str, bool]:
    """The `MIGRModelPartsArguments` of SFT and GRPO: the towers stay frozen, the projectors train only with
    `config.finetune_projectors`."""
    return dict(
        train_vision_tower=False,
        train_audio_tower=False,
        train_projectors=config.finetune_projectors,
        train_language_model=config.train_language_model,
    )


def run_arm(
    arm: str, directory: str | os.PathLike, corpus: SyntheticCorpus, base: BaseRun, config: BenchmarkConfig
) -> ArmRun:
    """One arm of the ablation from the seed's base model (see the module docstring)."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; choose one of {ARMS}")
    directory = Path(directory)
    timer = Timer(f"{arm} seed {config.seed}")
    mi_file = base.mi_files[config.mi_method]
    rule = VISUAL_FIRST_RULE if arm == "r1_omni" else None
    common = dict(mi_file=mi_file, mi_rule=rule, fold=config.fold, show_progress=False)
    sft_data = timer(
        "SFT dataset",
        lambda: build_sft_dataset(
            directory / "data" / "sft",
            emer_v1=corpus.emer_v1,
            emer_video_dir=corpus.emer_video_dir,
            dfew_root=corpus.dfew_root,
            openface_dir=corpus.openface_dir,
            **common,
        ),
    )
    grpo_data = timer("GRPO dataset", lambda: build_grpo_dataset(directory / "data" / "grpo", dfew_root=corpus.dfew_root, **common))
    builds = {"sft": sft_data.summary.to_dict(), "grpo": grpo_data.summary.to_dict()}

    def sft() -> MIGRSFTTrainer:
        args = MIGRSFTConfig(
            output_dir=str(directory / "sft-model"),
            max_steps=config.sft_steps,
            learning_rate=config.sft_learning_rate,
            warmup_ratio=0.05,
            per_device_train_batch_size=config.sft_batch_size,
            **finetuned_parts(config),
            **trainer_args(config),
        )
        processor = AutoProcessor.from_pretrained(base.model_dir)
        collator = DecodedMediaCollator(processor, max_length=args.max_length)
        trainer = MIGRSFTTrainer(
            str(base.model_dir),
            args=args,
            train_dataset=sft_data.dataset["train"],
            processing_class=processor,
            data_collator=collator,
        )
        trainer.train()
        trainer.save_model(args.output_dir)
        trainer.processing_class.save_pretrained(args.output_dir)
        return trainer

    sft_log = timer("SFT", sft).state.log_history
    final = directory / "sft-model"
    grpo_log: list[dict[str, Any]] = []
    if ARM_REWARDS[arm] is not None:

        def grpo() -> MIGRGRPOTrainer:
            args = MIGRGRPOConfig(
                output_dir=str(directory / "grpo-model"),
                max_steps=config.grpo_steps,
                num_generations=config.grpo_generations,
                per_device_train_batch_size=config.grpo_generations * config.grpo_prompts_per_step,
                gradient_accumulation_steps=1,
                max_completion_length=config.max_completion_length,
                learning_rate=config.grpo_learning_rate,
                temperature=config.grpo_temperature,
                reward_names=ARM_REWARDS[arm],
                emotion_classifier="offline",  # the corpus's sentences are scored by the lexicon, offline
                **finetuned_parts(config),
                **{**trainer_args(config), "logging_steps": 1},
            )
            trainer = MIGRGRPOTrainer(str(final), args=args, train_dataset=grpo_data.dataset["train"])
            trainer.train()
            trainer.save_model(args.output_dir)
            trainer.processing_class.save_pretrained(args.output_dir)
            return trainer

        grpo_log = timer("GRPO", grpo).state.log_history
        final = directory / "grpo-model"
    predictions_path = timer("inference", lambda: predict_heldout(final, corpus, config, directory / "predictions.jsonl"))
    report = timer(
        "evaluation",
        lambda: evaluate_predictions(
            predictions_path, label_set="dfew", judge="offline", output_dir=directory / "evaluation", model_name=arm
        ),
    )
    predictions = list(JsonlStore(predictions_path))
    return ArmRun(
        arm,
        config.seed,
        directory,
        builds,
        sft_log,
        grpo_log,
        report,
        arm_metrics(report, predictions),
        split_by_dominant(report, predictions),
        timer.seconds,
    )


def predict_heldout(model_dir: Path, corpus: SyntheticCorpus, config: BenchmarkConfig, path: Path) -> Path:
    """Predictions JSONL (``id``, ``label``, ``dominant``, ``completion``) of greedy decoding on the held-out clips."""
    truth = corpus.ground_truth()
    records = read_dfew(corpus.dfew_root, fold=config.fold, split="test")
    reasoner = EmotionReasoner.from_pretrained(model_dir, label_set="dfew", max_new_tokens=config.max_completion_length)
    results = reasoner([record.video for record in records], batch_size=config.eval_batch_size)
    lines = [
        json.dumps({"id": r.id, "label": r.label, "dominant": truth[r.id]["dominant"], "completion": result.raw_text})
        for r, result in zip(records, results)
    ]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return path


__all__ = [
    "ARM_REWARDS",
    "ArmRun",
    "BaseRun",
    "VISUAL_FIRST_RULE",
    "arm_metrics",
    "corpus_records",
    "mi_scores",
    "prepare_base",
    "reward_curves",
    "run_arm",
    "split_by_dominant",
]

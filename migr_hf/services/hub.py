"""Publishing to the Hugging Face Hub: the model card, filled from evaluation reports, and the pushes of a checkpoint
and of the demo Space.

Datasets are pushed by `migr_hf.data.builder.push_dataset_to_hub` (their card is written when they are built) and
the metric modules by `migr_hf.evaluation.push_metrics`; `migr-hf push model|dataset|metrics|space` drives all four.

The model card template (`model_cards/model_card_template.md`) and the Space (`spaces/migr-demo/`) live at the top of
the repository, like the metric modules: publishing runs from a source checkout, or pass `template_path` /
`space_dir`.

An evaluation report is the `report.json` of `examples/evaluate.py` (`migr_hf.evaluation.build_report`): fractions in
`table1` (`FCR`, `EEA`, `EPC`, `UAR`, `WAR`) and `table2` (`all`, `among_correct`), with `label_set`, `num_samples`,
and `judge` / `reasoning` naming what read the explanations. Each report gives one `EvalResult` per Table 1 metric,
in percent as in the paper. The card's Training section names the sentence classifier of the GRPO rewards, read from
the checkpoint's `training_args.json` (`TRAINING_ARGS_FILE`) by `migr-hf push model`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData
from transformers.utils import logging

logger = logging.get_logger(__name__)

TABLE1_METRICS = ("FCR", "EEA", "EPC", "UAR", "WAR")
CONSISTENCY_METRICS = ("FCR", "EEA", "EPC")
BENCHMARK_NAMES = {"dfew": "DFEW", "mafw": "MAFW", "emer": "EMER"}
TASK_TYPE = "video-classification"
TASK_NAME = "Multimodal emotion recognition"
MODEL_CARD_TEMPLATE = Path("model_cards") / "model_card_template.md"
# The training config as JSON, written beside `training_args.bin` by `MIGRGRPOTrainer` when it saves.
TRAINING_ARGS_FILE = "training_args.json"
DEMO_SPACE_DIR = Path("spaces") / "migr-demo"
MODEL_TAGS = ["migr", "migr-omni", "emotion-recognition", "multimodal", "video", "audio", "reasoning"]
SPACE_MODEL_VARIABLE = "MIGR_MODEL"
SPACE_LABEL_SET_VARIABLE = "MIGR_LABEL_SET"


def checkout_path(relative: str | os.PathLike) -> Path:
    """A path of the source checkout migr-hf runs from; `FileNotFoundError` when there is none."""
    path = Path(__file__).resolve().parents[2] / relative
    if not path.exists():
        raise FileNotFoundError(f"{relative} not found next to the package ({path}): run from a source checkout")
    return path


def build_wheel(output_dir: str | os.PathLike) -> Path:
    """Build a wheel of migr-hf from the source checkout into ``output_dir`` and return its path.

    Pushed Spaces install migr-hf from this wheel (the package is not on PyPI). The build is offline: it uses the
    running environment's setuptools (no build isolation).
    """
    root = checkout_path("setup.py").parent
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as build_dir:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", build_dir]
        result = subprocess.run([*command, str(root)], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"building the migr-hf wheel from {root} failed:\n{result.stderr.strip()}")
        (wheel,) = Path(build_dir).glob("migr_hf-*.whl")
        return Path(shutil.move(str(wheel), output_dir / wheel.name))


_MIGR_HF_REQUIREMENT = re.compile(r"^migr[-_]hf(?P<extras>\[[^\]]*\])?(?:\s*[<>=!~].*)?$", re.IGNORECASE)


def requirements_with_wheel(
    requirements: Sequence[str], wheel: str | os.PathLike, space_dir: str | os.PathLike
) -> list[str]:
    """Copy ``wheel`` to ``space_dir/wheels/`` and return ``requirements`` with each ``migr-hf[extras]`` line
    pointing to it (``./wheels/<wheel>[extras]``: the Space's pip runs in the Space folder)."""
    wheels = Path(space_dir) / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    name = Path(shutil.copy(wheel, wheels)).name
    lines = []
    for line in requirements:
        match = _MIGR_HF_REQUIREMENT.match(line.strip())
        lines.append(f"./wheels/{name}{match['extras'] or ''}" if match else line)
    if lines == list(requirements):
        raise ValueError(f"no migr-hf requirement to point to the wheel in {list(requirements)}")
    return lines


def load_report(report: Mapping[str, Any] | str | os.PathLike) -> dict[str, Any]:
    """An evaluation report (a dict, or the path of its JSON), checked for the fields the card needs."""
    if not isinstance(report, Mapping):
        report = json.loads(Path(report).read_text(encoding="utf-8"))
    missing = [key for key in ("label_set", "num_samples", "table1") if key not in report]
    missing += [f"table1.{key}" for key in TABLE1_METRICS if key not in report.get("table1", {})]
    if missing:
        raise ValueError(f"evaluation report lacks {missing} (expected the report.json of examples/evaluate.py)")
    return dict(report)


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def _format_percent(value: float | None) -> str:
    return "n/a" if value is None else f"{_percent(value):.2f}"


def eval_results_from_report(report: Mapping[str, Any] | str | os.PathLike, split: str = "test") -> list[EvalResult]:
    """One `EvalResult` per Table 1 metric of a report (values in %); consistency metrics name their judge."""
    report = load_report(report)
    label_set = report["label_set"]
    judge_args = {key: report[key] for key in ("judge", "reasoning") if report.get(key) is not None} or None
    return [
        EvalResult(
            task_type=TASK_TYPE,
            task_name=TASK_NAME,
            dataset_type=label_set,
            dataset_name=BENCHMARK_NAMES.get(label_set, label_set.upper()),
            dataset_split=split,
            metric_type=metric.lower(),
            metric_name=metric,
            metric_value=_percent(report["table1"][metric]),
            metric_args=judge_args if metric in CONSISTENCY_METRICS else None,
        )
        for metric in TABLE1_METRICS
    ]


def training_args_of(checkpoint_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The training config saved with a checkpoint (`TRAINING_ARGS_FILE`); `None` when the folder has none."""
    path = Path(checkpoint_dir) / TRAINING_ARGS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a JSON training config ({error})") from None


def render_model_card(
    reports: Sequence[Mapping[str, Any] | str | os.PathLike] = (),
    *,
    model_name: str,
    repo_id: str | None = None,
    description: str | None = None,
    base_model: str | None = None,
    datasets: Sequence[str] | None = None,
    license: str = "apache-2.0",
    template_path: str | os.PathLike | None = None,
    reward_classifier: str | None = None,
) -> ModelCard:
    """The model card: `model-index` results and a results table from evaluation reports (one per benchmark).

    Args:
        reports: Evaluation reports (dicts or JSON paths), at most one per benchmark (label set).
        model_name: Title of the card and name in `model-index`.
        repo_id: Hub id shown in the usage snippet (default: `model_name`).
        description: Opening paragraph.
        base_model / datasets: Hub ids for the card metadata.
        template_path: Jinja template (default: `model_cards/model_card_template.md` of the checkout).
        reward_classifier: The sentence classifier of the GRPO rewards, in words
            (`migr_hf.classifiers.describe_classifier_spec`); the card's Training section names it.
    """
    loaded = [load_report(report) for report in reports]
    benchmarks = [report["label_set"] for report in loaded]
    duplicates = sorted({name for name in benchmarks if benchmarks.count(name) > 1})
    if duplicates:
        raise ValueError(f"more than one report for {duplicates}: pass one report per benchmark")
    card_data = ModelCardData(
        model_name=model_name,
        language="en",
        license=license,
        library_name="transformers",
        pipeline_tag="video-text-to-text",
        base_model=base_model,
        datasets=list(datasets) if datasets else None,
        tags=MODEL_TAGS,
        eval_results=[result for report in loaded for result in eval_results_from_report(report)] or None,
    )
    results = [
        {
            "benchmark": BENCHMARK_NAMES.get(report["label_set"], report["label_set"].upper()),
            "num_samples": report["num_samples"],
            **{metric: _format_percent(report["table1"][metric]) for metric in TABLE1_METRICS},
            "inconsistent": _format_percent(report.get("table2", {}).get("among_correct")),
            "judge": report.get("judge", "unknown"),
            "reasoning": report.get("reasoning", "think"),
        }
        for report in loaded
    ]
    return ModelCard.from_template(
        card_data,
        template_path=str(template_path or checkout_path(MODEL_CARD_TEMPLATE)),
        model_name=model_name,
        repo_id=repo_id or model_name,
        description=description or f"{model_name} predicts the emotion of a video clip and explains it.",
        label_set=benchmarks[0] if benchmarks else "dfew",
        results=results,
        reward_classifier=reward_classifier,
    )


def push_model(
    checkpoint_dir: str | os.PathLike,
    repo_id: str,
    *,
    card: ModelCard | None = None,
    private: bool = False,
    api: HfApi | None = None,
) -> str:
    """Create the model repo (if needed), upload a `save_pretrained` folder and, when given, the card as README.md.

    Returns:
        The repo URL.
    """
    checkpoint_dir = Path(checkpoint_dir)
    if not (checkpoint_dir / "config.json").is_file():
        raise FileNotFoundError(f"{checkpoint_dir} is not a checkpoint folder (no config.json)")
    api = api or HfApi()
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(
        repo_id=repo_id,
        repo_type="model",
        folder_path=str(checkpoint_dir),
        ignore_patterns=["README.md"] if card is not None else None,
        commit_message="Upload MIGR-Omni checkpoint",
    )
    if card is not None:
        api.upload_file(
            path_or_fileobj=str(card).encode("utf-8"),
            path_in_repo="README.md",
            repo_id=repo_id,
            repo_type="model",
            commit_message="Add model card",
        )
    logger.info("pushed %s to %s", checkpoint_dir, url)
    return str(url)


def push_space(
    repo_id: str,
    *,
    space_dir: str | os.PathLike | None = None,
    model: str | None = None,
    label_set: str | None = None,
    private: bool = False,
    api: HfApi | None = None,
) -> str:
    """Create the Gradio Space (if needed), upload the demo folder and set its `MIGR_MODEL` / `MIGR_LABEL_SET`.

    The upload carries a wheel of migr-hf built from this checkout, which the Space's `requirements.txt` installs.

    Args:
        space_dir: The Space folder (default: `spaces/migr-demo` of the checkout).
        model: Hub id of the model the Space serves (left unchanged when `None`).
        label_set: Label set the Space normalises answers to (left unchanged when `None`).

    Returns:
        The Space URL.
    """
    space_dir = Path(space_dir) if space_dir is not None else checkout_path(DEMO_SPACE_DIR)
    if not (space_dir / "app.py").is_file():
        raise FileNotFoundError(f"{space_dir} has no app.py")
    api = api or HfApi()
    url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging, tempfile.TemporaryDirectory() as wheel_dir:
        shutil.copytree(space_dir, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        requirements = Path(staging) / "requirements.txt"
        lines = requirements.read_text(encoding="utf-8").splitlines() if requirements.is_file() else ["migr-hf[demo]"]
        lines = requirements_with_wheel(lines, build_wheel(wheel_dir), staging)
        requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
        api.upload_folder(
            repo_id=repo_id, repo_type="space", folder_path=staging, commit_message="Upload the MIGR demo"
        )
    for key, value in ((SPACE_MODEL_VARIABLE, model), (SPACE_LABEL_SET_VARIABLE, label_set)):
        if value is not None:
            api.add_space_variable(repo_id, key, value)
    logger.info("pushed %s to %s", space_dir, url)
    return str(url)


__all__ = [
    "build_wheel",
    "checkout_path",
    "eval_results_from_report",
    "load_report",
    "push_model",
    "push_space",
    "render_model_card",
    "requirements_with_wheel",
]

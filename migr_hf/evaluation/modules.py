"""The ``evaluate`` modules of the MIGR metrics: find them offline, load them, push them to the Hub as Spaces.

The modules live in the repository's ``metrics/<name>/<name>.py`` (thin ``evaluate.Metric`` wrappers over
:mod:`migr_hf.evaluation.metrics`). :func:`resolve_metric` returns the local folder when one is found
(``$MIGR_METRICS_DIR``, then the source checkout), else the Hub id ``migr/<name>``, which ``evaluate.load``
fetches once :func:`push_metrics` has published it. What the five modules share (citation, ``label_set``
argument, :func:`metric_info`) is defined here, since each module is loaded as a standalone file.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import HfApi

from ..services.hub import build_wheel, requirements_with_wheel

if TYPE_CHECKING:
    import evaluate

logger = logging.getLogger(__name__)

METRIC_NAMES = ("uar", "war", "eea", "epc", "fcr")
HUB_NAMESPACE = "migr"
ENV_METRICS_DIR = "MIGR_METRICS_DIR"
# What a metric Space installs to run its module (the module imports migr_hf); the migr-hf line is pointed to a
# wheel built and uploaded with the Space (see `migr_hf.services.hub.requirements_with_wheel`).
SPACE_REQUIREMENTS = ("evaluate>=0.4.6", "migr-hf")
SPACE_APP = """import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("{repo_id}")
launch_gradio_widget(module)
"""
_TRUE = {"1", "on", "yes", "true"}
MIGR_CITATION = """\
@article{rha_migr,
  title  = {Learning What to Attend First: Modality-Importance-Guided Reasoning for Reliable
            Multimodal Emotion Understanding},
  author = {Rha, Hyeongseop and Yeo, Jeong Hun and Won, Junil and Park, Se Jin and Ro, Yong Man},
}
"""
# The ``label_set`` entry of each module's "Args:" section, indented to stand there as it is.
LABEL_SET_ARGUMENT = """\
    label_set (`str`, optional): `"dfew"`, `"mafw"` or `"emer"`. When given, words are normalised with the
        benchmark's synonyms (e.g. DFEW `"sadness"` -> `"sad"`), an answer outside the label set counts as wrong
        and a reference outside it raises `ValueError`. Without it, words are compared as given.
"""


def metric_info(description: str, inputs_description: str, with_explanations: bool) -> evaluate.MetricInfo:
    """``MetricInfo`` of a MIGR module: string ``predictions`` and ``references`` (and ``explanations``)."""
    import datasets
    import evaluate

    columns = ("predictions", "references", "explanations") if with_explanations else ("predictions", "references")
    return evaluate.MetricInfo(
        description=description,
        citation=MIGR_CITATION,
        inputs_description=inputs_description,
        features=datasets.Features({column: datasets.Value("string") for column in columns}),
    )


def metrics_dir() -> Path | None:
    """Folder holding ``<name>/<name>.py``: ``$MIGR_METRICS_DIR``, else ``metrics/`` of the source checkout."""
    if os.environ.get(ENV_METRICS_DIR):
        return Path(os.environ[ENV_METRICS_DIR]).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "metrics"
    return checkout if checkout.is_dir() else None


def _offline() -> bool:
    return any(os.environ.get(var, "").lower() in _TRUE for var in ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE"))


def resolve_metric(name: str, *, namespace: str = HUB_NAMESPACE, local_dir: str | Path | None = None) -> str:
    """What to pass to ``evaluate.load`` for a MIGR metric: the local module folder, else ``"<namespace>/<name>"``.

    Args:
        name: ``"uar"``, ``"war"``, ``"eea"``, ``"epc"`` or ``"fcr"``, optionally as ``"migr/<name>"``.
        namespace: Hub namespace of the Spaces.
        local_dir: Folder of the modules; see :func:`metrics_dir` when ``None``.

    Raises:
        KeyError: for an unknown metric name.
        FileNotFoundError: offline (``HF_HUB_OFFLINE``/``HF_EVALUATE_OFFLINE``) with no local module.
    """
    short = name.rsplit("/", 1)[-1].lower()
    if short not in METRIC_NAMES:
        raise KeyError(f"unknown MIGR metric {name!r}; known: {', '.join(METRIC_NAMES)}")
    folder = Path(local_dir) if local_dir is not None else metrics_dir()
    if folder is not None and (folder / short / f"{short}.py").is_file():
        return str(folder / short)
    if _offline():
        raise FileNotFoundError(
            f"no local module for metric {short!r} (looked in {folder}) and the Hub is offline: "
            f"set {ENV_METRICS_DIR} to the repository's metrics/ folder"
        )
    return f"{namespace}/{short}"


def load_metric(name: str, **kwargs: Any) -> Any:
    """``evaluate.load(resolve_metric(name), **kwargs)``."""
    import evaluate

    return evaluate.load(resolve_metric(name), **kwargs)


def push_metrics(
    names: Sequence[str] = METRIC_NAMES,
    *,
    namespace: str = HUB_NAMESPACE,
    token: str | None = None,
    private: bool = False,
    local_dir: str | Path | None = None,
    requirements: Sequence[str] = SPACE_REQUIREMENTS,
    api: HfApi | None = None,
) -> list[str]:
    """Publish each metric module as a Gradio Space ``<namespace>/<name>`` (module, card, ``app.py``, requirements
    and a wheel of migr-hf built from this checkout, which the requirements install).

    Returns:
        The Space repo ids, in ``names`` order.
    """
    folder = Path(local_dir) if local_dir is not None else metrics_dir()
    if folder is None:
        raise FileNotFoundError(f"no metrics folder: pass local_dir or set {ENV_METRICS_DIR}")
    api = api or HfApi(token=token)
    sources = {}
    for name in names:
        if name not in METRIC_NAMES:
            raise KeyError(f"unknown MIGR metric {name!r}; known: {', '.join(METRIC_NAMES)}")
        sources[name] = [folder / name / f"{name}.py", folder / name / "README.md"]
        for path in sources[name]:
            if not path.is_file():
                raise FileNotFoundError(f"metric {name!r} lacks {path}")
    repo_ids = []
    with tempfile.TemporaryDirectory() as wheel_dir:
        wheel = build_wheel(wheel_dir)
        for name, files in sources.items():
            repo_ids.append(_push_metric_space(api, name, files, wheel, namespace, private, requirements))
    return repo_ids


def _push_metric_space(
    api: HfApi, name: str, files: Sequence[Path], wheel: Path, namespace: str, private: bool, requirements: Sequence[str]
) -> str:
    """Create and upload the Space ``<namespace>/<name>`` of one metric; returns its repo id."""
    repo_id = f"{namespace}/{name}"
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        for path in files:
            shutil.copy(path, staging)
        Path(staging, "app.py").write_text(SPACE_APP.format(repo_id=repo_id), encoding="utf-8")
        lines = requirements_with_wheel(requirements, wheel, staging)
        Path(staging, "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        api.upload_folder(
            repo_id=repo_id,
            repo_type="space",
            folder_path=staging,
            commit_message=f"Upload the {name} metric from migr-hf",
        )
    logger.info("pushed metric %s to the Space %s", name, repo_id)
    return repo_id

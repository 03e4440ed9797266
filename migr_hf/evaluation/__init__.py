"""Evaluation: recognition and consistency metrics, the paper's report tables, and the ``evaluate`` modules."""

from .metrics import (
    ConfusionMatrix,
    confusion_matrix,
    eea,
    epc,
    fcr,
    per_class_recall,
    reasoning_answer_inconsistency,
    uar,
    war,
)
from .modules import METRIC_NAMES, load_metric, metrics_dir, push_metrics, resolve_metric
from .report import (
    DEFAULT_REASONING_SEGMENTS,
    REASONING_CHOICES,
    ScoredSample,
    build_report,
    consistency,
    evaluate_predictions,
    plot_confusion_matrix,
    read_predictions,
    render_markdown,
    score_predictions,
)

__all__ = [
    "DEFAULT_REASONING_SEGMENTS",
    "REASONING_CHOICES",
    "METRIC_NAMES",
    "ConfusionMatrix",
    "ScoredSample",
    "build_report",
    "consistency",
    "confusion_matrix",
    "eea",
    "epc",
    "evaluate_predictions",
    "fcr",
    "load_metric",
    "metrics_dir",
    "per_class_recall",
    "plot_confusion_matrix",
    "push_metrics",
    "read_predictions",
    "reasoning_answer_inconsistency",
    "render_markdown",
    "resolve_metric",
    "score_predictions",
    "uar",
    "war",
]

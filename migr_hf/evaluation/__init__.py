"""Evaluation: recognition and consistency metrics, the paper's report tables, and the ``evaluate`` modules.

The names below load from their modules on first access (PEP 562).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "ConfusionMatrix": ".metrics",
    "confusion_matrix": ".metrics",
    "eea": ".metrics",
    "epc": ".metrics",
    "fcr": ".metrics",
    "per_class_recall": ".metrics",
    "reasoning_answer_inconsistency": ".metrics",
    "uar": ".metrics",
    "war": ".metrics",
    "METRIC_NAMES": ".modules",
    "load_metric": ".modules",
    "metrics_dir": ".modules",
    "push_metrics": ".modules",
    "resolve_metric": ".modules",
    "DEFAULT_REASONING_SEGMENTS": ".report",
    "REASONING_CHOICES": ".report",
    "ScoredSample": ".report",
    "build_report": ".report",
    "consistency": ".report",
    "evaluate_predictions": ".report",
    "plot_confusion_matrix": ".report",
    "read_predictions": ".report",
    "render_markdown": ".report",
    "score_predictions": ".report",
}
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)

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

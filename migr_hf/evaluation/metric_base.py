"""`MIGRMetric`, the ``evaluate.Metric`` base of the five MIGR modules (``metrics/<name>/<name>.py``).

A module subclasses ``metric_base.MIGRMetric`` without importing the class itself: ``evaluate.load`` takes the
first metric class it finds in the module's namespace.

``evaluate`` checks that the first value of each column has the declared type (a string), so a ``None``
prediction or explanation (no parsable answer, judge failure) in first place would be refused while the same
``None`` later passes. The MIGR metrics count ``None`` as wrong wherever it is, as the paper does: this base
carries it through ``evaluate``'s string columns as ``""`` (never a label word) and turns it back into ``None``
before scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import evaluate

MISSING = ""  # a None value on its way through evaluate's string columns
COLUMNS = ("predictions", "references", "explanations")


def _encode(values: Any) -> Any:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        return values
    return [MISSING if value is None else value for value in values]


def _decode(values: Sequence[str] | None) -> list[str | None] | None:
    return None if values is None else [None if value == MISSING else value for value in values]


class MIGRMetric(evaluate.Metric):
    """Takes ``None`` anywhere in ``predictions`` / ``explanations`` (``compute`` and ``add_batch``); subclasses
    implement :meth:`score` on the decoded columns."""

    def add_batch(self, **kwargs: Any) -> None:
        """Add a batch of predictions and references (and explanations); ``None`` allowed anywhere."""
        super().add_batch(**{key: _encode(value) if key in COLUMNS else value for key, value in kwargs.items()})

    def compute(self, **kwargs: Any) -> dict[str, Any] | None:
        """Compute the metric over the given columns and those added; ``None`` allowed anywhere."""
        return super().compute(**{key: _encode(value) if key in COLUMNS else value for key, value in kwargs.items()})

    def _compute(self, predictions, references, explanations=None, label_set=None) -> dict[str, float]:
        return self.score(_decode(predictions), _decode(references), _decode(explanations), label_set)

    def score(
        self,
        predictions: list[str | None],
        references: list[str | None],
        explanations: list[str | None] | None,
        label_set: str | None,
    ) -> dict[str, float]:
        """The metric on decoded columns (``None`` for a missing value)."""
        raise NotImplementedError

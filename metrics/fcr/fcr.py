"""FCR (faithful consistency rate), MIGR paper appendix 7.2 eq. 8, as an ``evaluate`` metric.

A thin wrapper over ``migr_hf.evaluation.fcr``; the logic and its tests live in migr-hf.
"""

import evaluate

from migr_hf.evaluation import fcr
from migr_hf.evaluation import metric_base
from migr_hf.evaluation.modules import LABEL_SET_ARGUMENT, metric_info

_DESCRIPTION = """\
FCR, the faithful consistency rate: the share of samples whose answer is right and whose reasoning expresses
that same emotion. Formula (eq. 8: FCR = (1/S) * sum_i 1[e_i = y_i and ŷ_i = y_i]).
"""

_KWARGS_DESCRIPTION = (
    """
Args:
    predictions (`list` of `str`): the model's answer label word per sample (`None` when it gave no answer;
        `None` is accepted anywhere and counts as wrong).
    references (`list` of `str`): the ground-truth label word per sample.
    explanations (`list` of `str`): the emotion the judge read from each sample's reasoning
        (`None` when there was no reasoning or the judge failed).
"""
    + LABEL_SET_ARGUMENT
    + """
Returns:
    fcr (`float`): in [0, 1]. 1.0 means every answer is right and explained by a reasoning with the same emotion.

Examples:
    >>> metric = evaluate.load("metrics/fcr")  # from a checkout; "migr/fcr" once published
    >>> metric.compute(
    ...     predictions=["happy", "sad", "sad"],
    ...     references=["happy", "sad", "happy"],
    ...     explanations=["happy", "fear", "happy"],
    ... )
    {'fcr': 0.3333333333333333}
"""
)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class FCR(metric_base.MIGRMetric):
    def _info(self):
        return metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION, with_explanations=True)

    def score(self, predictions, references, explanations, label_set):
        return {"fcr": float(fcr(explanations, predictions, references, label_set))}

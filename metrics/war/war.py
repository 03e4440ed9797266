"""WAR (weighted average recall), MIGR paper appendix 7.2 eq. 4, as an ``evaluate`` metric.

A thin wrapper over ``migr_hf.evaluation.war``; the logic and its tests live in migr-hf.
"""

import evaluate

from migr_hf.evaluation import war
from migr_hf.evaluation import metric_base
from migr_hf.evaluation.modules import LABEL_SET_ARGUMENT, metric_info

_DESCRIPTION = """\
WAR, the weighted average recall: the per-class recalls weighted by class frequency, i.e. plain accuracy.
Formula (eq. 4: WAR = sum_i TP_i / sum_i N_i).
"""

_KWARGS_DESCRIPTION = (
    """
Args:
    predictions (`list` of `str`): the model's answer label word per sample (`None` when it gave no answer;
        `None` is accepted anywhere and counts as wrong).
    references (`list` of `str`): the ground-truth label word per sample.
"""
    + LABEL_SET_ARGUMENT
    + """
Returns:
    war (`float`): in [0, 1]. 1.0 means every answer is right.

Examples:
    >>> metric = evaluate.load("metrics/war")  # from a checkout; "migr/war" once published
    >>> metric.compute(
    ...     predictions=["happy", "sad", "sad", None],
    ...     references=["happy", "sad", "happy", "sad"],
    ... )
    {'war': 0.5}
"""
)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WAR(metric_base.MIGRMetric):
    def _info(self):
        return metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION, with_explanations=False)

    def score(self, predictions, references, explanations, label_set):
        return {"war": float(war(predictions, references, label_set))}

"""UAR (unweighted average recall), MIGR paper appendix 7.2 eq. 5, as an ``evaluate`` metric.

A thin wrapper over ``migr_hf.evaluation.uar``; the logic and its tests live in migr-hf.
"""

import evaluate

from migr_hf.evaluation import uar
from migr_hf.evaluation import metric_base
from migr_hf.evaluation.modules import LABEL_SET_ARGUMENT, metric_info

_DESCRIPTION = """\
UAR, the unweighted average recall: the mean of the per-class recalls, over the classes that occur in the
ground truth. Every class weighs the same, whatever its frequency. Formula (eq. 5: UAR = (1/C) * sum_i TP_i /
N_i).
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
    uar (`float`): in [0, 1]. 1.0 means every class is fully recalled; chance level is about 1/C.

Examples:
    >>> metric = evaluate.load("metrics/uar")  # from a checkout; "migr/uar" once published
    >>> metric.compute(
    ...     predictions=["happy", "sad", "sad", None],
    ...     references=["happy", "sad", "happy", "sad"],
    ... )
    {'uar': 0.5}
"""
)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UAR(metric_base.MIGRMetric):
    def _info(self):
        return metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION, with_explanations=False)

    def score(self, predictions, references, explanations, label_set):
        return {"uar": float(uar(predictions, references, label_set))}

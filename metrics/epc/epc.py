"""EPC (explanation-prediction consistency), MIGR paper appendix 7.2 eq. 7, as an ``evaluate`` metric.

A thin wrapper over ``migr_hf.evaluation.epc``; the logic and its tests live in migr-hf.
"""

import evaluate

from migr_hf.evaluation import epc
from migr_hf.evaluation import metric_base
from migr_hf.evaluation.modules import LABEL_SET_ARGUMENT, metric_info

_DESCRIPTION = """\
EPC, the explanation-prediction consistency: the share of samples whose reasoning expresses the emotion the
model answered. Formula (eq. 7: EPC = (1/S) * sum_i 1[e_i = ŷ_i]).
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
    epc (`float`): in [0, 1]. 1.0 means every reasoning agrees with its answer, right or wrong.

Examples:
    >>> metric = evaluate.load("metrics/epc")  # from a checkout; "migr/epc" once published
    >>> metric.compute(
    ...     predictions=["happy", "sad", "sad"],
    ...     references=["happy", "sad", "happy"],
    ...     explanations=["happy", "fear", "happy"],
    ... )
    {'epc': 0.3333333333333333}
"""
)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class EPC(metric_base.MIGRMetric):
    def _info(self):
        return metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION, with_explanations=True)

    def score(self, predictions, references, explanations, label_set):
        return {"epc": float(epc(explanations, predictions, label_set))}

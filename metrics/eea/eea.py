"""EEA (explanation emotion accuracy), MIGR paper appendix 7.2 eq. 6, as an ``evaluate`` metric.

A thin wrapper over ``migr_hf.evaluation.eea``; the logic and its tests live in migr-hf.
"""

import evaluate

from migr_hf.evaluation import eea
from migr_hf.evaluation import metric_base
from migr_hf.evaluation.modules import LABEL_SET_ARGUMENT, metric_info

_DESCRIPTION = """\
EEA, the explanation emotion accuracy: the share of samples whose reasoning expresses the ground-truth
emotion, as read by a judge (ERV and the paper use gpt-4.1-mini; see migr_hf.classifiers.LLMJudgeClassifier).
Formula (eq. 6: EEA = (1/S) * sum_i 1[e_i = y_i]).
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
    eea (`float`): in [0, 1]. 1.0 means every reasoning expresses the ground-truth emotion.

Examples:
    >>> metric = evaluate.load("metrics/eea")  # from a checkout; "migr/eea" once published
    >>> metric.compute(
    ...     predictions=["happy", "sad", "sad"],
    ...     references=["happy", "sad", "happy"],
    ...     explanations=["happy", "fear", "happy"],
    ... )
    {'eea': 0.6666666666666666}
"""
)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class EEA(metric_base.MIGRMetric):
    def _info(self):
        return metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION, with_explanations=True)

    def score(self, predictions, references, explanations, label_set):
        return {"eea": float(eea(explanations, references, label_set))}

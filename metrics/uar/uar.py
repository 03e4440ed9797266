"""UAR (unweighted average recall), MIGR paper appendix 7.2 eq. 5, as an ``evaluate`` metric.

A thin wrapper over ``migr_hf.evaluation.uar``; the logic and its tests live in migr-hf.
"""

import datasets
import evaluate

from migr_hf.evaluation import uar

_DESCRIPTION = """\
UAR, the unweighted average recall: the mean of the per-class recalls, over the classes that occur in the
ground truth. Every class weighs the same, whatever its frequency. Formula (eq. 5: UAR = (1/C) * sum_i TP_i /
N_i).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the model's answer label word per sample (`None` when it gave no answer).
    references (`list` of `str`): the ground-truth label word per sample.
    label_set (`str`, optional): `"dfew"`, `"mafw"` or `"emer"`. When given, words are normalised with the
        benchmark's synonyms (e.g. DFEW `"sadness"` -> `"sad"`), an answer outside the label set counts as wrong
        and a reference outside it raises `ValueError`. Without it, words are compared as given.

Returns:
    uar (`float`): in [0, 1]. 1.0 means every class is fully recalled; chance level is about 1/C.

Examples:
    >>> metric = evaluate.load("migr/uar")
    >>> metric.compute(
    ...     predictions=["happy", "sad", "sad", None],
    ...     references=["happy", "sad", "happy", "sad"],
    ... )
    {'uar': 0.5}
"""

_CITATION = """\
@article{rha_migr,
  title  = {Learning What to Attend First: Modality-Importance-Guided Reasoning for Reliable
            Multimodal Emotion Understanding},
  author = {Rha, Hyeongseop and Yeo, Jeong Hun and Won, Junil and Park, Se Jin and Ro, Yong Man},
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UAR(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Value("string"),
                }
            ),
        )

    def _compute(self, predictions, references, label_set=None):
        return {"uar": float(uar(predictions, references, label_set))}

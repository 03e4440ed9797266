"""FCR (faithful consistency rate), MIGR paper appendix 7.2 eq. 8, as an ``evaluate`` metric.

A thin wrapper over ``migr_hf.evaluation.fcr``; the logic and its tests live in migr-hf.
"""

import datasets
import evaluate

from migr_hf.evaluation import fcr

_DESCRIPTION = """\
FCR, the faithful consistency rate: the share of samples whose answer is right and whose reasoning expresses
that same emotion. Formula (eq. 8: FCR = (1/S) * sum_i 1[e_i = y_i and ŷ_i = y_i]).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the model's answer label word per sample (`None` when it gave no answer).
    references (`list` of `str`): the ground-truth label word per sample.
    explanations (`list` of `str`): the emotion the judge read from each sample's reasoning
        (`None` when there was no reasoning or the judge failed).
    label_set (`str`, optional): `"dfew"`, `"mafw"` or `"emer"`. When given, words are normalised with the
        benchmark's synonyms (e.g. DFEW `"sadness"` -> `"sad"`), an answer outside the label set counts as wrong
        and a reference outside it raises `ValueError`. Without it, words are compared as given.

Returns:
    fcr (`float`): in [0, 1]. 1.0 means every answer is right and explained by a reasoning with the same emotion.

Examples:
    >>> metric = evaluate.load("migr/fcr")
    >>> metric.compute(
    ...     predictions=["happy", "sad", "sad"],
    ...     references=["happy", "sad", "happy"],
    ...     explanations=["happy", "fear", "happy"],
    ... )
    {'fcr': 0.3333333333333333}
"""

_CITATION = """\
@article{rha_migr,
  title  = {Learning What to Attend First: Modality-Importance-Guided Reasoning for Reliable
            Multimodal Emotion Understanding},
  author = {Rha, Hyeongseop and Yeo, Jeong Hun and Won, Junil and Park, Se Jin and Ro, Yong Man},
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class FCR(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Value("string"),
                    "explanations": datasets.Value("string"),
                }
            ),
        )

    def _compute(self, predictions, references, explanations, label_set=None):
        return {"fcr": float(fcr(explanations, predictions, references, label_set))}

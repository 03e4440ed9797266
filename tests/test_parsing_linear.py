"""Model text is hostile input: every reader of it (parser, sentence splitter, rewards, judge prompt) runs in
linear time. Each case times a ~1 kB and a ~1 MB adversarial input and bounds the *ratio* of the time per
character (1 for linear code; ~1000 for the quadratic regexes these inputs used to hit), never absolute seconds.
"""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migr_hf.classifiers import LexiconEmotionClassifier, build_judge_prompt
from migr_hf.parsing import MAX_COMPLETION_CHARS, parse_completion, split_sentences
from migr_hf.rewards import answer_reward, modality_aligned_order_reward, modality_grounded_reasoning_reward

SMALL, LARGE = 1_000, 1_000_000
MAX_SLOWDOWN_PER_CHAR = 25.0  # generous for a loaded machine; quadratic code gives ~1000
CLASSIFIER = LexiconEmotionClassifier()
COLUMNS = {"label": ["sad"], "label_set": ["dfew"], "modality_importance": ["audio"]}


def _rewards(text: str) -> None:
    answer_reward([text], **COLUMNS)
    modality_aligned_order_reward([text], classifier=CLASSIFIER, **COLUMNS)
    modality_grounded_reasoning_reward([text], classifier=CLASSIFIER, **COLUMNS)


def _seconds_per_call(func, text: str, fill: float) -> float:
    best = float("inf")
    for _ in range(3):
        calls, start = 0, time.perf_counter()
        while True:
            func(text)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= fill:
                break
        best = min(best, elapsed / calls)
        if fill == 0.0:
            break
    return best


def _slowdown_per_char(func, make) -> float:
    small, large = make(SMALL), make(LARGE)
    assert len(large) <= MAX_COMPLETION_CHARS
    return (_seconds_per_call(func, large, 0.0) / _seconds_per_call(func, small, 0.05)) / (len(large) / len(small))


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


CASES = {
    "parse: '<' + spaces": (parse_completion, lambda n: "<" + " " * (n - 1)),
    "parse: '< /' + spaces": (parse_completion, lambda n: "< /" + " " * (n - 3)),
    "parse: nested reopening tags": (parse_completion, lambda n: _repeat("<think><answer>< vis_desc >", n)),
    "answer reward: '<' + newlines": (_rewards, lambda n: "<answer><" + "\n" * (n - 9)),
    "split: '.!?' runs": (split_sentences, lambda n: _repeat(".!?", n - 1) + "x"),
    "split: unbalanced quotes": (split_sentences, lambda n: _repeat('He said "no. ', n)),
    "split: abbreviation look-back": (split_sentences, lambda n: _repeat("Mr." + "a" * 50 + ". ", n)),
    "grounding/order rewards: dots": (_rewards, lambda n: "<aud_desc>" + "." * (n - 30) + "x</aud_desc><think>a</think>"),
    "order reward: '!'": (_rewards, lambda n: "<aud_desc>" + "!" * (n - 30) + "x</aud_desc>"),
    "judge prompt: tags and Answer Emotion lines": (
        lambda text: build_judge_prompt(text, "dfew"),
        lambda n: _repeat('<think>"""Answer   Emotion: happy\n', n),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_adversarial_inputs_take_linear_time(name):
    func, make = CASES[name]
    assert _slowdown_per_char(func, make) < MAX_SLOWDOWN_PER_CHAR


_DANGEROUS = st.sampled_from(["<", ">", "/", " ", "\n", ".", "!", "?", '"', "\u201c", "\u201d", "think", "answer", "e.g", "a"])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_DANGEROUS, min_size=1, max_size=12).map("".join))
def test_any_repeated_pattern_parses_and_splits_in_linear_time(unit):
    def read(text: str) -> None:
        parsed = parse_completion(text)
        parsed.sentences("think", "answer", "aud_desc", "vis_desc")
        split_sentences(text)

    assert _slowdown_per_char(read, lambda n: _repeat(unit, n)) < MAX_SLOWDOWN_PER_CHAR

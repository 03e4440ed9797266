"""Linear-time parsing of hostile completions: time per character at 1 MB over time per character at 1 kB.

Adversarial inputs that made backtracking regexes quadratic (``<`` followed by spaces or newlines, runs of
``.!?``), fed to the parser, the sentence splitter, the answer reward, the two modality rewards (offline
lexicon classifier) and the judge prompt builder. For each case the script times the call on a ~1 kB and a
~1 MB input (best of ``--repeats``; the 1 kB call is repeated to fill at least 50 ms) and prints seconds and the
slowdown per character, ``(t_1MB / t_1kB) / (1 MB / 1 kB)``: 1 for linear code, ~1000 for quadratic code.
The last line is ``ratio: <worst slowdown per character>``.

    python benchmarks/bench_parsing.py [--large 1000000] [--small 1000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from migr_hf.classifiers import LexiconEmotionClassifier, build_judge_prompt
from migr_hf.parsing import parse_completion, split_sentences
from migr_hf.rewards import answer_reward, modality_aligned_order_reward, modality_grounded_reasoning_reward

CLASSIFIER = LexiconEmotionClassifier()


def _rewards(text: str) -> None:
    columns = {"label": ["sad"], "label_set": ["dfew"], "modality_importance": ["audio"]}
    answer_reward([text], **columns)
    modality_aligned_order_reward([text], classifier=CLASSIFIER, **columns)
    modality_grounded_reasoning_reward([text], classifier=CLASSIFIER, **columns)


# name -> (input of n characters, function under test)
CASES: dict[str, tuple[Callable[[int], str], Callable[[str], object]]] = {
    "parse_completion('<' + spaces)": (lambda n: "<" + " " * (n - 1), parse_completion),
    "parse_completion('< /' + spaces)": (lambda n: "< /" + " " * (n - 3), parse_completion),
    "answer_reward('<answer>' + '<' + newlines)": (lambda n: "<answer><" + "\n" * (n - 9), lambda t: _rewards(t)),
    "split_sentences('.!?' run + 'x')": (lambda n: ".!?" * (n // 3) + "x", split_sentences),
    "split_sentences('!' * n + 'x')": (lambda n: "!" * (n - 1) + "x", split_sentences),
    "grounding reward (dots)": (lambda n: "<aud_desc>" + "." * n + "x</aud_desc><think>a</think>", _rewards),
    "order reward ('!')": (lambda n: "<aud_desc>" + "!" * n + "x</aud_desc>", _rewards),
    "split_sentences(unbalanced quotes)": (lambda n: ('He said "no. ' * (n // 13 + 1))[:n], split_sentences),
    "judge prompt (tags, Answer Emotion lines)": (
        lambda n: ("<think>Answer Emotion: happy\n" * (n // 29 + 1))[:n],
        lambda t: build_judge_prompt(t, "dfew"),
    ),
}


def seconds(func: Callable[[str], object], text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            func(text)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed > 0.05:
                break
        best = min(best, elapsed / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000, help="characters of the small input")
    parser.add_argument("--large", type=int, default=1_000_000, help="characters of the large input")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    worst = 0.0
    for name, (make, func) in CASES.items():
        small = seconds(func, make(args.small), args.repeats)
        large = seconds(func, make(args.large), 1)
        slowdown = (large / small) / (args.large / args.small)
        worst = max(worst, slowdown)
        print(f"{name:45s} {args.small:>9,} chars {small * 1e3:9.3f} ms   {args.large:>9,} chars "
              f"{large:8.3f} s   slowdown per char {slowdown:6.2f}")  # fmt: skip
    print(f"ratio: {worst:.2f}")


if __name__ == "__main__":
    main()

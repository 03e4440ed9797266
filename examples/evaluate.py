"""Evaluate a predictions file the way the MIGR paper does: Table 1 (FCR, EEA, EPC, UAR, WAR), Table 2 (R×/A✓)
and Table 3 (per-emotion recall), as markdown and JSON, plus a confusion-matrix plot.

Input: JSONL with one ``{"id", "label", "completion"}`` per line (``label`` is the ground-truth word). Each
completion's ``<answer>`` is scored against the label and its reasoning (``<think>`` by default, as ERV does)
goes to the judge, which names the emotion it expresses.

    # the paper's judge (gpt-4.1-mini, or $MIGR_LLM_MODEL; OPENAI_API_KEY, optionally OPENAI_BASE_URL for a
    # compatible server)
    python examples/evaluate.py --predictions preds.jsonl --label-set dfew --judge llm
    # no network: the offline lexicon reads the reasoning instead (not comparable to the paper's numbers)
    python examples/evaluate.py --predictions preds.jsonl --label-set dfew --judge offline

Outputs in ``--output-dir`` (default ``<predictions stem>_eval`` beside the file): ``report.md``,
``report.json`` (numbers as fractions, counts, skipped lines, per-sample results), ``confusion_matrix.png``.
Judge replies are cached on disk (``MIGR_LLM_CACHE``, see `migr_hf.services.llm`): a rerun pays nothing again.
"""

import sys

from migr_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))

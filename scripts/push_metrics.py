"""Publish the MIGR metrics (uar, war, eea, epc, fcr) as Hugging Face Spaces, so that anyone can
``evaluate.load("migr/<name>")``.

    huggingface-cli login   # or HF_TOKEN=...
    python scripts/push_metrics.py --namespace migr
"""

from __future__ import annotations

import argparse
import logging

from migr_hf.evaluation import METRIC_NAMES, push_metrics
from migr_hf.evaluation.modules import HUB_NAMESPACE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--namespace", default=HUB_NAMESPACE, help="Hub user or organisation (default: %(default)s)")
    parser.add_argument("--names", nargs="+", choices=METRIC_NAMES, default=list(METRIC_NAMES), help="metrics to push")
    parser.add_argument("--private", action="store_true", help="create private Spaces")
    parser.add_argument("--token", help="Hub token (default: the logged-in one or HF_TOKEN)")
    args = parser.parse_args()
    for repo_id in push_metrics(args.names, namespace=args.namespace, token=args.token, private=args.private):
        print(f"https://huggingface.co/spaces/{repo_id}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main()

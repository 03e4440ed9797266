"""Publish the MIGR metrics (uar, war, eea, epc, fcr) as Hugging Face Spaces ``<namespace>/<name>``, after which
``evaluate.load("<namespace>/<name>")`` resolves anywhere. The same as ``migr-hf push metrics``:

    hf auth login   # or HF_TOKEN=...
    python scripts/push_metrics.py --namespace migr [--names uar war] [--private]
"""

import sys

from migr_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["push", "metrics", *sys.argv[1:]]))

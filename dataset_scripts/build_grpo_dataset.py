"""Build the MIGR GRPO dataset (DFEW/MAFW training clips with their Modality Importance label).

Example::

    python dataset_scripts/build_grpo_dataset.py --output-dir migr_hf_outputs/grpo \
        --dfew-root DFEW --mafw-root MAFW --model migr_hf_outputs/sft-model --mi-method loglik

Rerunning with the same ``--output-dir`` resumes; see `migr_hf.data.builder.build_dataset`.
The same command is ``migr-hf build-data grpo``.
"""

import argparse
import logging

from migr_hf.commands.build_data import add_grpo_arguments, run_grpo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_grpo_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run_grpo(args)


if __name__ == "__main__":
    main()

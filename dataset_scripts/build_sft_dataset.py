"""Build the MIGR modality-aligned SFT dataset (EMER + FAU-filtered DFEW/MAFW, MI-ordered reasoning).

Example::

    python dataset_scripts/build_sft_dataset.py --output-dir migr_hf_outputs/sft \
        --emer-v2 EMER/emer-v2.csv --emer-labels MER2023/label-6way.csv --emer-video-dir MER2023/train \
        --dfew-root DFEW --mafw-root MAFW --openface-dir openface --mi-file mi.jsonl

Rerunning with the same ``--output-dir`` resumes; see `migr_hf.data.builder.build_dataset`.
The same command is ``migr-hf build-data sft``.
"""

import argparse
import logging

from migr_hf.commands.build_data import add_sft_arguments, run_sft


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_sft_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run_sft(args)


if __name__ == "__main__":
    main()

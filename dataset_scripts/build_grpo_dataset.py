"""Build the MIGR GRPO dataset (DFEW/MAFW training clips with their Modality Importance label).

Example::

    python dataset_scripts/build_grpo_dataset.py --output-dir migr_hf_outputs/grpo \
        --dfew-root DFEW --mafw-root MAFW --model migr_hf_outputs/sft-model --mi-method loglik

Rerunning with the same ``--output-dir`` resumes; see `migr_hf.data.builder.build_grpo_dataset`.
"""

import argparse
import logging

from migr_hf.data.builder import add_build_arguments, build_grpo_dataset, build_kwargs_from_args, finish_cli


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dfew-root", help="DFEW release root")
    parser.add_argument("--mafw-root", help="MAFW release root")
    parser.add_argument("--drop-undetermined", action="store_true", help="leave out samples with undetermined MI")
    add_build_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = build_grpo_dataset(
        dfew_root=args.dfew_root,
        mafw_root=args.mafw_root,
        drop_undetermined=args.drop_undetermined,
        **build_kwargs_from_args(args),
    )
    finish_cli(result, args)


if __name__ == "__main__":
    main()

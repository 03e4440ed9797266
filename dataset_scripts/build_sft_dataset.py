"""Build the MIGR modality-aligned SFT dataset (EMER + FAU-filtered DFEW/MAFW, MI-ordered reasoning).

Example::

    python dataset_scripts/build_sft_dataset.py --output-dir migr_hf_outputs/sft \
        --emer-v2 EMER/emer-v2.csv --emer-labels MER2023/label-6way.csv --emer-video-dir MER2023/train \
        --dfew-root DFEW --mafw-root MAFW --openface-dir openface --mi-file mi.jsonl

Rerunning with the same ``--output-dir`` resumes; see `migr_hf.data.builder.build_sft_dataset`.
"""

import argparse
import logging

from migr_hf.data.builder import add_build_arguments, build_kwargs_from_args, build_sft_dataset, finish_cli
from migr_hf.data.llm import LLMClient
from migr_hf.data.reasoning import LLMReasoningSplitter, RuleBasedSplitter
from migr_hf.data.reasoning_writer import get_writer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emer-v1", help="EMER-V1 CSV (names,emotions,subtitles,reasons)")
    parser.add_argument("--emer-v2", help="EMER-V2 CSV (name,chinese,english)")
    parser.add_argument("--emer-labels", help="MER2023 label CSV (name + discrete/emotion) for EMER-V2")
    parser.add_argument("--emer-video-dir", help="folder of the MER2023 clips <name>.<ext>")
    parser.add_argument("--dfew-root", help="DFEW release root")
    parser.add_argument("--mafw-root", help="MAFW release root")
    parser.add_argument("--openface-dir", help="OpenFace CSVs as <dir>/<dfew|mafw>/<clip stem>.csv")
    parser.add_argument("--fau-config", help="YAML/JSON override of the FAU table, thresholds or label map")
    parser.add_argument("--no-mafw-captions", action="store_true", help="do not give MAFW captions to the writer")
    parser.add_argument("--writer", choices=("template", "openai"), default="template", help="reasoning writer")
    parser.add_argument("--splitter", choices=("rules", "llm"), default="rules", help="reasoning splitter")
    parser.add_argument("--llm-model", help="model for --writer openai / --splitter llm (default $MIGR_LLM_MODEL)")
    parser.add_argument("--llm-cache-dir", help="on-disk cache of LLM responses")
    parser.add_argument(
        "--undetermined",
        choices=("both", "audio_first", "visual_first", "drop"),
        default="both",
        help="reasoning order(s) for samples whose MI is undetermined",
    )
    add_build_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    client = LLMClient(model=args.llm_model, cache_dir=args.llm_cache_dir)
    result = build_sft_dataset(
        emer_v1=args.emer_v1,
        emer_v2=args.emer_v2,
        emer_labels=args.emer_labels,
        emer_video_dir=args.emer_video_dir,
        dfew_root=args.dfew_root,
        mafw_root=args.mafw_root,
        openface_dir=args.openface_dir,
        fau_config=args.fau_config,
        mafw_captions=not args.no_mafw_captions,
        writer=get_writer(args.writer, client),
        splitter=LLMReasoningSplitter(client) if args.splitter == "llm" else RuleBasedSplitter(),
        undetermined=args.undetermined,
        **build_kwargs_from_args(args),
    )
    finish_cli(result, args)


if __name__ == "__main__":
    main()

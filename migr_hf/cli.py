"""The `migr-hf` command line: one subcommand per pipeline stage (`migr-hf <command> --help`)."""

import argparse
import sys
from collections.abc import Callable, Sequence

from transformers.utils import logging

logger = logging.get_logger("migr_hf")

Command = Callable[[argparse.Namespace], int | None]


def _add_convert(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert a HumanOmni / R1-Omni checkpoint directory into a MIGR-Omni checkpoint",
        description="Convert a HumanOmni-7B, HumanOmni-0.5B or R1-Omni-0.5B checkpoint (config.json + weights, "
        "with the SigLIP / Whisper / BERT directories it references) into a MIGR-Omni checkpoint.",
    )
    parser.add_argument("source", help="HumanOmni checkpoint directory")
    parser.add_argument("output", help="directory to write the MIGR-Omni checkpoint to")
    parser.add_argument("--vision-tower", help="SigLIP directory (default: mm_vision_tower, relative to SOURCE)")
    parser.add_argument("--audio-tower", help="Whisper directory (default: mm_audio_tower, relative to SOURCE)")
    parser.add_argument("--bert", help="BERT directory with config and vocab.txt (default: SOURCE/bert)")
    parser.add_argument("--tokenizer", help="Qwen tokenizer directory (default: SOURCE)")
    parser.add_argument("--slow-fast", choices=("auto", "on", "off"), default="auto", help="slow-fast compressor")
    parser.add_argument(
        "--no-reasoning-tags",
        dest="add_reasoning_tags",
        action="store_false",
        help="keep the original vocabulary (no <think>/<aud_desc>/... tokens) to reproduce a baseline exactly",
    )
    parser.add_argument("--video-token-id", type=int, help="placeholder id when no tokenizer is converted")
    parser.add_argument("--audio-token-id", type=int, help="placeholder id when no tokenizer is converted")
    parser.add_argument("--frame-mode", choices=("pad", "squash"), default="pad", help="processor frame transform")
    parser.add_argument("--max-shard-size", default="5GB")
    parser.set_defaults(func=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    from .models.migr_omni.convert_humanomni_to_migr_omni import convert_humanomni_checkpoint

    report = convert_humanomni_checkpoint(
        args.source,
        args.output,
        vision_tower=args.vision_tower,
        audio_tower=args.audio_tower,
        bert=args.bert,
        tokenizer=args.tokenizer,
        slow_fast=args.slow_fast,
        add_reasoning_tags=args.add_reasoning_tags,
        video_token_id=args.video_token_id,
        audio_token_id=args.audio_token_id,
        frame_mode=args.frame_mode,
        max_shard_size=args.max_shard_size,
    )
    print(f"wrote {report.output_dir}: {report.mapped} tensors; dropped {len(report.dropped)} unused keys")
    for key, reason in sorted(report.dropped.items()):
        print(f"  dropped {key}: {reason}")
    for part, source in report.tower_sources.items():
        print(f"  {part} weights from {source}")
    return 0


SUBCOMMANDS: tuple[Callable, ...] = (_add_convert,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="migr-hf", description="Modality-Importance-Guided Reasoning (MIGR) on the Hugging Face stack."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="info-level logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.set_verbosity_info() if args.verbose else logging.set_verbosity_warning()
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError) as error:
        print(f"migr-hf {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

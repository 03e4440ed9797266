"""The `migr-hf` command line: one subcommand per pipeline stage (`migr-hf <command> --help`)."""

import argparse
import importlib
import sys
from collections.abc import Sequence

from transformers.utils import logging

from .commands import COMMANDS
from .data.jsonl import TooManyFailuresError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="migr-hf", description="Modality-Importance-Guided Reasoning (MIGR) on the Hugging Face stack."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="info-level logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, forwarded = parser.parse_known_args(argv)
    if forwarded and not getattr(args, "forwards_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(forwarded)}")
    args.forwarded = forwarded
    logging.set_verbosity_info() if args.verbose else logging.set_verbosity_warning()
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError) as error:
        print(f"migr-hf {args.command}: error: {error}", file=sys.stderr)
        return 2
    except TooManyFailuresError as error:
        print(f"migr-hf {args.command}: stopped: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())

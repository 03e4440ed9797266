"""The `migr-hf` command line: one subcommand per pipeline stage (`migr-hf <command> --help`).

The subcommand modules only build their parsers; each imports what it runs (torch, transformers, trl, gradio)
inside its `func`, so `--help` answers without loading the ML stack.
"""

import argparse
import importlib
import sys
from collections.abc import Sequence

from .commands import COMMANDS
from .data.jsonl import TooManyFailuresError


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends each flag's default to its help (unless the help already speaks of it, or there is none to show) and
    keeps the descriptions' line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "default" in help_text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return help_text
        return f"{help_text} (default: %(default)s)"


class MIGRArgumentParser(argparse.ArgumentParser):
    """`ArgumentParser` whose help shows every flag's default; subcommand parsers are of this class too."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = MIGRArgumentParser(
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
    from transformers.utils import logging

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

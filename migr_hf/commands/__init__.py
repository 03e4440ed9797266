"""Subcommands of the `migr-hf` command line.

Each module defines `register(subparsers)`, which adds its parser and sets `func(args) -> int | None`. A
command that passes its flags on to another parser (`sft`, `grpo`) also sets `forwards_arguments=True` and
reads them from `args.forwarded`.
`COMMANDS` lists the modules in the order `migr-hf --help` shows them. A module imports at its top only what its
parser needs, so that `--help` loads neither torch nor transformers; what `func` runs is imported inside it.
"""

COMMANDS = ("convert", "export_lm", "build_data", "estimate_mi", "train", "infer", "demo", "attention", "push", "evaluate", "quickstart")

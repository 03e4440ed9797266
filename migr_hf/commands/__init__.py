"""Subcommands of the `migr-hf` command line.

Each module defines `register(subparsers)`, which adds its parser and sets `func(args) -> int | None`.
`COMMANDS` lists the modules in the order `migr-hf --help` shows them.
"""

COMMANDS = ("convert",)

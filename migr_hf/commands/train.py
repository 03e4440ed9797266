"""`migr-hf sft` and `migr-hf grpo`: the training stages, with the flags of `examples/sft.py` / `examples/grpo.py`."""


def register(subparsers) -> None:
    for stage, help_text in (
        ("sft", "modality-aligned SFT (MIGRSFTTrainer); flags: ScriptArguments, MIGRSFTConfig, ModelConfig"),
        ("grpo", "MIGR GRPO (MIGRGRPOTrainer); flags: ScriptArguments, MIGRGRPOConfig, ModelConfig"),
    ):
        parser = subparsers.add_parser(
            stage,
            help=help_text,
            add_help=False,
            description=f"{help_text}. `migr-hf {stage} --help` lists every flag; `--config recipe.yaml` reads a recipe.",
        )
        parser.set_defaults(func=lambda args, stage=stage: _run(stage, args.forwarded), forwards_arguments=True)


def _run(stage: str, arguments: list[str]) -> int:
    from ..trainers.entrypoints import main

    main(stage, arguments)
    return 0

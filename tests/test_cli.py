"""The `migr-hf` command line: every subcommand answers --help, and convert / sft run through it."""

import argparse
import json
import os
import subprocess
import sys

import pytest
from datasets import Dataset
from media_fixtures import make_clip, sine
from transformers import AutoModelForCausalLM

from migr_hf.cli import build_parser, main
from migr_hf.commands import COMMANDS
from migr_hf.schema import MIGR_INSTRUCTION

SUBCOMMANDS = (
    "convert", "export-lm", "build-data", "estimate-mi", "sft", "grpo", "infer", "demo", "attention", "push", "evaluate", "quickstart"
)  # fmt: skip


def test_every_stage_has_a_subcommand():
    subparsers = next(action for action in build_parser()._actions if action.dest == "command")
    assert set(subparsers.choices) == set(SUBCOMMANDS)
    assert len(COMMANDS) == len(set(COMMANDS))


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"migr-hf {command}" in capsys.readouterr().out


def _options(parser, path=()):
    """(subcommand path, action) of every option of ``parser`` and its subcommand parsers."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, (*path, name))
        elif action.option_strings and action.dest != "help":
            yield path, action


def test_every_migr_hf_flag_is_documented_and_spelled_with_hyphens():
    options = list(_options(build_parser()))
    assert len(options) > 50
    undocumented = [(" ".join(path), action.option_strings) for path, action in options if not action.help]
    assert undocumented == []
    underscored = [(" ".join(path), flag) for path, action in options for flag in action.option_strings if "_" in flag]
    assert underscored == []


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["infer", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 512)" in out and "(default: audio+video)" in out and "(default: None)" not in out


# `sft` and `grpo` --help list trl's flags (TrlParser over the trl configs), so they load trl by design.
LIGHT_HELP_COMMANDS = tuple(command for command in SUBCOMMANDS if command not in ("sft", "grpo"))
ML_STACK = ("torch", "transformers", "trl", "gradio", "datasets")


def run_python(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter with this checkout first on the path."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_help_loads_no_ml_stack():
    """`migr-hf --help` and `migr-hf <command> --help` import neither torch nor transformers, trl, gradio, datasets."""
    code = f"""
import contextlib, io, sys
from migr_hf.cli import main
for argv in [["--help"], *([command, "--help"] for command in {LIGHT_HELP_COMMANDS!r})]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(argv)
print(sorted(name for name in {ML_STACK!r} if name in sys.modules))
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_unknown_flags_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["convert", "a", "b", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_convert_the_golden_fixture(humanomni_fixture, tmp_path, capsys):
    output = tmp_path / "converted"
    code = main(["convert", str(humanomni_fixture / "checkpoint"), str(output), "--video-token-id", "423", "--audio-token-id", "424"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "298 tensors; dropped 6 unused keys" in printed and "model.bert_model.pooler.dense.weight" in printed
    assert json.loads((output / "config.json").read_text())["model_type"] == "migr_omni"
    assert main(["convert", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_sft_through_the_command_line(tiny_checkpoint, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", num_frames=10, audio=sine(0.5))
    completion = "<aud_desc>A calm voice.</aud_desc><vis_desc>A still face.</vis_desc><think>Calm.</think><answer>neutral</answer>"
    rows = [{"id": "s0", "video": clip, "prompt": MIGR_INSTRUCTION, "completion": completion, "label": "neutral"}]
    Dataset.from_list(rows).to_parquet(str(tmp_path / "data" / "data" / "train-00000-of-00001.parquet"))
    arguments = [
        "sft", "--model_name_or_path", str(tiny_checkpoint), "--dataset_name", str(tmp_path / "data"),
        "--output_dir", str(tmp_path / "out"), "--max_steps", "1", "--per_device_train_batch_size", "1",
        "--report_to", "none", "--save_strategy", "no", "--use_cpu", "true", "--bf16", "false",
    ]  # fmt: skip
    assert main(arguments) == 0
    assert type(AutoModelForCausalLM.from_pretrained(tmp_path / "out")).__name__ == "MIGROmniForCausalLM"

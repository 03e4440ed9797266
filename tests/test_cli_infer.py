"""`migr-hf infer`: help, and real runs on a tiny checkpoint scripted to answer happy from visual cues first."""

import json

import pytest
from media_fixtures import make_clip, sine

from migr_hf.cli import main


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["infer", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for flag in ("--model", "--mode", "--label-set", "--json"):
        assert flag in help_text


def test_infer_prints_emotion_first_modality_and_segments(scripted_checkpoint, tmp_path, capsys):  # noqa: F811
    clips = [make_clip(tmp_path / f"clip{i}.mp4", num_frames=10, audio=sine(1.0)) for i in range(2)]
    base = ["infer", "--model", str(scripted_checkpoint), "--label-set", "dfew", "--max-new-tokens", "80"]
    assert main([*base, *clips, "--batch-size", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{clips[0]}: happy  [mode: audio+video, starts with: visual]"
    assert lines[1] == "  visual: In the video, the woman smiles broadly."
    assert lines[2] == "  audio: In the audio, the laughter is bright and the tone is cheerful."
    assert lines[3].startswith("  think: Based on the smile")
    assert lines[4].startswith(f"{clips[1]}: happy")

    assert main([*base, clips[0], "--mode", "audio", "--json"]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["clip"] == clips[0]
    assert (record["emotion"], record["first_modality"], record["mode"]) == ("happy", "visual", "audio")
    assert record["well_formed"] is True


def test_missing_clip_is_a_usage_error(scripted_checkpoint, tmp_path, capsys):  # noqa: F811
    assert main(["infer", str(tmp_path / "missing.mp4"), "--model", str(scripted_checkpoint)]) == 2
    assert "migr-hf infer: error" in capsys.readouterr().err

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


def test_paths_are_checked_before_the_model_loads(scripted_checkpoint, tmp_path, capsys):  # noqa: F811
    missing = str(tmp_path / "missing.mp4")
    assert main(["infer", missing, "--model", str(scripted_checkpoint)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {missing}: file not found"]
    # A missing model and a missing clip: one line each, before anything loads.
    clip = make_clip(tmp_path / "good.mp4", num_frames=10, audio=sine(1.0))
    assert main(["infer", missing, clip, "--model", "/nonexistent"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --model /nonexistent: no such checkpoint directory (and not a Hub id 'namespace/name')",
        f"error: {missing}: file not found",
    ]


def test_every_clip_gets_its_result_or_its_error(scripted_checkpoint, tmp_path, capsys):  # noqa: F811
    good = make_clip(tmp_path / "good.mp4", num_frames=10, audio=sine(1.0))
    empty = tmp_path / "zero.mp4"
    empty.write_bytes(b"")
    silent = make_clip(tmp_path / "silent.mp4", num_frames=10)  # no audio stream
    good2 = make_clip(tmp_path / "good2.mp4", num_frames=10, audio=sine(1.0))
    missing = str(tmp_path / "missing.mp4")
    clips = [good, str(empty), silent, missing, good2]
    base = ["infer", "--model", str(scripted_checkpoint), "--label-set", "dfew", "--max-new-tokens", "80", "--json"]
    assert main([*base, *clips, "--batch-size", "4"]) == 1
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [record["clip"] for record in records] == clips
    assert [record.get("emotion") for record in records] == ["happy", None, None, None, "happy"]
    assert records[1]["error"] == f"{empty}: empty file (0 bytes)"
    assert records[2]["error"] == f"{silent}: no audio stream (mode 'audio+video' needs one)"
    assert records[3]["error"] == f"{missing}: file not found"
    assert "error" not in records[0] and "error" not in records[4]
    assert "error: 3 of 5 clips failed" in captured.err
    # A requested modality the clip lacks is an error, never a silent text-only run.
    assert main([*base, silent, "--mode", "audio"]) == 1
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record == {"clip": silent, "mode": "audio", "error": f"{silent}: no audio stream (mode 'audio' needs one)"}
    assert main([*base, silent, "--mode", "video"]) == 0

"""The demo's logic without a browser: segment HTML, the handler on a tiny model, sample clips, configuration."""

import re
from unittest import mock

import gradio as gr
import pytest
from media_fixtures import make_clip, sine

from migr_hf.cli import main
from migr_hf.apps.demo import (
    SEGMENT_STYLES,
    build_demo,
    demo_from_env,
    find_sample_clips,
    make_sample_clips,
    predict_clip,
    render_prediction_html,
)
from migr_hf.apps.inference import EmotionReasoner
from migr_hf.media import probe_media, read_video_frames


@pytest.fixture(scope="module")
def reasoner(scripted_checkpoint):  # noqa: F811
    return EmotionReasoner.from_pretrained(scripted_checkpoint, label_set="dfew", max_new_tokens=60)


def segments(page: str) -> list[tuple[str, str]]:
    return re.findall(r'data-segment="(\w+)".*?class="migr-segment-text">(.*?)</div>', page)


def test_segments_rendered_in_order_with_colours(reasoner):
    prediction = reasoner.parse(
        "<aud_desc>A <b>loud</b> voice & shouting.</aud_desc><vis_desc>A glare.</vis_desc>"
        "<think>He is angry.</think><answer>Angry</answer>"
    )
    page = render_prediction_html(prediction)
    assert segments(page) == [
        ("aud_desc", "A &lt;b&gt;loud&lt;/b&gt; voice &amp; shouting."),
        ("vis_desc", "A glare."),
        ("think", "He is angry."),
        ("answer", "Angry"),
    ]
    for name in ("aud_desc", "vis_desc"):
        heading, background, accent = SEGMENT_STYLES[name]
        block = re.search(rf'<div class="migr-segment" data-segment="{name}" style="([^"]*)"', page).group(1)
        assert f"background:{background}" in block and accent in block
        assert heading in page
    assert SEGMENT_STYLES["aud_desc"][1] != SEGMENT_STYLES["vis_desc"][1]
    assert '<b class="migr-emotion">angry</b>' in page
    assert '<b class="migr-first-modality">audio cues</b>' in page
    assert "migr-issues" not in page


def test_malformed_output_is_shown_raw_with_its_issues(reasoner):
    page = render_prediction_html(reasoner.parse("the person <seems> happy"))
    assert segments(page) == []
    assert '<b class="migr-emotion">no answer</b>' in page
    assert "no modality segment" in page
    assert "missing &lt;answer&gt;" in page
    assert "the person &lt;seems&gt; happy" in page


def test_answer_outside_the_label_set_is_marked(reasoner):
    prediction = reasoner.parse("<vis_desc>x</vis_desc><aud_desc>y</aud_desc><think>z</think><answer>bored</answer>")
    assert '<b class="migr-emotion">bored (not a label)</b>' in render_prediction_html(prediction)


def test_handler_on_tiny_model(reasoner, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", num_frames=12, audio=sine(1.0))
    emotion, first, page = predict_clip(reasoner, clip, "audio+video")
    assert (emotion, first) == ("happy", "visual")
    assert [name for name, _ in segments(page)] == ["vis_desc", "aud_desc", "think", "answer"]
    assert "input: audio+video" in page

    silent = make_clip(tmp_path / "silent.mp4", num_frames=12)
    emotion, _, page = predict_clip(reasoner, silent, "video")
    assert emotion == "happy" and "input: video" in page


def test_handler_errors(reasoner, tmp_path):
    with pytest.raises(gr.Error, match="Upload a clip"):
        predict_clip(reasoner, None, "audio+video")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(gr.Error, match="Could not process the clip"):
        predict_clip(reasoner, str(broken), "audio+video")


def test_sample_clips_are_decodable(tmp_path):
    paths = make_sample_clips(tmp_path / "samples")
    (tmp_path / "samples" / "notes.txt").write_text("not a clip")
    assert find_sample_clips(tmp_path / "samples") == sorted(paths)
    for path in paths:
        info = probe_media(path)
        assert info.has_video and info.has_audio and info.duration_s == pytest.approx(2.0, abs=0.2)
        assert read_video_frames(str(path), num_frames=4).shape == (4, 96, 96, 3)
    with pytest.raises(FileNotFoundError):
        find_sample_clips(tmp_path / "missing")


def test_blocks_wiring(reasoner, tmp_path):
    demo = build_demo(reasoner, make_sample_clips(tmp_path))
    config = demo.get_config_file()
    elem_ids = {c["props"].get("elem_id") for c in config["components"]}
    assert {"migr-clip", "migr-mode", "migr-run", "migr-emotion", "migr-first-modality", "migr-reasoning"} <= elem_ids
    radio = next(c for c in config["components"] if c["props"].get("elem_id") == "migr-mode")
    assert [choice[1] for choice in radio["props"]["choices"]] == ["audio+video", "video", "audio"]
    assert any(dep.get("api_name") == "predict" for dep in config["dependencies"])


def test_configuration_errors(monkeypatch, capsys):
    monkeypatch.delenv("MIGR_MODEL", raising=False)
    with pytest.raises(ValueError, match="MIGR_MODEL"):
        demo_from_env()
    monkeypatch.setenv("MIGR_MODEL", "some/model")
    monkeypatch.setenv("MIGR_LABEL_SET", "imdb")
    with pytest.raises(ValueError, match="MIGR_LABEL_SET"):
        demo_from_env()
    monkeypatch.delenv("MIGR_MODEL")
    assert main(["demo"]) == 2
    assert "pass --model" in capsys.readouterr().err


def test_demo_command_launches_with_a_sample_folder(scripted_checkpoint, tmp_path):
    make_clip(tmp_path / "mine.mp4", num_frames=8)
    with mock.patch.object(gr.Blocks, "launch", autospec=True) as launch:
        args = ["demo", "--model", str(scripted_checkpoint), "--samples", str(tmp_path), "--port", "7861"]
        assert main(args) == 0
    demo = launch.call_args.args[0]
    assert launch.call_args.kwargs == {"server_name": "127.0.0.1", "server_port": 7861, "share": False}
    dataset = next(c for c in demo.get_config_file()["components"] if c["type"] == "dataset")
    assert [sample[0]["orig_name"] for sample in dataset["props"]["samples"]] == ["mine.mp4"]

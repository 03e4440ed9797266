"""Modality-wise attention over generated tokens (appendix 8.1, Fig. 5) on the tiny model."""

import json

import numpy as np
import pytest
import torch
from media_fixtures import make_clip, sine

from migr_hf.analysis.attention import (
    AttentionSample,
    AttentionTrace,
    default_layer,
    group_shares,
    load_attention_samples,
    resample_steps,
    summarize_traces,
    trace_attention,
)
from migr_hf.cli import main
from migr_hf.apps.inference import EmotionReasoner


@pytest.fixture(scope="module")
def reasoner(tiny_checkpoint):
    return EmotionReasoner.from_pretrained(tiny_checkpoint, max_new_tokens=5)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attention-clips")
    return [
        make_clip(folder / f"clip{i}.mp4", num_frames=10 + 4 * i, audio=sine(1.0, freq=220.0 * (i + 1)))
        for i in range(2)
    ]


@pytest.mark.parametrize(("num_layers", "layer"), [(28, 21), (24, 18), (36, 27), (2, 2), (1, 1)])
def test_default_layer_scales_the_papers_21_of_28(num_layers, layer):
    assert default_layer(num_layers) == layer


def test_group_shares_exclude_the_prompt():
    # keys: system prompt, 2 visual, 1 audio, instruction, 2 generated
    attention = torch.tensor([[0.40, 0.10, 0.05, 0.15, 0.10, 0.12, 0.08]])
    visual = torch.tensor([[0, 1, 1, 0, 0, 0, 0]], dtype=torch.bool)
    audio = torch.tensor([[0, 0, 0, 1, 0, 0, 0]], dtype=torch.bool)
    text = torch.tensor([[0, 0, 0, 0, 0, 1, 1]], dtype=torch.bool)
    shares = group_shares(attention, visual, audio, text)
    torch.testing.assert_close(shares, torch.tensor([[0.15, 0.15, 0.20]]) / 0.5)
    assert group_shares(torch.zeros(1, 7), visual, audio, text).tolist() == [[0.0, 0.0, 0.0]]


def test_resample_steps():
    ramp = np.stack([np.linspace(0, 1, 7), np.linspace(1, 0, 7)], axis=1)
    out = resample_steps(ramp)
    assert out.shape == (100, 2)
    np.testing.assert_allclose(out[:, 0], np.linspace(0, 1, 100))
    np.testing.assert_allclose(resample_steps(np.array([[0.2, 0.8]]), 5), [[0.2, 0.8]] * 5)
    with pytest.raises(ValueError):
        resample_steps(np.zeros((0, 3)))


def test_summary_averages_per_mi_class():
    traces = [
        AttentionTrace(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), "a"),
        AttentionTrace(np.array([[0.0, 1.0, 0.0]] * 3), "b"),
        AttentionTrace(np.array([[0.0, 0.0, 1.0]] * 4), "c"),
    ]
    samples = [AttentionSample(i, "x.mp4", mi) for i, mi in zip("abc", ["audio", "audio", "visual"])]
    summary = summarize_traces(traces, samples, num_steps=3)
    assert list(summary["classes"]) == ["audio", "visual"]
    audio = summary["classes"]["audio"]
    assert audio["num_samples"] == 2
    np.testing.assert_allclose(audio["visual"], [0.5, 0.25, 0.0])
    np.testing.assert_allclose(audio["audio"], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(audio["text"], [0.0, 0.25, 0.5])
    assert [s["num_generated_tokens"] for s in summary["samples"]] == [2, 3, 4]


@pytest.mark.parametrize("layer", [1, 2])
def test_trace_matches_a_direct_forward_with_output_attentions(reasoner, clips, layer):
    """Recorded shares equal those computed from `output_attentions` of one forward over prompt + completion."""
    model = reasoner.model
    (trace,) = trace_attention(reasoner, clips[:1], layer=layer)
    assert model.config.text_config._attn_implementation != "eager"  # restored after tracing

    inputs = reasoner.prepare_inputs(clips[:1], "audio+video")
    prompt_len = inputs["input_ids"].shape[1]
    assert trace.shares.shape == (5, 3)
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=5, do_sample=False)
        sequence = dict(inputs, input_ids=generated, attention_mask=torch.ones_like(generated))
        model.set_attn_implementation({"text_config": "eager"})
        try:
            attentions = model(**sequence, output_attentions=True).attentions
        finally:
            model.set_attn_implementation({"text_config": "sdpa"})
    heads_mean = attentions[layer - 1][0].mean(0)
    ids = generated[0]
    positions = torch.arange(len(ids))
    expected = [
        group_shares(
            heads_mean[prompt_len - 1 + step][None],
            (ids == model.config.video_token_id)[None],
            (ids == model.config.audio_token_id)[None],
            ((positions >= prompt_len) & (positions < prompt_len + step))[None],
        )[0]
        for step in range(len(trace.shares))
    ]
    np.testing.assert_allclose(trace.shares, torch.stack(expected).numpy(), atol=1e-5)
    np.testing.assert_allclose(trace.shares.sum(axis=1), 1.0, atol=1e-5)
    assert trace.shares[0, 2] == 0.0 and (trace.shares[1:, 2] > 0).all()


def test_attention_command_writes_json_and_plot(tiny_checkpoint, clips, tmp_path, capsys):
    data = tmp_path / "test.jsonl"
    rows = [{"id": "a", "video": clips[0]}, {"id": "b", "video": clips[1]}, {"id": "c", "video": clips[0]}]
    data.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    mi_file = tmp_path / "mi.jsonl"
    mi_file.write_text(
        '{"id": "a", "modality_importance": "audio"}\n{"id": "b", "modality_importance": "visual"}\n', encoding="utf-8"
    )
    out = tmp_path / "out"
    args = ["attention", str(data), "--model", str(tiny_checkpoint), "--mi-file", str(mi_file)]
    assert main([*args, "--max-new-tokens", "4", "--batch-size", "2", "--output-dir", str(out)]) == 0
    assert "layer 2 of 2" in capsys.readouterr().out

    report = json.loads((out / "attention.json").read_text())
    assert (report["layer"], report["num_layers"], report["num_steps"]) == (2, 2, 100)
    assert report["groups"] == ["visual", "audio", "text"]
    assert {mi: c["num_samples"] for mi, c in report["classes"].items()} == {"audio": 1, "visual": 1}
    for curves in report["classes"].values():
        stacked = np.array([curves[group] for group in report["groups"]])
        assert stacked.shape == (3, 100)
        np.testing.assert_allclose(stacked.sum(axis=0), 1.0, atol=1e-5)
    assert [s["id"] for s in report["samples"]] == ["a", "b"]
    assert (out / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_samples_from_a_column_and_bad_rows(tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text(
        '{"id": "a", "video": "a.mp4", "modality_importance": "both"}\n{"id": "b", "video": "b.mp4"}\n',
        encoding="utf-8",
    )
    samples = load_attention_samples(data, media_root=tmp_path)
    assert samples == [AttentionSample("a", str(tmp_path / "a.mp4"), "both")]
    data.write_text('{"id": "a"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="needs `id` and `video`"):
        load_attention_samples(data)
    with pytest.raises(FileNotFoundError):
        load_attention_samples(tmp_path / "missing.jsonl")

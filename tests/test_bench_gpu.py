"""The prepared GPU benchmark (`benchmarks/gpu/bench_7b.py`) on tiny widths, so that its code path cannot rot
while no GPU is lent: every figure line is printed, decode timing works through both engine interfaces, and
without CUDA the 7B run stops with a clear message."""

import importlib.util
import re
from pathlib import Path

import pytest
import torch
from fake_vllm import FakeVLLMBackend

from migr_hf.generation.vllm_engine import VLLMEngine

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu" / "bench_7b.py"
TINY_ARGS = ["--tiny", "--group", "2", "--text-tokens", "8", "--decode-steps", "3", "--completion-length", "4"]
TINY_ARGS += ["--repeat", "1"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_7b", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def milliseconds(output: str, prefix: str) -> float:
    match = re.search(rf"^{re.escape(prefix)}: (-?[\d.]+) ms", output, flags=re.MULTILINE)
    assert match, f"no {prefix!r} line in:\n{output}"
    return float(match.group(1))


@pytest.mark.skipif(torch.cuda.is_available(), reason="runs the CPU path")
def test_tiny_run_prints_every_figure(bench, capsys, monkeypatch):
    monkeypatch.setattr(bench, "vllm_python", lambda: None)
    bench.main(TINY_ARGS)
    output = capsys.readouterr().out
    assert re.search(r"^model: tiny MIGR-Omni, [\d.]+ M parameters \(language model", output, flags=re.MULTILINE)
    assert "1 prompt of 636 tokens (128 video + 500 audio + 8 text), G=2" in output
    for prefix in ("towers (SigLIP 8 frames + Whisper 30 s, 1 prompt)", "projector + gate, 1 row",
                   "projector + gate, 2 rows", "reference forward", "policy forward+backward"):  # fmt: skip
        assert milliseconds(output, prefix) > 0
    assert re.search(r"^decode generate: -?[\d.]+ ms/step \(2 rows, 3 steps;", output, flags=re.MULTILINE)
    assert "\nvllm: not installed\n" in output
    estimate = r"^GRPO step estimate \(generate decode, per prompt\): .* \(6 tower passes without\)$"
    assert re.search(estimate, output, flags=re.MULTILINE)
    assert output.rstrip().endswith("peak memory: n/a on cpu")


def test_decode_timing_through_the_vllm_engine_interface(bench):
    config = bench.build_config(tiny=True)
    model = bench.build_model(config, torch.device("cpu"), torch.float32)
    prompt = bench.prompt_inputs(config, text_tokens=8, gate_tokens=4, device=torch.device("cpu"), dtype=torch.float32)
    inputs = {name: prompt[name] for name in ("input_ids", "attention_mask", "gate_input_ids", "gate_attention_mask")}
    with torch.no_grad():
        inputs["vision_tower_states"] = model.model.get_vision_tower_states(prompt["pixel_values_videos"])
        inputs["audio_tower_states"] = model.model.get_audio_tower_states(prompt["input_features"])
    suppress, eos = [config.video_token_id, config.audio_token_id], [config.eos_token_id]
    with VLLMEngine.from_model(model, suppress, eos, backend_factory=FakeVLLMBackend) as engine:
        prefill, _, steps = bench.decode_ms(engine, model, inputs, 3, steps=4, device=torch.device("cpu"), repeat=1)
        requests = engine.backend.requests
    assert prefill > 0 and 1 <= steps <= 4
    assert [request["max_tokens"] for request in requests] == [1, 1, 4, 4]  # warm-up + timed run of each length


def test_grpo_rows_hold_the_prompt_then_the_completion(bench):
    config = bench.build_config(tiny=True)
    model = bench.build_model(config, torch.device("cpu"), torch.float32)
    prompt = bench.prompt_inputs(config, text_tokens=8, gate_tokens=4, device=torch.device("cpu"), dtype=torch.float32)
    with torch.no_grad():
        vision = model.model.get_vision_tower_states(prompt["pixel_values_videos"])
        audio = model.model.get_audio_tower_states(prompt["input_features"])
    rows = bench.grpo_rows(config, prompt, vision, audio, group=3, completion=5)
    assert rows["input_ids"].shape == (3, prompt["input_ids"].shape[1] + 5)
    assert torch.equal(rows["input_ids"][:, :-5], prompt["input_ids"].expand(3, -1))
    completions = rows["input_ids"][:, -5:]
    specials = torch.tensor([config.video_token_id, config.audio_token_id, config.eos_token_id])
    assert not torch.isin(completions, specials).any()
    assert rows["vision_tower_states"].shape[0] == rows["audio_tower_states"].shape[0] == 3
    logprobs = bench.completion_logprobs(model, rows, completion=5)
    assert logprobs.shape == (3, 5) and bool((logprobs < 0).all())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_7b_run_without_cuda_stops_with_a_clear_message(bench):
    with pytest.raises(SystemExit, match="no CUDA device: this benchmark needs a GPU"):
        bench.main([])

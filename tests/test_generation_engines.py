"""embed_prompt + the exported Qwen2, the generation engines (transformers generate; vLLM through a fake backend
with its semantics) and GRPO rollouts on the vLLM engine; the trl range the GRPO trainer was written for."""

import pytest
import torch
import trl
from datasets import Dataset
from fake_vllm import FakeVLLMBackend
from media_fixtures import make_clip, sine
from peft import LoraConfig, get_peft_model
from test_modeling_migr_omni import mixed_batch
from transformers import AutoModelForCausalLM, AutoProcessor, AutoTokenizer

from migr_hf.cli import main
from migr_hf.generation import GenerationOptions, build_engine
from migr_hf.generation.vllm_engine import VLLMEngine
from migr_hf.generation import export_language_model as export
from migr_hf.schema import MIGR_INSTRUCTION
from migr_hf.trainers import MIGRGRPOConfig, MIGRGRPOTrainer
from migr_hf.trainers import trl_compat
from migr_hf.trainers.trl_compat import check_trl_compatibility, missing_trl_features, trl_version_is_tested

COMMON = dict(report_to=[], use_cpu=True, disable_tqdm=True, save_strategy="no", logging_steps=1, seed=0)


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return AutoModelForCausalLM.from_pretrained(tiny_checkpoint).eval()


@pytest.fixture(scope="module")
def processor(tiny_checkpoint):
    return AutoProcessor.from_pretrained(tiny_checkpoint)


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    output = tmp_path_factory.mktemp("exported-lm")
    assert main(["export-lm", str(tiny_checkpoint), str(output)]) == 0
    return output


def test_embed_prompt_and_exported_qwen2_match_migr_omni(model, processor, exported):
    """The language model alone, fed embed_prompt's embeddings, gives MIGR-Omni's logits and greedy tokens."""
    language_model = AutoModelForCausalLM.from_pretrained(exported).eval()
    assert type(language_model).__name__ == "Qwen2ForCausalLM"
    assert AutoTokenizer.from_pretrained(exported).eos_token_id == processor.tokenizer.eos_token_id
    _, inputs = mixed_batch(processor)
    with torch.no_grad():
        reference = model(**inputs).logits
        embeds = model.model.embed_prompt(
            inputs["input_ids"], **{k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
        ).inputs_embeds
        logits = language_model(inputs_embeds=embeds, attention_mask=inputs["attention_mask"]).logits
        mask = inputs["attention_mask"].bool()
        torch.testing.assert_close(logits[mask], reference[mask], atol=1e-5, rtol=1e-5)
        greedy = dict(max_new_tokens=8, do_sample=False, pad_token_id=processor.tokenizer.pad_token_id)
        with_media = model.generate(**inputs, **greedy)[:, inputs["input_ids"].shape[1] :]
        from_embeds = language_model.generate(inputs_embeds=embeds, attention_mask=inputs["attention_mask"], **greedy)
    assert torch.equal(with_media, from_embeds)


def test_export_name_map_must_cover_every_language_model_parameter(model, monkeypatch):
    names = export.language_model_parameter_names(model.config)
    assert set(export.language_model_state_dict(model, expected=names)) == names
    assert "lm_head.weight" in names and "model.embed_tokens.weight" in names
    monkeypatch.setattr(export, "LANGUAGE_MODEL_PREFIXES", {"model.language_model.": "model."})
    with pytest.raises(ValueError, match=r"missing \['lm_head.weight'\]"):
        export.language_model_state_dict(model, expected=names)


def test_export_merges_lora_and_leaves_the_adapters_unmerged(tiny_checkpoint, processor):
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=r".*language_model.*\.(q_proj|v_proj)", init_lora_weights=False))
    text = processor.tokenizer(["<|im_start|>user\nhello there<|im_end|>\n"], return_tensors="pt")
    with torch.no_grad():
        expected = peft_model(**text).logits
        language_model = export.extract_language_model(peft_model)
        torch.testing.assert_close(language_model(**text).logits, expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(peft_model(**text).logits, expected)  # adapters unmerged again


def placeholder_loving(tiny_checkpoint, processor):
    """The tiny model with its head pushed towards the placeholders: unsuppressed, greedy decoding emits them."""
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint).eval()
    with torch.no_grad():
        for token in (processor.video_token_id, processor.audio_token_id):
            model.lm_head.weight[token] = model.model.language_model.embed_tokens.weight.mean(0) * 0 + 5.0
    return model


@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_engines_match_generate_and_never_sample_placeholders(tiny_checkpoint, processor, backend):
    model = placeholder_loving(tiny_checkpoint, processor)
    _, inputs = mixed_batch(processor)
    placeholders = {processor.video_token_id, processor.audio_token_id}
    with torch.no_grad():
        plain = model.generate(**inputs, max_new_tokens=6, do_sample=False, pad_token_id=processor.tokenizer.pad_token_id)
    assert placeholders & set(plain[:, inputs["input_ids"].shape[1] :].flatten().tolist())
    engine = build_engine(backend, model, processor, **({"backend_factory": FakeVLLMBackend} if backend == "vllm" else {}))
    with engine:
        greedy = engine.generate(model, inputs, GenerationOptions(max_new_tokens=6))
        sampled = engine.generate(model, inputs, GenerationOptions(max_new_tokens=6, do_sample=True, seed=0), [3, 1, 2, 1])
    with torch.no_grad():
        suppressed = model.generate(
            **inputs, max_new_tokens=6, do_sample=False, suppress_tokens=sorted(placeholders),
            pad_token_id=processor.tokenizer.pad_token_id,
        )[:, inputs["input_ids"].shape[1] :]
    assert greedy.completion_ids == [row[: len(ids)] for row, ids in zip(suppressed.tolist(), greedy.completion_ids)]
    assert len(sampled.completion_ids) == 7 and [len(x) for x in sampled.logprobs] == [len(x) for x in sampled.completion_ids]
    for ids in greedy.completion_ids + sampled.completion_ids:
        assert not placeholders & set(ids)
    assert all(lp <= 0 and lp > -float("inf") for row in sampled.logprobs for lp in row)


@pytest.fixture(scope="module")
def grpo_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    clips = [make_clip(root / f"clip{i}.mp4", num_frames=12, width=48, height=40, audio=sine(0.6, freq=300 + 200 * i)) for i in range(2)]
    return Dataset.from_list([{"id": f"g{i}", "video": clips[i], "prompt": MIGR_INSTRUCTION} for i in range(2)])


def varied_reward(completion_ids, **kwargs):
    return [float(sum(ids) % 7) for ids in completion_ids]


def test_grpo_on_the_vllm_engine(tiny_checkpoint, processor, grpo_dataset, tmp_path):
    """2 GRPO steps with rollouts on the vLLM engine (fake backend): importance ratio ~1, no placeholder sampled,
    every language-model tensor synced after each optimizer step, and the engine's output changes with the update."""
    args = MIGRGRPOConfig(
        output_dir=str(tmp_path), max_steps=2, num_generations=2, per_device_train_batch_size=2,
        gradient_accumulation_steps=1, max_completion_length=6, learning_rate=1e-2, beta=0.0, **COMMON,
    )
    policy = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    engine = VLLMEngine.from_model(
        policy, [processor.video_token_id, processor.audio_token_id], [processor.tokenizer.eos_token_id],
        backend_factory=FakeVLLMBackend,
    )
    trainer = MIGRGRPOTrainer(policy, reward_funcs=[varied_reward], args=args, train_dataset=grpo_dataset,
                              processing_class=processor, generation_engine=engine)
    assert trainer.use_vllm and trainer.vllm_importance_sampling_correction
    _, probe = mixed_batch(processor)
    before = engine.generate(trainer.model, probe, GenerationOptions(max_new_tokens=4))
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2
    for entry in logs:
        assert abs(entry["sampling/importance_sampling_ratio/mean"] - 1) < 0.02, entry
        assert entry["sampling/importance_sampling_ratio/min"] > 0.9
    names = export.language_model_parameter_names(policy.config)
    # the step-0 sync plus one after the first optimizer step, each with every language-model tensor
    assert len(engine.backend.loads) == 2 and all(load == names for load in engine.backend.loads)
    engine.sync_weights(trainer.model)
    after = engine.generate(trainer.model, probe, GenerationOptions(max_new_tokens=4))
    assert before.logprobs != after.logprobs
    placeholders = {processor.video_token_id, processor.audio_token_id}
    assert all(sorted(placeholders) == sorted(set(range(engine.backend.vocab_size)) - set(r["allowed_token_ids"]))
               for r in engine.backend.requests)
    engine.close()


def test_grpo_vllm_backend_runs_colocated_with_trl_s_vllm_fields(tiny_checkpoint, grpo_dataset, tmp_path, monkeypatch):
    from migr_hf.generation import vllm_engine

    started = []
    monkeypatch.setattr(
        vllm_engine, "VLLMWorkerBackend", lambda kwargs, python=None: started.append((kwargs, python)) or FakeVLLMBackend(kwargs)
    )
    args = MIGRGRPOConfig(
        output_dir=str(tmp_path), generation_backend="vllm", vllm_gpu_memory_utilization=0.25,
        vllm_max_model_length=1024, vllm_python="/opt/vllm/bin/python", **COMMON,
    )
    trainer = MIGRGRPOTrainer(str(tiny_checkpoint), reward_funcs=[varied_reward], args=args, train_dataset=grpo_dataset)
    ((kwargs, python),) = started
    assert python == "/opt/vllm/bin/python" and kwargs["enable_prompt_embeds"]
    assert (kwargs["gpu_memory_utilization"], kwargs["max_model_len"]) == (0.25, 1024)
    assert trainer.generation_engine.name == "vllm" and trainer.use_vllm
    trainer.generation_engine.close()
    for unsupported in ({"vllm_mode": "server"}, {"vllm_enable_sleep_mode": True}, {"vllm_tensor_parallel_size": 2}):
        with pytest.raises(ValueError, match=f"runs vLLM colocated.*does not take {next(iter(unsupported))}"):
            MIGRGRPOConfig(output_dir=str(tmp_path), generation_backend="vllm", **unsupported, **COMMON)


def test_trl_compatibility_check_names_the_tested_range():
    from trl import GRPOTrainer

    assert trl_version_is_tested(), (
        f"trl {trl.__version__} is outside the range MIGRGRPOTrainer's overrides were tested with "
        f"({trl_compat.tested_range()}): check the overridden GRPOTrainer methods against it, then move "
        "TESTED_TRL_RANGE and the pin in setup.py"
    )
    check_trl_compatibility()
    assert missing_trl_features() == []
    assert trl_version_is_tested("1.16.0") and not trl_version_is_tested("1.17.0")

    class OldGRPOTrainer(GRPOTrainer):
        _get_per_token_logps_and_entropies = staticmethod(lambda model, input_ids: None)

    with pytest.raises(RuntimeError, match=r"tested with trl >=1\.16,<1\.17; the installed trl 0\.99 lacks .*logits_to_keep"):
        check_trl_compatibility(OldGRPOTrainer, version="0.99")

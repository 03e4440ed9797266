"""MIGR SFT and GRPO trainers on the tiny model with real clips: losses, trainable/frozen parts, media in every
forward, tower reuse, rewards logged, resume, LoRA."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from helpers_emotion import build_tiny_classifier, cache_hub_model
from huggingface_hub import constants as hub_constants
from media_fixtures import make_clip, sine
from transformers import AutoModelForCausalLM, AutoProcessor
from trl import ModelConfig, ScriptArguments, TrlParser

from migr_hf.classifiers import ERV_MODEL_ID, GOEMOTIONS_LABELS
from migr_hf.rewards import MIGR_REWARDS
from migr_hf.schema import MIGR_INSTRUCTION
from migr_hf.trainers import (
    MIGRDataCollator,
    MIGRGRPOConfig,
    MIGRGRPOTrainer,
    MIGRSFTConfig,
    MIGRSFTTrainer,
    lora_config,
    migr_base_model,
    quantization_config,
)
from migr_hf.trainers.entrypoints import STAGES
from migr_hf.trainers.model_parts import QUANTIZATION_SKIP_MODULES

COMPLETIONS = (
    "<aud_desc>The voice trembles and sounds tearful.</aud_desc><vis_desc>She looks down.</vis_desc>"
    "<think>The tearful voice shows sadness.</think><answer>sad</answer>",
    "<vis_desc>He smiles broadly.</vis_desc><aud_desc>He laughs.</aud_desc>"
    "<think>The smile and laughter show joy.</think><answer>happy</answer>",
)
COMMON = dict(report_to=[], use_cpu=True, disable_tqdm=True, save_strategy="no", logging_steps=1, seed=0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return [make_clip(root / f"clip{i}.mp4", num_frames=12, width=48, height=40, audio=sine(0.6, freq=300 + 200 * i)) for i in range(2)]


@pytest.fixture(scope="module")
def sft_dataset(clips):
    return Dataset.from_list(
        [
            {"id": f"s{i}", "video": clips[i], "prompt": MIGR_INSTRUCTION, "completion": COMPLETIONS[i], "label": label}
            for i, label in enumerate(("sad", "happy"))
        ]
    )


@pytest.fixture(scope="module")
def grpo_dataset(clips):
    return Dataset.from_list(
        [
            {"id": f"g{i}", "video": clips[i], "prompt": MIGR_INSTRUCTION, "label": label, "label_set": "dfew", "modality_importance": mi}
            for i, (label, mi) in enumerate((("sad", "audio"), ("happy", "visual")))
        ]
    )


def snapshot(model):
    base = migr_base_model(model)
    parts = {
        "vision_tower": base.vision_tower,
        "audio_tower": base.audio_tower,
        "gate_encoder": base.instruction_gate.encoder,
        "video_projector": base.video_projector,
        "audio_projector": base.audio_projector,
        "gate_mlp": base.instruction_gate.mlp,
        "language_model": base.language_model,
    }
    return {name: [p.detach().clone() for p in module.parameters()] for name, module in parts.items()}


def changed(before, after):
    return {name: any(not torch.equal(a, b) for a, b in zip(before[name], after[name])) for name in before}


class MediaRecorder:
    """Records, for every forward of the base model, which media inputs it received."""

    def __init__(self, model):
        self.calls = []
        self.handle = migr_base_model(model).register_forward_pre_hook(self.record, with_kwargs=True)

    def record(self, module, args, kwargs):
        ids = kwargs.get("input_ids")
        self.calls.append(({key for key, value in kwargs.items() if value is not None}, ids.shape[1] if ids is not None else 0))

    def remove(self):
        self.handle.remove()


def test_collator_labels_only_the_assistant_turn(tiny_checkpoint, sft_dataset):
    processor = AutoProcessor.from_pretrained(tiny_checkpoint)
    batch = MIGRDataCollator(processor)([sft_dataset[0], sft_dataset[1]])
    assert batch["pixel_values_videos"].shape == (2, 8, 3, 64, 64) and batch["input_features"].shape == (2, 128, 3000)
    for row, completion in enumerate(COMPLETIONS):
        supervised = batch["labels"][row][batch["labels"][row] != -100]
        assert processor.decode(supervised) == completion + "<|im_end|>\n"
    placeholders = (batch["input_ids"] == processor.video_token_id) | (batch["input_ids"] == processor.audio_token_id)
    assert placeholders.sum() == 2 * (processor.num_video_tokens + processor.num_audio_tokens)
    assert (batch["labels"][placeholders] == -100).all()
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()


def test_collator_truncates_completions_but_never_the_prompt(tiny_checkpoint, sft_dataset):
    processor = AutoProcessor.from_pretrained(tiny_checkpoint)
    full = MIGRDataCollator(processor)([sft_dataset[0]])
    prompt_length = int((full["labels"][0] == -100).sum())
    cut = MIGRDataCollator(processor, max_length=prompt_length + 3)([sft_dataset[0]])
    assert cut["input_ids"].shape[1] == prompt_length + 3 and (cut["labels"][0] != -100).sum() == 3
    with pytest.raises(ValueError, match=r"s0: the prompt takes \d+ tokens .* more than max_length=100"):
        MIGRDataCollator(processor, max_length=100)([sft_dataset[0]])


def test_sft_trains_projectors_gate_and_lm_with_media_in_every_forward(tiny_checkpoint, sft_dataset, tmp_path):
    args = MIGRSFTConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-3, **COMMON)
    trainer = MIGRSFTTrainer(str(tiny_checkpoint), args=args, train_dataset=sft_dataset)
    before = snapshot(trainer.model)
    recorder = MediaRecorder(trainer.model)
    trainer.train()
    recorder.remove()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    assert changed(before, snapshot(trainer.model)) == {
        "vision_tower": False,
        "audio_tower": False,
        "gate_encoder": False,
        "video_projector": True,
        "audio_projector": True,
        "gate_mlp": True,
        "language_model": True,
    }
    assert len(recorder.calls) == 2
    assert all({"pixel_values_videos", "input_features", "gate_input_ids"} <= call for call, _ in recorder.calls)


def scripted_reward(completion_ids, **kwargs):
    """A reward that differs between sampled completions, so advantages (and gradients) are non-zero."""
    return [float(sum(ids) % 7) for ids in completion_ids]


def grpo_args(tmp_path, **overrides):
    fields = dict(
        output_dir=str(tmp_path),
        max_steps=2,
        num_generations=2,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=1,
        max_completion_length=6,
        learning_rate=1e-3,
        **COMMON,
    )
    fields.update(overrides)
    return MIGRGRPOConfig(**fields)


def test_grpo_two_steps_with_migr_rewards_and_tower_reuse(tiny_checkpoint, grpo_dataset, tmp_path):
    trainer = MIGRGRPOTrainer(
        str(tiny_checkpoint),
        reward_funcs=[*_migr_rewards(), scripted_reward],
        args=grpo_args(tmp_path),
        train_dataset=grpo_dataset,
    )
    before = snapshot(trainer.model)
    recorder, reference = MediaRecorder(trainer.model), MediaRecorder(trainer.ref_model)
    trainer.train()
    recorder.remove()
    reference.remove()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2 and all(torch.isfinite(torch.tensor(entry["loss"])) for entry in logs)
    for name in ("modality_aligned_order_reward", "modality_grounded_reasoning_reward", "answer_reward", "scripted_reward"):
        assert all(f"rewards/{name}/mean" in entry for entry in logs), name
    diff = changed(before, snapshot(trainer.model))
    assert not diff["vision_tower"] and not diff["audio_tower"] and not diff["gate_encoder"]
    assert diff["video_projector"] and diff["audio_projector"] and diff["gate_mlp"] and diff["language_model"]
    # one prompt per step (2 completions): towers ran once per prompt and step, never inside a model forward
    assert trainer.tower_passes.counts == {"vision": 2, "audio": 2}
    # every forward over whole sequences (generation prefill, reference log-probs, loss) got the tower states;
    # generation's one-token decode steps read the media from the KV cache
    full_forwards = [call for call, length in recorder.calls + reference.calls if length > 1]
    assert len(full_forwards) == 6  # per step: generation prefill and loss (policy), reference log-probs
    assert all({"vision_tower_states", "audio_tower_states", "gate_input_ids"} <= call for call in full_forwards)


def _migr_rewards():
    from migr_hf.rewards import get_reward_funcs

    return get_reward_funcs(MIGR_REWARDS, classifier="offline")


def test_grpo_auto_classifier_is_resolved_into_the_saved_config(tiny_checkpoint, grpo_dataset, tmp_path, monkeypatch):
    """`emotion_classifier="auto"` (the default) with ERV's model in the Hub cache: the rewards use the `erv` preset,
    and the config the trainer logs and saves says "erv"."""
    erv_copy = build_tiny_classifier(tmp_path / "erv", GOEMOTIONS_LABELS, architecture="roberta")
    cache_hub_model(tmp_path / "hub", ERV_MODEL_ID, erv_copy)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    args = grpo_args(tmp_path / "out", max_steps=1)
    assert args.emotion_classifier == "auto"
    trainer = MIGRGRPOTrainer(str(tiny_checkpoint), args=args, train_dataset=grpo_dataset)
    assert trainer.args.emotion_classifier == "erv"
    classifiers = {func.keywords["classifier"] for func in trainer.reward_funcs if hasattr(func, "keywords")}
    assert [(clf.preset, clf.name) for clf in classifiers] == [("erv", ERV_MODEL_ID)]  # one instance, shared
    trainer.train()
    assert "rewards/modality_grounded_reasoning_reward/mean" in trainer.state.log_history[0]
    trainer.save_model(str(tmp_path / "saved"))
    saved = json.loads((tmp_path / "saved" / "training_args.json").read_text())
    assert saved["emotion_classifier"] == "erv" and saved["reward_names"] == list(MIGR_REWARDS)


def test_tower_reuse_gives_the_log_probs_of_raw_media(tiny_checkpoint, grpo_dataset, tmp_path):
    trainers = {
        reuse: MIGRGRPOTrainer(
            str(tiny_checkpoint),
            reward_funcs=scripted_reward,
            args=grpo_args(tmp_path, reuse_tower_states=reuse, beta=0.0),
            train_dataset=grpo_dataset,
        )
        for reuse in (True, False)
    }
    trainers[False].model.load_state_dict(trainers[True].model.state_dict())
    rows = [dict(grpo_dataset[0]), dict(grpo_dataset[1])]
    logps = {}
    for reuse, trainer in trainers.items():
        batch = trainer._encode_prompts(rows)
        media = batch.row_media()
        assert ("vision_tower_states" in media) == reuse and ("pixel_values_videos" in media) != reuse
        completion = torch.tensor([[5, 6, 7], [8, 9, 10]])
        ids = torch.cat([torch.tensor([batch.prompt_ids[k] for k in batch.rows]), completion], dim=1)
        with torch.no_grad(), trainer._media_of(media):
            logps[reuse], _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, torch.ones_like(ids), 3)
    torch.testing.assert_close(logps[True], logps[False], atol=1e-5, rtol=1e-5)
    assert trainers[True].tower_passes.counts == {"vision": 2, "audio": 2}


def test_row_media_are_bound_for_one_trl_call_only(tiny_checkpoint, grpo_dataset, tmp_path, monkeypatch):
    """Every log-prob forward of a step reads the media of that step's rows; nothing stays bound between calls."""
    args = grpo_args(tmp_path, beta=0.04)
    trainer = MIGRGRPOTrainer(str(tiny_checkpoint), reward_funcs=scripted_reward, args=args, train_dataset=grpo_dataset)
    forward = trainer._get_per_token_logps_and_entropies
    seen = []  # (step, audio tower states of the first row) of every log-prob forward

    def recording(model, input_ids, *args, **kwargs):
        seen.append((trainer.state.global_step, trainer._forward_media["audio_tower_states"][0].clone()))
        return forward(model, input_ids, *args, **kwargs)

    monkeypatch.setattr(trainer, "_get_per_token_logps_and_entropies", recording)
    trainer.train()
    assert trainer._forward_media is None and trainer._generation_batch is None
    by_step = {step: [states for s, states in seen if s == step] for step in (0, 1)}
    assert [len(states) for states in by_step.values()] == [2, 2]  # reference log-probs, then the loss
    for states in by_step.values():
        torch.testing.assert_close(states[0], states[1])
    # one clip per step, each clip once: step 1 never sees step 0's media
    assert not torch.equal(by_step[0][0], by_step[1][0])

    monkeypatch.undo()
    batch = trainer._encode_prompts([dict(grpo_dataset[0])])
    media, ids = batch.row_media(), torch.tensor(batch.prompt_ids)
    with pytest.raises(RuntimeError, match="must be bound"):
        trainer._get_per_token_logps_and_entropies(trainer.model, ids, torch.ones_like(ids), 1)
    with pytest.raises(RuntimeError, match="generates from the prompt batch"):
        trainer._rollout([MIGR_INSTRUCTION], trainer)
    with pytest.raises(KeyError), trainer._media_of(media, batch):
        with pytest.raises(RuntimeError, match="still bound"), trainer._media_of(media):
            pass
        raise KeyError("a failing trl call")
    assert trainer._forward_media is None and trainer._generation_batch is None
    no_rows = {key: value[:0] for key, value in media.items()}
    with pytest.raises(RuntimeError, match="must be bound"), trainer._media_of(no_rows):
        trainer._get_per_token_logps_and_entropies(trainer.model, ids, torch.ones_like(ids), 1)


def test_sft_resume_restores_optimizer_and_scheduler(tiny_checkpoint, sft_dataset, tmp_path):
    def run(output_dir, resume=None, steps=3):
        args = MIGRSFTConfig(
            output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=1, learning_rate=1e-3,
            **{**COMMON, "save_strategy": "steps"}, save_steps=1,
        )
        trainer = MIGRSFTTrainer(str(tiny_checkpoint), args=args, train_dataset=sft_dataset)
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    full = run(tmp_path / "full")
    resumed = run(tmp_path / "resumed", resume=str(tmp_path / "full" / "checkpoint-1"))
    assert resumed.state.global_step == 3
    assert resumed.lr_scheduler.state_dict()["last_epoch"] == full.lr_scheduler.state_dict()["last_epoch"]
    for (name, a), b in zip(full.model.named_parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6, msg=name)
    state_full, state_resumed = full.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert state_full.keys() == state_resumed.keys()
    for key in state_full:
        torch.testing.assert_close(state_full[key]["exp_avg"], state_resumed[key]["exp_avg"], atol=1e-6, rtol=1e-6)


def test_grpo_resume_restores_optimizer_and_scheduler(tiny_checkpoint, grpo_dataset, tmp_path):
    def run(output_dir, resume=None):
        args = grpo_args(output_dir, save_strategy="steps", save_steps=1, beta=0.0)
        trainer = MIGRGRPOTrainer(str(tiny_checkpoint), reward_funcs=scripted_reward, args=args, train_dataset=grpo_dataset)
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    full = run(tmp_path / "full")
    resumed = run(tmp_path / "resumed", resume=str(tmp_path / "full" / "checkpoint-1"))
    assert resumed.state.global_step == full.state.global_step == 2
    assert resumed.lr_scheduler.state_dict() == full.lr_scheduler.state_dict()
    state_full, state_resumed = full.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert state_full.keys() == state_resumed.keys()
    assert all(state_full[k]["step"] == state_resumed[k]["step"] == 2 for k in state_full)
    for (name, a), b in zip(full.model.named_parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6, msg=name)


def test_lora_trains_adapters_projectors_and_gate_only(tiny_checkpoint, sft_dataset, tmp_path):
    args = MIGRSFTConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, **COMMON)
    trainer = MIGRSFTTrainer(str(tiny_checkpoint), args=args, train_dataset=sft_dataset, peft_config=lora_config(r=4))
    trainable = {name for name, p in trainer.model.named_parameters() if p.requires_grad}
    assert any("lora_A" in name and "language_model.layers" in name for name in trainable)
    assert any("video_projector" in name and "modules_to_save" in name for name in trainable)
    assert any("instruction_gate.mlp" in name and "modules_to_save" in name for name in trainable)
    assert not any(part in name for name in trainable for part in ("vision_tower", "audio_tower", "gate.encoder", "lm_head"))
    assert not any("language_model" in name and "lora" not in name for name in trainable)
    trainer.train()


def test_quantization_keeps_towers_projectors_gate_and_head_unquantized():
    config = quantization_config()
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4"
    assert set(config.llm_int8_skip_modules) == set(QUANTIZATION_SKIP_MODULES)
    model_modules = {"vision_tower", "audio_tower", "video_projector", "audio_projector", "instruction_gate", "lm_head"}
    assert model_modules <= set(config.llm_int8_skip_modules)


RECIPES = sorted((Path(__file__).resolve().parents[1] / "examples" / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: path.stem)
def test_recipes_parse_into_their_stage_config(recipe, tmp_path):
    """Each shipped recipe parses with the training flags; its commented vLLM lines name real fields."""
    config_class = STAGES["sft" if "_sft_" in recipe.name else "grpo"][0]
    parser = TrlParser((ScriptArguments, config_class, ModelConfig))
    _, training_args, _ = parser.parse_args_and_config(args=["--config", str(recipe), "--use_cpu", "true"])
    assert type(training_args) is config_class
    text = recipe.read_text()
    if "# vllm_" in text:
        vllm_recipe = tmp_path / recipe.name
        vllm_recipe.write_text(text.replace("generation_backend: hf", "generation_backend: vllm").replace("# vllm_", "vllm_"))
        _, training_args, _ = parser.parse_args_and_config(args=["--config", str(vllm_recipe), "--use_cpu", "true"])
        llm_kwargs = training_args.vllm_engine_kwargs()["llm_kwargs"]
        assert llm_kwargs == {"gpu_memory_utilization": 0.3, "max_model_len": 3072}


def test_trainable_towers_forbid_tower_reuse(tiny_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="reuse_tower_states needs frozen towers"):
        MIGRGRPOTrainer(str(tiny_checkpoint), reward_funcs=scripted_reward, args=grpo_args(tmp_path, train_vision_tower=True))

# The shipped multi-process configs, with the flags that put them on 2 CPU processes over gloo.
SCALE_OUT_CONFIGS = {
    "multi_gpu": ["--use_cpu", "true"],  # DDP
    # accelerate leaves CPU processes in DDP; tests/launch_grpo_on_cpu.py promotes them to FSDP2
    "fsdp": ["--use_cpu", "true"],
    # DeepSpeed's CPU accelerator; accelerate counts the processes only with an explicit backend
    "deepspeed_zero2": ["--ddp_backend", "gloo"],
    "deepspeed_zero3": ["--ddp_backend", "gloo"],
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "config",
    [
        pytest.param(config, marks=[pytest.mark.deepspeed] if config.startswith("deepspeed") else [])
        for config in SCALE_OUT_CONFIGS
    ],
)
def test_shipped_config_runs_grpo_on_two_cpu_processes(config, tiny_checkpoint, grpo_dataset, tmp_path):
    """examples/accelerate/<config>.yaml on 2 CPU processes: 2 GRPO steps on both ranks with the frozen towers run
    once per prompt (tower reuse), then a full model that loads as remote code, towers unchanged."""
    data_dir, output_dir = tmp_path / "data", tmp_path / "out"
    grpo_dataset.to_parquet(str(data_dir / "data" / "train-00000-of-00001.parquet"))
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", f"examples/accelerate/{config}.yaml",
        "--num_processes", "2", "--mixed_precision", "no", "--main_process_port", "0", "tests/launch_grpo_on_cpu.py",
        "--model_name_or_path", str(tiny_checkpoint), "--dataset_name", str(data_dir), "--output_dir", str(output_dir),
        "--max_steps", "2", "--num_generations", "2", "--per_device_train_batch_size", "2",
        "--gradient_accumulation_steps", "1", "--max_completion_length", "4", "--beta", "0.04", "--report_to", "none",
        "--save_strategy", "no", "--logging_steps", "1", "--bf16", "false", *SCALE_OUT_CONFIGS[config],
    ]
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TRL_EXPERIMENTAL_SILENCE": "1",
        "CUDA_VISIBLE_DEVICES": "", "RANK_REPORT_DIR": str(tmp_path),
    }  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank-{rank}.json").read_text()) for rank in (0, 1)]
    distributed_type = {"multi_gpu": "MULTI_CPU", "fsdp": "FSDP"}.get(config, "DEEPSPEED")
    for rank in ranks:
        assert rank["steps"] == 2 and rank["distributed_type"] == distributed_type, rank
        assert (rank["fsdp_modules"] > 1) == (config == "fsdp"), rank
        # one prompt per rank and step: the towers ran once for it, never in the policy or reference forwards
        assert rank["vision_tower_clips"] == rank["audio_tower_clips"] == 2, rank
        # torn down by the entry point, not left to interpreter exit (where gloo can abort)
        assert rank["process_group_destroyed"], rank
    saved_files = {path.name for path in output_dir.iterdir()}
    assert "model.safetensors" in saved_files and "modeling_migr_omni.py" in saved_files
    assert not any(name.startswith("_fsdp") for name in saved_files), saved_files
    auto_map = json.loads((output_dir / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForCausalLM"] == "modeling_migr_omni.MIGROmniForCausalLM"
    saved, info = AutoModelForCausalLM.from_pretrained(output_dir, trust_remote_code=True, output_loading_info=True)
    assert type(saved).__name__ == "MIGROmniForCausalLM" and not info["missing_keys"] and not info["mismatched_keys"]
    initial = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    frozen_parts = ("vision_tower", "audio_tower", "gate_encoder")
    assert not any(changed(snapshot(initial), snapshot(saved))[part] for part in frozen_parts)
    # "auto" offline without ERV's model in the cache: the lexicon, named in the saved config
    assert json.loads((output_dir / "training_args.json").read_text())["emotion_classifier"] == "offline"

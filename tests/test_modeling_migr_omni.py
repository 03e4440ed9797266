"""MIGR-Omni model: save/load, Auto classes, remote-code export, modality mixes, training features."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoProcessor, modeling_outputs
from transformers.cache_utils import Cache

import migr_hf
from migr_hf import MIGROmniConfig, MIGROmniForCausalLM, MIGROmniModel, MIGROmniProcessor
from migr_hf.models.migr_omni import modeling_migr_omni

MIXES = {"audio+video": (True, True), "video": (True, False), "audio": (False, True), "text": (False, False)}


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return AutoModelForCausalLM.from_pretrained(tiny_checkpoint).eval()


@pytest.fixture(scope="module")
def processor(tiny_checkpoint):
    return AutoProcessor.from_pretrained(tiny_checkpoint)


def prompt(processor, video: bool, audio: bool, text: str) -> str:
    """A chat prompt with expanded placeholders, as the processor builds it."""
    content = ("<video>\n" if video else "") + ("<audio>\n" if audio else "") + text
    templated = f"<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"
    return processor._expand_placeholders(templated)


def mixed_batch(processor, seed: int = 0, padding_side: str = "left"):
    """One sample of each modality mix, with random media rows for every sample."""
    texts = [prompt(processor, *MIXES[name], f"which emotion is shown, {name}?") for name in MIXES]
    generator = torch.Generator().manual_seed(seed)
    inputs = dict(processor.tokenizer(texts, padding=True, padding_side=padding_side, return_tensors="pt"))
    gate = processor.gate_tokenizer(["which emotion is shown?"] * len(texts), padding=True, return_tensors="pt")
    inputs["gate_input_ids"] = gate["input_ids"]
    inputs["gate_attention_mask"] = gate["attention_mask"]
    inputs["pixel_values_videos"] = torch.randn(len(texts), 8, 3, 64, 64, generator=generator)
    inputs["input_features"] = torch.randn(len(texts), 128, 3000, generator=generator)
    return texts, inputs


def single(inputs, index: int, processor, texts):
    row = dict(processor.tokenizer([texts[index]], return_tensors="pt"))
    for key in ("gate_input_ids", "gate_attention_mask", "pixel_values_videos", "input_features"):
        row[key] = inputs[key][index : index + 1]
    return row


def test_auto_classes_resolve(tiny_checkpoint):
    assert type(AutoConfig.from_pretrained(tiny_checkpoint)) is MIGROmniConfig
    assert type(AutoModel.from_pretrained(tiny_checkpoint)) is MIGROmniModel
    assert type(AutoModelForCausalLM.from_pretrained(tiny_checkpoint)) is MIGROmniForCausalLM
    assert type(AutoProcessor.from_pretrained(tiny_checkpoint)) is MIGROmniProcessor
    saved = json.loads((tiny_checkpoint / "config.json").read_text())
    assert saved["model_type"] == "migr_omni"
    assert saved["auto_map"]["AutoModelForCausalLM"] == "modeling_migr_omni.MIGROmniForCausalLM"


def test_save_load_round_trip_gives_identical_logits(model, processor, tmp_path):
    _, inputs = mixed_batch(processor)
    with torch.no_grad():
        before = model(**inputs).logits
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        after = reloaded(**inputs).logits
    assert torch.equal(before, after)


def test_remote_code_export_loads_without_migr_hf(model, processor, tmp_path):
    """The saved checkpoint loads with trust_remote_code in a process where migr_hf cannot be imported."""
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert {"modeling_migr_omni.py", "configuration_migr_omni.py", "processing_migr_omni.py", "media.py"} <= set(
        os.listdir(tmp_path)
    )
    _, inputs = mixed_batch(processor)
    torch.save(inputs, tmp_path / "inputs.pt")
    with torch.no_grad():
        torch.save(model(**inputs).logits, tmp_path / "expected.pt")
    script = f"""
import sys
sys.modules["migr_hf"] = None  # any import of migr_hf now fails
import torch
from transformers import AutoModelForCausalLM, AutoProcessor
path = {str(tmp_path)!r}
model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained(path, trust_remote_code=True)
assert not type(model).__module__.startswith("migr_hf"), type(model).__module__
assert type(processor).__name__ == "MIGROmniProcessor"
inputs = torch.load(path + "/inputs.pt")
with torch.no_grad():
    logits = model(**inputs).logits
assert torch.allclose(logits, torch.load(path + "/expected.pt"), atol=1e-5), (logits - torch.load(path + "/expected.pt")).abs().max()
print("remote-code-ok")
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "remote-code-ok" in result.stdout


@pytest.mark.parametrize("transformers_first", [False, True], ids=["migr_hf-first", "transformers-first"])
def test_import_migr_hf_registers_with_the_auto_classes(tiny_checkpoint, transformers_first):
    """In a fresh interpreter, `import migr_hf` (light: no torch) and then transformers' Auto classes load the
    checkpoint without `trust_remote_code`, whichever of the two is imported first."""
    imports = "import transformers\nimport migr_hf" if transformers_first else "import migr_hf"
    script = f"""
import sys
{imports}
assert {transformers_first!r} or "torch" not in sys.modules, "import migr_hf loaded torch"
from transformers import AutoConfig, AutoModelForCausalLM, AutoProcessor
path = {str(tiny_checkpoint)!r}
model = AutoModelForCausalLM.from_pretrained(path)
processor = AutoProcessor.from_pretrained(path)
config = AutoConfig.from_pretrained(path)
print(type(model).__module__, type(model).__name__, type(processor).__name__, type(config).__name__)
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [
        "migr_hf.models.migr_omni.modeling_migr_omni",
        "MIGROmniForCausalLM",
        "MIGROmniProcessor",
        "MIGROmniConfig",
    ]


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_mixed_batch_matches_single_samples(model, processor, padding_side):
    texts, inputs = mixed_batch(processor, padding_side=padding_side)
    with torch.no_grad():
        batch_logits = model(**inputs).logits
        for index in range(len(texts)):
            alone = model(**single(inputs, index, processor, texts)).logits[0]
            mask = inputs["attention_mask"][index].bool()
            torch.testing.assert_close(batch_logits[index][mask], alone, atol=1e-4, rtol=1e-4)


def test_generate_each_modality_mix_in_one_batch(tiny_checkpoint, processor):
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint).eval()
    with torch.no_grad():  # larger random weights, so greedy outputs depend on the inputs
        for parameter in model.model.language_model.parameters():
            if parameter.dim() > 1:
                torch.nn.init.normal_(parameter, std=0.3)
    texts, inputs = mixed_batch(processor)
    with torch.no_grad():
        batch = model.generate(**inputs, max_new_tokens=8, do_sample=False)[:, inputs["input_ids"].shape[1] :]
        alone = [
            model.generate(**single(inputs, index, processor, texts), max_new_tokens=8, do_sample=False)[0, -8:]
            for index in range(len(texts))
        ]
    assert batch.shape == (len(texts), 8)
    for index, expected in enumerate(alone):
        assert batch[index].tolist() == expected.tolist(), list(MIXES)[index]
    assert len({tuple(row.tolist()) for row in batch}) > 1


def test_absent_modalities_run_no_tower(model, processor):
    """Towers see only the rows of samples that hold their placeholders; text-only runs neither."""
    seen = {"vision": [], "audio": []}
    hooks = [
        model.model.vision_tower.register_forward_hook(lambda m, args, out: seen["vision"].append(args[0].shape[0])),
        model.model.audio_tower.register_forward_hook(lambda m, args, out: seen["audio"].append(args[0].shape[0])),
    ]
    try:
        _, inputs = mixed_batch(processor)
        with torch.no_grad():
            model(**inputs)
        assert seen == {"vision": [2 * 8], "audio": [2]}  # two samples with video (8 frames each), two with audio
        seen["vision"].clear()
        seen["audio"].clear()
        text_only = dict(processor.tokenizer(["<|im_start|>user\nhello<|im_end|>\n"], return_tensors="pt"))
        with torch.no_grad():
            model(**text_only, pixel_values_videos=inputs["pixel_values_videos"][:1], input_features=inputs["input_features"][:1])
        assert seen == {"vision": [], "audio": []}
    finally:
        for hook in hooks:
            hook.remove()


def test_wrong_placeholder_count_is_a_clear_error(model, processor):
    text = "<|im_start|>user\n" + "<video>" * 5 + "hello<|im_end|>\n"
    ids = processor.tokenizer([text], return_tensors="pt")
    with pytest.raises(ValueError, match="sample 0 has 5 video placeholder tokens"):
        model(**ids, pixel_values_videos=torch.zeros(1, 8, 3, 64, 64), gate_input_ids=torch.ones(1, 3, dtype=torch.long))


def test_precomputed_features_equal_tower_outputs(model, processor):
    _, inputs = mixed_batch(processor)
    with torch.no_grad():
        direct = model(**inputs).logits
        video = model.get_video_features(inputs["pixel_values_videos"], inputs["gate_input_ids"], inputs["gate_attention_mask"])
        audio = model.get_audio_features(inputs["input_features"])
        reused = {k: v for k, v in inputs.items() if k not in ("pixel_values_videos", "input_features")}
        cached = model(**reused, video_features=video, audio_features=audio).logits
    torch.testing.assert_close(direct, cached, atol=1e-5, rtol=1e-5)


def test_logits_to_keep(model, processor):
    _, inputs = mixed_batch(processor)
    with torch.no_grad():
        full = model(**inputs).logits
        last = model(**inputs, logits_to_keep=3).logits
    assert last.shape == (full.shape[0], 3, full.shape[2])
    torch.testing.assert_close(last, full[:, -3:], atol=1e-5, rtol=1e-5)


def test_sdpa_and_eager_attention_agree(tiny_checkpoint, processor):
    _, inputs = mixed_batch(processor, padding_side="right")
    logits = {}
    for implementation in ("sdpa", "eager"):
        model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, attn_implementation=implementation).eval()
        assert model.model.language_model.config._attn_implementation == implementation
        with torch.no_grad():
            logits[implementation] = model(**inputs).logits
    mask = inputs["attention_mask"].bool()
    torch.testing.assert_close(logits["sdpa"][mask], logits["eager"][mask], atol=1e-4, rtol=1e-4)


def test_training_step_with_gradient_checkpointing_and_labels(tiny_checkpoint, processor):
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    model.gradient_checkpointing_enable()
    model.train()
    assert model.model.language_model.gradient_checkpointing
    texts, inputs = mixed_batch(processor, padding_side="right")
    labels = inputs["input_ids"].clone()
    for token_id in (model.config.video_token_id, model.config.audio_token_id, processor.tokenizer.pad_token_id):
        labels[labels == token_id] = -100
    loss = model(**inputs, labels=labels).loss
    assert torch.isfinite(loss)
    loss.backward()
    for name in ("video_projector", "audio_projector", "instruction_gate", "language_model"):
        grads = [p.grad for p in getattr(model.model, name).parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), name


def test_bfloat16_forward(tiny_checkpoint, processor):
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.bfloat16).eval()
    assert model.dtype == torch.bfloat16
    _, inputs = mixed_batch(processor)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()


def test_config_token_counts_follow_the_spec():
    """Visual tokens per clip (spec section 4.8)."""
    small = dict(projector_type="all_in_one_small", vision_config=dict(model_type="siglip_vision_model", image_size=224, patch_size=16, hidden_size=768))
    assert MIGROmniConfig(**small).num_video_tokens() == 392
    assert MIGROmniConfig(**small, use_slow_fast_compressor=True).num_video_tokens() == 170
    assert MIGROmniConfig().num_video_tokens() == 1568
    assert MIGROmniConfig(use_slow_fast_compressor=True).num_video_tokens() == 784
    assert MIGROmniConfig(use_slow_fast_compressor=True).num_video_tokens(32) == 3136
    assert MIGROmniConfig().num_audio_tokens == 500
    assert MIGROmniConfig().gate_hidden_size == 3584
    with pytest.raises(Exception, match="projector_type"):
        MIGROmniConfig(projector_type="qformer")


def test_package_registration_is_idempotent():
    import importlib

    importlib.reload(migr_hf)
    assert AutoConfig.for_model("migr_omni").__class__ is MIGROmniConfig


def test_branch_grids_must_agree():
    """all_in_one pads the Conv3d spatially, so only an odd patch grid gives the face branch's token count."""
    vision = dict(model_type="siglip_vision_model", image_size=64, patch_size=8)
    with pytest.raises(Exception, match="5x5 tokens in the Conv3d branches but 4x4 in the face branch"):
        MIGROmniConfig(projector_type="all_in_one", vision_config=vision)
    assert MIGROmniConfig(projector_type="all_in_one_small", vision_config=vision).num_video_tokens() == 8 * 16


def test_precomputed_tower_states_equal_raw_media_and_keep_projector_gradients(tiny_checkpoint, processor):
    """Frozen-tower outputs can be computed once and fed back; projectors and gate still run (and train)."""
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    _, inputs = mixed_batch(processor, padding_side="right")
    with torch.no_grad():
        vision = model.model.get_vision_tower_states(inputs["pixel_values_videos"])
        audio = model.model.get_audio_tower_states(inputs["input_features"])
        direct = model(**inputs).logits
    reused = {k: v for k, v in inputs.items() if k not in ("pixel_values_videos", "input_features")}
    outputs = model(**reused, vision_tower_states=vision, audio_tower_states=audio)
    torch.testing.assert_close(outputs.logits, direct, atol=1e-5, rtol=1e-5)
    outputs.logits.sum().backward()
    assert model.model.video_projector.mlp_2xgelu_face[0].weight.grad.abs().sum() > 0
    assert model.model.instruction_gate.mlp[0].weight.grad.abs().sum() > 0
    assert model.model.audio_projector[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.model.vision_tower.parameters())


@pytest.mark.parametrize(
    ("ours", "upstream"),
    [
        ("MIGROmniModelOutputWithPast", "BaseModelOutputWithPast"),
        ("MIGROmniCausalLMOutputWithPast", "CausalLMOutputWithPast"),
    ],
)
def test_output_classes_carry_every_transformers_field(ours, upstream):
    """Each output class accepts, under the same names, every field of the transformers output it extends."""
    ours, upstream = getattr(modeling_migr_omni, ours), getattr(modeling_outputs, upstream)
    assert issubclass(ours, upstream)
    values = {field.name: torch.zeros(1) for field in dataclasses.fields(upstream)}
    output = ours(**values)
    assert all(output[name] is values[name] for name in values)


def test_forward_outputs_carry_the_language_model_cache(model, processor):
    """The cache field transformers' own models return (whatever its name) reaches both output classes."""
    _, inputs = mixed_batch(processor)
    text_only = {key: inputs[key][3:] for key in ("input_ids", "attention_mask")}
    with torch.no_grad():
        reference = model.model.language_model(**text_only, use_cache=True)
        base = model.model(**text_only, use_cache=True)
        causal = model(**text_only, use_cache=True)
    cache_fields = [name for name, value in reference.items() if isinstance(value, Cache)]
    assert cache_fields, "the language model returned no cache"
    for name in cache_fields:
        assert isinstance(base[name], Cache) and isinstance(causal[name], Cache)

"""HumanOmni / R1-Omni -> MIGR-Omni conversion: key coverage, tower fallbacks, tokenizer, errors."""

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoProcessor, BertModel, SiglipVisionModel, WhisperForConditionalGeneration

from migr_hf import MIGROmniForCausalLM
from migr_hf.models.migr_omni.convert_humanomni_to_migr_omni import ConversionError, convert_humanomni_checkpoint
from migr_hf.schema import REASONING_TAGS
from migr_hf.testing.tiny import build_tiny_gate_tokenizer, build_tiny_tokenizer, tiny_config

# MIGR-Omni prefix -> HumanOmni prefix, as the architecture spec (section 2.2) names them.
HUMANOMNI_PREFIXES = (
    ("model.language_model.", "model."),
    ("model.vision_tower.", "model.vision_tower.vision_tower.vision_model."),
    ("model.audio_tower.", "model.audio_tower.audio_tower.encoder."),
    ("model.video_projector.", "model.mm_projector."),
    ("model.instruction_gate.encoder.", "model.bert_model."),
    ("model.instruction_gate.mlp.", "model.bert_gate."),
    ("model.audio_projector.", "model.audio_projector."),
    ("lm_head.", "lm_head."),
)


def humanomni_state_dict(model: MIGROmniForCausalLM, with_towers: bool) -> dict[str, torch.Tensor]:
    state = {}
    for key, value in model.state_dict().items():
        source = next(old + key[len(new) :] for new, old in HUMANOMNI_PREFIXES if key.startswith(new))
        if not with_towers and (".vision_tower." in source or ".audio_tower." in source):
            continue
        if model.config.tie_word_embeddings and key == "lm_head.weight":
            continue
        state[source] = value.clone().contiguous()
    return state


def write_humanomni_checkpoint(
    directory, model, *, with_towers=True, compressor=False, as_bin=False, tokenizer=None, gate_tokenizer_dir=None
):
    """A checkpoint directory laid out like HumanOmni's, with SigLIP/Whisper/BERT directories beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    config = model.config
    state = humanomni_state_dict(model, with_towers)
    state["model.bert_model.pooler.dense.weight"] = torch.randn(config.gate_config.hidden_size, config.gate_config.hidden_size)
    state["model.bert_model.pooler.dense.bias"] = torch.randn(config.gate_config.hidden_size)
    if with_towers:
        state["model.audio_tower.audio_tower.projector.weight"] = torch.randn(256, config.audio_config.d_model)
        state["model.audio_tower.audio_tower.classifier.weight"] = torch.randn(2, 256)
    if compressor:
        width = config.vision_config.hidden_size
        for name in ("vlm_query_projector", "vlm_key_projector"):
            state[f"model.feature_compressor.{name}.weight"] = torch.randn(256, width)
            state[f"model.feature_compressor.{name}.bias"] = torch.randn(256)
    if as_bin:
        keys = sorted(state)
        shards = {"pytorch_model-00001-of-00002.bin": keys[: len(keys) // 2], "pytorch_model-00002-of-00002.bin": keys[len(keys) // 2 :]}
        for name, shard_keys in shards.items():
            torch.save({k: state[k] for k in shard_keys}, directory / name)
        weight_map = {k: name for name, shard_keys in shards.items() for k in shard_keys}
        (directory / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    else:
        save_file(state, directory / "model.safetensors")
    text = config.text_config
    (directory / "config.json").write_text(
        json.dumps(
            {
                "model_type": "HumanOmni_qwen2",
                "architectures": ["HumanOmniQwen2ForCausalLM"],
                **{k: getattr(text, k) for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "rms_norm_eps", "tie_word_embeddings")},
                "rope_theta": text.rope_parameters["rope_theta"],
                "mm_vision_tower": "./siglip",
                "mm_audio_tower": "./whisper",
                "mm_hidden_size": config.vision_config.hidden_size,
                "mm_projector_type": config.projector_type,
                "mm_audio_projector_type": "mlp2x_gelu",
                "audio_hidden_size": config.audio_config.d_model,
                "mm_vision_select_layer": -2,
                "mm_vision_select_feature": "patch",
                "mm_use_x_start_end": True,
                "num_frames": config.num_frames,
                "image_aspect_ratio": "pad",
                "hyper_layers": [15, 22],
                "torch_dtype": "float32",
            }
        )
    )
    siglip = SiglipVisionModel(config.vision_config)
    siglip.load_state_dict(model.model.vision_tower.state_dict())
    siglip.save_pretrained(directory / "siglip")
    from transformers import SiglipImageProcessorPil, WhisperFeatureExtractor

    SiglipImageProcessorPil(size={"height": config.vision_config.image_size, "width": config.vision_config.image_size}).save_pretrained(directory / "siglip")
    whisper = WhisperForConditionalGeneration(config.audio_config)
    whisper.model.encoder.load_state_dict(model.model.audio_tower.state_dict())
    whisper.save_pretrained(directory / "whisper")
    WhisperFeatureExtractor(feature_size=128).save_pretrained(directory / "whisper")
    bert = BertModel(config.gate_config)
    bert.load_state_dict(model.model.instruction_gate.encoder.state_dict(), strict=False)
    bert.save_pretrained(directory / "bert")
    if gate_tokenizer_dir is not None:
        shutil.copy(gate_tokenizer_dir / "vocab.txt", directory / "bert" / "vocab.txt")
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    return directory


def reference_model(tmp_path, spare_rows=12, **overrides):
    tokenizer = build_tiny_tokenizer()
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()
    gate_tokenizer = build_tiny_gate_tokenizer(gate_dir)
    config = tiny_config(vocab_size=len(tokenizer) + spare_rows, gate_vocab_size=len(gate_tokenizer), video_token_id=0, audio_token_id=1, **overrides)
    torch.manual_seed(0)
    return MIGROmniForCausalLM(config).eval(), tokenizer, gate_dir


def test_fixture_converts_with_every_key_accounted_for(humanomni_fixture, tmp_path):
    report = convert_humanomni_checkpoint(humanomni_fixture / "checkpoint", tmp_path, video_token_id=423, audio_token_id=424)
    assert report.mapped == 298
    assert sorted(report.dropped) == [
        "model.audio_tower.audio_tower.classifier.bias",
        "model.audio_tower.audio_tower.classifier.weight",
        "model.audio_tower.audio_tower.projector.bias",
        "model.audio_tower.audio_tower.projector.weight",
        "model.bert_model.pooler.dense.bias",
        "model.bert_model.pooler.dense.weight",
    ]
    assert not report.use_slow_fast_compressor
    _, info = AutoModelForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == set() or not info["missing_keys"]
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["gate_hidden_size"] == 40 and config["projector_type"] == "all_in_one_small"
    assert config["text_config"]["tie_word_embeddings"] is True


def test_seven_b_layout_with_bin_shards_towers_from_upstream_and_tokenizer(tmp_path):
    """all_in_one projector, untied head, slow-fast compressor weights, .bin shards, towers only upstream."""
    model, tokenizer, gate_dir = reference_model(
        tmp_path,
        projector_type="all_in_one",
        use_slow_fast_compressor=True,
        vision_config=dict(image_size=56, patch_size=8),
    )
    model.config.text_config.tie_word_embeddings = False
    model.config.tie_word_embeddings = False
    source = write_humanomni_checkpoint(
        tmp_path / "humanomni", model, with_towers=False, compressor=True, as_bin=True, tokenizer=tokenizer, gate_tokenizer_dir=gate_dir
    )
    report = convert_humanomni_checkpoint(source, tmp_path / "out")
    assert report.use_slow_fast_compressor  # detected from the feature_compressor keys
    assert report.tower_sources["vision"].endswith("siglip") and report.tower_sources["audio"].endswith("whisper")
    assert report.tower_sources["gate encoder"] == str(source)
    assert set(report.added_tokens) == {"<video>", "<audio>", *REASONING_TAGS}

    converted = AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    processor = AutoProcessor.from_pretrained(tmp_path / "out")
    assert converted.config.use_slow_fast_compressor and converted.config.projector_type == "all_in_one"
    assert processor.num_video_tokens == converted.config.num_video_tokens() == 8 * 2 * 2 + 2 * 4 * 4  # g=7, g'=4
    assert converted.config.video_token_id == processor.video_token_id
    frames, mels = torch.randn(1, 8, 3, 56, 56), torch.randn(1, 128, 3000)
    gate = processor.gate_tokenizer(["which emotion is shown?"], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(converted.get_video_features(frames, gate["input_ids"]), model.get_video_features(frames, gate["input_ids"]))
        torch.testing.assert_close(converted.get_audio_features(mels), model.get_audio_features(mels))
        text_ids = tokenizer(["The emotion is sad."], return_tensors="pt")["input_ids"]
        base = len(tokenizer)
        torch.testing.assert_close(converted(input_ids=text_ids).logits[..., :base], model(input_ids=text_ids).logits[..., :base])
        embeddings = converted.get_input_embeddings().weight
        tag_rows = embeddings[processor.tokenizer.convert_tokens_to_ids(list(REASONING_TAGS))]
        torch.testing.assert_close(tag_rows, embeddings[:base].mean(0).expand_as(tag_rows))
    assert len(processor.tokenizer) <= converted.get_input_embeddings().num_embeddings


def test_tokenizer_larger_than_the_embedding_resizes(tmp_path):
    model, tokenizer, gate_dir = reference_model(tmp_path, spare_rows=0)
    source = write_humanomni_checkpoint(tmp_path / "humanomni", model, tokenizer=tokenizer, gate_tokenizer_dir=gate_dir)
    convert_humanomni_checkpoint(source, tmp_path / "out")
    converted = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    processor = AutoProcessor.from_pretrained(tmp_path / "out")
    rows = converted.get_input_embeddings().num_embeddings
    assert rows >= len(processor.tokenizer) and rows % 64 == 0
    assert converted.config.text_config.vocab_size == rows


def test_reasoning_tags_and_frame_rules_can_follow_the_baseline_exactly(tmp_path):
    model, tokenizer, gate_dir = reference_model(tmp_path)
    source = write_humanomni_checkpoint(tmp_path / "humanomni", model, tokenizer=tokenizer, gate_tokenizer_dir=gate_dir)
    report = convert_humanomni_checkpoint(
        source, tmp_path / "out", add_reasoning_tags=False, frame_mode="squash", frame_selection="index"
    )
    assert report.added_tokens == ["<video>", "<audio>"]
    processor = AutoProcessor.from_pretrained(tmp_path / "out")
    assert (processor.frame_mode, processor.frame_selection) == ("squash", "index")  # the baselines' frames
    text = "Output the thinking process in <think> </think> tags."
    assert processor.tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]


def test_unmapped_and_missing_keys_are_listed(tmp_path):
    model, tokenizer, gate_dir = reference_model(tmp_path)
    source = write_humanomni_checkpoint(tmp_path / "humanomni", model, tokenizer=tokenizer, gate_tokenizer_dir=gate_dir)
    state = humanomni_state_dict(model, with_towers=True)
    state["model.mystery_adapter.weight"] = torch.zeros(2)
    del state["model.mm_projector.readout_video.2.bias"]
    save_file(state, source / "model.safetensors")
    with pytest.raises(ConversionError) as error:
        convert_humanomni_checkpoint(source, tmp_path / "out")
    message = str(error.value)
    assert "unmapped source keys (1): ['model.mystery_adapter.weight']" in message
    assert "missing parameters (1): ['model.video_projector.readout_video.2.bias']" in message


def test_missing_tower_directory_is_a_clear_error(tmp_path):
    model, tokenizer, gate_dir = reference_model(tmp_path)
    source = write_humanomni_checkpoint(tmp_path / "humanomni", model, with_towers=False, tokenizer=tokenizer, gate_tokenizer_dir=gate_dir)
    shutil.rmtree(source / "whisper")
    with pytest.raises(ConversionError, match="audio tower: no local directory with a config.json"):
        convert_humanomni_checkpoint(source, tmp_path / "out")


def test_not_a_humanomni_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ConversionError, match="'llama' is not a HumanOmni checkpoint"):
        convert_humanomni_checkpoint(tmp_path, tmp_path / "out")


def test_no_tokenizer_needs_placeholder_ids(humanomni_fixture, tmp_path):
    with pytest.raises(ConversionError, match="no tokenizer found"):
        convert_humanomni_checkpoint(humanomni_fixture / "checkpoint", tmp_path / "out")

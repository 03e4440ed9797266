"""Convert a HumanOmni / R1-Omni checkpoint directory into a MIGR-Omni checkpoint.

A HumanOmni checkpoint is a `HumanOmni_qwen2` `config.json` plus safetensors or `.bin` shards whose keys
use the original module names (`model.mm_projector.*`, `model.bert_model.*`, ...). The SigLIP and
Whisper towers are referenced by path (`mm_vision_tower` / `mm_audio_tower`) and the BERT gate encoder by a
hard-coded name; the tower weights stored in the checkpoint are used when present, else those of the
tower directories. The gate's BERT always comes from the checkpoint when present (GRPO trains it).

Every source key is either mapped to a MIGR-Omni parameter or dropped for a documented reason (unused
heads); any other key, or any parameter left without a value, makes the conversion fail with both lists.

Usage: `migr-hf convert SOURCE_DIR OUTPUT_DIR [--vision-tower DIR] [--audio-tower DIR] [--bert DIR]`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from safetensors import safe_open
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertConfig,
    BertTokenizer,
    PreTrainedTokenizerBase,
    SiglipImageProcessorPil,
    WhisperFeatureExtractor,
)
from transformers.utils import logging

from ...schema import REASONING_TAGS
from .configuration_migr_omni import MIGROmniConfig
from .modeling_migr_omni import MIGROmniForCausalLM
from .processing_migr_omni import MIGROmniProcessor

logger = logging.get_logger(__name__)

HUMANOMNI_MODEL_TYPES = ("HumanOmni_qwen2",)
QWEN2_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "sliding_window",
    "use_sliding_window",
    "max_window_layers",
    "attention_dropout",
    "tie_word_embeddings",
    "bos_token_id",
    "eos_token_id",
    "initializer_range",
)

TensorLoader = Callable[[], torch.Tensor]


class ConversionError(ValueError):
    """The source checkpoint cannot be converted; the message lists what is wrong."""


@dataclass
class ConversionReport:
    """What a conversion did.

    Attributes:
        output_dir: The written MIGR-Omni checkpoint.
        mapped: Number of target parameters written.
        dropped: Source key -> reason, for keys deliberately left out.
        tower_sources: Part ("vision", "audio", "gate encoder") -> where its weights came from.
        added_tokens: Tokens added to the tokenizer (empty when no tokenizer was converted).
        use_slow_fast_compressor: The compressor flag written to the config.
    """

    output_dir: Path
    mapped: int = 0
    dropped: dict[str, str] = field(default_factory=dict)
    tower_sources: dict[str, str] = field(default_factory=dict)
    added_tokens: list[str] = field(default_factory=list)
    use_slow_fast_compressor: bool = False


def prepare_tokenizer(
    tokenizer: PreTrainedTokenizerBase,
    video_token: str = "<video>",
    audio_token: str = "<audio>",
    add_reasoning_tags: bool = True,
) -> list[str]:
    """Add the media placeholders and the MIGR reasoning tags to a tokenizer; returns the tokens added.

    Placeholders are special tokens (dropped by `skip_special_tokens=True` decoding). The reasoning tags
    (`<aud_desc>`, `</aud_desc>`, `<vis_desc>`, `</vis_desc>`, `<think>`, ...) are ordinary added tokens: one
    id each, yet kept when decoding with `skip_special_tokens=True`, as trl decodes completions. Adding the
    tags changes how a prompt that mentions them (e.g. "in <think> </think>") is tokenized; pass
    `add_reasoning_tags=False` to keep the original vocabulary for exact reproduction of a baseline.
    """
    vocabulary = tokenizer.get_vocab()
    placeholders = [token for token in (video_token, audio_token) if token not in vocabulary]
    if placeholders:
        tokenizer.add_special_tokens({"extra_special_tokens": placeholders}, replace_extra_special_tokens=False)
    tags = [tag for tag in REASONING_TAGS if tag not in vocabulary] if add_reasoning_tags else []
    if tags:
        tokenizer.add_tokens(tags)
    return placeholders + tags


def _target_key(key: str, projector_type: str) -> tuple[str | None, str | None]:
    """Map one HumanOmni key to `(migr_omni_key, None)`, or `(None, reason)` when it is deliberately dropped.

    Returns `(None, None)` for a key no rule knows.
    """
    rules: tuple[tuple[str, str | None, str | None], ...] = (
        (r"^model\.(embed_tokens|layers|norm)\.", r"model.language_model.\1.", None),
        (r"^lm_head\.weight$", "lm_head.weight", None),
        (r"^model\.vision_tower\.vision_tower\.vision_model\.", "model.vision_tower.", None),
        (r"^model\.audio_tower\.audio_tower\.encoder\.", "model.audio_tower.", None),
        (r"^model\.audio_tower\.audio_tower\.(projector|classifier)\.", None, "unused audio-classification head"),
        (r"^model\.audio_projector\.", "model.audio_projector.", None),
        (r"^model\.bert_model\.pooler\.", None, "BERT pooler, unused by the gate ([CLS] state is read)"),
        (r"^model\.bert_model\.", "model.instruction_gate.encoder.", None),
        (r"^model\.bert_gate\.", "model.instruction_gate.mlp.", None),
        (r"^model\.feature_compressor\.", None, "slow-fast compressor projections, never used in forward"),
    )
    for pattern, replacement, reason in rules:
        if re.match(pattern, key):
            return (re.sub(pattern, replacement, key) if replacement is not None else None), reason
    if key.startswith("model.mm_projector."):
        rest = key[len("model.mm_projector.") :]
        if projector_type == "mlp2x_gelu":
            return f"model.video_projector.mlp.{rest}", None
        return f"model.video_projector.{rest}", None
    return None, None


def _open_state_dict(directory: Path, stack: ExitStack) -> dict[str, TensorLoader]:
    """Lazily readable tensors of a checkpoint directory (safetensors or `.bin`, sharded or not)."""
    for index_name, single_name in (
        ("model.safetensors.index.json", "model.safetensors"),
        ("pytorch_model.bin.index.json", "pytorch_model.bin"),
    ):
        index_file, single_file = directory / index_name, directory / single_name
        if index_file.exists():
            shard_names = sorted(set(json.loads(index_file.read_text())["weight_map"].values()))
            files = [directory / name for name in shard_names]
        elif single_file.exists():
            files = [single_file]
        else:
            continue
        loaders: dict[str, TensorLoader] = {}
        for file in files:
            if file.suffix == ".safetensors":
                handle = stack.enter_context(safe_open(str(file), framework="pt"))
                loaders.update({key: (lambda h=handle, k=key: h.get_tensor(k)) for key in handle.keys()})
            else:
                tensors = torch.load(file, map_location="cpu", weights_only=True)
                loaders.update({key: (lambda t=tensor: t) for key, tensor in tensors.items()})
        return loaders
    raise ConversionError(f"{directory}: no model.safetensors, pytorch_model.bin or sharded index found")


def _select_part(loaders: dict[str, TensorLoader], keep: tuple[str, ...], skip: tuple[str, ...]) -> dict[str, TensorLoader]:
    """Keys of one part of an upstream checkpoint: those under the first `keep` prefix found (stripped), or
    every key of a bare module; keys starting with `skip` (after stripping) are left out."""
    for prefix in keep:
        selected = {key[len(prefix) :]: loader for key, loader in loaders.items() if key.startswith(prefix)}
        if selected:
            break
    else:
        selected = dict(loaders)
    return {key: loader for key, loader in selected.items() if not key.startswith(skip)}


def _resolve_dir(explicit: str | os.PathLike | None, recorded: str | None, source_dir: Path, what: str) -> Path:
    """The local directory of a tower/encoder: the explicit path, else the config's path (relative to the source)."""
    candidates = [Path(explicit)] if explicit is not None else []
    if recorded:
        candidates += [source_dir / recorded, Path(recorded)]
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates) or "nothing"
    raise ConversionError(
        f"{what}: no local directory with a config.json (tried {tried}); pass it explicitly "
        f"(e.g. --{what.replace(' ', '-')} DIR); nothing is downloaded"
    )


def _vision_config(directory: Path):
    config = AutoConfig.from_pretrained(directory)
    return config.vision_config if config.model_type == "siglip" else config


def convert_humanomni_checkpoint(
    source_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    vision_tower: str | os.PathLike | None = None,
    audio_tower: str | os.PathLike | None = None,
    bert: str | os.PathLike | None = None,
    tokenizer: str | os.PathLike | None = None,
    slow_fast: Literal["auto", "on", "off"] = "auto",
    add_reasoning_tags: bool = True,
    video_token_id: int | None = None,
    audio_token_id: int | None = None,
    frame_mode: str = "pad",
    frame_selection: str = "time",
    max_shard_size: str = "5GB",
) -> ConversionReport:
    """Convert a HumanOmni-7B, HumanOmni-0.5B or R1-Omni-0.5B checkpoint directory into `output_dir`.

    Args:
        source_dir: The HumanOmni checkpoint (config.json + weights, optionally tokenizer files).
        output_dir: Where the MIGR-Omni checkpoint (sharded safetensors, config, processor) is written.
        vision_tower / audio_tower: Local SigLIP / Whisper directories; default: `mm_vision_tower` /
            `mm_audio_tower` of the config, resolved relative to `source_dir`.
        bert: Local BERT directory (config + WordPiece vocabulary); default `source_dir/bert`.
        tokenizer: Directory of the Qwen tokenizer; default `source_dir` when it holds tokenizer files.
            Without a tokenizer only the model is written and the placeholder ids must be given.
        slow_fast: Use HumanOmni's slow-fast compressor: `"auto"` turns it on when the checkpoint has
            `feature_compressor` weights (the HumanOmni repository's code path), `"on"` / `"off"` force it.
        add_reasoning_tags: Add the MIGR reasoning tags to the tokenizer (see `prepare_tokenizer`).
        video_token_id / audio_token_id: Placeholder ids when no tokenizer is converted.
        frame_mode: The processor's default frame transform, `"pad"` or `"squash"`.
        frame_selection: The processor's default frame choice, `"time"` or `"index"` (the baselines' decord rule).
        max_shard_size: Safetensors shard size.
    """
    source_dir, output_dir = Path(source_dir), Path(output_dir)
    config_file = source_dir / "config.json"
    if not config_file.is_file():
        raise ConversionError(f"{source_dir}: no config.json")
    source_config = json.loads(config_file.read_text())
    if source_config.get("model_type") not in HUMANOMNI_MODEL_TYPES:
        raise ConversionError(
            f"{config_file}: model_type {source_config.get('model_type')!r} is not a HumanOmni checkpoint "
            f"({', '.join(HUMANOMNI_MODEL_TYPES)})"
        )
    if source_config.get("mm_vision_select_feature", "patch") != "patch":
        raise ConversionError(f"{config_file}: mm_vision_select_feature must be 'patch'")
    if source_config.get("mm_audio_projector_type", "mlp2x_gelu") != "mlp2x_gelu":
        raise ConversionError(f"{config_file}: only mm_audio_projector_type 'mlp2x_gelu' exists in HumanOmni")
    projector_type = source_config.get("mm_projector_type", "all_in_one")
    report = ConversionReport(output_dir=output_dir)

    with ExitStack() as stack:
        source = _open_state_dict(source_dir, stack)
        vision_dir = _resolve_dir(vision_tower, source_config.get("mm_vision_tower"), source_dir, "vision tower")
        audio_dir = _resolve_dir(audio_tower, source_config.get("mm_audio_tower"), source_dir, "audio tower")
        bert_dir = _resolve_dir(bert, "bert", source_dir, "bert")

        use_compressor = {"on": True, "off": False}.get(
            slow_fast, any(key.startswith("model.feature_compressor.") for key in source)
        )
        gate_weight = source.get("model.bert_gate.0.weight")
        text_fields = {name: source_config[name] for name in QWEN2_FIELDS if name in source_config}
        vision_config = _vision_config(vision_dir)
        if source_config.get("mm_hidden_size", vision_config.hidden_size) != vision_config.hidden_size:
            raise ConversionError(
                f"{config_file}: mm_hidden_size {source_config['mm_hidden_size']} does not match the vision tower "
                f"width {vision_config.hidden_size} ({vision_dir})"
            )

        tokenizer_dir = Path(tokenizer) if tokenizer is not None else source_dir
        qwen_tokenizer = None
        if any((tokenizer_dir / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json")):
            qwen_tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
            base_vocab = len(qwen_tokenizer)
            report.added_tokens = prepare_tokenizer(qwen_tokenizer, add_reasoning_tags=add_reasoning_tags)
            video_token_id = qwen_tokenizer.convert_tokens_to_ids("<video>")
            audio_token_id = qwen_tokenizer.convert_tokens_to_ids("<audio>")
        elif tokenizer is not None:
            raise ConversionError(f"{tokenizer_dir}: no tokenizer files")
        elif video_token_id is None or audio_token_id is None:
            raise ConversionError(
                f"{source_dir}: no tokenizer found; pass --tokenizer DIR, or the placeholder ids "
                "(--video-token-id/--audio-token-id) to convert the model alone"
            )

        config = MIGROmniConfig(
            vision_config=vision_config.to_dict(),
            audio_config=AutoConfig.from_pretrained(audio_dir).to_dict(),
            text_config={"model_type": "qwen2", **text_fields},
            gate_config=BertConfig.from_pretrained(bert_dir).to_dict(),
            video_token_id=video_token_id,
            audio_token_id=audio_token_id,
            num_frames=source_config.get("num_frames", 8),
            projector_type=projector_type,
            use_slow_fast_compressor=use_compressor,
            gate_hidden_size=gate_weight().shape[0] if gate_weight is not None else 3584,
            vision_feature_layer=source_config.get("mm_vision_select_layer", -2),
            dtype=source_config.get("torch_dtype", "float32"),
        )
        report.use_slow_fast_compressor = use_compressor

        target: dict[str, TensorLoader] = {}
        unmapped: list[str] = []
        for key, loader in source.items():
            new_key, reason = _target_key(key, projector_type)
            if new_key is not None:
                target[new_key] = loader
            elif reason is not None:
                report.dropped[key] = reason
            else:
                unmapped.append(key)
        report.tower_sources = {"vision": str(source_dir), "audio": str(source_dir), "gate encoder": str(source_dir)}
        upstream = (
            ("vision", "model.vision_tower.", vision_dir, ("vision_model.",), ()),
            ("audio", "model.audio_tower.", audio_dir, ("model.encoder.", "encoder."), ()),
            ("gate encoder", "model.instruction_gate.encoder.", bert_dir, ("bert.",), ("pooler.", "cls.")),
        )
        for part, prefix, directory, keep, skip in upstream:
            if not any(key.startswith(prefix) for key in target):
                part_keys = _select_part(_open_state_dict(directory, stack), keep=keep, skip=skip)
                target.update({prefix + key: loader for key, loader in part_keys.items()})
                report.tower_sources[part] = str(directory)

        with torch.device("meta"):
            model = MIGROmniForCausalLM(config)
        expected = set(model.state_dict())
        if config.tie_word_embeddings:
            expected.discard("lm_head.weight")
            target.pop("lm_head.weight", None)
        missing = sorted(expected - set(target))
        unexpected = sorted(set(target) - expected)
        if unmapped or missing or unexpected:
            raise ConversionError(
                f"{source_dir}: cannot convert.\n  unmapped source keys ({len(unmapped)}): {unmapped}\n"
                f"  missing parameters ({len(missing)}): {missing}\n"
                f"  mapped keys the model does not have ({len(unexpected)}): {unexpected}"
            )
        state_dict = {key: loader() for key, loader in target.items()}
        model.load_state_dict(state_dict, strict=False, assign=True)
        report.mapped = len(state_dict)

    if qwen_tokenizer is not None:
        _fit_embeddings(model, qwen_tokenizer, base_vocab)
    model.tie_weights()
    generation_file = source_dir / "generation_config.json"
    if generation_file.is_file():
        for name, value in json.loads(generation_file.read_text()).items():
            if name in ("bos_token_id", "eos_token_id", "pad_token_id"):
                setattr(model.generation_config, name, value)
    model.save_pretrained(output_dir, max_shard_size=max_shard_size)

    if qwen_tokenizer is not None:
        processor = MIGROmniProcessor.for_config(
            config,
            image_processor=SiglipImageProcessorPil.from_pretrained(vision_dir),
            feature_extractor=WhisperFeatureExtractor.from_pretrained(audio_dir),
            tokenizer=qwen_tokenizer,
            gate_tokenizer=BertTokenizer.from_pretrained(bert_dir),
            use_start_end_markers=source_config.get("mm_use_x_start_end", True),
            frame_mode=frame_mode,
            frame_selection=frame_selection,
        )
        processor.save_pretrained(output_dir)
    else:
        logger.warning(f"{source_dir}: no tokenizer, so no processor was written to {output_dir}")
    logger.info(
        f"converted {source_dir} -> {output_dir}: {report.mapped} tensors, {len(report.dropped)} dropped keys, "
        f"slow-fast compressor {'on' if use_compressor else 'off'}"
    )
    return report


def _fit_embeddings(model: MIGROmniForCausalLM, tokenizer: PreTrainedTokenizerBase, base_vocab: int) -> None:
    """Give the tokens added after `base_vocab` embedding rows: resize if needed, initialise to the mean row."""
    embeddings = model.get_input_embeddings()
    if len(tokenizer) > embeddings.num_embeddings:
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64, mean_resizing=False)
        embeddings = model.get_input_embeddings()
    with torch.no_grad():
        mean = embeddings.weight[:base_vocab].mean(0)
        embeddings.weight[base_vocab : len(tokenizer)] = mean
        if not model.config.tie_word_embeddings:
            head = model.get_output_embeddings().weight
            head[base_vocab : len(tokenizer)] = head[:base_vocab].mean(0)


__all__ = ["ConversionError", "ConversionReport", "convert_humanomni_checkpoint", "prepare_tokenizer"]

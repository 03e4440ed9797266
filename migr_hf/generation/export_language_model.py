"""The language model of MIGR-Omni as a standalone Qwen2 checkpoint (for serving engines fed prompt embeddings).

MIGR-Omni's language model is a plain Qwen2 (`model.language_model.*`) plus `lm_head`; the towers, projectors
and gate only build the prompt embeddings ([`MIGROmniModel.embed_prompt`]). A serving engine that accepts
`inputs_embeds` / prompt embeddings (vLLM with `enable_prompt_embeds=True`) can therefore run this checkpoint and
continue any MIGR-Omni prompt exactly as the full model does.
"""

import contextlib
import copy
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForCausalLM, PretrainedConfig, PreTrainedModel
from transformers.initialization import no_init_weights
from transformers.utils import logging

logger = logging.get_logger(__name__)

# MIGR-Omni parameter prefix -> standalone causal-LM prefix; every other parameter (towers, projectors, gate)
# stays behind.
LANGUAGE_MODEL_PREFIXES: dict[str, str] = {"model.language_model.": "model.", "lm_head.": "lm_head."}


def language_model_config(config: PretrainedConfig) -> PretrainedConfig:
    """The text config of a MIGR-Omni config, as the config of a standalone causal LM with an untied head.

    The head is saved as its own tensor (untied) so that loaders that drop `lm_head` for tied models (vLLM)
    still get the exact head after training.
    """
    text_config = copy.deepcopy(config.get_text_config())
    text_config.tie_word_embeddings = False
    text_config.architectures = [AutoModelForCausalLM._model_mapping[type(text_config)].__name__]
    return text_config


@contextlib.contextmanager
def merged_adapters(model: nn.Module) -> Iterator[None]:
    """Merge PEFT adapters (LoRA) into their base weights for the duration of the block; a no-op without PEFT."""
    merge = getattr(model, "merge_adapter", None)
    if merge is None:
        yield
        return
    merge()
    try:
        yield
    finally:
        model.unmerge_adapter()


def _base_parameter_name(name: str) -> str | None:
    """A (possibly PEFT-wrapped) parameter name as in the bare MIGR-Omni model; `None` for adapter-only tensors."""
    if ".lora_" in name or ".original_module." in name:
        return None
    name = name.removeprefix("base_model.model.")
    return name.replace(".base_layer.", ".").replace(".modules_to_save.default.", ".")


def language_model_state_dict(model: nn.Module, expected: set[str] | None = None) -> dict[str, torch.Tensor]:
    """Language-model tensors of a MIGR-Omni model (bare or PEFT-wrapped, LoRA merged) under Qwen2 names.

    Args:
        model: `MIGROmniForCausalLM`, or a `PeftModel` around one (adapters are merged while reading and
            unmerged afterwards).
        expected: The parameter names of the standalone causal LM; when given, a name map that misses one of
            them, or maps a tensor to a name it does not have, raises `ValueError`.

    Returns:
        `{qwen2_name: tensor}` (detached; the tensors share storage with the model unless LoRA was merged).
    """
    tensors: dict[str, torch.Tensor] = {}
    # Merged weights are unmerged in place on exit: keep copies of them.
    copy_merged = hasattr(model, "merge_adapter")
    with merged_adapters(model), torch.no_grad():
        for name, tensor in model.state_dict().items():
            base = _base_parameter_name(name)
            if base is None:
                continue
            for source, target in LANGUAGE_MODEL_PREFIXES.items():
                if base.startswith(source):
                    tensors[target + base[len(source) :]] = tensor.detach().clone() if copy_merged else tensor.detach()
                    break
    if expected is not None:
        missing, unexpected = sorted(expected - tensors.keys()), sorted(tensors.keys() - expected)
        if missing or unexpected:
            raise ValueError(
                f"the MIGR-Omni -> causal-LM name map {LANGUAGE_MODEL_PREFIXES} does not cover the language model: "
                f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
                f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
            )
    return tensors


def language_model_parameter_names(config: PretrainedConfig) -> set[str]:
    """Parameter (and persistent buffer) names of the standalone causal LM of `config`, built on the meta device."""
    with torch.device("meta"):
        return set(AutoModelForCausalLM.from_config(language_model_config(config)).state_dict())


def extract_language_model(model: PreTrainedModel) -> PreTrainedModel:
    """The language model of a MIGR-Omni model as a standalone causal LM (Qwen2ForCausalLM), LoRA merged."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    text_config = language_model_config(base.config)
    with no_init_weights():
        language_model = AutoModelForCausalLM.from_config(text_config, dtype=base.dtype)
    tensors = language_model_state_dict(model, expected=set(language_model.state_dict()))
    language_model.load_state_dict(tensors, strict=True)
    language_model.generation_config.eos_token_id = text_config.eos_token_id
    language_model.generation_config.pad_token_id = text_config.pad_token_id
    return language_model.eval()


def export_language_model(
    model: str | os.PathLike | PreTrainedModel,
    output_dir: str | os.PathLike,
    *,
    dtype: str | torch.dtype = "auto",
    max_shard_size: str = "5GB",
) -> Path:
    """Write the language model of a MIGR-Omni checkpoint as a standalone causal-LM checkpoint with its tokenizer.

    Args:
        model: A MIGR-Omni checkpoint (path or Hub id) or a loaded model (bare or PEFT-wrapped).
        output_dir: Where to write `config.json`, the weights, `generation_config.json` and (when `model` is
            a checkpoint) the tokenizer.
        dtype: Load dtype of a checkpoint (default: as saved).

    Returns:
        `output_dir`, loadable with `AutoModelForCausalLM.from_pretrained` (and by vLLM).
    """
    output_dir = Path(output_dir)
    tokenizer = None
    if isinstance(model, (str, os.PathLike)):
        from transformers import AutoProcessor

        tokenizer = AutoProcessor.from_pretrained(model).tokenizer
        model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
    language_model = extract_language_model(model)
    language_model.save_pretrained(output_dir, max_shard_size=max_shard_size)
    if tokenizer is not None:
        tokenizer.save_pretrained(output_dir)
    logger.info("wrote the language model (%s) to %s", type(language_model).__name__, output_dir)
    return output_dir


__all__ = [
    "LANGUAGE_MODEL_PREFIXES",
    "export_language_model",
    "extract_language_model",
    "language_model_config",
    "language_model_parameter_names",
    "language_model_state_dict",
    "merged_adapters",
]

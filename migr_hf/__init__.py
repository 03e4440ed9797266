"""migr-hf: Modality-Importance-Guided Reasoning (MIGR) on the Hugging Face stack.

Importing the package registers MIGR-Omni with the transformers Auto classes, so
`AutoConfig`, `AutoModel`, `AutoModelForCausalLM` and `AutoProcessor` resolve `model_type="migr_omni"`,
and marks the classes for remote-code export: every `save_pretrained` writes `auto_map` and the model
code, so a checkpoint also loads as remote code (`trust_remote_code`) where migr-hf is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoProcessor

from .inference import EmotionPrediction, EmotionReasoner
from .models.migr_omni import (
    MIGROmniConfig,
    MIGROmniForCausalLM,
    MIGROmniModel,
    MIGROmniPreTrainedModel,
    MIGROmniProcessor,
)

__version__ = "0.1.0.dev0"

AutoConfig.register(MIGROmniConfig.model_type, MIGROmniConfig, exist_ok=True)
AutoModel.register(MIGROmniConfig, MIGROmniModel, exist_ok=True)
AutoModelForCausalLM.register(MIGROmniConfig, MIGROmniForCausalLM, exist_ok=True)
AutoProcessor.register(MIGROmniConfig, MIGROmniProcessor, exist_ok=True)
MIGROmniConfig.register_for_auto_class()
MIGROmniForCausalLM.register_for_auto_class("AutoModelForCausalLM")
MIGROmniProcessor.register_for_auto_class()

__all__ = [
    "EmotionPrediction",
    "EmotionReasoner",
    "MIGROmniConfig",
    "MIGROmniForCausalLM",
    "MIGROmniModel",
    "MIGROmniPreTrainedModel",
    "MIGROmniProcessor",
    "__version__",
]

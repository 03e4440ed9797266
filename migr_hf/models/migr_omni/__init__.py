"""MIGR-Omni: the HumanOmni-compatible audio+video language model of migr-hf.

Importing this package registers the model with the transformers Auto classes, so `AutoConfig`, `AutoModel`,
`AutoModelForCausalLM` and `AutoProcessor` resolve `model_type="migr_omni"`, and marks the classes for
remote-code export: every `save_pretrained` writes `auto_map` and the model code, so a checkpoint also loads as
remote code (`trust_remote_code`) where migr-hf is not installed. `import migr_hf` arranges for this import as
soon as transformers is imported.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoProcessor

from .configuration_migr_omni import MIGROmniConfig
from .modeling_migr_omni import MIGROmniForCausalLM, MIGROmniModel, MIGROmniPreTrainedModel
from .processing_migr_omni import MIGROmniProcessor

AutoConfig.register(MIGROmniConfig.model_type, MIGROmniConfig, exist_ok=True)
AutoModel.register(MIGROmniConfig, MIGROmniModel, exist_ok=True)
AutoModelForCausalLM.register(MIGROmniConfig, MIGROmniForCausalLM, exist_ok=True)
AutoProcessor.register(MIGROmniConfig, MIGROmniProcessor, exist_ok=True)
MIGROmniConfig.register_for_auto_class()
MIGROmniForCausalLM.register_for_auto_class("AutoModelForCausalLM")
MIGROmniProcessor.register_for_auto_class()

__all__ = ["MIGROmniConfig", "MIGROmniForCausalLM", "MIGROmniModel", "MIGROmniPreTrainedModel", "MIGROmniProcessor"]

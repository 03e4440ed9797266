"""MIGR-Omni: the HumanOmni-compatible audio+video language model of migr-hf."""

from .configuration_migr_omni import MIGROmniConfig
from .modeling_migr_omni import MIGROmniForCausalLM, MIGROmniModel, MIGROmniPreTrainedModel
from .processing_migr_omni import MIGROmniProcessor

__all__ = ["MIGROmniConfig", "MIGROmniForCausalLM", "MIGROmniModel", "MIGROmniPreTrainedModel", "MIGROmniProcessor"]

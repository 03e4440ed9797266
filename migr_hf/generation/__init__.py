"""Generation engines for MIGR-Omni: transformers `generate` (default) and vLLM fed with prompt embeddings."""

from .engine import BACKENDS, GenerationEngine, GenerationOptions, GenerationOutput, build_engine
from .hf_engine import HFGenerateEngine

__all__ = ["BACKENDS", "GenerationEngine", "GenerationOptions", "GenerationOutput", "HFGenerateEngine", "build_engine"]

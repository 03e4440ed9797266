"""migr-hf: Modality-Importance-Guided Reasoning (MIGR) on the Hugging Face stack."""

__version__ = "0.1.0.dev0"

"""Shared fixtures: a tiny MIGR-Omni checkpoint built once per session, and the HumanOmni golden fixture."""

import os
import sys
from pathlib import Path

import pytest
import torch

TESTS_DIR = Path(__file__).parent
sys.path.insert(0, str(TESTS_DIR))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The suite runs as `pytest -n 2` on 2 cores: one intra-op thread per worker. Two OpenMP threads per worker
# oversubscribe the cores and make small convolutions ~50x slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A random tiny MIGR-Omni checkpoint (model + processor) saved with `save_pretrained`."""
    from migr_hf.testing.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-migr-omni"))


@pytest.fixture(scope="session")
def humanomni_fixture() -> Path:
    """Outputs of the original R1-Omni code on a tiny random HumanOmni checkpoint (see its README)."""
    return TESTS_DIR / "fixtures" / "humanomni-r1omni-tiny"


@pytest.fixture(scope="session")
def scripted_checkpoint(tiny_checkpoint, tmp_path_factory) -> Path:
    """The session's tiny checkpoint, scripted to answer `SCRIPTED_COMPLETION` (happy, visual cues first)."""
    from scripted_model import make_scripted_checkpoint

    return make_scripted_checkpoint(tiny_checkpoint, tmp_path_factory.mktemp("scripted") / "checkpoint")

"""The trl versions `MIGRGRPOTrainer` was written and tested against, and a loud check of the installed one.

trl's `GRPOTrainer` carries image inputs only; feeding video / audio media and tower states to its log-prob
passes, and running rollouts on an engine of ours with its importance-sampling correction, needs a few of its
private methods and attributes. They change between trl releases, so the trainer checks at construction that
they are there with the signatures it overrides, and fails naming the tested range when they are not.
"""

import inspect

import trl
from packaging.version import Version
from transformers.utils import logging
from trl import GRPOTrainer

logger = logging.get_logger(__name__)

# Keep in step with the `trl` pin in setup.py.
TESTED_TRL_RANGE = (">=1.16", "<1.17")

# Private GRPOTrainer methods the trainer overrides or calls, with the parameters it relies on.
OVERRIDDEN_METHODS: dict[str, tuple[str, ...]] = {
    "_generate_and_score_completions": ("inputs",),
    "_compute_loss": ("model", "inputs"),
    "_get_per_token_logps_and_entropies": (
        "model",
        "input_ids",
        "attention_mask",
        "logits_to_keep",
        "batch_size",
        "compute_entropy",
        "compute_aux_loss",
    ),
}
# Public-but-experimental constructor argument and the attributes the vLLM path sets after construction.
CONSTRUCTOR_PARAMETERS = ("rollout_func",)
GENERATION_ATTRIBUTES = ("use_vllm", "vllm_importance_sampling_correction", "_last_loaded_step", "vllm_generation")


def tested_range() -> str:
    return ",".join(TESTED_TRL_RANGE)


def trl_version_is_tested(version: str | None = None) -> bool:
    """Whether `version` (default: the installed trl) lies in `TESTED_TRL_RANGE`."""
    version = Version(version or trl.__version__)
    return Version(TESTED_TRL_RANGE[0][2:]) <= version < Version(TESTED_TRL_RANGE[1][1:])


def missing_trl_features(trainer_class: type = GRPOTrainer) -> list[str]:
    """What the trainer needs from `trainer_class` and does not find there (empty when all is there)."""
    missing = []
    for method, parameters in OVERRIDDEN_METHODS.items():
        function = getattr(trainer_class, method, None)
        if function is None:
            missing.append(f"GRPOTrainer.{method}")
            continue
        names = inspect.signature(function).parameters
        missing += [f"GRPOTrainer.{method}({name}=...)" for name in parameters if name not in names]
    constructor = inspect.signature(trainer_class.__init__).parameters
    missing += [f"GRPOTrainer({name}=...)" for name in CONSTRUCTOR_PARAMETERS if name not in constructor]
    source = inspect.getsource(trainer_class)
    missing += [f"GRPOTrainer.{name}" for name in GENERATION_ATTRIBUTES if f"self.{name}" not in source]
    return missing


def check_trl_compatibility(trainer_class: type = GRPOTrainer, version: str | None = None) -> None:
    """Raise `RuntimeError` naming the tested trl range when the installed trl lacks what the trainer overrides.

    A trl outside the tested range that still has every method and signature only gets a warning.
    """
    version = version or trl.__version__
    missing = missing_trl_features(trainer_class)
    if missing:
        raise RuntimeError(
            f"MIGRGRPOTrainer overrides private methods of trl's GRPOTrainer and was tested with trl {tested_range()}; "
            f"the installed trl {version} lacks {', '.join(missing)}. Install a tested trl: "
            f"pip install 'trl{tested_range()}'"
        )
    if not trl_version_is_tested(version):
        logger.warning(
            "MIGRGRPOTrainer was tested with trl %s; trl %s has the methods it overrides, but check the results",
            tested_range(),
            version,
        )


__all__ = ["TESTED_TRL_RANGE", "check_trl_compatibility", "missing_trl_features", "trl_version_is_tested"]

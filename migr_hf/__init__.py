"""migr-hf: Modality-Importance-Guided Reasoning (MIGR) on the Hugging Face stack.

`import migr_hf` is light (no torch, no transformers), so that `migr-hf --help` answers at once. The model and
inference classes below are loaded on first access (PEP 562). MIGR-Omni is registered with the transformers Auto
classes (`migr_hf.models.migr_omni`) as soon as transformers is imported, or at once when it already is, so that
`import migr_hf` followed by `AutoModelForCausalLM.from_pretrained(<checkpoint>)` needs no `trust_remote_code`.
"""

import importlib
import importlib.abc
import importlib.util
import logging
import sys

from .lazy import lazy_exports
from .version import __version__

logger = logging.getLogger(__name__)

MODEL_PACKAGE = "migr_hf.models.migr_omni"
_LAZY_EXPORTS = {
    "EmotionPrediction": "migr_hf.apps.inference",
    "EmotionReasoner": "migr_hf.apps.inference",
    "MIGROmniConfig": MODEL_PACKAGE,
    "MIGROmniForCausalLM": MODEL_PACKAGE,
    "MIGROmniModel": MODEL_PACKAGE,
    "MIGROmniPreTrainedModel": MODEL_PACKAGE,
    "MIGROmniProcessor": MODEL_PACKAGE,
}

__all__ = [*_LAZY_EXPORTS, "__version__"]


__getattr__, __dir__ = lazy_exports(globals(), _LAZY_EXPORTS)


def _register_model() -> None:
    """Import the model package, which registers MIGR-Omni with the Auto classes (a no-op once imported)."""
    try:
        importlib.import_module(MODEL_PACKAGE)
    except Exception:
        logger.warning("migr-hf could not register MIGR-Omni with the transformers Auto classes", exc_info=True)


class _RegisterAfterImport(importlib.abc.Loader):
    """Runs the original loader of ``transformers``, then `_register_model`."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _register_model()


class _TransformersImportHook(importlib.abc.MetaPathFinder):
    """One-shot finder: gives the spec of ``transformers`` a loader that registers MIGR-Omni once it has run.

    It fires when the top-level package is imported, before any of its submodules, so that no transformers module
    is half-initialised while the model package imports transformers.
    """

    def find_spec(self, fullname: str, path, target=None):
        if fullname != "transformers":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisterAfterImport(spec.loader)
        return spec


if "transformers" in sys.modules:
    _register_model()
elif not any(isinstance(finder, _TransformersImportHook) for finder in sys.meta_path):
    sys.meta_path.insert(0, _TransformersImportHook())

"""Named presets of the sequence classifier, and the GoEmotions labels and label maps they read.

- ``"erv"``: ERV's sentence classifier, the Hub model ``Rhatanii/Emo_Classifier`` (GoEmotions-style, 28 labels,
  multi-label), read as ERV's GRPO reward reads it (``src/r1-v/src/open_r1/utils_reward_ERV.py`` of
  github.com/Rhatanii/ERV): outputs by index in GoEmotions order, sigmoid, the labels above 0.1, at most the
  top 2, the argmax when none passes, sentences cut only at the tokenizer's own limit; the labels are mapped to
  the benchmark's words by ``data/goemotions_label_maps.json`` (a label with no word is kept as ``UNMAPPED``:
  ERV counts it as a non-neutral prediction that never matches).

The label maps are data: see the ``_meta`` entry of ``goemotions_label_maps.json`` for their sources. Nothing here
imports torch or transformers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from huggingface_hub import constants as hub_constants
from huggingface_hub import hf_hub_download, try_to_load_from_cache

from ..labels import get_label_set

GOEMOTIONS_PATH = Path(__file__).parent / "data" / "goemotions_label_maps.json"
ERV_MODEL_ID = "Rhatanii/Emo_Classifier"
NUM_GOEMOTIONS_LABELS = 28


def load_goemotions_maps(
    path: str | Path = GOEMOTIONS_PATH,
) -> tuple[tuple[str, ...], Mapping[str, Mapping[str, str | None]]]:
    """GoEmotions labels (output-index order) and, per label set, GoEmotions label -> label word (``None``: none).

    Raises:
        ValueError: naming the file, when the labels are not 28 distinct names or a map names an unknown
            GoEmotions label or a word outside its label set.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    labels = tuple(data["labels"])
    if len(labels) != NUM_GOEMOTIONS_LABELS or len(set(labels)) != len(labels):
        raise ValueError(f"{path}: 'labels' must list {NUM_GOEMOTIONS_LABELS} distinct GoEmotions labels")
    maps = {}
    for name, mapping in data["label_maps"].items():
        label_set = get_label_set(name)
        unknown = sorted(set(mapping) - set(labels))
        outside = sorted({word for word in mapping.values() if word is not None} - set(label_set.labels))
        if unknown or outside:
            raise ValueError(
                f"{path}: label_maps[{name!r}] names unknown GoEmotions labels {unknown} or words outside "
                f"{name}: {outside}"
            )
        maps[label_set.name] = MappingProxyType(dict(mapping))
    return labels, MappingProxyType(maps)


GOEMOTIONS_LABELS, GOEMOTIONS_LABEL_MAPS = load_goemotions_maps()

# Preset name -> `SequenceEmotionClassifier` arguments (any of them can be overridden, e.g. `model=` a local copy).
SEQUENCE_PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "erv": MappingProxyType(
            {
                "model": ERV_MODEL_ID,
                "multi_label": True,
                "threshold": 0.1,
                "top_k": 2,
                "id2label": GOEMOTIONS_LABELS,
                "label_maps": GOEMOTIONS_LABEL_MAPS,
                "max_length": None,
            }
        )
    }
)


def hub_model_problem(model_id: str) -> str | None:
    """Why ``model_id`` cannot be loaded now, or ``None`` when its config is in the Hub cache or downloads.

    Offline (``HF_HUB_OFFLINE``) only the cache counts; online an uncached model costs one download of its
    ``config.json`` (with ``huggingface_hub``'s retries when the Hub does not answer).
    """
    if isinstance(try_to_load_from_cache(model_id, "config.json"), str):
        return None
    if hub_constants.HF_HUB_OFFLINE:
        return f"{model_id} is not in the Hub cache and HF_HUB_OFFLINE is set"
    try:
        hf_hub_download(model_id, "config.json")
    except OSError as error:  # huggingface_hub's HTTP, offline and not-found errors are all OSErrors
        return f"{model_id} is not in the Hub cache and the Hub did not provide it ({type(error).__name__})"
    return None


__all__ = [
    "ERV_MODEL_ID",
    "GOEMOTIONS_LABELS",
    "GOEMOTIONS_LABEL_MAPS",
    "GOEMOTIONS_PATH",
    "SEQUENCE_PRESETS",
    "hub_model_problem",
    "load_goemotions_maps",
]

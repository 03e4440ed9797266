"""The dataset card of a built dataset (counts, schema, build settings) and its push to the Hub."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from datasets import Features
from huggingface_hub import DatasetCard, DatasetCardData, HfApi

from .. import schema
from ..classifiers import ERV_MODEL_ID
from ..version import __version__
from .storage import load_built_dataset

if TYPE_CHECKING:
    from .builder import BuildSummary

logger = logging.getLogger(__name__)

CARD_TEMPLATE = Path(__file__).with_name("dataset_card_template.md")

COLUMN_DOCS = {
    schema.ID: "unique sample id `<source>-<clip>`; the second order of a tie gets the suffix `__visual_first`",
    schema.SOURCE: "`dfew`, `mafw` or `emer`",
    schema.SPLIT: "split of the source benchmark (`train`)",
    schema.VIDEO: "path of the clip (audio is read from the same file), relative to the media root when one was given",
    schema.VIDEO_BYTES: "the clip's bytes (datasets built with embedded media)",
    schema.LABEL: "ground-truth label word in the vocabulary of `label_set`",
    schema.LABEL_SET: "label vocabulary (`migr_hf.labels`): `dfew`, `mafw` or `emer`",
    schema.MODALITY_IMPORTANCE: "emotion-dominant modality: `audio`, `visual`, `both` or `undetermined`",
    schema.REASONING: "original reasoning text (EMER annotation or FAU-grounded text)",
    schema.PROMPT: "instruction text (`migr_hf.schema.MIGR_INSTRUCTION`)",
    schema.COMPLETION: "target `<aud_desc>…</aud_desc><vis_desc>…</vis_desc><think>…</think><answer>label</answer>`,"
    " segments in MI order",
    schema.ORDER: "`audio_first` or `visual_first`",
}


def dataset_card(
    summary: BuildSummary,
    settings: Mapping[str, Any],
    features: Features,
) -> DatasetCard:
    """Dataset card with the schema, counts per source / emotion / MI class, and build settings."""
    size = summary.rows
    size_category = "n<1K" if size < 1_000 else "1K<n<10K" if size < 10_000 else "10K<n<100K"
    card_data = DatasetCardData(
        language="en",
        license="other",
        pretty_name=f"MIGR {summary.kind.upper()} data",
        size_categories=size_category,
        task_categories=["video-classification", "text-generation"],
        tags=["emotion-recognition", "multimodal", "migr", summary.kind],
    )
    # No `configs:` entry: the `data/<split>-*.parquet` layout is what `datasets` and the Hub detect by themselves,
    # and with one, datasets 5.2's `load_dataset(<folder>)` keys its cache on the card's relative patterns, so two
    # folders with the same card (or a rebuilt folder) silently return the first one's cached rows.
    descriptions = {
        "sft": "Modality-aligned SFT data (paper section 3.1): EMER and FAU-filtered DFEW/MAFW samples whose "
        "reasoning is split into audio and visual segments and ordered by Modality Importance (a tie gives "
        "both orders).",
        "grpo": "Modality-aware GRPO data (paper section 3.2): DFEW/MAFW training clips with their Modality "
        "Importance label, used by the modality-aligned order and modality-grounded reasoning rewards. No "
        "sentence classifier was used to build it: the rewards' classifier is chosen at training time "
        "(`MIGRGRPOConfig.emotion_classifier`; the GPU recipes use ERV's sentence classifier "
        f"`{ERV_MODEL_ID}`, preset `erv`, and `auto` falls back to migr-hf's offline lexicon when that model "
        "is not available), and the model card of a trained checkpoint names it.",
    }
    sources = sorted(set(summary.read) | set(summary.kept))
    media_note = (
        "Media are embedded: `video_bytes` holds each clip and `video` its original path."
        if schema.VIDEO_BYTES in features
        else "Media are referenced by path: clips are not part of this dataset."
    )
    return DatasetCard.from_template(
        card_data,
        template_path=str(CARD_TEMPLATE),
        pretty_name=card_data.pretty_name,
        description=descriptions[summary.kind],
        version=__version__,
        columns=[(name, feature.dtype, COLUMN_DOCS[name]) for name, feature in features.items()],
        media_note=media_note,
        num_rows=summary.rows,
        num_samples=sum(summary.kept.values()),
        per_source=[
            (s, summary.read.get(s, 0), summary.kept.get(s, 0), summary.rows_per_source.get(s, 0)) for s in sources
        ],
        per_label=[(*key.split("/", 1), count) for key, count in summary.labels.items()],
        per_mi=list(summary.modality_importance.items()),
        per_order=list(summary.orders.items()),
        fau=list(summary.fau.items()),
        failures=list(summary.failures.items()),
        settings=yaml.safe_dump(dict(settings), sort_keys=True, default_flow_style=None, width=110).strip(),
    )


def push_dataset_to_hub(
    output_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> None:
    """Push a built dataset with `DatasetDict.push_to_hub`, then replace the generated README with its card."""
    output_dir = Path(output_dir)
    dataset = load_built_dataset(output_dir, cache_dir=cache_dir)
    dataset.push_to_hub(repo_id, private=private, token=token, revision=revision, commit_message="Upload MIGR data")
    HfApi(token=token).upload_file(
        path_or_fileobj=str(output_dir / "README.md"),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
        revision=revision,
        commit_message="Add MIGR dataset card",
    )
    logger.info("pushed %s to https://huggingface.co/datasets/%s", output_dir, repo_id)

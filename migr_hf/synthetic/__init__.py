"""A controlled audio-visual emotion benchmark with known modality dominance (corpus, pipeline, reports)."""

from .corpus import (
    DOMINANT_MODALITIES,
    EMOTIONS,
    ClipSpec,
    CorpusSpec,
    SyntheticCorpus,
    load_ground_truth,
    make_synthetic_corpus,
    sample_clip_specs,
)

__all__ = [
    "DOMINANT_MODALITIES",
    "EMOTIONS",
    "ClipSpec",
    "CorpusSpec",
    "SyntheticCorpus",
    "load_ground_truth",
    "make_synthetic_corpus",
    "sample_clip_specs",
]

"""Builders of tiny models and sample data, for the tests, the quickstart and the demo's sample clips: `tiny`
(random MIGR-Omni checkpoints with trained tokenizers) and `sample_data` (a generated corpus in the benchmark
layouts: clips, OpenFace CSVs, label files)."""

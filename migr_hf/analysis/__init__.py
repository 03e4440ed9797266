"""Analyses of trained models: `attention`, the per-step attention shares on visual, audio and text tokens by MI
class (paper appendix 8.1, Fig. 5)."""

"""The migr-hf release number (read by `setup.py` and written into dataset cards)."""

__version__ = "0.1.0.dev0"

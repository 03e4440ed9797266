"""Model families of migr-hf."""

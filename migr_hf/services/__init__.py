"""Services migr-hf talks to: `llm` (an OpenAI-compatible endpoint with retries and an on-disk cache) and `hub`
(model cards and pushes to the Hugging Face Hub)."""

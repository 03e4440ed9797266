"""The one OpenAI-compatible chat call of the data pipeline (reasoning writer, LLM reasoning splitter): retries
with exponential backoff and an on-disk response cache.

Configuration comes from the environment unless passed explicitly: ``MIGR_LLM_MODEL`` (default ``gpt-4.1-mini``),
and the OpenAI client's own ``OPENAI_BASE_URL`` (any OpenAI-compatible server, e.g. vLLM) and ``OPENAI_API_KEY``
(servers that ignore keys still need some value). Requires the ``openai`` package (extra ``judge``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .jsonl import atomic_write_json

logger = logging.getLogger(__name__)

ENV_MODEL = "MIGR_LLM_MODEL"
DEFAULT_MODEL = "gpt-4.1-mini"
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class LLMError(RuntimeError):
    """The LLM endpoint failed after all retries, refused the request, or returned no text."""


@dataclass
class LLMClient:
    """Chat completions against an OpenAI-compatible endpoint, cached on disk by request.

    Args:
        model: Model name; defaults to ``$MIGR_LLM_MODEL`` or `DEFAULT_MODEL`.
        base_url: Endpoint; defaults to ``$OPENAI_BASE_URL`` (the OpenAI API when unset).
        api_key: Key; defaults to ``$OPENAI_API_KEY``.
        cache_dir: Folder of cached responses (one JSON file per request hash); no cache when ``None``.
        max_retries: Retries after the first attempt, for connection errors, timeouts and HTTP 408/409/429/5xx.
        initial_backoff: Seconds before the first retry; doubled per retry (with jitter), capped at ``max_backoff``.
        timeout: Seconds per request.
        temperature: Sampling temperature (0 for reproducible data).
        max_tokens: Completion length cap, ``None`` for the server default.
    """

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    cache_dir: str | os.PathLike | None = None
    max_retries: int = 5
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    timeout: float = 60.0
    temperature: float = 0.0
    max_tokens: int | None = None
    _client: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.model = self.model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL

    def _openai(self) -> Any:
        if self._client is None:
            try:
                import openai
            except ImportError as err:
                raise ImportError("LLM calls need the `openai` package: pip install 'migr-hf[judge]'") from err
            api_key = self.api_key or os.environ.get("OPENAI_API_KEY")
            if not api_key:
                raise LLMError("set OPENAI_API_KEY (any non-empty value for servers that do not check keys)")
            self._client = openai.OpenAI(api_key=api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout)
        return self._client

    def _cache_path(self, request: dict[str, Any]) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        return Path(self.cache_dir) / digest[:2] / f"{digest}.json"

    def chat(self, messages: list[dict[str, str]]) -> str:
        """Text of the assistant reply to ``messages`` (``[{"role": ..., "content": ...}, ...]``)."""
        request: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature}
        if self.max_tokens is not None:
            request["max_tokens"] = self.max_tokens
        cache_path = self._cache_path(request)
        if cache_path is not None and cache_path.exists():
            return json.loads(cache_path.read_text(encoding="utf-8"))["response"]
        text = self._call_with_retries(request)
        if cache_path is not None:
            atomic_write_json(cache_path, {"request": request, "response": text})
        return text

    def _call_with_retries(self, request: dict[str, Any]) -> str:
        import openai

        client = self._openai()
        attempt = 0
        while True:
            try:
                response = client.chat.completions.create(**request)
            except (openai.APIConnectionError, openai.APIStatusError) as err:
                status = getattr(err, "status_code", None)
                if (status is not None and status not in RETRY_STATUS) or attempt >= self.max_retries:
                    raise LLMError(f"LLM request failed after {attempt + 1} attempt(s): {err}") from err
                delay = min(self.max_backoff, self.initial_backoff * 2**attempt) * (0.5 + random.random() / 2)
                attempt += 1
                logger.warning("LLM request failed (%s); retry %d/%d in %.1fs", err, attempt, self.max_retries, delay)
                time.sleep(delay)
                continue
            text = response.choices[0].message.content if response.choices else None
            if not text or not text.strip():
                raise LLMError(f"LLM {self.model} returned no text")
            return text.strip()

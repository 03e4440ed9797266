"""The one OpenAI-compatible chat client of migr-hf: the LLM judge (EEA/EPC/FCR, ``e_classifier``) and the data
pipeline (reasoning writer, LLM reasoning splitter) both talk to their endpoint through :class:`LLMClient`.

Every request is retried on connection errors, timeouts, HTTP 408/409/429/5xx, malformed responses (a body that
is not a chat completion) and replies without text, with exponential backoff (honouring ``Retry-After``). Every
reply is stored in a persistent SQLite cache (:class:`LLMCache`) keyed by the full request (model, messages and
sampling parameters), committed (WAL, ``synchronous=FULL``) the moment it arrives, before the caller sees it: a
rerun makes no repeated call, and a crash, ``kill -9`` included, loses at most the requests in flight at that
moment (at most ``max_concurrency`` of them), which a rerun asks again. Two entry points share that path:

- :meth:`LLMClient.complete`: one user prompt per item, distinct prompts sent concurrently; prompts that still
  fail are logged, counted in :attr:`LLMClient.stats` and returned as ``None``, and the batch goes on. With
  ``accept``, a reply it rejects (e.g. a judge reply outside the label set) is asked again up to
  ``max_reasks`` times; it stays in the cache as the server's reply but never counts as a cached answer, so
  every later run asks again.
- :meth:`LLMClient.chat`: one conversation; raises :class:`LLMError` when the request fails.

Configuration (:class:`LLMConfig` arguments win over the environment):

- ``MIGR_LLM_MODEL``: chat model (default ``gpt-4.1-mini``);
- ``MIGR_LLM_CACHE``: cache file (default ``$XDG_CACHE_HOME/migr_hf/llm_cache.sqlite``, ``~/.cache`` when unset);
- ``OPENAI_BASE_URL``: any OpenAI-compatible server, e.g. vLLM (the OpenAI API when unset);
- ``OPENAI_API_KEY``: servers that ignore keys still need some value; only needed once a request misses the cache.

Requires the ``openai`` package (extra ``judge``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

ENV_MODEL = "MIGR_LLM_MODEL"
ENV_CACHE = "MIGR_LLM_CACHE"
ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_API_KEY = "OPENAI_API_KEY"
DEFAULT_MODEL = "gpt-4.1-mini"
CACHE_FILE_NAME = "llm_cache.sqlite"
RETRY_STATUS = frozenset({408, 409, 429})  # and every 5xx

Messages = Sequence[Mapping[str, str]]


def default_cache_path() -> Path:
    """``$MIGR_LLM_CACHE``, else ``$XDG_CACHE_HOME/migr_hf/llm_cache.sqlite`` (``~/.cache`` by default)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "migr_hf" / CACHE_FILE_NAME


class LLMError(RuntimeError):
    """A request failed: retries exhausted, a non-retryable error, a malformed response or a reply without text."""


class MissingAPIKeyError(LLMError, ValueError):
    """A request missed the cache and no API key is configured (a configuration error and an :class:`LLMError`)."""


@dataclass
class LLMConfig:
    """Endpoint, retry, sampling and cache settings of :class:`LLMClient` (``None`` fields come from the environment).

    Attributes:
        model: Chat model name.
        base_url: Endpoint, e.g. ``http://localhost:8000/v1``; the OpenAI API when ``None``.
        api_key: API key (never shown by ``repr``).
        cache_path: SQLite cache file.
        max_concurrency: Requests in flight at once in :meth:`LLMClient.complete`.
        max_retries: Retries after the first attempt of a request.
        max_reasks: Times a reply rejected by ``accept`` (:meth:`LLMClient.complete`) is asked again.
        timeout: Seconds per request.
        backoff_base: Seconds before the first retry, doubled per retry (with jitter), capped at ``backoff_max``.
        backoff_max: Longest wait between two attempts, in seconds.
        temperature: Sampling temperature (0 for reproducible replies).
        max_completion_tokens: Reply length cap, in tokens; ``None`` for the server default.
    """

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    cache_path: str | os.PathLike | None = None
    max_concurrency: int = 8
    max_retries: int = 6
    max_reasks: int = 2
    timeout: float = 60.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    temperature: float = 0.0
    max_completion_tokens: int | None = None

    def __post_init__(self) -> None:
        self.model = self.model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL
        self.base_url = self.base_url or os.environ.get(ENV_BASE_URL) or None
        self.api_key = self.api_key or os.environ.get(ENV_API_KEY) or None
        self.cache_path = Path(self.cache_path).expanduser() if self.cache_path else default_cache_path()
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.max_retries < 0 or self.max_reasks < 0:
            raise ValueError(f"max_retries and max_reasks must be >= 0, got {self.max_retries}, {self.max_reasks}")
        if self.timeout <= 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("timeout must be > 0 and backoff_base, backoff_max >= 0")


class LLMCache:
    """Persistent ``request -> reply`` store in SQLite (WAL, one committed transaction per reply).

    A request is the chat-completions body (model, messages, sampling parameters): requests that differ in any of
    them never share an entry. Safe to share between threads of one process and between processes (e.g. ranks).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS chat_replies (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
            "request TEXT NOT NULL, reply TEXT NOT NULL, created REAL NOT NULL)"
        )

    @staticmethod
    def serialize(request: Mapping[str, Any]) -> str:
        """Canonical JSON of a request (sorted keys), as stored in the ``request`` column."""
        return json.dumps(request, sort_keys=True, ensure_ascii=False)

    @classmethod
    def key(cls, request: Mapping[str, Any]) -> str:
        """Cache key of a request: SHA-256 of its canonical JSON."""
        return hashlib.sha256(cls.serialize(request).encode("utf-8")).hexdigest()

    def get_many(self, requests: Sequence[Mapping[str, Any]]) -> list[str | None]:
        """Cached reply of each request, ``None`` where there is none."""
        keys = [self.key(request) for request in requests]
        found: dict[str, str] = {}
        distinct = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(distinct), 500):
                chunk = distinct[start : start + 500]
                rows = self._conn.execute(
                    f"SELECT key, reply FROM chat_replies WHERE key IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                found.update(rows)
        return [found.get(key) for key in keys]

    def put(self, request: Mapping[str, Any], reply: str) -> None:
        """Store one reply; durable when this returns."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO chat_replies (key, model, request, reply, created) VALUES (?, ?, ?, ?, ?)",
                (self.key(request), request["model"], self.serialize(request), reply, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM chat_replies").fetchone()[0]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


@dataclass
class LLMStats:
    """Counters of one :class:`LLMClient`: requests answered from the cache, HTTP requests, retries, failed
    requests, replies rejected by ``accept`` (each re-ask and each reply still rejected at the end), and the last
    100 failure messages."""

    cache_hits: int = 0
    requests: int = 0
    retries: int = 0
    failures: int = 0
    rejected: int = 0
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=100))


class LLMClient:
    """Chat completions, retried and cached on disk (see the module doc).

    Args:
        config: Endpoint, retry, sampling and cache settings; from the environment when ``None``.
    """

    def __init__(self, config: LLMConfig | None = None) -> None:
        self.config = config or LLMConfig()
        self.stats = LLMStats()
        self._client: Any = None
        self._cache: LLMCache | None = None
        self._lock = threading.Lock()

    @property
    def cache(self) -> LLMCache:
        """The reply cache, opened on first use."""
        with self._lock:
            if self._cache is None:
                self._cache = LLMCache(self.config.cache_path)
            return self._cache

    @property
    def client(self) -> Any:
        """The OpenAI client, built on first use (a fully cached run needs neither a key nor the package)."""
        if self._client is None:
            if not self.config.api_key:
                raise MissingAPIKeyError(
                    f"no API key for {self.config.model}: set {ENV_API_KEY} (any value for servers that ignore keys)"
                )
            try:
                import openai
            except ImportError as error:
                raise ImportError("LLM calls need the `openai` package: pip install 'migr-hf[judge]'") from error
            self._client = openai.OpenAI(
                api_key=self.config.api_key,
                base_url=self.config.base_url,
                timeout=self.config.timeout,
                max_retries=0,
            )
        return self._client

    def build_request(self, messages: Messages) -> dict[str, Any]:
        """The chat-completions body for ``messages``: model, messages and the configured sampling parameters."""
        request: dict[str, Any] = {
            "model": self.config.model,
            "messages": [dict(message) for message in messages],
            "temperature": self.config.temperature,
        }
        if self.config.max_completion_tokens is not None:
            request["max_completion_tokens"] = self.config.max_completion_tokens
        return request

    def chat(self, messages: Messages) -> str:
        """Text of the assistant reply to ``messages`` (``[{"role": ..., "content": ...}, ...]``).

        Raises:
            LLMError: The request failed after all retries, was refused (non-retryable status), or got no text.
        """
        request = self.build_request(messages)
        cached = self.cache.get_many([request])[0]
        if cached is not None:
            self._count("cache_hits")
            return cached
        return self._answer(self.client, request)

    def complete(
        self, prompts: Sequence[str], *, desc: str = "LLM", accept: Callable[[str], bool] | None = None
    ) -> list[str | None]:
        """Reply text per prompt, each sent as one user message (length ``len(prompts)``); ``None`` for prompts
        whose request failed.

        Distinct prompts missing from the cache are sent concurrently (at most ``config.max_concurrency`` at once);
        each reply is cached as it arrives. ``accept(reply)`` false: the reply is not an answer; a cached one is
        asked again, a new one up to ``config.max_reasks`` more times, and the last reply is returned (the caller
        tells it apart with the same ``accept``).
        """
        unique = list(dict.fromkeys(prompts))
        requests = {prompt: self.build_request([{"role": "user", "content": prompt}]) for prompt in unique}
        replies: dict[str, str | None] = {
            prompt: reply
            for prompt, reply in zip(unique, self.cache.get_many(list(requests.values())), strict=True)
            if reply is not None and (accept is None or _accepts(accept, reply))
        }
        self._count("cache_hits", len(replies))
        todo = [prompt for prompt in unique if prompt not in replies]
        if todo:
            client = self.client
            pool = ThreadPoolExecutor(max_workers=self.config.max_concurrency, thread_name_prefix="migr-llm")
            try:
                futures = {pool.submit(self._answer, client, requests[prompt], accept): prompt for prompt in todo}
                progress = tqdm(as_completed(futures), total=len(futures), desc=desc, disable=len(futures) < 16)
                for future in progress:
                    try:
                        replies[futures[future]] = future.result()
                    except LLMError:  # already counted and logged; the batch goes on
                        replies[futures[future]] = None
            finally:
                # On interruption, drop queued prompts but let requests in flight finish and reach the cache.
                pool.shutdown(wait=True, cancel_futures=True)
        return [replies[prompt] for prompt in prompts]

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + amount)

    def _answer(self, client: Any, request: dict[str, Any], accept: Callable[[str], bool] | None = None) -> str:
        """Send ``request`` with retries and commit the reply to the cache before anything else reads it; a reply
        that ``accept`` rejects is asked again (at most ``max_reasks`` times). Failures are counted, logged and
        raised."""
        config_reasks = self.config.max_reasks
        for reask in range(config_reasks + 1):
            try:
                reply = self._send(client, request)
            except LLMError as error:
                with self._lock:
                    self.stats.failures += 1
                    self.stats.errors.append(str(error))
                logger.warning("LLM request to %s failed: %s", request["model"], error)
                raise
            self.cache.put(request, reply)
            if accept is None or _accepts(accept, reply):
                return reply
            self._count("rejected")
            if reask < config_reasks:
                logger.info("LLM reply %r rejected, asking again (%d/%d)", reply[:80], reask + 1, config_reasks)
        logger.warning("LLM reply %r still rejected after %d re-asks", reply[:80], config_reasks)
        return reply

    def _send(self, client: Any, request: dict[str, Any]) -> str:
        import openai

        config = self.config
        attempts = config.max_retries + 1
        for attempt in range(1, attempts + 1):
            self._count("requests")
            try:
                response = client.chat.completions.create(**request)
            except openai.APIStatusError as error:
                failure = f"HTTP {error.status_code}: {error.message}"
                if not (error.status_code in RETRY_STATUS or error.status_code >= 500):
                    raise LLMError(f"LLM request failed after {attempt} attempt(s): {failure}") from error
                last_error: Exception = error
                retry_after = _retry_after(error)
            except openai.APIConnectionError as error:  # includes timeouts
                failure, last_error, retry_after = f"{type(error).__name__}: {error}", error, None
            except (openai.APIError, ValueError) as error:  # e.g. a body that is not JSON: retried like a 5xx
                failure, last_error, retry_after = f"malformed response ({type(error).__name__}: {error})", error, None
            else:
                try:
                    return _reply_text(response, request["model"])
                except LLMError as error:  # a reply without text: retried like a 5xx
                    failure, last_error, retry_after = str(error), error, None
            if attempt == attempts:
                break
            delay = min(config.backoff_max, config.backoff_base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if retry_after is not None:
                delay = max(delay, min(retry_after, config.backoff_max))
            self._count("retries")
            logger.info("LLM request: %s, retry %d/%d in %.2fs", failure, attempt, config.max_retries, delay)
            time.sleep(delay)
        raise LLMError(f"LLM request failed after {attempts} attempt(s): {failure}") from last_error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.config.model!r}, base_url={self.config.base_url!r})"


def _accepts(accept: Callable[[str], bool], reply: str) -> bool:
    try:
        return bool(accept(reply))
    except Exception:  # a predicate that fails on hostile text rejects it
        logger.debug("accept() raised on reply %r", reply[:80], exc_info=True)
        return False


def _retry_after(error: Any) -> float | None:
    try:
        return float(error.response.headers["retry-after"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _reply_text(response: Any, model: str) -> str:
    """Stripped message text of a chat-completions response."""
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError) as error:
        raise LLMError(f"malformed chat completion from {model}: {response!r:.200}") from error
    if not content or not content.strip():
        raise LLMError(f"LLM {model} returned no text")
    return content.strip()

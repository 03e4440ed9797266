"""The LLM judge: one OpenAI-compatible chat path for the LLM emotion classifier and the EEA/EPC/FCR judge.

:class:`JudgeClient` is the only place that talks to the endpoint. It sends distinct prompts with bounded
concurrency, retries connection errors, timeouts and HTTP 408/409/429/5xx with exponential backoff (honouring
``Retry-After``), and stores every reply in a persistent SQLite cache keyed by ``(model, prompt)``, committed
the moment it arrives: a rerun makes no repeated call, and a crash loses no paid answer. Prompts that still
fail are logged, counted and returned as ``None``; the batch goes on.

:class:`LLMJudgeClassifier` asks ERV's question (``JUDGE_PROMPT``) and maps the reply onto the label set;
out-of-vocabulary replies become ``neutral``, as in ERV.

Configuration (arguments win over the environment): ``MIGR_JUDGE_MODEL`` (default ``gpt-4.1-mini``),
``OPENAI_BASE_URL`` (any OpenAI-compatible server, e.g. vLLM), ``OPENAI_API_KEY`` (servers that ignore keys
still need some value), ``MIGR_JUDGE_CACHE`` (cache file; default ``$XDG_CACHE_HOME/migr_hf/judge_cache.sqlite``).
The API key is only needed once a prompt misses the cache. Requires the ``openai`` package (extra ``judge``).
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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..labels import LabelSet, get_label_set
from .base import NEUTRAL, EmotionClassifier

logger = logging.getLogger(__name__)

ENV_MODEL = "MIGR_JUDGE_MODEL"
ENV_CACHE = "MIGR_JUDGE_CACHE"
ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_API_KEY = "OPENAI_API_KEY"
DEFAULT_JUDGE_MODEL = "gpt-4.1-mini"
RETRY_STATUS = frozenset({408, 409, 429})  # and every 5xx
# ERV's explanation-emotion prompt (data-formats.md).
JUDGE_PROMPT = (
    "Read the reasoning content and respond with the appropriate emotion in {labels}. "
    "Reply with only the emotion word.\nReason: {reason}\nAnswer Emotion:"
)


def default_cache_path() -> Path:
    """``$MIGR_JUDGE_CACHE``, else ``$XDG_CACHE_HOME/migr_hf/judge_cache.sqlite`` (``~/.cache`` by default)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "migr_hf" / "judge_cache.sqlite"


def build_judge_prompt(reason: str, label_set: str | LabelSet, template: str = JUDGE_PROMPT) -> str:
    """The judge prompt for one reasoning text, listing the label words of ``label_set``."""
    return template.format(labels=", ".join(get_label_set(label_set).labels), reason=reason)


def parse_judge_reply(reply: str, label_set: str | LabelSet) -> tuple[str, bool]:
    """``(label word, in vocabulary)`` for a judge reply; out-of-vocabulary replies give ``("neutral", False)``."""
    label = get_label_set(label_set).normalize(reply)
    return (label, True) if label is not None else (NEUTRAL, False)


@dataclass
class JudgeConfig:
    """Endpoint, retry and cache settings of :class:`JudgeClient` (``None`` fields come from the environment).

    Attributes:
        model: Chat model name.
        base_url: Endpoint, e.g. ``http://localhost:8000/v1``; the OpenAI API when ``None``.
        api_key: API key.
        cache_path: SQLite cache file.
        max_concurrency: Requests in flight at once.
        max_retries: Retries after the first attempt of a prompt.
        timeout: Seconds per request.
        backoff_base: Seconds before the first retry, doubled per retry (with jitter), capped at ``backoff_max``.
        backoff_max: Longest wait between two attempts, in seconds.
        temperature: Sampling temperature.
        max_completion_tokens: Reply length cap, in tokens.
    """

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    cache_path: str | os.PathLike | None = None
    max_concurrency: int = 8
    max_retries: int = 6
    timeout: float = 60.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    temperature: float = 0.0
    max_completion_tokens: int = 16

    def __post_init__(self) -> None:
        self.model = self.model or os.environ.get(ENV_MODEL) or DEFAULT_JUDGE_MODEL
        self.base_url = self.base_url or os.environ.get(ENV_BASE_URL) or None
        self.api_key = self.api_key or os.environ.get(ENV_API_KEY) or None
        self.cache_path = Path(self.cache_path).expanduser() if self.cache_path else default_cache_path()
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.timeout <= 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("timeout must be > 0 and backoff_base, backoff_max >= 0")


class JudgeCache:
    """Persistent ``(model, prompt) -> reply`` store in SQLite (WAL, one committed transaction per reply).

    Safe to share between threads of one process and between processes (e.g. training ranks).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
            "prompt TEXT NOT NULL, reply TEXT NOT NULL, created REAL NOT NULL)"
        )

    @staticmethod
    def key(model: str, prompt: str) -> str:
        """Cache key of a request: SHA-256 of the JSON pair ``[model, prompt]``."""
        return hashlib.sha256(json.dumps([model, prompt]).encode("utf-8")).hexdigest()

    def get_many(self, model: str, prompts: Sequence[str]) -> dict[str, str]:
        """Cached replies of those ``prompts`` that have one, by prompt."""
        keys = {self.key(model, prompt): prompt for prompt in prompts}
        found: dict[str, str] = {}
        key_list = list(keys)
        with self._lock:
            for start in range(0, len(key_list), 500):
                chunk = key_list[start : start + 500]
                rows = self._conn.execute(
                    f"SELECT key, reply FROM replies WHERE key IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                found.update((keys[key], reply) for key, reply in rows)
        return found

    def put(self, model: str, prompt: str, reply: str) -> None:
        """Store one reply; durable when this returns."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO replies (key, model, prompt, reply, created) VALUES (?, ?, ?, ?, ?)",
                (self.key(model, prompt), model, prompt, reply, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


class JudgeRequestError(RuntimeError):
    """A prompt failed: a non-retryable error, or retries exhausted."""


@dataclass
class JudgeStats:
    """Counters of one :class:`JudgeClient`: prompts answered from the cache, HTTP requests, retries, failures,
    and the last 100 failure messages."""

    cache_hits: int = 0
    requests: int = 0
    retries: int = 0
    failures: int = 0
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=100))


class JudgeClient:
    """Chat completions for many prompts: concurrent, retried, cached on disk (see the module doc).

    Args:
        config: Endpoint, retry and cache settings; from the environment when ``None``.
        client: An ``openai.OpenAI``-like client to use instead of building one (its own retries should be off).
    """

    def __init__(self, config: JudgeConfig | None = None, *, client: Any = None) -> None:
        self.config = config or JudgeConfig()
        self.cache = JudgeCache(self.config.cache_path)
        self.stats = JudgeStats()
        self._client = client
        self._stats_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The OpenAI client, built on first use (a fully cached run needs neither a key nor the package)."""
        if self._client is None:
            import openai

            if not self.config.api_key:
                raise ValueError(
                    f"no API key for the judge: set {ENV_API_KEY} (any value for servers that ignore keys)"
                )
            self._client = openai.OpenAI(
                api_key=self.config.api_key,
                base_url=self.config.base_url,
                timeout=self.config.timeout,
                max_retries=0,
            )
        return self._client

    def complete(self, prompts: Sequence[str], *, desc: str = "LLM judge") -> list[str | None]:
        """Reply text per prompt (length ``len(prompts)``), ``None`` for prompts that failed.

        Distinct prompts missing from the cache are sent concurrently; each reply is cached as it arrives.
        """
        unique = list(dict.fromkeys(prompts))
        replies: dict[str, str | None] = dict(self.cache.get_many(self.config.model, unique))
        self.stats.cache_hits += len(replies)
        todo = [prompt for prompt in unique if prompt not in replies]
        if todo:
            client = self.client
            pool = ThreadPoolExecutor(max_workers=self.config.max_concurrency, thread_name_prefix="migr-judge")
            try:
                futures = {pool.submit(self._request, client, prompt): prompt for prompt in todo}
                progress = tqdm(as_completed(futures), total=len(futures), desc=desc, disable=len(futures) < 16)
                for future in progress:
                    prompt = futures[future]
                    try:
                        replies[prompt] = future.result()
                    except Exception as error:  # a failed prompt must not stop the batch: record it and go on
                        replies[prompt] = None
                        with self._stats_lock:
                            self.stats.failures += 1
                            self.stats.errors.append(f"{type(error).__name__}: {error}")
                        logger.warning("judge request failed (%s: %s)", type(error).__name__, error)
            finally:
                # On interruption, drop queued prompts but let requests in flight finish and reach the cache.
                pool.shutdown(wait=True, cancel_futures=True)
        return [replies[prompt] for prompt in prompts]

    def _request(self, client: Any, prompt: str) -> str:
        import openai

        config = self.config
        for attempt in range(config.max_retries + 1):
            try:
                with self._stats_lock:
                    self.stats.requests += 1
                response = client.chat.completions.create(
                    model=config.model,
                    messages=[{"role": "user", "content": prompt}],
                    temperature=config.temperature,
                    max_completion_tokens=config.max_completion_tokens,
                )
            except openai.APIStatusError as error:
                if not (error.status_code in RETRY_STATUS or error.status_code >= 500):
                    raise JudgeRequestError(f"HTTP {error.status_code}: {error.message}") from error
                last_error: Exception = error
                retry_after = _retry_after(error)
            except (openai.APIConnectionError, openai.APITimeoutError) as error:
                last_error, retry_after = error, None
            else:
                reply = _reply_text(response)
                self.cache.put(config.model, prompt, reply)
                return reply
            if attempt == config.max_retries:
                break
            delay = min(config.backoff_max, config.backoff_base * 2**attempt) * random.uniform(0.5, 1.0)
            if retry_after is not None:
                delay = max(delay, min(retry_after, config.backoff_max))
            with self._stats_lock:
                self.stats.retries += 1
            logger.info("judge: %s, retry %d in %.2fs", type(last_error).__name__, attempt + 1, delay)
            time.sleep(delay)
        raise JudgeRequestError(f"gave up after {config.max_retries + 1} attempts: {last_error}") from last_error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.config.model!r}, base_url={self.config.base_url!r})"


def _retry_after(error: Any) -> float | None:
    try:
        return float(error.response.headers["retry-after"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _reply_text(response: Any) -> str:
    """Message text of a chat-completions response (``""`` when the model returned no content)."""
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError) as error:
        raise JudgeRequestError(f"malformed chat completion: {response!r:.200}") from error
    return content or ""


class LLMJudgeClassifier(EmotionClassifier):
    """``e_classifier`` (and EEA/EPC/FCR judge) that asks an LLM which label word a text expresses.

    Each text gets ``JUDGE_PROMPT``; the reply is one label word (``neutral`` when out of vocabulary), so
    :meth:`classify` gives one-element sets. Texts whose request failed give ``None`` from :meth:`predict`
    (empty sets, ``None`` judgements) and are asked again on the next call.

    Args:
        client: A :class:`JudgeClient` or its :class:`JudgeConfig`; from the environment when ``None``.
        prompt_template: Prompt with ``{labels}`` and ``{reason}`` fields.
        cache_size: See :class:`~migr_hf.classifiers.base.EmotionClassifier` (in memory, on top of the disk cache).
    """

    def __init__(
        self,
        client: JudgeClient | JudgeConfig | None = None,
        *,
        prompt_template: str = JUDGE_PROMPT,
        cache_size: int = 200_000,
    ) -> None:
        super().__init__(cache_size=cache_size)
        for name in ("{labels}", "{reason}"):
            if name not in prompt_template:
                raise ValueError(f"prompt_template must contain {name}")
        self.client = client if isinstance(client, JudgeClient) else JudgeClient(client)
        self.prompt_template = prompt_template
        self.out_of_vocabulary = 0

    def _predict(self, texts: list[str], label_set: LabelSet) -> list[tuple[str, ...] | None]:
        prompts = [build_judge_prompt(text, label_set, self.prompt_template) for text in texts]
        predictions: list[tuple[str, ...] | None] = []
        for reply in self.client.complete(prompts):
            if reply is None:
                predictions.append(None)
                continue
            label, in_vocabulary = parse_judge_reply(reply, label_set)
            if not in_vocabulary:
                self.out_of_vocabulary += 1
                logger.debug("judge reply %r is not a %s label: read as %s", reply, label_set.name, NEUTRAL)
            predictions.append((label,))
        return predictions

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"

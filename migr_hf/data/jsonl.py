"""Crash-safe files: whole-file atomic writes, a resumable append-only JSONL store, and the failures file.

Whole files (parquet shards, cards, summaries) are written to a temporary file in the same folder and moved over
the target with `os.replace`, so a reader sees the old file or the new one, never half of one. JSONL records are
appended whole lines at a time, flushed and fsynced before the call returns, so a crash loses at most the records
of the call in flight; a torn last line left by such a crash is dropped (and cut from the file) when the store is
opened again, and a malformed line elsewhere (a torn write later appended to, a damaged disk) is moved to
``<file>.quarantine`` with a warning. Files are created with the permissions the user's umask gives (as ``open``
does), never the owner-only mode of a bare temporary file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .records import Failure

logger = logging.getLogger(__name__)

T = TypeVar("T")


def user_file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open(path, "w")`` gives a new file."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temporary file in the same folder, fsync, `os.replace`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, user_file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Replace ``path`` with ``obj`` as indented JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def _append_lines(path: Path, lines: list[str]) -> None:
    _append_lines_bytes(path, [line.encode("utf-8") for line in lines])


def _append_lines_bytes(path: Path, lines: list[bytes]) -> None:
    if not lines:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(b"".join(lines))
        handle.flush()
        os.fsync(handle.fileno())


class JsonlStore:
    """Append-only JSONL file of dict records keyed by ``key``, for work that must survive a crash and resume.

    Opening the store reads every complete record; a torn last line (a crash in the middle of an append) is cut
    from the file, and a malformed line anywhere else is moved to ``<file>.quarantine`` (appended, with a warning
    naming the line) so the job goes on. When a key appears more than once the last record wins.

    Args:
        path: The JSONL file; created (with its folder) on the first append.
        key: Field of each record that identifies it.
    """

    def __init__(self, path: str | os.PathLike, key: str = "id") -> None:
        self.path = Path(path)
        self.key = key
        self._records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        bad: list[int] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                self._records[str(record[self.key])] = record
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
                logger.warning("%s:%d: malformed JSONL record (%s), moved to %s", self.path, number,
                               type(err).__name__, self.quarantine_path)  # fmt: skip
                bad.append(number - 1)
        if bad:
            _append_lines_bytes(self.quarantine_path, [lines[index] + b"\n" for index in bad])
            keep = set(range(len(lines))) - set(bad)
            data = b"".join(lines[index] + b"\n" for index in sorted(keep)) + tail
            atomic_write_bytes(self.path, data)
        if tail.strip():
            try:
                record = json.loads(tail)
            except json.JSONDecodeError:
                logger.warning(
                    "%s: dropping a torn last line (%d bytes) left by an interrupted write", self.path, len(tail)
                )
                with open(self.path, "r+b") as handle:
                    handle.truncate(len(data) - len(tail))
                    handle.flush()
                    os.fsync(handle.fileno())
            else:
                self._records[str(record[self.key])] = record
                with open(self.path, "ab") as handle:
                    handle.write(b"\n")
                    handle.flush()
                    os.fsync(handle.fileno())

    @property
    def quarantine_path(self) -> Path:
        """Where malformed lines of the store are moved: ``<file>.quarantine``."""
        return self.path.with_name(self.path.name + ".quarantine")

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._records.values()))

    def get(self, key: str) -> dict[str, Any] | None:
        """The last record stored under ``key``, or ``None``."""
        return self._records.get(key)

    @property
    def done_ids(self) -> frozenset[str]:
        """Keys of every stored record."""
        return frozenset(self._records)

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record durably."""
        self.append_many([record])

    def append_many(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append records durably in one write (one fsync for the whole batch)."""
        records = [dict(record) for record in records]
        for record in records:
            if self.key not in record:
                raise KeyError(f"record has no {self.key!r} field: {record}")
        _append_lines(self.path, [json.dumps(record, ensure_ascii=False) + "\n" for record in records])
        for record in records:
            self._records[str(record[self.key])] = record


class TooManyFailuresError(RuntimeError):
    """A batch stage failed for most of the samples it tried: the cause is systematic, not a few bad clips."""


@dataclass(frozen=True)
class FailurePolicy:
    """When a batch stage stops instead of recording failures and going on.

    A stage stops once it has tried at least ``min_samples`` samples and more than ``max_failed_fraction`` of them
    failed; ``max_failed_fraction=1.0`` never stops. Isolated bad samples below that are only recorded.
    """

    min_samples: int = 5
    max_failed_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        if not 0.0 <= self.max_failed_fraction <= 1.0:
            raise ValueError(f"max_failed_fraction must be in [0, 1], got {self.max_failed_fraction}")

    def exceeded(self, failed: int, tried: int) -> bool:
        return tried >= self.min_samples and failed > self.max_failed_fraction * tried


class FailureLog:
    """Failures of one build: kept in memory and, when ``path`` is given, appended durably to a JSONL file.

    The file of an earlier run is removed when the log is created and a new one is written on the first failure:
    every run re-detects its failures (failed samples are retried, never marked done), so the file always
    describes the latest run, and a run without failures leaves none (no stale empty files). ``policy``
    decides when a stage that keeps failing stops (see `check`).
    """

    def __init__(self, path: str | os.PathLike | None = None, policy: FailurePolicy | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.policy = policy if policy is not None else FailurePolicy()
        self.failures: list[Failure] = []
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def add(self, failure: Failure) -> None:
        """Record a failure (usable as a reader's ``on_failure`` callback)."""
        self.failures.append(failure)
        logger.debug("skipping %s (%s): %s %s", failure.id, failure.file, failure.reason.value, failure.detail)
        if self.path is not None:
            _append_lines(self.path, [json.dumps(failure.to_dict(), ensure_ascii=False) + "\n"])

    def __len__(self) -> int:
        return len(self.failures)

    def counts(self) -> dict[str, int]:
        """Number of failures per reason."""
        return dict(sorted(Counter(failure.reason.value for failure in self.failures).items()))

    def ids(self) -> set[str]:
        """Ids of the failed samples."""
        return {failure.id for failure in self.failures if failure.id is not None}

    def watch(self, stage: str, items: Iterable[T]) -> Iterator[T]:
        """Yield ``items`` one by one and, after the caller has handled each, `check` the failures recorded since
        the first one against the policy: a stage stops as soon as it fails for most of what it tried."""
        start = len(self.failures)
        tried = 0
        for item in items:
            yield item
            tried += 1
            self.check(stage, tried, start)

    def check(self, stage: str, tried: int, start: int = 0) -> None:
        """Raise `TooManyFailuresError` when the failures recorded since index ``start`` (the stage's own) exceed
        the policy for ``tried`` samples, e.g. ``Modality Importance failed for 7 of 7 samples (first: TypeError:
        ..., sample dfew_00001); see build/failures.jsonl``."""
        failed = self.failures[start:]
        if not self.policy.exceeded(len(failed), tried):
            return
        first = failed[0]
        cause = first.detail or first.reason.value
        where = f"; see {self.path}" if self.path is not None else ""
        raise TooManyFailuresError(
            f"{stage} failed for {len(failed)} of {tried} samples (first: {cause}, sample {first.id}){where}"
        )

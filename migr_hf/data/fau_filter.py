"""The FAU emotion-consistent filter of DFEW/MAFW training samples (paper section 3.1.1) as a resumable pipeline
stage: each candidate's OpenFace CSV -> `fau.fau_decision` -> reasoning written for the kept ones."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .. import schema
from ..services.llm import LLMError
from .fau import FAUConfig, FAUDecision, FAUEvidence, fau_decision
from .jsonl import FailureLog, JsonlStore
from .openface import NoFaceError
from .reasoning_writer import ReasoningWriter
from .records import DataFormatError, Failure, FailureReason, SampleRecord


def openface_csv_path(openface_dir: str | os.PathLike, record: SampleRecord) -> Path:
    """``<openface_dir>/<source>/<clip stem>.csv``, the file OpenFace writes for the record's clip."""
    return Path(openface_dir) / record.source / f"{Path(record.video or record.id).stem}.csv"


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def fau_filter(
    candidates: Sequence[SampleRecord],
    *,
    openface_dir: str | os.PathLike,
    config: FAUConfig,
    writer: ReasoningWriter,
    store: JsonlStore,
    failures: FailureLog,
    contexts: Mapping[str, str] | None = None,
    show_progress: bool = True,
) -> tuple[list[SampleRecord], dict[str, int]]:
    """Keep the candidates whose peak-frame AUs match exactly their label's emotion, with written reasoning.

    Decisions (and the reasoning of kept samples) are appended to ``store``; a stored decision made with the same
    FAU config (and, for kept samples, the same writer) is reused. Missing or unreadable OpenFace CSVs, clips
    without a tracked face and writer errors go to ``failures``.

    Returns:
        The kept records (``reasoning`` filled in) and the count of each outcome (match, mismatch, unmapped_label).
    """
    config_key = _fingerprint(config.to_dict(sources=False))
    kept: list[SampleRecord] = []
    outcomes: Counter[str] = Counter()
    bar = tqdm(candidates, desc="FAU filter", unit="clip", disable=not show_progress)
    for record in failures.watch("FAU filter", bar):
        stored = store.get(record.id)
        context = (contexts or {}).get(record.id)
        if (
            stored is not None
            and stored["fau_config"] == config_key
            and (
                stored["outcome"] != "match" or (stored["writer"] == writer.name and stored.get("context") == context)
            )
        ):
            outcomes[stored["outcome"]] += 1
            if stored["outcome"] == "match":
                kept.append(SampleRecord.from_dict({**record.to_dict(), schema.REASONING: stored["reasoning"]}))
            continue
        csv_path = openface_csv_path(openface_dir, record)
        try:
            decision = fau_decision(record.label_set, record.label, csv_path, config)
        except FileNotFoundError:
            failures.add(Failure(record.id, record.source, str(csv_path), FailureReason.MISSING_OPENFACE, ""))
            continue
        except NoFaceError as err:
            failures.add(Failure(record.id, record.source, str(csv_path), FailureReason.NO_FACE, str(err)))
            continue
        except DataFormatError as err:
            failures.add(Failure(record.id, record.source, str(csv_path), FailureReason.MALFORMED_OPENFACE, str(err)))
            continue
        row = _fau_row(record, decision, config_key)
        if decision.keep:
            try:
                reasoning = writer.write(record, decision.evidence, decision.target, context)
            except LLMError as err:
                failures.add(
                    Failure(record.id, record.source, str(csv_path), FailureReason.REASONING_WRITER_ERROR, str(err))
                )
                continue
            row.update(writer=writer.name, context=context, reasoning=reasoning)
            kept.append(SampleRecord.from_dict({**record.to_dict(), schema.REASONING: reasoning}))
        store.append(row)
        outcomes[decision.outcome] += 1
    return kept, dict(sorted(outcomes.items()))


def _fau_row(record: SampleRecord, decision: FAUDecision, config_key: str) -> dict[str, Any]:
    evidence: FAUEvidence | None = decision.evidence
    return {
        "id": record.id,
        "source": record.source,
        "label": record.label,
        "fau_config": config_key,
        "outcome": decision.outcome,
        "target": decision.target,
        "evidence": evidence.to_dict() if evidence is not None else None,
    }

"""The clip check of the dataset builds: every clip exists and decodes, with the streams the sample needs."""

from __future__ import annotations

import os
from collections.abc import Sequence

from tqdm.auto import tqdm

from ..media import MediaError, probe_media
from .jsonl import FailureLog
from .records import Failure, FailureReason, SampleRecord, error_detail


def check_clips(
    records: Sequence[SampleRecord],
    failures: FailureLog,
    *,
    require_audio: bool = True,
    show_progress: bool = True,
) -> list[SampleRecord]:
    """Records whose clip exists and probes with a video (and, with ``require_audio``, an audio) stream; the others
    go to ``failures`` (missing_clip, corrupt_clip, no_video_stream, no_audio_stream)."""
    good = []
    bar = tqdm(records, desc="checking clips", unit="clip", disable=not show_progress)
    for record in failures.watch("Clip check", bar):
        path = record.video
        if path is None or not os.path.isfile(path):
            failures.add(Failure(record.id, record.source, path or "", FailureReason.MISSING_CLIP, "no such file"))
            continue
        try:
            info = probe_media(path)
        except MediaError as err:
            failures.add(Failure(record.id, record.source, path, FailureReason.CORRUPT_CLIP, error_detail(err)))
            continue
        if not info.has_video:
            failures.add(Failure(record.id, record.source, path, FailureReason.NO_VIDEO_STREAM, ""))
        elif require_audio and not info.has_audio:
            failures.add(Failure(record.id, record.source, path, FailureReason.NO_AUDIO_STREAM, ""))
        else:
            good.append(record)
    return good

"""FAU emotion-consistent filtering (paper section 3.1.1): keep a clip only when the facial action units at its
peak frame match its target emotion, and nothing else, in the FAU-emotion table.

Procedure for one clip (thresholds from `FAUThresholds`, defaults in ``fau_emotion_table.yaml``):

1. Frames with a tracked face (``success == 1``, ``confidence >= min_confidence``); none -> `NoFaceError`.
2. Signal = per-frame sum of the AU intensities (``AUxx_r``) except blink (AU45: eyes closing carries no emotion and
   would otherwise make a blink the peak; AU45 is still reported as evidence). Candidate peaks = its local maxima with height
   ``>= peak_height``, at least ``peak_distance`` frames apart (`find_peaks`, the semantics of
   ``scipy.signal.find_peaks``); when there is none (too short or monotonic), the frame of the global maximum.
3. Most frequent AUs = the AUs active (``AUxx_r > active_intensity``) at the largest number of candidate peaks.
   Peak frame = the candidate with the highest summed intensity of those AUs (of all AUs when no AU is active).
4. At the peak frame, an emotion of the table matches when at least ``min_present_fraction`` of its AUs are
   present (``AUxx_c == 1``) and the mean intensity of its AUs that have an intensity column (AU28 has none) is at
   least ``min_mean_intensity``.
5. Exact match: the set of matched emotions must be exactly ``{target}``, where target is the sample's label word
   mapped through ``label_map``. A label mapped to ``null`` (neutral; MAFW helplessness and disappointment) has no
   FAU pattern and is never kept.

Every row of the shipped table names its source (MER-Factory's table, the combinations Emotion-LLaMA documents,
or migr-hf's own), as does the blink rule of step 2 (migr-hf's own); see the header of ``fau_emotion_table.yaml``.

Label words -> table emotions (default ``label_map``): DFEW words are the table's names (happy, sad, angry,
surprise, disgust, fear); MAFW anger->angry, happiness->happy, sadness->sad, anxiety->worried (the table's
"worried" comes from MER2023, whose worry class is the closest to anxiety), contempt/disgust/fear/surprise
unchanged; EMER words are the table's names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import yaml

from .openface import AU_NAMES, OpenFaceFrames, read_openface_csv

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path(__file__).with_name("fau_emotion_table.yaml")


@dataclass(frozen=True)
class FAUThresholds:
    """Thresholds of the FAU filter; intensities are OpenFace ``AUxx_r`` units (0..5), distances are frames."""

    active_intensity: float = 0.8
    min_present_fraction: float = 0.5
    min_mean_intensity: float = 0.8
    peak_height: float = 0.8
    peak_distance: int = 20
    min_confidence: float = 0.0


@dataclass(frozen=True)
class FAUConfig:
    """FAU-emotion table, thresholds and benchmark label mapping (see ``fau_emotion_table.yaml``).

    Attributes:
        emotions: Table emotion -> its AUs.
        thresholds: The filter's thresholds.
        label_map: Per label set, label word -> table emotion (``None``: no FAU pattern).
        sources: Table emotion -> where its row comes from, for the rows that name one. Provenance only: the
            filter never reads it, and the fingerprint under which decisions are stored leaves it out.
    """

    emotions: Mapping[str, tuple[str, ...]]
    thresholds: FAUThresholds = field(default_factory=FAUThresholds)
    label_map: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for emotion, aus in self.emotions.items():
            unknown = [au for au in aus if au not in AU_NAMES]
            if unknown or not aus:
                raise ValueError(f"FAU table: emotion {emotion!r} has unknown or no AUs {unknown or list(aus)}")
        stray = sorted(set(self.sources) - set(self.emotions))
        if stray:
            raise ValueError(f"FAU table: sources given for emotions missing from the table: {stray}")
        for label_set, mapping in self.label_map.items():
            unknown = sorted({e for e in mapping.values() if e is not None} - set(self.emotions))
            if unknown:
                raise ValueError(f"FAU label_map[{label_set!r}] maps to emotions missing from the table: {unknown}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: FAUConfig | None = None) -> FAUConfig:
        """Config from a mapping shaped like the YAML file, on top of ``base``: ``emotions`` replaces the table
        (rows ``{aus, source}`` or bare AU lists), ``thresholds`` and ``label_map`` entries replace single values.
        """
        known = {f.name for f in fields(FAUThresholds)}
        unknown = set(data.get("thresholds") or {}) - known
        if unknown:
            raise ValueError(f"unknown FAU threshold(s) {sorted(unknown)}; known: {sorted(known)}")
        thresholds = asdict(base.thresholds) if base is not None else {}
        thresholds.update(data.get("thresholds") or {})
        if data.get("emotions"):
            rows = {str(emotion): _table_row(str(emotion), row) for emotion, row in data["emotions"].items()}
            emotions = {emotion: aus for emotion, (aus, _) in rows.items()}
            sources = {emotion: source for emotion, (_, source) in rows.items() if source is not None}
        else:
            emotions = dict(base.emotions) if base is not None else {}
            sources = dict(base.sources) if base is not None else {}
        label_map = {k: dict(v) for k, v in (base.label_map if base is not None else {}).items()}
        for label_set, mapping in (data.get("label_map") or {}).items():
            label_map.setdefault(label_set, {}).update(mapping)
        return cls(
            emotions=MappingProxyType(emotions),
            thresholds=FAUThresholds(**thresholds),
            label_map=MappingProxyType({k: MappingProxyType(v) for k, v in label_map.items()}),
            sources=MappingProxyType(sources),
        )

    @classmethod
    def default(cls) -> FAUConfig:
        """The shipped table and thresholds (``migr_hf/data/fau_emotion_table.yaml``)."""
        return cls.from_dict(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> FAUConfig:
        """The default config overridden by the sections of a YAML or JSON file (JSON is valid YAML)."""
        return cls.from_dict(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}, base=cls.default())

    def table_emotion(self, label_set: str, label: str) -> str | None:
        """Table emotion of a benchmark label word, ``None`` when the label has no FAU pattern."""
        try:
            return self.label_map[label_set][label]
        except KeyError:
            raise KeyError(f"FAU label_map has no entry for {label_set}/{label}") from None

    def to_dict(self, sources: bool = True) -> dict[str, Any]:
        """The config shaped like the YAML file; ``sources=False`` leaves the row sources out (bare AU lists)."""
        return {
            "emotions": {
                emotion: {"aus": list(aus), "source": self.sources[emotion]}
                if sources and emotion in self.sources
                else list(aus)
                for emotion, aus in self.emotions.items()
            },
            "thresholds": asdict(self.thresholds),
            "label_map": {k: dict(v) for k, v in self.label_map.items()},
        }


def _table_row(emotion: str, row: Any) -> tuple[tuple[str, ...], str | None]:
    """``(AUs, source)`` of one table row: ``{aus: [...], source: "..."}`` or a bare AU list (no source)."""
    source = None
    if isinstance(row, Mapping):
        if "aus" not in row or set(row) - {"aus", "source"}:
            raise ValueError(f"FAU table: emotion {emotion!r}: a row is an AU list or {{aus, source}}, got {dict(row)}")
        row, source = row["aus"], row.get("source")
        if source is not None and (not isinstance(source, str) or not source.strip()):
            raise ValueError(f"FAU table: emotion {emotion!r}: source must be a non-empty string, got {source!r}")
    if isinstance(row, str) or not isinstance(row, (list, tuple)):
        raise ValueError(f"FAU table: emotion {emotion!r}: AUs must be a list, got {row!r}")
    return tuple(str(au) for au in row), source


def load_fau_config(config: FAUConfig | str | os.PathLike | None = None) -> FAUConfig:
    """A `FAUConfig` as given, read from an override file, or the default."""
    if isinstance(config, FAUConfig):
        return config
    return FAUConfig.default() if config is None else FAUConfig.from_file(config)


def find_peaks(signal: np.ndarray, *, height: float | None = None, distance: int = 1) -> np.ndarray:
    """Indices of the local maxima of a 1-D signal, as ``scipy.signal.find_peaks(signal, height, distance)``.

    A flat top counts once, at its middle (rounded down); the first and last samples are never peaks. Peaks
    closer than ``distance`` samples are thinned from the highest down.
    """
    x = np.asarray(signal, dtype=np.float64)
    peaks: list[int] = []
    i, last = 1, len(x) - 1
    while i < last:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < last and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
        i += 1
    found = np.asarray(peaks, dtype=np.int64)
    if height is not None:
        found = found[x[found] >= height]
    if distance > 1 and len(found) > 1:
        keep = np.ones(len(found), dtype=bool)
        for k in np.argsort(x[found], kind="stable")[::-1]:
            if not keep[k]:
                continue
            close = np.abs(found - found[k]) < distance
            close[k] = False
            keep &= ~close
        found = found[keep]
    return found


@dataclass(frozen=True)
class FAUEvidence:
    """What the filter saw at the peak frame of a clip.

    Attributes:
        frame: 1-based frame number of the peak frame.
        timestamp: Its time in seconds.
        active_aus: AU code -> intensity (0..5) of the AUs active at the peak, strongest first.
        present_aus: AU codes present (``AUxx_c == 1``) at the peak.
        matched: Table emotion -> mean intensity of its AUs, for every emotion that matches at the peak.
        matched_aus: Table emotion -> its AUs present at the peak, for every matched emotion.
        num_peaks: Number of candidate peaks considered.
    """

    frame: int
    timestamp: float
    active_aus: dict[str, float]
    present_aus: tuple[str, ...]
    matched: dict[str, float]
    matched_aus: dict[str, tuple[str, ...]]
    num_peaks: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["present_aus"] = list(self.present_aus)
        data["matched_aus"] = {emotion: list(aus) for emotion, aus in self.matched_aus.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FAUEvidence:
        return cls(
            **{
                **data,
                "present_aus": tuple(data["present_aus"]),
                "matched_aus": {emotion: tuple(aus) for emotion, aus in data["matched_aus"].items()},
            }
        )


# Blink: left out when choosing the peak frame.
BLINK_AU = "AU45"


def analyze_frames(frames: OpenFaceFrames, config: FAUConfig) -> FAUEvidence:
    """Peak frame, active AUs and matched emotions of one clip (steps 1-4 of the module docstring)."""
    th = config.thresholds
    frames = frames.successful(th.min_confidence)
    expressive = frames.intensity[:, [au != BLINK_AU for au in frames.intensity_aus]]
    total = expressive.sum(axis=1)
    candidates = find_peaks(total, height=th.peak_height, distance=th.peak_distance)
    if len(candidates) == 0:
        candidates = np.asarray([int(np.argmax(total))])
    active = expressive[candidates] > th.active_intensity
    counts = active.sum(axis=0)
    frequent = counts == counts.max() if counts.max() > 0 else np.ones_like(counts, dtype=bool)
    peak = int(candidates[int(np.argmax(expressive[candidates][:, frequent].sum(axis=1)))])

    intensity = dict(zip(frames.intensity_aus, frames.intensity[peak].tolist(), strict=True))
    present = {au for au, on in zip(frames.presence_aus, frames.presence[peak], strict=True) if on}
    active_aus = {
        au: round(v, 3) for au, v in sorted(intensity.items(), key=lambda kv: -kv[1]) if v > th.active_intensity
    }
    matched: dict[str, float] = {}
    matched_aus: dict[str, tuple[str, ...]] = {}
    for emotion, aus in config.emotions.items():
        if any(au not in frames.presence_aus for au in aus):
            continue
        if sum(au in present for au in aus) < th.min_present_fraction * len(aus):
            continue
        scored = [intensity[au] for au in aus if au in intensity]
        if scored and float(np.mean(scored)) >= th.min_mean_intensity:
            matched[emotion] = round(float(np.mean(scored)), 3)
            matched_aus[emotion] = tuple(au for au in aus if au in present)
    return FAUEvidence(
        frame=int(frames.frame[peak]),
        timestamp=float(frames.timestamp[peak]),
        active_aus=active_aus,
        present_aus=tuple(au for au in frames.presence_aus if au in present),
        matched=matched,
        matched_aus=matched_aus,
        num_peaks=len(candidates),
    )


@dataclass(frozen=True)
class FAUDecision:
    """Outcome of the FAU filter for one sample.

    Attributes:
        keep: Whether the matched emotions are exactly ``{target}``.
        outcome: ``"match"``, ``"mismatch"`` or ``"unmapped_label"`` (the label has no FAU pattern).
        target: Table emotion of the sample's label, or ``None``.
        evidence: What was seen at the peak frame (``None`` for ``"unmapped_label"``: the CSV is not read).
    """

    keep: bool
    outcome: str
    target: str | None
    evidence: FAUEvidence | None


def fau_decision(label_set: str, label: str, openface_csv: str | os.PathLike, config: FAUConfig) -> FAUDecision:
    """Run the FAU filter on one sample.

    Raises:
        FileNotFoundError: No OpenFace CSV at ``openface_csv``.
        migr_hf.data.records.DataFormatError: The CSV is not a readable OpenFace CSV.
        migr_hf.data.openface.NoFaceError: No frame with a tracked face.
    """
    target = config.table_emotion(label_set, label)
    if target is None:
        return FAUDecision(False, "unmapped_label", None, None)
    evidence = analyze_frames(read_openface_csv(openface_csv), config)
    keep = set(evidence.matched) == {target}
    return FAUDecision(keep, "match" if keep else "mismatch", target, evidence)

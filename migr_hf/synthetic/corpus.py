"""A synthetic audio-visual emotion corpus whose emotion-dominant modality is known, in the official layouts.

Every clip is a rendered cartoon face (`migr_hf.testing.sample_data.render_frames`) with speech
(`migr_hf.testing.sample_data.speech`: espeak-ng when installed, else tone sequences), and a recorded ground truth:

- ``audio``: the voice carries the label emotion at full intensity; the face is neutral or shows a faint
  distractor emotion (intensity `ClipSpec.weak_intensity`);
- ``visual``: the mirror case: the face carries the label, the voice is neutral or a faint distractor;
- ``both``: face and voice show the label at full intensity (every neutral-label clip is ``both``: a neutral face
  and a neutral voice are both "right").

So the label is always the emotion shown at full intensity, which a model can learn, and a unimodal view of
an ``audio``/``visual`` clip shows something else than the label, which is what Modality Importance detects.
Clips vary in face position, size, colours, pixel noise, speaker pitch and rate, audio noise, subtitle (from a
pool per emotion) and length (2-5 s by default).

Written under ``root`` (see `make_synthetic_corpus`):

- ``DFEW/``: ``Clip/original/<00001>.mp4`` and ``EmoLabel_DataSplit/{train,test}(single-labeled)/set_{1..5}.csv``
  (every fold; clip ``n`` is in the test split of fold ``(n - 1) % 5 + 1``);
- ``emer/EMER-V1.csv`` (``names,emotions,subtitles,reasons``) and ``emer/videos/<name>.mp4``: EMER-style reasoning
  that describes both modalities truthfully (the distractor included) and concludes with the label;
- ``openface/dfew/<00001>.csv``: OpenFace AU intensities/presences of what the face shows (a faint expression
  stays under the AU thresholds, like a neutral face);
- ``ground_truth.jsonl``: one row per clip with the reader's sample id (``dfew-00001``, ``emer-<name>``), its
  label, dominant modality, face and voice emotions and intensities and the rendering parameters.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..data.readers import make_id
from ..labels import DFEW
from ..testing.sample_data import AU_PATTERNS, FPS, FaceStyle, render_frames, speech, write_clip, write_openface_csv

logger = logging.getLogger(__name__)

EMOTIONS = ("happy", "sad", "angry", "surprise", "neutral")
DOMINANT_MODALITIES = ("audio", "visual", "both")
GROUND_TRUTH_FILE = "ground_truth.jsonl"
NUM_FOLDS = 5

# Spoken sentences per voice emotion (the subtitle of the clip).
SUBTITLE_POOL = {
    "happy": ("This is the best news I have heard all year!", "We won, we actually won!", "I love it, thank you!"),
    "sad": ("I miss her so much.", "Nothing will ever be the same again.", "I wish he had stayed."),
    "angry": ("How could you do this to me again?", "Get out of my room now!", "I told you a hundred times!"),
    "surprise": ("Wait, you did all of this for me?", "No way, is that really you?", "Oh, I did not expect that!"),
    "neutral": ("The meeting starts at nine tomorrow.", "Please put the box on the table.", "The train leaves at noon."),
}
# Cue sentences per modality and emotion: at full intensity, and faint (a distractor).
VISUAL_CUES = {
    "happy": ("she smiles broadly and her cheeks are raised", "there is a faint smile at the corners of the mouth"),
    "sad": ("he looks down and the corners of his mouth drop", "the mouth corners droop slightly, a little sad"),
    "angry": ("he frowns with lowered brows and tight lips", "the brows are lowered a little, a slight frown"),
    "surprise": ("her eyes widen and her mouth falls open", "the eyes open a little wider, slightly surprised"),
    "neutral": ("the face is relaxed with no clear expression", "the face is relaxed with no clear expression"),
}
AUDIO_CUES = {
    "happy": ("the voice is bright and cheerful, rising in pitch", "the voice sounds a little cheerful"),
    "sad": ("the voice is low, slow and tearful", "the voice is slightly low and slow, a little sad"),
    "angry": ("he speaks fast in a harsh, raised voice", "the voice is a little harsh and irritated"),
    "surprise": ("her pitch jumps up in an exclamation", "the pitch rises a little, slightly surprised"),
    "neutral": ("the tone is flat and calm", "the tone is flat and calm"),
}


@dataclass(frozen=True)
class CorpusSpec:
    """What to generate: clip counts, the random seed and the ranges the clips vary in.

    Attributes:
        num_dfew: DFEW-layout clips (spread over the 5 folds).
        num_emer: EMER-layout clips (with reasoning).
        dominant_weights: Sampling weights of ``audio`` / ``visual`` / ``both`` for non-neutral labels.
        neutral_share: Share of neutral-label clips (always ``both``).
        distractor_share: Share of the non-dominant modalities that show a faint distractor (else neutral).
        weak_intensity: Intensity (0 neutral .. 1 full) of a distractor expression.
        duration_s: Clip length range in seconds.
        frame_size: Square frame side in pixels.
    """

    num_dfew: int = 500
    num_emer: int = 300
    seed: int = 0
    dominant_weights: tuple[float, float, float] = (0.4, 0.4, 0.2)
    neutral_share: float = 0.15
    distractor_share: float = 0.5
    weak_intensity: float = 0.35
    duration_s: tuple[float, float] = (2.0, 5.0)
    frame_size: int = 64


@dataclass(frozen=True)
class ClipSpec:
    """One clip's ground truth and rendering parameters."""

    id: str
    source: str  # "dfew" | "emer"
    name: str  # DFEW clip number or EMER name
    fold: int  # DFEW fold whose test split holds the clip (0 for EMER)
    label: str
    dominant: str  # "audio" | "visual" | "both"
    face: str
    face_intensity: float
    voice: str
    voice_intensity: float
    subtitle: str
    duration_s: float
    pitch_scale: float
    rate_scale: float
    audio_noise: float
    style: FaceStyle = field(default_factory=FaceStyle)
    seed: int = 0

    def reasoning(self) -> str:
        """EMER-style reasoning: both modalities described as they are, then the conclusion with the label."""
        visual = VISUAL_CUES[self.face][0 if self.face_intensity >= 1 else 1]
        audio = AUDIO_CUES[self.voice][0 if self.voice_intensity >= 1 else 1]
        evidence = {"audio": "the voice", "visual": "the face", "both": "the face and the voice"}[self.dominant]
        return (
            f"In the video, {visual}. In the audio, {audio}. "
            f'In the text, the subtitle reads: "{self.subtitle}" '
            f"Based on {evidence}, which show the clearest cues, we can infer that the person feels {self.label}."
        )

    def to_dict(self) -> dict:
        return asdict(self)


def sample_clip_specs(spec: CorpusSpec) -> list[ClipSpec]:
    """The deterministic list of clips of `spec` (DFEW clips first, then EMER)."""
    clips = []
    for index in range(spec.num_dfew + spec.num_emer):
        rng = np.random.default_rng([spec.seed, index])
        if rng.random() < spec.neutral_share:
            label = "neutral"
        else:
            label = str(rng.choice([e for e in EMOTIONS if e != "neutral"]))
        dominant = "both" if label == "neutral" else str(rng.choice(DOMINANT_MODALITIES, p=_normalized(spec.dominant_weights)))
        other, other_intensity = label, 1.0
        if dominant != "both":
            if rng.random() < spec.distractor_share:
                other = str(rng.choice([e for e in EMOTIONS if e not in (label, "neutral")]))
                other_intensity = spec.weak_intensity
            else:
                other, other_intensity = "neutral", 1.0
        face, face_intensity = (other, other_intensity) if dominant == "audio" else (label, 1.0)
        voice, voice_intensity = (other, other_intensity) if dominant == "visual" else (label, 1.0)
        style = sample_face_style(rng)
        if index < spec.num_dfew:
            number = index + 1
            source, name, fold = "dfew", f"{number:05d}", index % NUM_FOLDS + 1
        else:
            source, name, fold = "emer", f"synthetic_{index - spec.num_dfew + 1:08d}", 0
        clips.append(
            ClipSpec(
                id=make_id(source, name),
                source=source,
                name=name,
                fold=fold,
                label=label,
                dominant=dominant,
                face=face,
                face_intensity=face_intensity,
                voice=voice,
                voice_intensity=voice_intensity,
                subtitle=str(rng.choice(SUBTITLE_POOL[voice])),
                duration_s=round(float(rng.uniform(*spec.duration_s)), 1),
                **sample_speaker(rng),
                style=style,
                seed=int(rng.integers(2**31)),
            )
        )
    return clips


def sample_face_style(rng: np.random.Generator) -> FaceStyle:
    """A random face look: position, size (the face fills most of the frame, as in DFEW's face-centred clips),
    skin and background colours, pixel noise."""
    return FaceStyle(
        offset=(float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.06, 0.06))),
        scale=float(rng.uniform(0.38, 0.46)),
        skin=tuple(int(c) for c in rng.integers([200, 160, 130], [255, 225, 195])),
        background=tuple(int(c) for c in rng.integers(20, 140, size=3)),
        noise=float(rng.uniform(0, 6)),
    )


def sample_speaker(rng: np.random.Generator) -> dict[str, float]:
    """A random speaker: pitch and rate scales (1.0: the emotion's own) and the std of added audio noise."""
    return dict(
        pitch_scale=float(rng.uniform(0.85, 1.15)),
        rate_scale=float(rng.uniform(0.9, 1.1)),
        audio_noise=float(rng.uniform(0, 0.01)),
    )


def shown_emotion(row: Mapping[str, Any], modality: str) -> str:
    """The emotion a modality (``"face"`` or ``"voice"``) of a ground-truth row shows clearly: its emotion at full
    intensity, ``neutral`` for a faint distractor (which stays under the AU thresholds too)."""
    return row[modality] if row[f"{modality}_intensity"] >= 1 else "neutral"


# share of non-neutral tower-pretraining faces and voices drawn faint (shown as ``neutral``)
PRETRAINING_FAINT_SHARE = 0.2


def _pretraining_emotion(rng: np.random.Generator, faint_share: float, weak_intensity: float) -> tuple[str, float, str]:
    """A uniformly drawn emotion, its intensity (`weak_intensity` with probability `faint_share` for a non-neutral
    one, else full) and the emotion it clearly shows (``neutral`` when faint)."""
    emotion = str(rng.choice(EMOTIONS))
    if emotion != "neutral" and rng.random() < faint_share:
        return emotion, weak_intensity, "neutral"
    return emotion, 1.0, emotion


def render_face_images(
    rng: np.random.Generator,
    count: int,
    size: int,
    faint_share: float = PRETRAINING_FAINT_SHARE,
    weak_intensity: float = CorpusSpec.weak_intensity,
) -> tuple[list[np.ndarray], list[str]]:
    """`count` single `(size, size, 3)` face frames, fresh from the corpus's style distribution, and the emotion
    each shows clearly (`shown_emotion`: a faint expression, drawn with probability `faint_share`, is ``neutral``).

    Tower pretraining data: generated independently of any corpus clip.
    """
    images, labels = [], []
    for _ in range(count):
        emotion, intensity, shown = _pretraining_emotion(rng, faint_share, weak_intensity)
        style = sample_face_style(rng)
        images.append(render_frames(emotion, 1, size=size, seed=int(rng.integers(2**31)), intensity=intensity, style=style)[0])
        labels.append(shown)
    return images, labels


def synthesize_voices(
    rng: np.random.Generator,
    count: int,
    duration_s: float,
    faint_share: float = PRETRAINING_FAINT_SHARE,
    weak_intensity: float = CorpusSpec.weak_intensity,
) -> tuple[list[np.ndarray], list[str]]:
    """`count` `(duration_s * 16000,)` waveforms of fresh speakers saying a sentence of the pool in an emotion's
    voice, and the emotion each clearly shows (a faint voice, drawn with probability `faint_share`, is ``neutral``).

    Tower pretraining data: generated independently of any corpus clip.
    """
    waveforms, labels = [], []
    for _ in range(count):
        emotion, intensity, shown = _pretraining_emotion(rng, faint_share, weak_intensity)
        speaker = sample_speaker(rng)
        waveform, _ = speech(
            str(rng.choice(SUBTITLE_POOL[emotion])),
            emotion,
            duration_s,
            intensity=intensity,
            pitch_scale=speaker["pitch_scale"],
            rate_scale=speaker["rate_scale"],
            noise=speaker["audio_noise"],
            seed=int(rng.integers(2**31)),
        )
        waveforms.append(waveform)
        labels.append(shown)
    return waveforms, labels


def _normalized(weights: Sequence[float]) -> list[float]:
    total = float(sum(weights))
    if total <= 0 or any(w < 0 for w in weights):
        raise ValueError(f"dominant_weights must be non-negative with a positive sum, got {weights}")
    return [w / total for w in weights]


@dataclass(frozen=True)
class SyntheticCorpus:
    """Paths of a generated corpus, laid out as the readers of `migr_hf.data` expect, and its ground truth."""

    root: Path
    dfew_root: Path
    emer_v1: Path
    emer_video_dir: Path
    openface_dir: Path
    ground_truth_path: Path
    speech: str  # "espeak-ng" or "tones"

    def ground_truth(self) -> dict[str, dict]:
        """Sample id -> ground-truth row (see `ClipSpec`)."""
        return load_ground_truth(self.ground_truth_path)


def load_ground_truth(path: str | os.PathLike) -> dict[str, dict]:
    """Sample id -> row of a ``ground_truth.jsonl``."""
    with open(path, encoding="utf-8") as handle:
        return {row["id"]: row for row in map(json.loads, handle)}


def clip_path(root: Path, clip: ClipSpec) -> Path:
    if clip.source == "dfew":
        return root / "DFEW" / "Clip" / "original" / f"{clip.name}.mp4"
    return root / "emer" / "videos" / f"{clip.name}.mp4"


def render_clip(path: Path, clip: ClipSpec, frame_size: int) -> str:
    """Write one clip's MP4; returns the speech method used."""
    waveform, method = speech(
        clip.subtitle,
        clip.voice,
        clip.duration_s,
        intensity=clip.voice_intensity,
        pitch_scale=clip.pitch_scale,
        rate_scale=clip.rate_scale,
        noise=clip.audio_noise,
        seed=clip.seed,
    )
    frames = render_frames(
        clip.face,
        int(clip.duration_s * FPS),
        size=frame_size,
        seed=clip.seed,
        intensity=clip.face_intensity,
        style=clip.style,
    )
    write_clip(path, frames, waveform)
    return method


def make_synthetic_corpus(
    root: str | os.PathLike, spec: CorpusSpec | None = None, show_progress: bool = True
) -> SyntheticCorpus:
    """Generate (or complete) the corpus of `spec` under `root`; clips already on disk are kept.

    The ground truth is written last, so a corpus with a ``ground_truth.jsonl`` is complete.
    """
    spec = spec or CorpusSpec()
    root = Path(root)
    clips = sample_clip_specs(spec)
    methods = set()
    for clip in tqdm(clips, desc="synthetic clips", unit="clip", disable=not show_progress):
        path = clip_path(root, clip)
        if not path.exists():
            partial = path.with_name(f".{path.name}.partial.mp4")
            methods.add(render_clip(partial, clip, spec.frame_size))
            os.replace(partial, path)
        if clip.source == "dfew":
            pattern = AU_PATTERNS[clip.face] if clip.face_intensity >= 1 else ()
            write_openface_csv(root / "openface" / "dfew" / f"{clip.name}.csv", pattern, int(clip.duration_s * FPS))
    dfew = [clip for clip in clips if clip.source == "dfew"]
    label_ids = {label: DFEW.labels.index(label) + 1 for label in EMOTIONS}
    for fold in range(1, NUM_FOLDS + 1):
        for split in ("train", "test"):
            rows = [clip for clip in dfew if (clip.fold == fold) == (split == "test")]
            path = root / "DFEW" / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"set_{fold}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                "video_name,label\n" + "".join(f"{int(c.name)},{label_ids[c.label]}\n" for c in rows), encoding="utf-8"
            )
    emer_csv = root / "emer" / "EMER-V1.csv"
    emer_csv.parent.mkdir(parents=True, exist_ok=True)
    with emer_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["names", "emotions", "subtitles", "reasons"])
        for clip in clips:
            if clip.source == "emer":
                writer.writerow([clip.name, clip.label, clip.subtitle, clip.reasoning()])
    ground_truth = root / GROUND_TRUTH_FILE
    partial = ground_truth.with_suffix(".partial")
    partial.write_text("".join(json.dumps(clip.to_dict()) + "\n" for clip in clips), encoding="utf-8")
    os.replace(partial, ground_truth)
    speech_method = "tones" if "tones" in methods or (not methods and not shutil.which("espeak-ng")) else "espeak-ng"
    logger.info(f"synthetic corpus in {root}: {len(clips)} clips ({speech_method} audio)")
    return SyntheticCorpus(
        root, root / "DFEW", emer_csv, root / "emer" / "videos", root / "openface", ground_truth, speech_method
    )


__all__ = [
    "DOMINANT_MODALITIES",
    "EMOTIONS",
    "ClipSpec",
    "CorpusSpec",
    "SyntheticCorpus",
    "load_ground_truth",
    "make_synthetic_corpus",
    "render_face_images",
    "sample_clip_specs",
    "sample_face_style",
    "sample_speaker",
    "shown_emotion",
    "synthesize_voices",
]

"""The built-in sample (quickstart, demo): tiny clips and files in the official DFEW / EMER / OpenFace layouts.

Clips are rendered cartoon faces whose brows, eyes and mouth follow the emotion, with speech synthesized by
espeak-ng (pitch and rate per emotion) when it is installed, else tone sequences whose pitch contour follows
the emotion. OpenFace CSVs carry an AU pattern per clip; one DFEW training clip gets the pattern of another
emotion, so the FAU filter visibly drops it, and neutral clips have no pattern (never kept).
"""

import csv
import io
import logging
import math
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from ..data.openface import INTENSITY_AUS, PRESENCE_AUS
from ..labels import DFEW
from ..media import read_audio

logger = logging.getLogger(__name__)

SAMPLING_RATE = 16000
FPS = 10

# Face geometry per emotion: brow tilt (+: inner ends up), eye openness, mouth curvature (+: smile) and opening.
FACES = {
    "happy": dict(brow=0.0, eyes=0.8, curve=1.0, opening=0.3, skin=(250, 214, 170)),
    "sad": dict(brow=0.8, eyes=0.6, curve=-0.9, opening=0.0, skin=(226, 200, 170)),
    "angry": dict(brow=-1.0, eyes=0.7, curve=-0.4, opening=0.1, skin=(245, 180, 150)),
    "surprise": dict(brow=0.5, eyes=1.3, curve=0.0, opening=1.0, skin=(248, 220, 180)),
    "neutral": dict(brow=0.0, eyes=0.8, curve=0.0, opening=0.0, skin=(240, 210, 175)),
    "worried": dict(brow=0.9, eyes=0.9, curve=-0.3, opening=0.2, skin=(236, 206, 176)),
}
# espeak-ng pitch (0-99) and rate (words/min), or the tone contour (Hz at start and end), per emotion.
VOICES = {
    "happy": dict(pitch=75, rate=190, tones=(330, 520)),
    "sad": dict(pitch=25, rate=120, tones=(220, 150)),
    "angry": dict(pitch=45, rate=210, tones=(180, 200)),
    "surprise": dict(pitch=90, rate=170, tones=(300, 640)),
    "neutral": dict(pitch=50, rate=160, tones=(250, 250)),
    "worried": dict(pitch=60, rate=150, tones=(280, 240)),
}
# Active OpenFace AUs per emotion: each pattern matches exactly its emotion under the default FAU table.
AU_PATTERNS = {
    "happy": ("AU06", "AU12"),
    "sad": ("AU01", "AU04", "AU14"),
    "angry": ("AU04", "AU05", "AU07", "AU23"),
    "surprise": ("AU02", "AU05", "AU26"),
    "neutral": (),
}
SUBTITLES = {
    "happy": "This is the best news I have heard all year!",
    "sad": "I miss her so much, I can't stop thinking about it.",
    "angry": "How could you do this to me again?",
    "surprise": "Wait, you did all of this for me?",
    "neutral": "The meeting starts at nine tomorrow.",
    "worried": "What if they don't come back tonight?",
}
CUES = {
    "happy": ("she smiles broadly and her cheeks are raised", "the voice is bright and cheerful, with laughter"),
    "sad": ("he looks down and the corners of his mouth drop", "the voice is low, slow and tearful"),
    "angry": ("he frowns with lowered brows and tight lips", "he speaks fast in a harsh, raised voice"),
    "surprise": ("her eyes widen and her mouth falls open", "her pitch jumps up in an exclamation"),
    "neutral": ("the face is relaxed with no clear expression", "the tone is flat and calm"),
    "worried": ("her inner brows are raised and she glances around", "her voice is unsteady and hesitant"),
}
# (clip name, label, source split); one DFEW training clip carries another emotion's AU pattern.
EMER_SAMPLES = (
    ("sample_00000001", "happy"),
    ("sample_00000002", "sad"),
    ("sample_00000003", "angry"),
    ("sample_00000004", "surprise"),
    ("sample_00000005", "worried"),
    ("sample_00000006", "sad"),
)
DFEW_TRAIN = ((1, "happy"), (2, "sad"), (3, "angry"), (4, "surprise"), (5, "neutral"), (6, "happy"), (7, "sad"))
DFEW_TEST = ((101, "happy"), (102, "sad"), (103, "angry"), (104, "surprise"), (105, "neutral"), (106, "happy"))
MISMATCHED_AU = {7: "happy"}  # DFEW clip 7 is labelled sad but its face moves like a smile


@dataclass(frozen=True)
class SampleCorpus:
    """Paths of the generated sample, laid out as the readers of `migr_hf.data` expect."""

    root: Path
    emer_v1: Path
    emer_video_dir: Path
    dfew_root: Path
    openface_dir: Path
    speech: str  # "espeak-ng" or "tones"


@dataclass(frozen=True)
class FaceStyle:
    """How a rendered face looks apart from its expression: offset of its centre and its radius (fractions of the
    frame), skin and background RGB colours and the std of per-pixel Gaussian noise (0-255 units)."""

    offset: tuple[float, float] = (0.0, 0.0)
    scale: float = 0.36
    skin: tuple[int, int, int] | None = None
    background: tuple[int, int, int] | None = None
    noise: float = 0.0


def face_geometry(emotion: str, intensity: float = 1.0) -> dict[str, float]:
    """Brow, eyes, curve and opening of `emotion`, interpolated from neutral by `intensity` (0: neutral, 1: full)."""
    neutral, face = FACES["neutral"], FACES[emotion]
    return {key: neutral[key] + intensity * (face[key] - neutral[key]) for key in ("brow", "eyes", "curve", "opening")}


def render_frames(
    emotion: str,
    num_frames: int,
    size: int = 96,
    seed: int = 0,
    intensity: float = 1.0,
    style: FaceStyle | None = None,
) -> np.ndarray:
    """`(num_frames, size, size, 3)` uint8 frames of a cartoon face showing `emotion` at `intensity`, gently moving.

    Feature sizes scale with the face radius, so a face of any frame `size` and `style.scale` keeps its expression.
    """
    style = style or FaceStyle()
    face = face_geometry(emotion, intensity)
    rng = np.random.default_rng(seed)
    background = style.background or tuple(int(c) for c in rng.integers(40, 120, size=3))
    skin = style.skin or FACES[emotion]["skin"]
    r = size * style.scale
    unit = r / (96 * 0.36)  # feature sizes were drawn for a radius of 34.56 px
    frames = []
    for index in range(num_frames):
        phase = math.sin(2 * math.pi * index / max(num_frames, 1))
        image = Image.new("RGB", (size, size), background)
        draw = ImageDraw.Draw(image)
        cx = size / 2 + style.offset[0] * size + 2 * unit * phase
        cy = size / 2 + style.offset[1] * size + unit * phase
        draw.ellipse((cx - r, cy - r * 1.1, cx + r, cy + r * 1.1), fill=skin)
        eye_h = (3 + 4 * face["eyes"]) * unit
        width = max(1, round(3 * unit))
        for side in (-1, 1):
            ex, ey = cx + side * r * 0.4, cy - r * 0.25
            draw.ellipse((ex - 5 * unit, ey - eye_h / 2, ex + 5 * unit, ey + eye_h / 2), fill=(30, 30, 30))
            tilt = face["brow"] * 5 * unit
            inner = (ex - side * 7 * unit, ey - 10 * unit - tilt)
            outer = (ex + side * 7 * unit, ey - 10 * unit + tilt)
            draw.line([inner, outer], fill=(60, 40, 30), width=width)
        mouth_w, my = r * 0.55, cy + r * 0.45
        curve = face["curve"] * 8 * unit
        opening = face["opening"] * (6 + 3 * abs(phase)) * unit
        draw.line([(cx - mouth_w, my - curve), (cx, my + curve), (cx + mouth_w, my - curve)], fill=(150, 40, 50), width=width)
        if opening > 0:
            draw.ellipse(
                (cx - 6 * unit, my - opening / 2 + curve / 2, cx + 6 * unit, my + opening / 2 + curve / 2), fill=(90, 20, 30)
            )
        frame = np.asarray(image)
        if style.noise > 0:
            frame = np.clip(frame + rng.normal(0, style.noise, frame.shape), 0, 255).astype(np.uint8)
        frames.append(frame)
    return np.stack(frames)


def speech(
    text: str,
    emotion: str,
    duration_s: float,
    intensity: float = 1.0,
    pitch_scale: float = 1.0,
    rate_scale: float = 1.0,
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, str]:
    """`(N,)` float32 waveform at 16 kHz saying `text` (espeak-ng) or tones; returns it and the method used.

    The emotion's pitch and rate (or tone contour and syllable rate) are interpolated from neutral by `intensity`;
    `pitch_scale` / `rate_scale` set the speaker (1.0: the emotion's own), `noise` adds Gaussian noise of that std.
    """
    neutral, voice = VOICES["neutral"], VOICES[emotion]
    rate = (neutral["rate"] + intensity * (voice["rate"] - neutral["rate"])) * rate_scale
    if shutil.which("espeak-ng"):
        pitch = (neutral["pitch"] + intensity * (voice["pitch"] - neutral["pitch"])) * pitch_scale
        result = subprocess.run(
            ["espeak-ng", "--stdout", "-v", "en", "-p", str(int(np.clip(pitch, 0, 99))), "-s", str(int(rate)), text],
            capture_output=True,
            check=True,
            timeout=60,
        )
        waveform = read_audio(result.stdout, sampling_rate=SAMPLING_RATE)
        method = "espeak-ng"
    else:
        base, (start, end) = neutral["tones"][0], voice["tones"]
        start = base * (start / base) ** intensity * pitch_scale
        end = base * (end / base) ** intensity * pitch_scale
        t = np.arange(int(duration_s * SAMPLING_RATE)) / SAMPLING_RATE
        frequency = start + (end - start) * t / duration_s
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * rate / neutral["rate"] * t) ** 2
        waveform = (0.3 * envelope * np.sin(2 * np.pi * np.cumsum(frequency) / SAMPLING_RATE)).astype(np.float32)
        method = "tones"
    samples = int(duration_s * SAMPLING_RATE)
    waveform = np.pad(waveform, (0, max(0, samples - len(waveform))))[:samples]
    if noise > 0:
        waveform = waveform + np.random.default_rng(seed).normal(0, noise, waveform.shape)
    return waveform.astype(np.float32), method


def write_clip(path: Path, frames: np.ndarray, waveform: np.ndarray) -> None:
    """Mux `(N, H, W, 3)` frames at `FPS` and a 16 kHz mono waveform into an H.264/AAC MP4."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        audio = container.add_stream("aac", rate=SAMPLING_RATE, layout="mono")
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = index
            container.mux(video.encode(picture))
        container.mux(video.encode())
        step = audio.codec_context.frame_size or 1024
        for start in range(0, len(waveform), step):
            chunk = av.AudioFrame.from_ndarray(waveform[None, start : start + step].copy(), format="fltp", layout="mono")
            chunk.sample_rate, chunk.time_base, chunk.pts = SAMPLING_RATE, Fraction(1, SAMPLING_RATE), start
            container.mux(audio.encode(chunk))
        container.mux(audio.encode())


def write_openface_csv(path: Path, active_aus: tuple[str, ...], num_frames: int) -> None:
    """An OpenFace FeatureExtraction CSV (", "-separated) whose AUs in `active_aus` peak mid-clip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ["frame", "face_id", "timestamp", "confidence", "success"]
    header += [f"{au}_r" for au in INTENSITY_AUS] + [f"{au}_c" for au in PRESENCE_AUS]
    rows = []
    for index in range(num_frames):
        strength = math.exp(-(((index - num_frames / 2) / (num_frames / 6)) ** 2))
        intensities = [round(2.5 * strength, 3) if au in active_aus else 0.05 for au in INTENSITY_AUS]
        presences = [int(au in active_aus and strength > 0.3) for au in PRESENCE_AUS]
        rows.append([index + 1, 0, round(index / FPS, 3), 0.98, 1, *intensities, *presences])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    path.write_text(buffer.getvalue().replace(",", ", "), encoding="utf-8")


def write_sample_clip(path: str | Path, label: str, duration_s: float = 2.0, seed: int = 0) -> str:
    """Write one sample clip (rendered face + speech of `SUBTITLES[label]`); returns the speech method used."""
    waveform, method = speech(SUBTITLES[label], label, duration_s)
    write_clip(Path(path), render_frames(label, int(duration_s * FPS), seed=seed), waveform)
    return method


def emer_reasoning(label: str) -> str:
    """EMER-style reasoning: "In the video ... In the audio ... In the text ... Based on ..."."""
    visual, audio = CUES[label]
    return (
        f"In the video, {visual}. In the audio, {audio}. "
        f'In the text, the subtitle reads: "{SUBTITLES[label]}" '
        f"Based on the face, the voice and the words, we can infer that the person feels {label}."
    )


def make_sample_corpus(root: str | Path, duration_s: float = 2.0) -> SampleCorpus:
    """Write the sample under `root` (EMER V1 CSV and clips, a DFEW fold-5 tree, OpenFace CSVs)."""
    root = Path(root)
    num_frames = int(duration_s * FPS)
    methods = set()

    def clip(path: Path, label: str, seed: int) -> None:
        methods.add(write_sample_clip(path, label, duration_s, seed))

    emer_dir = root / "emer" / "videos"
    emer_csv = root / "emer" / "EMER-V1.csv"
    emer_csv.parent.mkdir(parents=True, exist_ok=True)
    with emer_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["names", "emotions", "subtitles", "reasons"])
        for seed, (name, label) in enumerate(EMER_SAMPLES):
            clip(emer_dir / f"{name}.mp4", label, seed)
            writer.writerow([name, label, SUBTITLES[label], emer_reasoning(label)])

    dfew = root / "DFEW"
    openface = root / "openface"
    for split, samples in (("train", DFEW_TRAIN), ("test", DFEW_TEST)):
        split_csv = dfew / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / "set_5.csv"
        split_csv.parent.mkdir(parents=True, exist_ok=True)
        ids = {label: DFEW.labels.index(label) + 1 for label in DFEW.labels}
        split_csv.write_text(
            "video_name,label\n" + "".join(f"{number},{ids[label]}\n" for number, label in samples), encoding="utf-8"
        )
        for number, label in samples:
            clip(dfew / "Clip" / "original" / f"{number:05d}.mp4", label, seed=100 + number)
            pattern = AU_PATTERNS[MISMATCHED_AU.get(number, label)]
            write_openface_csv(openface / "dfew" / f"{number:05d}.csv", pattern, num_frames)
    speech_method = "espeak-ng" if methods == {"espeak-ng"} else "tones"
    logger.info(f"sample corpus in {root} ({speech_method} audio)")
    return SampleCorpus(root, emer_csv, emer_dir, dfew, openface, speech_method)


__all__ = [
    "AU_PATTERNS",
    "FaceStyle",
    "SampleCorpus",
    "make_sample_corpus",
    "face_geometry",
    "render_frames",
    "speech",
    "write_openface_csv",
    "write_sample_clip",
]

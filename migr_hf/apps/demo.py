"""Gradio demo: upload a clip (or pick a sample) and see the predicted emotion and the MIGR reasoning, with the
audio (`<aud_desc>`) and visual (`<vis_desc>`) segments coloured and the modality the reasoning starts from.

- `build_demo(reasoner, samples)` builds the `gr.Blocks` around an `EmotionReasoner`.
- `load_demo(model, ...)` loads a checkpoint (local path or Hub id) and the sample clips, then builds the demo.
- `demo_from_env()` does the same from the Space variables `MIGR_MODEL` (required), `MIGR_LABEL_SET`,
  `MIGR_SAMPLES` and `MIGR_MAX_NEW_TOKENS`; `spaces/migr-demo/app.py` and `migr-hf demo` launch it.

Sample clips: the files of a folder (`MIGR_SAMPLES`), or, without one, two synthetic clips (a drawn smiling face
with a rising tone, a frowning face with a falling tone) encoded with PyAV at start-up, so no media ship in git.
They exercise the pipeline; they carry no real emotional content.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import gradio as gr
import torch
from transformers.utils import logging

from ..labels import LABEL_SETS
from ..parsing import ANSWER_SEGMENT, AUDIO_SEGMENT, THINK_SEGMENT, VISUAL_SEGMENT, parse_completion
from ..testing.sample_data import write_sample_clip
from .inference import MODES, EmotionPrediction, EmotionReasoner

logger = logging.get_logger(__name__)

ENV_MODEL = "MIGR_MODEL"
ENV_LABEL_SET = "MIGR_LABEL_SET"
ENV_SAMPLES = "MIGR_SAMPLES"
ENV_MAX_NEW_TOKENS = "MIGR_MAX_NEW_TOKENS"
MEDIA_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi")
TITLE = "MIGR: modality-importance-guided emotion reasoning"
DESCRIPTION = (
    "Upload a video clip (or pick a sample) and choose which modalities the model sees. The model describes the "
    "audio and visual cues, starting from the modality it judges most informative, then reasons and answers."
)
# Segment name -> (heading, background colour, accent colour).
SEGMENT_STYLES = {
    AUDIO_SEGMENT: ("Audio cues", "#fff4e6", "#e8590c"),
    VISUAL_SEGMENT: ("Visual cues", "#e7f5ff", "#1c7ed6"),
    THINK_SEGMENT: ("Reasoning", "#f1f3f5", "#495057"),
    ANSWER_SEGMENT: ("Answer", "#ebfbee", "#2b8a3e"),
}


def render_segment(name: str, text: str) -> str:
    """One reasoning segment as an HTML block coloured by its kind (inline styles, text escaped)."""
    heading, background, accent = SEGMENT_STYLES[name]
    return (
        f'<div class="migr-segment" data-segment="{name}" style="background:{background};border-left:4px solid '
        f'{accent};border-radius:4px;padding:6px 10px;margin:6px 0;color:#212529">'
        f'<div style="font-size:0.8em;font-weight:600;color:{accent}">{heading}</div>'
        f'<div class="migr-segment-text">{html.escape(text)}</div></div>'
    )


def emotion_text(prediction: EmotionPrediction) -> str:
    """The emotion to show: the label word, else the raw answer marked as no label, else `"no answer"`."""
    if prediction.emotion:
        return prediction.emotion
    return f"{prediction.answer} (not a label)" if prediction.answer else "no answer"


def render_prediction_html(prediction: EmotionPrediction) -> str:
    """The prediction as HTML: a summary line, the segments in the order the model wrote them, the deviations from
    the MIGR format, and the raw output (collapsed)."""
    parsed = parse_completion(prediction.raw_text)
    emotion = html.escape(emotion_text(prediction))
    first = f"{prediction.first_modality} cues" if prediction.first_modality else "no modality segment"
    parts = [
        '<div class="migr-result">',
        f'<div class="migr-summary">Emotion: <b class="migr-emotion">{emotion}</b> &middot; '
        f'reasoning starts from <b class="migr-first-modality">{first}</b> &middot; input: {prediction.mode}</div>',
        *(render_segment(segment.name, segment.text) for segment in parsed.segments),
    ]
    if parsed.issues:
        issues = "; ".join(parsed.issues)
        parts.append(
            f'<div class="migr-issues" style="color:#c92a2a">Not in the MIGR format: {html.escape(issues)}</div>'
        )
    parts += [
        f'<details class="migr-raw"><summary>Raw output</summary><pre style="white-space:pre-wrap">'
        f"{html.escape(prediction.raw_text)}</pre></details>",
        "</div>",
    ]
    return "".join(parts)


def predict_clip(reasoner: EmotionReasoner, clip: str | None, mode: str) -> tuple[str, str, str]:
    """The demo's handler: `(emotion, first modality, reasoning HTML)` for an uploaded clip path."""
    if not clip:
        raise gr.Error("Upload a clip or pick a sample first.")
    try:
        prediction = reasoner(clip, mode=mode)
    except ValueError as error:  # unreadable media (MediaError), or no stream for the chosen mode
        raise gr.Error(f"Could not process the clip: {error}") from error
    return emotion_text(prediction), prediction.first_modality or "none", render_prediction_html(prediction)


def build_demo(reasoner: EmotionReasoner, samples: Sequence[str | os.PathLike] = (), title: str = TITLE) -> gr.Blocks:
    """The Gradio app: clip upload, input mode (audio+video / video / audio), samples, and the result panel."""
    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}\n\n{DESCRIPTION}")
        with gr.Row():
            with gr.Column():
                clip = gr.Video(label="Clip", sources=["upload"], include_audio=True, elem_id="migr-clip")
                mode = gr.Radio(
                    list(MODES),
                    value=MODES[0],
                    label="Input",
                    info="what the model sees: both streams, the frames only, or the sound track only",
                    elem_id="migr-mode",
                )
                run = gr.Button("Run", variant="primary", elem_id="migr-run")
                if samples:
                    gr.Examples(
                        examples=[[str(path), MODES[0]] for path in samples],
                        inputs=[clip, mode],
                        label="Samples",
                        cache_examples=False,
                    )
            with gr.Column():
                emotion = gr.Textbox(label="Predicted emotion", interactive=False, elem_id="migr-emotion")
                first = gr.Textbox(label="Reasoning starts from", interactive=False, elem_id="migr-first-modality")
                reasoning = gr.HTML(label="Reasoning", elem_id="migr-reasoning")
        run.click(
            partial(predict_clip, reasoner),
            inputs=[clip, mode],
            outputs=[emotion, first, reasoning],
            api_name="predict",
        )
    return demo


SAMPLE_EMOTIONS = ("happy", "sad", "surprise")


def make_sample_clips(directory: str | os.PathLike, seconds: float = 2.0) -> list[Path]:
    """Write the built-in sample clips (`migr_hf.testing.sample_data`: rendered faces with speech) into `directory`."""
    directory = Path(directory)
    paths = [directory / f"sample_{emotion}.mp4" for emotion in SAMPLE_EMOTIONS]
    for seed, (path, emotion) in enumerate(zip(paths, SAMPLE_EMOTIONS)):
        write_sample_clip(path, emotion, seconds, seed=seed)
    return paths


def find_sample_clips(directory: str | os.PathLike) -> list[Path]:
    """Media files (by suffix) directly inside `directory`, sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"sample folder not found: {directory}")
    return sorted(path for path in directory.iterdir() if path.suffix.lower() in MEDIA_SUFFIXES)


def load_demo(
    model: str | os.PathLike,
    *,
    label_set: str | None = None,
    samples: str | os.PathLike | None = None,
    max_new_tokens: int = 512,
    device: str | None = None,
) -> gr.Blocks:
    """Load a MIGR-Omni checkpoint (local path or Hub id) and build the demo.

    Args:
        label_set: `"dfew"`, `"mafw"` or `"emer"` to normalise answers to label words.
        samples: Folder of sample clips; default: the synthetic clips, written to a temporary folder.
        device: Torch device; default `cuda` when available, else `cpu`.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    reasoner = EmotionReasoner.from_pretrained(model, device=device, label_set=label_set, max_new_tokens=max_new_tokens)
    if samples is not None:
        sample_paths = find_sample_clips(samples)
    else:
        sample_paths = make_sample_clips(tempfile.mkdtemp(prefix="migr-demo-samples-"))
    logger.info("demo of %s on %s with %d sample clips", model, device, len(sample_paths))
    return build_demo(reasoner, sample_paths)


def demo_from_env() -> gr.Blocks:
    """`load_demo` configured by `MIGR_MODEL`, `MIGR_LABEL_SET`, `MIGR_SAMPLES` and `MIGR_MAX_NEW_TOKENS`."""
    model = os.environ.get(ENV_MODEL)
    if not model:
        raise ValueError(f"set {ENV_MODEL} to a MIGR-Omni checkpoint: a local path or a Hub model id")
    label_set = os.environ.get(ENV_LABEL_SET) or None
    if label_set is not None and label_set.lower() not in LABEL_SETS:
        raise ValueError(f"{ENV_LABEL_SET}={label_set!r}: expected one of {', '.join(LABEL_SETS)}")
    return load_demo(
        model,
        label_set=label_set,
        samples=os.environ.get(ENV_SAMPLES) or None,
        max_new_tokens=int(os.environ.get(ENV_MAX_NEW_TOKENS, "512")),
    )


__all__ = [
    "build_demo",
    "demo_from_env",
    "emotion_text",
    "find_sample_clips",
    "load_demo",
    "make_sample_clips",
    "predict_clip",
    "render_prediction_html",
    "render_segment",
]

"""Processor of MIGR-Omni: Qwen2 tokenizer + chat template, SigLIP frames, Whisper log-mels and the BERT gate text."""

import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import BatchFeature, ProcessorMixin
from transformers.utils import logging

from migr_hf.media import FRAME_SELECTIONS, NO_VIDEO_STREAM, MediaError, read_audio, read_video_frames, source_name

logger = logging.get_logger(__name__)

# The remote-code export (see `MIGROmniProcessor.save_pretrained`) ships the package's media decoder beside this
# module and points this import at it.
PACKAGE_MEDIA_IMPORT = "from migr_hf.media import"
REMOTE_CODE_MEDIA_IMPORT = "from .media import"

QWEN_SYSTEM_PROMPT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

# Qwen2.5 chat template with media blocks. A video block renders as "<video>\n" and an audio block as
# "<audio>\n", so that a user turn [video, audio, text] renders "<video>\n<audio>\n" + text, the prompt
# HumanOmni/R1-Omni inference builds. `{% generation %}` marks the supervised part of assistant turns
# (the content and its closing "<|im_end|>\n").
DEFAULT_CHAT_TEMPLATE = """{%- macro render(content) -%}
{%- if content is string -%}{{- content -}}
{%- else -%}{%- for block in content -%}
{%- if block['type'] == 'video' -%}{{- '<video>\\n' -}}
{%- elif block['type'] == 'audio' -%}{{- '<audio>\\n' -}}
{%- elif block['type'] == 'text' -%}{{- block['text'] -}}
{%- endif -%}{%- endfor -%}{%- endif -%}
{%- endmacro -%}
{%- for message in messages -%}
{%- if loop.first and message['role'] != 'system' -%}
{{- '<|im_start|>system\\n""" + QWEN_SYSTEM_PROMPT + """<|im_end|>\\n' -}}
{%- endif -%}
{%- if message['role'] == 'assistant' -%}
{{- '<|im_start|>assistant\\n' -}}
{%- generation -%}{{- render(message['content']) + '<|im_end|>\\n' -}}{%- endgeneration -%}
{%- else -%}
{{- '<|im_start|>' + message['role'] + '\\n' + render(message['content']) + '<|im_end|>\\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"""

FRAME_MODES = ("pad", "squash")
VIDEO_MARKERS = ("<vi_start>", "<vi_end>")
AUDIO_MARKERS = ("<au_start>", "<au_end>")
_USER_TURN = re.compile(r"<\|im_start\|>user\n(.*?)<\|im_end\|>", re.DOTALL)


def _flatten_media(media: Any) -> list[Any]:
    """Media given per placeholder, or per sample as nested lists, as one flat list in placeholder order."""
    if media is None:
        return []
    if isinstance(media, (str, bytes, np.ndarray, torch.Tensor, tuple)) or hasattr(media, "read"):
        return [media]
    flat: list[Any] = []
    for item in media:
        if isinstance(item, list) and not (item and isinstance(item[0], np.ndarray) and item[0].ndim == 3):
            flat.extend(item)
        else:
            flat.append(item)
    return flat


class MIGROmniProcessor(ProcessorMixin):
    r"""Turns prompts with `<video>` / `<audio>` placeholders plus their clips into model inputs.

    Each sample holds at most one `<video>` and one `<audio>` placeholder; media are given in the order of
    their placeholders across the batch (a flat list, or one list per sample). A placeholder is expanded to
    `num_video_tokens` / `num_audio_tokens` copies of its token, wrapped in the ordinary-text markers
    `<vi_start>..<vi_end>` / `<au_start>..<au_end>` when `use_start_end_markers` (HumanOmni's
    `mm_use_x_start_end`).

    Media handling:
        - Video: `num_frames` frames sampled at segment midpoints by seeking (see `media.read_video_frames`).
          `frame_selection="time"` (default) takes the frame on screen at each midpoint's time;
          `"index"` takes the frame of that rank, as decord does in the baselines: the two differ on
          variable-frame-rate clips only.
          `frame_mode="pad"` (default, the same in training and inference) pads each frame to a square of the
          image-processor mean colour before resizing; `"squash"` resizes directly, reproducing the
          baselines' inference path.
        - Audio: decoded to 16 kHz mono, first 30 s, Whisper log-mels `(n_mels, 3000)`.
        - A video source without a video stream makes that sample audio-only, and an audio source without
          an audio stream makes it video-only: the placeholder is removed from the text (with a warning).
          Any other decoding problem raises `MediaError` naming the file.

    Returned tensors are batch-first per sample: `pixel_values_videos (B, T, 3, S, S)` and
    `input_features (B, n_mels, 3000)`; rows of samples without that modality are zero and never read by
    the model. `gate_input_ids`/`gate_attention_mask (B, L)` hold the BERT-tokenized instruction.

    Args:
        image_processor: SigLIP image processor (resize, rescale, normalize).
        feature_extractor: `WhisperFeatureExtractor`.
        tokenizer: Qwen2 tokenizer holding the placeholder tokens and the MIGR reasoning tags.
        gate_tokenizer: BERT (uncased WordPiece) tokenizer for the instruction gate.
        num_frames: Frames per clip.
        num_video_tokens: Feature rows per clip (`MIGROmniConfig.num_video_tokens(num_frames)`).
        num_audio_tokens: Feature rows per audio track (500 for Whisper).
        frame_mode: `"pad"` or `"squash"` (see above).
        frame_selection: `"time"` or `"index"` (see above).
    """

    valid_processor_kwargs = None

    def __init__(
        self,
        image_processor=None,
        feature_extractor=None,
        tokenizer=None,
        gate_tokenizer=None,
        chat_template: str | None = None,
        num_frames: int = 8,
        num_video_tokens: int = 1568,
        num_audio_tokens: int = 500,
        video_token: str = "<video>",
        audio_token: str = "<audio>",
        use_start_end_markers: bool = True,
        frame_mode: str = "pad",
        frame_selection: str = "time",
    ):
        if frame_mode not in FRAME_MODES:
            raise ValueError(f"frame_mode must be one of {FRAME_MODES}, got {frame_mode!r}")
        if frame_selection not in FRAME_SELECTIONS:
            raise ValueError(f"frame_selection must be one of {FRAME_SELECTIONS}, got {frame_selection!r}")
        self.num_frames = num_frames
        self.num_video_tokens = num_video_tokens
        self.num_audio_tokens = num_audio_tokens
        self.video_token = video_token
        self.audio_token = audio_token
        self.use_start_end_markers = use_start_end_markers
        self.frame_mode = frame_mode
        self.frame_selection = frame_selection
        super().__init__(
            image_processor,
            feature_extractor,
            tokenizer,
            gate_tokenizer,
            chat_template=chat_template if chat_template is not None else DEFAULT_CHAT_TEMPLATE,
        )

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs) -> list[str]:
        """`ProcessorMixin.save_pretrained`, plus the media decoder for remote code.

        With remote-code export on (`register_for_auto_class`, set when migr-hf registers the model), the folder
        gets this module and `media.py`, the package's decoder (`migr_hf.media`), imported from beside it, so that
        `trust_remote_code=True` loads the processor where migr-hf is not installed.
        """
        if push_to_hub:  # save first, so that the upload (a fresh save) holds the exported files too
            files = self.save_pretrained(save_directory)
            self.push_to_hub(kwargs.pop("repo_id", Path(save_directory).name), **kwargs)
            return files
        files = super().save_pretrained(save_directory, **kwargs)
        if self._auto_class is not None:
            files += export_media_module(save_directory)
        return files

    @classmethod
    def for_config(cls, config, **kwargs) -> "MIGROmniProcessor":
        """A processor whose frame and token counts match a `MIGROmniConfig`; `kwargs` go to `__init__`."""
        return cls(
            num_frames=config.num_frames,
            num_video_tokens=config.num_video_tokens(),
            num_audio_tokens=config.num_audio_tokens,
            **kwargs,
        )

    @property
    def video_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(self.video_token)

    @property
    def audio_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(self.audio_token)

    @property
    def image_token_id(self) -> int:
        """Read by trl; the model takes no still images, so this is the video placeholder."""
        return self.video_token_id

    @property
    def model_input_names(self) -> list[str]:
        return [
            "input_ids",
            "attention_mask",
            "pixel_values_videos",
            "input_features",
            "gate_input_ids",
            "gate_attention_mask",
        ]

    def __call__(
        self,
        text: str | Sequence[str],
        videos: Any = None,
        audio: Any = None,
        gate_text: str | Sequence[str] | None = None,
        frame_mode: str | None = None,
        frame_selection: str | None = None,
        return_tensors: str | None = "pt",
        padding: bool | str = True,
        images: Any = None,
        **kwargs,
    ) -> BatchFeature:
        r"""Tokenize `text` and encode the clips of its placeholders.

        Args:
            text: Prompt(s) with at most one `<video>` and one `<audio>` placeholder each (chat template applied).
            videos: Clip per `<video>` placeholder: path, bytes, file object, `(M, H, W, 3)` uint8 array or list of frames.
            audio: Source per `<audio>` placeholder: path/bytes of a media file, `(N,)` float array at 16 kHz,
                or `(array, sampling_rate)`.
            gate_text: Instruction given to the BERT gate, per sample. Default: the last user turn with its
                placeholders removed (the raw instruction, as HumanOmni inference feeds it).
            frame_mode: `"pad"` or `"squash"`; defaults to the processor's `frame_mode`.
            frame_selection: `"time"` or `"index"`; defaults to the processor's `frame_selection`.
            kwargs: Passed to the tokenizer (e.g. `padding_side`, `truncation`, `max_length`, `add_special_tokens`).

        Returns:
            `BatchFeature` with `input_ids`, `attention_mask`, `gate_input_ids`, `gate_attention_mask`, and
            `pixel_values_videos (B, T, 3, S, S)` / `input_features (B, n_mels, 3000)` when a sample has that media.
        """
        if images is not None:
            raise ValueError("MIGROmniProcessor takes clips (`videos=`) and audio (`audio=`), not still images")
        texts = [text] if isinstance(text, str) else list(text)
        frame_mode = frame_mode or self.frame_mode
        if frame_mode not in FRAME_MODES:
            raise ValueError(f"frame_mode must be one of {FRAME_MODES}, got {frame_mode!r}")
        frame_selection = frame_selection or self.frame_selection
        if frame_selection not in FRAME_SELECTIONS:
            raise ValueError(f"frame_selection must be one of {FRAME_SELECTIONS}, got {frame_selection!r}")
        for key in ("sampling_rate", "do_sample_frames", "num_frames", "fps"):
            kwargs.pop(key, None)

        video_sources = self._assign(texts, _flatten_media(videos), self.video_token, "videos")
        audio_sources = self._assign(texts, _flatten_media(audio), self.audio_token, "audio")
        if gate_text is None:
            gate_texts = [self.instruction_text(sample) for sample in texts]
        else:
            gate_texts = [gate_text] if isinstance(gate_text, str) else list(gate_text)
            if len(gate_texts) != len(texts):
                raise ValueError(f"got {len(gate_texts)} gate_text entries for {len(texts)} prompts")

        pixel_values: list[torch.Tensor | None] = []
        mel_features: list[torch.Tensor | None] = []
        for index, sample in enumerate(texts):
            frames = (
                self._encode_video(video_sources[index], frame_mode, frame_selection)
                if video_sources[index] is not None
                else None
            )
            if video_sources[index] is not None and frames is None:
                sample = self._drop_placeholder(sample, self.video_token)
            mels = self._encode_audio(audio_sources[index]) if audio_sources[index] is not None else None
            if audio_sources[index] is not None and mels is None:
                sample = self._drop_placeholder(sample, self.audio_token)
            texts[index] = self._expand_placeholders(sample)
            pixel_values.append(frames)
            mel_features.append(mels)

        data = dict(self.tokenizer(texts, padding=padding, return_tensors=return_tensors, **kwargs))
        gate = self.gate_tokenizer(gate_texts, padding=True, truncation=True, max_length=512, return_tensors=return_tensors)
        data["gate_input_ids"] = gate["input_ids"]
        data["gate_attention_mask"] = gate["attention_mask"]
        if any(frames is not None for frames in pixel_values):
            data["pixel_values_videos"] = self._stack_rows(pixel_values)
        if any(mels is not None for mels in mel_features):
            data["input_features"] = self._stack_rows(mel_features)
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _assign(self, texts: list[str], sources: list[Any], token: str, name: str) -> list[Any]:
        """One source (or `None`) per sample, following the placeholders of each prompt."""
        counts = [sample.count(token) for sample in texts]
        for index, count in enumerate(counts):
            if count > 1:
                raise ValueError(f"prompt {index} holds {count} {token} placeholders; a sample takes at most one clip")
        if sum(counts) != len(sources):
            raise ValueError(f"the prompts hold {sum(counts)} {token} placeholders but {len(sources)} {name} were given")
        remaining = iter(sources)
        return [next(remaining) if count else None for count in counts]

    def _drop_placeholder(self, text: str, token: str) -> str:
        return re.sub(re.escape(token) + r"\n?", "", text, count=1)

    def _expand_placeholders(self, text: str) -> str:
        video = self.video_token * self.num_video_tokens
        audio = self.audio_token * self.num_audio_tokens
        if self.use_start_end_markers:
            video = VIDEO_MARKERS[0] + video + VIDEO_MARKERS[1]
            audio = AUDIO_MARKERS[0] + audio + AUDIO_MARKERS[1]
        return text.replace(self.video_token, video, 1).replace(self.audio_token, audio, 1)

    def instruction_text(self, text: str) -> str:
        """The gate input of a prompt: its last user turn (or the whole text) without media placeholders."""
        turns = _USER_TURN.findall(text)
        content = turns[-1] if turns else text
        for token in (self.video_token, self.audio_token):
            content = re.sub(re.escape(token) + r"\n?", "", content)
        return content

    def _encode_video(self, source: Any, frame_mode: str, frame_selection: str) -> torch.Tensor | None:
        """Decode and preprocess one clip to `(T, 3, S, S)`; `None` when the source has no video stream."""
        try:
            frames = read_video_frames(source, num_frames=self.num_frames, frame_selection=frame_selection)
        except MediaError as error:
            if error.problem != NO_VIDEO_STREAM:
                raise
            logger.warning(f"{error.source}: no video stream, the sample is processed without video")
            return None
        images = [self._to_square(frame) if frame_mode == "pad" else frame for frame in frames]
        return self.image_processor(images=images, return_tensors="pt")["pixel_values"]

    def _to_square(self, frame: np.ndarray) -> Image.Image:
        """Centre an `(H, W, 3)` frame on a square canvas of the image-processor mean colour."""
        height, width = frame.shape[:2]
        side = max(height, width)
        fill = tuple(int(255 * mean) for mean in self.image_processor.image_mean)
        canvas = Image.new("RGB", (side, side), fill)
        canvas.paste(Image.fromarray(frame), ((side - width) // 2, (side - height) // 2))
        return canvas

    def _encode_audio(self, source: Any) -> torch.Tensor | None:
        """Decode one audio source to `(n_mels, 3000)` log-mels; `None` when it has no audio stream."""
        sampling_rate = self.feature_extractor.sampling_rate
        max_seconds = self.feature_extractor.n_samples / sampling_rate
        waveform = read_audio(source, sampling_rate=sampling_rate, max_duration_s=max_seconds)
        if waveform is None:
            logger.warning(f"{source_name(source)}: no audio stream, the sample is processed without audio")
            return None
        return torch.from_numpy(self.log_mel(waveform[: self.feature_extractor.n_samples]))

    def log_mel(self, waveform: np.ndarray) -> np.ndarray:
        """`(n_mels, 3000)` Whisper log-mels of a 16 kHz waveform of at most 30 s: the feature extractor's output.

        Whisper pads to 30 s; every frame whose window lies in that zero padding comes out as the same value,
        the clamp floor `max(-1.5, max - 2)` of the normalised spectrogram. So the spectrogram is computed on the
        waveform plus `n_fft` zeros only (every frame that overlaps the waveform sees the same samples as with
        the full padding) and the rest is filled with that value: identical up to float32 rounding (1e-7),
        without transforming up to 30 s of silence.
        """
        extractor = self.feature_extractor
        margin = extractor.n_fft
        if len(waveform) + margin >= extractor.n_samples:
            return extractor(waveform, sampling_rate=extractor.sampling_rate, return_tensors="np")["input_features"][0]
        short = extractor(
            np.pad(waveform, (0, margin)), sampling_rate=extractor.sampling_rate, padding="longest", return_tensors="np"
        )["input_features"][0]
        frames = -(-(len(waveform) + extractor.n_fft // 2) // extractor.hop_length)
        features = np.full((short.shape[0], extractor.nb_max_frames), max(-1.5, short.max() - 2.0), dtype=short.dtype)
        features[:, :frames] = short[:, :frames]
        return features

    @staticmethod
    def _stack_rows(rows: list[torch.Tensor | None]) -> torch.Tensor:
        """Stack per-sample tensors; samples without one get a zero row of the same shape (never read)."""
        template = next(row for row in rows if row is not None)
        return torch.stack([row if row is not None else torch.zeros_like(template) for row in rows])

    def _multimodal_inputs_from_conversations(
        self, conversations: list[list[dict[str, Any]]], audio_loading_params: dict, load_audio_from_video: bool = False
    ):
        """Collect media blocks without decoding them (decoding happens in `__call__` with PyAV).

        An audio block without a source (`{"type": "audio"}`) stands for the audio track of the clip of the
        last video block before it in the conversation.
        """
        batch_videos, batch_audios = [], []
        for conversation in conversations:
            videos, audios, last_video = [], [], None
            for message in conversation:
                if isinstance(message.get("content"), str):
                    continue
                for block in message.get("content") or []:
                    sources = [block[key] for key in (block["type"], "url", "path") if key in block]
                    if block["type"] == "video":
                        videos.extend(sources)
                        last_video = sources[-1] if sources else last_video
                    elif block["type"] == "audio":
                        if not sources and last_video is None:
                            raise ValueError("an audio block without a source needs a video block before it")
                        audios.extend(sources or [last_video])
            batch_videos.append(videos)
            batch_audios.append(audios)
        return [[] for _ in conversations], batch_videos, batch_audios, {}

    def batch_decode(self, *args, **kwargs) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs) -> str:
        return self.tokenizer.decode(*args, **kwargs)


__all__ = ["MIGROmniProcessor", "DEFAULT_CHAT_TEMPLATE", "MediaError"]


def export_media_module(save_directory: str | Path) -> list[str]:
    """Copy `migr_hf/media.py` into ``save_directory`` and make the saved processing module import it from there.

    Returns:
        The paths written.
    """
    module = Path(save_directory) / Path(__file__).name
    code, replaced = re.subn(
        f"^{re.escape(PACKAGE_MEDIA_IMPORT)}", REMOTE_CODE_MEDIA_IMPORT, module.read_text(encoding="utf-8"), 1, re.M
    )
    if not replaced:
        raise RuntimeError(f"{module} has no line {PACKAGE_MEDIA_IMPORT!r} to point at the exported media.py")
    module.write_text(code, encoding="utf-8")
    target = Path(save_directory) / "media.py"
    shutil.copyfile(sys.modules[MediaError.__module__].__file__, target)
    return [str(target)]

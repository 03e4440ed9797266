"""Modality-wise attention over generated tokens (paper appendix 8.1, Fig. 5).

For every generated token, the attention row of the query that produces it is read at one decoder layer of the
language model, averaged over heads, and split into three key groups:

- ``visual``: the video placeholder positions of the prompt (where the visual features are spliced),
- ``audio``: the audio placeholder positions of the prompt,
- ``text``: the tokens generated so far.

The instruction prompt (system prompt, chat template, instruction, padding) is excluded, as in the paper: the
share of a group is the attention on that group divided by the attention on the three groups together, so the
three shares of a step sum to 1. At the first step nothing has been generated yet and the text share is 0.
Each sample's per-step curve is resampled to 100 steps by linear interpolation over the normalised position
``step / (T - 1)``, and the curves are averaged per Modality Importance class.

Layers are numbered from 1 as in the paper ("the 21st layer" of 28, i.e. ``model.model.language_model.layers[20]``
and ``outputs.attentions[20]``). The default for a model of ``L`` layers scales the paper's choice:
``floor(21 * L / 28 + 0.5)``, e.g. 21 of 28 (HumanOmni-7B), 18 of 24 (R1-Omni-0.5B).

Only the chosen layer is recorded, by a forward hook on its self-attention under eager attention, while the model
generates: ``generate(output_attentions=True)`` would keep every layer's full prefill attention, which for a 7B
model and a long multimodal prompt is several GB.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from tqdm.auto import tqdm
from transformers import PreTrainedModel
from transformers.utils import logging

from ..apps.inference import Clip, EmotionReasoner
from ..data.modality_importance import load_mi_file
from ..data.records import video_source
from ..schema import ID, MODALITY_IMPORTANCE, VIDEO, VIDEO_BYTES, ModalityImportance

logger = logging.get_logger(__name__)

GROUPS = ("visual", "audio", "text")
NUM_STEPS = 100
PAPER_LAYER, PAPER_NUM_LAYERS = 21, 28
MI_CLASSES = tuple(mi.value for mi in ModalityImportance)
GROUP_COLOURS = {"visual": "tab:blue", "audio": "tab:orange", "text": "tab:green"}
SHARE_DEFINITION = (
    "share of a group = attention of the generating query on the group's keys (heads averaged) / attention on "
    "visual + audio + generated-text keys; instruction prompt tokens are excluded"
)


@dataclass(frozen=True)
class AttentionTrace:
    """Per-step attention shares of one generated completion.

    Attributes:
        shares: `(T, 3)` float array, one row per generated token, columns in `GROUPS` order, rows summing to 1.
        text: The decoded completion.
    """

    shares: np.ndarray
    text: str


@dataclass(frozen=True)
class AttentionSample:
    """One clip to analyse: its id, the clip (path, bytes or `{"video", "audio"}`) and its MI class."""

    id: str
    clip: Clip
    modality_importance: str


def default_layer(num_layers: int) -> int:
    """1-based decoder layer read by default: the paper's 21st of 28, scaled to `num_layers` and rounded half up."""
    return min(num_layers, max(1, math.floor(PAPER_LAYER * num_layers / PAPER_NUM_LAYERS + 0.5)))


def group_shares(
    attention: torch.Tensor, visual: torch.Tensor, audio: torch.Tensor, text: torch.Tensor
) -> torch.Tensor:
    """Shares of the three key groups in attention rows.

    Args:
        attention: `(B, K)` attention weights of one query per row over `K` keys.
        visual / audio / text: `(B, K)` boolean masks of the groups' keys (disjoint).

    Returns:
        `(B, 3)` shares in `GROUPS` order; each row sums to 1 (all 0 when the three groups get no attention).
    """
    sums = torch.stack([(attention * mask).sum(-1) for mask in (visual, audio, text)], dim=-1)
    total = sums.sum(-1, keepdim=True)
    return torch.where(total > 0, sums / total.clamp_min(torch.finfo(sums.dtype).tiny), torch.zeros_like(sums))


def resample_steps(curve: np.ndarray, num_steps: int = NUM_STEPS) -> np.ndarray:
    """Resample a `(T, G)` per-step curve to `(num_steps, G)` by linear interpolation over `step / (T - 1)`."""
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim != 2 or len(curve) == 0:
        raise ValueError(f"expected a non-empty (steps, groups) array, got shape {curve.shape}")
    if len(curve) == 1:
        return np.repeat(curve, num_steps, axis=0)
    old, new = np.linspace(0.0, 1.0, len(curve)), np.linspace(0.0, 1.0, num_steps)
    return np.stack([np.interp(new, old, curve[:, group]) for group in range(curve.shape[1])], axis=1)


class _LastQueryRecorder:
    """Forward hook on a self-attention module: shares of the last query row at every call.

    Args:
        input_ids: `(B, P)` prompt tokens; keys at positions `>= P` are generated tokens.
    """

    def __init__(self, input_ids: torch.Tensor, video_token_id: int, audio_token_id: int):
        self.visual = input_ids == video_token_id
        self.audio = input_ids == audio_token_id
        self.steps: list[torch.Tensor] = []

    def __call__(self, module: torch.nn.Module, args: tuple, output: tuple[torch.Tensor, torch.Tensor | None]) -> None:
        weights = output[1]
        if weights is None:
            raise RuntimeError("the attention module returned no weights: the language model must use eager attention")
        row = weights[:, :, -1, :].float().mean(dim=1)
        prompt_len, num_keys = self.visual.shape[1], row.shape[-1]
        generated = torch.arange(num_keys, device=row.device) >= prompt_len
        pad = (0, num_keys - prompt_len)
        shares = group_shares(
            row,
            torch.nn.functional.pad(self.visual, pad),
            torch.nn.functional.pad(self.audio, pad),
            generated.expand_as(row),
        )
        self.steps.append(shares.cpu())


@contextmanager
def eager_attention(model: PreTrainedModel) -> Iterator[None]:
    """Run the language model with eager attention (which returns its weights) inside the block."""
    previous = model.config.text_config._attn_implementation
    model.set_attn_implementation({"text_config": "eager"})
    try:
        yield
    finally:
        model.set_attn_implementation({"text_config": previous})


@torch.no_grad()
def trace_attention(
    reasoner: EmotionReasoner,
    clips: Sequence[Clip],
    *,
    mode: str = "audio+video",
    layer: int | None = None,
    max_new_tokens: int | None = None,
    batch_size: int = 1,
) -> list[AttentionTrace]:
    """Generate greedily for each clip and record the per-step attention shares at one layer.

    Args:
        reasoner: Model, processor and instruction to generate with.
        clips: The clips, as `EmotionReasoner` takes them.
        mode: Input condition, `"audio+video"`, `"video"` or `"audio"`.
        layer: 1-based decoder layer (default: `default_layer` of the model's depth).
        max_new_tokens: Generation budget (default: the reasoner's).
        batch_size: Clips per `generate` call.

    Returns:
        One `AttentionTrace` per clip, in order; `T` is the number of generated tokens up to and including EOS.
    """
    model, config = reasoner.model, reasoner.model.config
    layers = model.model.language_model.layers
    layer = layer or default_layer(len(layers))
    if not 1 <= layer <= len(layers):
        raise ValueError(f"layer must be in 1..{len(layers)} (1-based), got {layer}")
    eos = model.generation_config.eos_token_id
    eos_ids = torch.tensor([eos] if isinstance(eos, int) else list(eos or []))
    traces: list[AttentionTrace] = []
    batches = range(0, len(clips), batch_size)
    with eager_attention(model):
        for start in tqdm(batches, desc=f"attention @ layer {layer}", unit="batch", disable=len(batches) < 2):
            inputs = reasoner.prepare_inputs(clips[start : start + batch_size], mode)
            recorder = _LastQueryRecorder(inputs["input_ids"], config.video_token_id, config.audio_token_id)
            handle = layers[layer - 1].self_attn.register_forward_hook(recorder)
            try:
                output = model.generate(
                    **inputs,
                    max_new_tokens=max_new_tokens or reasoner.max_new_tokens,
                    pad_token_id=reasoner.processor.tokenizer.pad_token_id,
                    do_sample=False,
                )
            finally:
                handle.remove()
            generated = output[:, inputs["input_ids"].shape[1] :].cpu()
            shares = torch.stack(recorder.steps, dim=1)
            if shares.shape[1] != generated.shape[1]:
                raise RuntimeError(f"recorded {shares.shape[1]} steps for {generated.shape[1]} generated tokens")
            for row, tokens in enumerate(generated):
                is_eos = torch.isin(tokens, eos_ids).nonzero()
                length = int(is_eos[0]) + 1 if len(is_eos) else len(tokens)
                text = reasoner.processor.batch_decode(tokens[None, :length], skip_special_tokens=True)[0]
                traces.append(AttentionTrace(shares=shares[row, :length].numpy(), text=text))
    return traces


def summarize_traces(
    traces: Sequence[AttentionTrace], samples: Sequence[AttentionSample], num_steps: int = NUM_STEPS
) -> dict[str, Any]:
    """Resample every trace to `num_steps` and average per MI class.

    Returns:
        `{"classes": {mi: {"num_samples", "visual", "audio", "text"}}, "samples": [...]}` with curves as lists of
        `num_steps` floats; classes without samples are left out.
    """
    curves = [resample_steps(trace.shares, num_steps) for trace in traces]
    classes = {}
    for mi in MI_CLASSES:
        members = [curve for curve, sample in zip(curves, samples) if sample.modality_importance == mi]
        if members:
            mean = np.mean(members, axis=0)
            classes[mi] = {"num_samples": len(members), **{g: mean[:, i].tolist() for i, g in enumerate(GROUPS)}}
    per_sample = [
        {
            ID: sample.id,
            MODALITY_IMPORTANCE: sample.modality_importance,
            "num_generated_tokens": len(trace.shares),
            **{g: curve[:, i].tolist() for i, g in enumerate(GROUPS)},
        }
        for trace, sample, curve in zip(traces, samples, curves)
    ]
    return {"classes": classes, "samples": per_sample}


def plot_attention(summary: Mapping[str, Any], path: str | os.PathLike, title: str = "") -> Path:
    """Save Fig. 5-style curves: one panel per MI class, the visual / audio / text shares over normalised steps."""
    classes = summary["classes"]
    if not classes:
        raise ValueError("no MI class has samples to plot")
    figure = Figure(figsize=(4.2 * len(classes), 3.4))
    axes = np.atleast_1d(figure.subplots(1, len(classes), sharey=True))
    for ax, (mi, curves) in zip(axes, classes.items()):
        steps = np.arange(len(curves[GROUPS[0]]))
        for group in GROUPS:
            ax.plot(steps, curves[group], label=group, color=GROUP_COLOURS[group])
        ax.set_title(f"MI: {mi} (n={curves['num_samples']})")
        ax.set_xlabel("generation step (normalised)")
        ax.set_ylim(0.0, 1.0)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("attention share")
    axes[-1].legend(loc="upper right")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    return path


def analyze_attention(
    reasoner: EmotionReasoner,
    samples: Sequence[AttentionSample],
    output_dir: str | os.PathLike,
    *,
    mode: str = "audio+video",
    layer: int | None = None,
    num_steps: int = NUM_STEPS,
    max_new_tokens: int | None = None,
    batch_size: int = 1,
    model_name: str = "model",
) -> dict[str, Any]:
    """Trace, summarise per MI class and write `attention.json` and `attention.png` to `output_dir`.

    Returns:
        The JSON document: settings (`layer` is 1-based), `classes` (mean curves per MI class) and `samples`.
    """
    if not samples:
        raise ValueError("no samples to analyse")
    num_layers = len(reasoner.model.model.language_model.layers)
    layer = layer or default_layer(num_layers)
    traces = trace_attention(
        reasoner,
        [s.clip for s in samples],
        mode=mode,
        layer=layer,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    report = {
        "model": model_name,
        "mode": mode,
        "layer": layer,
        "num_layers": num_layers,
        "num_steps": num_steps,
        "groups": list(GROUPS),
        "definition": SHARE_DEFINITION,
        **summarize_traces(traces, samples, num_steps),
    }
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "attention.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    plot_attention(report, output_dir / "attention.png", title=f"{model_name}: attention at layer {layer}/{num_layers}")
    logger.info("wrote %s and attention.png", output_dir / "attention.json")
    return report


def load_attention_samples(
    data: str | os.PathLike,
    *,
    split: str = "train",
    mi_file: str | os.PathLike | None = None,
    media_root: str | os.PathLike | None = None,
    max_samples: int | None = None,
) -> list[AttentionSample]:
    """Samples from a built migr-hf dataset folder or a JSONL of rows with `id` and `video` (or `video_bytes`).

    The MI class comes from `mi_file` (a JSONL of `estimate_modality_importance`, or rows with `id` and
    `modality_importance`) when given, else from the rows' `modality_importance` column; rows without one are
    skipped with a warning. Relative video paths are joined to `media_root`.
    """
    rows = _read_rows(Path(data), split)
    mi = {key: value.value for key, value in load_mi_file(mi_file).items()} if mi_file is not None else None
    samples, missing = [], 0
    for number, row in enumerate(rows):
        if ID not in row or not (row.get(VIDEO) or row.get(VIDEO_BYTES)):
            raise ValueError(f"{data}: row {number} needs `{ID}` and `{VIDEO}` (or `{VIDEO_BYTES}`)")
        label = mi.get(row[ID]) if mi is not None else row.get(MODALITY_IMPORTANCE)
        if label is None:
            missing += 1
            continue
        samples.append(AttentionSample(str(row[ID]), video_source(row, media_root), ModalityImportance(label).value))
        if max_samples is not None and len(samples) == max_samples:
            break
    if missing:
        logger.warning("%s: skipped %d rows without a Modality Importance class", data, missing)
    return samples


def _read_rows(data: Path, split: str) -> Iterable[Mapping[str, Any]]:
    if data.is_dir():
        from ..data.storage import load_built_dataset

        dataset = load_built_dataset(data)
        if split not in dataset:
            raise ValueError(f"{data} has no split {split!r}; it has {sorted(dataset)}")
        return dataset[split]
    if not data.is_file():
        raise FileNotFoundError(f"no dataset folder or JSONL file at {data}")
    rows = []
    with open(data, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{data}:{number}: invalid JSON ({error.msg})") from None
    return rows


__all__ = [
    "GROUPS",
    "NUM_STEPS",
    "AttentionSample",
    "AttentionTrace",
    "analyze_attention",
    "default_layer",
    "eager_attention",
    "group_shares",
    "load_attention_samples",
    "plot_attention",
    "resample_steps",
    "summarize_traces",
    "trace_attention",
]

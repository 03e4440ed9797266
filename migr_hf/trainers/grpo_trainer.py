"""Modality-aligned reward optimization: trl's GRPO with video and audio inputs (paper section 3.2).

trl's `GRPOTrainer` carries image inputs only. This subclass tokenizes each prompt with its clip, gives the
media to generation, to the old / reference log-prob passes and to the loss, and (by default) runs the frozen
towers once per distinct prompt and step: the G copies of a prompt share the SigLIP and Whisper outputs,
and every forward gets those tower states, so only the trainable projectors and the gate run again.
"""

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import torch
from datasets import Dataset, IterableDataset
from peft import PeftConfig
from transformers import PreTrainedModel, ProcessorMixin
from transformers.utils import logging
from trl import GRPOTrainer

from .. import schema
from ..conversation import build_conversation
from ..data.records import video_source
from ..rewards import get_reward_funcs
from .grpo_config import MIGRGRPOConfig
from .model_parts import migr_base_model, prepare_model

logger = logging.get_logger(__name__)

# Per-completion media inputs that follow each row through trl's shuffling and splitting.
MEDIA_KEYS = (
    "gate_input_ids",
    "gate_attention_mask",
    "vision_tower_states",
    "audio_tower_states",
    "pixel_values_videos",
    "input_features",
)


class TowerPassCounter:
    """Counts clips through the vision and audio towers of the given models (forward hooks).

    `counts["vision"]` adds frames / `num_frames` per call, `counts["audio"]` the batch rows.
    """

    def __init__(self, models: Sequence[torch.nn.Module]):
        self.counts: Counter = Counter()
        self._handles = []
        for model in models:
            base = migr_base_model(model)
            frames = base.config.num_frames
            self._handles += [
                base.vision_tower.register_forward_hook(
                    lambda module, args, output, f=frames: self.counts.update(vision=args[0].shape[0] / f)
                ),
                base.audio_tower.register_forward_hook(
                    lambda module, args, output: self.counts.update(audio=args[0].shape[0])
                ),
            ]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


class MIGRGRPOTrainer(GRPOTrainer):
    """[`GRPOTrainer`] for MIGR-Omni with the MIGR rewards.

    Dataset rows need `prompt` (the instruction text, or a chat whose user turn already holds the media blocks)
    and `video` (the clip; its audio track is the audio input), plus the columns the rewards read (`label`,
    `label_set`, `modality_importance`).

    Args:
        model: A MIGR-Omni model or the path / Hub id of one.
        reward_funcs: Reward functions; default `get_reward_funcs(args.reward_names, classifier=args.emotion_classifier)`.
        args: A [`MIGRGRPOConfig`].
        processing_class: The model's processor; loaded from `model` when it is a path.
        peft_config: Optional LoRA config, e.g. `migr_hf.trainers.lora_config()`.
    """

    _tag_names = ["trl", "grpo", "migr"]

    def __init__(
        self,
        model: str | PreTrainedModel,
        reward_funcs: Callable | list[Callable] | None = None,
        args: MIGRGRPOConfig | None = None,
        train_dataset: Dataset | IterableDataset | None = None,
        eval_dataset: Dataset | IterableDataset | dict[str, Dataset] | None = None,
        processing_class: ProcessorMixin | None = None,
        peft_config: PeftConfig | None = None,
        **kwargs,
    ):
        args = args if args is not None else MIGRGRPOConfig(output_dir="migr-grpo")
        if args.reuse_tower_states and (args.train_vision_tower or args.train_audio_tower):
            raise ValueError("reuse_tower_states needs frozen towers: unset train_vision_tower/train_audio_tower")
        model, processing_class = prepare_model(model, processing_class, args, peft_config)
        if reward_funcs is None:
            reward_funcs = get_reward_funcs(args.reward_names, classifier=args.emotion_classifier)
        super().__init__(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            peft_config=peft_config,
            **kwargs,
        )
        placeholders = [processing_class.video_token_id, processing_class.audio_token_id]
        self.generation_config.suppress_tokens = placeholders
        self.generation_kwargs["suppress_tokens"] = placeholders
        self.tower_passes = TowerPassCounter([self.model] + ([self.ref_model] if self.ref_model is not None else []))
        self._active_media: dict[str, torch.Tensor] | None = None
        self._prompt_ids: list[list[int]] | None = None

    def _encode_prompts(self, rows: list[dict[str, Any]]) -> tuple[list[list[int]], dict[str, torch.Tensor], list]:
        """Tokenize each distinct (clip, prompt) once and give every row its prompt ids and media tensors.

        Returns the per-row prompt ids (unpadded), the per-row media inputs (`MEDIA_KEYS`) and per-row chats.
        With `reuse_tower_states`, the towers run here, once per distinct prompt, under `no_grad`.
        """
        clips, chats, keys = [], [], []
        index: dict[tuple[str, str], int] = {}
        for row in rows:
            clip = video_source(row, self.args.media_root)
            prompt = row[schema.PROMPT]
            chat = build_conversation(prompt) if isinstance(prompt, str) else prompt
            key = (clip if isinstance(clip, str) else hashlib.sha1(clip).hexdigest(), repr(chat))
            if key not in index:
                index[key] = len(clips)
                clips.append(clip)
                chats.append(chat)
            keys.append(index[key])
        texts = self.processing_class.apply_chat_template(chats, add_generation_prompt=True)
        encoded = self.processing_class(text=texts, videos=clips, audio=clips, padding=True, padding_side="left")
        prompt_ids = [ids[mask.bool()].tolist() for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"])]
        media = {"gate_input_ids": encoded["gate_input_ids"], "gate_attention_mask": encoded["gate_attention_mask"]}
        device = self.accelerator.device
        if self.args.reuse_tower_states:
            base = migr_base_model(self.accelerator.unwrap_model(self.model))
            with torch.no_grad():
                media.update(self._tower_states(base, encoded, device))
        else:
            media.update({k: encoded[k] for k in ("pixel_values_videos", "input_features") if k in encoded})
        rows_index = torch.tensor(keys)
        per_row = {name: value[rows_index].to(device) for name, value in media.items()}
        return [prompt_ids[k] for k in keys], per_row, [chats[k] for k in keys]

    def _tower_states(self, base, encoded, device: torch.device) -> dict[str, torch.Tensor]:
        """Frozen-tower outputs per distinct prompt; rows of prompts without that modality stay zero (never read)."""
        states = {}
        config = base.config
        for name, raw, token_id, encode in (
            ("vision_tower_states", "pixel_values_videos", config.video_token_id, base.get_vision_tower_states),
            ("audio_tower_states", "input_features", config.audio_token_id, base.get_audio_tower_states),
        ):
            if raw not in encoded:
                continue
            rows = (encoded["input_ids"] == token_id).any(-1)
            values = encode(encoded[raw][rows].to(device, base.dtype))
            states[name] = values.new_zeros((rows.shape[0], *values.shape[1:]))
            states[name][rows.to(device)] = values
        return states

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        inputs = [dict(row) for row in inputs]
        prompt_ids, media, chats = self._encode_prompts(inputs)
        for row, chat in zip(inputs, chats):
            row[schema.PROMPT] = chat
        self._prompt_ids, self._active_media = prompt_ids, media
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            self._prompt_ids, self._active_media = None, None
        output.update(media)
        return output

    def _tokenize_prompts(self, prompts: list) -> tuple[list[list[int]], None, dict[str, torch.Tensor]]:
        """The prompt ids and media encoded by `_encode_prompts` for this generation batch."""
        if self._prompt_ids is None or len(self._prompt_ids) != len(prompts):
            raise RuntimeError("MIGRGRPOTrainer tokenizes prompts with their clips in _generate_and_score_completions")
        return self._prompt_ids, None, dict(self._active_media)

    def _compute_loss(self, model, inputs: dict[str, Any]) -> torch.Tensor:
        self._active_media = {key: inputs[key] for key in MEDIA_KEYS if key in inputs}
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._active_media = None

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        logits_to_keep: int,
        batch_size: int | None = None,
        compute_entropy: bool = False,
        compute_aux_loss: bool = False,
        **image_inputs,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Per-token log-probs (and entropies) of the completion tokens, with each row's media inputs."""
        if self._active_media is None:
            raise RuntimeError("no media inputs are active for this forward")
        batch_size = batch_size or input_ids.size(0)
        all_logps, all_entropies, all_aux_losses = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            ids, mask = input_ids[start:end], attention_mask[start:end]
            media = {key: value[start:end] for key, value in self._active_media.items()}
            labels = ids.masked_fill(mask == 0, -100)
            labels[:, :-logits_to_keep] = -100
            extra = {"output_router_logits": True} if compute_aux_loss else {}
            with self.accelerator.autocast():
                outputs = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True, **media, **extra)
            all_logps.append(outputs.log_probs[:, -logits_to_keep:])
            if compute_entropy:
                all_entropies.append(outputs.entropy[:, -logits_to_keep:])
            if compute_aux_loss:
                all_aux_losses.append(outputs.aux_loss)
        logps = torch.cat(all_logps, dim=0)
        entropies = torch.cat(all_entropies, dim=0) if compute_entropy else None
        aux_loss = torch.stack(all_aux_losses).mean() if compute_aux_loss else None
        return logps, entropies, aux_loss


__all__ = ["MEDIA_KEYS", "MIGRGRPOTrainer", "TowerPassCounter"]

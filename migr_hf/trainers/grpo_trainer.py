"""Modality-aligned reward optimization: trl's GRPO with video and audio inputs (paper section 3.2).

trl's `GRPOTrainer` carries image inputs only. This subclass encodes each distinct prompt of a generation batch
once with its clip (by default running the frozen towers there, once: the G copies of a prompt share the
SigLIP and Whisper outputs, so only the trainable projectors and the gate run again), generates the G
completions per prompt on a generation engine (transformers `generate`, or vLLM fed with prompt embeddings)
through trl's `rollout_func`, and gives every row's media to the old / reference log-prob passes and the loss.
"""

import contextlib
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, IterableDataset
from peft import PeftConfig
from transformers import PreTrainedModel, ProcessorMixin, TrainerCallback
from transformers.utils import logging
from trl import GRPOTrainer
from trl.models import unwrap_model_for_generation

from .. import schema
from ..classifiers import resolve_classifier_spec
from ..conversation import build_conversation
from ..data.records import video_source
from ..generation import GenerationEngine, GenerationOptions, build_engine
from ..rewards import get_reward_funcs
from ..services.hub import TRAINING_ARGS_FILE
from .grpo_config import MIGRGRPOConfig
from .model_parts import migr_base_model, prepare_model
from .trl_compat import check_trl_compatibility

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

# MIGR-Omni methods the trainer runs outside the model's `forward` (tower reuse, vLLM prompt embeddings): under
# FSDP2 they must gather the root module's parameters first, as transformers' Trainer arranges for `generate`.
FSDP_FORWARD_METHODS = ("get_vision_tower_states", "get_audio_tower_states", "embed_prompt")


class FSDPForwardMethods(TrainerCallback):
    """Registers `FSDP_FORWARD_METHODS` on the FSDP2 root once training has sharded the model (no-op without FSDP2)."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if not hasattr(model, "_get_fsdp_state"):  # not sharded by FSDP2 (transformers' test too)
            return
        from torch.distributed.fsdp import register_fsdp_forward_method

        for name in FSDP_FORWARD_METHODS:
            if name not in vars(model):  # the registered wrapper is an instance attribute: register once
                register_fsdp_forward_method(model, name)


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


@dataclass
class PromptBatch:
    """A generation batch encoded once: its distinct prompts, and for every row which prompt it holds.

    Args:
        inputs: Model inputs of the distinct prompts: left-padded `input_ids` / `attention_mask` `(P, L)` and
            the media inputs (`MEDIA_KEYS`: gate ids, and tower states or raw media), on the training device.
        prompt_ids: Unpadded token ids of each distinct prompt.
        rows: For each row of the batch, the index of its distinct prompt.
        chats: For each row, the chat its prompt was rendered from.
    """

    inputs: dict[str, torch.Tensor]
    prompt_ids: list[list[int]]
    rows: list[int]
    chats: list

    def row_media(self) -> dict[str, torch.Tensor]:
        """The media inputs of every row, `(rows, ...)`: they travel with the rows through trl's shuffling."""
        index = torch.tensor(self.rows, device=self.inputs["input_ids"].device)
        return {name: self.inputs[name][index] for name in MEDIA_KEYS if name in self.inputs}

    def samples_per_prompt(self) -> list[int]:
        counts = Counter(self.rows)
        return [counts[prompt] for prompt in range(len(self.prompt_ids))]


class _EngineWeightSync:
    """What trl calls `vllm_generation`: after an optimizer step its `sync_weights()` updates the engine."""

    def __init__(self, trainer: "MIGRGRPOTrainer"):
        self.trainer = trainer

    def sync_weights(self) -> None:
        trainer = self.trainer
        with unwrap_model_for_generation(
            trainer.model_wrapped, trainer.accelerator, gather_deepspeed3_params=trainer.args.ds3_gather_for_generation
        ) as model:
            trainer.generation_engine.sync_weights(model)


class MIGRGRPOTrainer(GRPOTrainer):
    """[`GRPOTrainer`] for MIGR-Omni with the MIGR rewards.

    Dataset rows need `prompt` (the instruction text, or a chat whose user turn already holds the media blocks)
    and `video` (the clip; its audio track is the audio input), plus the columns the rewards read (`label`,
    `label_set`, `modality_importance`).

    Args:
        model: A MIGR-Omni model or the path / Hub id of one.
        reward_funcs: Reward functions; default `get_reward_funcs(args.reward_names, classifier=args.emotion_classifier)`,
            where `emotion_classifier="auto"` is first replaced in `args` by the classifier it picks, so that the
            logged and saved config (`training_args.bin`, `training_args.json`) names it.
        args: A [`MIGRGRPOConfig`].
        processing_class: The model's processor; loaded from `model` when it is a path.
        peft_config: Optional LoRA config, e.g. `migr_hf.trainers.lora_config()`.
        generation_engine: The rollout engine; default `build_engine(args.generation_backend, ...)`. An engine
            other than transformers `generate` gets its weights synced after each optimizer step and turns on
            trl's importance-sampling correction (`args.vllm_importance_sampling_correction`).
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
        generation_engine: GenerationEngine | None = None,
        **kwargs,
    ):
        check_trl_compatibility()
        args = args if args is not None else MIGRGRPOConfig(output_dir="migr-grpo")
        if args.reuse_tower_states and (args.train_vision_tower or args.train_audio_tower):
            raise ValueError("reuse_tower_states needs frozen towers: unset train_vision_tower/train_audio_tower")
        if args.use_vllm:
            raise ValueError("trl's use_vllm cannot serve MIGR-Omni (it passes images only): set generation_backend='vllm'")
        model, processing_class = prepare_model(model, processing_class, args, peft_config)
        if reward_funcs is None:
            args.emotion_classifier = resolve_classifier_spec(args.emotion_classifier)
            reward_funcs = get_reward_funcs(args.reward_names, classifier=args.emotion_classifier)
        super().__init__(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            peft_config=peft_config,
            rollout_func=self._rollout,
            **kwargs,
        )
        if generation_engine is None:
            engine_kwargs = args.vllm_engine_kwargs() if args.generation_backend == "vllm" else {}
            generation_engine = build_engine(args.generation_backend, self.model, processing_class, **engine_kwargs)
        self.generation_engine = generation_engine
        if generation_engine.name != "hf":
            # trl's engine path: weights synced once per optimizer step (`vllm_generation.sync_weights()`), old
            # log-probs always computed, and the loss corrected by the policy / engine importance ratio.
            self.use_vllm = True
            self.vllm_generation = _EngineWeightSync(self)
            self._last_loaded_step = -1
        self.add_callback(FSDPForwardMethods())
        self.tower_passes = TowerPassCounter([self.model] + ([self.ref_model] if self.ref_model is not None else []))
        self._generation_batch: PromptBatch | None = None
        self._forward_media: dict[str, torch.Tensor] | None = None

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """`Trainer._save` (model, processor, `training_args.bin`), plus the config as JSON (`TRAINING_ARGS_FILE`),
        which `migr-hf push model` reads to name the reward classifier on the model card."""
        super()._save(output_dir, state_dict)
        if self.args.should_save:
            path = Path(output_dir if output_dir is not None else self.args.output_dir) / TRAINING_ARGS_FILE
            path.write_text(self.args.to_json_string(), encoding="utf-8")

    def _encode_prompts(self, rows: list[dict[str, Any]]) -> PromptBatch:
        """Tokenize each distinct (clip, prompt) of the rows once, with its media.

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
        device = self.accelerator.device
        inputs = {name: encoded[name].to(device) for name in ("input_ids", "attention_mask", "gate_input_ids", "gate_attention_mask")}
        if self.args.reuse_tower_states:
            with torch.no_grad():
                inputs.update(self._tower_states(self.accelerator.unwrap_model(self.model), encoded, device))
        else:
            inputs.update({k: encoded[k].to(device) for k in ("pixel_values_videos", "input_features") if k in encoded})
        return PromptBatch(inputs=inputs, prompt_ids=prompt_ids, rows=keys, chats=[chats[k] for k in keys])

    def _tower_states(self, model, encoded, device: torch.device) -> dict[str, torch.Tensor]:
        """Frozen-tower outputs per distinct prompt; rows of prompts without that modality stay zero (never read).

        The towers run through `model`'s own `get_*_tower_states` methods, which FSDP2 gathers parameters for
        (`FSDP_FORWARD_METHODS`), not through its submodules, whose parameters may be sharded.
        """
        states = {}
        base = migr_base_model(model)
        config = base.config
        for name, raw, token_id, encode in (
            ("vision_tower_states", "pixel_values_videos", config.video_token_id, model.get_vision_tower_states),
            ("audio_tower_states", "input_features", config.audio_token_id, model.get_audio_tower_states),
        ):
            if raw not in encoded:
                continue
            rows = (encoded["input_ids"] == token_id).any(-1)
            values = encode(encoded[raw][rows].to(device, base.dtype))
            states[name] = values.new_zeros((rows.shape[0], *values.shape[1:]))
            states[name][rows.to(device)] = values
        return states

    @contextlib.contextmanager
    def _media_of(self, media: dict[str, torch.Tensor], batch: PromptBatch | None = None) -> Iterator[None]:
        """Bind the media of exactly the rows of one trl call (and, for generation, their prompt batch) for the call.

        The media travel with the rows in the batch dict (`MEDIA_KEYS`, shuffled and split by trl with the other
        columns). trl 1.16 has no argument that carries non-image inputs from `_generate_and_score_completions` /
        `_compute_loss` to `_get_per_token_logps_and_entropies` (it forwards `pixel_values`, `image_grid_thw` and
        other image fields only) or to `rollout_func` (prompts only), so they are bound here for that one call:
        the forward checks the row count, a binding never nests, and nothing stays bound after the call or an error.
        """
        if self._forward_media is not None or self._generation_batch is not None:
            raise RuntimeError("media of an earlier trl call are still bound")
        self._forward_media, self._generation_batch = media, batch
        try:
            yield
        finally:
            self._forward_media, self._generation_batch = None, None

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self._encode_prompts(inputs)
        rows = [{**row, schema.PROMPT: chat} for row, chat in zip(inputs, batch.chats)]
        media = batch.row_media()
        with self._media_of(media, batch):
            output = super()._generate_and_score_completions(rows)
        output.update(media)
        return output

    def _rollout(self, prompts: list, trainer: GRPOTrainer) -> dict[str, list]:
        """trl's `rollout_func`: the completions of the bound generation batch on the generation engine.

        Each distinct prompt is generated once with `n` = its number of rows; the rows get its samples in order.
        """
        batch = self._generation_batch
        if batch is None or len(batch.rows) != len(prompts):
            raise RuntimeError("MIGRGRPOTrainer generates from the prompt batch encoded in _generate_and_score_completions")
        options = GenerationOptions(
            max_new_tokens=self.args.max_completion_length,
            do_sample=True,
            temperature=self.args.temperature,
            top_p=self.args.top_p,
            top_k=self.args.top_k or 0,
        )
        with unwrap_model_for_generation(
            self.model_wrapped,
            self.accelerator,
            gather_deepspeed3_params=self.args.ds3_gather_for_generation,
            gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
        ) as model, torch.no_grad():
            output = self.generation_engine.generate(model, batch.inputs, options, batch.samples_per_prompt())
        starts = [0]
        for count in batch.samples_per_prompt():
            starts.append(starts[-1] + count)
        taken = Counter()
        completion_ids, logprobs = [], []
        for prompt in batch.rows:
            sample = starts[prompt] + taken[prompt]
            taken[prompt] += 1
            completion_ids.append(output.completion_ids[sample])
            logprobs.append(output.logprobs[sample])
        return {"prompt_ids": [batch.prompt_ids[k] for k in batch.rows], "completion_ids": completion_ids, "logprobs": logprobs}

    def _compute_loss(self, model, inputs: dict[str, Any]) -> torch.Tensor:
        with self._media_of({key: inputs[key] for key in MEDIA_KEYS if key in inputs}):
            return super()._compute_loss(model, inputs)

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
        media = self._forward_media
        if media is None or any(value.shape[0] != input_ids.size(0) for value in media.values()):
            raise RuntimeError("the media of exactly these rows must be bound (_media_of) for this forward")
        batch_size = batch_size or input_ids.size(0)
        all_logps, all_entropies, all_aux_losses = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            ids, mask = input_ids[start:end], attention_mask[start:end]
            rows_media = {key: value[start:end] for key, value in media.items()}
            labels = ids.masked_fill(mask == 0, -100)
            labels[:, :-logits_to_keep] = -100
            extra = {"output_router_logits": True} if compute_aux_loss else {}
            with self.accelerator.autocast():
                outputs = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True, **rows_media, **extra)
            all_logps.append(outputs.log_probs[:, -logits_to_keep:])
            if compute_entropy:
                all_entropies.append(outputs.entropy[:, -logits_to_keep:])
            if compute_aux_loss:
                all_aux_losses.append(outputs.aux_loss)
        logps = torch.cat(all_logps, dim=0)
        entropies = torch.cat(all_entropies, dim=0) if compute_entropy else None
        aux_loss = torch.stack(all_aux_losses).mean() if compute_aux_loss else None
        return logps, entropies, aux_loss


__all__ = ["MEDIA_KEYS", "MIGRGRPOTrainer", "PromptBatch", "TowerPassCounter"]

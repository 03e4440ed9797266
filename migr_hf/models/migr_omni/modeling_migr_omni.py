"""MIGR-Omni: a HumanOmni-compatible audio+video language model (SigLIP + Whisper encoder + BERT gate + Qwen2).

Each sample may carry a clip (frames), an audio track, both or neither. A modality that is absent has no
placeholder tokens in the prompt and its tower does not run for that sample: there are no zero-tensor
stand-ins. The media rows of the batch-first inputs that belong to samples without that modality are ignored.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModel, BertModel, GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep
from transformers.models.whisper.modeling_whisper import WhisperEncoder
from transformers.utils import ModelOutput, logging

from .configuration_migr_omni import MIGROmniConfig

logger = logging.get_logger(__name__)


class LayerNormAct2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map at every position, then an optional SiLU (timm's LayerNormAct2d)."""

    def __init__(self, num_channels: int, eps: float, apply_act: bool = True):
        super().__init__(num_channels, eps=eps)
        self.act = nn.SiLU() if apply_act else nn.Identity()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = hidden_states.permute(0, 2, 3, 1)
        hidden_states = F.layer_norm(hidden_states, self.normalized_shape, self.weight, self.bias, self.eps)
        return self.act(hidden_states.permute(0, 3, 1, 2))


class ConvNormAct(nn.Module):
    """Bias-free 2-D convolution followed by `LayerNormAct2d`; parameters named `conv` and `bn` as in timm."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, eps: float, groups: int = 1, apply_act: bool = True
    ):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, groups=groups, bias=False
        )
        self.bn = LayerNormAct2d(out_channels, eps=eps, apply_act=apply_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(hidden_states))


class SqueezeExcite(nn.Module):
    """Channel attention: `x * sigmoid(fc2(SiLU(fc1(mean_hw(x)))))` with 1x1 convolutions."""

    def __init__(self, channels: int, reduced_channels: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced_channels, kernel_size=1)
        self.fc2 = nn.Conv2d(reduced_channels, channels, kernel_size=1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        scale = hidden_states.mean((2, 3), keepdim=True)
        scale = self.fc2(F.silu(self.fc1(scale)))
        return hidden_states * scale.sigmoid()


class RegBottleneck(nn.Module):
    """RegNet bottleneck as timm builds it for HumanOmni: 1x1 -> depthwise 3x3 -> SE -> 1x1, residual, SiLU.

    The SE width is `round(in_channels / 4)` (the block *input* width); only a block whose input and output
    widths differ has a projection shortcut (`downsample`).
    """

    def __init__(self, in_channels: int, out_channels: int, eps: float):
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, out_channels, 1, eps=eps)
        self.conv2 = ConvNormAct(out_channels, out_channels, 3, eps=eps, groups=out_channels)
        self.se = SqueezeExcite(out_channels, round(in_channels * 0.25))
        self.conv3 = ConvNormAct(out_channels, out_channels, 1, eps=eps, apply_act=False)
        self.downsample = (
            ConvNormAct(in_channels, out_channels, 1, eps=eps, apply_act=False) if in_channels != out_channels else None
        )

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        shortcut = hidden_states if self.downsample is None else self.downsample(hidden_states)
        hidden_states = self.conv3(self.se(self.conv2(self.conv1(hidden_states))))
        return F.silu(hidden_states + shortcut)


class RegStage(nn.Module):
    """`depth` bottlenecks named `b1 ... b{depth}`, stride 1: `(N, in_channels, h, w) -> (N, out_channels, h, w)`."""

    def __init__(self, depth: int, in_channels: int, out_channels: int, eps: float):
        super().__init__()
        for index in range(depth):
            block_in = in_channels if index == 0 else out_channels
            self.add_module(f"b{index + 1}", RegBottleneck(block_in, out_channels, eps=eps))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        for block in self.children():
            hidden_states = block(hidden_states)
        return hidden_states


def _mlp2x_gelu(in_features: int, hidden_size: int) -> nn.Sequential:
    """`Linear(in, H) -> GELU (erf) -> Linear(H, H)`; keys `0.*` and `2.*`."""
    return nn.Sequential(nn.Linear(in_features, hidden_size), nn.GELU(), nn.Linear(hidden_size, hidden_size))


class MIGROmniVideoProjector(nn.Module):
    """HumanOmni's three-branch projector (`all_in_one` / `all_in_one_small`).

    The "video" and "body" branches are RegStage -> Conv3d over (time, grid) -> RegStage -> MLP with separate
    weights; the "face" branch is a per-patch MLP followed by a bilinear resize of each frame's grid to half
    its side. All three receive the same SigLIP features; the gate mixes them.
    """

    def __init__(self, config: MIGROmniConfig):
        super().__init__()
        vision_width = config.vision_config.hidden_size
        hidden_size = config.text_config.hidden_size
        small = config.projector_type == "all_in_one_small"
        depth = 2 if small else 4
        spatial_padding = 0 if small else 1
        eps = config.projector_norm_eps
        for branch in ("video", "body"):
            self.add_module(f"s1_{branch}", RegStage(depth, vision_width, hidden_size, eps=eps))
            sampler = nn.Sequential(
                nn.Conv3d(
                    hidden_size,
                    hidden_size,
                    kernel_size=2,
                    stride=(1, 2, 2),
                    padding=(1, spatial_padding, spatial_padding),
                ),
                nn.SiLU(),
            )
            self.add_module(f"sampler_{branch}", sampler)
            self.add_module(f"s2_{branch}", RegStage(depth, hidden_size, hidden_size, eps=eps))
            self.add_module(f"readout_{branch}", _mlp2x_gelu(hidden_size, hidden_size))
        self.mlp_2xgelu_face = _mlp2x_gelu(vision_width, hidden_size)
        self.grid = config.patch_grid
        self.out_grid = config.projector_grid

    def spatio_temporal_branch(self, features: torch.Tensor, branch: str) -> torch.Tensor:
        """`(B, T, N, Dv)` SigLIP features -> `(B, T * g'^2, H)` tokens of the "video" or "body" branch."""
        batch, frames, _, width = features.shape
        grid = self.grid
        hidden_states = features.reshape(batch * frames, grid, grid, width).permute(0, 3, 1, 2)
        hidden_states = getattr(self, f"s1_{branch}")(hidden_states)
        channels = hidden_states.shape[1]
        volume = hidden_states.reshape(batch, frames, channels, grid, grid).transpose(1, 2)
        volume = getattr(self, f"sampler_{branch}")(volume)[:, :, :frames]
        out_grid = volume.shape[-1]
        hidden_states = volume.transpose(1, 2).reshape(batch * frames, channels, out_grid, out_grid)
        hidden_states = getattr(self, f"s2_{branch}")(hidden_states)
        tokens = hidden_states.reshape(batch, frames, channels, out_grid * out_grid).permute(0, 1, 3, 2)
        return getattr(self, f"readout_{branch}")(tokens.reshape(batch, frames * out_grid * out_grid, channels))

    def face_branch(self, features: torch.Tensor) -> torch.Tensor:
        """`(B, T, N, Dv)` -> `(B, T * g'^2, H)`: per-patch MLP, then bilinear `g -> ceil(g / 2)` per frame."""
        batch, frames, _, _ = features.shape
        hidden_states = self.mlp_2xgelu_face(features)
        channels = hidden_states.shape[-1]
        grid = self.grid
        hidden_states = hidden_states.reshape(batch * frames, grid, grid, channels).permute(0, 3, 1, 2)
        half = (grid + 1) // 2
        hidden_states = F.interpolate(hidden_states, size=(half, half), mode="bilinear", align_corners=False)
        return hidden_states.permute(0, 2, 3, 1).reshape(batch, frames * half * half, channels)

    def forward(self, features: torch.Tensor, gate_probs: torch.Tensor) -> torch.Tensor:
        """Mix the branches: `(B, T, N, Dv)` features and `(B, 3)` gate weights (video, body, face) -> `(B, T * g'^2, H)`."""
        branches = (
            self.spatio_temporal_branch(features, "video"),
            self.spatio_temporal_branch(features, "body"),
            self.face_branch(features),
        )
        gate_probs = gate_probs.to(branches[0].dtype)
        return sum(gate_probs[:, index, None, None] * branch for index, branch in enumerate(branches))


class MIGROmniPatchProjector(nn.Module):
    """`mlp2x_gelu` video projector: one MLP per SigLIP patch, `(B, T, N, Dv) -> (B, T * N, H)`."""

    def __init__(self, config: MIGROmniConfig):
        super().__init__()
        self.mlp = _mlp2x_gelu(config.vision_config.hidden_size, config.text_config.hidden_size)

    def forward(self, features: torch.Tensor, gate_probs: torch.Tensor | None = None) -> torch.Tensor:
        return self.mlp(features.flatten(1, 2))


class MIGROmniInstructionGate(nn.Module):
    """BERT reads the instruction; its `[CLS]` state gives softmax weights for the (video, body, face) branches."""

    def __init__(self, config: MIGROmniConfig):
        super().__init__()
        self.encoder = BertModel(config.gate_config, add_pooling_layer=False)
        self.mlp = nn.Sequential(
            nn.Linear(config.gate_config.hidden_size, config.gate_hidden_size),
            nn.GELU(),
            nn.Linear(config.gate_hidden_size, 3),
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`(B, L)` BERT ids -> `(B, 3)` gate logits."""
        cls_state = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
        ).last_hidden_state[:, 0]
        return self.mlp(cls_state)


def slow_fast_compress(tokens: torch.Tensor, frames: int, grid: int) -> torch.Tensor:
    """HumanOmni's slow-fast compressor: `(B, T * g^2, H)` -> `(B, T * floor(g/2)^2 + S * g^2, H)`.

    "Fast" tokens are every frame average-pooled 2x2 (stride 2, floor); "slow" tokens are the full-resolution
    frames 1, 5, 9, ... (frame 0 when `T <= 1`), concatenated after the fast ones.
    """
    batch, _, hidden = tokens.shape
    maps = tokens.reshape(batch * frames, grid, grid, hidden).permute(0, 3, 1, 2)
    fast = F.avg_pool2d(maps, kernel_size=2, stride=2).permute(0, 2, 3, 1).reshape(batch, -1, hidden)
    slow_indices = [0] if frames <= 1 else list(range(1, frames, 4))
    slow = tokens.reshape(batch, frames, grid * grid, hidden)[:, slow_indices].reshape(batch, -1, hidden)
    return torch.cat([fast, slow], dim=1)


@dataclass
class MIGROmniPromptEmbeddings(ModelOutput):
    """What [`MIGROmniModel.embed_prompt`] returns.

    Args:
        inputs_embeds: `(B, L, H)` token embeddings with the media features over the placeholders.
        video_features: `(num_videos, video_tokens, H)` rows spliced at the video placeholders.
        audio_features: `(num_audios, audio_tokens, H)` rows spliced at the audio placeholders.
    """

    inputs_embeds: torch.FloatTensor | None = None
    video_features: torch.FloatTensor | None = None
    audio_features: torch.FloatTensor | None = None


@dataclass
class MIGROmniModelOutputWithPast(BaseModelOutputWithPast):
    """Language-model outputs plus the spliced media features.

    Args:
        video_features: `(num_videos, video_tokens, H)` rows spliced at the video placeholders.
        audio_features: `(num_audios, audio_tokens, H)` rows spliced at the audio placeholders.
    """

    video_features: torch.FloatTensor | None = None
    audio_features: torch.FloatTensor | None = None


@dataclass
class MIGROmniCausalLMOutputWithPast(CausalLMOutputWithPast):
    """Causal LM outputs of [`MIGROmniForCausalLM`]: transformers' fields plus the spliced media features.

    Args:
        video_features: `(num_videos, video_tokens, H)` rows spliced at the video placeholders.
        audio_features: `(num_audios, audio_tokens, H)` rows spliced at the audio placeholders.
    """

    video_features: torch.FloatTensor | None = None
    audio_features: torch.FloatTensor | None = None


class MIGROmniPreTrainedModel(PreTrainedModel):
    config: MIGROmniConfig
    base_model_prefix = "model"
    input_modalities = ("video", "audio", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["Qwen2DecoderLayer", "SiglipEncoderLayer", "WhisperEncoderLayer", "BertLayer"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, (nn.Conv2d, nn.Conv3d)):
            nn.init.normal_(module.weight, std=self.config.text_config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def save_pretrained(self, save_directory, *args, state_dict: dict | None = None, **kwargs):
        """[`PreTrainedModel.save_pretrained`], also for a model FSDP2 has sharded.

        FSDP2 swaps a sharded module's class for a subclass of `FSDPModule` and it defined in torch, and transformers
        5.24 would then copy torch's module as the remote code and name it in `auto_map`. A sharded model saves its
        full state dict (gathered here unless given) as its own class.
        """
        if not hasattr(self, "_get_fsdp_state"):  # not sharded by FSDP2 (transformers' test too)
            return super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)
        sharded_class = type(self)
        own_class = next(cls for cls in sharded_class.__mro__ if not hasattr(cls, "_get_fsdp_state"))
        if state_dict is None:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            state_dict = get_model_state_dict(self, options=options)
        self.__class__ = own_class
        try:
            return super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)
        finally:
            self.__class__ = sharded_class


class MIGROmniModel(MIGROmniPreTrainedModel):
    """Towers, projectors, instruction gate and the Qwen2 `language_model`, without the LM head.

    Media features are spliced into the token embeddings inside this module, so trl's fused LM head (which
    calls `model.model(...)`) and PEFT see the full multimodal sequence.
    """

    def __init__(self, config: MIGROmniConfig):
        super().__init__(config)
        self.vision_tower = AutoModel.from_config(config.vision_config)
        # Only an inner layer's hidden states are read: SigLIP's pooling head (kept for the checkpoint layout, as in
        # HumanOmni) never runs. Besides the compute, its nn.MultiheadAttention reads `out_proj.weight` without
        # calling `out_proj`, which DeepSpeed ZeRO-3 would leave partitioned.
        self.vision_tower.use_head = False
        self.audio_tower = WhisperEncoder(config.audio_config)
        if config.uses_instruction_gate:
            self.video_projector = MIGROmniVideoProjector(config)
            self.instruction_gate = MIGROmniInstructionGate(config)
        else:
            self.video_projector = MIGROmniPatchProjector(config)
            self.instruction_gate = None
        self.audio_projector = _mlp2x_gelu(config.audio_config.d_model, config.text_config.hidden_size)
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_vision_tower_states(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """`(B, T, 3, S, S)` frames -> `(B, T, N, Dv)` SigLIP hidden states of layer `vision_feature_layer`."""
        batch, frames = pixel_values_videos.shape[:2]
        pixel_values = pixel_values_videos.flatten(0, 1).to(self.vision_tower.dtype)
        hidden_states = self.vision_tower(pixel_values, output_hidden_states=True).hidden_states
        selected = hidden_states[self.config.vision_feature_layer]
        return selected.reshape(batch, frames, selected.shape[1], selected.shape[2])

    def get_audio_tower_states(self, input_features: torch.Tensor) -> torch.Tensor:
        """`(B, n_mels, 3000)` log-mel features -> `(B, 1500, Da)` Whisper encoder states.

        `(B, 1, n_mels, 3000)` (the R1-Omni GRPO layout) is accepted too.
        """
        if input_features.ndim == 4 and input_features.shape[1] == 1:
            input_features = input_features.squeeze(1)
        if input_features.ndim != 3:
            raise ValueError(f"input_features must be (batch, n_mels, frames), got shape {tuple(input_features.shape)}")
        return self.audio_tower(input_features.to(self.audio_tower.dtype)).last_hidden_state

    def get_gate_probs(self, gate_input_ids: torch.Tensor, gate_attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`(B, L)` BERT ids of the instruction -> `(B, 3)` branch weights (video, body, face)."""
        return self.instruction_gate(gate_input_ids, gate_attention_mask).softmax(dim=-1)

    def project_video(
        self,
        vision_tower_states: torch.Tensor,
        gate_input_ids: torch.Tensor | None = None,
        gate_attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`(B, T, N, Dv)` SigLIP states (+ `(B, L)` gate ids) -> `(B, num_video_tokens, H)`: gate, projector, compressor."""
        features = vision_tower_states.to(self.language_model.dtype)
        gate_probs = None
        if self.instruction_gate is not None:
            if gate_input_ids is None:
                raise ValueError(
                    f"projector_type={self.config.projector_type!r} mixes its branches with the instruction gate: "
                    "pass `gate_input_ids` (the BERT-tokenized instruction, as the processor returns it)"
                )
            gate_probs = self.get_gate_probs(gate_input_ids, gate_attention_mask)
        tokens = self.video_projector(features, gate_probs)
        if self.config.use_slow_fast_compressor:
            tokens = slow_fast_compress(tokens, vision_tower_states.shape[1], self.config.projector_grid)
        return tokens

    def project_audio(self, audio_tower_states: torch.Tensor) -> torch.Tensor:
        """`(B, 1500, Da)` Whisper states -> `(B, 500, H)`: mean of non-overlapping triples, then the MLP."""
        stride = self.config.audio_pool_stride
        pooled = F.avg_pool1d(audio_tower_states.transpose(1, 2), kernel_size=stride, stride=stride).transpose(1, 2)
        return self.audio_projector(pooled.to(self.language_model.dtype))

    def get_video_features(
        self,
        pixel_values_videos: torch.Tensor,
        gate_input_ids: torch.Tensor | None = None,
        gate_attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`(B, T, 3, S, S)` frames (+ `(B, L)` gate ids) -> `(B, num_video_tokens, H)` features to splice."""
        return self.project_video(self.get_vision_tower_states(pixel_values_videos), gate_input_ids, gate_attention_mask)

    def get_audio_features(self, input_features: torch.Tensor) -> torch.Tensor:
        """`(B, n_mels, 3000)` log-mel features -> `(B, 500, H)` features to splice."""
        return self.project_audio(self.get_audio_tower_states(input_features))

    def _media_rows(self, input_ids: torch.Tensor, token_id: int, tokens_per_item: int, name: str) -> torch.Tensor:
        """Boolean `(B,)` of the samples whose prompt holds the `name` placeholders; checks their count."""
        counts = (input_ids == token_id).sum(-1)
        bad = (counts != 0) & (counts != tokens_per_item)
        if bad.any():
            row = int(bad.nonzero()[0])
            raise ValueError(
                f"sample {row} has {int(counts[row])} {name} placeholder tokens; a sample holds either none or "
                f"exactly {tokens_per_item} (one clip, as the processor expands it)"
            )
        return counts > 0

    def _splice_modality(
        self,
        inputs_embeds: torch.Tensor,
        input_ids: torch.Tensor,
        modality: str,
        raw: torch.Tensor | None,
        tower_states: torch.Tensor | None,
        features: torch.Tensor | None,
        gate_inputs: tuple[torch.Tensor | None, ...] = (),
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Placeholder mask, features and splice of one modality (`"video"` or `"audio"`).

        Takes the most processed input given (features, then tower states, then raw media), keeps the rows of
        the samples whose prompt holds that modality's placeholders, and writes their features over them.
        Returns the `(B, L, H)` embeddings and the `(num_items, tokens, H)` spliced features (`None` if none).
        """
        if raw is None and tower_states is None and features is None:
            return inputs_embeds, None
        if modality == "video":
            token_id, get_tower_states, project = self.config.video_token_id, self.get_vision_tower_states, self.project_video
            if features is not None:
                num_tokens = features.shape[1]
            else:
                num_tokens = self.config.num_video_tokens((tower_states if tower_states is not None else raw).shape[1])
        else:
            token_id, get_tower_states, project = self.config.audio_token_id, self.get_audio_tower_states, self.project_audio
            num_tokens = self.config.num_audio_tokens
        rows = self._media_rows(input_ids, token_id, num_tokens, modality)
        if features is not None:
            features = features[rows]
        elif rows.any():
            tower_states = get_tower_states(raw[rows]) if tower_states is None else tower_states[rows]
            features = project(tower_states, *(x[rows] if x is not None else None for x in gate_inputs))
        else:
            return inputs_embeds, None
        mask = (input_ids == token_id).unsqueeze(-1).expand_as(inputs_embeds)
        return inputs_embeds.masked_scatter(mask, features.to(inputs_embeds.dtype)), features

    def embed_prompt(
        self,
        input_ids: torch.LongTensor,
        pixel_values_videos: torch.FloatTensor | None = None,
        input_features: torch.FloatTensor | None = None,
        gate_input_ids: torch.LongTensor | None = None,
        gate_attention_mask: torch.Tensor | None = None,
        vision_tower_states: torch.FloatTensor | None = None,
        audio_tower_states: torch.FloatTensor | None = None,
        video_features: torch.FloatTensor | None = None,
        audio_features: torch.FloatTensor | None = None,
    ) -> "MIGROmniPromptEmbeddings":
        r"""Token embeddings of `(B, L)` ids with the media features spliced over their placeholders.

        Runs the towers (or takes the given tower states or features), the projectors and the instruction gate,
        so that the language model alone, fed `inputs_embeds`, continues the prompt as this model does (e.g. a
        serving engine running the exported Qwen2 checkpoint with prompt embeddings). The media arguments are
        those of [`MIGROmniModel.forward`].

        Returns:
            [`MIGROmniPromptEmbeddings`]: `inputs_embeds` `(B, L, H)` and the spliced `video_features` /
            `audio_features` `(num_items, tokens, H)`.
        """
        inputs_embeds = self.get_input_embeddings()(input_ids)
        inputs_embeds, video_features = self._splice_modality(
            inputs_embeds,
            input_ids,
            "video",
            pixel_values_videos,
            vision_tower_states,
            video_features,
            gate_inputs=(gate_input_ids, gate_attention_mask),
        )
        inputs_embeds, audio_features = self._splice_modality(
            inputs_embeds, input_ids, "audio", input_features, audio_tower_states, audio_features
        )
        return MIGROmniPromptEmbeddings(
            inputs_embeds=inputs_embeds, video_features=video_features, audio_features=audio_features
        )

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        input_features: torch.FloatTensor | None = None,
        gate_input_ids: torch.LongTensor | None = None,
        gate_attention_mask: torch.Tensor | None = None,
        vision_tower_states: torch.FloatTensor | None = None,
        audio_tower_states: torch.FloatTensor | None = None,
        video_features: torch.FloatTensor | None = None,
        audio_features: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> MIGROmniModelOutputWithPast:
        r"""
        Args:
            pixel_values_videos: `(B, T, 3, S, S)` frames, one row per sample (rows of samples without video are ignored).
            input_features: `(B, n_mels, 3000)` Whisper log-mel features, one row per sample.
            gate_input_ids / gate_attention_mask: `(B, L)` BERT tokens of the instruction for the gate.
            vision_tower_states / audio_tower_states: precomputed frozen-tower outputs, `(B, T, N, Dv)` from
                `get_vision_tower_states` and `(B, 1500, Da)` from `get_audio_tower_states`, used instead of running
                the towers; the projectors and the gate still run (e.g. towers computed once per GRPO prompt).
            video_features / audio_features: precomputed `get_video_features` / `get_audio_features` outputs,
                `(B, tokens, H)`, used instead of towers and projectors (e.g. reused across input conditions).

        For each modality the most processed input given wins: features, then tower states, then raw media.
        The prompt is embedded by [`~MIGROmniModel.embed_prompt`].
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        media = {
            "pixel_values_videos": pixel_values_videos,
            "input_features": input_features,
            "vision_tower_states": vision_tower_states,
            "audio_tower_states": audio_tower_states,
            "video_features": video_features,
            "audio_features": audio_features,
        }
        if inputs_embeds is not None and any(value is not None for value in media.values()):
            raise ValueError("media inputs need input_ids, where the placeholder tokens mark their positions")
        if inputs_embeds is None:
            prompt = self.embed_prompt(
                input_ids, gate_input_ids=gate_input_ids, gate_attention_mask=gate_attention_mask, **media
            )
            inputs_embeds, video_features, audio_features = (
                prompt.inputs_embeds,
                prompt.video_features,
                prompt.audio_features,
            )
        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        return MIGROmniModelOutputWithPast(**outputs, video_features=video_features, audio_features=audio_features)


class MIGROmniForCausalLM(MIGROmniPreTrainedModel, GenerationMixin):
    """[`MIGROmniModel`] with a language-modeling head; `generate` drops the media inputs after prefill."""

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}
    _media_inputs = (
        "pixel_values_videos",
        "input_features",
        "gate_input_ids",
        "gate_attention_mask",
        "vision_tower_states",
        "audio_tower_states",
        "video_features",
        "audio_features",
    )

    def __init__(self, config: MIGROmniConfig):
        super().__init__(config)
        self.model = MIGROmniModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Module) -> None:
        self.lm_head = new_embeddings

    def get_vision_tower_states(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """[`MIGROmniModel.get_vision_tower_states`]."""
        return self.model.get_vision_tower_states(pixel_values_videos)

    def get_audio_tower_states(self, input_features: torch.Tensor) -> torch.Tensor:
        """[`MIGROmniModel.get_audio_tower_states`]."""
        return self.model.get_audio_tower_states(input_features)

    def get_video_features(self, *args, **kwargs) -> torch.Tensor:
        return self.model.get_video_features(*args, **kwargs)

    def get_audio_features(self, *args, **kwargs) -> torch.Tensor:
        return self.model.get_audio_features(*args, **kwargs)

    def embed_prompt(self, *args, **kwargs) -> MIGROmniPromptEmbeddings:
        """[`MIGROmniModel.embed_prompt`]: `inputs_embeds` for the language model alone."""
        return self.model.embed_prompt(*args, **kwargs)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        input_features: torch.FloatTensor | None = None,
        gate_input_ids: torch.LongTensor | None = None,
        gate_attention_mask: torch.Tensor | None = None,
        vision_tower_states: torch.FloatTensor | None = None,
        audio_tower_states: torch.FloatTensor | None = None,
        video_features: torch.FloatTensor | None = None,
        audio_features: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> MIGROmniCausalLMOutputWithPast:
        r"""
        Args:
            labels: `(B, L)` token ids to predict, `-100` where no loss is taken (prompt, placeholders, padding).
            logits_to_keep: compute logits only for the last `logits_to_keep` positions (0 = all), or for the
                given position indices.

        The other arguments are those of [`MIGROmniModel.forward`].
        """
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            pixel_values_videos=pixel_values_videos,
            input_features=input_features,
            gate_input_ids=gate_input_ids,
            gate_attention_mask=gate_attention_mask,
            vision_tower_states=vision_tower_states,
            audio_tower_states=audio_tower_states,
            video_features=video_features,
            audio_features=audio_features,
            use_cache=use_cache,
            **kwargs,
        )
        hidden_states = slice_logits_to_keep(outputs.last_hidden_state, logits_to_keep)
        logits = self.lm_head(hidden_states)
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size, **kwargs)
        language_model_outputs = {key: value for key, value in outputs.items() if key != "last_hidden_state"}
        return MIGROmniCausalLMOutputWithPast(loss=loss, logits=logits, **language_model_outputs)

    def prepare_inputs_for_generation(self, *args, is_first_iteration: bool = False, **kwargs) -> dict:
        """Pass the media inputs on the prefill step only; decode steps read them from the KV cache."""
        media = {name: kwargs.pop(name, None) for name in self._media_inputs}
        model_inputs = super().prepare_inputs_for_generation(*args, is_first_iteration=is_first_iteration, **kwargs)
        if is_first_iteration or not model_inputs.get("use_cache", True):
            model_inputs.update({name: value for name, value in media.items() if value is not None})
        return model_inputs


__all__ = ["MIGROmniForCausalLM", "MIGROmniModel", "MIGROmniPreTrainedModel", "MIGROmniPromptEmbeddings"]

"""Configuration of MIGR-Omni, the HumanOmni-compatible audio+video language model."""

import math
from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, BertConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

PROJECTOR_TYPES = ("all_in_one", "all_in_one_small", "mlp2x_gelu")


@strict
class MIGROmniConfig(PreTrainedConfig):
    r"""Configuration of [`MIGROmniForCausalLM`].

    The defaults describe HumanOmni-7B: SigLIP-so400m-patch14-384 frames, the Whisper-large-v3 encoder, a
    BERT-base instruction gate and a Qwen2.5-7B language model.

    Args:
        vision_config: SigLIP vision tower (`siglip_vision_model`).
        audio_config: Whisper config; only its encoder is built.
        text_config: Qwen2 language model.
        gate_config: BERT encoder of the instruction gate (BERT-base when unset); `None` for `mlp2x_gelu`.
        video_token_id: Placeholder id of one visual feature row in `input_ids`.
        audio_token_id: Placeholder id of one audio feature row in `input_ids`.
        image_token_id: Read by trl to suppress the placeholder while sampling. The model takes no still
            images, so it defaults to `video_token_id`.
        num_frames: Frames sampled per clip.
        projector_type: `all_in_one` (three RegStage branches, depth 4, Conv3d spatial padding 1; HumanOmni-7B),
            `all_in_one_small` (depth 2, no spatial padding; the 0.5B family) or `mlp2x_gelu` (one MLP per patch).
        use_slow_fast_compressor: Apply the parameter-free slow-fast token compressor of the HumanOmni repository
            after branch mixing. `False` for the R1-Omni 0.5B family.
        gate_hidden_size: Hidden width of the gate MLP. HumanOmni hard-codes 3584 for every model size, so it is
            its own field rather than derived from the language model width.
        vision_feature_layer: Index into the SigLIP hidden states (`-2`: output of the second-to-last layer).
        audio_pool_stride: Non-overlapping average pooling of the Whisper encoder output (1500 -> 500 frames).
        projector_norm_eps: Epsilon of the channel LayerNorms inside the RegStage blocks (timm uses 1e-5 there).
    """

    model_type = "migr_omni"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="siglip_vision_model",
            init_kwargs={
                "hidden_size": 1152,
                "intermediate_size": 4304,
                "num_hidden_layers": 27,
                "num_attention_heads": 16,
                "image_size": 384,
                "patch_size": 14,
            },
        ),
        "audio_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="whisper",
            init_kwargs={
                "num_mel_bins": 128,
                "d_model": 1280,
                "encoder_layers": 32,
                "encoder_attention_heads": 20,
                "encoder_ffn_dim": 5120,
                "max_source_positions": 1500,
            },
        ),
        "text_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="qwen2",
            init_kwargs={
                "vocab_size": 152064,
                "hidden_size": 3584,
                "intermediate_size": 18944,
                "num_hidden_layers": 28,
                "num_attention_heads": 28,
                "num_key_value_heads": 4,
                "rms_norm_eps": 1e-6,
                "rope_theta": 1000000.0,
                "max_position_embeddings": 32768,
            },
        ),
        "gate_config": SubConfigSpec(config_class=AutoConfig, model_type="bert", optional=True),
    }

    vision_config: dict | PreTrainedConfig | None = None
    audio_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    gate_config: dict | PreTrainedConfig | None = None
    video_token_id: int = 151665
    audio_token_id: int = 151666
    image_token_id: int | None = None
    num_frames: int = 8
    projector_type: Literal["all_in_one", "all_in_one_small", "mlp2x_gelu"] = "all_in_one"
    use_slow_fast_compressor: bool = False
    gate_hidden_size: int = 3584
    vision_feature_layer: int = -2
    audio_pool_stride: int = 3
    projector_norm_eps: float = 1e-5
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.gate_config is None and self.uses_instruction_gate:
            self.gate_config = BertConfig()
        for encoder_config in (self.audio_config, self.gate_config):
            if encoder_config is not None:
                encoder_config.use_cache = False  # encoders: nothing to cache (and no warning under checkpointing)
        if self.image_token_id is None:
            self.image_token_id = self.video_token_id
        if not self.tie_word_embeddings and self.text_config.tie_word_embeddings:
            self.tie_word_embeddings = True

    def validate_architecture(self):
        """Check the fields that the modules cannot check themselves."""
        super().validate_architecture()
        if self.projector_type not in PROJECTOR_TYPES:
            raise ValueError(f"projector_type must be one of {PROJECTOR_TYPES}, got {self.projector_type!r}")
        if self.uses_instruction_gate and self.gate_config is None:
            raise ValueError(f"projector_type={self.projector_type!r} mixes branches with a BERT gate: set gate_config")
        if self.use_slow_fast_compressor and not self.uses_instruction_gate:
            raise ValueError("the slow-fast compressor needs a 3-branch (all_in_one*) projector")
        if self.uses_instruction_gate and self.projector_grid != (self.patch_grid + 1) // 2:
            raise ValueError(
                f"projector_type={self.projector_type!r} on a {self.patch_grid}x{self.patch_grid} patch grid gives "
                f"{self.projector_grid}x{self.projector_grid} tokens in the Conv3d branches but "
                f"{(self.patch_grid + 1) // 2}x{(self.patch_grid + 1) // 2} in the face branch; use an "
                f"{'odd' if self.projector_type == 'all_in_one' else 'even'} grid (image_size / patch_size)"
            )
        if self.video_token_id == self.audio_token_id:
            raise ValueError("video_token_id and audio_token_id must differ")

    @property
    def uses_instruction_gate(self) -> bool:
        """Whether the projector has three branches mixed by the BERT instruction gate."""
        return self.projector_type in ("all_in_one", "all_in_one_small")

    @property
    def patch_grid(self) -> int:
        """Side of the SigLIP patch grid, `g = image_size / patch_size`."""
        return self.vision_config.image_size // self.vision_config.patch_size

    @property
    def projector_grid(self) -> int:
        """Side of the per-frame token grid after the projector (`g'`)."""
        if not self.uses_instruction_gate:
            return self.patch_grid
        padding = 1 if self.projector_type == "all_in_one" else 0
        return (self.patch_grid + 2 * padding - 2) // 2 + 1

    def num_video_tokens(self, num_frames: int | None = None) -> int:
        """Visual feature rows spliced in for one clip of `num_frames` frames."""
        frames = self.num_frames if num_frames is None else num_frames
        grid = self.projector_grid
        if not self.use_slow_fast_compressor:
            return frames * grid * grid
        fast = frames * (grid // 2) ** 2
        slow_frames = 1 if frames <= 1 else math.ceil((frames - 1) / 4)
        return fast + slow_frames * grid * grid

    @property
    def num_audio_tokens(self) -> int:
        """Audio feature rows spliced in for one clip (Whisper covers the first 30 s)."""
        return self.audio_config.max_source_positions // self.audio_pool_stride


__all__ = ["MIGROmniConfig", "PROJECTOR_TYPES"]

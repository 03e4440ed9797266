"""Each projector branch against an independent functional computation of the spec's math (sections 4.3-4.7).

The reference below reads the weights by their HumanOmni key names from a state dict and applies the
formulas of the architecture spec with plain `torch.nn.functional` calls; it shares no code with
`modeling_migr_omni`.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from migr_hf import MIGROmniConfig
from migr_hf.models.migr_omni.modeling_migr_omni import MIGROmniModel, slow_fast_compress


def channel_ln(x, weight, bias, eps=1e-5):
    """LayerNorm over the channel axis of an NCHW map at each position."""
    mean = x.mean(1, keepdim=True)
    var = x.var(1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * weight[None, :, None, None] + bias[None, :, None, None]


def bottleneck(x, w, prefix):
    cin = x.shape[1]
    c = w[f"{prefix}.conv1.conv.weight"].shape[0]
    u1 = F.silu(channel_ln(F.conv2d(x, w[f"{prefix}.conv1.conv.weight"]), w[f"{prefix}.conv1.bn.weight"], w[f"{prefix}.conv1.bn.bias"]))
    u2 = F.conv2d(u1, w[f"{prefix}.conv2.conv.weight"], padding=1, groups=c)
    u2 = F.silu(channel_ln(u2, w[f"{prefix}.conv2.bn.weight"], w[f"{prefix}.conv2.bn.bias"]))
    pooled = u2.mean((2, 3), keepdim=True)
    assert w[f"{prefix}.se.fc1.weight"].shape[0] == round(cin / 4)
    s = torch.sigmoid(
        F.conv2d(F.silu(F.conv2d(pooled, w[f"{prefix}.se.fc1.weight"], w[f"{prefix}.se.fc1.bias"])), w[f"{prefix}.se.fc2.weight"], w[f"{prefix}.se.fc2.bias"])
    )
    u3 = channel_ln(F.conv2d(u2 * s, w[f"{prefix}.conv3.conv.weight"]), w[f"{prefix}.conv3.bn.weight"], w[f"{prefix}.conv3.bn.bias"])
    if f"{prefix}.downsample.conv.weight" in w:
        sc = channel_ln(F.conv2d(x, w[f"{prefix}.downsample.conv.weight"]), w[f"{prefix}.downsample.bn.weight"], w[f"{prefix}.downsample.bn.bias"])
    else:
        sc = x
    return F.silu(u3 + sc)


def regstage(x, w, prefix, depth):
    for k in range(1, depth + 1):
        x = bottleneck(x, w, f"{prefix}.b{k}")
    return x


def mlp(x, w, prefix):
    return F.linear(F.gelu(F.linear(x, w[f"{prefix}.0.weight"], w[f"{prefix}.0.bias"])), w[f"{prefix}.2.weight"], w[f"{prefix}.2.bias"])


def reference_branch(features, w, branch, depth, pad_hw):
    """Video/body branch for one clip: features (T, N, Dv) -> (T * g'^2, H)."""
    t, n, dv = features.shape
    g = int(math.isqrt(n))
    x0 = features.reshape(t, g, g, dv).permute(0, 3, 1, 2)
    x1 = regstage(x0, w, f"model.mm_projector.s1_{branch}", depth)
    volume = x1.permute(1, 0, 2, 3).unsqueeze(0)  # 1 x H x T x g x g
    y = F.silu(F.conv3d(volume, w[f"model.mm_projector.sampler_{branch}.0.weight"], w[f"model.mm_projector.sampler_{branch}.0.bias"], stride=(1, 2, 2), padding=(1, pad_hw, pad_hw)))
    assert y.shape[2] == t + 1
    y = y[0, :, :t].permute(1, 0, 2, 3)  # drop the last time slice: T x H x g' x g'
    x2 = regstage(y, w, f"model.mm_projector.s2_{branch}", depth)
    tokens = x2.permute(0, 2, 3, 1).reshape(-1, x2.shape[1])
    return mlp(tokens, w, f"model.mm_projector.readout_{branch}")


def reference_face(features, w):
    t, n, _ = features.shape
    g = int(math.isqrt(n))
    h = mlp(features, w, "model.mm_projector.mlp_2xgelu_face")
    maps = h.reshape(t, g, g, -1).permute(0, 3, 1, 2)
    half = math.ceil(g / 2)
    resized = F.interpolate(maps, size=(half, half), mode="bilinear", align_corners=False, antialias=False)
    return resized.permute(0, 2, 3, 1).reshape(-1, h.shape[-1])


def reference_compressor(tokens, t, grid):
    hidden = tokens.shape[-1]
    maps = tokens.reshape(t, grid, grid, hidden)
    fast = F.avg_pool2d(maps.permute(0, 3, 1, 2), 2, 2).permute(0, 2, 3, 1).reshape(-1, hidden)
    slow_frames = [0] if t <= 1 else list(range(1, t, 4))
    slow = maps[slow_frames].reshape(-1, hidden)
    return torch.cat([fast, slow])


def humanomni_projector_weights(model: MIGROmniModel) -> dict[str, torch.Tensor]:
    """The projector weights under their HumanOmni key names (spec section 2.3)."""
    return {f"model.mm_projector.{k}": v for k, v in model.video_projector.state_dict().items()}


def tiny_projector_model(projector_type: str, image_size: int, patch_size: int, compressor: bool = False) -> MIGROmniModel:
    config = MIGROmniConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=24, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2, image_size=image_size, patch_size=patch_size),
        audio_config=dict(model_type="whisper", num_mel_bins=128, d_model=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32, vocab_size=64, pad_token_id=0, bos_token_id=0, eos_token_id=0, decoder_start_token_id=0),
        text_config=dict(model_type="qwen2", hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, vocab_size=64),
        gate_config=dict(model_type="bert", hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, vocab_size=30),
        projector_type=projector_type,
        gate_hidden_size=40,
        use_slow_fast_compressor=compressor,
        video_token_id=60,
        audio_token_id=61,
    )
    torch.manual_seed(0)
    model = MIGROmniModel(config).eval()
    with torch.no_grad():  # random non-trivial norms and biases, so a wrong formula shows
        for name, parameter in model.video_projector.named_parameters():
            if name.endswith("bn.weight"):
                parameter.normal_(1.0, 0.2)
            elif name.endswith(".bias"):
                parameter.normal_(0.0, 0.2)
    return model


@pytest.mark.parametrize(
    "projector_type,image_size,patch_size,depth,pad_hw",
    [("all_in_one_small", 32, 4, 2, 0), ("all_in_one", 28, 4, 4, 1)],  # grids 8 -> 4 and 7 -> 4 (true bilinear)
)
def test_branches_match_the_spec_math(projector_type, image_size, patch_size, depth, pad_hw):
    model = tiny_projector_model(projector_type, image_size, patch_size)
    weights = humanomni_projector_weights(model)
    frames = 3
    features = torch.randn(2, frames, (image_size // patch_size) ** 2, 24)
    with torch.no_grad():
        for index in range(features.shape[0]):
            for branch in ("video", "body"):
                ours = model.video_projector.spatio_temporal_branch(features[index : index + 1], branch)[0]
                torch.testing.assert_close(ours, reference_branch(features[index], weights, branch, depth, pad_hw), atol=1e-5, rtol=1e-5)
            ours_face = model.video_projector.face_branch(features[index : index + 1])[0]
            torch.testing.assert_close(ours_face, reference_face(features[index], weights), atol=1e-5, rtol=1e-5)


def test_branch_mixing_and_gate_follow_the_spec():
    model = tiny_projector_model("all_in_one_small", 32, 4)
    weights = humanomni_projector_weights(model)
    features = torch.randn(2, 2, 64, 24)
    gate_ids = torch.randint(3, 30, (2, 7))
    with torch.no_grad():
        bert_cls = model.instruction_gate.encoder(input_ids=gate_ids, token_type_ids=torch.zeros_like(gate_ids)).last_hidden_state[:, 0]
        mlp_weights = {f"g.{k}": v for k, v in model.instruction_gate.mlp.state_dict().items()}
        probs = torch.softmax(mlp(bert_cls, mlp_weights, "g"), dim=-1)
        torch.testing.assert_close(model.get_gate_probs(gate_ids), probs)
        mixed = model.video_projector(features, probs)
        for index in range(2):
            branches = [reference_branch(features[index], weights, "video", 2, 0), reference_branch(features[index], weights, "body", 2, 0), reference_face(features[index], weights)]
            expected = sum(probs[index, k] * branches[k] for k in range(3))
            torch.testing.assert_close(mixed[index], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("frames", [1, 3, 8])
def test_slow_fast_compressor_follows_the_spec(frames):
    grid, hidden = 4, 5
    tokens = torch.randn(2, frames * grid * grid, hidden)
    ours = slow_fast_compress(tokens, frames, grid)
    for index in range(2):
        torch.testing.assert_close(ours[index], reference_compressor(tokens[index], frames, grid))
    config = MIGROmniConfig(use_slow_fast_compressor=True)
    assert config.num_video_tokens(frames) == frames * 49 + (1 if frames <= 1 else math.ceil((frames - 1) / 4)) * 196


def test_compressor_is_applied_after_mixing():
    model = tiny_projector_model("all_in_one_small", 32, 4, compressor=True)
    frames = torch.randn(1, 8, 3, 32, 32)
    gate_ids = torch.randint(3, 30, (1, 5))
    with torch.no_grad():
        features = model.get_video_features(frames, gate_ids)
        mixed = model.video_projector(model.get_vision_tower_states(frames), model.get_gate_probs(gate_ids))
    assert features.shape[1] == model.config.num_video_tokens(8) == 8 * 4 + 2 * 16
    torch.testing.assert_close(features[0], reference_compressor(mixed[0], 8, 4))


def test_audio_path_pools_triples_then_projects():
    model = tiny_projector_model("all_in_one_small", 32, 4)
    mels = torch.randn(2, 128, 3000)
    with torch.no_grad():
        encoded = model.audio_tower(mels).last_hidden_state
        pooled = encoded.reshape(2, 500, 3, -1).mean(2)
        expected = mlp(pooled, {f"a.{k}": v for k, v in model.audio_projector.state_dict().items()}, "a")
        torch.testing.assert_close(model.get_audio_features(mels), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model.get_audio_features(mels[:, None]), expected, atol=1e-5, rtol=1e-5)


def test_mlp2x_gelu_projector_keeps_every_patch():
    model = tiny_projector_model("mlp2x_gelu", 32, 4)
    assert model.instruction_gate is None
    frames = torch.randn(1, 2, 3, 32, 32)
    with torch.no_grad():
        features = model.get_video_features(frames)
        vision = model.get_vision_tower_states(frames)
        expected = mlp(vision.flatten(1, 2), {f"m.{k}": v for k, v in model.video_projector.mlp.state_dict().items()}, "m")
    assert features.shape == (1, 2 * 64, 32)
    torch.testing.assert_close(features, expected)

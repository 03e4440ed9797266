"""Conformance with the original R1-Omni code: the golden fixture's embeddings, branches, gate and logits.

Tolerances are those the fixture's README recommends (float32, CPU).
"""

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, BertTokenizer

from migr_hf.models.migr_omni.convert_humanomni_to_migr_omni import convert_humanomni_checkpoint

VIDEO_ID, AUDIO_ID = 423, 424  # unused rows of the fixture's 448-token vocabulary
INSTRUCTION = (
    "As an emotional recognition expert; throughout the video, which emotion conveyed by the characters is the most "
    "obvious to you?  Output the thinking process in <think> </think> and final emotion in <answer> </answer> tags."
)


@pytest.fixture(scope="module")
def converted(humanomni_fixture, tmp_path_factory):
    output = tmp_path_factory.mktemp("converted")
    convert_humanomni_checkpoint(humanomni_fixture / "checkpoint", output, video_token_id=VIDEO_ID, audio_token_id=AUDIO_ID)
    return AutoModelForCausalLM.from_pretrained(output).eval()


@pytest.fixture(scope="module")
def golden(humanomni_fixture):
    return load_file(humanomni_fixture / "inputs.safetensors"), load_file(humanomni_fixture / "expected.safetensors")


def expanded_ids(input_ids: torch.Tensor, visual_tokens: int, audio_tokens: int) -> torch.Tensor:
    """The original ids with each negative placeholder replaced by its run of placeholder tokens."""
    ids = []
    for token in input_ids.tolist():
        ids += [VIDEO_ID] * visual_tokens if token == -201 else [AUDIO_ID] * audio_tokens if token == -202 else [token]
    return torch.tensor([ids])


def run(model, inputs):
    ids = expanded_ids(inputs["input_ids"][0], model.config.num_video_tokens(), model.config.num_audio_tokens)
    with torch.no_grad():
        return model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            pixel_values_videos=inputs["pixel_values"],
            input_features=inputs["input_features"],
            gate_input_ids=inputs["bert_input_ids"],
            gate_attention_mask=inputs["bert_attention_mask"],
            output_hidden_states=True,
        )


def test_logits_and_spliced_embeddings_match(converted, golden):
    inputs, expected = golden
    outputs = run(converted, inputs)
    assert outputs.logits.shape == expected["logits"].shape == (1, 691, 448)
    torch.testing.assert_close(outputs.hidden_states[0], expected["inputs_embeds"], atol=5e-5, rtol=0)
    torch.testing.assert_close(outputs.logits, expected["logits"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(outputs.video_features[0], expected["visual_tokens_0"], atol=5e-5, rtol=0)
    torch.testing.assert_close(outputs.audio_features[0], expected["audio_tokens_0"], atol=5e-5, rtol=0)
    torch.testing.assert_close(outputs.hidden_states[0][0, 24:152], expected["visual_tokens_0"], atol=5e-5, rtol=0)
    torch.testing.assert_close(outputs.hidden_states[0][0, 161:661], expected["audio_tokens_0"], atol=5e-5, rtol=0)


def test_gate_vision_features_and_each_branch_match(converted, golden):
    inputs, expected = golden
    model = converted.model
    with torch.no_grad():
        probs = model.get_gate_probs(inputs["bert_input_ids"], inputs["bert_attention_mask"])
        features = model.get_vision_tower_states(inputs["pixel_values"])
        branches = {
            "branch_video_0": model.video_projector.spatio_temporal_branch(features, "video")[0],
            "branch_body_0": model.video_projector.spatio_temporal_branch(features, "body")[0],
            "branch_face_0": model.video_projector.face_branch(features)[0],
            "visual_mixed_0": model.video_projector(features, probs)[0],
        }
    torch.testing.assert_close(probs, expected["gate_probs"], atol=1e-5, rtol=0)
    torch.testing.assert_close(features[0], expected["vision_features_0"], atol=5e-5, rtol=0)
    for name, value in branches.items():
        torch.testing.assert_close(value, expected[name], atol=5e-5, rtol=0, msg=name)


def test_tolerance_catches_the_regstage_eps_hazard(converted, golden):
    """With timm's LayerNorm2d default eps (1e-6) instead of the 1e-5 that runs, the logits leave the tolerance."""
    inputs, expected = golden
    norms = [m for m in converted.model.video_projector.modules() if isinstance(m, torch.nn.LayerNorm)]
    try:
        for norm in norms:
            norm.eps = 1e-6
        wrong = run(converted, inputs).logits
    finally:
        for norm in norms:
            norm.eps = 1e-5
    assert (wrong - expected["logits"]).abs().max() > 1e-3


def test_gate_text_tokenizes_like_the_original(humanomni_fixture, golden):
    inputs, _ = golden
    tokenizer = BertTokenizer.from_pretrained(humanomni_fixture / "checkpoint" / "bert")
    encoded = tokenizer([INSTRUCTION], return_tensors="pt")
    assert torch.equal(encoded["input_ids"], inputs["bert_input_ids"])
    assert torch.equal(encoded["attention_mask"], inputs["bert_attention_mask"])

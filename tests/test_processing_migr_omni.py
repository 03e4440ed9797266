"""MIGR-Omni processor on real media encoded with PyAV: chat template, modality mixes, frame modes, bad media."""

import io
from fractions import Fraction

import numpy as np
import pytest
import torch
from media_fixtures import make_audio, make_clip, sine
from safetensors.torch import load_file
from transformers import AutoProcessor, BertTokenizer, SiglipImageProcessorPil, WhisperFeatureExtractor

from migr_hf import MIGROmniProcessor
from migr_hf.models.migr_omni.convert_humanomni_to_migr_omni import prepare_tokenizer
from migr_hf.media import MediaError, read_video_frames
from migr_hf.testing.tiny import build_tiny_tokenizer

INSTRUCTION = (
    "As an emotional recognition expert; throughout the video, which emotion conveyed by the characters is the most "
    "obvious to you?  Output the thinking process in <think> </think> and final emotion in <answer> </answer> tags."
)
INFERENCE_PROMPT = (
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    f"<|im_start|>user\n<video>\n<audio>\n{INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n"
)


@pytest.fixture(scope="module")
def processor(tiny_checkpoint):
    return AutoProcessor.from_pretrained(tiny_checkpoint)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    return {
        "av": make_clip(root / "av.mp4", num_frames=40, width=96, height=48, audio=sine(2.0)),
        "silent": make_clip(root / "silent.mp4", num_frames=20, width=64, height=64),
        "wav": make_audio(root / "speech.wav", sine(1.5, rate=22050, freq=300.0, channels=1), rate=22050),
        "short": make_clip(root / "short.mp4", num_frames=3, width=64, height=64, audio=sine(0.5)),
        "odd": make_clip(root / "odd.mp4", num_frames=12, width=97, height=61, pix_fmt="yuv444p", audio=sine(0.5)),
        "rotated": make_clip(root / "rotated.mp4", num_frames=10, width=64, height=32, rotation=90),
        "empty": str((root / "empty.mp4").write_bytes(b"") or root / "empty.mp4"),
        "truncated": _truncate(make_clip(root / "full.mp4", num_frames=60, width=64, height=64, audio=sine(2.4)), root),
    }


def _truncate(path, root):
    data = open(path, "rb").read()
    target = root / "truncated.mp4"
    target.write_bytes(data[: len(data) // 2])
    return str(target)


def conversation(*blocks, text="which emotion is shown?"):
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": text}]}]


def counts(processor, ids):
    return int((ids == processor.video_token_id).sum()), int((ids == processor.audio_token_id).sum())


def test_chat_template_renders_the_humanomni_inference_prompt(processor):
    prompt = processor.apply_chat_template(
        conversation({"type": "video"}, {"type": "audio"}, text=INSTRUCTION), add_generation_prompt=True
    )
    assert prompt == INFERENCE_PROMPT
    assert processor.instruction_text(prompt) == INSTRUCTION
    video_only = processor.apply_chat_template(conversation({"type": "video"}, text="Hi"), add_generation_prompt=True)
    assert "<|im_start|>user\n<video>\nHi<|im_end|>" in video_only


def test_apply_chat_template_tokenizes_video_and_its_audio_track(processor, media):
    inputs = processor.apply_chat_template(
        conversation({"type": "video", "path": media["av"]}, {"type": "audio"}),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
    )
    assert inputs["pixel_values_videos"].shape == (1, 8, 3, 64, 64)
    assert inputs["input_features"].shape == (1, 128, 3000)
    assert counts(processor, inputs["input_ids"]) == (processor.num_video_tokens, processor.num_audio_tokens)
    text = processor.decode(inputs["input_ids"][0])
    assert "<vi_start>" in text and "<au_end>" in text
    assert inputs["gate_input_ids"][0].tolist() == processor.gate_tokenizer("which emotion is shown?")["input_ids"]


def test_batch_of_every_modality_mix(processor, media):
    prompts = [
        processor.apply_chat_template(conversation(*blocks), add_generation_prompt=True)
        for blocks in (
            ({"type": "video"}, {"type": "audio"}),
            ({"type": "video"},),
            ({"type": "audio"},),
            (),
        )
    ]
    inputs = processor(text=prompts, videos=[media["av"], media["silent"]], audio=[media["av"], media["wav"]])
    assert inputs["pixel_values_videos"].shape == (4, 8, 3, 64, 64)
    assert inputs["input_features"].shape == (4, 128, 3000)
    expected = [(128, 500), (128, 0), (0, 500), (0, 0)]
    assert [counts(processor, row) for row in inputs["input_ids"]] == expected
    assert inputs["pixel_values_videos"][[2, 3]].abs().sum() == 0 and inputs["pixel_values_videos"][[0, 1]].abs().sum() > 0
    assert inputs["input_features"][[1, 3]].abs().sum() == 0 and inputs["input_features"][[0, 2]].abs().sum() > 0
    text_only = processor(text=[prompts[3]])
    assert "pixel_values_videos" not in text_only and "input_features" not in text_only


def test_media_given_per_sample_or_flat_are_the_same(processor, media):
    prompts = [processor.apply_chat_template(conversation({"type": "video"}), add_generation_prompt=True)] * 2
    flat = processor(text=prompts, videos=[media["av"], media["silent"]])
    nested = processor(text=prompts, videos=[[media["av"]], [media["silent"]]])
    assert torch.equal(flat["pixel_values_videos"], nested["pixel_values_videos"])


@pytest.mark.parametrize("kind", ["path", "bytes", "file", "array"])
def test_video_sources(processor, media, kind):
    from migr_hf.media import read_video_frames

    path = media["av"]
    source = {
        "path": path,
        "bytes": open(path, "rb").read(),
        "file": io.BytesIO(open(path, "rb").read()),
        "array": read_video_frames(path, num_frames=40),
    }[kind]
    prompt = processor.apply_chat_template(conversation({"type": "video"}), add_generation_prompt=True)
    reference = processor(text=[prompt], videos=[path])["pixel_values_videos"]
    assert torch.equal(processor(text=[prompt], videos=[source])["pixel_values_videos"], reference)


def test_audio_sources_path_tuple_and_array(processor, media):
    prompt = processor.apply_chat_template(conversation({"type": "audio"}), add_generation_prompt=True)
    from_file = processor(text=[prompt], audio=[media["wav"]])["input_features"]
    waveform = sine(1.5, rate=22050, freq=300.0, channels=1)[0]
    from_tuple = processor(text=[prompt], audio=[(waveform, 22050)])["input_features"]
    assert from_file.shape == from_tuple.shape == (1, 128, 3000)
    torch.testing.assert_close(from_file, from_tuple, atol=0.05, rtol=0)
    at_16k = processor(text=[prompt], audio=[np.sin(np.linspace(0, 100, 16000)).astype(np.float32)])["input_features"]
    assert torch.isfinite(at_16k).all()


def test_pad_mode_letterboxes_with_the_mean_colour_and_squash_does_not(processor, media):
    prompt = processor.apply_chat_template(conversation({"type": "video"}), add_generation_prompt=True)
    padded = processor(text=[prompt], videos=[media["av"]], frame_mode="pad")["pixel_values_videos"][0]
    squashed = processor(text=[prompt], videos=[media["av"]], frame_mode="squash")["pixel_values_videos"][0]
    grey = (127 / 255 - 0.5) / 0.5  # the 96x48 frame is centred on a 96x96 canvas of colour int(255 * 0.5)
    torch.testing.assert_close(padded[:, :, :8, :], torch.full_like(padded[:, :, :8, :], grey), atol=2e-3, rtol=0)
    torch.testing.assert_close(padded[:, :, -8:, :], torch.full_like(padded[:, :, -8:, :], grey), atol=2e-3, rtol=0)
    assert (squashed[:, :, :8, :] - grey).abs().max() > 0.1
    assert processor.frame_mode == "pad"


def test_frame_selection_reaches_the_decoder(processor, tmp_path):
    # Variable frame rate: 12 frames at uneven times; 8 frames by rank (index) differ from 8 by time.
    pts_ms = [0, 40, 80, 200, 240, 250, 260, 400, 440, 480, 520, 700]
    clip = make_clip(tmp_path / "vfr.mkv", num_frames=12, pts=pts_ms, time_base=Fraction(1, 1000))
    prompt = processor.apply_chat_template(conversation({"type": "video"}), add_generation_prompt=True)

    def pixels(proc, video, **kwargs):
        return proc(text=[prompt], videos=[video], **kwargs)["pixel_values_videos"]

    for rule in ("time", "index"):
        decoded = read_video_frames(clip, processor.num_frames, frame_selection=rule)
        torch.testing.assert_close(pixels(processor, clip, frame_selection=rule), pixels(processor, decoded))
    assert processor.frame_selection == "time"
    assert not torch.equal(pixels(processor, clip), pixels(processor, clip, frame_selection="index"))
    processor.save_pretrained(tmp_path / "time")
    AutoProcessor.from_pretrained(tmp_path / "time", frame_selection="index").save_pretrained(tmp_path / "index")
    by_index = AutoProcessor.from_pretrained(tmp_path / "index")
    assert by_index.frame_selection == "index"
    torch.testing.assert_close(pixels(by_index, clip), pixels(processor, clip, frame_selection="index"))
    with pytest.raises(ValueError, match="frame_selection must be one of"):
        pixels(processor, clip, frame_selection="decode")


def test_squash_mode_reproduces_the_original_inference_frames(humanomni_fixture, tiny_checkpoint):
    inputs = load_file(humanomni_fixture / "inputs.safetensors")
    base = AutoProcessor.from_pretrained(tiny_checkpoint)
    processor = MIGROmniProcessor(
        image_processor=SiglipImageProcessorPil.from_pretrained(humanomni_fixture / "checkpoint" / "siglip"),
        feature_extractor=WhisperFeatureExtractor.from_pretrained(humanomni_fixture / "checkpoint" / "whisper"),
        tokenizer=base.tokenizer,
        gate_tokenizer=BertTokenizer.from_pretrained(humanomni_fixture / "checkpoint" / "bert"),
        num_video_tokens=128,
        frame_mode="squash",
    )
    prompt = processor.apply_chat_template(conversation({"type": "video"}, text=INSTRUCTION), add_generation_prompt=True)
    encoded = processor(text=[prompt], videos=[inputs["raw_frames_uint8_0"].numpy()])
    assert torch.equal(encoded["pixel_values_videos"], inputs["pixel_values"])
    assert torch.equal(encoded["gate_input_ids"], inputs["bert_input_ids"])


def test_prompt_ids_equal_the_original_chunked_tokenization():
    """Spec 4.9: the original tokenizes the text around each placeholder separately; markers are ordinary text."""
    tokenizer = build_tiny_tokenizer()
    prepare_tokenizer(tokenizer, add_reasoning_tags=False)
    processor = MIGROmniProcessor(
        image_processor=SiglipImageProcessorPil(size={"height": 64, "width": 64}),
        feature_extractor=WhisperFeatureExtractor(feature_size=128),
        tokenizer=tokenizer,
        gate_tokenizer=BertTokenizer.from_pretrained("tests/fixtures/humanomni-r1omni-tiny/checkpoint/bert"),
        num_video_tokens=4,
        num_audio_tokens=3,
    )
    ids = processor.tokenizer(processor._expand_placeholders(INFERENCE_PROMPT))["input_ids"]
    wrapped = INFERENCE_PROMPT.replace("<video>", "<vi_start><video><vi_end>").replace("<audio>", "<au_start><audio><au_end>")
    before, rest = wrapped.split("<video>")
    between, after = rest.split("<audio>")

    def chunk(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    video_id, audio_id = processor.video_token_id, processor.audio_token_id
    assert ids == chunk(before) + [video_id] * 4 + chunk(between) + [audio_id] * 3 + chunk(after)

    tagged = build_tiny_tokenizer()
    prepare_tokenizer(tagged)
    assert len(tagged("<think> </think>")["input_ids"]) == 3  # with MIGR tags, "<think>" is one token
    assert len(tokenizer("<think> </think>")["input_ids"]) > 3


def test_no_audio_stream_makes_the_sample_video_only(processor, media, caplog):
    prompt = processor.apply_chat_template(conversation({"type": "video"}, {"type": "audio"}), add_generation_prompt=True)
    inputs = processor(text=[prompt], videos=[media["silent"]], audio=[media["silent"]])
    assert counts(processor, inputs["input_ids"]) == (processor.num_video_tokens, 0)
    assert "input_features" not in inputs
    assert "<au_start>" not in processor.decode(inputs["input_ids"][0])


def test_no_video_stream_makes_the_sample_audio_only(processor, media):
    prompt = processor.apply_chat_template(conversation({"type": "video"}, {"type": "audio"}), add_generation_prompt=True)
    inputs = processor(text=[prompt], videos=[media["wav"]], audio=[media["wav"]])
    assert counts(processor, inputs["input_ids"]) == (0, processor.num_audio_tokens)
    assert "pixel_values_videos" not in inputs


@pytest.mark.parametrize("name", ["short", "odd", "rotated"])
def test_unusual_clips_work(processor, media, name):
    prompt = processor.apply_chat_template(conversation({"type": "video"}), add_generation_prompt=True)
    inputs = processor(text=[prompt], videos=[media[name]])
    assert inputs["pixel_values_videos"].shape == (1, 8, 3, 64, 64)
    assert torch.isfinite(inputs["pixel_values_videos"]).all()


def test_rotated_clip_is_padded_in_display_orientation(processor, media):
    """A 64x32 clip with a 90 degree display rotation is 32 wide and 64 high: grey bars left and right."""
    prompt = processor.apply_chat_template(conversation({"type": "video"}), add_generation_prompt=True)
    frames = processor(text=[prompt], videos=[media["rotated"]])["pixel_values_videos"][0]
    grey = (127 / 255 - 0.5) / 0.5
    torch.testing.assert_close(frames[..., :, :10], torch.full_like(frames[..., :, :10], grey), atol=2e-3, rtol=0)
    assert (frames[..., 10:54, :] - grey).abs().max() > 0.1


@pytest.mark.parametrize("name,problem", [("empty", "empty file"), ("truncated", "truncated|not a readable")])
def test_broken_clips_raise_one_clear_error_naming_the_file(processor, media, name, problem):
    prompt = processor.apply_chat_template(conversation({"type": "video"}), add_generation_prompt=True)
    with pytest.raises(MediaError, match=problem) as error:
        processor(text=[prompt], videos=[media[name]])
    assert media[name] in str(error.value)


def test_placeholder_and_media_count_errors(processor, media):
    two = processor.apply_chat_template(conversation({"type": "video"}, {"type": "video"}), add_generation_prompt=True)
    with pytest.raises(ValueError, match="holds 2 <video> placeholders"):
        processor(text=[two], videos=[media["av"], media["av"]])
    one = processor.apply_chat_template(conversation({"type": "video"}), add_generation_prompt=True)
    with pytest.raises(ValueError, match="hold 1 <video> placeholders but 2 videos were given"):
        processor(text=[one], videos=[media["av"], media["av"]])
    with pytest.raises(ValueError, match="not still images"):
        processor(text=[one], images=[np.zeros((4, 4, 3), np.uint8)])


def test_save_and_reload_keep_the_settings(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    names = ("num_frames", "num_video_tokens", "num_audio_tokens", "use_start_end_markers", "frame_mode", "video_token")
    for name in (*names, "frame_selection"):
        assert getattr(reloaded, name) == getattr(processor, name)
    assert reloaded.chat_template == processor.chat_template
    assert len(reloaded.tokenizer) == len(processor.tokenizer)
    assert reloaded.gate_tokenizer.vocab == processor.gate_tokenizer.vocab


@pytest.mark.parametrize("seconds", [0.01, 0.3, 2.0, 17.3, 29.99, 30.0])
def test_log_mel_shortcut_equals_the_feature_extractor(processor, seconds):
    waveform = (0.3 * np.random.default_rng(0).standard_normal(int(seconds * 16000))).astype(np.float32)
    expected = processor.feature_extractor(waveform, sampling_rate=16000, return_tensors="np")["input_features"][0]
    np.testing.assert_allclose(processor.log_mel(waveform), expected, atol=1e-6, rtol=0)
    silence = np.zeros(int(seconds * 16000), np.float32)
    expected = processor.feature_extractor(silence, sampling_rate=16000, return_tensors="np")["input_features"][0]
    np.testing.assert_allclose(processor.log_mel(silence), expected, atol=1e-6, rtol=0)

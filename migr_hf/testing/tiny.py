"""Tiny MIGR-Omni checkpoints built locally: random weights, tiny configs, tokenizers trained on a small corpus.

Used by the tests, the quickstart and the benchmarks: nothing is downloaded, and the checkpoint goes
through the real `save_pretrained` / `from_pretrained` path.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import BertTokenizer, Qwen2Tokenizer, SiglipImageProcessorPil, WhisperFeatureExtractor

from ..labels import LABEL_SETS
from ..models.migr_omni.configuration_migr_omni import MIGROmniConfig
from ..models.migr_omni.convert_humanomni_to_migr_omni import prepare_tokenizer
from ..models.migr_omni.modeling_migr_omni import MIGROmniForCausalLM
from ..models.migr_omni.processing_migr_omni import QWEN_SYSTEM_PROMPT, MIGROmniProcessor
from ..schema import BASELINE_FORMAT_HINT, EMOTION_QUESTION, MIGR_FORMAT_HINT

_SENTENCES = (
    "In the video, the person frowns, lowers the brows and looks down.",
    "In the video, the woman smiles broadly and her cheeks are raised.",
    "In the video, his eyes widen and his mouth drops open.",
    "In the video, she presses her lips together and glares at the other person.",
    "In the audio, the speaker's voice trembles and the tone is low and tearful.",
    "In the audio, the man shouts loudly in an angry, harsh tone.",
    "In the audio, the laughter is bright and the tone is cheerful.",
    "In the audio, there is only background music and no speech.",
    "In the text, the subtitle reads: I can't believe you did that.",
    "Based on the tearful voice and the lowered gaze, we can infer that the person is sad.",
    "Based on the smile and the cheerful laughter, we can infer that she is happy.",
    "Based on the raised voice and the glare, we can infer that he is angry.",
    "The facial action units show an inner brow raiser and a lip corner depressor.",
    "The speaker sounds calm and the face shows no clear expression, so the emotion is neutral.",
    "A sudden loud noise makes the person jump back in fear and surprise.",
    "He wrinkles his nose in disgust at the smell.",
)


def tiny_corpus() -> list[str]:
    """Sentences covering the prompts, the reasoning vocabulary and every label word."""
    words = sorted({word for label_set in LABEL_SETS.values() for word in label_set.labels})
    return [
        EMOTION_QUESTION,
        BASELINE_FORMAT_HINT,
        MIGR_FORMAT_HINT,
        QWEN_SYSTEM_PROMPT,
        "<vi_start> <vi_end> <au_start> <au_end> user assistant system",
        " ".join(words),
        *(f"The emotion is {word}." for word in words),
        *_SENTENCES,
    ]


def build_tiny_tokenizer(vocab_size: int = 1000, extra_texts: Sequence[str] = ()) -> Qwen2Tokenizer:
    """A byte-level BPE `Qwen2Tokenizer` trained on `tiny_corpus()` and `extra_texts` (the text of a domain, so that
    its words are single tokens), with Qwen's chat special tokens."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    backend.train_from_iterator(tiny_corpus() * 4 + list(extra_texts), trainer)
    bpe = json.loads(backend.to_str())["model"]
    return Qwen2Tokenizer(
        vocab=bpe["vocab"],
        merges=[tuple(merge) for merge in bpe["merges"]],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=["<|im_start|>"],
    )


def build_tiny_gate_tokenizer(directory: str | os.PathLike) -> BertTokenizer:
    """An uncased WordPiece `BertTokenizer` whose vocabulary is the words of `tiny_corpus()`."""
    words = sorted({word for line in tiny_corpus() for word in re.findall(r"[a-z]+|[^\sa-z]", line.lower())})
    vocab_file = Path(directory) / "vocab.txt"
    vocab_file.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n", encoding="utf-8")
    return BertTokenizer(str(vocab_file), do_lower_case=True)


def tiny_config(vocab_size: int, gate_vocab_size: int, **overrides) -> MIGROmniConfig:
    """A MIGR-Omni config of a few dozen dims per part (64x64 frames, 8x8 patches, 2 LM layers).

    A dict given for a sub-config (e.g. `vision_config=dict(image_size=384, patch_size=14)`) updates that
    sub-config's tiny fields; other overrides replace the field.
    """
    fields = dict(
        vision_config=dict(
            model_type="siglip_vision_model",
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            image_size=64,
            patch_size=8,
        ),
        audio_config=dict(
            model_type="whisper",
            d_model=32,
            encoder_layers=2,
            encoder_attention_heads=4,
            encoder_ffn_dim=64,
            decoder_layers=1,
            decoder_attention_heads=4,
            decoder_ffn_dim=64,
            num_mel_bins=128,
            max_source_positions=1500,
            vocab_size=vocab_size,
            pad_token_id=0,
            bos_token_id=0,
            eos_token_id=0,
            decoder_start_token_id=0,
        ),
        text_config=dict(
            model_type="qwen2",
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=vocab_size,
            tie_word_embeddings=True,
            max_position_embeddings=4096,
        ),
        gate_config=dict(
            model_type="bert",
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            vocab_size=gate_vocab_size,
        ),
        projector_type="all_in_one_small",
        gate_hidden_size=40,
        num_frames=8,
    )
    for name, value in overrides.items():
        fields[name] = {**fields[name], **value} if isinstance(value, dict) and isinstance(fields.get(name), dict) else value
    return MIGROmniConfig(**fields)


def build_tiny_checkpoint(
    output_dir: str | os.PathLike,
    seed: int = 0,
    frame_mode: str = "pad",
    tokenizer_texts: Sequence[str] = (),
    tokenizer_vocab_size: int = 1000,
    **config_overrides,
) -> Path:
    """Build a random tiny MIGR-Omni model and its processor and save both to `output_dir`.

    `tokenizer_texts` / `tokenizer_vocab_size` go to `build_tiny_tokenizer`. Returns the checkpoint directory,
    loadable with `AutoModelForCausalLM` / `AutoProcessor`.
    """
    output_dir = Path(output_dir)
    tokenizer = build_tiny_tokenizer(tokenizer_vocab_size, tokenizer_texts)
    prepare_tokenizer(tokenizer)
    with tempfile.TemporaryDirectory() as scratch:
        gate_tokenizer = build_tiny_gate_tokenizer(scratch)
        vocab_size = -(-len(tokenizer) // 64) * 64
        config = tiny_config(
            vocab_size=vocab_size,
            gate_vocab_size=len(gate_tokenizer),
            video_token_id=tokenizer.convert_tokens_to_ids("<video>"),
            audio_token_id=tokenizer.convert_tokens_to_ids("<audio>"),
            bos_token_id=None,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **config_overrides,
        )
        config.text_config.eos_token_id = tokenizer.eos_token_id
        config.text_config.pad_token_id = tokenizer.pad_token_id
        torch.manual_seed(seed)
        model = MIGROmniForCausalLM(config)
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        image_size = config.vision_config.image_size
        processor = MIGROmniProcessor.for_config(
            config,
            image_processor=SiglipImageProcessorPil(
                size={"height": image_size, "width": image_size},
                resample=3,
                image_mean=[0.5, 0.5, 0.5],
                image_std=[0.5, 0.5, 0.5],
            ),
            feature_extractor=WhisperFeatureExtractor(feature_size=config.audio_config.num_mel_bins),
            tokenizer=tokenizer,
            gate_tokenizer=gate_tokenizer,
            frame_mode=frame_mode,
        )
        model.save_pretrained(output_dir)
        processor.save_pretrained(output_dir)
    return output_dir


__all__ = [
    "build_tiny_checkpoint",
    "build_tiny_gate_tokenizer",
    "build_tiny_tokenizer",
    "tiny_config",
    "tiny_corpus",
]

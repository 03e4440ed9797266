"""Test helpers for the classifiers, rewards and evaluation: a scripted classifier and a tiny local sequence
classifier (the loopback OpenAI-compatible server is in ``llm_server.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForSequenceClassification,
)

from migr_hf.classifiers import EmotionClassifier

CORPUS = (
    "In the video, the woman smiles broadly and her cheeks are raised.",
    "In the audio, his voice trembles and he sobs quietly.",
    "She frowns, glares at him and shouts loudly.",
    "His eyes widen and his mouth drops open in surprise.",
    "The man wrinkles his nose in disgust and turns away.",
    "The speaker sounds calm and neutral, with a steady tone.",
    "Her hands shake and she looks around in fear.",
    "Based on these cues, we can infer that the person is happy, sad, angry or worried.",
)


class ScriptedClassifier(EmotionClassifier):
    """Backend answering from a ``{text: ranked labels}`` dict (``default`` otherwise); records every call."""

    def __init__(self, answers, default=("neutral",), **kwargs):
        super().__init__(**kwargs)
        self.answers = answers
        self.default = default
        self.calls = []

    def _predict(self, texts, label_set):
        self.calls.append(list(texts))
        return [self.answers.get(text, self.default) for text in texts]


def build_tiny_classifier(
    path: str | Path,
    labels: Sequence[str],
    *,
    multi_label: bool = True,
    bias: Sequence[float] | None = None,
    generic_names: bool = False,
    seed: int = 0,
    architecture: str = "bert",
) -> Path:
    """Save a tiny random BERT (or RoBERTa) sequence classifier and a WordPiece tokenizer (trained here) to ``path``.

    ``bias`` zeroes the classification head's last weight and sets its bias, so every input gets exactly these
    logits. ``generic_names`` saves ``LABEL_i`` names instead of ``labels``. ``architecture="roberta"`` has the
    shape of RoBERTa GoEmotions checkpoints (``RobertaForSequenceClassification``, as ERV's trainer loads).
    """
    path = Path(path)
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        CORPUS * 4, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials, show_progress=False)
    )
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(seed)
    config_class, model_class = {
        "bert": (BertConfig, BertForSequenceClassification),
        "roberta": (RobertaConfig, RobertaForSequenceClassification),
    }[architecture]
    config = config_class(
        vocab_size=fast.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,  # RoBERTa's positions start after the padding id
        pad_token_id=fast.pad_token_id,
        num_labels=len(labels),
        id2label={i: (f"LABEL_{i}" if generic_names else name) for i, name in enumerate(labels)},
        label2id={(f"LABEL_{i}" if generic_names else name): i for i, name in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    model = model_class(config).eval()
    if bias is not None:
        head = model.classifier if architecture == "bert" else model.classifier.out_proj
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(torch.tensor(list(bias), dtype=torch.float32))
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def cache_hub_model(cache_dir: str | Path, repo_id: str, folder: str | Path) -> Path:
    """Put the files of ``folder`` in a Hub cache at ``cache_dir`` as the snapshot of ``repo_id``'s main branch,
    as ``huggingface_hub`` lays out a download; returns the snapshot folder."""
    commit = "0" * 40
    repo = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    shutil.copytree(folder, snapshot)
    return snapshot

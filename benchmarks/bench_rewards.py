"""Reward throughput: the batched + cached MIGR modality rewards vs one classifier call per sentence.

Scores 1,000 synthetic MIGR completions (GRPO-like: 125 prompts x 8 generations) with the two classifier
rewards, ``modality_aligned_order`` (eq. 1) and ``modality_grounded_reasoning`` (eq. 2), twice with the same
tiny random BERT GoEmotions-style classifier (saved and loaded through ``from_pretrained``, so tokenizer and
forward overheads are real):

- migr-hf: the registry's rewards; per reward call, all sentences of the batch go to the classifier at once,
  and results are cached, so the second reward reuses the first one's sentences.
- baseline: the same reward code with a classifier that runs one forward pass per sentence, without cache.

Both must give identical rewards. The last line is ``ratio: <baseline time / migr-hf time>``.

    python benchmarks/bench_rewards.py [--completions 1000] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast
from transformers.utils import logging as hf_logging

from migr_hf.classifiers import GOEMOTIONS_LABELS, EmotionClassifier, SequenceEmotionClassifier
from migr_hf.labels import DFEW, LabelSet, get_label_set
from migr_hf.rewards import get_reward_funcs

SUBJECTS = ("The woman", "The man", "The girl", "The old man", "She", "He", "The speaker", "The boy")
CUES = (
    "smiles broadly", "frowns deeply", "raises her eyebrows", "lowers his head", "wrinkles the nose",
    "speaks in a trembling voice", "shouts loudly", "sighs heavily", "laughs", "stares blankly",
    "clenches the jaw", "looks around nervously", "covers the mouth", "speaks calmly", "sobs quietly",
)  # fmt: skip
CONTEXTS = (
    "", " while talking", " at the table", " in the dark room", " after the call", " near the window",
    " for a moment", " during the conversation",
)  # fmt: skip
CONCLUSIONS = ("Based on these cues, the person seems {}.", "The overall emotion is {}.", "This suggests {}.")


class OneCallPerSentence(EmotionClassifier):
    """Baseline: one classifier call (tokenize + forward) per sentence, duplicates included, no cache."""

    def __init__(self, inner: SequenceEmotionClassifier) -> None:
        super().__init__(cache_size=0)
        self.inner = inner
        self.calls = 0

    def predict(self, texts: list[str], label_set: str | LabelSet) -> list[tuple[str, ...] | None]:
        return self._predict(list(texts), get_label_set(label_set))

    def _predict(self, texts: list[str], label_set: LabelSet) -> list[tuple[str, ...] | None]:
        self.calls += len(texts)
        return [self.inner._predict([text], label_set)[0] for text in texts]


def build_classifier(path: Path) -> Path:
    """Save a tiny random BERT with 28 GoEmotions outputs and a WordPiece tokenizer trained here."""
    corpus = [f"{s} {c}{x}." for s in SUBJECTS for c in CUES for x in CONTEXTS[:2]]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        corpus, trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials, show_progress=False)
    )
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=fast.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=128,
        num_labels=len(GOEMOTIONS_LABELS),
        id2label=dict(enumerate(GOEMOTIONS_LABELS)),
        label2id={name: i for i, name in enumerate(GOEMOTIONS_LABELS)},
        problem_type="multi_label_classification",
    )
    BertForSequenceClassification(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(CUES)}{rng.choice(CONTEXTS)}."


def segment(rng: random.Random, scene: list[str]) -> str:
    """2-4 sentences, each from the prompt's scene or new with probability 1/2."""
    return " ".join(rng.choice(scene) if rng.random() < 0.5 else sentence(rng) for _ in range(rng.randint(2, 4)))


def make_batch(num_completions: int, group_size: int, seed: int) -> dict[str, list]:
    """GRPO-like columns: each prompt's generations share some sentences (same clip) and vary the rest."""
    rng = random.Random(seed)
    columns: dict[str, list] = {"completions": [], "label": [], "modality_importance": [], "label_set": []}
    for _ in range(0, num_completions, group_size):
        label = rng.choice(DFEW.labels)
        importance = rng.choice(("audio", "visual", "both", "audio", "visual", "undetermined"))
        scene = [sentence(rng) for _ in range(10)]
        for _ in range(group_size):
            parts = [f"<aud_desc>{segment(rng, scene)}</aud_desc>", f"<vis_desc>{segment(rng, scene)}</vis_desc>"]
            if importance == "visual" or (importance != "audio" and rng.random() < 0.5):
                parts.reverse()
            think = f"{segment(rng, scene)} {rng.choice(CONCLUSIONS).format(rng.choice(DFEW.labels))}"
            answer = label if rng.random() < 0.6 else rng.choice(DFEW.labels)
            columns["completions"].append("".join(parts) + f"<think>{think}</think><answer>{answer}</answer>")
            columns["label"].append(label)
            columns["modality_importance"].append(importance)
            columns["label_set"].append("dfew")
    return {key: values[:num_completions] for key, values in columns.items()}


def score(reward_funcs: list, columns: dict[str, list], batch_size: int) -> tuple[list[list[float | None]], float]:
    """Rewards of every function over all completions, called per batch as trl does; and the elapsed seconds."""
    results: list[list[float | None]] = [[] for _ in reward_funcs]
    start = time.perf_counter()
    for offset in range(0, len(columns["completions"]), batch_size):
        batch = {key: values[offset : offset + batch_size] for key, values in columns.items()}
        for result, func in zip(results, reward_funcs):
            result.extend(func(prompts=[""] * len(batch["completions"]), completion_ids=None, **batch))
    return results, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--completions", type=int, default=1000)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument(
        "--batch-size", type=int, default=64, help="completions per reward call (trl's generation batch)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # One intra-op thread for both paths: stable timings on a shared CPU, and no help for the batched path.
    torch.set_num_threads(1)
    hf_logging.disable_progress_bar()
    names = ["modality_aligned_order", "modality_grounded_reasoning"]
    columns = make_batch(args.completions, args.group_size, args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        path = str(build_classifier(Path(tmp)))
        fast = SequenceEmotionClassifier(path)
        slow = OneCallPerSentence(SequenceEmotionClassifier(fast.model, fast.tokenizer, cache_size=0))
        with torch.inference_mode():  # first-call costs out of both timings
            fast.model(**fast.tokenizer(["warm up."], return_tensors="pt"))

        fast_rewards, fast_time = score(get_reward_funcs(names, classifier=fast), columns, args.batch_size)
        slow_rewards, slow_time = score(get_reward_funcs(names, classifier=slow), columns, args.batch_size)

    if fast_rewards != slow_rewards:
        raise SystemExit("the batched and the per-sentence rewards differ")
    n = args.completions
    print(f"completions: {n} (groups of {args.group_size}, {args.batch_size} per reward call)")
    print(f"rewards: {', '.join(names)}")
    print(
        f"classifier inputs: migr-hf {fast.stats.backend_texts} distinct sentences in {fast.stats.backend_calls} "
        f"calls ({fast.stats.cache_hits} cache hits); baseline {slow.calls} calls, one per sentence"
    )
    print(f"baseline (one call per sentence): {slow_time:.2f} s, {n / slow_time:.1f} completions/s")
    print(f"migr-hf (batched + cached):       {fast_time:.2f} s, {n / fast_time:.1f} completions/s")
    print(f"ratio: {slow_time / fast_time:.1f}")


if __name__ == "__main__":
    main()

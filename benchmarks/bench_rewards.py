"""Reward throughput: MIGR's classifier rewards against one batched, uncached classifier call per reward call.

Scores GRPO-like reward calls of G completions each (G = 4 and 8, one prompt's group per call, as with R1-Omni's one
prompt per device) with the two classifier rewards, ``modality_aligned_order`` (eq. 1) and
``modality_grounded_reasoning`` (eq. 2), with one random sequence classifier (BERT-base-shaped by default, 28
GoEmotions outputs, a WordPiece tokenizer trained here; saved and loaded through ``from_pretrained``), three ways:

- baseline: what a user writing an open-r1-style reward does: each reward call sends every sentence it needs,
  duplicates included, to the classifier in one padded forward; nothing is cached;
- migr-hf without cache: the registry's rewards; each call sends its distinct sentences, length-sorted, in
  batches of 64;
- migr-hf: the same with the classifier's cache (on by default): the second reward reuses the first one's
  sentences, and later calls reuse earlier ones.

Completions are sampled, not templated: each sentence is drawn from a word-trigram model fitted on a pool of
EMER-style audio, visual and reasoning sentences (one model per segment type), and segment order, segment
lengths, answers and a few malformed completions vary at random. The three runs are interleaved call by call
and must give identical rewards; times are CPU seconds of this process with one torch thread (on a dedicated core
that is the wall time, and other jobs on a shared machine do not inflate it). It prints CPU ms per call of each,
the cache's gain separately, and ends with ``ratio: <baseline time / migr-hf time>`` over all calls.

    python benchmarks/bench_rewards.py [--calls 16] [--group-sizes 4,8] [--hidden 768 --layers 12]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast
from transformers.utils import logging as hf_logging

from migr_hf.classifiers import GOEMOTIONS_LABELS, SequenceEmotionClassifier
from migr_hf.labels import DFEW, LabelSet, get_label_set
from migr_hf.rewards import get_reward_funcs

AUDIO_POOL = (
    "In the audio, the speaker's voice trembles and the tone is low.",
    "The man shouts loudly, and his voice cracks with anger.",
    "She speaks softly, almost in a whisper.",
    "There is laughter in the background and the voice sounds bright and cheerful.",
    "His tone is flat and calm, with no clear emotional color.",
    "The woman says \"I can't believe you did that\" in a sharp, rising tone.",
    "The speech rate is fast and the pitch is high, which suggests excitement or surprise.",
    "A long sigh is followed by a quiet, broken sentence.",
    "The voice is hoarse and the words come slowly, as if she has been crying.",
    "He gasps and then asks what happened.",
    "Only background music can be heard, without any speech.",
    "The speaker sounds nervous, pausing often and repeating words.",
    "Her voice rises at the end of each sentence, sounding surprised.",
    "The audio contains sobbing and a trembling voice.",
    "He speaks through clenched teeth in a harsh and cold tone.",
    "The intonation is warm and relaxed.",
    "A sudden scream breaks the silence.",
    "The subtitle reads: Get out of my room now!",
    "The speaker laughs while talking about the trip.",
    "Her voice is steady but the volume is low, suggesting sadness.",
)
VISUAL_POOL = (
    "In the video, the person frowns and lowers the brows.",
    "The woman smiles broadly and her cheeks are raised.",
    "His eyes widen and his mouth drops open.",
    "She presses her lips together and glares at the other person.",
    "The man looks down, avoiding eye contact, with his shoulders slumped.",
    "Tears run down her face while she covers her mouth with one hand.",
    "The corners of his mouth are pulled down.",
    "He wrinkles his nose and turns his head away.",
    "The person's face shows no clear expression.",
    "She jumps back and raises both hands in front of her face.",
    "The camera shows a close-up of a tense face with clenched jaw.",
    "His fists are clenched and his face is red.",
    "She nods slowly and looks at the floor.",
    "The girl grins and claps her hands.",
    "The inner corners of her eyebrows are raised and the lip corners are depressed.",
    "In the dark room, the man stares blankly at the window.",
    "Her eyes are wide open and her eyebrows are lifted.",
    "He rolls his eyes and smirks.",
    "The old woman's face is relaxed and she looks calm.",
    "The boy bites his lip and glances around nervously.",
)
THINK_POOL = (
    "Based on the trembling voice and the lowered gaze, we can infer that the person is sad.",
    "The raised voice and the glare indicate that he is angry.",
    "The smile and the cheerful laughter suggest that she is happy.",
    "Her widened eyes and the sudden gasp point to surprise.",
    "Although the face is calm, the voice carries clear signs of fear.",
    "The wrinkled nose shows disgust at what he sees.",
    "Considering both the tone and the facial expression, the emotion is neutral.",
    "The voice matters more here, since the face shows little.",
    "The facial cues are stronger than the audio cues in this clip.",
    "Both the audio and the video indicate sadness.",
    "The subtitle and the harsh tone together suggest anger.",
    "Since she covers her mouth and steps back, she seems afraid.",
    "Therefore, the most likely emotion is happy.",
    "Overall, the person appears to be surprised.",
    "The sobbing makes sadness the most plausible emotion.",
    "There is no strong cue, so neutral fits best.",
)
START, END = "<s>", "</s>"


class TrigramSampler:
    """A word-trigram model of a sentence pool that backs off to the bigram context with probability ``backoff``,
    sampled at temperature 1: sentences of varied structure, most of them not in the pool."""

    def __init__(self, sentences: Sequence[str], backoff: float = 0.3) -> None:
        self.backoff = backoff
        self.trigrams: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.bigrams: dict[str, list[str]] = defaultdict(list)
        for sentence in sentences:
            words = [START, START, *sentence.split(), END]
            for a, b, c in zip(words, words[1:], words[2:]):
                self.trigrams[a, b].append(c)
                self.bigrams[b].append(c)

    def sentence(self, rng: random.Random, max_words: int = 40) -> str:
        context, words = (START, START), []
        while len(words) < max_words:
            choices = self.bigrams[context[1]] if words and rng.random() < self.backoff else self.trigrams[context]
            word = rng.choice(choices)
            if word == END:
                break
            words.append(word)
            context = (context[1], word)
        text = " ".join(words)
        return text if text.endswith((".", "!", "?", '"')) else text + "."


def make_calls(num_calls: int, group_size: int, seed: int) -> list[dict[str, list]]:
    """Reward-call columns: one prompt (label, Modality Importance) and ``group_size`` sampled completions each."""
    rng = random.Random(seed)
    pools = {"aud": AUDIO_POOL, "vis": VISUAL_POOL, "think": THINK_POOL}
    samplers = {name: TrigramSampler(pool) for name, pool in pools.items()}

    def segment(kind: str, low: int, high: int) -> str:
        return " ".join(samplers[kind].sentence(rng) for _ in range(rng.randint(low, high)))

    calls = []
    for _ in range(num_calls):
        label = rng.choice(DFEW.labels)
        importance = rng.choice(("audio", "visual", "both"))
        columns: dict[str, list] = {"completions": [], "label": [], "modality_importance": [], "label_set": []}
        for _ in range(group_size):
            parts = [f"<aud_desc>{segment('aud', 1, 4)}</aud_desc>", f"<vis_desc>{segment('vis', 1, 4)}</vis_desc>"]
            if rng.random() < 0.5:
                parts.reverse()
            if rng.random() < 0.1:
                parts.pop(rng.randrange(2))
            answer = label if rng.random() < 0.6 else rng.choice(DFEW.labels)
            text = "\n".join(parts) + f"\n<think>{segment('think', 1, 3)}</think>\n<answer>{answer}</answer>"
            if rng.random() < 0.05:  # a malformed sample: cut anywhere
                text = text[: rng.randrange(len(text))]
            columns["completions"].append(text)
            columns["label"].append(label)
            columns["modality_importance"].append(importance)
            columns["label_set"].append("dfew")
        calls.append(columns)
    return calls


class OneBatchedCall(SequenceEmotionClassifier):
    """Baseline: every sentence of a reward call, duplicates included, in one padded forward; no cache."""

    def predict(self, texts: Sequence[str], label_set: str | LabelSet) -> list[tuple[str, ...] | None]:
        self.stats.backend_calls += 1
        self.stats.backend_texts += len(texts)
        return self._predict(list(texts), get_label_set(label_set))


def build_classifier(path: Path, hidden: int, layers: int) -> Path:
    """Save a random BERT with 28 GoEmotions outputs and a WordPiece tokenizer trained on the sentence pools."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        [*AUDIO_POOL, *VISUAL_POOL, *THINK_POOL],
        trainers.WordPieceTrainer(vocab_size=2000, special_tokens=specials, show_progress=False),
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
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=4 * hidden,
        max_position_embeddings=512,
        num_labels=len(GOEMOTIONS_LABELS),
        id2label=dict(enumerate(GOEMOTIONS_LABELS)),
        label2id={name: i for i, name in enumerate(GOEMOTIONS_LABELS)},
        problem_type="multi_label_classification",
    )
    BertForSequenceClassification(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=16, help="reward calls per group size")
    parser.add_argument("--group-sizes", default="4,8", help="completions per reward call (G), comma-separated")
    parser.add_argument("--hidden", type=int, default=768, help="classifier width (768: BERT/RoBERTa-base)")
    parser.add_argument("--layers", type=int, default=12, help="classifier layers")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # One intra-op thread for every run, timed in CPU seconds of this process: on a dedicated core that is the wall
    # time, other jobs on a shared machine do not inflate it, and the batched paths get no help from extra threads.
    torch.set_num_threads(1)
    hf_logging.disable_progress_bar()
    names = ["modality_aligned_order", "modality_grounded_reasoning"]
    runs = ("baseline", "migr-hf without cache", "migr-hf")
    seconds = dict.fromkeys(runs, 0.0)
    num_calls = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = str(build_classifier(Path(tmp), args.hidden, args.layers))
        loaded = SequenceEmotionClassifier(path)
        parameters = sum(p.numel() for p in loaded.model.parameters())
        print(
            f"classifier: random BERT, {args.layers} layers x {args.hidden} wide, {parameters / 1e6:.1f} M parameters, "
            f"1 CPU thread; rewards: {', '.join(names)}"
        )
        with torch.inference_mode():  # first-call costs out of every timing
            loaded.model(**loaded.tokenizer(["warm up."], return_tensors="pt"))
        for group_size in (int(g) for g in args.group_sizes.split(",")):
            classifiers = {
                "baseline": OneBatchedCall(loaded.model, loaded.tokenizer, batch_size=1 << 30, cache_size=0),
                "migr-hf without cache": SequenceEmotionClassifier(loaded.model, loaded.tokenizer, cache_size=0),
                "migr-hf": SequenceEmotionClassifier(loaded.model, loaded.tokenizer),
            }
            reward_funcs = {run: get_reward_funcs(names, classifier=classifiers[run]) for run in runs}
            group_seconds = dict.fromkeys(runs, 0.0)
            calls = make_calls(args.calls, group_size, seed=args.seed + group_size)
            for index, columns in enumerate(calls):
                rewards = {}
                for run in runs[index % 3 :] + runs[: index % 3]:  # rotate the order: no run always goes first
                    start = time.process_time()
                    rewards[run] = [
                        func(prompts=[""] * group_size, completion_ids=None, **columns) for func in reward_funcs[run]
                    ]
                    group_seconds[run] += time.process_time() - start
                if any(rewards[run] != rewards["baseline"] for run in runs):
                    raise SystemExit(f"G={group_size}, call {index}: the runs' rewards differ")
            baseline, cached = classifiers["baseline"].stats, classifiers["migr-hf"].stats
            print(
                f"G={group_size}: {len(calls)} calls; classifier inputs per call: baseline "
                f"{baseline.backend_texts / len(calls):.1f} sentences, migr-hf {cached.backend_texts / len(calls):.1f} "
                f"distinct and uncached ({cached.cache_hits / len(calls):.1f} repeated or cached)"
            )
            print(
                f"G={group_size}: CPU ms per call: "
                + ", ".join(f"{run} {1000 * group_seconds[run] / len(calls):.1f}" for run in runs)
                + f"; ratio {group_seconds['baseline'] / group_seconds['migr-hf']:.2f}, cache gain "
                f"{group_seconds['migr-hf without cache'] / group_seconds['migr-hf']:.2f}"
            )
            for run in runs:
                seconds[run] += group_seconds[run]
            num_calls += len(calls)
    print("rewards identical across runs: yes")
    cache_gain = seconds["migr-hf without cache"] / seconds["migr-hf"]
    print(f"cache gain (migr-hf without cache / with cache): {cache_gain:.2f}")
    print(f"ratio: {seconds['baseline'] / seconds['migr-hf']:.2f}")


if __name__ == "__main__":
    main()

import json
import logging

import pytest
import torch
from helpers_emotion import ScriptedClassifier, build_tiny_classifier, cache_hub_model
from huggingface_hub import constants as hub_constants

from migr_hf.classifiers import (
    ERV_MODEL_ID,
    GOEMOTIONS_LABEL_MAPS,
    GOEMOTIONS_LABELS,
    UNMAPPED,
    LexiconEmotionClassifier,
    LLMJudgeClassifier,
    SequenceEmotionClassifier,
    describe_classifier_spec,
    get_classifier,
    load_emotion_sentences,
    resolve_classifier_spec,
    score_classifier,
)
from migr_hf.classifiers.offline import LEXICON_PATH
from migr_hf.classifiers.presets import GOEMOTIONS_PATH, load_goemotions_maps
from migr_hf.labels import LabelSet, get_label_set

# ---- interface and cache -------------------------------------------------------------------------------------


def test_predict_dedups_and_caches():
    clf = ScriptedClassifier({"a": ("sad",), "b": ("happy", "surprise")})
    assert clf.predict(["a", "b", "a"], "dfew") == [("sad",), ("happy", "surprise"), ("sad",)]
    assert clf.calls == [["a", "b"]]
    assert clf.classify(["b", "a"], "dfew") == [frozenset({"happy", "surprise"}), frozenset({"sad"})]
    assert clf.calls == [["a", "b"]]  # all from the cache
    assert clf.stats.backend_calls == 1 and clf.stats.backend_texts == 2 and clf.stats.cache_hits == 3
    clf.predict(["a"], "mafw")  # the cache is per label set
    assert clf.calls[-1] == ["a"]


def test_failures_are_not_cached_and_judge_maps_them():
    clf = ScriptedClassifier({"ok": ("angry",), "none": ()}, default=None)
    assert clf.predict(["ok", "fail", "none"], "dfew") == [("angry",), None, ()]
    assert clf.classify(["fail"], "dfew") == [frozenset()]
    assert clf.calls[-1] == ["fail"]  # asked again
    assert clf.judge(["ok", "fail", "none"], "dfew") == ["angry", None, "neutral"]
    assert clf.stats.failures == 3  # "fail" went to the backend three times


def test_cache_size_zero_and_lru_eviction():
    uncached = ScriptedClassifier({"a": ("sad",)}, cache_size=0)
    uncached.predict(["a"], "dfew")
    uncached.predict(["a"], "dfew")
    assert len(uncached.calls) == 2
    lru = ScriptedClassifier(dict.fromkeys("abc", ("sad",)), cache_size=2)
    lru.predict(["a", "b"], "dfew")
    lru.predict(["a"], "dfew")  # a is now most recent
    lru.predict(["c"], "dfew")  # evicts b
    lru.predict(["a", "b"], "dfew")
    assert lru.calls[-1] == ["b"]


def test_bad_inputs_name_the_problem():
    clf = ScriptedClassifier({}, default=None)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        clf.predict(["a", None], "dfew")
    with pytest.raises(KeyError, match="unknown label set"):
        clf.predict(["a"], "ravdess")
    with pytest.raises(ValueError, match="cache_size"):
        ScriptedClassifier({}, cache_size=-1)


# ---- offline lexicon -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lexicon():
    return LexiconEmotionClassifier()


def test_lexicon_words_cues_and_label_sets(lexicon):
    assert lexicon.predict(["She looks furious."], "dfew") == [("angry",)]
    assert lexicon.predict(["She looks furious."], "mafw") == [("anger",)]
    assert lexicon.predict(["He is nervous and fidgets."], "emer") == [("worried",)]
    assert lexicon.predict(["He is nervous and fidgets."], "mafw") == [("anxiety",)]
    assert lexicon.predict(["She smirks with contempt."], "dfew") == [("disgust",)]
    assert lexicon.predict(["She smirks with contempt."], "emer") == [("neutral",)]  # EMER has no such class
    assert lexicon.predict(["A man sits at a desk."], "mafw") == [("neutral",)]
    assert lexicon.predict([""], "dfew") == [("neutral",)]


def test_lexicon_negation(lexicon):
    assert lexicon.predict(["He is angry."], "dfew") == [("angry",)]
    assert lexicon.predict(["He is not angry."], "dfew") == [("neutral",)]
    assert lexicon.predict(["He doesn't seem angry or sad at all."], "dfew") == [("neutral",)]
    # a clause boundary ends the negation
    assert lexicon.predict(["She is not calm, she is furious."], "dfew") == [("angry",)]


def test_lexicon_longest_match_and_ranking(lexicon):
    # "smile fades" (disappointment) wins over "smile" (happiness)
    assert lexicon.predict(["Her smile fades."], "mafw") == [("disappointment",)]
    assert lexicon.concept_scores("She is happy and laughs.") == {"happiness": 3.0}
    ranked = lexicon.predict(["She is terrified and screams, then she smiles."], "dfew")[0]
    assert ranked == ("fear", "happy")  # fear 2+1, happy 1
    assert LexiconEmotionClassifier(top_k=1).predict(["She is terrified, then she smiles."], "dfew") == [("fear",)]


def test_lexicon_unknown_label_set_uses_normalize():
    custom = LabelSet(name="custom", labels=("joy", "anger"), synonyms={"happiness": "joy"})
    clf = LexiconEmotionClassifier()
    assert clf.predict(["She is delighted."], custom) == [("joy",)]
    assert clf.predict(["She is sad."], custom) == [()]  # no label, and no neutral in this set
    assert clf.judge(["She is sad."], custom) == ["neutral"]


def test_lexicon_validation(tmp_path):
    data = json.loads(LEXICON_PATH.read_text())
    del data["negators"]
    with pytest.raises(ValueError, match="negators"):
        LexiconEmotionClassifier(data)
    data = json.loads(LEXICON_PATH.read_text())
    data["concepts"]["anger"]["cues"].append("_ fist")
    with pytest.raises(ValueError, match="must start with a word"):
        LexiconEmotionClassifier(data)
    path = tmp_path / "lex.json"
    data = json.loads(LEXICON_PATH.read_text())
    data["concepts"] = {"happiness": {"words": ["yay*"]}}
    path.write_text(json.dumps(data))
    assert LexiconEmotionClassifier(path).predict(["Yaaay, yayyy!"], "mafw") == [("happiness",)]


def test_labelled_sentence_set_shape():
    rows = json.loads((LEXICON_PATH.parent / "emotion_sentences.json").read_text())["sentences"]
    assert len(rows) == 407
    assert sum(r["split"] == "test" for r in rows) == 132
    assert len(load_emotion_sentences("dfew", "test")) == 84
    assert len(load_emotion_sentences("emer", "test")) == 72
    assert {gold for _, gold in load_emotion_sentences("emer", "all")} == {
        "angry", "happy", "neutral", "sad", "surprise", "worried"
    }  # fmt: skip
    with pytest.raises(ValueError, match="split"):
        load_emotion_sentences("dfew", "train")


@pytest.mark.parametrize("label_set, floor", [("dfew", 0.72), ("mafw", 0.70), ("emer", 0.80)])
def test_lexicon_held_out_accuracy_does_not_regress(lexicon, label_set, floor):
    """Regression floor at the measured held-out top-1 accuracy (offline.py's table)."""
    score = score_classifier(lexicon, label_set, "test")
    assert score.top1 >= floor
    assert score.in_set >= score.top1
    assert 1.0 <= score.mean_set_size <= 2.0


# ---- transformers sequence classifier ------------------------------------------------------------------------

# GoEmotions logits: joy 2.0 (p=.88), anger 0.0 (p=.5), sadness -1.5 (p=.18), everything else -6 (p=.0025).
_BIAS = [-6.0] * 28
_BIAS[GOEMOTIONS_LABELS.index("joy")] = 2.0
_BIAS[GOEMOTIONS_LABELS.index("anger")] = 0.0
_BIAS[GOEMOTIONS_LABELS.index("sadness")] = -1.5


@pytest.fixture(scope="module")
def goemotions_path(tmp_path_factory):
    return build_tiny_classifier(tmp_path_factory.mktemp("goemo"), GOEMOTIONS_LABELS, bias=_BIAS)


def test_multi_label_threshold_top_k_and_maps(goemotions_path):
    clf = SequenceEmotionClassifier(str(goemotions_path))
    assert clf.multi_label and clf.id2label == GOEMOTIONS_LABELS
    assert clf.predict(["She smiles."], "dfew") == [("happy", "angry")]  # top-2 over 0.1
    assert clf.predict(["She smiles."], "mafw") == [("happiness", "anger")]
    assert clf.predict(["She smiles."], "emer") == [("happy", "angry")]
    assert SequenceEmotionClassifier(str(goemotions_path), top_k=3).predict(["x"], "dfew") == [
        ("happy", "angry", "sad")
    ]
    assert SequenceEmotionClassifier(str(goemotions_path), threshold=0.6).predict(["x"], "dfew") == [("happy",)]
    # nothing passes: the argmax is kept
    assert SequenceEmotionClassifier(str(goemotions_path), threshold=0.95).predict(["x"], "dfew") == [("happy",)]
    assert SequenceEmotionClassifier(str(goemotions_path), multi_label=False).predict(["x"], "dfew") == [("happy",)]


def test_unmapped_model_labels_are_kept_as_unmapped(tmp_path):
    bias = [-6.0] * 28
    bias[GOEMOTIONS_LABELS.index("admiration")] = 3.0
    bias[GOEMOTIONS_LABELS.index("nervousness")] = 1.0
    clf = SequenceEmotionClassifier(str(build_tiny_classifier(tmp_path, GOEMOTIONS_LABELS, bias=bias)))
    assert clf.predict(["x"], "mafw") == [(UNMAPPED, "anxiety")]
    assert clf.predict(["x"], "emer") == [(UNMAPPED, "worried")]
    assert clf.predict(["x"], "dfew") == [(UNMAPPED,)]
    assert clf.classify(["x"], "dfew") == [frozenset({UNMAPPED})]
    # a judgement is a label word: the unmapped label is skipped, and none at all reads as neutral
    assert clf.judge(["x"], "mafw") == ["anxiety"]
    assert clf.judge(["x"], "dfew") == ["neutral"]


def test_generic_label_names_read_as_goemotions(tmp_path):
    path = build_tiny_classifier(tmp_path, GOEMOTIONS_LABELS, bias=_BIAS, generic_names=True)
    clf = SequenceEmotionClassifier(str(path))
    assert clf.id2label == GOEMOTIONS_LABELS
    assert clf.predict(["x"], "dfew") == [("happy", "angry")]


def test_single_label_model_with_benchmark_words(tmp_path):
    labels = ("Happiness", "sadness", "anger")  # map through the label set's synonyms
    path = build_tiny_classifier(tmp_path, labels, multi_label=False, bias=[0.0, 1.0, 0.5])
    clf = SequenceEmotionClassifier(str(path))
    assert not clf.multi_label
    assert clf.predict(["x"], "dfew") == [("sad",)]
    assert clf.predict(["x"], "mafw") == [("sadness",)]
    with pytest.raises(ValueError, match="2 names but the model has 3 outputs"):
        SequenceEmotionClassifier(str(path), id2label=["a", "b"])


def test_batching_matches_one_by_one_and_is_cached(tmp_path):
    path = build_tiny_classifier(tmp_path, GOEMOTIONS_LABELS, seed=3)  # random head: outputs depend on the text
    texts = ["She smiles.", "In the audio, his voice trembles and he sobs quietly while she looks away.", "Hm", "x y"]
    batched = SequenceEmotionClassifier(str(path), batch_size=3, threshold=0.5, top_k=5)
    single = SequenceEmotionClassifier(str(path), batch_size=1, threshold=0.5, top_k=5, cache_size=0)
    calls = []
    batched.model.register_forward_hook(lambda module, args, output: calls.append(1))
    assert batched.predict(texts, "mafw") == [single.predict([t], "mafw")[0] for t in texts]
    assert len(calls) == 2  # ceil(4 / 3) forward passes
    with torch.inference_mode():
        encoded = single.tokenizer(texts[1], return_tensors="pt")
        probs = single.model(**encoded).logits.sigmoid()[0]
    expected = [GOEMOTIONS_LABELS[i] for i in probs.argsort(descending=True)[:5].tolist() if probs[i] > 0.5]
    words = {"joy": "happiness", "nervousness": "anxiety", "grief": "helplessness", "disapproval": "contempt"}
    mapped = [words.get(name, name) for name in expected or [GOEMOTIONS_LABELS[int(probs.argmax())]]]
    mafw_words = set(batched.label_maps["mafw"].values())
    assert batched.predict([texts[1]], "mafw")[0] == tuple(
        dict.fromkeys(w if w in mafw_words else UNMAPPED for w in mapped)
    )
    batched.predict(texts, "mafw")
    assert len(calls) == 2  # served from the cache


def test_loaded_model_instance_and_validation(goemotions_path):
    reference = SequenceEmotionClassifier(str(goemotions_path))
    clf = SequenceEmotionClassifier(reference.model, reference.tokenizer)
    assert clf.predict(["x"], "dfew") == [("happy", "angry")]
    with pytest.raises(ValueError, match="threshold"):
        SequenceEmotionClassifier(reference.model, reference.tokenizer, threshold=1.5)
    with pytest.raises(ValueError, match="top_k"):
        SequenceEmotionClassifier(reference.model, reference.tokenizer, top_k=0)


# ---- factory -------------------------------------------------------------------------------------------------


def test_get_classifier_specs(goemotions_path, tmp_path, monkeypatch):
    monkeypatch.delenv("MIGR_LLM_MODEL", raising=False)
    assert isinstance(get_classifier(), LexiconEmotionClassifier)
    assert isinstance(get_classifier("Lexicon", top_k=1), LexiconEmotionClassifier)
    llm = get_classifier("llm:my-judge", cache_path=tmp_path / "c.sqlite", max_concurrency=3)
    assert isinstance(llm, LLMJudgeClassifier)
    assert (llm.client.config.model, llm.client.config.max_concurrency) == ("my-judge", 3)
    assert get_classifier("openai", cache_path=tmp_path / "c.sqlite").client.config.model == "gpt-4.1-mini"
    sequence = get_classifier(f"hf:{goemotions_path}", top_k=1)
    assert isinstance(sequence, SequenceEmotionClassifier) and sequence.top_k == 1
    assert isinstance(get_classifier(str(goemotions_path)), SequenceEmotionClassifier)
    assert get_classifier(sequence) is sequence
    with pytest.raises(ValueError, match="already built"):
        get_classifier(sequence, top_k=2)
    with pytest.raises(ValueError, match="non-empty string"):
        get_classifier("  ")


# ---- ERV's sentence classifier: the "erv" preset, "auto" --------------------------------------------------------

# ERV's GOEMOTION_TO_LABEL (utils_reward_ERV.py): MAFW word -> GoEmotions output index.
ERV_INDICES = {
    "happiness": 17, "anger": 2, "disgust": 11, "fear": 14, "sadness": 25, "surprise": 26, "neutral": 27,
    "anxiety": 19, "helplessness": 16, "disappointment": 9, "contempt": 10,
}  # fmt: skip
DFEW_SPELLING = {"happiness": "happy", "anger": "angry", "sadness": "sad"}  # ERV's match_emotion_key_DFEW


def goemotions_bias(**logits):
    """Head bias: the given GoEmotions logits, -6 (p = 0.0025) for every other label."""
    bias = [-6.0] * 28
    for name, value in logits.items():
        bias[GOEMOTIONS_LABELS.index(name)] = value
    return bias


@pytest.fixture(scope="module")
def erv_copy(tmp_path_factory):
    """A tiny RoBERTa with the shape of ERV's checkpoint: 28 GoEmotions names, multi-label. Logits: admiration 3.0
    (p = .953), neutral 1.0 (.731), nervousness 0.5 (.622), grief -2.19 (.1006), fear -2.2 (.0998)."""
    bias = goemotions_bias(admiration=3.0, neutral=1.0, nervousness=0.5, grief=-2.19, fear=-2.2)
    return build_tiny_classifier(tmp_path_factory.mktemp("erv"), GOEMOTIONS_LABELS, bias=bias, architecture="roberta")


def test_label_maps_are_ervs_table(tmp_path):
    """The data file holds ERV's eleven GoEmotions indices (DFEW under its own spelling), every other label null."""
    assert GOEMOTIONS_LABELS[17] == "joy" and len(GOEMOTIONS_LABELS) == 28
    for name, spelling in (("mafw", {}), ("dfew", DFEW_SPELLING)):
        expected = {GOEMOTIONS_LABELS[i]: spelling.get(word, word) for word, i in ERV_INDICES.items()}
        expected = {label: word for label, word in expected.items() if word in get_label_set(name)}
        assert {label: word for label, word in GOEMOTIONS_LABEL_MAPS[name].items() if word} == expected
        assert set(GOEMOTIONS_LABEL_MAPS[name]) == set(GOEMOTIONS_LABELS)  # unmapped labels are listed as null
    worried = {label for label, word in GOEMOTIONS_LABEL_MAPS["emer"].items() if word == "worried"}
    assert worried == {"fear", "nervousness"}
    data = json.loads(GOEMOTIONS_PATH.read_text())
    assert "utils_reward_ERV.py" in data["_meta"]["dfew_mafw"] and "migr-hf's own" in data["_meta"]["emer"]
    data["label_maps"]["dfew"]["joy"] = "happiness"
    (tmp_path / "maps.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"maps.json: label_maps\['dfew'\] .* outside dfew: \['happiness'\]"):
        load_goemotions_maps(tmp_path / "maps.json")


def test_erv_preset_threshold_top2_and_mapping(erv_copy):
    clf = get_classifier("erv", model=str(erv_copy))
    assert isinstance(clf, SequenceEmotionClassifier) and clf.preset == "erv" and clf.max_length is None
    assert (clf.threshold, clf.top_k, clf.multi_label) == (0.1, 2, True)
    # three labels pass 0.1; the top 2 are admiration (no DFEW/MAFW word) and neutral
    assert clf.predict(["x"], "dfew") == [(UNMAPPED, "neutral")]
    assert clf.predict(["x"], "mafw") == [(UNMAPPED, "neutral")]
    assert clf.judge(["x"], "mafw") == ["neutral"]
    # top 5: nervousness (anxiety) and grief (.1006 > 0.1, helplessness) join; fear (.0998) does not pass
    wide = get_classifier(f"erv:{erv_copy}", top_k=5)
    assert wide.predict(["x"], "mafw") == [(UNMAPPED, "neutral", "anxiety", "helplessness")]
    assert wide.predict(["x"], "dfew") == [(UNMAPPED, "neutral")]
    assert wide.name == str(erv_copy)
    assert repr(clf).startswith(f"SequenceEmotionClassifier(preset='erv', '{erv_copy}', multi_label, threshold=0.1")
    with pytest.raises(ValueError, match="names a model and model="):
        get_classifier(f"erv:{erv_copy}", model="other")
    with pytest.raises(KeyError, match="unknown sequence-classifier preset"):
        SequenceEmotionClassifier.from_preset("goemotions")


def test_erv_preset_reads_outputs_by_index_and_falls_back_to_the_argmax(tmp_path):
    # Output 17 is joy in GoEmotions order, whatever the config calls it (ERV reads indices).
    shuffled = tuple(reversed(GOEMOTIONS_LABELS))
    bias = [-6.0] * 28
    bias[17] = -2.5  # p = .0759: nothing passes 0.1, so the argmax is kept
    path = build_tiny_classifier(tmp_path, shuffled, bias=bias, architecture="roberta")
    assert get_classifier("erv", model=str(path)).predict(["x"], "dfew") == [("happy",)]
    assert SequenceEmotionClassifier(str(path)).id2label[17] == "disapproval"  # the config's names otherwise


def test_auto_picks_erv_only_when_its_model_is_available(tmp_path, monkeypatch, caplog, erv_copy):
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with caplog.at_level(logging.WARNING, logger="migr_hf.classifiers"):
        assert resolve_classifier_spec("auto") == "offline"
    assert "'auto' -> 'offline'" in caplog.text and "HF_HUB_OFFLINE" in caplog.text
    assert isinstance(get_classifier("auto"), LexiconEmotionClassifier)
    assert resolve_classifier_spec("erv") == "erv" and resolve_classifier_spec("offline") == "offline"

    # ERV's model in the Hub cache (offline): "auto" is the preset, loaded from the cache
    cache_hub_model(tmp_path / "hub", ERV_MODEL_ID, erv_copy)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="migr_hf.classifiers"):
        clf = get_classifier("auto")
    assert "'auto' -> 'erv'" in caplog.text
    assert clf.preset == "erv" and clf.name == ERV_MODEL_ID
    assert clf.predict(["x"], "dfew") == [(UNMAPPED, "neutral")]


def test_specs_in_words():
    assert describe_classifier_spec("offline") == "migr-hf's offline emotion lexicon (`offline`)"
    assert describe_classifier_spec("erv").startswith(f"ERV's sentence classifier `{ERV_MODEL_ID}` (preset `erv`")
    assert describe_classifier_spec("erv:/m").startswith("ERV's sentence classifier `/m`")
    assert describe_classifier_spec("llm:judge") == "LLM judge `judge`"
    assert describe_classifier_spec("hf:org/x") == describe_classifier_spec("org/x") == "sequence classifier `org/x`"


def test_evaluation_report_names_the_erv_judge(erv_copy, tmp_path):
    from migr_hf.evaluation import evaluate_predictions

    completion = "<think>She admires him.</think><answer>{}</answer>"
    records = [
        {"id": str(i), "label": label, "completion": completion.format(label)}
        for i, label in enumerate(["neutral", "sad"])
    ]
    (tmp_path / "preds.jsonl").write_text("\n".join(json.dumps(record) for record in records))
    judge = get_classifier("erv", model=str(erv_copy))
    report = evaluate_predictions(tmp_path / "preds.jsonl", label_set="dfew", judge=judge, compare_reasoning=False)
    # every reasoning reads as (UNMAPPED, neutral): the judgement is neutral, right for the first sample only
    assert report["table1"]["EEA"] == 0.5
    assert report["judge"].startswith("SequenceEmotionClassifier(preset='erv'")
    assert f"Judge: {report['judge']}." in (tmp_path / "preds_eval" / "report.md").read_text()

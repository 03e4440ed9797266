import pickle

import pytest
from helpers_emotion import ScriptedClassifier
from hypothesis import given, settings
from hypothesis import strategies as st

from migr_hf.classifiers import UNMAPPED, LexiconEmotionClassifier
from migr_hf.rewards import (
    MIGR_REWARDS,
    REWARD_FUNCS_REGISTRY,
    answer_reward,
    format_reward,
    get_reward_funcs,
    modality_aligned_order_reward,
    modality_grounded_reasoning_reward,
)
from migr_hf.schema import ModalityImportance

# Sentence -> labels of the scripted e_classifier (anything else is {"neutral"}).
LABELS = {
    "Her voice trembles.": ("sad", "fear"),
    "She sobs.": ("sad",),
    "The room is quiet.": ("neutral",),
    "She smiles.": ("happy",),
    "Her eyes are wide.": ("surprise", "fear"),
    "She is sad.": ("sad",),
    "She may be happy.": ("happy", "neutral"),
    "She admires him.": (UNMAPPED,),  # a label the benchmark has no word for (e.g. GoEmotions admiration)
    "He admires her calmly.": (UNMAPPED, "neutral"),  # ... beside neutral (ERV: not "neutral alone")
}


def migr(aud: str, vis: str, think: str, answer: str, audio_first: bool = True) -> str:
    modality = [f"<aud_desc>{aud}</aud_desc>", f"<vis_desc>{vis}</vis_desc>"]
    if not audio_first:
        modality.reverse()
    return "".join(modality) + f"<think>{think}</think><answer>{answer}</answer>"


@pytest.fixture
def clf():
    return ScriptedClassifier(LABELS)


def call(func, completions, labels, importances, label_set="dfew", **extra):
    """Call a reward the way trl's GRPOTrainer does: every column as a list, plus trainer extras."""
    size = len(completions)
    return func(
        prompts=["prompt"] * size,
        completions=completions,
        completion_ids=[[1, 2]] * size,
        label=labels,
        label_set=[label_set] * size,
        modality_importance=importances,
        id=[str(i) for i in range(size)],
        trainer_state=None,
        log_extra=lambda *a, **k: None,
        log_metric=lambda *a, **k: None,
        **extra,
    )


# ---- eq. 1: modality-aligned order ---------------------------------------------------------------------------


def test_eq1_hand_computed(clf):
    completions = [
        migr("Her voice trembles. The room is quiet.", "She smiles.", "She is sad.", "sad"),  # audio first, sad in E_a
        migr("The room is quiet.", "She sobs.", "She is sad.", "sad"),  # audio first, sad only in vis -> 0
        migr("Her voice trembles.", "She smiles.", "She is sad.", "sad", audio_first=False),  # vis first -> 0
        migr("Her voice trembles.", "She smiles.", "x", "happy", audio_first=False),  # visual MI, happy in E_v
        "Sure. " + migr("She sobs.", "x", "x", "sad"),  # does not *start* with <aud_desc> -> 0
        migr("", "x", "x", "sad"),  # empty <aud_desc> -> 0
    ]
    importances = ["audio", "audio", "audio", "visual", "audio", "audio"]
    labels = ["sad", "sad", "sad", "happy", "sad", "sad"]
    assert call(modality_aligned_order_reward, completions, labels, importances, classifier=clf) == [
        1.0, 0.0, 0.0, 1.0, 0.0, 0.0
    ]  # fmt: skip


def test_eq1_strict_start_and_tolerant_option(clf):
    body = migr("She sobs.", "x", "x", "sad")
    completions = ["  \n" + body, "</think>" + body, "Sure. " + body, "<answer></answer>" + body]
    labels, importances = ["sad"] * 4, ["audio"] * 4
    # Strict (eq. 1 as written): whitespace only before <aud_desc>; a stray tag, text or another segment -> 0.
    assert call(modality_aligned_order_reward, completions, labels, importances, classifier=clf) == [1.0, 0, 0, 0]
    # Tolerant: the first segment counts whatever text precedes it (still not when another segment comes first).
    tolerant = call(modality_aligned_order_reward, completions, labels, importances, classifier=clf, start="tolerant")
    assert tolerant == [1.0, 1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="start"):
        call(modality_aligned_order_reward, completions, labels, importances, classifier=clf, start="loose")


def test_eq1_both_accepts_either_first_segment(clf):
    audio_first = migr("She sobs.", "She smiles.", "x", "sad")
    visual_first = migr("She sobs.", "She smiles.", "x", "sad", audio_first=False)
    rewards = call(
        modality_aligned_order_reward,
        [audio_first, visual_first, visual_first, "<think>She sobs.</think>"],
        ["sad", "sad", "happy", "sad"],
        ["both", ModalityImportance.BOTH, "Both", "both"],
        classifier=clf,
    )
    # E_m comes from the first segment: sobs (sad) / smiles (happy) / smiles (happy); <think> first is no modality
    assert rewards == [1.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("value", ["undetermined", None, "", float("nan"), ModalityImportance.UNDETERMINED])
def test_undetermined_or_missing_mi_gives_none(clf, value):
    completion = migr("She sobs.", "x", "She is sad.", "sad")
    for func in (modality_aligned_order_reward, modality_grounded_reasoning_reward):
        assert call(func, [completion, completion], ["sad", "sad"], [value, "audio"], classifier=clf)[0] is None
    assert clf.calls == [["She sobs."], ["She is sad."]]  # nothing sent for the first completion


# ---- eq. 2: modality-grounded reasoning ----------------------------------------------------------------------


def test_eq2_hand_computed(clf):
    completions = [
        # S_a = {trembles (sad,fear), quiet (neutral)} + think {She is sad. (sad)} -> 2/3
        migr("Her voice trembles. The room is quiet.", "She smiles.", "She is sad.", "sad"),
        # visual MI: S_v = {smiles (happy), wide (surprise,fear)} + {She may be happy. (happy,neutral)} -> 2/3
        migr("She sobs.", "She smiles. Her eyes are wide.", "She may be happy.", "happy"),
        # both: S = aud {sobs} + vis {smiles} + think {sad} -> sad in 2 of 3
        migr("She sobs.", "She smiles.", "She is sad.", "sad"),
        # order does not matter for eq. 2; segments found anywhere
        "<think>She is sad.</think><aud_desc>The room is quiet.</aud_desc>",
        # no sentence at all -> 0
        "<answer>sad</answer>",
    ]
    rewards = call(
        modality_grounded_reasoning_reward,
        completions,
        ["sad", "happy", "sad", "sad", "sad"],
        ["audio", "visual", "both", "audio", "audio"],
        classifier=clf,
    )
    assert rewards == pytest.approx([2 / 3, 2 / 3, 2 / 3, 1 / 2, 0.0])


def test_eq2_non_neutral_denominator(clf):
    completion = migr("Her voice trembles. The room is quiet.", "x", "She is sad. She smiles.", "sad")
    # S_a + think = trembles (sad,fear), quiet (neutral), sad (sad), smiles (happy)
    assert call(modality_grounded_reasoning_reward, [completion], ["sad"], ["audio"], classifier=clf) == [0.5]
    assert call(
        modality_grounded_reasoning_reward, [completion], ["sad"], ["audio"], classifier=clf, denominator="non_neutral"
    ) == [pytest.approx(2 / 3)]
    # a neutral target keeps every sentence in the denominator
    assert call(
        modality_grounded_reasoning_reward,
        [completion],
        ["neutral"],
        ["audio"],
        classifier=clf,
        denominator="non_neutral",
    ) == [0.25]
    with pytest.raises(ValueError, match="denominator"):
        call(modality_grounded_reasoning_reward, [completion], ["sad"], ["audio"], classifier=clf, denominator="x")


def test_eq2_erv_denominator_counts_unmapped_sentences(clf):
    # trembles {sad, fear}, quiet {neutral}, admires {UNMAPPED}, admires calmly {UNMAPPED, neutral}, sad {sad}:
    # 2 of 5 match; 2 have a non-neutral label word; ERV's test "neutral alone" leaves out only the quiet one.
    think = "She admires him. He admires her calmly. She is sad."
    completion = migr("Her voice trembles. The room is quiet.", "x", think, "sad")
    rewards = {
        denominator: call(
            modality_grounded_reasoning_reward, [completion], ["sad"], ["audio"], classifier=clf, denominator=denominator
        )[0]
        for denominator in ("all", "non_neutral", "non_neutral_erv")
    }
    assert rewards == {"all": 2 / 5, "non_neutral": 2 / 2, "non_neutral_erv": 2 / 4}
    # a neutral target: ERV divides by every sentence, and UNMAPPED beside neutral still contains neutral
    assert call(
        modality_grounded_reasoning_reward, [completion], ["neutral"], ["audio"], classifier=clf,
        denominator="non_neutral_erv",
    ) == [2 / 5]


def test_eq3_total_of_the_migr_rewards(clf):
    funcs = get_reward_funcs(MIGR_REWARDS, classifier=clf)
    completion = migr("Her voice trembles. The room is quiet.", "She smiles.", "She is sad.", "Sadness")
    per_func = [call(func, [completion], ["sad"], ["audio"])[0] for func in funcs]
    assert per_func == pytest.approx([1.0, 2 / 3, 1.0])
    assert sum(per_func) == pytest.approx(1.0 + 2 / 3 + 1.0)


# ---- batching and caching ------------------------------------------------------------------------------------


def test_one_classifier_call_per_label_set_per_batch(clf):
    completions = [migr("She sobs.", "She smiles.", f"think {i}.", "sad") for i in range(6)]
    label_sets = ["dfew", "dfew", "mafw", "dfew", "mafw", "emer"]
    labels = ["sad", "sad", "sadness", "sad", "sadness", "sad"]
    modality_grounded_reasoning_reward(
        completions, label=labels, modality_importance=["audio"] * 6, label_set=label_sets, classifier=clf
    )
    assert len(clf.calls) == 3  # dfew, mafw, emer
    assert sorted(len(texts) for texts in clf.calls) == [2, 3, 4]  # distinct sentences per label set


def test_rewards_share_the_classifier_cache():
    lexicon = LexiconEmotionClassifier()
    mao, mgr = get_reward_funcs(["modality_aligned_order", "modality_grounded_reasoning"], classifier=lexicon)
    completions = [migr("She sobs loudly.", "She smiles.", "She is heartbroken.", "sad")] * 4
    call(mao, completions, ["sad"] * 4, ["audio"] * 4)
    sent = lexicon.stats.backend_texts
    assert call(mgr, completions, ["sad"] * 4, ["audio"] * 4) == [1.0] * 4
    assert lexicon.stats.backend_texts - sent == 1  # only "She is heartbroken." was new


# ---- answer and format -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, label, label_set, expected",
    [
        ("sad", "sad", "dfew", 1.0),
        (" Sadness. ", "sad", "dfew", 1.0),  # DFEW synonym
        ("sad", "sadness", "mafw", 1.0),  # MAFW synonym
        ("anxious", "anxiety", "mafw", 1.0),
        ("worried", "fear", "dfew", 0.0),  # not a DFEW word
        ("happy", "sad", "dfew", 0.0),
        ("The emotion is sad", "sad", "dfew", 0.0),  # as the baselines score it
    ],
)
def test_answer_reward(answer, label, label_set, expected):
    assert answer_reward([f"<think>x</think><answer>{answer}</answer>"], label=[label], label_set=[label_set]) == [
        expected
    ]


def test_answer_reward_edge_cases():
    completions = [
        "<think>x</think><answer>angry",
        "no answer here",
        [{"role": "assistant", "content": "<answer>fear</answer>"}],
    ]
    assert answer_reward(completions, label=["angry", "angry", "fear"], label_set="dfew") == [1.0, 0.0, 1.0]


def test_format_reward():
    good = migr("a", "b", "c", "d")
    bare = "<vis_desc>b<vis_desc>\n<aud_desc>a<aud_desc>\n<think>c</think>\n<answer>d</answer>"
    bad = ["<think>c</think><answer>d</answer>", good + " trailing", good.replace("</think>", ""), good + good, ""]
    assert format_reward([good, bare, *bad]) == [1.0, 1.0] + [0.0] * len(bad)


# ---- registry ----------------------------------------------------------------------------------------------------


def test_registry_names_and_binding(clf):
    assert set(REWARD_FUNCS_REGISTRY) == {"answer", "format", "modality_aligned_order", "modality_grounded_reasoning"}
    funcs = get_reward_funcs(["format", "answer", "modality_grounded_reasoning"], classifier=clf, label_set="mafw")
    assert [f.__name__ for f in funcs] == ["format_reward", "answer_reward", "modality_grounded_reasoning_reward"]
    assert funcs[0] is format_reward
    completion = migr("She sobs.", "x", "x", "sad")
    # the default label set applies without a column ...
    assert funcs[1](completions=[completion], label=["sadness"]) == [1.0]
    # ... and a label_set column wins over it
    assert funcs[1](completions=[completion], label=["sad"], label_set=["dfew"]) == [1.0]
    assert pickle.loads(pickle.dumps(funcs[1]))(completions=[completion], label=["sadness"]) == [1.0]


def test_registry_options_and_errors(clf):
    (mgr,) = get_reward_funcs(
        ["modality_grounded_reasoning"],
        classifier=clf,
        reward_kwargs={"modality_grounded_reasoning": {"denominator": "non_neutral"}},
    )
    completion = migr("She sobs. The room is quiet.", "x", "x", "sad")
    assert call(mgr, [completion], ["sad"], ["audio"]) == [1.0]  # neutral sentences left out
    mao, mgr = get_reward_funcs(["modality_aligned_order", "modality_grounded_reasoning"], classifier="offline")
    assert mao.keywords["classifier"] is mgr.keywords["classifier"]  # one shared instance
    with pytest.raises(KeyError, match="unknown reward"):
        get_reward_funcs(["accuracy"])
    with pytest.raises(ValueError, match="need an emotion classifier"):
        get_reward_funcs(["modality_aligned_order"])
    assert get_reward_funcs(["answer", "format"]) == [answer_reward, format_reward]


def test_bad_dataset_columns_raise_clear_errors(clf):
    completion = migr("She sobs.", "x", "x", "sad")
    with pytest.raises(ValueError, match=r"modality_importance\[0\]='video'"):
        call(modality_aligned_order_reward, [completion], ["sad"], ["video"], classifier=clf)
    with pytest.raises(ValueError, match=r"label\[0\]='worried' is not a dfew label"):
        call(modality_aligned_order_reward, [completion], ["worried"], ["audio"], classifier=clf)
    with pytest.raises(ValueError, match="needs the 'modality_importance' dataset column"):
        modality_grounded_reasoning_reward([completion], label=["sad"], label_set="dfew", classifier=clf)
    with pytest.raises(ValueError, match="needs the 'label_set' dataset column"):
        answer_reward([completion], label=["sad"])
    with pytest.raises(ValueError, match="2 values for 1 completions"):
        answer_reward([completion], label=["sad", "sad"], label_set="dfew")


_PIECES = ["<aud_desc>", "</aud_desc>", "<vis_desc>", "<think>", "</think>", "<answer>", "sad", "She sobs.", " "]
_MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["assistant", "user"]), "content": st.text(max_size=50)})
_ODD = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(_PIECES), max_size=15).map("".join),
    st.none(),
    st.integers(),
    st.lists(_MESSAGE, max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_ODD, min_size=1, max_size=6), st.sampled_from(["audio", "visual", "both"]))
def test_rewards_never_raise_on_model_output(completions, importance):
    funcs = get_reward_funcs(
        ["modality_aligned_order", "modality_grounded_reasoning", "answer", "format"],
        classifier=ScriptedClassifier(LABELS),
    )
    size = len(completions)
    for func in funcs:
        rewards = call(func, completions, ["sad"] * size, [importance] * size)
        assert len(rewards) == size
        assert all(isinstance(r, float) and 0.0 <= r <= 1.0 for r in rewards)

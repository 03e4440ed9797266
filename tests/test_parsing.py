import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migr_hf.parsing import MAX_COMPLETION_CHARS, completion_text, parse_completion, split_sentences

AUD = "<aud_desc>Her voice trembles. She sobs.</aud_desc>"
VIS = "<vis_desc>Tears run down her face.</vis_desc>"
THINK = "<think>She is sad.</think>"
ANSWER = "<answer>sad</answer>"


@pytest.mark.parametrize("text", [AUD + VIS + THINK + ANSWER, f" {VIS}\n{AUD}\n{THINK}\n{ANSWER}\n"])
def test_well_formed_in_either_modality_order(text):
    parsed = parse_completion(text)
    assert parsed.well_formed, parsed.issues
    assert parsed.issues == ()
    assert set(parsed.order) == {"aud_desc", "vis_desc", "think", "answer"}
    assert parsed.order[2:] == ("think", "answer")
    assert parsed.starts_with == parsed.order[0] == parsed.first_segment
    assert parsed.answer == "sad"
    assert parsed.get("aud_desc").text == "Her voice trembles. She sobs."
    assert parsed.sentences("aud_desc", "think") == ["Her voice trembles.", "She sobs.", "She is sad."]


def test_bare_reopening_tag_closes_the_segment():
    text = "<aud_desc>A sob.<aud_desc>\n<vis_desc>Tears.<vis_desc><think>Sad.</think><answer>sad</answer>"
    parsed = parse_completion(text)
    assert parsed.well_formed, parsed.issues
    assert [s.text for s in parsed.segments] == ["A sob.", "Tears.", "Sad.", "sad"]
    assert all(s.closed for s in parsed.segments)


def test_tags_tolerate_case_and_spaces():
    parsed = parse_completion("< AUD_DESC >a</aud_desc ><VIS_DESC>b< /vis_desc><think>c</THINK><answer>d</answer>")
    assert parsed.well_formed, parsed.issues
    assert parsed.answer == "d"


def test_missing_segments_are_reported():
    parsed = parse_completion(THINK + ANSWER)
    assert not parsed.well_formed
    assert set(parsed.issues) == {"missing <aud_desc>", "missing <vis_desc>"}
    assert parsed.starts_with == "think"
    assert parsed.answer == "sad"


def test_unclosed_answer_runs_to_the_end():
    parsed = parse_completion(AUD + VIS + THINK + "<answer> Happy.\n")
    assert parsed.answer == "Happy."
    assert "unclosed <answer>" in parsed.issues
    assert not parsed.get("answer").closed


def test_unclosed_segment_stops_at_the_next_segment():
    parsed = parse_completion("<think>she looks sad <answer>sad</answer>")
    assert parsed.get("think").text == "she looks sad"
    assert parsed.answer == "sad"
    assert "unclosed <think>" in parsed.issues


def test_duplicates_keep_the_last_answer():
    parsed = parse_completion(AUD + VIS + THINK + THINK + "<answer>happy</answer><answer>sad</answer>")
    assert parsed.answer == "sad"
    assert {"duplicate <think>", "duplicate <answer>"} <= set(parsed.issues)
    assert parsed.order.count("think") == 2


def test_nesting_is_reported_and_text_split():
    parsed = parse_completion("<think>a <answer>b</answer> c</think>")
    assert "<answer> nested in <think>" in parsed.issues
    assert parsed.get("think").text == "a  c"
    assert parsed.get("answer").nested
    assert parsed.answer is None  # an answer inside a closed <think> is never the answer
    assert "text outside segments" not in parsed.issues


def test_fake_answer_inside_the_reasoning_loses():
    text = "<think>she smiles </answer><answer>happy, I mean</think><answer>sad</answer>"
    parsed = parse_completion(text)
    assert parsed.answer == "sad"
    assert "stray </answer>" in parsed.issues and "<answer> nested in <think>" in parsed.issues
    # Even when the fake one comes last, only a top-level answer counts.
    assert parse_completion("<answer>sad</answer><think>x <answer>happy</answer></think>").answer == "sad"


def test_answer_inside_an_unclosed_segment_counts():
    parsed = parse_completion("<think> a <answer> b")
    assert (parsed.get("think").text, parsed.answer) == ("a", "b")
    assert not parsed.get("answer").nested


def test_completion_is_cut_at_the_character_cap():
    text = "<answer>sad</answer>" + "x" * MAX_COMPLETION_CHARS + "<answer>happy</answer>"
    parsed = parse_completion(text)
    assert parsed.answer == "sad" and len(parsed.text) == MAX_COMPLETION_CHARS
    assert f"cut at {MAX_COMPLETION_CHARS} characters" in parsed.issues


def test_stray_closer_and_outside_text():
    parsed = parse_completion("Sure! </think>" + AUD + VIS + THINK + ANSWER + " bye")
    assert parsed.starts_with is None
    assert parsed.first_segment == "aud_desc"
    assert parsed.leading_text == "Sure! </think>"
    # Strict start (eq. 1): leading whitespace only; a stray tag alone also spoils it.
    assert parse_completion(" \n" + VIS + AUD + THINK + ANSWER).starts_with == "vis_desc"
    assert parse_completion("</think>" + VIS + AUD + THINK + ANSWER).starts_with is None
    assert {"stray </think>", "text outside segments"} <= set(parsed.issues)


def test_out_of_order_segments():
    parsed = parse_completion(THINK + AUD + VIS + ANSWER)
    assert "segments out of order: <think> <aud_desc> <vis_desc> <answer>" in parsed.issues


@pytest.mark.parametrize("completion", ["", None, 42, b"<think>x</think>", [{"role": "user", "content": "<think>"}]])
def test_empty_and_odd_inputs_do_not_raise(completion):
    parsed = parse_completion(completion)
    assert parsed.segments == ()
    assert parsed.answer is None and parsed.first_segment is None and not parsed.well_formed


def test_conversational_completions():
    messages = [{"role": "assistant", "content": [{"type": "text", "text": THINK}, {"type": "text", "text": ANSWER}]}]
    assert completion_text(messages) == THINK + ANSWER
    assert parse_completion([{"role": "assistant", "content": THINK + ANSWER}]).answer == "sad"


def test_non_english_text():
    parsed = parse_completion(
        "<vis_desc>她在哭。她很伤心！</vis_desc><think>Elle est triste.</think><answer>sad</answer>"
    )
    assert parsed.sentences("vis_desc") == ["她在哭。", "她很伤心！"]
    assert parsed.sentences("think") == ["Elle est triste."]


def test_long_text_is_linear():
    text = AUD + VIS + "<think>" + "She cries. " * 50_000 + "</think>" + "<answer>sad" + "<think>" * 2_000
    start = time.perf_counter()
    parsed = parse_completion(text)
    sentences = parsed.sentences("think")
    assert time.perf_counter() - start < 3.0
    assert parsed.answer == "sad"
    assert len(sentences) == 50_000


@pytest.mark.parametrize(
    "text, expected",
    [
        ("It lasts 3.5 s. Then she smiles!", ["It lasts 3.5 s.", "Then she smiles!"]),
        ("Mr. Lee frowns, e.g. here. Why?! Ok", ["Mr. Lee frowns, e.g. here.", "Why?!", "Ok"]),
        ('He says "Stop." She leaves...', ['He says "Stop."', "She leaves..."]),
        ("line one\nline two", ["line one", "line two"]),
        (" . ! ", []),
        ('He said "Stop. Now!" Then he left.', ['He said "Stop. Now!"', "Then he left."]),
        ("\u201cI am fine,\u201d she said. She cried \u201cWhy?\u201d Then.", ["\u201cI am fine,\u201d she said.", "She cried \u201cWhy?\u201d", "Then."]),
        ('An unbalanced " quote. Two.', ['An unbalanced " quote.', "Two."]),
        ("Dr. Li waited 2.5 s. e.g. this stays. Etc. ends", ["Dr. Li waited 2.5 s. e.g. this stays.", "Etc. ends"]),
        ("\u4ed6\u7b11\u4e86\u3002\u5979\u54ed\u4e86\uff01", ["\u4ed6\u7b11\u4e86\u3002", "\u5979\u54ed\u4e86\uff01"]),
        ("Wow!!!! Sad?! (Really.) Yes", ["Wow!!!!", "Sad?!", "(Really.)", "Yes"]),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


# Fuzzing: completions assembled from tag tokens (canonical, bare, sloppy) and arbitrary text.
_NAMES = ("aud_desc", "vis_desc", "think", "answer")
_TOKENS = [f"<{n}>" for n in _NAMES] + [f"</{n}>" for n in _NAMES] + ["< think >", "</ANSWER>", "<", ">", "</", "\n"]
_PIECES = st.one_of(st.sampled_from(_TOKENS), st.text(max_size=12))
_TAG = r"<\s*/?\s*(?:aud_desc|vis_desc|think|answer)\s*>"
_TEXT = rf"(?:(?!{_TAG}).)*"


def _segment(name: str) -> str:
    return rf"<\s*{name}\s*>({_TEXT})<\s*/?\s*{name}\s*>"


# Independent oracle of well-formedness: either modality order, then think, then answer, whitespace between.
_ORACLE = re.compile(
    rf"\s*(?:{_segment('aud_desc')}\s*{_segment('vis_desc')}|{_segment('vis_desc')}\s*{_segment('aud_desc')})"
    rf"\s*{_segment('think')}\s*{_segment('answer')}\s*",
    re.IGNORECASE | re.DOTALL,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=20).map("".join))
def test_fuzz_parser_never_raises_and_agrees_with_oracle(text):
    parsed = parse_completion(text)
    tag = re.compile(_TAG, re.IGNORECASE)
    assert all(not tag.search(segment.text) for segment in parsed.segments)
    assert [s.start for s in parsed.segments] == sorted(s.start for s in parsed.segments)
    assert all(0 <= s.start < s.end <= len(text) for s in parsed.segments)
    match = _ORACLE.fullmatch(text)
    assert parsed.well_formed == bool(match), (text, parsed.issues)
    if match:
        assert parsed.answer == match.group(6).strip()
    assert parse_completion([{"role": "assistant", "content": text}]) == parsed


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_sentences_keep_every_word_character_in_order(text):
    sentences = split_sentences(text)
    assert all(s == s.strip() and s in text for s in sentences)
    assert re.findall(r"\w", "".join(sentences)) == re.findall(r"\w", text)


@st.composite
def _near_migr(draw):
    """MIGR-shaped completions: either order, paired or bare closers, sometimes a tag dropped or duplicated."""
    content = st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=15)
    first, second = draw(st.permutations(["aud_desc", "vis_desc"]))
    parts = []
    for name in (first, second, "think", "answer"):
        closer = draw(st.sampled_from([f"</{name}>", f"<{name}>", f"< /{name} >", ""]))
        parts.append(f"<{name}>{draw(content)}{closer}")
    if draw(st.booleans()):
        index = draw(st.integers(0, len(parts) - 1))
        parts.insert(index, parts[draw(st.integers(0, len(parts) - 1))] if draw(st.booleans()) else draw(content))
    separators = st.sampled_from(["", " ", "\n", "\n\n"])
    return "".join(draw(separators) + part for part in parts) + draw(separators)


@settings(max_examples=400, deadline=None)
@given(_near_migr())
def test_fuzz_near_migr_outputs_agree_with_oracle(text):
    parsed = parse_completion(text)
    match = _ORACLE.fullmatch(text)
    assert parsed.well_formed == bool(match), (text, parsed.issues)
    if match:
        assert parsed.answer == match.group(6).strip()
        assert parsed.starts_with in ("aud_desc", "vis_desc")

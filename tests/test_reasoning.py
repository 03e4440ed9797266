"""Reasoning split (audio / visual / conclusion), MI-ordered target composition, and ties -> two samples."""

import pytest
from data_fixtures import emer_text

from migr_hf import schema
from migr_hf.data.reasoning import ReasoningParts, classify_sentence, split_reasoning, split_sentences
from migr_hf.data.records import SampleRecord
from migr_hf.data.reorder import Order, build_sft_rows, compose_target, orders_for
from migr_hf.schema import ModalityImportance as MI

EMER_V2_TEXT = (
    "In the video, the screen shows a middle-aged man in a dimly lit room. At the beginning of the video, his "
    "brows are furrowed and his lips are pressed together; at about 1.5 s he lowers his head. "
    "In the audio, the character speaks slowly in a low, trembling voice. His tone carries unease, e.g. long "
    "pauses between words. "
    'In the text, the subtitle reads: "I don\'t know. Maybe tomorrow? We will see." This sentence expresses '
    "hesitation and uncertainty about the future. "
    "Based on the furrowed brows, the trembling voice and the hesitant words, we can infer that the man's "
    "emotional state is worried."
)


def test_emer_structure_splits_into_video_audio_text_and_inference():
    parts = split_reasoning(EMER_V2_TEXT)
    assert parts.visual == (
        "In the video, the screen shows a middle-aged man in a dimly lit room. At the beginning of the video, his "
        "brows are furrowed and his lips are pressed together; at about 1.5 s he lowers his head."
    )
    assert parts.audio == (
        "In the audio, the character speaks slowly in a low, trembling voice. His tone carries unease, e.g. long "
        "pauses between words. "
        'In the text, the subtitle reads: "I don\'t know. Maybe tomorrow? We will see." This sentence expresses '
        "hesitation and uncertainty about the future."
    )
    assert parts.conclusion == (
        "Based on the furrowed brows, the trembling voice and the hesitant words, we can infer that the man's "
        "emotional state is worried."
    )


def test_fixture_emer_text_and_paragraphs_split():
    parts = split_reasoning(emer_text("she smiles widely.", "she laughs loudly.", "So good! Really.", "happy"))
    assert parts == ReasoningParts(
        audio='In the audio, she laughs loudly. In the text, the subtitle reads: "So good! Really."',
        visual="In the video, she smiles widely.",
        conclusion="Based on the facial expression, the voice and the words, we can infer that the emotional "
        "state of the character is happy.",
    )
    paragraphs = "In the audio, a sigh\n\nIn the video, a frown\n\nOverall, sadness"
    assert split_reasoning(paragraphs) == ReasoningParts(
        "In the audio, a sigh", "In the video, a frown", "Overall, sadness"
    )


def test_sentence_splitter_keeps_quotes_decimals_and_abbreviations():
    assert split_sentences('He said "Stop. Now!" Then he left. Dr. Li waited 2.5 s. e.g. this stays.') == [
        'He said "Stop. Now!"',
        "Then he left.",
        "Dr. Li waited 2.5 s. e.g. this stays.",
    ]
    assert split_sentences("“I am fine,” she said. She cried “Why?” Then silence.") == [
        "“I am fine,” she said.",
        "She cried “Why?”",
        "Then silence.",
    ]
    assert split_sentences('An unbalanced " quote. Still two sentences.') == [
        'An unbalanced " quote.',
        "Still two sentences.",
    ]
    assert split_sentences("他笑了。她哭了！") == ["他笑了。", "她哭了！"]
    assert split_sentences("  ") == []


def test_free_form_text_uses_keyword_votes_and_continuations():
    text = (
        "The woman smiles broadly and her eyes sparkle. Her cheeks are raised. "
        "Her voice is cheerful and loud. It rises at the end. "
        "Therefore, she is happy. She wants to celebrate."
    )
    assert split_reasoning(text) == ReasoningParts(
        audio="Her voice is cheerful and loud. It rises at the end.",
        visual="The woman smiles broadly and her eyes sparkle. Her cheeks are raised.",
        conclusion="Therefore, she is happy. She wants to celebrate.",
    )
    assert split_reasoning("She is happy. Her face glows.") == ReasoningParts("", "Her face glows.", "She is happy.")


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("In the video, he frowns.", ("visual", True)),
        ("Visually, the scene is dark.", ("visual", True)),
        ("From the audio, we hear sobbing.", ("audio", True)),
        ("In the text, the subtitle reads: hi.", ("audio", True)),
        ("The subtitle says hello.", ("audio", True)),
        ("Based on the visual cues, she is sad.", ("conclusion", True)),
        ("Taken together, anger.", ("conclusion", True)),
        ("From this we can infer fear.", ("conclusion", True)),
        ("His voice trembles.", ("audio", False)),
        ("His eyebrows rise.", ("visual", False)),
        ("He is here.", (None, False)),
    ],
)
def test_sentence_cues(sentence, expected):
    assert classify_sentence(sentence) == expected


def test_explicit_sections_are_not_overridden_by_keywords():
    text = "In the video, he shouts and his voice shows in his face. In the audio, his face is not seen."
    parts = split_reasoning(text)
    assert (
        parts.visual.startswith("In the video") and parts.audio.startswith("In the audio") and parts.conclusion == ""
    )


PARTS = ReasoningParts(audio="A.", visual="V.", conclusion="C.")


def test_compose_target_in_both_orders():
    assert compose_target(PARTS, "happy", Order.AUDIO_FIRST) == (
        "<aud_desc>A.</aud_desc><vis_desc>V.</vis_desc><think>C.</think><answer>happy</answer>"
    )
    assert compose_target(PARTS, "happy", "visual_first") == (
        "<vis_desc>V.</vis_desc><aud_desc>A.</aud_desc><think>C.</think><answer>happy</answer>"
    )
    assert compose_target(ReasoningParts("", "V.", "C."), "sad", Order.AUDIO_FIRST).startswith(
        "<aud_desc></aud_desc><vis_desc>"
    )


@pytest.mark.parametrize(
    ("mi", "policy", "expected"),
    [
        (MI.AUDIO, "both", ("audio_first",)),
        (MI.VISUAL, "drop", ("visual_first",)),
        (MI.BOTH, "drop", ("audio_first", "visual_first")),
        (MI.UNDETERMINED, "both", ("audio_first", "visual_first")),
        (MI.UNDETERMINED, "visual_first", ("visual_first",)),
        (MI.UNDETERMINED, "audio_first", ("audio_first",)),
        (MI.UNDETERMINED, "drop", ()),
        ("audio", "both", ("audio_first",)),
    ],
)
def test_orders_for(mi, policy, expected):
    assert tuple(order.value for order in orders_for(mi, policy)) == expected


def test_tie_yields_two_samples_and_a_dominant_modality_one():
    record = SampleRecord("emer-sample_1", "emer", "train", "v.mp4", "happy", "emer", "text")
    tie = build_sft_rows(record, PARTS, MI.BOTH)
    assert [row[schema.ID] for row in tie] == ["emer-sample_1", "emer-sample_1__visual_first"]
    assert [row[schema.ORDER] for row in tie] == ["audio_first", "visual_first"]
    assert [row[schema.COMPLETION][:10] for row in tie] == ["<aud_desc>", "<vis_desc>"]
    assert all(
        row[schema.MODALITY_IMPORTANCE] == "both" and row[schema.PROMPT] == schema.MIGR_INSTRUCTION for row in tie
    )
    assert tie[0][schema.REASONING] == "text" and tie[0][schema.VIDEO] == "v.mp4"
    (visual,) = build_sft_rows(record, PARTS, MI.VISUAL)
    assert visual[schema.ID] == "emer-sample_1" and visual[schema.COMPLETION].startswith(
        "<vis_desc>V.</vis_desc><aud_desc>"
    )
    assert build_sft_rows(record, PARTS, MI.UNDETERMINED, undetermined="drop") == []

"""The synthetic benchmark corpus: deterministic, in the official layouts, with a consistent ground truth."""

import os
import stat
import sys

import numpy as np
import pytest

from migr_hf.data.readers import read_dfew, read_emer_v1
from migr_hf.data.reasoning import split_reasoning
from migr_hf.synthetic import CorpusSpec, make_synthetic_corpus, sample_clip_specs
from migr_hf.synthetic.config import BenchmarkConfig
from migr_hf.synthetic.corpus import EMOTIONS, render_face_images, shown_emotion, synthesize_voices

SMALL = CorpusSpec(num_dfew=10, num_emer=3, duration_s=(2.0, 2.2), seed=3)


def test_clip_specs_are_deterministic_and_follow_the_dominance_rules():
    clips = sample_clip_specs(CorpusSpec(num_dfew=300, num_emer=0, seed=7))
    assert clips == sample_clip_specs(CorpusSpec(num_dfew=300, num_emer=0, seed=7))
    assert clips != sample_clip_specs(CorpusSpec(num_dfew=300, num_emer=0, seed=8))
    for clip in clips:
        if clip.label == "neutral":
            assert clip.dominant == "both" and clip.face == clip.voice == "neutral"
        elif clip.dominant == "both":
            assert clip.face == clip.voice == clip.label and clip.face_intensity == clip.voice_intensity == 1.0
        else:
            carrier, other = ("voice", "face") if clip.dominant == "audio" else ("face", "voice")
            assert getattr(clip, carrier) == clip.label and getattr(clip, f"{carrier}_intensity") == 1.0
            shown, intensity = getattr(clip, other), getattr(clip, f"{other}_intensity")
            assert shown != clip.label
            assert shown == "neutral" or intensity < 1.0  # a distractor is always faint
        assert 2.0 <= clip.duration_s <= 5.0
    dominants = {clip.dominant for clip in clips}
    assert dominants == {"audio", "visual", "both"}
    assert len({clip.label for clip in clips}) >= 5


def test_reasoning_describes_both_modalities_and_splits_into_parts():
    clip = next(c for c in sample_clip_specs(CorpusSpec(num_dfew=0, num_emer=50)) if c.dominant == "audio" and c.face != "neutral")
    parts = split_reasoning(clip.reasoning())
    assert parts.audio and parts.visual and parts.conclusion.endswith(f"feels {clip.label}.")
    assert "faint" in parts.visual or "slight" in parts.visual or "little" in parts.visual


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_synthetic_corpus(tmp_path_factory.mktemp("synthetic"), SMALL, show_progress=False)


def test_corpus_is_read_by_the_project_readers(corpus):
    truth = corpus.ground_truth()
    test_ids = set()
    for fold in range(1, 6):
        train = read_dfew(corpus.dfew_root, fold=fold, split="train")
        test = read_dfew(corpus.dfew_root, fold=fold, split="test")
        assert len(train) + len(test) == SMALL.num_dfew and not {r.id for r in train} & {r.id for r in test}
        test_ids |= {r.id for r in test}
        for record in train + test:
            assert record.label == truth[record.id]["label"] and os.path.exists(record.video)
            assert (corpus.openface_dir / "dfew" / f"{truth[record.id]['name']}.csv").exists()
    assert len(test_ids) == SMALL.num_dfew  # every clip is held out in exactly one fold
    emer = read_emer_v1(corpus.emer_v1, video_dir=corpus.emer_video_dir)
    assert len(emer) == SMALL.num_emer
    assert all(r.reasoning == sample.reasoning() for r, sample in zip(emer, sample_clip_specs(SMALL)[SMALL.num_dfew :]))


def test_rerun_keeps_clips_and_ground_truth(corpus):
    clip = next(corpus.dfew_root.glob("Clip/original/*.mp4"))
    before = (clip.stat().st_mtime_ns, corpus.ground_truth_path.read_text())
    again = make_synthetic_corpus(corpus.root, SMALL, show_progress=False)
    assert (clip.stat().st_mtime_ns, again.ground_truth_path.read_text()) == before


def test_tones_without_espeak(tmp_path, monkeypatch):
    monkeypatch.setattr("migr_hf.testing.sample_data.shutil.which", lambda name: None)
    monkeypatch.setattr("migr_hf.synthetic.corpus.shutil.which", lambda name: None)
    corpus = make_synthetic_corpus(tmp_path, CorpusSpec(num_dfew=2, num_emer=0, duration_s=(2.0, 2.0)), show_progress=False)
    assert corpus.speech == "tones"


def test_espeak_when_present(tmp_path, monkeypatch):
    """A stand-in `espeak-ng` on PATH (writes a short WAV and records its arguments) is used for the speech."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    script = bin_dir / "espeak-ng"
    script.write_text(
        f"#!{sys.executable}\n"
        "import io, sys, wave\n"
        f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "buffer = io.BytesIO()\n"
        "with wave.open(buffer, 'wb') as w:\n"
        "    w.setnchannels(1); w.setsampwidth(2); w.setframerate(22050); w.writeframes(b'\\x10\\x00' * 22050)\n"
        "sys.stdout.buffer.write(buffer.getvalue())\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    corpus = make_synthetic_corpus(tmp_path / "c", CorpusSpec(num_dfew=2, num_emer=0, duration_s=(2.0, 2.0)), show_progress=False)
    assert corpus.speech == "espeak-ng"
    assert len(calls.read_text().splitlines()) == 2 and "-p" in calls.read_text()


def test_config_round_trips():
    config = BenchmarkConfig.quickstart()
    assert BenchmarkConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        BenchmarkConfig.from_dict({"nope": 1})


def test_tower_pretraining_data_is_fresh_deterministic_and_labelled_with_what_it_clearly_shows():
    images, faces = render_face_images(np.random.default_rng(3), 40, 64, faint_share=0.5)
    again, _ = render_face_images(np.random.default_rng(3), 40, 64, faint_share=0.5)
    assert all(a.shape == (64, 64, 3) and (a == b).all() for a, b in zip(images, again))
    assert set(faces) <= set(EMOTIONS) and faces.count("neutral") > 40 / 5  # faint faces read as neutral
    waveforms, voices = synthesize_voices(np.random.default_rng(3), 6, 2.0)
    assert [w.shape for w in waveforms] == [(32000,)] * 6 and set(voices) <= set(EMOTIONS)
    row = {"face": "sad", "face_intensity": 0.35, "voice": "happy", "voice_intensity": 1.0}
    assert (shown_emotion(row, "face"), shown_emotion(row, "voice")) == ("neutral", "happy")


def test_domain_tokenizer_keeps_the_reasoning_short(tmp_path):
    from transformers import AutoProcessor

    from migr_hf.synthetic.recognition import build_base_checkpoint
    from migr_hf.testing.tiny import build_tiny_tokenizer

    config = BenchmarkConfig(corpus=CorpusSpec(num_dfew=20, num_emer=5))
    tokenizer = AutoProcessor.from_pretrained(build_base_checkpoint(tmp_path / "model", config)).tokenizer
    generic = build_tiny_tokenizer()
    clip = sample_clip_specs(config.corpus)[0]
    for text in (clip.reasoning(), "the face shows brow lowerer (AU04, intensity 2.50), lid tightener (AU07, intensity 2.50)"):
        assert len(tokenizer(text)["input_ids"]) <= 0.75 * len(generic(text)["input_ids"])

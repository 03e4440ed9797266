"""FAU emotion-consistent filtering: peak detection, the FAU-emotion table as data, exact-match semantics and the
template reasoning writer."""

import json

import numpy as np
import pytest
import yaml
from data_fixtures import ANGRY_AUS, DISGUST_AUS, HAPPY_AUS, SAD_AUS, WORRIED_AUS, write_openface_csv

from migr_hf.data.fau import FAUConfig, analyze_frames, fau_decision, find_peaks, load_fau_config
from migr_hf.data.openface import NoFaceError, read_openface_csv
from migr_hf.data.reasoning import split_reasoning
from migr_hf.data.reasoning_writer import TemplateReasoningWriter, get_writer
from migr_hf.data.records import SampleRecord


@pytest.fixture(scope="module")
def config():
    return FAUConfig.default()


def test_default_table_and_thresholds_follow_data_formats(config):
    assert {emotion: set(aus) for emotion, aus in config.emotions.items()} == {
        "happy": {"AU06", "AU12", "AU14"},
        "sad": {"AU01", "AU04", "AU15", "AU14"},
        "surprise": {"AU01", "AU02", "AU05", "AU26"},
        "fear": {"AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"},
        "angry": {"AU04", "AU05", "AU07", "AU23", "AU10", "AU17"},
        "contempt": {"AU12", "AU10", "AU14", "AU17"},
        "worried": {"AU28", "AU20"},
        "disgust": {"AU09", "AU15"},
    }
    th = config.thresholds
    assert (th.active_intensity, th.min_present_fraction, th.min_mean_intensity) == (0.8, 0.5, 0.8)
    assert (th.peak_height, th.peak_distance) == (0.8, 20)
    assert config.table_emotion("mafw", "anxiety") == "worried"
    assert config.table_emotion("mafw", "happiness") == "happy"
    assert config.table_emotion("dfew", "neutral") is None
    assert config.table_emotion("mafw", "helplessness") is None
    with pytest.raises(KeyError):
        config.table_emotion("dfew", "contempt")


def test_every_table_row_names_its_source(config):
    assert set(config.sources) == set(config.emotions)
    for emotion, source in config.sources.items():
        assert source.split(";")[0].split(" (")[0] in ("MER-Factory", "Emotion-LLaMA", "migr-hf"), emotion
    # Emotion-LLaMA documents no disgust combination; MER-Factory's table has {AU09, AU15} since commit 62264ef.
    assert config.sources["disgust"].startswith("MER-Factory (since commit 62264ef)")
    assert "Emotion-LLaMA documents none" in config.sources["disgust"]


def test_sources_are_kept_on_load_and_left_out_of_the_decision_fingerprint(tmp_path, config):
    rows = config.to_dict()["emotions"]
    assert rows["worried"] == {"aus": ["AU28", "AU20"], "source": "MER-Factory"}
    assert FAUConfig.from_dict(config.to_dict()) == config
    # A bare AU list (override files) has no source; the AUs are the same either way.
    table = {**rows, "worried": ["AU28", "AU20"], "fear": {"aus": rows["fear"]["aus"], "source": "migr-hf"}}
    (tmp_path / "table.yaml").write_text(yaml.safe_dump({"emotions": table}))
    loaded = FAUConfig.from_file(tmp_path / "table.yaml")
    assert loaded.emotions == config.emotions
    assert "worried" not in loaded.sources and loaded.sources["fear"] == "migr-hf"
    assert loaded.to_dict()["emotions"]["worried"] == ["AU28", "AU20"]
    assert loaded.to_dict(sources=False) == config.to_dict(sources=False)
    assert all(isinstance(aus, list) for aus in config.to_dict(sources=False)["emotions"].values())
    # an override of the thresholds keeps the shipped rows and their sources
    (tmp_path / "strict.yaml").write_text("thresholds:\n  min_mean_intensity: 4.0\n")
    assert FAUConfig.from_file(tmp_path / "strict.yaml").sources == config.sources
    for row, match in (
        ({"aus": ["AU12"], "sourse": "x"}, "a row is an AU list or"),
        ({"source": "x"}, "a row is an AU list or"),
        ({"aus": ["AU12"], "source": ""}, "source must be a non-empty string"),
        ("AU12", "AUs must be a list"),
    ):
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"emotions": {**rows, "happy": row}}))
        with pytest.raises(ValueError, match=f"emotion 'happy': {match}"):
            FAUConfig.from_file(tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    ("signal", "height", "distance", "expected"),
    [
        ([0, 1, 0, 2, 0], None, 1, [1, 3]),
        ([3, 1, 2, 1, 3], None, 1, [2]),  # the first and last samples are never peaks
        ([0, 2, 2, 2, 0], None, 1, [2]),  # a flat top counts once, at its middle
        ([0, 2, 2, 0], None, 1, [1]),  # ... rounded down
        ([0, 2, 2, 3, 0], None, 1, [3]),  # a shoulder is not a peak
        ([0, 1, 0, 0.5, 0], 0.8, 1, [1]),
        ([0, 1, 0, 3, 0, 2, 0], None, 3, [3]),  # thinned from the highest peak down
        ([0, 1, 0, 0, 0, 2, 0], None, 3, [1, 5]),
        ([1, 1, 1], None, 1, []),
    ],
)
def test_find_peaks_follows_scipy_semantics(signal, height, distance, expected):
    assert find_peaks(np.asarray(signal, dtype=float), height=height, distance=distance).tolist() == expected


@pytest.mark.parametrize(
    ("aus", "emotion"),
    [(HAPPY_AUS, "happy"), (SAD_AUS, "sad"), (ANGRY_AUS, "angry"), (DISGUST_AUS, "disgust"), (WORRIED_AUS, "worried")],
)
def test_single_emotion_profiles_match_exactly_at_the_peak(tmp_path, config, aus, emotion):
    evidence = analyze_frames(read_openface_csv(write_openface_csv(tmp_path / "x.csv", aus, peak=25)), config)
    assert set(evidence.matched) == {emotion}
    assert evidence.frame == 26 and evidence.timestamp == pytest.approx(25 / 25.0)
    assert set(evidence.matched_aus[emotion]) <= set(config.emotions[emotion])
    assert all(value > 0.8 for value in evidence.active_aus.values())
    assert list(evidence.active_aus.values()) == sorted(evidence.active_aus.values(), reverse=True)


def test_peak_frame_is_chosen_by_the_most_frequent_aus(tmp_path, config):
    bumps = [
        (15, {"AU06": 2.0, "AU12": 3.0}),
        (45, {"AU12": 2.5}),
        (75, {"AU09": 4.0, "AU15": 3.0}),  # the highest summed intensity, but AU12 is the most frequent AU
    ]
    path = write_openface_csv(tmp_path / "x.csv", bumps=bumps, num_frames=100)
    evidence = analyze_frames(read_openface_csv(path), config)
    assert evidence.num_peaks == 3 and evidence.frame == 16
    assert set(evidence.matched) == {"happy"}


def test_blinks_never_choose_the_peak_frame(tmp_path, config):
    bumps = [
        (20, {"AU45": 5.0}),  # a strong blink: the highest summed intensity when AU45 counted
        (60, {"AU06": 1.5, "AU12": 1.5}),
    ]
    path = write_openface_csv(tmp_path / "x.csv", bumps=bumps, num_frames=100)
    evidence = analyze_frames(read_openface_csv(path), config)
    assert evidence.frame == 61 and set(evidence.matched) == {"happy"}


def test_exact_match_semantics(tmp_path, config):
    happy = write_openface_csv(tmp_path / "happy.csv", HAPPY_AUS)
    assert fau_decision("dfew", "happy", happy, config).keep
    mismatch = fau_decision("dfew", "sad", happy, config)
    assert (mismatch.keep, mismatch.outcome, mismatch.target) == (False, "mismatch", "sad")
    assert fau_decision("mafw", "happiness", happy, config).keep
    # happy and contempt both match: not an exact match for either
    both = write_openface_csv(tmp_path / "both.csv", {"AU06": 2.5, "AU12": 3.0, "AU14": 1.5})
    decision = fau_decision("dfew", "happy", both, config)
    assert set(decision.evidence.matched) == {"happy", "contempt"} and not decision.keep
    # nothing matches: no evidence for the target
    weak = write_openface_csv(tmp_path / "weak.csv", {"AU06": 0.5, "AU12": 0.5})
    assert fau_decision("dfew", "happy", weak, config).outcome == "mismatch"
    worried = write_openface_csv(tmp_path / "worried.csv", WORRIED_AUS)
    assert fau_decision("mafw", "anxiety", worried, config).keep
    unmapped = fau_decision("dfew", "neutral", tmp_path / "not-read.csv", config)
    assert (unmapped.keep, unmapped.outcome, unmapped.evidence) == (False, "unmapped_label", None)


def test_no_face_and_missing_csv(tmp_path, config):
    with pytest.raises(NoFaceError):
        fau_decision("dfew", "happy", write_openface_csv(tmp_path / "x.csv", HAPPY_AUS, success=False), config)
    with pytest.raises(FileNotFoundError):
        fau_decision("dfew", "happy", tmp_path / "missing.csv", config)


def test_config_overrides_from_yaml_and_json(tmp_path, config):
    happy = write_openface_csv(tmp_path / "happy.csv", HAPPY_AUS)
    (tmp_path / "strict.yaml").write_text("thresholds:\n  min_mean_intensity: 4.0\n")
    strict = load_fau_config(tmp_path / "strict.yaml")
    assert strict.thresholds.min_mean_intensity == 4.0 and strict.thresholds.peak_distance == 20
    assert strict.emotions == config.emotions
    assert not fau_decision("dfew", "happy", happy, strict).keep

    (tmp_path / "map.json").write_text(json.dumps({"label_map": {"mafw": {"anxiety": None}}}))
    custom = FAUConfig.from_file(tmp_path / "map.json")
    assert custom.table_emotion("mafw", "anxiety") is None
    assert custom.table_emotion("mafw", "happiness") == "happy"
    table = {**config.to_dict()["emotions"], "happy": ["AU12"]}
    (tmp_path / "table.json").write_text(json.dumps({"emotions": table}))
    assert FAUConfig.from_file(tmp_path / "table.json").emotions["happy"] == ("AU12",)
    assert load_fau_config(custom) is custom and load_fau_config(None).to_dict() == config.to_dict()

    (tmp_path / "small.yaml").write_text("emotions:\n  happy: [AU12]\n")
    with pytest.raises(ValueError, match="missing from the table"):
        FAUConfig.from_file(tmp_path / "small.yaml")
    (tmp_path / "bad.yaml").write_text("thresholds:\n  peak_hieght: 1\n")
    with pytest.raises(ValueError, match="peak_hieght"):
        FAUConfig.from_file(tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text("label_map:\n  dfew:\n    happy: joy\n")
    with pytest.raises(ValueError, match="joy"):
        FAUConfig.from_file(tmp_path / "bad2.yaml")
    (tmp_path / "bad3.yaml").write_text("emotions:\n  happy: [AU99]\n")
    with pytest.raises(ValueError, match="AU99"):
        FAUConfig.from_file(tmp_path / "bad3.yaml")


def test_template_writer_is_grounded_and_splits_like_emer(tmp_path, config):
    decision = fau_decision("mafw", "happiness", write_openface_csv(tmp_path / "x.csv", HAPPY_AUS), config)
    record = SampleRecord("mafw-00025", "mafw", "train", "00025.mp4", "happiness", "mafw")
    text = TemplateReasoningWriter().write(
        record, decision.evidence, decision.target, context="A man laughs at a party"
    )
    assert "lip corner puller (AU12, intensity 3.05)" in text and "cheek raiser (AU06" in text
    assert "A man laughs at a party." in text
    assert "cheek raiser and lip corner puller form the facial pattern of a happy expression" in text
    parts = split_reasoning(text)
    assert parts.visual.startswith("In the video, at 1.20 s") and "A man laughs" in parts.visual
    assert parts.audio.startswith("In the audio,")
    assert parts.conclusion.endswith("the emotion conveyed is happiness.")
    assert get_writer("template").name == "template"
    with pytest.raises(ValueError):
        get_writer("gpt")

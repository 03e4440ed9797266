"""`migr-hf quickstart --reduced`: every stage of the pipeline runs and the report connects them."""

import json

from datasets import load_dataset

from migr_hf.cli import main


def test_quickstart_reduced_end_to_end(tmp_path, capsys):
    output = tmp_path / "quickstart"
    assert main(["quickstart", "--reduced", "--output-dir", str(output)]) == 0
    report = output / "report.md"
    assert f"quickstart report: {report.resolve()}" in capsys.readouterr().out
    text = report.read_text()
    for heading in ("## Data", "## Training", "**Table 1", "**Table 2", "**Table 3"):
        assert heading in text
    summary = json.loads((output / "quickstart.json").read_text())
    assert set(summary["timings"]) == {
        "sample corpus", "tiny model", "sft dataset", "grpo dataset", "SFT", "GRPO", "inference", "evaluation"
    }  # fmt: skip
    sft = summary["builds"]["sft"]
    # EMER (6 clips) plus the DFEW training clips whose face pattern matches their label (5 of 7: the
    # mismatched "sad" clip and the neutral one are filtered out); a tie in MI gives both orders
    assert sft["fau"] == {"match": 5, "mismatch": 1, "unmapped_label": 1}
    assert sft["kept"] == {"emer": 6, "dfew": 5}
    assert load_dataset(str(output / "data" / "sft"))["train"].num_rows == sft["rows"]
    predictions = [json.loads(line) for line in (output / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == [f"dfew-{n:05d}" for n in (101, 102, 103, 104, 105, 106)]
    evaluation = json.loads((output / "evaluation" / "report.json").read_text())
    assert evaluation["num_samples"] == len(evaluation["samples"]) == 6
    for image in ("training.png", "evaluation/confusion_matrix.png"):
        assert (output / image).read_bytes()[:4] == b"\x89PNG"
    assert (output / "grpo-model" / "model.safetensors").is_file()

"""Score a predictions file and build the paper's tables (Table 1, 2, 3) and a confusion-matrix plot.

A prediction record has ``id``, ``label`` (ground truth) and ``completion`` (the model's output). Each is parsed
(:mod:`migr_hf.parsing`), its answer normalised in the label set, and its reasoning sent to the judge, which
names the emotion it expresses (``e`` of eq. 6-8).

Judge input: ``"think"`` (ERV's judge, the default) reads the ``<think>`` text; ``"all"`` reads ERV's other
concatenation, ``<vis_desc>`` + ``<aud_desc>`` + ``<think>`` in that order. The paper does not say which one MIGR
used (and a MIGR ``<think>`` can be a single sentence), so :func:`evaluate_predictions` reports EEA/EPC/FCR for
both side by side; Table 1 uses the one chosen.

A judge that did not answer for some reasoning (request failed after all retries) leaves EEA, EPC, FCR and R×/A✓
*not computed* (``None``, "n/a" with the count) unless ``allow_partial`` is set, where the missing judgements
count as wrong and the report says it is partial. A judge reply outside the label set is an ``out_of_set``
judgement: a wrong explanation, counted in the report, never read as ``neutral``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..classifiers import EmotionClassifier, get_classifier
from ..labels import LabelSet, get_label_set
from ..parsing import AUDIO_SEGMENT, THINK_SEGMENT, VISUAL_SEGMENT, ParsedCompletion, parse_completion
from ..schema import COMPLETION, ID, LABEL, LABEL_SET
from .metrics import (
    ConfusionMatrix,
    confusion_matrix,
    eea,
    epc,
    fcr,
    per_class_recall,
    reasoning_answer_inconsistency,
    uar,
    war,
)

logger = logging.getLogger(__name__)

# ERV's judge reads the <think> text; "all" is ERV's concatenation visual + audio + think.
DEFAULT_REASONING_SEGMENTS = (THINK_SEGMENT,)
REASONING_CHOICES = {"think": DEFAULT_REASONING_SEGMENTS, "all": (VISUAL_SEGMENT, AUDIO_SEGMENT, THINK_SEGMENT)}
REASONING_TITLES = {"think": "<think> (ERV's judge input)", "all": "<vis_desc> + <aud_desc> + <think>"}


@dataclass(frozen=True)
class ScoredSample:
    """One scored prediction.

    Attributes:
        id: Sample id.
        reference: Ground-truth label word.
        prediction: Answer label word, ``None`` when missing or outside the label set.
        answer: Raw ``<answer>`` text (``None`` when there is no answer segment).
        explanation: Emotion the judge read from the reasoning; ``None`` without reasoning, on judge failure or
            when the judge answered outside the label set.
        has_reasoning: Whether the reasoning segments held any text.
        well_formed: Whether the completion has the full MIGR structure.
        judge_status: ``"ok"``, ``"failed"`` (no judgement), ``"out_of_set"`` or ``"no_reasoning"``.
    """

    id: str
    reference: str
    prediction: str | None
    answer: str | None
    explanation: str | None
    has_reasoning: bool
    well_formed: bool
    judge_status: str = "ok"


def reasoning_text(parsed: ParsedCompletion, segments: Sequence[str]) -> str:
    """The judge's input: the texts of ``segments`` in the order given (not of appearance), one per line."""
    return "\n".join(text for name in segments for text in parsed.texts(name) if text)


def read_predictions(
    path: str | Path, label_set: str | LabelSet | None = None
) -> tuple[list[dict[str, Any]], str, list[str]]:
    """Read a predictions JSONL (``id``, ``label``, ``completion`` per line), skipping bad lines.

    Args:
        path: JSONL file.
        label_set: Label set of the file; when ``None``, the records' common ``label_set`` field.

    Returns:
        ``(records, label set name, skipped)``, where ``skipped`` says which lines were left out and why
        (invalid JSON, a missing field, a ground-truth label outside the label set).
    """
    records, skipped = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                skipped.append(f"line {number}: invalid JSON ({error.msg})")
                continue
            missing = [key for key in (ID, LABEL, COMPLETION) if not isinstance(record, dict) or key not in record]
            if missing:
                skipped.append(f"line {number}: missing {missing}")
                continue
            records.append((number, record))
    if label_set is None:
        names = {record.get(LABEL_SET) for _, record in records}
        if len(names) != 1 or None in names:
            raise ValueError(f"{path}: records name label sets {sorted(map(str, names))}; pass the label set")
        label_set = names.pop()
    label_set = get_label_set(label_set)
    kept = []
    for number, record in records:
        if not isinstance(record[LABEL], str) or label_set.normalize(record[LABEL]) is None:
            skipped.append(f"line {number}: label {record[LABEL]!r} is not a {label_set.name} label")
        else:
            kept.append(record)
    for reason in skipped:
        logger.warning("%s: skipped %s", path, reason)
    return kept, label_set.name, skipped


def score_predictions(
    records: Iterable[Mapping[str, Any]],
    label_set: str | LabelSet,
    judge: EmotionClassifier,
    *,
    reasoning_segments: Sequence[str] = DEFAULT_REASONING_SEGMENTS,
) -> list[ScoredSample]:
    """Parse, normalise and judge prediction records (``id``, ``label``, ``completion``).

    The judge sees all reasonings in one call. Raises ``ValueError`` naming the record whose ground-truth
    label is not in the label set or that lacks a field.
    """
    label_set = get_label_set(label_set)
    rows = []
    for position, record in enumerate(records):
        missing = [key for key in (ID, LABEL, COMPLETION) if key not in record]
        if missing:
            raise ValueError(f"prediction record {position} lacks {missing}")
        reference = label_set.normalize(record[LABEL]) if isinstance(record[LABEL], str) else None
        if reference is None:
            raise ValueError(f"record {record[ID]!r}: label {record[LABEL]!r} is not a {label_set.name} label")
        parsed = parse_completion(record[COMPLETION])
        rows.append((str(record[ID]), reference, parsed, reasoning_text(parsed, reasoning_segments)))
    with_reasoning = [index for index, row in enumerate(rows) if row[3]]
    verdicts = judge.judgements([rows[index][3] for index in with_reasoning], label_set) if with_reasoning else []
    judgements = dict(zip(with_reasoning, verdicts))
    return [
        ScoredSample(
            id=sample_id,
            reference=reference,
            prediction=label_set.normalize(parsed.answer),
            answer=parsed.answer,
            explanation=judgements[index].label if index in judgements else None,
            has_reasoning=bool(reasoning),
            well_formed=parsed.well_formed,
            judge_status=judgements[index].status if index in judgements else "no_reasoning",
        )
        for index, (sample_id, reference, parsed, reasoning) in enumerate(rows)
    ]


def consistency(
    samples: Sequence[ScoredSample], label_set: str | LabelSet, *, allow_partial: bool = False, erv_eea: bool = False
) -> dict[str, Any]:
    """EEA, EPC, FCR and R×/A✓ of scored samples, with the judge's counts.

    Args:
        allow_partial: Compute the numbers even when the judge failed on some reasoning (those count as wrong);
            otherwise they are ``None`` (not computed) and ``complete`` is false.
        erv_eea: ERV's reading: a sample whose answer is no label scores 0 in EEA whatever its reasoning says.

    Returns:
        ``{"FCR", "EEA", "EPC", "table2", "complete", "partial", "judged", "judge_failures", "judge_out_of_set"}``.
    """
    label_set = get_label_set(label_set)
    refs = [s.reference for s in samples]
    preds = [s.prediction for s in samples]
    expls = [s.explanation for s in samples]
    failed = sum(s.judge_status == "failed" for s in samples)
    counts = {
        "judged": sum(s.judge_status in ("ok", "out_of_set") for s in samples),
        "judge_failures": failed,
        "judge_out_of_set": sum(s.judge_status == "out_of_set" for s in samples),
    }
    if failed and not allow_partial:
        return {"FCR": None, "EEA": None, "EPC": None, "table2": {"all": None, "among_correct": None},
                "complete": False, "partial": False, **counts}  # fmt: skip
    eea_expls = [None if erv_eea and p is None else e for e, p in zip(expls, preds)]
    return {
        "FCR": fcr(expls, preds, refs, label_set),
        "EEA": eea(eea_expls, refs, label_set),
        "EPC": epc(expls, preds, label_set),
        "table2": reasoning_answer_inconsistency(expls, preds, refs, label_set),
        "complete": not failed,
        "partial": bool(failed),
        **counts,
    }


def build_report(
    samples: Sequence[ScoredSample],
    label_set: str | LabelSet,
    *,
    allow_partial: bool = False,
    erv_eea: bool = False,
) -> dict[str, Any]:
    """The paper's tables as JSON-ready numbers (fractions in [0, 1]) plus counts and the confusion matrix.

    EEA/EPC/FCR and Table 2 are ``None`` when the judge failed on some reasoning, unless ``allow_partial``
    (see :func:`consistency`); ``judge_complete`` says which.
    """
    label_set = get_label_set(label_set)
    if not samples:
        raise ValueError("no scored samples to report on")
    refs = [s.reference for s in samples]
    preds = [s.prediction for s in samples]
    judged = consistency(samples, label_set, allow_partial=allow_partial, erv_eea=erv_eea)
    return {
        "label_set": label_set.name,
        "num_samples": len(samples),
        "table1": {
            "FCR": judged["FCR"],
            "EEA": judged["EEA"],
            "EPC": judged["EPC"],
            "UAR": uar(preds, refs, label_set),
            "WAR": war(preds, refs, label_set),
        },
        "table2": judged["table2"],
        "judge_complete": judged["complete"],
        "judge_partial": judged["partial"],
        "table3": {"per_class_recall": per_class_recall(preds, refs, label_set)},
        "confusion_matrix": confusion_matrix(preds, refs, label_set).to_dict(),
        "counts": {
            "no_answer": sum(s.answer is None for s in samples),
            "answer_not_a_label": sum(s.answer is not None and s.prediction is None for s in samples),
            "no_reasoning": sum(not s.has_reasoning for s in samples),
            "judge_failures": judged["judge_failures"],
            "judge_out_of_set": judged["judge_out_of_set"],
            "not_well_formed": sum(not s.well_formed for s in samples),
        },
        "samples": [asdict(s) for s in samples],
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _table(header: Sequence[str], row: Sequence[str] | Sequence[Sequence[str]], title: str) -> str:
    rule = "|:---|" + "|".join("---:" for _ in header[1:]) + "|"
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", rule]
    rows = row if row and not isinstance(row[0], str) else [row]
    lines.extend("| " + " | ".join(cells) + " |" for cells in rows)
    return "\n".join(lines)


def render_markdown(report: Mapping[str, Any], model_name: str = "model") -> str:
    """Markdown of Table 1 (consistency and recognition), Table 2 (R×/A✓) and Table 3 (per emotion), in %."""
    label_set = get_label_set(report["label_set"])
    t1, t2, recalls = report["table1"], report["table2"], report["table3"]["per_class_recall"]
    per_class = [label for label in label_set.labels if label in recalls]
    counts = ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in report["counts"].items())
    sections = [
        f"## Evaluation of {model_name} on {label_set.name.upper()} ({report['num_samples']} samples)",
        _table(
            ["Model", "FCR", "EEA", "EPC", "UAR", "WAR"],
            [model_name, *(_pct(t1[key]) for key in ("FCR", "EEA", "EPC", "UAR", "WAR"))],
            "Table 1: consistency (FCR, EEA, EPC) and recognition (UAR, WAR), %",
        ),
        _table(
            ["Model", "R×/A✓ all samples", "R×/A✓ among correct"],
            [model_name, _pct(t2["all"]), _pct(t2["among_correct"])],
            "Table 2: reasoning-answer inconsistency, %",
        ),
        _table(
            ["Method", *(label[:3].capitalize() for label in per_class), "UAR", "WAR"],
            [model_name, *(_pct(recalls[label]) for label in per_class), _pct(t1["UAR"]), _pct(t1["WAR"])],
            "Table 3: per-emotion recall, %",
        ),
        f"Counts: {counts}.",
    ]
    inputs = report.get("judge_inputs") or {report.get("reasoning", "think"): report.get("counts", {})}
    failures = sum(values.get("judge_failures", 0) for values in inputs.values())
    if any(values.get("EEA", t1["EEA"]) is None for values in inputs.values()):
        sections.insert(1, f"**Judge metrics not computed (n/a)**: the judge gave no answer for {failures} "
                        "reasonings. Rerun to ask again (answers so far are cached), or pass --allow-partial "
                        "to count them as wrong.")  # fmt: skip
    elif failures:
        sections.insert(1, f"**Partial**: the judge gave no answer for {failures} reasonings, counted as wrong "
                        "in EEA, EPC, FCR and Table 2.")  # fmt: skip
    if report.get("judge_inputs"):
        rows = [
            [REASONING_TITLES[choice] + (" (Table 1)" if choice == report.get("reasoning") else ""),
             *(_pct(values[key]) for key in ("FCR", "EEA", "EPC")),
             str(values["judged"]), str(values["judge_failures"]), str(values["judge_out_of_set"])]
            for choice, values in report["judge_inputs"].items()
        ]  # fmt: skip
        header = ["Judge input", "FCR", "EEA", "EPC", "judged", "failed", "out of set"]
        sections.insert(-2, _table(header, rows, "Judge input: what the judge reads, side by side, %"))
    if report.get("judge"):
        sections.append(f"Judge: {report['judge']}.")
    return "\n\n".join(sections) + "\n"


def plot_confusion_matrix(matrix: ConfusionMatrix | Mapping[str, Any], path: str | Path, title: str = "") -> Path:
    """Save a row-normalised confusion-matrix heatmap (cells annotated with counts) as an image file.

    Uses a standalone matplotlib ``Figure``: no pyplot state, no backend switch.
    """
    from matplotlib.figure import Figure  # here, not at the top: `migr-hf evaluate --help` reads this module

    if isinstance(matrix, ConfusionMatrix):
        matrix = matrix.to_dict()
    counts = np.asarray(matrix["counts"], dtype=float)
    labels, columns = matrix["labels"], matrix["columns"]
    if counts[:, -1].sum() == 0:  # no invalid prediction: drop the column
        counts, columns = counts[:, :-1], columns[:-1]
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    figure = Figure(figsize=(1.0 + 0.8 * len(columns), 1.0 + 0.7 * len(labels)))
    axes = figure.subplots()
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(columns)), labels=columns, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels=labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("ground truth")
    for row in range(len(labels)):
        for col in range(len(columns)):
            axes.text(col, row, int(counts[row, col]), ha="center", va="center",
                      color="white" if rates[row, col] > 0.5 else "black", fontsize=8)  # fmt: skip
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the row")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    return path


def evaluate_predictions(
    predictions: str | Path,
    *,
    label_set: str | None = None,
    judge: str | EmotionClassifier = "llm",
    reasoning: str = "think",
    output_dir: str | Path | None = None,
    model_name: str | None = None,
    compare_reasoning: bool = True,
    allow_partial: bool = False,
    erv_eea: bool = False,
) -> dict[str, Any]:
    """Score a predictions JSONL and write ``report.md``, ``report.json`` and ``confusion_matrix.png``.

    Args:
        predictions: JSONL with one ``{"id", "label", "completion"}`` per line.
        label_set: Benchmark vocabulary; default: the records' ``label_set`` field.
        judge: What reads the reasoning: a classifier, or a `get_classifier` spec (``"llm"``, ``"offline"``,
            ``"erv"``, a sequence-classifier checkpoint); the report names it (``judge``: its repr).
        reasoning: Judge input of Table 1: ``"think"`` (ERV's judge) or ``"all"`` (visual + audio + think).
        output_dir: Where the report goes; default ``<predictions stem>_eval`` beside the file.
        model_name: Row name in the tables; default the predictions file stem.
        compare_reasoning: Also judge the other input and report EEA/EPC/FCR of both side by side.
        allow_partial: Report EEA/EPC/FCR even when the judge failed on some reasoning (see :func:`consistency`).
        erv_eea: ERV compatibility: EEA counts a sample whose answer is no label as 0.

    Returns:
        The JSON report (numbers as fractions, counts, skipped lines, per-sample results); ``judge_complete`` is
        false when EEA/EPC/FCR could not be computed.
    """
    predictions = Path(predictions)
    output_dir = Path(output_dir) if output_dir is not None else predictions.with_name(f"{predictions.stem}_eval")
    model_name = model_name or predictions.stem
    records, label_set, skipped = read_predictions(predictions, label_set)
    if not records:
        raise ValueError(f"{predictions}: no usable prediction records ({len(skipped)} lines skipped)")
    judge = get_classifier(judge) if isinstance(judge, str) else judge
    logger.info("judging %d reasonings of %s with %r", len(records), predictions, judge)
    if reasoning not in REASONING_CHOICES:
        raise ValueError(f"reasoning must be one of {sorted(REASONING_CHOICES)}, got {reasoning!r}")
    options = {"allow_partial": allow_partial, "erv_eea": erv_eea}
    samples = score_predictions(records, label_set, judge, reasoning_segments=REASONING_CHOICES[reasoning])
    report = build_report(samples, label_set, **options)
    inputs = {reasoning: samples}
    if compare_reasoning:
        for choice, segments in REASONING_CHOICES.items():
            if choice != reasoning:
                inputs[choice] = score_predictions(records, label_set, judge, reasoning_segments=segments)
        report["judge_inputs"] = {
            choice: consistency(inputs[choice], label_set, **options) for choice in REASONING_CHOICES
        }
        report["judge_complete"] = all(values["complete"] for values in report["judge_inputs"].values())
    report.update(model=model_name, judge=repr(judge), reasoning=reasoning, skipped=skipped, **options)
    markdown = render_markdown(report, model_name=model_name)
    if skipped:
        markdown += f"\nSkipped {len(skipped)} input lines: see report.json.\n"
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "report.md").write_text(markdown, encoding="utf-8")
    (output_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    plot_confusion_matrix(
        report["confusion_matrix"], output_dir / "confusion_matrix.png", title=f"{model_name} on {label_set.upper()}"
    )
    return report

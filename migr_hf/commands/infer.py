"""`migr-hf infer`: predict the emotion of clips and print the modality-segmented reasoning."""

import argparse
import dataclasses
import json

from ..labels import LABEL_SETS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "infer",
        help="predict the emotion of clips with a MIGR-Omni model and print the audio / visual reasoning",
        description="Run a MIGR-Omni checkpoint on one or more clips and print, per clip, the emotion, the modality "
        "the reasoning starts from and the audio / visual / think segments (or JSON lines with --json).",
    )
    parser.add_argument("clips", nargs="+", metavar="CLIP", help="video file(s); audio is read from the same file")
    parser.add_argument("--model", required=True, help="MIGR-Omni checkpoint: local path or Hub id")
    parser.add_argument(
        "--mode",
        choices=("audio+video", "video", "audio"),
        default="audio+video",
        help="the inputs the model gets: both tracks, the frames only or the audio only",
    )
    parser.add_argument(
        "--label-set", choices=sorted(LABEL_SETS), help="normalise answers to this benchmark's label words"
    )
    parser.add_argument("--max-new-tokens", type=int, default=512, help="generation budget per clip, in tokens")
    parser.add_argument("--batch-size", type=int, default=4, help="clips per engine call")
    parser.add_argument(
        "--generation-backend",
        choices=("hf", "vllm"),
        default="hf",
        help="hf: transformers generate; vllm: vLLM on the exported language model fed with prompt embeddings "
        "(its Python in $MIGR_HF_VLLM_PYTHON)",
    )
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per clip")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..apps.inference import EmotionReasoner

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    reasoner = EmotionReasoner.from_pretrained(
        args.model,
        device=device,
        label_set=args.label_set,
        max_new_tokens=args.max_new_tokens,
        generation_backend=args.generation_backend,
    )
    predictions = reasoner(args.clips, mode=args.mode, batch_size=args.batch_size)
    for clip, prediction in zip(args.clips, predictions):
        if args.json:
            print(json.dumps({"clip": clip, **dataclasses.asdict(prediction)}, ensure_ascii=False))
            continue
        emotion = prediction.emotion or f"no label (answer: {prediction.answer!r})"
        print(f"{clip}: {emotion}  [mode: {prediction.mode}, starts with: {prediction.first_modality or '-'}]")
        modalities = [("audio", prediction.audio_reasoning), ("visual", prediction.visual_reasoning)]
        if prediction.first_modality == "visual":
            modalities.reverse()
        for name, text in (*modalities, ("think", prediction.think)):
            if text:
                print(f"  {name}: {text}")
        if not prediction.well_formed:
            print(f"  (not in MIGR format) raw: {prediction.raw_text!r}")
    return 0

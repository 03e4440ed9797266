"""`migr-hf infer`: predict the emotion of clips and print the modality-segmented reasoning."""

import argparse
import dataclasses
import json
import os
import re
import sys

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


def _path_problems(model: str, clips: list[str]) -> tuple[str | None, dict[str, str]]:
    """What is wrong with ``--model`` (a local path that does not exist) and with each clip, before loading."""
    from ..media import is_remote

    hub_id = re.fullmatch(r"[\w.-]+(/[\w.-]+)?", model) is not None and not model.startswith(".")
    model_problem = None
    if not hub_id and not os.path.isdir(os.path.expanduser(model)):
        model_problem = f"--model {model}: no such checkpoint directory (and not a Hub id 'namespace/name')"
    clip_problems = {}
    for clip in clips:
        if is_remote(clip):
            continue  # the media reader decides (remote sources are off unless enabled)
        if not os.path.exists(clip):
            clip_problems[clip] = f"{clip}: file not found"
        elif not os.path.isfile(clip):
            clip_problems[clip] = f"{clip}: not a file"
    return model_problem, clip_problems


def load_reasoner(args: argparse.Namespace):
    """The `EmotionReasoner` of the `--model`, `--device` (default: CUDA when present), `--label-set`,
    `--max-new-tokens` and `--generation-backend` flags (shared by `infer` and `evaluate --clips`)."""
    import torch

    from ..apps.inference import EmotionReasoner

    return EmotionReasoner.from_pretrained(
        args.model,
        device=args.device or ("cuda" if torch.cuda.is_available() else "cpu"),
        label_set=args.label_set,
        max_new_tokens=args.max_new_tokens,
        generation_backend=args.generation_backend,
    )


def run(args: argparse.Namespace) -> int:
    """Predict every clip; each gets its result or its error, and the exit status is 1 when any clip failed."""
    model_problem, clip_problems = _path_problems(args.model, args.clips)
    for problem in ([model_problem] if model_problem else []) + list(clip_problems.values()):
        print(f"error: {problem}", file=sys.stderr)
    if model_problem or len(clip_problems) == len(args.clips):
        return 2

    from ..apps.inference import ClipError

    reasoner = load_reasoner(args)
    usable = [clip for clip in args.clips if clip not in clip_problems]
    results = dict(zip(usable, reasoner(usable, mode=args.mode, batch_size=args.batch_size)))
    failed = 0
    for clip in args.clips:
        result = results.get(clip)
        if result is None or isinstance(result, ClipError):
            failed += 1
            error = clip_problems.get(clip) or result.error
            if args.json:
                print(json.dumps({"clip": clip, "mode": args.mode, "error": error}, ensure_ascii=False))
            else:
                print(f"{clip}: error: {error}")
            continue
        if args.json:
            print(json.dumps({"clip": clip, **dataclasses.asdict(result)}, ensure_ascii=False))
            continue
        emotion = result.emotion or f"no label (answer: {result.answer!r})"
        print(f"{clip}: {emotion}  [mode: {result.mode}, starts with: {result.first_modality or '-'}]")
        modalities = [("audio", result.audio_reasoning), ("visual", result.visual_reasoning)]
        if result.first_modality == "visual":
            modalities.reverse()
        for name, text in (*modalities, ("think", result.think)):
            if text:
                print(f"  {name}: {text}")
        if not result.well_formed:
            print(f"  (not in MIGR format) raw: {result.raw_text!r}")
    if failed:
        print(f"error: {failed} of {len(args.clips)} clips failed", file=sys.stderr)
        return 1
    return 0

"""`migr-hf attention`: modality-wise attention over generated tokens per MI class (paper appendix 8.1, Fig. 5)."""

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "attention",
        help="attention shares on visual / audio / generated-text tokens per generation step, per MI class",
        description="Generate for each clip and read, at every generation step, the share of the chosen layer's "
        "attention (heads averaged) on the visual tokens, the audio tokens and the generated text (the instruction "
        "prompt is excluded; the three shares sum to 1). Steps are normalised to --steps, curves averaged per "
        "Modality Importance class, and written to OUTPUT_DIR/attention.json and attention.png.",
    )
    parser.add_argument(
        "data",
        type=Path,
        help="a built migr-hf dataset folder, or a JSONL of rows with id and video (and modality_importance)",
    )
    parser.add_argument("--model", required=True, help="MIGR-Omni checkpoint: local path or Hub id")
    parser.add_argument("--mi-file", type=Path, help="MI JSONL (id -> modality_importance); default: the data's column")
    parser.add_argument("--split", default="train", help="split of a dataset folder")
    parser.add_argument("--media-root", help="folder that relative video paths are relative to")
    parser.add_argument(
        "--mode",
        choices=("audio+video", "video", "audio"),
        default="audio+video",
        help="the inputs the model gets: both tracks, the frames only or the audio only",
    )
    parser.add_argument(
        "--layer", type=int, help="1-based decoder layer (default: 21 for 28 layers, else floor(21 * L / 28 + 0.5))"
    )
    parser.add_argument("--steps", type=int, default=100, help="normalised generation steps")
    parser.add_argument("--max-samples", type=int, help="analyse at most this many samples")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="generation budget per clip, in tokens")
    parser.add_argument("--batch-size", type=int, default=1, help="clips per generate call")
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--output-dir", type=Path, default=Path("attention"), help="where the JSON and the plot go")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..analysis.attention import analyze_attention, load_attention_samples
    from ..apps.inference import EmotionReasoner

    samples = load_attention_samples(
        args.data, split=args.split, mi_file=args.mi_file, media_root=args.media_root, max_samples=args.max_samples
    )
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    reasoner = EmotionReasoner.from_pretrained(args.model, device=device)
    report = analyze_attention(
        reasoner,
        samples,
        args.output_dir,
        mode=args.mode,
        layer=args.layer,
        num_steps=args.steps,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        model_name=str(args.model),
    )
    counts = ", ".join(f"{mi}: {curves['num_samples']}" for mi, curves in report["classes"].items())
    print(f"layer {report['layer']} of {report['num_layers']}; samples per MI class: {counts}")
    print(f"wrote {args.output_dir / 'attention.json'} and {args.output_dir / 'attention.png'}")
    return 0

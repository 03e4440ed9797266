"""`migr-hf convert`: HumanOmni / R1-Omni checkpoint -> MIGR-Omni checkpoint."""

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert a HumanOmni / R1-Omni checkpoint directory into a MIGR-Omni checkpoint",
        description="Convert a HumanOmni-7B, HumanOmni-0.5B or R1-Omni-0.5B checkpoint (config.json + weights, "
        "with the SigLIP / Whisper / BERT directories it references) into a MIGR-Omni checkpoint.",
    )
    parser.add_argument("source", help="HumanOmni checkpoint directory")
    parser.add_argument("output", help="directory to write the MIGR-Omni checkpoint to")
    parser.add_argument("--vision-tower", help="SigLIP directory (default: mm_vision_tower, relative to SOURCE)")
    parser.add_argument("--audio-tower", help="Whisper directory (default: mm_audio_tower, relative to SOURCE)")
    parser.add_argument("--bert", help="BERT directory with config and vocab.txt (default: SOURCE/bert)")
    parser.add_argument("--tokenizer", help="Qwen tokenizer directory (default: SOURCE)")
    parser.add_argument("--slow-fast", choices=("auto", "on", "off"), default="auto", help="slow-fast compressor")
    parser.add_argument(
        "--no-reasoning-tags",
        dest="add_reasoning_tags",
        action="store_false",
        help="keep the original vocabulary (no <think>/<aud_desc>/... tokens) to reproduce a baseline exactly",
    )
    parser.add_argument("--video-token-id", type=int, help="placeholder id when no tokenizer is converted")
    parser.add_argument("--audio-token-id", type=int, help="placeholder id when no tokenizer is converted")
    parser.add_argument("--frame-mode", choices=("pad", "squash"), default="pad", help="processor frame transform")
    parser.add_argument(
        "--frame-selection",
        choices=("time", "index"),
        default="time",
        help="processor frame choice: by time, or by rank as decord picks them (the baselines' inputs on "
        "variable-frame-rate clips)",
    )
    parser.add_argument("--max-shard-size", default="5GB", help="largest safetensors shard written, e.g. 5GB or 500MB")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.migr_omni.convert_humanomni_to_migr_omni import convert_humanomni_checkpoint

    report = convert_humanomni_checkpoint(
        args.source,
        args.output,
        vision_tower=args.vision_tower,
        audio_tower=args.audio_tower,
        bert=args.bert,
        tokenizer=args.tokenizer,
        slow_fast=args.slow_fast,
        add_reasoning_tags=args.add_reasoning_tags,
        video_token_id=args.video_token_id,
        audio_token_id=args.audio_token_id,
        frame_mode=args.frame_mode,
        frame_selection=args.frame_selection,
        max_shard_size=args.max_shard_size,
    )
    print(f"wrote {report.output_dir}: {report.mapped} tensors; dropped {len(report.dropped)} unused keys")
    for key, reason in sorted(report.dropped.items()):
        print(f"  dropped {key}: {reason}")
    for part, source in report.tower_sources.items():
        print(f"  {part} weights from {source}")
    return 0

"""`migr-hf export-lm`: the language model of a MIGR-Omni checkpoint as a standalone Qwen2 checkpoint."""

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-lm",
        help="write the language model of a MIGR-Omni checkpoint as a standalone Qwen2 checkpoint (for vLLM)",
        description="Write the Qwen2 language model and LM head of a MIGR-Omni checkpoint, with its tokenizer, as a "
        "standalone causal-LM checkpoint. A serving engine fed the prompt embeddings of MIGR-Omni "
        "(MIGROmniModel.embed_prompt) continues prompts exactly as the full model does.",
    )
    parser.add_argument("model", help="MIGR-Omni checkpoint: local path or Hub id")
    parser.add_argument("output", help="directory to write the Qwen2 checkpoint to")
    parser.add_argument("--dtype", default="auto", help="load dtype: auto (as saved), float32, bfloat16, float16")
    parser.add_argument("--max-shard-size", default="5GB", help="largest weight file written")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..generation.export_language_model import export_language_model

    dtype = args.dtype if args.dtype == "auto" else getattr(torch, args.dtype)
    output = export_language_model(args.model, args.output, dtype=dtype, max_shard_size=args.max_shard_size)
    print(f"wrote the language model of {args.model} to {output}")
    return 0

"""`migr-hf demo`: launch the Gradio demo (the app of the `spaces/migr-demo` Space) on a checkpoint."""

import argparse
import os

from ..labels import LABEL_SETS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="launch the Gradio demo: upload a clip, see the emotion and the coloured audio / visual reasoning",
        description="Serve the MIGR Gradio demo (needs the `demo` extra: pip install 'migr-hf[demo]').",
    )
    parser.add_argument(
        "--model",
        default=os.environ.get("MIGR_MODEL"),
        help="MIGR-Omni checkpoint: local path or Hub id (default: $MIGR_MODEL)",
    )
    parser.add_argument("--label-set", choices=sorted(LABEL_SETS), help="normalise answers to this label set")
    parser.add_argument("--samples", help="folder of sample clips (default: synthetic clips made at start-up)")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="generation budget per clip, in tokens")
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.model:
        raise ValueError("pass --model (a local path or a Hub model id) or set MIGR_MODEL")
    from ..apps.demo import load_demo

    demo = load_demo(
        args.model,
        label_set=args.label_set,
        samples=args.samples,
        max_new_tokens=args.max_new_tokens,
        device=args.device,
    )
    demo.launch(server_name=args.host, server_port=args.port, share=args.share)
    return 0

"""`migr-hf push model|dataset|metrics|space`: publish to the Hugging Face Hub.

Authentication is `huggingface_hub`'s: the `HF_TOKEN` variable or `hf auth login`.
"""

import argparse
from pathlib import Path

from ..labels import LABEL_SETS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "push",
        help="publish a model (with its card), a built dataset, the metric modules or the demo Space to the Hub",
        description="Publish to the Hugging Face Hub (token from HF_TOKEN or `hf auth login`).",
    )
    targets = parser.add_subparsers(dest="target", required=True, metavar="TARGET")

    model = targets.add_parser("model", help="a MIGR-Omni checkpoint folder, with a model card")
    model.add_argument("checkpoint", type=Path, help="folder written by save_pretrained")
    model.add_argument("repo_id", help="model repo, e.g. org/MIGR-Omni-7B")
    model.add_argument(
        "--eval-report",
        dest="eval_reports",
        metavar="REPORT",
        action="append",
        type=Path,
        default=[],
        help="report.json of examples/evaluate.py, one per benchmark (repeatable)",
    )
    model.add_argument("--model-name", help="card title and model-index name (default: the repo name)")
    model.add_argument("--description", help="opening paragraph of the card")
    model.add_argument("--base-model", help="Hub id of the model it was fine-tuned from")
    model.add_argument(
        "--dataset",
        dest="datasets",
        metavar="REPO_ID",
        action="append",
        help="Hub id of a training dataset (repeatable)",
    )
    model.add_argument("--license", default="apache-2.0", help="license id written to the model card")
    model.add_argument("--template", type=Path, help="card template (default: model_cards/model_card_template.md)")
    model.add_argument(
        "--reward-classifier",
        help="sentence classifier of the GRPO rewards, a migr_hf.classifiers spec such as 'erv' (default: "
        "emotion_classifier of <checkpoint>/training_args.json, which `migr-hf grpo` writes)",
    )

    dataset = targets.add_parser("dataset", help="a dataset folder built by migr-hf (parquet files and card)")
    dataset.add_argument("dataset_dir", type=Path, help="output folder of the SFT / GRPO dataset build")
    dataset.add_argument("repo_id", help="dataset repo, e.g. org/migr-sft")

    metrics = targets.add_parser("metrics", help="the evaluate modules of metrics/ as Spaces <namespace>/<name>")
    metrics.add_argument("--namespace", default="migr", help="Hub user or organisation")
    metrics.add_argument("--names", nargs="+", default=None, help="metrics to push (default: all five)")

    space = targets.add_parser("space", help="the Gradio demo Space of spaces/migr-demo")
    space.add_argument("repo_id", help="Space repo, e.g. org/migr-demo")
    space.add_argument("--model", help="Hub id of the model the Space serves (sets its MIGR_MODEL variable)")
    space.add_argument("--label-set", choices=sorted(LABEL_SETS), help="sets the Space's MIGR_LABEL_SET variable")
    space.add_argument("--space-dir", type=Path, help="Space folder (default: spaces/migr-demo)")

    for target in (model, dataset, metrics, space):
        target.add_argument("--private", action="store_true", help="create the repo private")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.target == "model":
        from ..classifiers import describe_classifier_spec
        from ..services.hub import push_model, render_model_card, training_args_of

        reward_classifier = args.reward_classifier or (training_args_of(args.checkpoint) or {}).get(
            "emotion_classifier"
        )
        card = render_model_card(
            args.eval_reports,
            model_name=args.model_name or args.repo_id.split("/")[-1],
            repo_id=args.repo_id,
            description=args.description,
            base_model=args.base_model,
            datasets=args.datasets,
            license=args.license,
            template_path=args.template,
            reward_classifier=describe_classifier_spec(reward_classifier) if reward_classifier else None,
        )
        print(f"pushed {push_model(args.checkpoint, args.repo_id, card=card, private=args.private)}")
    elif args.target == "dataset":
        from ..data.dataset_card import push_dataset_to_hub

        push_dataset_to_hub(args.dataset_dir, args.repo_id, private=args.private or None)
        print(f"pushed {args.dataset_dir} to datasets/{args.repo_id}")
    elif args.target == "metrics":
        from ..evaluation import METRIC_NAMES, push_metrics

        unknown = sorted(set(args.names or ()) - set(METRIC_NAMES))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(METRIC_NAMES)}")
        repo_ids = push_metrics(args.names or METRIC_NAMES, namespace=args.namespace, private=args.private)
        print("pushed " + ", ".join(f"spaces/{repo_id}" for repo_id in repo_ids))
    else:
        from ..services.hub import push_space

        url = push_space(
            args.repo_id, space_dir=args.space_dir, model=args.model, label_set=args.label_set, private=args.private
        )
        print(f"pushed {url}")
    return 0

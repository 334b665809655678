"""`tfseqrec train` and `tfseqrec evaluate`."""

from __future__ import annotations

import argparse
import json
import os
import sys

from tfseqrec.cli.common import Formatter

TRAIN_EPILOG = """\
Settings come from --config (YAML or JSON), then the flags below, then KEY=VALUE overrides with dotted
paths (values parsed as YAML), e.g.:

  tfseqrec train --config configs/sasrec_ml1m.yaml --data-dir out/ml-1m --output-dir runs/sasrec \\
      optimizer.learning_rate=5e-4 model_config.loss.name=bce epochs=50

Keys: see tfseqrec.training.config.TrainConfig; model_config holds the architecture's config dataclass
fields (tfseqrec.models.<name>) and its loss (tfseqrec.tasks.LossConfig). Models and losses of your own:
plugins=[my_package.my_models] imports those modules first, so their @register / @register_loss names can be
used (see tfseqrec.models.registry; installed packages can declare entry points instead).
"""


def run_train(args: argparse.Namespace) -> int:
    from tfseqrec.training import load_train_config, train

    values = {
        k: v
        for k, v in (
            ("data_dir", args.data_dir),
            ("model", args.model),
            ("output_dir", args.output_dir),
            ("epochs", args.epochs),
        )
        if v is not None
    }
    if args.resume:
        values["resume"] = True
    cfg = load_train_config(args.config, args.overrides, **values)
    summary = train(cfg)
    print(format_run(summary))
    return 0


def format_run(summary: dict) -> str:
    metrics = summary["test_metrics"]
    shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("HR@10", "NDCG@10", "MRR") if k in metrics)
    return (
        f"{summary['model']}: {summary['test_split']} {shown}; best epoch {summary['best_epoch']} of "
        f"{summary['epochs_run']}, {summary['seconds_per_epoch'] or 0:.1f} s/epoch, "
        f"train {summary['train_seconds']:.0f} s, peak memory {summary['peak_memory_mib']:.0f} MiB; "
        f"results in {summary['config']['output_dir']}"
    )


def run_evaluate(args: argparse.Namespace) -> int:
    from tfseqrec.evaluation import EvaluationConfig, evaluate

    if args.run_dir:
        from tfseqrec.training.trainer import evaluate_run

        result = evaluate_run(
            args.run_dir, split=args.split, output_dir=args.output_dir, model_config=args.model_config or ()
        )
    else:
        if not (args.data_dir and args.baseline):
            print("error: give a RUN_DIR of `tfseqrec train`, or --data-dir with --baseline", file=sys.stderr)
            return 2
        import numpy as np

        from tfseqrec.data.spec import load_feature_spec, load_item_counts
        from tfseqrec.models.baselines import ItemTransitions, MostPopular

        spec = load_feature_spec(args.data_dir)
        counts = load_item_counts(spec)
        scorer = MostPopular(counts) if args.baseline == "most_popular" else ItemTransitions(spec, counts)
        cfg = EvaluationConfig(
            ks=tuple(args.ks), filter_seen=not args.keep_seen, max_len=args.max_len, split=args.split
        )
        result = evaluate(scorer.score_fn, spec, cfg, item_counts=np.asarray(counts))
        result.save(args.output_dir or os.path.join(args.data_dir, f"eval-{args.baseline}-{args.split}"))
    print(json.dumps(result.summary, indent=2))
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "train",
        formatter_class=Formatter,
        epilog=TRAIN_EPILOG,
        help="train a sequential recommender with model.fit and full-ranking validation",
        description="Train, validate (full ranking, early stopping), restore the best weights, "
        "test, and write run.json, history, checkpoints and TensorBoard logs.",
    )
    p.add_argument("--config", "-c", default=None, help="YAML or JSON training config")
    p.add_argument("--data-dir", default=None, help="output directory of `tfseqrec preprocess`")
    p.add_argument("--model", default=None, help="architecture name (see tfseqrec.models.available_models)")
    p.add_argument("--output-dir", default=None, help="run directory")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the unfinished run in --output-dir from its last complete epoch (weights, "
        "optimizer, validation state; the same config), or start it if there is none; a finished run "
        "is not trained again (same as resume=true)",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides (dotted paths)")
    p = sub.add_parser(
        "evaluate",
        formatter_class=Formatter,
        help="full-ranking evaluation of a run or baseline",
        description="Rank every item for each user of a split; write metrics.json (with the "
        "protocol) and per-user arrays.",
    )
    p.add_argument("run_dir", nargs="?", help="run directory of `tfseqrec train`")
    p.add_argument("--data-dir", default=None, help="dataset for --baseline")
    p.add_argument("--baseline", choices=("most_popular", "transitions"), default=None)
    p.add_argument("--split", default="test", help="split to evaluate")
    p.add_argument(
        "--model-config",
        nargs="+",
        default=None,
        metavar="KEY=VALUE",
        help="RUN_DIR only: change the run's model config for this evaluation (dotted keys), e.g. "
        "adaptation.adapter=query_offset adaptation.algorithm=none: fine-tune a per-user adapter on each "
        "history before ranking (tfseqrec.models.adaptation); weights the run lacks start at their initial values",
    )
    p.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10, 20], help="cut-offs (baselines)")
    p.add_argument("--max-len", type=int, default=200, help="history length given to baselines")
    p.add_argument("--keep-seen", action="store_true", help="do not exclude already-seen items (baselines)")
    p.add_argument("--output-dir", default=None, help="where to write the results")

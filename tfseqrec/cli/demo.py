"""`tfseqrec generate` and `tfseqrec demo`: the package end to end on data it makes or ships."""

from __future__ import annotations

import argparse
import os
from typing import Sequence

from tfseqrec.cli.common import Formatter
from tfseqrec.cli.preprocess import check_stats, config_from_args
from tfseqrec.cli.stats import format_stats, plot_stats

# The demo's log: tfseqrec.synthetic's defaults, but users keep two lasting interests and switch topic more often,
# so that the whole history, not only the last item, tells what comes next. (Without lasting interests the log is
# a first-order Markov chain, and the item-transition baseline is all but the best possible model of it.)
DEMO_DATA = {"topic_stay_prob": 0.6, "favourite_topics": 2, "favourite_prob": 0.9}
# The demo's SASRec (TrainConfig values). At learning rate 1e-3 a d-32 model is still improving after 20 epochs;
# at 5e-3 a d-64 one reaches its best validation NDCG@10 within about 15 epochs (~1.5 s each on 2 cores).
# Validating every other epoch (a validation costs about as much as an epoch) with patience 3 ends the run
# about 6 epochs after the best one.
DEMO_TRAINING = {
    "batch_size": 64,
    "validate_every": 2,
    "patience": 3,
    "optimizer": {"learning_rate": 5e-3},
    "model_config": {"embedding_dim": 64, "max_len": 50, "dropout": 0.2},
}
COMPARED_METRICS = ("HR@10", "NDCG@10", "MRR")


def run_generate(args: argparse.Namespace) -> int:
    from tfseqrec import synthetic

    cfg = synthetic.SyntheticConfig(num_users=args.num_users, num_items=args.num_items, seed=args.seed)
    n = synthetic.write_csv(cfg, args.output)
    print(f"wrote {n:,} interactions of {cfg.num_users:,} users over {cfg.num_items:,} items to {args.output}")
    print(_predictability_line(cfg))
    return 0


def _predictability_line(cfg) -> str:
    """How much sequence structure the generated log has: HR@10 of a transition model vs most-popular."""
    from tfseqrec import synthetic

    p = synthetic.next_item_predictability(synthetic.generate_interactions(cfg), k=10)
    return (
        f"sequential signal (each user's last item, HR@10): most-popular {p['popular_hr']:.3f}, "
        f"first-order transitions {p['transition_hr']:.3f} ({p['lift']:.1f}x)"
    )


def run_demo(args: argparse.Namespace, beam_args: Sequence[str]) -> int:
    """generate -> preprocess -> stats on synthetic data, the bundled OTTO sample, train and compare, then export,
    serve and query the trained model."""
    from importlib import resources

    from beam_pipelines import preprocess
    from tfseqrec.cli.app import build_parser
    from tfseqrec import synthetic

    out = args.output_dir
    os.makedirs(out, exist_ok=True)
    log_path = os.path.join(out, "synthetic.csv")
    cfg = synthetic.SyntheticConfig(num_users=args.num_users, seed=args.seed, **DEMO_DATA)
    print(f"[1/6] generate: {synthetic.write_csv(cfg, log_path):,} synthetic interactions -> {log_path}")
    print("      " + _predictability_line(cfg))
    ns = build_parser().parse_args(
        [
            "preprocess",
            "--input",
            log_path,
            "--output-dir",
            os.path.join(out, "synthetic"),
            "--overwrite",
            "--item-min-count",
            "5",
            "--user-min-count",
            "5",
            "--remove-repeats",
            "--max-len",
            "50",
        ]
    )
    print("[2/6] preprocess (Beam, leave-one-out, 5-core):")
    stats = preprocess.run(config_from_args(ns), beam_args, overwrite=True)
    print(format_stats(stats))
    status = check_stats(stats)
    plot = os.path.join(out, "synthetic_stats.png")
    plot_stats(stats, plot)
    print(f"[3/6] stats: {os.path.join(out, 'synthetic', 'stats.json')} and {plot}")
    with resources.as_file(resources.files("tfseqrec") / "resources" / "otto_sample.jsonl") as otto:
        ns = build_parser().parse_args(
            [
                "preprocess",
                "--input",
                str(otto),
                "--output-dir",
                os.path.join(out, "otto"),
                "--overwrite",
                "--split",
                "session",
                "--session-gap",
                "1800",
                "--test-days",
                "2",
            ]
        )
        print("[4/6] preprocess the bundled OTTO sample (CC-BY 4.0; sessionized at 30 min, last 2 days = test):")
        otto_stats = preprocess.run(config_from_args(ns), beam_args, overwrite=True)
    print(format_stats(otto_stats))
    status = status or check_stats(otto_stats)
    print(
        f"[5/6] train a small SASRec with model.fit (full cross-entropy, at most {args.epochs} epochs, early "
        f"stopping on validation NDCG@10) and compare it with the baselines on the synthetic test split "
        f"(leave-one-out, full ranking, seen items excluded):"
    )
    print(_demo_train_and_compare(os.path.join(out, "synthetic"), os.path.join(out, "sasrec"), args.epochs))
    export_dir = os.path.join(out, "saved_models")
    print(
        f"[6/6] export the SASRec for TF Serving ({export_dir}), serve it with `tfseqrec serve`'s Server on free "
        f"ports and ask it for a test user's next items over gRPC:"
    )
    print(_demo_export_and_serve(os.path.join(out, "sasrec"), os.path.join(out, "synthetic"), export_dir))
    return status


def _demo_train_and_compare(data_dir: str, run_dir: str, epochs: int) -> str:
    import numpy as np

    from tfseqrec.data.spec import load_feature_spec, load_item_counts
    from tfseqrec.evaluation import EvaluationConfig, evaluate
    from tfseqrec.models.baselines import ItemTransitions, MostPopular
    from tfseqrec.training import load_train_config, train

    cfg = load_train_config(None, [], data_dir=data_dir, output_dir=run_dir, epochs=epochs, verbose=0, **DEMO_TRAINING)
    run = train(cfg)
    spec = load_feature_spec(data_dir)
    counts = load_item_counts(spec)
    max_len = cfg.model_config["max_len"]
    rows = [("SASRec (full CE)", run["test_metrics"])]
    for name, scorer in (("most popular", MostPopular(counts)), ("item transitions", ItemTransitions(spec, counts))):
        rows.append(
            (
                name,
                evaluate(
                    scorer.score_fn,
                    spec,
                    EvaluationConfig(max_len=max_len),
                    item_counts=np.asarray(counts),
                    verbose=False,
                ).summary,
            )
        )
    lines = [f"  {'model':<18} " + " ".join(f"{m:>8}" for m in COMPARED_METRICS)]
    lines += [f"  {name:<18} " + " ".join(f"{m[k]:8.4f}" for k in COMPARED_METRICS) for name, m in rows]
    lines += comparison_lines(rows)
    lines.append(
        f"  SASRec: best epoch {run['best_epoch']} of {run['epochs_run']} ({run['stopped_by']}), "
        f"{run['seconds_per_epoch']:.1f} s/epoch, {run['train_seconds']:.0f} s with validation; "
        f"run directory {run_dir}"
    )
    return "\n".join(lines)


def comparison_lines(rows: list) -> list[str]:
    """How the first row's model does against each other row, metric by metric, saying so where it loses.

    ``rows``: ``[(name, metrics dict)]`` with :data:`COMPARED_METRICS` in every dict; the first is the model.
    """
    (model, ours), lines = rows[0], []
    for name, theirs in rows[1:]:
        deltas = {k: ours[k] - theirs[k] for k in COMPARED_METRICS}
        margins = ", ".join(f"{k} {d:+.4f}" for k, d in deltas.items())
        not_won = [k for k, d in deltas.items() if d <= 0]
        if not not_won:
            lines.append(f"  {model} beats {name} on every metric: {margins}")
        else:
            lines.append(f"  {name} matches or beats {model} on {', '.join(not_won)}: {margins}")
    return lines


def _demo_export_and_serve(run_dir: str, data_dir: str, export_dir: str) -> str:
    """Exports both variants, serves them in-process, queries the ScaNN (and brute-force) model with Client."""
    import shutil
    import time

    from tfseqrec.data import SequenceBatchConfig, make_dataset
    from tfseqrec.data.spec import load_feature_spec, load_vocabulary
    from tfseqrec.export.exporter import export_run
    from tfseqrec.serving import Client, Server, ServerConfig

    shutil.rmtree(export_dir, ignore_errors=True)  # the demo's own exports of an earlier run
    start = time.perf_counter()
    paths = export_run(run_dir, export_dir, name="sasrec_demo")
    lines = [
        f"  exported in {time.perf_counter() - start:.1f} s: "
        + ", ".join(f"sasrec_demo_{v} -> {p}" for v, p in paths.items())
    ]
    spec = load_feature_spec(data_dir)
    vocab = load_vocabulary(spec)
    batch = next(iter(make_dataset(spec, "test", SequenceBatchConfig(batch_size=1, padding="ragged"))))
    history = [vocab[i] for i in batch["item_ids"][0].numpy().tolist()]
    target = [vocab[i] for i in batch["target_ids"][0].numpy().tolist()]
    user = batch["sequence_id"][0].numpy().decode()
    config = ServerConfig(
        model_config_file=os.path.join(export_dir, "models.config"), grpc_port=0, rest_port=0, poll_seconds=0
    )
    with Server(config) as server:
        lines.append(
            f"  serving {', '.join(server.manager.model_names)}: gRPC on 127.0.0.1:{server.grpc_port}, "
            f"REST on 127.0.0.1:{server.rest_port}"
        )
        with Client(f"127.0.0.1:{server.grpc_port}", "sasrec_demo_scann") as client:
            top = client.recommend([history])[0]
        with Client(f"127.0.0.1:{server.grpc_port}", "sasrec_demo_brute_force") as client:
            exact = [item for item, _ in client.recommend([history])[0]]
    shown = history[-10:]
    lines.append(f"  user {user}: {len(history)} items in the history, the latest {len(shown)}: {' '.join(shown)}")
    lines.append(f"  held-out next item (test target): {' '.join(target)}")
    lines.append("  served top-10 (sasrec_demo_scann, gRPC Client.recommend):")
    lines += [
        f"    {rank:>2}. {item:<12} score {score:7.3f}" + ("   <- the held-out item" if item in target else "")
        for rank, (item, score) in enumerate(top, 1)
    ]
    same = [item for item, _ in top] == exact
    lines.append(f"  sasrec_demo_brute_force (exact full ranking) returns {'the same 10 items' if same else exact}")
    lines.append(f"  serve it yourself: tfseqrec serve --model-config {os.path.join(export_dir, 'models.config')}")
    return "\n".join(lines)


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "generate",
        formatter_class=Formatter,
        help="write a synthetic interaction log (CSV)",
        description="Seeded synthetic log with sequential structure (see tfseqrec.synthetic).",
    )
    p.add_argument("--output", "-o", required=True, help="CSV file to write")
    p.add_argument("--num-users", type=int, default=2000)
    p.add_argument("--num-items", type=int, default=1000)
    p.add_argument("--seed", type=int, default=42)
    p = sub.add_parser(
        "demo",
        formatter_class=Formatter,
        help="generate -> preprocess -> stats -> train -> export -> serve end to end",
        description="Runs the whole package on generated data and the bundled OTTO sample.",
    )
    p.add_argument("--output-dir", default="demo_output", help="where the demo writes")
    p.add_argument("--epochs", type=int, default=40, help="most SASRec training epochs (early stopping ends sooner)")
    p.add_argument("--num-users", type=int, default=2000)
    p.add_argument("--seed", type=int, default=42)

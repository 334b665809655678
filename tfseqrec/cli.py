"""The ``tfseqrec`` command line: ``tfseqrec <command> --help`` explains each command and its defaults."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Optional, Sequence

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _csv_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _time_value(text: str) -> float:
    """Seconds since the epoch from a number or an ISO date (2016-05-25 or 2016-05-25T12:00:00)."""
    from beam_pipelines.readers import parse_time_ms
    try:
        return parse_time_ms(text, "s") / 1000.0
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# --------------------------------------------------------------------------------------- preprocess

PREPROCESS_EPILOG = """\
Any other --flag is passed to Apache Beam unchanged. Without --runner the DirectRunner runs with
--direct_running_mode=multi_processing and --direct_num_workers=2. A Dataflow run looks like:

  tfseqrec preprocess --input gs://BUCKET/logs/*.csv --output-dir gs://BUCKET/ml1m \\
      --item-min-count 5 --runner=DataflowRunner --project=PROJECT --region=europe-west1 \\
      --temp_location=gs://BUCKET/tmp --setup_file=./setup.py

examples:
  tfseqrec preprocess --input ../shared/data/ml-1m/ml-1m.seq.tsv --order-col seq_pos \\
      --item-min-count 5 --output-dir out/ml-1m
  tfseqrec preprocess --input ../shared/data/amazon-beauty/Beauty.txt --output-dir out/beauty --max-len 50
  tfseqrec preprocess --input events.jsonl --split session --session-gap 1800 --test-days 1 --output-dir out/s
"""


def add_preprocess_args(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument("--input", "-i", action="append", required=True,
                    help="file, glob or directory (repeatable); local or gs://")
    io.add_argument("--output-dir", "-o", required=True, help="directory for records, vocabulary, spec, stats")
    io.add_argument("--overwrite", action="store_true", help="replace earlier output in --output-dir")
    io.add_argument("--format", choices=("movielens", "csv", "tsv", "jsonl", "parquet", "seq"), default=None,
                    help="input format; default: from the file extension (.dat .csv .tsv .jsonl .parquet .txt)")
    io.add_argument("--delimiter", default=None, help="csv/tsv delimiter; default: sniffed from the header")
    io.add_argument("--chunk-bytes", type=int, default=8 << 20,
                    help="uncompressed text files larger than this are parsed in parallel chunks")
    cols = parser.add_argument_group("columns (csv/tsv/jsonl/parquet; default: detected by common names)")
    cols.add_argument("--user-col", help="user or session id column")
    cols.add_argument("--session-col", dest="user_col", help="alias of --user-col for session data")
    cols.add_argument("--item-col", help="item id column")
    cols.add_argument("--time-col", help="timestamp column (number or ISO-8601)")
    cols.add_argument("--order-col", help="integer order column, used instead of (or to break ties in) time")
    cols.add_argument("--rating-col", help="rating column")
    cols.add_argument("--event-col", help="event type column (view / cart / purchase ...)")
    cols.add_argument("--item-feature-cols", type=_csv_list, default=(), help="comma-separated item side features")
    cols.add_argument("--time-unit", choices=("auto", "s", "ms"), default="auto",
                      help="unit of numeric times (auto: values above 1e11 are milliseconds)")
    flt = parser.add_argument_group("filters")
    flt.add_argument("--min-rating", type=float, default=None, help="keep rows with rating >= this")
    flt.add_argument("--event-types", type=_csv_list, default=(), help="keep only these event types (comma-separated)")
    flt.add_argument("--remove-repeats", action="store_true", help="drop an item equal to the item right before it")
    flt.add_argument("--session-gap", type=float, default=None,
                     help="split users' histories into sessions at gaps longer than this many seconds")
    flt.add_argument("--item-min-count", type=int, default=0, help="item k-core: drop items with fewer interactions")
    flt.add_argument("--user-min-count", type=int, default=0, help="user k-core: drop sequences with fewer items")
    flt.add_argument("--kcore-max-rounds", type=int, default=10, help="k-core rounds laid out in the pipeline")
    spl = parser.add_argument_group("split (DESIGN.md §2)")
    spl.add_argument("--split", choices=("leave_one_out", "temporal", "session", "none"), default="leave_one_out",
                     help="evaluation protocol")
    spl.add_argument("--valid-cut", type=_time_value, default=None, help="temporal: validation starts here")
    spl.add_argument("--test-cut", type=_time_value, default=None, help="temporal: test starts here")
    spl.add_argument("--test-days", type=float, default=1.0, help="session: last N days are test")
    spl.add_argument("--valid-days", type=float, default=0.0, help="session: N days before test are validation")
    out = parser.add_argument_group("records")
    out.add_argument("--max-len", type=int, default=None, help="keep only the latest N items of each sequence")
    out.add_argument("--num-shards", type=int, default=0, help="TFRecord shards per split (0: runner decides)")
    out.add_argument("--compression", choices=("none", "gzip"), default="none", help="TFRecord compression")


def config_from_args(args: argparse.Namespace):
    from beam_pipelines.config import FilterConfig, OutputConfig, PreprocessConfig, ReaderConfig, SplitConfig
    return PreprocessConfig(
        inputs=tuple(args.input),
        output=OutputConfig(output_dir=args.output_dir, max_len=args.max_len, num_shards=args.num_shards,
                            compression=None if args.compression == "none" else "GZIP"),
        reader=ReaderConfig(format=args.format, delimiter=args.delimiter, user_col=args.user_col,
                            item_col=args.item_col, time_col=args.time_col, order_col=args.order_col,
                            rating_col=args.rating_col, event_col=args.event_col,
                            item_feature_cols=tuple(args.item_feature_cols), time_unit=args.time_unit,
                            chunk_bytes=args.chunk_bytes),
        filters=FilterConfig(min_rating=args.min_rating, event_types=tuple(args.event_types),
                             remove_consecutive_repeats=args.remove_repeats, session_gap_seconds=args.session_gap,
                             item_min_count=args.item_min_count, user_min_count=args.user_min_count,
                             kcore_max_rounds=args.kcore_max_rounds),
        split=SplitConfig(protocol=args.split, valid_cut=args.valid_cut, test_cut=args.test_cut,
                          test_days=args.test_days, valid_days=args.valid_days))


def run_preprocess(args: argparse.Namespace, beam_args: Sequence[str]) -> int:
    from beam_pipelines import preprocess
    cfg = config_from_args(args)
    started = time.time()
    print(f"preprocessing {', '.join(cfg.inputs)} -> {cfg.output.output_dir}", file=sys.stderr)
    stats = preprocess.run(cfg, beam_args, overwrite=args.overwrite)
    print(f"done in {time.time() - started:.1f} s", file=sys.stderr)
    if stats:
        print(format_stats(stats))
        return check_stats(stats)
    return 0


def check_stats(stats: dict) -> int:
    """Exit status for a finished run: non-zero when k-core did not converge or nothing was kept."""
    status = 0
    kcore = stats.get("kcore")
    if kcore and not kcore.get("converged"):
        print(f"error: k-core did not converge within {len(kcore['removed_per_round'])} rounds "
              f"(removed per round: {kcore['removed_per_round']}); re-run with a larger --kcore-max-rounds",
              file=sys.stderr)
        status = 3
    if stats["rows"]["rows_kept"] == 0:
        print("error: no rows were kept; see stats.json for what was filtered or rejected and why",
              file=sys.stderr)
        status = 4
    return status


# -------------------------------------------------------------------------------------------- stats

def format_stats(stats: dict) -> str:
    """A short human-readable summary of ``stats.json``."""
    rows = stats["rows"]
    lines = [
        f"rows read {rows['rows_read']:,} = kept {rows['rows_kept']:,} + filtered {rows['rows_filtered']:,}"
        f" + rejected {rows['rows_rejected']:,}" + ("" if rows["balanced"] else "   (DOES NOT BALANCE)"),
    ]
    for title, key in (("filtered", "filtered_by_rule"), ("rejected", "rejected_by_reason")):
        if rows[key]:
            lines.append(f"  {title}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(rows[key].items())))
    lines.append(f"users {stats['users']:,}   sequences {stats['sequences']:,}   items {stats['items']:,}   "
                 f"interactions {stats['interactions']:,}")
    lines.append("splits: " + (", ".join(f"{name} {s['records']:,} records" + (f" / {s['targets']:,} targets"
                                                                              if s["targets"] else "")
                                         for name, s in stats["splits"].items()) or "no records written"))
    length = stats.get("sequence_length", {})
    if length.get("sequences"):
        lines.append(f"sequence length: min {length['min']}, median {length['median']}, mean {length['mean']}, "
                     f"p90 {length['p90']}, max {length['max']}")
    pop = stats.get("item_popularity", {})
    if pop.get("num_items"):
        lines.append(f"item popularity: gini {pop['gini']:.3f}, top 10% of items get {pop['top_10pct_share']:.1%} "
                     f"of train interactions")
    if stats.get("kcore"):
        k = stats["kcore"]
        lines.append(f"k-core: {'converged' if k['converged'] else 'NOT converged'} "
                     f"after {k['rounds_removing']} removing round(s)")
    return "\n".join(lines)


def plot_stats(stats: dict, path: str) -> None:
    """Sequence-length histogram (log-spaced bins) and item popularity by rank (log-log), as one PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    exact = {int(k): v for k, v in stats["sequence_length"].get("exact", {}).items()}
    if exact:
        lengths, weights = np.array(list(exact)), np.array(list(exact.values()))
        bins = np.unique(np.geomspace(max(1, lengths.min()), lengths.max() + 1, 40).astype(int))
        ax1.hist(lengths, bins=bins if len(bins) > 1 else 10, weights=weights)
        ax1.set_xscale("log")
    length = stats["sequence_length"]
    ax1.set_xlabel("sequence length (items)")
    ax1.set_ylabel("sequences")
    ax1.set_title(f"{length.get('sequences', 0):,} sequences, median length {length.get('median', 0)}")
    pop = stats["item_popularity"]
    curve = pop.get("rank_curve", [])
    if curve:
        ranks, counts = zip(*curve)
        ax2.loglog(ranks, np.maximum(counts, 0.5), marker=".")
    ax2.set_xlabel("item rank")
    ax2.set_ylabel("train interactions")
    ax2.set_title(f"{pop.get('num_items', 0):,} items, gini {pop.get('gini', 0):.2f}, "
                  f"top 10% = {pop.get('top_10pct_share', 0):.0%} of interactions")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_stats(args: argparse.Namespace) -> int:
    from tfseqrec import io_utils
    from tfseqrec.data.spec import STATS_FILENAME
    path = args.path if args.path.endswith(".json") else io_utils.join(args.path, STATS_FILENAME)
    if not io_utils.exists(path):
        print(f"error: {path} not found; run `tfseqrec preprocess` first", file=sys.stderr)
        return 2
    stats = io_utils.read_json(path)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    if args.plot:
        plot_stats(stats, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------ train/evaluate

TRAIN_EPILOG = """\
Settings come from --config (YAML or JSON), then the flags below, then KEY=VALUE overrides with dotted
paths (values parsed as YAML), e.g.:

  tfseqrec train --config configs/sasrec_ml1m.yaml --data-dir out/ml-1m --output-dir runs/sasrec \\
      optimizer.learning_rate=5e-4 model_config.loss.name=bce epochs=50

Keys: see tfseqrec.training.config.TrainConfig; model_config holds the architecture's config dataclass
fields (tfseqrec.models.<name>) and its loss (tfseqrec.tasks.LossConfig).
"""


def run_train(args: argparse.Namespace) -> int:
    from tfseqrec.training import load_train_config, train
    values = {k: v for k, v in (("data_dir", args.data_dir), ("model", args.model),
                                ("output_dir", args.output_dir), ("epochs", args.epochs)) if v is not None}
    cfg = load_train_config(args.config, args.overrides, **values)
    summary = train(cfg)
    print(format_run(summary))
    return 0


def format_run(summary: dict) -> str:
    metrics = summary["test_metrics"]
    shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("HR@10", "NDCG@10", "MRR") if k in metrics)
    return (f"{summary['model']}: {summary['test_split']} {shown}; best epoch {summary['best_epoch']} of "
            f"{summary['epochs_run']}, {summary['seconds_per_epoch'] or 0:.1f} s/epoch, "
            f"train {summary['train_seconds']:.0f} s, peak memory {summary['peak_memory_mib']:.0f} MiB; "
            f"results in {summary['config']['output_dir']}")


def run_evaluate(args: argparse.Namespace) -> int:
    from tfseqrec.evaluation import EvaluationConfig, evaluate
    if args.run_dir:
        from tfseqrec.training.trainer import evaluate_run
        result = evaluate_run(args.run_dir, split=args.split, output_dir=args.output_dir)
    else:
        if not (args.data_dir and args.baseline):
            print("error: give a RUN_DIR of `tfseqrec train`, or --data-dir with --baseline", file=sys.stderr)
            return 2
        import numpy as np

        from tfseqrec.data import load_feature_spec
        from tfseqrec.models.baselines import ItemTransitions, MostPopular
        from tfseqrec.training.trainer import item_counts_from_vocabulary
        spec = load_feature_spec(args.data_dir)
        counts = item_counts_from_vocabulary(spec)
        scorer = MostPopular(counts) if args.baseline == "most_popular" else ItemTransitions(spec, counts)
        cfg = EvaluationConfig(ks=tuple(args.ks), filter_seen=not args.keep_seen, max_len=args.max_len,
                               split=args.split)
        result = evaluate(scorer.score_fn, spec, cfg, item_counts=np.asarray(counts))
        result.save(args.output_dir or os.path.join(args.data_dir, f"eval-{args.baseline}-{args.split}"))
    print(json.dumps(result.summary, indent=2))
    return 0


# ------------------------------------------------------------------------------------ generate/demo

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
    return (f"sequential signal (each user's last item, HR@10): most-popular {p['popular_hr']:.3f}, "
            f"first-order transitions {p['transition_hr']:.3f} ({p['lift']:.1f}x)")


def run_demo(args: argparse.Namespace, beam_args: Sequence[str]) -> int:
    """generate -> preprocess -> stats on synthetic data, the bundled OTTO sample, then train and compare."""
    from importlib import resources

    from beam_pipelines import preprocess
    from tfseqrec import synthetic
    out = args.output_dir
    os.makedirs(out, exist_ok=True)
    log_path = os.path.join(out, "synthetic.csv")
    cfg = synthetic.SyntheticConfig(num_users=args.num_users, seed=args.seed)
    print(f"[1/5] generate: {synthetic.write_csv(cfg, log_path):,} synthetic interactions -> {log_path}")
    print("      " + _predictability_line(cfg))
    ns = _parser().parse_args(["preprocess", "--input", log_path, "--output-dir", os.path.join(out, "synthetic"),
                               "--overwrite", "--item-min-count", "5", "--user-min-count", "5",
                               "--remove-repeats", "--max-len", "50"])
    print("[2/5] preprocess (Beam, leave-one-out, 5-core):")
    stats = preprocess.run(config_from_args(ns), beam_args, overwrite=True)
    print(format_stats(stats))
    status = check_stats(stats)
    plot = os.path.join(out, "synthetic_stats.png")
    plot_stats(stats, plot)
    print(f"[3/5] stats: {os.path.join(out, 'synthetic', 'stats.json')} and {plot}")
    with resources.as_file(resources.files("tfseqrec") / "resources" / "otto_sample.jsonl") as otto:
        ns = _parser().parse_args(["preprocess", "--input", str(otto), "--output-dir", os.path.join(out, "otto"),
                                   "--overwrite", "--split", "session", "--session-gap", "1800",
                                   "--test-days", "2"])
        print("[4/5] preprocess the bundled OTTO sample (CC-BY 4.0; sessionized at 30 min, last 2 days = test):")
        otto_stats = preprocess.run(config_from_args(ns), beam_args, overwrite=True)
    print(format_stats(otto_stats))
    status = status or check_stats(otto_stats)
    print(f"[5/5] train a small SASRec with model.fit ({args.epochs} epochs, full cross-entropy) and compare "
          f"with the baselines on the synthetic test split (leave-one-out, full ranking, seen items excluded):")
    print(_demo_train_and_compare(os.path.join(out, "synthetic"), os.path.join(out, "sasrec"), args.epochs))
    return status


def _demo_train_and_compare(data_dir: str, run_dir: str, epochs: int) -> str:
    import numpy as np

    from tfseqrec.data import load_feature_spec
    from tfseqrec.evaluation import EvaluationConfig, evaluate
    from tfseqrec.models.baselines import ItemTransitions, MostPopular
    from tfseqrec.training import load_train_config, train
    from tfseqrec.training.trainer import item_counts_from_vocabulary
    cfg = load_train_config(None, [], data_dir=data_dir, output_dir=run_dir, epochs=epochs, verbose=0,
                            batch_size=64, patience=5,
                            model_config={"embedding_dim": 32, "max_len": 50, "dropout": 0.2})
    run = train(cfg)
    spec = load_feature_spec(data_dir)
    counts = item_counts_from_vocabulary(spec)
    rows = [("SASRec (full CE)", run["test_metrics"])]
    for name, scorer in (("most popular", MostPopular(counts)), ("item transitions", ItemTransitions(spec, counts))):
        rows.append((name, evaluate(scorer.score_fn, spec, EvaluationConfig(max_len=50),
                                    item_counts=np.asarray(counts), verbose=False).summary))
    lines = [f"  {'model':<18} {'HR@10':>7} {'NDCG@10':>8} {'MRR':>7}"]
    lines += [f"  {name:<18} {m['HR@10']:7.4f} {m['NDCG@10']:8.4f} {m['MRR']:7.4f}" for name, m in rows]
    lines.append(f"  SASRec: best epoch {run['best_epoch']} of {run['epochs_run']}, "
                 f"{run['seconds_per_epoch']:.1f} s/epoch; run directory {run_dir}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- main

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfseqrec", formatter_class=_Formatter,
        description="Neural sequential recommendation on TensorFlow Recommenders.")
    parser.add_argument("--version", action="version", version=f"tfseqrec {tfseqrec.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Beam's INFO logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser("preprocess", formatter_class=_Formatter, epilog=PREPROCESS_EPILOG,
                       help="raw interaction logs -> sequences as TFRecords (Apache Beam)",
                       description="Raw interaction logs -> per-user/per-session sequences as TFRecords, with "
                       "vocabulary, feature spec, stats.json and rejects, on any Beam runner.")
    add_preprocess_args(p)
    p = sub.add_parser("stats", formatter_class=_Formatter, help="summarise a preprocessing output directory",
                       description="Print the summary of stats.json (and plot it).")
    p.add_argument("path", help="output directory of `tfseqrec preprocess`, or a stats.json")
    p.add_argument("--json", action="store_true", help="print the whole stats.json")
    p.add_argument("--plot", default=None, help="write a PNG with the length histogram and item popularity")
    p = sub.add_parser("train", formatter_class=_Formatter, epilog=TRAIN_EPILOG,
                       help="train a sequential recommender with model.fit and full-ranking validation",
                       description="Train, validate (full ranking, early stopping), restore the best weights, "
                       "test, and write run.json, history, checkpoints and TensorBoard logs.")
    p.add_argument("--config", "-c", default=None, help="YAML or JSON training config")
    p.add_argument("--data-dir", default=None, help="output directory of `tfseqrec preprocess`")
    p.add_argument("--model", default=None, help="architecture name (see tfseqrec.models.available_models)")
    p.add_argument("--output-dir", default=None, help="run directory")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides (dotted paths)")
    p = sub.add_parser("evaluate", formatter_class=_Formatter, help="full-ranking evaluation of a run or baseline",
                       description="Rank every item for each user of a split; write metrics.json (with the "
                       "protocol) and per-user arrays.")
    p.add_argument("run_dir", nargs="?", help="run directory of `tfseqrec train`")
    p.add_argument("--data-dir", default=None, help="dataset for --baseline")
    p.add_argument("--baseline", choices=("most_popular", "transitions"), default=None)
    p.add_argument("--split", default="test", help="split to evaluate")
    p.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10, 20], help="cut-offs (baselines)")
    p.add_argument("--max-len", type=int, default=200, help="history length given to baselines")
    p.add_argument("--keep-seen", action="store_true", help="do not exclude already-seen items (baselines)")
    p.add_argument("--output-dir", default=None, help="where to write the results")
    p = sub.add_parser("generate", formatter_class=_Formatter, help="write a synthetic interaction log (CSV)",
                       description="Seeded synthetic log with sequential structure (see tfseqrec.synthetic).")
    p.add_argument("--output", "-o", required=True, help="CSV file to write")
    p.add_argument("--num-users", type=int, default=2000)
    p.add_argument("--num-items", type=int, default=1000)
    p.add_argument("--seed", type=int, default=42)
    p = sub.add_parser("demo", formatter_class=_Formatter, help="generate -> preprocess -> stats -> train end to end",
                       description="Runs the whole package on generated data and the bundled OTTO sample.")
    p.add_argument("--output-dir", default="demo_output", help="where the demo writes")
    p.add_argument("--epochs", type=int, default=20, help="SASRec training epochs")
    p.add_argument("--num-users", type=int, default=2000)
    p.add_argument("--seed", type=int, default=42)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args, beam_args = parser.parse_known_args(argv)
    if beam_args and args.command not in ("preprocess", "demo"):
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    stray = [a for a in beam_args if not a.startswith("--")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)} (Beam options must look like --name=value)")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
    from beam_pipelines.readers import InputError
    try:
        if args.command == "preprocess":
            return run_preprocess(args, beam_args)
        if args.command == "stats":
            return run_stats(args)
        if args.command == "generate":
            return run_generate(args)
        if args.command == "train":
            return run_train(args)
        if args.command == "evaluate":
            return run_evaluate(args)
        if args.command == "demo":
            return run_demo(args, beam_args)
    except (InputError, FileExistsError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())

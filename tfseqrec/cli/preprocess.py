"""`tfseqrec preprocess`: the Beam pipeline from the command line."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from tfseqrec.cli.common import Formatter, csv_list, time_value
from tfseqrec.cli.stats import format_stats

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
    cols.add_argument("--item-feature-cols", type=csv_list, default=(), help="comma-separated item side features")
    cols.add_argument("--time-unit", choices=("auto", "s", "ms"), default="auto",
                      help="unit of numeric times (auto: values above 1e11 are milliseconds)")
    flt = parser.add_argument_group("filters")
    flt.add_argument("--min-rating", type=float, default=None, help="keep rows with rating >= this")
    flt.add_argument("--event-types", type=csv_list, default=(), help="keep only these event types (comma-separated)")
    flt.add_argument("--remove-repeats", action="store_true", help="drop an item equal to the item right before it")
    flt.add_argument("--session-gap", type=float, default=None,
                     help="split users' histories into sessions at gaps longer than this many seconds")
    flt.add_argument("--item-min-count", type=int, default=0, help="item k-core: drop items with fewer interactions")
    flt.add_argument("--user-min-count", type=int, default=0, help="user k-core: drop sequences with fewer items")
    flt.add_argument("--kcore-max-rounds", type=int, default=10, help="k-core rounds laid out in the pipeline")
    spl = parser.add_argument_group("split (DESIGN.md §2)")
    spl.add_argument("--split", choices=("leave_one_out", "temporal", "session", "none"), default="leave_one_out",
                     help="evaluation protocol")
    spl.add_argument("--valid-cut", type=time_value, default=None, help="temporal: validation starts here")
    spl.add_argument("--test-cut", type=time_value, default=None, help="temporal: test starts here")
    spl.add_argument("--test-days", type=float, default=1.0, help="session: last N days are test")
    spl.add_argument("--valid-days", type=float, default=0.0, help="session: N days before test are validation")
    spl.add_argument("--test-vocabulary", choices=("train", "train_valid"), default="train",
                     help="session: items a test session keeps: those of train sessions, or of train and "
                     "validation sessions (train_valid: the test set does not depend on --valid-days, e.g. "
                     "to keep a dataset's given test split while validating on the end of its train period)")
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
                          test_days=args.test_days, valid_days=args.valid_days,
                          test_vocabulary=args.test_vocabulary))


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


def add_parser(sub) -> None:
    p = sub.add_parser("preprocess", formatter_class=Formatter, epilog=PREPROCESS_EPILOG,
                       help="raw interaction logs -> sequences as TFRecords (Apache Beam)",
                       description="Raw interaction logs -> per-user/per-session sequences as TFRecords, with "
                       "vocabulary, feature spec, stats.json and rejects, on any Beam runner.")
    add_preprocess_args(p)

"""`tfseqrec preprocess`: the Beam pipeline from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from beam_pipelines.options import add_preprocess_args, check_stats, config_from_args  # noqa: F401
from tfseqrec.cli.common import Formatter
from tfseqrec.cli.stats import format_stats

PREPROCESS_EPILOG = """\
Any other --flag is passed to Apache Beam unchanged. Without --runner the DirectRunner runs with
--direct_running_mode=multi_processing and --direct_num_workers=2. A Dataflow run looks like:

  tfseqrec preprocess --input gs://BUCKET/logs/*.csv --output-dir gs://BUCKET/ml1m \\
      --item-min-count 5 --runner=DataflowRunner --project=PROJECT --region=europe-west1 \\
      --temp_location=gs://BUCKET/tmp --setup_file=./setup.py

Malformed rows never stop a run: each is written to rejects-*.jsonl (file, line, reason, text) and counted
in stats.json, where rows read = kept + filtered + rejected. Besides unparsable rows, these are rejected:
lines that are not valid text in --encoding (reason not_utf8 by default; name another encoding, e.g.
--encoding latin-1 for MovieLens' original .dat files or cp1252 for Windows exports), times outside
[--min-time, --max-time] (time_out_of_range; default 1990-01-01 to the run's start plus one day; order
columns and inputs without times are not checked) and user/item ids longer than --max-id-length
(id_too_long). A UTF-8 byte-order mark at the start of a file is dropped.

examples:
  tfseqrec preprocess --input ../shared/data/ml-1m/ml-1m.seq.tsv --order-col seq_pos \\
      --item-min-count 5 --output-dir out/ml-1m
  tfseqrec preprocess --input ../shared/data/amazon-beauty/Beauty.txt --output-dir out/beauty --max-len 50
  tfseqrec preprocess --input events.jsonl --split session --session-gap 1800 --test-days 1 --output-dir out/s
  tfseqrec preprocess --input export.csv --encoding cp1252 --min-time 2015-01-01 --max-time 2016-01-01 \\
      --output-dir out/export
  tfseqrec preprocess --input 'taobao/*.csv' --columns user,item,category,event,timestamp \\
      --item-feature-cols category --output-dir out/taobao
  tfseqrec preprocess --input ../shared/data/ml-1m/ml-1m.seq.tsv --order-col seq_pos \\
      --item-features ../shared/data/ml-1m/original/movies.dat --item-feature-columns item,title,genres \\
      --item-feature-fields genres --feature-encoding latin-1 --output-dir out/ml-1m-genres

Side features (--item-features, --user-features, --item-feature-cols) become a vocabulary per feature
(item_feature_<name>.tsv) and a table item id -> value ids (item_features.tsv), described in feature_spec.json;
see docs/preprocessing.md.
"""


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


def add_parser(sub) -> None:
    p = sub.add_parser(
        "preprocess",
        formatter_class=Formatter,
        epilog=PREPROCESS_EPILOG,
        help="raw interaction logs -> sequences as TFRecords (Apache Beam)",
        description="Raw interaction logs -> per-user/per-session sequences as TFRecords, with "
        "vocabulary, feature spec, stats.json and rejects, on any Beam runner.",
    )
    add_preprocess_args(p)

"""The options of the preprocessing pipeline as command-line flags: one parser for every caller.

``tfseqrec preprocess`` adds these flags to its sub-command; the benchmark grid runner and the demo build a
:class:`~beam_pipelines.config.PreprocessConfig` from a list of the same flags (:func:`config_from_flags`), so a
grid's ``preprocess:`` block and the command line mean the same thing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from beam_pipelines.config import (
    DEFAULT_MAX_FEATURE_VALUES,
    DEFAULT_MAX_ID_LENGTH,
    FeatureTablesConfig,
    FilterConfig,
    OutputConfig,
    PreprocessConfig,
    ReaderConfig,
    SideFeatureConfig,
    SplitConfig,
)
from beam_pipelines.readers import parse_time_ms


def csv_list(text: str) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``."""
    return tuple(x.strip() for x in text.split(",") if x.strip())


def time_value(text: str) -> float:
    """Seconds since the epoch from a number or an ISO date (2016-05-25 or 2016-05-25T12:00:00)."""
    try:
        return parse_time_ms(text, "s") / 1000.0
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_preprocess_args(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument(
        "--input", "-i", action="append", required=True, help="file, glob or directory (repeatable); local or gs://"
    )
    io.add_argument("--output-dir", "-o", required=True, help="directory for records, vocabulary, spec, stats")
    io.add_argument("--overwrite", action="store_true", help="replace earlier output in --output-dir")
    io.add_argument(
        "--base-vocabulary",
        metavar="DIR_OR_TSV",
        default=None,
        help="extend an earlier run's vocabulary: its items keep their ids, new items are appended (new data as a "
        "time slice, for warm-starting the earlier model)",
    )
    io.add_argument(
        "--format",
        choices=("movielens", "csv", "tsv", "jsonl", "parquet", "seq"),
        default=None,
        help="input format; default: from the file extension (.dat .csv .tsv .jsonl .parquet .txt)",
    )
    io.add_argument("--delimiter", default=None, help="csv/tsv delimiter; default: sniffed from the header")
    io.add_argument(
        "--chunk-bytes",
        type=int,
        default=8 << 20,
        help="uncompressed text files larger than this are parsed in parallel chunks",
    )
    io.add_argument(
        "--encoding",
        default="utf-8",
        help="text encoding of the input files (e.g. latin-1, cp1252); lines not valid in it are "
        "rejected as not_<encoding>. A UTF-8 byte-order mark is dropped",
    )
    cols = parser.add_argument_group("columns (csv/tsv/jsonl/parquet; default: detected by common names)")
    cols.add_argument("--user-col", help="user or session id column")
    cols.add_argument("--session-col", dest="user_col", help="alias of --user-col for session data")
    cols.add_argument("--item-col", help="item id column")
    cols.add_argument("--time-col", help="timestamp column (number or ISO-8601)")
    cols.add_argument("--order-col", help="integer order column, used instead of (or to break ties in) time")
    cols.add_argument("--rating-col", help="rating column")
    cols.add_argument("--event-col", help="event type column (view / cart / purchase ...)")
    cols.add_argument(
        "--columns",
        type=csv_list,
        default=(),
        help="csv/tsv files without a header: the names of their columns, in order (e.g. "
        "user,item,category,event,timestamp); the *-col flags and the common-name detection use them",
    )
    cols.add_argument(
        "--item-feature-cols",
        type=csv_list,
        default=(),
        help="comma-separated columns of the log that describe the item: the most frequent value per item becomes "
        "a side feature (see --item-features for tables of their own)",
    )
    cols.add_argument(
        "--time-unit",
        choices=("auto", "s", "ms"),
        default="auto",
        help="unit of numeric times (auto: values above 1e11 are milliseconds)",
    )
    _add_side_feature_args(parser)
    rows = parser.add_argument_group("row checks (failing rows are rejected, counted and written to rejects-*.jsonl)")
    rows.add_argument(
        "--min-time",
        type=time_value,
        default="1990-01-01",
        help="rows whose time (--time-col) is earlier are rejected as time_out_of_range; seconds "
        "since the epoch or an ISO date",
    )
    rows.add_argument(
        "--max-time",
        type=time_value,
        default=None,
        help="rows whose time is later are rejected as time_out_of_range; seconds or an ISO date; "
        "None: the run's start plus one day",
    )
    rows.add_argument(
        "--max-id-length",
        type=int,
        default=DEFAULT_MAX_ID_LENGTH,
        help="user/session and item ids longer than this many characters are rejected as id_too_long",
    )
    flt = parser.add_argument_group("filters")
    flt.add_argument("--min-rating", type=float, default=None, help="keep rows with rating >= this")
    flt.add_argument("--event-types", type=csv_list, default=(), help="keep only these event types (comma-separated)")
    flt.add_argument("--remove-repeats", action="store_true", help="drop an item equal to the item right before it")
    flt.add_argument(
        "--session-gap",
        type=float,
        default=None,
        help="split users' histories into sessions at gaps longer than this many seconds",
    )
    flt.add_argument("--item-min-count", type=int, default=0, help="item k-core: drop items with fewer interactions")
    flt.add_argument("--user-min-count", type=int, default=0, help="user k-core: drop sequences with fewer items")
    flt.add_argument("--kcore-max-rounds", type=int, default=10, help="k-core rounds laid out in the pipeline")
    spl = parser.add_argument_group("split (DESIGN.md §2)")
    spl.add_argument(
        "--split",
        choices=("leave_one_out", "temporal", "session", "cold_start", "none"),
        default="leave_one_out",
        help="evaluation protocol",
    )
    spl.add_argument("--valid-cut", type=time_value, default=None, help="temporal: validation starts here")
    spl.add_argument("--test-cut", type=time_value, default=None, help="temporal: test starts here")
    spl.add_argument("--test-days", type=float, default=1.0, help="session: last N days are test")
    spl.add_argument("--valid-days", type=float, default=0.0, help="session: N days before test are validation")
    spl.add_argument(
        "--test-vocabulary",
        choices=("train", "train_valid"),
        default="train",
        help="session: items a test session keeps: those of train sessions, or of train and "
        "validation sessions (train_valid: the test set does not depend on --valid-days, e.g. "
        "to keep a dataset's given test split while validating on the end of its train period)",
    )
    spl.add_argument(
        "--cold-user-fraction",
        type=float,
        default=0.2,
        help="cold_start: the share of users, by latest first event, held out as new users",
    )
    spl.add_argument(
        "--cold-valid-fraction",
        type=float,
        default=0.0,
        help="cold_start: the share of the new users (the first to arrive among them) whose records go to "
        "cold_valid_k<K> (validation, e.g. to stop meta-training) instead of cold_k<K>",
    )
    spl.add_argument(
        "--support-sizes",
        type=lambda text: tuple(int(x) for x in text.split(",") if x.strip()),
        default=(1, 3, 5),
        help="cold_start: K values, comma-separated; split cold_k<K> gives a new user's first K events",
    )
    spl.add_argument("--query-items", type=int, default=1, help="cold_start: events after the support set to predict")
    out = parser.add_argument_group("records")
    out.add_argument("--max-len", type=int, default=None, help="keep only the latest N items of each sequence")
    out.add_argument("--num-shards", type=int, default=0, help="TFRecord shards per split (0: runner decides)")
    out.add_argument("--compression", choices=("none", "gzip"), default="none", help="TFRecord compression")


def _add_side_feature_args(parser: argparse.ArgumentParser) -> None:
    side = parser.add_argument_group(
        "side features (tables of item / user values; each feature gets a vocabulary and an id -> value ids table)"
    )
    for entity, example in (("item", "item,title,genres"), ("user", "user,gender,age,occupation,zip")):
        side.add_argument(
            f"--{entity}-features",
            action="append",
            default=[],
            metavar="FILE",
            help=f"{entity} feature table (repeatable; file, glob or directory): JSON map {{id: {{field: value or "
            f"[values]}}}} or {{id: [values]}} (.json), JSON Lines (.jsonl), csv/tsv with a header, "
            f"MovieLens :: rows (.dat, with --{entity}-feature-columns)",
        )
        side.add_argument(
            f"--{entity}-feature-fields",
            type=csv_list,
            default=(),
            help=f"fields of the {entity} tables to keep (default: all but the id)",
        )
        side.add_argument(
            f"--{entity}-feature-columns",
            type=csv_list,
            default=(),
            help=f"column names of headerless {entity} tables, in order (e.g. {example})",
        )
        side.add_argument(
            f"--{entity}-feature-id-col",
            default=None,
            help=f"id column of the {entity} tables (default: detected by common names, e.g. {entity}_id)",
        )
    side.add_argument(
        "--feature-separator",
        default="|",
        help="splits a text field into several values (Animation|Comedy); '' keeps fields whole",
    )
    side.add_argument("--feature-encoding", default="utf-8", help="text encoding of the tables (e.g. latin-1)")
    side.add_argument(
        "--max-feature-values",
        type=int,
        default=DEFAULT_MAX_FEATURE_VALUES,
        help="values kept per item (user) and feature, the first ones; the rest are counted as truncated",
    )
    side.add_argument(
        "--feature-min-count",
        type=int,
        default=1,
        help="train interactions a value needs to get an id; rarer values map to OOV (counted as unknown)",
    )


def _side_feature_config(args: argparse.Namespace) -> SideFeatureConfig:
    tables = {
        entity: FeatureTablesConfig(
            entity=entity,
            files=tuple(getattr(args, f"{entity}_features")),
            fields=tuple(getattr(args, f"{entity}_feature_fields")),
            columns=tuple(getattr(args, f"{entity}_feature_columns")),
            id_col=getattr(args, f"{entity}_feature_id_col"),
        )
        for entity in ("item", "user")
    }
    return SideFeatureConfig(
        items=tables["item"],
        users=tables["user"],
        separator=args.feature_separator,
        encoding=args.feature_encoding,
        max_values=args.max_feature_values,
        min_count=args.feature_min_count,
    )


def config_from_args(args: argparse.Namespace):
    return PreprocessConfig(
        inputs=tuple(args.input),
        output=OutputConfig(
            output_dir=args.output_dir,
            max_len=args.max_len,
            num_shards=args.num_shards,
            compression=None if args.compression == "none" else "GZIP",
            base_vocabulary=args.base_vocabulary,
        ),
        reader=ReaderConfig(
            format=args.format,
            delimiter=args.delimiter,
            user_col=args.user_col,
            item_col=args.item_col,
            time_col=args.time_col,
            order_col=args.order_col,
            rating_col=args.rating_col,
            event_col=args.event_col,
            item_feature_cols=tuple(args.item_feature_cols),
            columns=tuple(args.columns),
            time_unit=args.time_unit,
            chunk_bytes=args.chunk_bytes,
            encoding=args.encoding,
            min_time=args.min_time,
            max_time=args.max_time,
            max_id_length=args.max_id_length,
        ),
        filters=FilterConfig(
            min_rating=args.min_rating,
            event_types=tuple(args.event_types),
            remove_consecutive_repeats=args.remove_repeats,
            session_gap_seconds=args.session_gap,
            item_min_count=args.item_min_count,
            user_min_count=args.user_min_count,
            kcore_max_rounds=args.kcore_max_rounds,
        ),
        split=SplitConfig(
            protocol=args.split,
            valid_cut=args.valid_cut,
            test_cut=args.test_cut,
            test_days=args.test_days,
            valid_days=args.valid_days,
            test_vocabulary=args.test_vocabulary,
            cold_user_fraction=args.cold_user_fraction,
            cold_valid_fraction=args.cold_valid_fraction,
            support_sizes=args.support_sizes,
            query_items=args.query_items,
        ),
        side_features=_side_feature_config(args),
    )


def flag_parser() -> argparse.ArgumentParser:
    """A parser of the preprocessing flags alone (no help flag, errors raise ``ValueError``)."""
    parser = _RaisingParser(add_help=False, prog="preprocess")
    add_preprocess_args(parser)
    return parser


def known_flags() -> set[str]:
    """The flag names (without ``--``) :func:`add_preprocess_args` defines."""
    return {s[2:] for action in flag_parser()._actions for s in action.option_strings if s.startswith("--")}


def config_from_flags(flags: Sequence[str]) -> PreprocessConfig:
    """``["--input", "log.csv", "--output-dir", "out", ...]`` -> the config ``tfseqrec preprocess`` would run."""
    return config_from_args(flag_parser().parse_args(list(flags)))


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise ValueError(f"preprocessing flags: {message}")


def check_stats(stats: dict) -> int:
    """Exit status for a finished run: non-zero when k-core did not converge or nothing was kept."""
    status = 0
    kcore = stats.get("kcore")
    if kcore and not kcore.get("converged"):
        print(
            f"error: k-core did not converge within {len(kcore['removed_per_round'])} rounds "
            f"(removed per round: {kcore['removed_per_round']}); re-run with a larger --kcore-max-rounds",
            file=sys.stderr,
        )
        status = 3
    if stats["rows"]["rows_kept"] == 0:
        print("error: no rows were kept; see stats.json for what was filtered or rejected and why", file=sys.stderr)
        status = 4
    return status

"""Typed configuration of the preprocessing pipeline.

The steps, in the order the pipeline applies them (the pure-Python reference follows the same order):

1. **read and parse** every input row into an ``Interaction`` (``sequence key``, item, time, order,
   event type, rating). Malformed rows go to ``rejects`` with file, line and reason: among others, lines
   that are not valid text in ``ReaderConfig.encoding`` (reason ``not_<encoding>``, e.g. ``not_utf8``),
   user/item ids longer than ``max_id_length`` (``id_too_long``) and times outside
   ``[min_time, max_time]`` (``time_out_of_range``).
2. **row filters**: ``min_rating`` (keep rating >= min_rating; rows without a rating are filtered
   too when a minimum is set), ``event_types`` (keep only these types).
3. **group** rows by user (or session id) and **stable-sort** each group by
   ``(time, order column, input position)``; input position is (file index in sorted file list,
   line number, position within the line), so ties in time keep input order.
4. **remove consecutive repeats** (optional): an item equal to the item just before it is dropped.
5. **sessionize** (optional, needs times): a gap longer than ``session_gap_seconds`` between two
   events starts a new session; each session becomes its own sequence.
6. **k-core** (optional): repeatedly drop items with fewer than ``item_min_count`` interactions and
   sequences with fewer than ``user_min_count`` items, until a round drops nothing. Counts are over
   interactions (an item that a user interacted with twice counts twice). At most ``kcore_max_rounds``
   rounds run; if the last one still dropped something, stats.json says ``converged: false`` and the CLI
   exits with status 3.
7. **split** by protocol (``SplitConfig``).
8. **vocabulary**: string item id -> int; 0 = ``[PAD]``, 1 = ``[OOV]``, real items from 2, ordered by
   count in the train split (descending), ties by item id string. Items that occur only in
   validation/test (leave-one-out, temporal) get ids after the trained ones (count 0); so do the items of
   validation sessions under the session split with ``test_vocabulary="train_valid"``.
9. **max length** (optional): keep the latest ``max_len`` items of each input sequence.

Row accounting is exact: rows read = rows kept + rows filtered (per rule) + rows rejected (per reason),
where a kept row is an item in a train sequence, a validation/test target, or (session split) an item of
a validation/test session.

Event types get ids 1..n in sorted order over the sequences left after k-core (0 = padding).

**Side features** (``SideFeatureConfig``, optional) are values per item or per user from tables of their own
(or, with ``item_feature_cols``, the most frequent value of a column of the log per item). Each feature gets a
vocabulary like the items' and a table from item id (user row) to value ids; ``beam_pipelines.side_features``
has the rules.
"""

from __future__ import annotations

import codecs
import dataclasses
from typing import Optional

FORMATS = ("movielens", "csv", "tsv", "jsonl", "parquet", "seq")
SPLITS = ("leave_one_out", "temporal", "session", "cold_start", "none")
TEST_VOCABULARIES = ("train", "train_valid")
DEFAULT_MIN_TIME = 631_152_000.0  # 1990-01-01T00:00:00Z, seconds since the epoch
FUTURE_TOLERANCE_SECONDS = 86_400.0  # default max_time: the run's start plus one day
DEFAULT_MAX_ID_LENGTH = 256
FEATURE_ENTITIES = ("item", "user")
DEFAULT_MAX_FEATURE_VALUES = 16
_INT64_MS_LIMIT_SECONDS = (2**63 - 1) / 1000.0  # times are stored as int64 milliseconds


def codec_name(encoding: str) -> str:
    """Python's name of a text encoding (``latin-1`` -> ``iso8859-1``); ValueError if unknown or unusable.

    The readers split files into lines at ``\\n`` bytes and find delimiters as bytes, so the encoding must
    write ASCII as ASCII (UTF-8, Latin-1, cp1252, Shift-JIS ...); UTF-16/32 files must be converted first.
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(
            f"encoding={encoding!r} is not a text encoding Python knows (e.g. utf-8, latin-1, cp1252)"
        ) from None
    if name == "utf-8-sig":  # a UTF-8 byte-order mark is dropped whatever the name
        return "utf-8"
    try:
        ascii_compatible = '\n,;\t|:{}"az09'.encode(name) == b'\n,;\t|:{}"az09'
    except (UnicodeError, LookupError):
        ascii_compatible = False
    if not ascii_compatible:
        raise ValueError(
            f"encoding={encoding!r} does not write ASCII as single bytes (UTF-16/UTF-32?); convert "
            f"the file to UTF-8 first, e.g. iconv -f UTF-16 -t UTF-8 in.csv > out.csv"
        )
    return name


@dataclasses.dataclass(frozen=True)
class ReaderConfig:
    """How to read the raw log.

    ``format`` is one of ``FORMATS`` or ``None`` to detect it from file extensions:
    ``.dat`` -> movielens (``user::item::rating::timestamp``), ``.csv``/``.tsv`` -> csv/tsv with a header
    (delimiter sniffed among ``, ; \\t |`` unless given), ``.jsonl``/``.json`` -> JSON Lines (flat rows, or
    OTTO-style ``{"session": .., "events": [{"aid", "ts", "type"}]}``), ``.parquet``, ``.txt`` -> seq
    (``user item1 item2 ...`` per line, already in time order; ``user item`` lines are the same format with one
    item per line).

    Column names (``*_col``) apply to csv/tsv/jsonl/parquet; ``None`` means "detect by common names"
    (e.g. ``user_id``, ``userId``, ``session_id``, ``SessionId``, ``session``; ``item_id``, ``ItemId``, ``aid``,
    ``movie_id``; ``timestamp``, ``Time``, ``ts``). ``order_col`` is an integer column that orders a user's rows
    when there is no timestamp (or breaks ties within one). ``time_unit`` says what numeric times mean:
    ``s``, ``ms`` or ``auto`` (values above 1e11 are milliseconds). ISO-8601 strings are accepted too.

    ``columns`` names the columns of csv/tsv files without a header, in order (e.g. Taobao's
    ``user,item,category,event,timestamp``); the names then work with the ``*_col`` options and the common-name
    detection like header names. A file whose first line looks like a header (a field equal to the ``columns``
    name at its position, or two fields that are common column names) is an error; rows with another number
    of fields are rejected as ``wrong_field_count``.

    ``chunk_bytes``: uncompressed text files larger than this are read in chunks of this size by
    different workers (line numbers stay exact); compressed and Parquet files are read whole.

    Hardening against broken logs:

    - ``encoding`` decodes every text line (csv/tsv, MovieLens ``::``, jsonl, seq), compressed and chunked
      files alike; a line that is not valid in it is rejected as ``not_<encoding>`` (``not_utf8`` by default)
      and the reject's detail suggests ``--encoding``. A UTF-8 byte-order mark at the start of a file is
      dropped (spreadsheet exports). Parquet stores its own (UTF-8) strings and ignores ``encoding``.
    - ``min_time`` / ``max_time`` (seconds since the epoch) bound the times of a time column: a row outside
      them is rejected as ``time_out_of_range``. ``min_time`` None means no lower bound; ``max_time`` None
      means the run's start (when the input is planned) plus ``FUTURE_TOLERANCE_SECONDS``. Order columns
      and inputs without times are not checked.
    - ``max_id_length``: user/session and item ids longer than this many characters are rejected
      as ``id_too_long``.
    """

    format: Optional[str] = None
    delimiter: Optional[str] = None
    user_col: Optional[str] = None
    item_col: Optional[str] = None
    time_col: Optional[str] = None
    order_col: Optional[str] = None
    rating_col: Optional[str] = None
    event_col: Optional[str] = None
    item_feature_cols: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    time_unit: str = "auto"
    chunk_bytes: int = 8 << 20
    encoding: str = "utf-8"
    min_time: Optional[float] = DEFAULT_MIN_TIME
    max_time: Optional[float] = None
    max_id_length: int = DEFAULT_MAX_ID_LENGTH

    def __post_init__(self):
        codec_name(self.encoding)
        for name in ("min_time", "max_time"):
            value = getattr(self, name)
            if value is not None and not abs(value) < _INT64_MS_LIMIT_SECONDS:
                raise ValueError(f"{name}={value} is not a time that int64 milliseconds can hold")
        if self.min_time is not None and self.max_time is not None and self.min_time > self.max_time:
            raise ValueError(f"min_time {self.min_time} is after max_time {self.max_time}")
        if self.max_id_length < 1:
            raise ValueError(f"max_id_length={self.max_id_length} must be >= 1")
        if self.chunk_bytes < 1:
            raise ValueError(f"chunk_bytes={self.chunk_bytes} must be >= 1")
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"format={self.format!r} is not one of {', '.join(FORMATS)}")
        if self.time_unit not in ("s", "ms", "auto"):
            raise ValueError(f"time_unit={self.time_unit!r}: use s, ms or auto")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ValueError(f"delimiter={self.delimiter!r} must be a single character")
        check_column_names(self.columns, "columns")
        if self.columns and self.format not in (None, "csv", "tsv"):
            raise ValueError(f"columns apply to csv/tsv files without a header, not to format={self.format!r}")


def check_column_names(names: tuple[str, ...], option: str) -> None:
    """ValueError for an empty or repeated name in a list of column names."""
    if any(not name.strip() for name in names):
        raise ValueError(f"{option}={','.join(names)!r} has an empty column name")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{option} names {', '.join(map(repr, repeated))} more than once")


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    """Row filters and sequence-level cleaning (steps 2, 4, 5, 6).

    ``kcore_max_rounds`` rounds of k-core are laid out in the (static) Beam graph; rounds after the one
    that removed nothing pass sequences through.
    """

    min_rating: Optional[float] = None
    event_types: tuple[str, ...] = ()
    remove_consecutive_repeats: bool = False
    session_gap_seconds: Optional[float] = None
    item_min_count: int = 0
    user_min_count: int = 0
    kcore_max_rounds: int = 10

    def __post_init__(self):
        for name in ("item_min_count", "user_min_count"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0")
        if self.kcore_max_rounds < 1:
            raise ValueError(f"kcore_max_rounds={self.kcore_max_rounds} must be >= 1")
        if self.session_gap_seconds is not None and self.session_gap_seconds <= 0:
            raise ValueError(f"session_gap_seconds={self.session_gap_seconds} must be > 0")

    @property
    def kcore_enabled(self) -> bool:
        return self.item_min_count > 1 or self.user_min_count > 1


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """Evaluation protocol (DESIGN.md §2).

    - ``leave_one_out``: per sequence of length n >= 3, train = seq[:-2]; validation input seq[:-2],
      target seq[-2]; test input seq[:-1], target seq[-1]. Shorter sequences go to train only.
    - ``temporal``: global cut times ``valid_cut`` <= ``test_cut`` (seconds since epoch, or ISO dates).
      Train = events before valid_cut; validation input = train events, targets = events in
      [valid_cut, test_cut); test input = events before test_cut, targets = events from test_cut on.
      A validation/test record is written only when it has targets.
    - ``session``: each sequence is a session; its time is its last event. Test = sessions whose time is
      strictly later than (latest event - ``test_days``); validation = sessions strictly later than
      (that cut - ``valid_days``) and not test; train = the rest. Sessionized keys are ``<user>#<n>``. Items not
      in train sessions are dropped from validation/test sessions
      (counted as ``unseen_item``); validation/test sessions left with fewer than 2 items are dropped
      (``short_eval_session``). Records hold the whole session in ``item_ids`` (the evaluator predicts each
      next item). ``test_vocabulary`` says which items a *test* session keeps: ``"train"`` (default) those
      of train sessions; ``"train_valid"`` those of train or validation sessions (validation-only items
      join the vocabulary with train count 0, like evaluation-only targets of the other protocols). Use
      ``"train_valid"`` to carve a validation split out of a paper's training period without changing the
      paper's test set: the test records are then the same whatever ``valid_days`` is (validation
      sessions still keep only train items).
    - ``cold_start``: users split by the time of their first event. The ``cold_user_fraction`` of users who
      arrived last (first event at or after the cut, the ``1 - fraction`` quantile of first-event times) are
      new users: none of their events is trained on. Every other (warm) user is split leave-one-out into
      train / valid / test. Each new user with at least ``K + query_items`` events gives one record to split
      ``cold_k<K>`` for every ``K`` of ``support_sizes``: input = its first ``K`` events (the support set),
      targets = the ``query_items`` events after them; shorter new users are counted (``short_cold_user``).
      Targets never seen in training join the vocabulary with train count 0 (cold items). With
      ``cold_valid_fraction > 0`` that share of the new users (those who arrived first among them) goes to
      ``cold_valid_k<K>`` instead: new users to validate on (e.g. to stop meta-training) who are not tested.
    - ``none``: everything is train.
    """

    protocol: str = "leave_one_out"
    valid_cut: Optional[float] = None
    test_cut: Optional[float] = None
    test_days: float = 1.0
    valid_days: float = 0.0
    test_vocabulary: str = "train"
    cold_user_fraction: float = 0.2
    cold_valid_fraction: float = 0.0
    support_sizes: tuple = (1, 3, 5)
    query_items: int = 1

    def __post_init__(self):
        if self.protocol not in SPLITS:
            raise ValueError(f"split protocol {self.protocol!r} is not one of {', '.join(SPLITS)}")
        if self.protocol == "temporal":
            if self.valid_cut is None or self.test_cut is None:
                raise ValueError("the temporal split needs --valid-cut and --test-cut (seconds or ISO dates)")
            if self.valid_cut > self.test_cut:
                raise ValueError(f"valid_cut {self.valid_cut} is after test_cut {self.test_cut}")
        if self.test_days <= 0 or self.valid_days < 0:
            raise ValueError("test_days must be > 0 and valid_days >= 0")
        if not 0 < self.cold_user_fraction < 1:
            raise ValueError(f"cold_user_fraction={self.cold_user_fraction} must be in (0, 1)")
        if not 0 <= self.cold_valid_fraction < 1:
            raise ValueError(f"cold_valid_fraction={self.cold_valid_fraction} must be in [0, 1)")
        if not self.support_sizes or any(int(k) < 1 for k in self.support_sizes):
            raise ValueError(f"support_sizes={list(self.support_sizes)} must be positive integers, e.g. 1,3,5")
        if self.query_items < 1:
            raise ValueError(f"query_items={self.query_items} must be >= 1")
        if self.test_vocabulary not in TEST_VOCABULARIES:
            raise ValueError(f"test_vocabulary={self.test_vocabulary!r} is not one of {', '.join(TEST_VOCABULARIES)}")
        if self.test_vocabulary != "train" and self.protocol != "session":
            raise ValueError(
                f"test_vocabulary={self.test_vocabulary!r} applies to the session split only "
                f"(protocol {self.protocol!r} keeps every evaluation target in the vocabulary)"
            )

    def cold_splits(self) -> list:
        """The ``cold_k<K>`` (and ``cold_valid_k<K>``) split names of the cold-start protocol (none for the
        others)."""
        if self.protocol != "cold_start":
            return []
        prefixes = ("cold_k", "cold_valid_k") if self.cold_valid_fraction > 0 else ("cold_k",)
        return [f"{prefix}{int(k)}" for prefix in prefixes for k in self.support_sizes]


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """Where and how records are written. ``base_vocabulary``: the ``vocab.tsv`` of an earlier run (or its
    directory) to extend: its items keep their ids (with this data's counts, 0 when absent) and new items are
    appended after them, so a model trained on the earlier data warm starts on this one (new data arriving as a
    time slice)."""

    output_dir: str
    max_len: Optional[int] = None
    num_shards: int = 0  # 0 lets the runner choose
    compression: Optional[str] = None  # None or "GZIP"
    base_vocabulary: Optional[str] = None

    def __post_init__(self):
        if self.max_len is not None and self.max_len < 1:
            raise ValueError(f"max_len={self.max_len} must be >= 1")
        if self.compression not in (None, "GZIP"):
            raise ValueError(f"compression={self.compression!r}: use None or GZIP")
        if self.num_shards < 0:
            raise ValueError(f"num_shards={self.num_shards} must be >= 0")


@dataclasses.dataclass(frozen=True)
class FeatureTablesConfig:
    """Side-feature tables of one entity (``item`` or ``user``): files that give values per item (user) id.

    - ``files``: one table per entry: a file, a glob or a directory (all files of one entry share a layout and
      form one table). Formats, from the extension or else the first line: a JSON map ``{id: {field: value or
      [values]}}`` or ``{id: [values]}`` (``.json``; one field named after the file), JSON Lines rows
      (``.jsonl``), csv/tsv with a header (``.csv``/``.tsv``), MovieLens ``::`` rows (``.dat``; needs ``columns``).
    - ``fields``: the fields to keep, over all tables of the entity; empty keeps every field but the id.
    - ``columns``: names of the columns of the csv/tsv/``::`` tables, which then have no header, in order (e.g.
      ``item,title,genres``); JSON tables name their fields themselves.
    - ``id_col``: the id column (JSON Lines: key); None: the first common name of the entity's id the table has
      (``item_id``, ``movieId``, ``item`` ...; ``user_id``, ``user`` ...).
    """

    entity: str
    files: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    id_col: Optional[str] = None

    def __post_init__(self):
        if self.entity not in FEATURE_ENTITIES:
            raise ValueError(f"entity={self.entity!r} is not one of {', '.join(FEATURE_ENTITIES)}")
        check_column_names(self.columns, f"{self.entity}_feature_columns")
        check_column_names(self.fields, f"{self.entity}_feature_fields")
        if (self.fields or self.columns or self.id_col) and not self.files:
            raise ValueError(
                f"{self.entity} feature fields/columns/id column are given, but no {self.entity} feature table: "
                f"add --{self.entity}-features FILE"
            )


@dataclasses.dataclass(frozen=True)
class SideFeatureConfig:
    """Side features: item and user tables, and how their values become ids (see ``beam_pipelines.side_features``).

    ``separator`` splits a text field into several values (``Animation|Comedy``; "" keeps whole fields; JSON
    lists are lists already). ``encoding`` is the text encoding of every table (e.g. ``latin-1`` for MovieLens'
    ``movies.dat``). ``max_values``: values kept per item (user) and feature, the first ones in the table's
    order; the rest are counted as truncated. ``min_count``: a value needs this many train interactions (of
    the items, or users, that have it) to get an id; rarer values map to OOV and are counted as unknown.
    """

    items: FeatureTablesConfig = dataclasses.field(default_factory=lambda: FeatureTablesConfig("item"))
    users: FeatureTablesConfig = dataclasses.field(default_factory=lambda: FeatureTablesConfig("user"))
    separator: str = "|"
    encoding: str = "utf-8"
    max_values: int = DEFAULT_MAX_FEATURE_VALUES
    min_count: int = 1

    def __post_init__(self):
        codec_name(self.encoding)
        if self.items.entity != "item" or self.users.entity != "user":
            raise ValueError("SideFeatureConfig: items must hold item tables and users user tables")
        if self.max_values < 1:
            raise ValueError(f"max_values={self.max_values} must be >= 1")
        if self.min_count < 1:
            raise ValueError(f"min_count={self.min_count} must be >= 1")
        if any(c in self.separator for c in "\t\n\r"):
            raise ValueError(f"separator={self.separator!r} may not contain tabs or line breaks")


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """The whole preprocessing run: inputs plus the parts above."""

    inputs: tuple[str, ...]
    output: OutputConfig
    reader: ReaderConfig = dataclasses.field(default_factory=ReaderConfig)
    filters: FilterConfig = dataclasses.field(default_factory=FilterConfig)
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)
    side_features: SideFeatureConfig = dataclasses.field(default_factory=SideFeatureConfig)

    def __post_init__(self):
        if not self.inputs:
            raise ValueError("no input given: pass one or more files, globs or directories")
        if self.split.protocol in ("temporal", "session") and self.reader.format == "seq":
            raise ValueError(f"the {self.split.protocol} split needs timestamps; the seq format has none")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

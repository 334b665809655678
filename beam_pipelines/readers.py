"""Input discovery, format detection and per-row parsing for every supported log format.

Pure Python (no Beam): the pipeline runs ``iter_file_rows`` inside a DoFn, one file per call, and the
pure-Python reference runs the same function, so both see identical rows. Planning (``plan_inputs``)
runs in the driver and fails early, with the file and column named, on problems that would otherwise
reject every row: no files, mixed formats, unknown columns, a header that is not valid in the encoding.
The row checks of ``ReaderConfig`` (encoding, time range, id length) are part of parsing, so the
pipeline and the reference reject the same rows.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime
import json
import os
import posixpath
import re
from collections import Counter
from typing import Iterator, Optional, Union

from beam_pipelines.config import FUTURE_TOLERANCE_SECONDS, ReaderConfig, codec_name
from beam_pipelines.records import Interaction, Reject

_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".deflate")
_EXTENSION_FORMATS = {
    ".dat": "movielens",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".txt": "seq",
}
_MAX_REJECT_TEXT = 500
# Byte-order marks of encodings the readers cannot split into lines (see config.codec_name).
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)

# Column names recognised when a *_col option is not given (compared case-insensitively).
COLUMN_ALIASES = {
    "user": ("user_id", "userid", "user", "session_id", "sessionid", "session", "visitorid", "visitor_id"),
    "item": ("item_id", "itemid", "item", "movie_id", "movieid", "aid", "product_id", "productid"),
    "time": ("timestamp", "time", "ts", "event_time", "datetime", "unix_time"),
    "order": ("seq_pos", "position", "order"),
    "rating": ("rating", "score"),
    "event": ("event_type", "type", "event", "action", "behavior"),
}


class InputError(ValueError):
    """A problem with the input that no row-level reject can express (missing files, unknown columns)."""


@dataclasses.dataclass(frozen=True)
class Columns:
    """Resolved column names (csv/tsv/jsonl/parquet); None when the input has no such column."""

    user: str
    item: str
    time: Optional[str] = None
    order: Optional[str] = None
    rating: Optional[str] = None
    event: Optional[str] = None
    features: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class InputPlan:
    """What the driver decided about the input: files (sorted), format, delimiter, columns, and the row checks.

    ``column_names`` is non-empty for csv/tsv files without a header (``ReaderConfig.columns``): every line is a row.

    ``encoding`` is Python's name of the text encoding; ``min_time_ms`` / ``max_time_ms`` the accepted
    range of times (None: unbounded), resolved once when the input is planned, so that every worker
    applies the same bounds; ``max_id_length`` the longest accepted user/item id.
    """

    files: tuple[str, ...]
    format: str
    columns: Columns
    delimiter: Optional[str] = None
    column_names: tuple[str, ...] = ()  # csv/tsv without a header: the names of its columns
    nested_events: bool = False  # jsonl: OTTO-style {"session", "events": [...]}
    time_unit: str = "auto"
    chunk_bytes: int = 8 << 20
    encoding: str = "utf-8"
    min_time_ms: Optional[int] = None
    max_time_ms: Optional[int] = None
    max_id_length: Optional[int] = None

    @property
    def undecodable_reason(self) -> str:
        """The reject reason of a line that is not valid text in the encoding: ``not_utf8``, ``not_cp1252`` ..."""
        return "not_" + re.sub(r"[^a-z0-9]", "", self.encoding.lower())

    @property
    def has_time(self) -> bool:
        return self.columns.time is not None

    @property
    def has_events(self) -> bool:
        return self.columns.event is not None

    @property
    def has_rating(self) -> bool:
        return self.columns.rating is not None


# ----------------------------------------------------------------------------------------- discovery


def _filesystems():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def strip_compression(path: str) -> str:
    for suffix in _COMPRESSION_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def detect_format(path: str) -> Optional[str]:
    """Format named by a file's extension (ignoring a compression suffix), or None."""
    return _EXTENSION_FORMATS.get(os.path.splitext(strip_compression(path))[1].lower())


def expand_inputs(inputs: tuple[str, ...]) -> list[str]:
    """Files named by paths, globs and directories (all files inside, hidden ones skipped), sorted."""
    fs = _filesystems()
    files: list[str] = []
    for spec in inputs:
        if any(c in spec for c in "*?["):
            pattern = spec
        elif "://" not in spec and os.path.isdir(spec):
            pattern = os.path.join(spec, "*")
        elif "://" in spec and spec.endswith("/"):
            pattern = spec + "*"
        else:
            if not fs.exists(spec):
                raise InputError(f"input {spec!r} does not exist")
            files.append(spec)
            continue
        matched = [m.path for m in fs.match([pattern])[0].metadata_list]
        matched = [
            p
            for p in matched
            if not posixpath.basename(p.rstrip("/")).startswith((".", "_"))
            and not ("://" not in p and os.path.isdir(p))
        ]
        if not matched:
            raise InputError(f"input {spec!r} matches no files")
        files.extend(matched)
    return sorted(set(files))


def open_file(path: str):
    return _filesystems().open(path)  # compression detected from the extension


def strip_bom(raw: bytes, path: str, encoding: str) -> bytes:
    """The first line of a file without its UTF-8 byte-order mark; InputError for a BOM the encoding contradicts."""
    for bom, name in _WIDE_BOMS:
        if raw.startswith(bom):
            raise InputError(
                f"{path} starts with a {name} byte-order mark; the readers need an ASCII-compatible "
                f"encoding: convert it first, e.g. iconv -f {name} -t UTF-8 {path} > converted"
            )
    if raw.startswith(codecs.BOM_UTF8):
        if encoding != "utf-8":
            raise InputError(
                f"{path} starts with a UTF-8 byte-order mark, but --encoding is {encoding}: the file "
                f"is UTF-8; leave --encoding out"
            )
        return raw[len(codecs.BOM_UTF8) :]
    return raw


def _first_raw_lines(path: str, n: int, encoding: str) -> list[bytes]:
    """Up to n non-blank lines from the start of a file, as bytes without line ends or byte-order mark."""
    lines = []
    with open_file(path) as f:
        first = True
        while len(lines) < n:
            raw = f.readline()
            if not raw:
                break
            if first:
                raw, first = strip_bom(raw, path, encoding), False
            raw = raw.rstrip(b"\r\n")
            if raw.strip():
                lines.append(raw)
    return lines


def first_lines(path: str, n: int, encoding: str) -> list[str]:
    """Up to n non-blank decoded lines from the start of a file (undecodable bytes replaced)."""
    return [raw.decode(encoding, errors="replace") for raw in _first_raw_lines(path, n, encoding)]


def _decode_header(path: str, encoding: str) -> Optional[str]:
    """The first non-blank line of a file, decoded; InputError naming the encoding when it is not valid text."""
    lines = _first_raw_lines(path, 1, encoding)
    if not lines:
        return None
    try:
        return lines[0].decode(encoding)
    except UnicodeDecodeError as e:
        raise InputError(
            f"{path}: the header line is not valid {encoding} ({_decode_error(lines[0], e)}); "
            f"name the file's encoding with --encoding (e.g. --encoding latin-1)"
        ) from None


def _decode_error(raw: bytes, e: UnicodeDecodeError) -> str:
    return f"byte 0x{raw[e.start]:02x} at column {e.start + 1}: {e.reason}"


def _resolve(role: str, given: Optional[str], available: list[str], path: str, required: bool) -> Optional[str]:
    """Picks the column for a role: the given name (must exist) or the first alias found."""
    if given is not None:
        if given not in available:
            raise InputError(
                f"{path}: column {given!r} (--{role}-col) is not in the header; columns are: {', '.join(available)}"
            )
        return given
    lowered = {a.lower(): a for a in available}
    for alias in COLUMN_ALIASES[role]:
        if alias in lowered:
            return lowered[alias]
    if required:
        hint = ""
        if any(_is_number(name) for name in available):
            hint = " (if the file has no header, name its columns with --columns, e.g. --columns user,item,timestamp)"
        raise InputError(
            f"{path}: no {role} column found among {', '.join(available)}; name it with --{role}-col{hint}"
        )
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _resolve_columns(cfg: ReaderConfig, available: list[str], path: str, user_available=None) -> Columns:
    columns = Columns(
        user=_resolve("user", cfg.user_col, user_available or available, path, True),
        item=_resolve("item", cfg.item_col, available, path, True),
        time=_resolve("time", cfg.time_col, available, path, False),
        order=_resolve("order", cfg.order_col, available, path, False),
        rating=_resolve("rating", cfg.rating_col, available, path, False),
        event=_resolve("event", cfg.event_col, available, path, False),
        features=tuple(cfg.item_feature_cols),
    )
    for name in columns.features:
        if name not in available:
            raise InputError(
                f"{path}: item feature column {name!r} is not in the header; columns are: {', '.join(available)}"
            )
    if columns.user == columns.item:
        raise InputError(f"{path}: user and item column are both {columns.user!r}; set --user-col/--item-col")
    return columns


def sniff_delimiter(header: str, fmt: str, given: Optional[str]) -> str:
    if given is not None:
        return given
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        return "\t" if fmt == "tsv" else ","
    return best


def plan_inputs(inputs: tuple[str, ...], cfg: ReaderConfig) -> InputPlan:
    """Expands inputs, detects one format for all files and resolves the columns from the first header.

    The time range is fixed here: ``cfg.max_time`` None becomes now + ``FUTURE_TOLERANCE_SECONDS``.
    """
    encoding = codec_name(cfg.encoding)
    if cfg.max_time is not None:
        max_time = cfg.max_time
    else:
        max_time = datetime.datetime.now(datetime.timezone.utc).timestamp() + FUTURE_TOLERANCE_SECONDS
    return dataclasses.replace(
        _plan_inputs(inputs, cfg, encoding),
        chunk_bytes=cfg.chunk_bytes,
        encoding=encoding,
        min_time_ms=None if cfg.min_time is None else int(round(cfg.min_time * 1000)),
        max_time_ms=int(round(max_time * 1000)),
        max_id_length=cfg.max_id_length,
    )


def _plan_inputs(inputs: tuple[str, ...], cfg: ReaderConfig, encoding: str) -> InputPlan:
    files = expand_inputs(tuple(inputs))
    if cfg.format is not None:
        fmt = cfg.format
    else:
        detected = {f: detect_format(f) for f in files}
        unknown = [f for f, d in detected.items() if d is None]
        if unknown:
            raise InputError(
                f"cannot tell the format of {', '.join(unknown[:5])} from the extension; pass --format "
                f"(one of movielens, csv, tsv, jsonl, parquet, seq) or point --input at the data files only"
            )
        formats = sorted(set(detected.values()))
        if len(formats) > 1:
            by_format = {fm: [f for f, d in detected.items() if d == fm][:3] for fm in formats}
            raise InputError(
                "the input mixes formats: "
                + "; ".join(f"{fm}: {', '.join(fs)}" for fm, fs in by_format.items())
                + ". Pass a glob that selects one kind of file (e.g. data/*.csv) and --format if needed"
            )
        fmt = formats[0]
    non_empty = [f for f in files if _first_raw_lines(f, 1, encoding)]
    if not non_empty:
        raise InputError(f"every input file is empty: {', '.join(files[:5])}")
    first = non_empty[0]
    if fmt == "movielens":
        return InputPlan(tuple(files), fmt, Columns("user", "item", "time", None, "rating", None), time_unit="s")
    if fmt == "seq":
        return InputPlan(tuple(files), fmt, Columns("user", "item"))
    if cfg.columns and fmt not in ("csv", "tsv"):
        raise InputError(
            f"--columns names the columns of csv/tsv files without a header; {first} is {fmt}: leave --columns out "
            f"or pass --format csv/tsv"
        )
    if fmt in ("csv", "tsv"):
        # A headerless file's first line is a row: decoded leniently (a bad row is a reject, not an error).
        header_line = first_lines(first, 1, encoding)[0] if cfg.columns else _decode_header(first, encoding)
        delimiter = sniff_delimiter(header_line, fmt, cfg.delimiter)
        if cfg.columns:
            for path in non_empty:
                refuse_header(path, list(cfg.columns), delimiter, encoding, "--columns", COLUMN_ALIASES.values())
            header = list(cfg.columns)
        else:
            header = [h.strip() for h in next(csv.reader([header_line], delimiter=delimiter))]
        return InputPlan(
            tuple(files),
            fmt,
            _resolve_columns(cfg, header, first),
            delimiter=delimiter,
            column_names=tuple(cfg.columns),
            time_unit=cfg.time_unit,
        )
    if fmt == "jsonl":
        obj = first_json_object(first, encoding)
        if isinstance(obj.get("events"), list):
            event_keys = sorted({k for e in obj["events"] if isinstance(e, dict) for k in e})
            columns = _resolve_columns(cfg, event_keys, first, user_available=sorted(obj))
            return InputPlan(tuple(files), fmt, columns, nested_events=True, time_unit=cfg.time_unit)
        return InputPlan(tuple(files), fmt, _resolve_columns(cfg, sorted(obj), first), time_unit=cfg.time_unit)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with open_file(first) as f:
            names = list(pq.ParquetFile(f).schema_arrow.names)
        return InputPlan(tuple(files), fmt, _resolve_columns(cfg, names, first), time_unit=cfg.time_unit)
    raise InputError(f"unknown format {fmt!r}")


def refuse_header(path: str, names: list[str], delimiter: str, encoding: str, option: str, aliases) -> None:
    """InputError when the first line of a file said to have no header looks like one.

    It looks like a header when a field equals (case-insensitively) the name ``option`` gives its position, or when
    two of its fields are common column names (``aliases``: lists of names).
    """
    lines = first_lines(path, 1, encoding)
    if not lines:
        return
    header_line = lines[0]
    fields = [f.strip() for f in next(csv.reader([header_line], delimiter=delimiter))]
    same_place = [f for f, name in zip(fields, names) if f.lower() == name.lower()]
    known = {alias.lower() for group in aliases for alias in group}
    common = [f for f in fields if f.lower() in known]
    if same_place or len(common) >= 2:
        clue = same_place[0] if same_place else ", ".join(common[:3])
        raise InputError(
            f"{path}: the first line {header_line[:120]!r} looks like a header ({clue!r}), but {option} says the "
            f"file has none; leave {option} out to use the header, or remove the header line"
        )


def first_json_object(path: str, encoding: str) -> dict:
    """The first JSON object among the first 50 lines of a JSON Lines file; InputError when there is none."""
    for line in first_lines(path, 50, encoding):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    raise InputError(f"{path}: none of the first 50 lines is a JSON object; is this JSON Lines?")


# ------------------------------------------------------------------------------------------- parsing


def parse_time_ms(value, unit: str) -> int:
    """Milliseconds since the epoch from a number (unit s / ms / auto) or an ISO-8601 string.

    ``auto``: numbers above 1e11 are milliseconds (1e11 s is the year 5138). Naive ISO times are UTC.
    Raises ValueError for anything else.
    """
    if isinstance(value, datetime.datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        return int(round(dt.timestamp() * 1000))
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            if len(text) < 8 or not text[:4].isdigit():
                raise ValueError(f"not a number or ISO-8601 time: {text!r}") from None
            dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=datetime.timezone.utc)
            return int(round(dt.timestamp() * 1000))
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite time: {value!r}")
    if unit == "ms" or (unit == "auto" and abs(number) > 1e11):
        return int(round(number))
    return int(round(number * 1000))


def _clean_id(value) -> str:
    text = str(value).strip() if value is not None else ""
    return text


def _bad_id(text: str) -> bool:
    return "\t" in text or "\n" in text or "\r" in text


def format_time_ms(ms: int) -> str:
    """``2016-05-09T00:00:00Z`` for a time in ms, or the number itself when no calendar date has it."""
    try:
        return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms"


class _RowBuilder:
    """Turns a mapping of role -> raw value into an Interaction or a Reject (shared by all formats)."""

    def __init__(self, plan: InputPlan, path: str, file_index: int):
        self.plan, self.path, self.file_index = plan, path, file_index

    def reject(self, line: int, reason: str, detail: str, text) -> Reject:
        text = text if isinstance(text, str) else repr(text)
        return Reject(self.path, line, reason, detail, text[:_MAX_REJECT_TEXT])

    def build(
        self, line: int, sub: int, user, item, time, order, rating, event, features, text
    ) -> Union[Interaction, Reject]:
        cols = self.plan.columns
        user, item = _clean_id(user), _clean_id(item)
        if not user:
            return self.reject(line, "empty_field", f"field {cols.user!r} (user) is empty", text)
        if not item:
            return self.reject(line, "empty_field", f"field {cols.item!r} (item) is empty", text)
        if _bad_id(user) or _bad_id(item):
            return self.reject(line, "bad_id", "ids may not contain tabs or line breaks", text)
        longest = self.plan.max_id_length
        if longest is not None and (len(user) > longest or len(item) > longest):
            role, value = ("user", user) if len(user) > longest else ("item", item)
            return self.reject(
                line,
                "id_too_long",
                f"the {role} id has {len(value):,} characters, more than --max-id-length {longest}",
                text,
            )
        time_ms = None
        if cols.time is not None:
            if time is None or (isinstance(time, str) and not time.strip()):
                return self.reject(line, "bad_timestamp", f"field {cols.time!r} (time) is empty", text)
            try:
                time_ms = parse_time_ms(time, self.plan.time_unit)
            except (ValueError, OverflowError, OSError) as e:
                return self.reject(line, "bad_timestamp", f"field {cols.time!r}: {e}", text)
            out_of_range = self._time_out_of_range(time_ms, time)
            if out_of_range:
                return self.reject(line, "time_out_of_range", out_of_range, text)
        order_value = None
        if cols.order is not None:
            try:
                order_value = int(float(order))
            except (TypeError, ValueError):
                return self.reject(
                    line, "bad_order", f"field {cols.order!r} (order) is not an integer: {order!r}", text
                )
        rating_value = None
        if cols.rating is not None and rating is not None and str(rating).strip() != "":
            try:
                rating_value = float(rating)
            except (TypeError, ValueError):
                return self.reject(
                    line, "bad_rating", f"field {cols.rating!r} (rating) is not a number: {rating!r}", text
                )
        event_value = None
        if cols.event is not None:
            event_value = _clean_id(event)
            if not event_value:
                return self.reject(line, "empty_field", f"field {cols.event!r} (event type) is empty", text)
        return Interaction(
            user, item, time_ms, order_value, (self.file_index, line, sub), event_value, rating_value, features
        )

    def _time_out_of_range(self, time_ms: int, raw) -> Optional[str]:
        """Why a parsed time is outside the plan's range, or None when it is inside."""
        low, high = self.plan.min_time_ms, self.plan.max_time_ms
        if low is not None and time_ms < low:
            side, bound = "before --min-time", low
        elif high is not None and time_ms > high:
            side, bound = "after --max-time", high
        else:
            return None
        return (
            f"field {self.plan.columns.time!r} = {str(raw)[:40]!r} is {format_time_ms(time_ms)}, {side} "
            f"{format_time_ms(bound)}; give the range of real times with --min-time/--max-time "
            f"(or check --time-unit)"
        )


@dataclasses.dataclass(frozen=True)
class FileChunk:
    """A byte range of one input file. The lines that *start* in ``[start, end)`` belong to it.

    ``end`` None means "to the end of the file". Compressed and Parquet files are one chunk.
    """

    file_index: int
    path: str
    index: int = 0
    start: int = 0
    end: Optional[int] = None

    @property
    def whole_file(self) -> bool:
        return self.start == 0 and self.end is None


def plan_chunks(plan: InputPlan, file_index: int, path: str, chunk_bytes: int, size: int) -> list[FileChunk]:
    """Splits an uncompressed text file of ``size`` bytes into chunks of about ``chunk_bytes``."""
    splittable = plan.format != "parquet" and strip_compression(path) == path
    if not splittable or size <= chunk_bytes:
        return [FileChunk(file_index, path)]
    n = -(-size // chunk_bytes)
    return [
        FileChunk(file_index, path, i, i * chunk_bytes, None if i == n - 1 else (i + 1) * chunk_bytes) for i in range(n)
    ]


def file_size(path: str) -> int:
    return _filesystems().match([path])[0].metadata_list[0].size_in_bytes


def count_newlines(chunk: FileChunk, block: int = 1 << 22) -> int:
    """Number of ``\\n`` bytes in the chunk's byte range (to number lines across chunks)."""
    remaining = None if chunk.end is None else chunk.end - chunk.start
    n = 0
    with _filesystems().open(chunk.path, compression_type="uncompressed") as f:
        f.seek(chunk.start)
        while remaining is None or remaining > 0:
            data = f.read(block if remaining is None else min(block, remaining))
            if not data:
                break
            n += data.count(b"\n")
            if remaining is not None:
                remaining -= len(data)
    return n


def _iter_lines(
    chunk: FileChunk, newlines_before: int, counts: Counter, encoding: str
) -> Iterator[tuple[int, Optional[str], bytes, Optional[str]]]:
    """(line number, decoded text or None, raw bytes, decoding error or None) for each non-blank line of a chunk.

    ``newlines_before`` is the number of ``\\n`` bytes in the file before ``chunk.start``: the line
    starting at byte p has number 1 + (newlines before p). A UTF-8 byte-order mark at the start of the
    file (only chunk 0 has it) is dropped; it changes no line number.
    """
    any_line = False
    if chunk.whole_file:
        opener = open_file(chunk.path)
    else:
        opener = _filesystems().open(chunk.path, compression_type="uncompressed")
    with opener as f:
        number, pos = newlines_before, chunk.start
        if chunk.start > 0:  # skip the line that started in the previous chunk
            f.seek(chunk.start - 1)
            skipped = f.readline()
            pos = chunk.start - 1 + len(skipped)
            number += 1 if len(skipped) > 1 and skipped.endswith(b"\n") else 0
        while chunk.end is None or pos < chunk.end:
            raw = f.readline()
            if not raw:
                break
            raw_text = strip_bom(raw, chunk.path, encoding) if pos == 0 else raw
            number += 1
            pos += len(raw)
            stripped = raw_text.rstrip(b"\r\n")
            if not stripped.strip():
                counts["blank_lines"] += 1
                continue
            any_line = True
            try:
                text = stripped.decode(encoding)
            except UnicodeDecodeError as e:
                yield number, None, stripped, _decode_error(stripped, e)
            else:
                yield number, text, stripped, None
    if not any_line and chunk.whole_file:
        counts["files_empty"] += 1


def iter_file_rows(
    plan: InputPlan, file_index: int, path: str, counts: Counter
) -> Iterator[Union[Interaction, Reject]]:
    """Parses one whole file into Interactions and Rejects, in input order (see ``iter_chunk_rows``)."""
    return iter_chunk_rows(plan, FileChunk(file_index, path), 0, counts)


def iter_chunk_rows(
    plan: InputPlan, chunk: FileChunk, newlines_before: int, counts: Counter
) -> Iterator[Union[Interaction, Reject]]:
    """Parses the lines of one file chunk into Interactions and Rejects, in input order.

    ``counts`` receives ``rows_read`` (every non-blank line or nested event), ``blank_lines`` and
    ``files_empty``. Every row read comes out as exactly one Interaction or one Reject. Line numbers
    are those of the whole file, whichever chunk a line is in.
    """
    path = chunk.path
    builder = _RowBuilder(plan, path, chunk.file_index)
    parse = {
        "movielens": _parse_movielens,
        "seq": _parse_seq,
        "csv": _parse_delimited,
        "tsv": _parse_delimited,
        "jsonl": _parse_jsonl,
    }.get(plan.format)
    if plan.format == "parquet":
        yield from _parse_parquet(plan, path, builder, counts)
        return
    has_header = plan.format in ("csv", "tsv") and not plan.column_names
    header_done = not has_header
    state: dict = _column_index(plan, list(plan.column_names), path) if plan.column_names else {}
    if has_header and chunk.start > 0:  # the header is the file's first non-blank line, in chunk 0
        first = _first_raw_lines(path, 1, plan.encoding)
        state = _file_header(plan, first[0] if first else None, path)
        header_done = True
    for number, text, raw, decode_error in _iter_lines(chunk, newlines_before, counts, plan.encoding):
        if not header_done:
            header_done = True
            state = _file_header(plan, raw, path)
            if text is not None:
                continue
        if text is None:
            counts["rows_read"] += 1
            yield builder.reject(
                number,
                plan.undecodable_reason,
                f"line is not valid {plan.encoding} ({decode_error}); if the file has another "
                f"encoding, name it with --encoding (e.g. --encoding latin-1)",
                raw.decode(plan.encoding, errors="backslashreplace"),
            )
            continue
        yield from parse(plan, builder, number, text, counts, state)


def _parse_movielens(plan, builder, number, text, counts, state):
    counts["rows_read"] += 1
    fields = text.split("::")
    if len(fields) != 4:
        yield builder.reject(
            number, "wrong_field_count", f"expected 4 fields user::item::rating::timestamp, got {len(fields)}", text
        )
        return
    yield builder.build(number, 0, fields[0], fields[1], fields[3], None, fields[2], None, None, text)


def _parse_seq(plan, builder, number, text, counts, state):
    fields = text.split()
    if len(fields) < 2:
        counts["rows_read"] += 1
        yield builder.reject(number, "wrong_field_count", "expected 'user item [item ...]'", text)
        return
    user = fields[0]
    for sub, item in enumerate(fields[1:]):
        counts["rows_read"] += 1
        yield builder.build(number, sub, user, item, None, None, None, None, None, text)


def _file_header(plan: InputPlan, raw: Optional[bytes], path: str) -> dict:
    """Column indices for one csv/tsv file; a file whose header lacks a column rejects all its rows."""
    try:
        text = raw.decode(plan.encoding) if raw is not None else None
    except UnicodeDecodeError as e:
        return {
            "error": f"the header line of {path} is not valid {plan.encoding} ({_decode_error(raw, e)}); "
            f"name the file's encoding with --encoding"
        }
    if text is None:
        return {"error": f"{path} has no header line"}
    header = [h.strip() for h in next(csv.reader([text], delimiter=plan.delimiter))]
    return _column_index(plan, header, path)


def _column_index(plan: InputPlan, header: list[str], path: str) -> dict:
    """Position of each role's column in ``header`` (a file's header, or the names of ``--columns``)."""
    cols = plan.columns
    wanted = {
        "user": cols.user,
        "item": cols.item,
        "time": cols.time,
        "order": cols.order,
        "rating": cols.rating,
        "event": cols.event,
    }
    index = {}
    for role, name in wanted.items():
        if name is None:
            index[role] = None
        elif name in header:
            index[role] = header.index(name)
        else:
            return {"error": f"header of {path} has no column {name!r} ({role}); it has {', '.join(header)}"}
    missing = [n for n in cols.features if n not in header]
    if missing:
        return {"error": f"header of {path} has no item feature column {missing[0]!r}"}
    index["features"] = [header.index(n) for n in cols.features]
    index["width"] = len(header)
    return index


def _parse_delimited(plan, builder, number, text, counts, state):
    counts["rows_read"] += 1
    if "error" in state:
        yield builder.reject(number, "header_mismatch", state["error"], text)
        return
    try:
        fields = text.split(plan.delimiter) if '"' not in text else next(csv.reader([text], delimiter=plan.delimiter))
    except csv.Error as e:  # e.g. a quoted field longer than the csv module's field size limit
        yield builder.reject(number, "bad_csv", f"the line cannot be parsed as CSV: {e}", text)
        return
    if len(fields) != state["width"]:
        yield builder.reject(number, "wrong_field_count", f"expected {state['width']} fields, got {len(fields)}", text)
        return
    get = lambda role: fields[state[role]] if state[role] is not None else None  # noqa: E731
    features = tuple(fields[i].strip() for i in state["features"]) if state["features"] else None
    yield builder.build(
        number, 0, get("user"), get("item"), get("time"), get("order"), get("rating"), get("event"), features, text
    )


def _from_mapping(plan, builder, number, sub, user, row: dict, text):
    cols = plan.columns
    for role, name in (("item", cols.item), ("time", cols.time), ("order", cols.order), ("event", cols.event)):
        if name is not None and name not in row:
            return builder.reject(number, "missing_field", f"field {name!r} ({role}) is missing", text)
    features = tuple(_clean_id(row.get(n)) for n in cols.features) if cols.features else None
    return builder.build(
        number,
        sub,
        user,
        row.get(cols.item),
        row.get(cols.time) if cols.time else None,
        row.get(cols.order) if cols.order else None,
        row.get(cols.rating) if cols.rating else None,
        row.get(cols.event) if cols.event else None,
        features,
        text,
    )


def _parse_jsonl(plan, builder, number, text, counts, state):
    try:
        obj = json.loads(text)
    except ValueError as e:
        counts["rows_read"] += 1
        yield builder.reject(number, "bad_json", str(e), text)
        return
    if not isinstance(obj, dict):
        counts["rows_read"] += 1
        yield builder.reject(number, "bad_json", "line is not a JSON object", text)
        return
    cols = plan.columns
    if cols.user not in obj:
        counts["rows_read"] += 1
        yield builder.reject(number, "missing_field", f"field {cols.user!r} (user) is missing", text)
        return
    if plan.nested_events:
        events = obj.get("events")
        if not isinstance(events, list):
            counts["rows_read"] += 1
            yield builder.reject(number, "missing_field", "field 'events' is missing or not a list", text)
            return
        for sub, event in enumerate(events):
            counts["rows_read"] += 1
            if not isinstance(event, dict):
                yield builder.reject(number, "bad_json", f"event {sub} is not a JSON object", text)
            else:
                yield _from_mapping(plan, builder, number, sub, obj[cols.user], event, text)
        return
    counts["rows_read"] += 1
    yield _from_mapping(plan, builder, number, 0, obj[cols.user], obj, text)


def _parse_parquet(plan, path, builder, counts):
    import pyarrow.parquet as pq

    cols = plan.columns
    wanted = [c for c in (cols.user, cols.item, cols.time, cols.order, cols.rating, cols.event) if c] + list(
        cols.features
    )
    with open_file(path) as f:
        parquet = pq.ParquetFile(f)
        missing = [c for c in wanted if c not in parquet.schema_arrow.names]
        number = 0
        for batch in parquet.iter_batches(columns=[c for c in wanted if c not in missing]):
            for row in batch.to_pylist():
                number += 1
                counts["rows_read"] += 1
                text = json.dumps(row, default=str, ensure_ascii=False)
                if missing:
                    yield builder.reject(number, "header_mismatch", f"{path} has no column {missing[0]!r}", text)
                elif row.get(cols.user) is None:
                    yield builder.reject(number, "empty_field", f"field {cols.user!r} (user) is empty", text)
                else:
                    yield _from_mapping(plan, builder, number, 0, row[cols.user], row, text)
        if number == 0:
            counts["files_empty"] += 1

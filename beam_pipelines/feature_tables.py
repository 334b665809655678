"""Side-feature tables: planning (in the driver) and parsing (one file per call) of item and user tables.

Pure Python like ``readers``: the pipeline runs ``iter_table_rows`` inside a DoFn. A table gives, per id, the values
of some fields; every kept field becomes a feature named after it (a JSON map of plain lists, e.g. S3-Rec's
``Beauty_item2attributes.json``, gives one feature named after the file). Formats:

- ``json``: one JSON object ``{id: {field: value or [values]}}`` or ``{id: value or [values]}``; read whole.
- ``jsonl``: one object per line with the id field and the fields.
- ``csv`` / ``tsv``: a header line (or ``columns`` for headerless files), delimiter sniffed among ``, ; TAB |``.
- ``movielens``: ``::``-separated rows without a header (``movies.dat``: ``item::title::genres``); needs ``columns``.

Text fields are split into values at ``separator`` (``Animation|Comedy``); JSON values are used as they are (a list
is several values; numbers and booleans as their JSON text). Values are stripped; empty ones are dropped.
Malformed rows (wrong field count, empty id, a nested JSON value, undecodable text ...) become ``Reject``s,
counted per table and written to ``feature_rejects-*.jsonl``; they never stop a run. Problems that would reject
every row (no file, an unknown column, a header where ``columns`` says there is none) stop it before it starts.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from typing import Iterator, NamedTuple, Optional, Union

from beam_pipelines.config import FeatureTablesConfig, SideFeatureConfig, codec_name
from beam_pipelines.readers import (
    COLUMN_ALIASES,
    InputError,
    first_json_object,
    first_lines,
    open_file,
    strip_compression,
    expand_inputs,
    refuse_header,
    strip_bom,
)
from beam_pipelines.records import Reject

TABLE_FORMATS = ("json", "jsonl", "csv", "tsv", "movielens")
INTERACTIONS_SOURCE = "interactions"  # the source of --item-feature-cols features
_TABLE_EXTENSIONS = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".dat": "movielens",
}
_MAX_REJECT_TEXT = 500


class FeatureRow(NamedTuple):
    """The values one table row gives one feature of one id; ``pos`` = (table, file, line, entry) orders merges."""

    name: str
    key: str
    values: tuple
    pos: tuple


@dataclasses.dataclass(frozen=True)
class TablePlan:
    """What the driver decided about one table: its files, format, id column and the fields kept as features.

    ``index`` numbers the tables of a run (its counters are ``table/<index>/...``). ``column_names`` are the
    names of a headerless table's columns (csv/tsv/movielens); csv/tsv with a header read each file's header.
    ``list_feature`` is the feature name of a JSON map whose values are plain values or lists.
    """

    entity: str
    index: int
    source: str
    files: tuple[str, ...]
    format: str
    fields: tuple[str, ...]
    id_col: Optional[str] = None
    column_names: tuple[str, ...] = ()
    delimiter: Optional[str] = None
    list_feature: Optional[str] = None
    encoding: str = "utf-8"
    separator: str = "|"

    @property
    def undecodable_reason(self) -> str:
        return "not_" + re.sub(r"[^a-z0-9]", "", self.encoding.lower())

    def describe(self) -> dict:
        """The table as ``stats.json`` lists it."""
        return {
            "entity": self.entity,
            "source": self.source,
            "files": len(self.files),
            "format": self.format,
            "id_col": self.id_col,
            "fields": list(self.fields),
        }


# ------------------------------------------------------------------------------------------ planning


def plan_feature_tables(cfg: SideFeatureConfig, interaction_features: tuple[str, ...] = ()) -> tuple[TablePlan, ...]:
    """Plans every item and user table; InputError naming the file for problems that would reject every row.

    ``interaction_features`` are the ``--item-feature-cols`` names: item features too, so no table may reuse them.
    """
    encoding = codec_name(cfg.encoding)
    plans: list[TablePlan] = []
    for tables in (cfg.items, cfg.users):
        entity_plans = []
        for source in tables.files:
            plan = _plan_table(source, tables, len(plans) + len(entity_plans), encoding, cfg.separator)
            entity_plans.append(plan)
        taken = interaction_features if tables.entity == "item" else ()
        plans.extend(_select_fields(entity_plans, tables, taken))
    return tuple(plans)


def _plan_table(source: str, tables: FeatureTablesConfig, index: int, encoding: str, separator: str) -> TablePlan:
    files = [f for f in expand_inputs((source,)) if first_lines(f, 1, encoding)]
    if not files:
        raise InputError(f"{tables.entity} feature table {source!r}: every file is empty")
    formats = {f: _table_format(f, encoding) for f in files}
    if len(set(formats.values())) > 1:
        raise InputError(
            f"{tables.entity} feature table {source!r} mixes formats ({', '.join(sorted(set(formats.values())))}); "
            f"pass files of one kind"
        )
    fmt = formats[files[0]]
    base = TablePlan(tables.entity, index, source, tuple(files), fmt, (), encoding=encoding, separator=separator)
    if fmt == "json":
        return _plan_json_map(base, tables)
    if fmt == "jsonl":
        names = list(first_json_object(files[0], encoding))
    elif fmt == "movielens":
        if not tables.columns:
            raise InputError(
                f"{files[0]}: a MovieLens :: table has no header; name its columns with "
                f"--{tables.entity}-feature-columns (e.g. item,title,genres for movies.dat)"
            )
        names = list(tables.columns)
        base = dataclasses.replace(base, column_names=_stripped(names), delimiter="::")
    else:
        first_line = first_lines(files[0], 1, encoding)[0]
        delimiter = _table_delimiter(first_line, fmt, separator if tables.columns else "")
        if tables.columns:
            for path in files:
                refuse_header(
                    path, list(tables.columns), delimiter, encoding, f"--{tables.entity}-feature-columns", _aliases()
                )
            names = list(tables.columns)
            base = dataclasses.replace(base, column_names=_stripped(names))
        else:
            names = [h.strip() for h in next(csv.reader([first_line], delimiter=delimiter))]
        base = dataclasses.replace(base, delimiter=delimiter)
    id_col = _id_column(tables, names, files[0])
    return dataclasses.replace(base, id_col=id_col, fields=tuple(n for n in names if n != id_col and n.strip()))


def _table_delimiter(first_line: str, fmt: str, separator: str) -> str:
    """Tab for tsv; else the most frequent of ``, ; TAB |`` in the first line. A headerless table's first line holds
    values, so its value ``separator`` only counts when no other delimiter occurs."""
    if fmt == "tsv":
        return "\t"
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|") if first_line.count(d)}
    if separator and len(counts) > 1:
        counts.pop(separator, None)
    return max(counts, key=counts.get) if counts else ","


def _stripped(names) -> tuple[str, ...]:
    return tuple(n.strip() for n in names)


def _aliases():
    return (COLUMN_ALIASES["user"], COLUMN_ALIASES["item"])


def _table_format(path: str, encoding: str) -> str:
    """The format named by the extension, or else told by the first line (``{`` JSON, ``::`` MovieLens, else csv)."""
    fmt = _TABLE_EXTENSIONS.get(os.path.splitext(strip_compression(path))[1].lower())
    if fmt is not None:
        return fmt
    lines = first_lines(path, 2, encoding)
    first = lines[0].lstrip()
    if first.startswith("{"):
        try:
            json.loads(first)
        except ValueError:
            return "json"  # an object over several lines
        return "jsonl" if len(lines) > 1 else "json"
    return "movielens" if "::" in first else "csv"


def _id_column(tables: FeatureTablesConfig, names: list[str], path: str) -> str:
    option = f"--{tables.entity}-feature-id-col"
    if tables.id_col is not None:
        if tables.id_col not in names:
            raise InputError(f"{path}: id column {tables.id_col!r} ({option}) is not one of {', '.join(names)}")
        return tables.id_col
    lowered = {n.lower(): n for n in names}
    for alias in COLUMN_ALIASES[tables.entity]:
        if alias in lowered:
            return lowered[alias]
    raise InputError(
        f"{path}: no {tables.entity} id column found among {', '.join(names)}; name it with {option}"
        + (f" or name the columns with --{tables.entity}-feature-columns" if not tables.columns else "")
    )


def read_json_map(path: str, encoding: str) -> dict:
    """The whole JSON object of a ``json`` table; InputError when the file is not one JSON object."""
    with open_file(path) as f:
        raw = strip_bom(f.read(), path, encoding)
    try:
        obj = json.loads(raw.decode(encoding))
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{path}: not a JSON object in {encoding} ({e}); a JSON map table is one object") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: a JSON map table is one object {{id: ...}}, not a {type(obj).__name__}")
    return obj


def _plan_json_map(base: TablePlan, tables: FeatureTablesConfig) -> TablePlan:
    """Fields of a JSON map: the keys of its object values (then a value that is no object is a rejected row), or,
    when no value is an object, one feature named after the file."""
    fields: dict[str, None] = {}
    for path in base.files:
        for value in read_json_map(path, base.encoding).values():
            if isinstance(value, dict):
                fields.update(dict.fromkeys(value))
    if not fields:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(strip_compression(base.files[0])).split(".")[0])
        return dataclasses.replace(base, fields=(name,), list_feature=name)
    return dataclasses.replace(base, fields=tuple(fields))


def _select_fields(plans: list[TablePlan], tables: FeatureTablesConfig, taken: tuple[str, ...]) -> list[TablePlan]:
    """Keeps the fields ``tables.fields`` names (all when empty); InputError for an unknown or repeated name."""
    available = [name for plan in plans for name in plan.fields]
    unknown = [name for name in tables.fields if name not in available]
    if unknown:
        raise InputError(
            f"--{tables.entity}-feature-fields {', '.join(unknown)}: not a field of the {tables.entity} tables; "
            f"their fields are {', '.join(available) or 'none'}"
        )
    selected, seen = [], {name: "--item-feature-cols" for name in taken}
    for plan in plans:
        kept = tuple(n for n in plan.fields if not tables.fields or n in tables.fields)
        if not kept:
            raise InputError(
                f"{tables.entity} feature table {plan.source} keeps none of its fields ({', '.join(plan.fields)}) "
                f"with --{tables.entity}-feature-fields {','.join(tables.fields)}; drop the table or add a field"
            )
        for name in kept:
            if any(c in name for c in "\t\n\r"):
                raise InputError(f"{plan.source}: the field name {name!r} holds a tab or line break; rename it")
            if name in seen:
                raise InputError(
                    f"{tables.entity} feature {name!r} comes from both {seen[name]} and {plan.source}; keep one "
                    f"with --{tables.entity}-feature-fields, or rename a column"
                )
            seen[name] = plan.source
        selected.append(dataclasses.replace(plan, fields=kept))
    return selected


# ------------------------------------------------------------------------------------------- parsing


def iter_table_rows(plan: TablePlan, file_index: int, path: str, counts) -> Iterator[Union[FeatureRow, Reject]]:
    """Parses one table file into FeatureRows (one per kept field with values) and Rejects, in file order.

    ``counts`` receives ``table/<index>/rows_read`` (JSON map: entries) and ``table/<index>/rejected/<reason>``.
    """
    parse = _parse_json_map if plan.format == "json" else _parse_lines
    prefix = f"table/{plan.index}/"
    for row in parse(plan, file_index, path, counts, prefix):
        if isinstance(row, Reject):
            counts[prefix + "rejected/" + row.reason] += 1
        yield row


def _reject(path: str, line: int, reason: str, detail: str, text) -> Reject:
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return Reject(path, line, reason, detail, text[:_MAX_REJECT_TEXT])


def json_values(value) -> Optional[tuple]:
    """A JSON value as value strings: null -> (), a scalar -> one, a list of scalars -> each; None when nested."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, (dict, list)):
            return None
        text = item.strip() if isinstance(item, str) else json.dumps(item)
        if text and text != "null":
            out.append(text)
    return tuple(out)


def text_values(text: str, separator: str) -> tuple:
    """A text field as values: split at ``separator`` (unless empty), stripped, empty ones dropped."""
    parts = text.split(separator) if separator else [text]
    return tuple(p.strip() for p in parts if p.strip())


def _clean_key(value) -> Optional[str]:
    """The id as a string, or None when it is empty or holds tabs / line breaks (ids live in TSV files)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = value.strip() if isinstance(value, str) else json.dumps(value)
    if not text or any(c in text for c in "\t\n\r"):
        return None
    return text


def _parse_json_map(plan: TablePlan, file_index: int, path: str, counts, prefix: str):
    for entry, (raw_key, value) in enumerate(read_json_map(path, plan.encoding).items(), 1):
        counts[prefix + "rows_read"] += 1
        key = _clean_key(raw_key)
        if key is None:
            yield _reject(path, entry, "bad_id", "the id is empty or holds tabs or line breaks", {raw_key: value})
            continue
        pos = (plan.index, file_index, entry, 0)
        fields = {plan.list_feature: value} if plan.list_feature else value
        if not isinstance(fields, dict):
            yield _reject(path, entry, "bad_value", f"id {key!r}: expected an object of fields", {raw_key: value})
            continue
        yield from _json_fields(plan, path, entry, key, fields, pos, {raw_key: value})


def _json_fields(plan: TablePlan, path: str, line: int, key: str, fields: dict, pos: tuple, text):
    for name in plan.fields:
        values = json_values(fields.get(name))
        if values is None:
            yield _reject(path, line, "bad_value", f"id {key!r}, field {name!r}: a nested JSON value", text)
        elif values:
            yield FeatureRow(name, key, values, pos)


def _parse_lines(plan: TablePlan, file_index: int, path: str, counts, prefix: str):
    """csv/tsv/movielens/jsonl: one row per non-blank line (after the header of a csv/tsv with one)."""
    index = _line_index(plan, plan.column_names) if plan.column_names else None
    header_pending = plan.format in ("csv", "tsv") and not plan.column_names
    for number, raw in _raw_lines(path, plan.encoding):
        try:
            text = raw.decode(plan.encoding)
        except UnicodeDecodeError as e:
            if header_pending:
                index, header_pending = {"error": f"the header is not valid {plan.encoding} ({e.reason})"}, False
                continue
            counts[prefix + "rows_read"] += 1
            detail = f"line is not valid {plan.encoding}; name the encoding with --feature-encoding"
            yield _reject(path, number, plan.undecodable_reason, detail, raw.decode(plan.encoding, "backslashreplace"))
            continue
        if header_pending:
            header_pending = False
            header = [h.strip() for h in next(csv.reader([text], delimiter=plan.delimiter))]
            index = _line_index(plan, header)
            continue
        counts[prefix + "rows_read"] += 1
        yield from _parse_line(plan, path, number, text, index, (plan.index, file_index, number, 0))


def _raw_lines(path: str, encoding: str) -> Iterator[tuple[int, bytes]]:
    with open_file(path) as f:
        for number, raw in enumerate(f, 1):
            if number == 1:
                raw = strip_bom(raw, path, encoding)
            raw = raw.rstrip(b"\r\n")
            if raw.strip():
                yield number, raw


def _line_index(plan: TablePlan, names) -> dict:
    """Column positions of the id and the kept fields in ``names`` (a header, or the given column names)."""
    names = list(names)
    missing = [n for n in (plan.id_col, *plan.fields) if n not in names]
    if missing:
        return {"error": f"the header has no column {missing[0]!r}; it has {', '.join(names)}"}
    return {"id": names.index(plan.id_col), "fields": [(n, names.index(n)) for n in plan.fields], "width": len(names)}


def _parse_line(plan: TablePlan, path: str, number: int, text: str, index: Optional[dict], pos: tuple):
    if plan.format == "jsonl":
        yield from _parse_json_line(plan, path, number, text, pos)
        return
    if index is None or "error" in index:
        yield _reject(path, number, "header_mismatch", (index or {}).get("error", "no header"), text)
        return
    if plan.format == "movielens":
        fields = text.split("::")
    else:
        try:
            quoted = '"' in text
            fields = next(csv.reader([text], delimiter=plan.delimiter)) if quoted else text.split(plan.delimiter)
        except csv.Error as e:
            yield _reject(path, number, "bad_csv", f"the line cannot be parsed as CSV: {e}", text)
            return
    if len(fields) != index["width"]:
        yield _reject(path, number, "wrong_field_count", f"expected {index['width']} fields, got {len(fields)}", text)
        return
    key = _clean_key(fields[index["id"]])
    if key is None:
        yield _reject(path, number, "bad_id", f"the id ({plan.id_col!r}) is empty or holds tabs", text)
        return
    for name, i in index["fields"]:
        values = text_values(fields[i], plan.separator)
        if values:
            yield FeatureRow(name, key, values, pos)


def _parse_json_line(plan: TablePlan, path: str, number: int, text: str, pos: tuple):
    try:
        obj = json.loads(text)
    except ValueError as e:
        yield _reject(path, number, "bad_json", str(e), text)
        return
    if not isinstance(obj, dict):
        yield _reject(path, number, "bad_json", "line is not a JSON object", text)
        return
    key = _clean_key(obj.get(plan.id_col))
    if key is None:
        yield _reject(path, number, "bad_id", f"the id ({plan.id_col!r}) is missing, empty or holds tabs", text)
        return
    yield from _json_fields(plan, path, number, key, obj, pos, text)

"""Side features, step by step: from the rows of a table to a vocabulary per feature and a table id -> value ids.

Plain functions (the PTransforms in ``feature_transforms`` call them). The rules, per entity (items or users) and
feature:

1. **merge**: the rows that give one id values of one feature are joined in table order (table, file, line); a
   value given twice for the same id is kept once (counted ``values_repeated``).
2. **join**: ids not in the entity's vocabulary are dropped and counted (``ids_not_in_vocabulary``). The item
   vocabulary is ``vocab.tsv``; the user vocabulary is every user (sequence key) of the sequences, ordered like
   items by train interactions (descending), ties by id, from row 2.
3. **cap**: the first ``max_values`` values of an id are kept; the rest are counted (``ids_truncated``,
   ``values_truncated``).
4. **vocabulary**: a value's count is the number of train interactions of the ids that keep it. Values counted
   at least ``min_count`` times get ids from 2, by count (descending), ties by value; 0 = ``[PAD]``,
   1 = ``[OOV]``. Values of ids that training never saw (evaluation-only items) thus map to OOV.
5. **table**: one row per vocabulary id: the ids of its kept values, in table order; a value outside the
   feature vocabulary becomes OOV (``values_unknown``; several OOVs of one row are kept once); an id with no value
   gets ``[OOV]`` (``missing``). Row 0 (``[PAD]``) is empty and row 1 (``[OOV]``) is ``[OOV]``, so that every
   real row holds at least one non-zero id. The dense form is ``[rows, max_values]``, padded with 0, where
   ``max_values`` is the longest row (at least 1).
"""

from __future__ import annotations

from typing import Iterable

from tfseqrec.data.spec import SideFeatureInfo, SideFeatureTable
from tfseqrec.ids import FIRST_ITEM_ID, OOV_ID, OOV_TOKEN, PAD_TOKEN

TABLE_FILES = {"item": "item_features.tsv", "user": "user_features.tsv"}
KEY_COLUMNS = {"item": "id", "user": "row"}


def vocabulary_filename(entity: str, name: str) -> str:
    """``item_feature_<name>.tsv``: the vocabulary file of one feature (characters unsafe in file names -> ``_``)."""
    safe = "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)
    return f"{entity}_feature_{safe}.tsv"


def counter(entity: str, what: str, name: str) -> str:
    """The name of a per-feature counter in the run's counts: ``feature/<entity>/<what>/<name>``."""
    return f"feature/{entity}/{what}/{name}"


def merge_values(parts: Iterable[tuple[tuple, tuple]]) -> tuple[tuple, int]:
    """``[(position, values), ...]`` of one id and feature -> (values in position order without repeats, repeats)."""
    seen: dict[str, None] = {}
    total = 0
    for _, values in sorted(parts, key=lambda part: part[0]):
        total += len(values)
        seen.update(dict.fromkeys(values))
    return tuple(seen), total - len(seen)


def cap_values(values: tuple, max_values: int) -> tuple[tuple, int]:
    """The first ``max_values`` values, and how many were dropped."""
    return values[:max_values], max(0, len(values) - max_values)


def value_vocabulary(counts: dict, min_count: int) -> list[tuple[str, int]]:
    """``{value: train count}`` -> ``[(value, count), ...]`` with count >= min_count, by count (desc), then value."""
    kept = [(value, n) for value, n in counts.items() if n >= min_count]
    return sorted(kept, key=lambda kv: (-kv[1], kv[0]))


def value_ids(vocabulary: list) -> dict:
    """``{value: id}`` with ids from 2 (0 = padding, 1 = OOV)."""
    return {value: i + FIRST_ITEM_ID for i, (value, _) in enumerate(vocabulary)}


def encode_values(values: tuple, ids: dict) -> tuple[list, int]:
    """Value ids of one row (OOV for unknown values, kept once) and the number of unknown values."""
    out, unknown = [], 0
    for value in values:
        value_id = ids.get(value, OOV_ID)
        if value_id == OOV_ID:
            unknown += 1
            if OOV_ID in out:
                continue
        out.append(value_id)
    return out, unknown


def vocabulary_text(vocabulary: list) -> str:
    """A feature vocabulary file: ``value<TAB>train count`` per line, line number = id (like ``vocab.tsv``)."""
    lines = [f"{PAD_TOKEN}\t0", f"{OOV_TOKEN}\t0"] + [f"{value}\t{n}" for value, n in vocabulary]
    return "\n".join(lines) + "\n"


def table_rows(num_rows: int, rows: dict) -> tuple[list, dict]:
    """``{row id: value ids}`` of one feature -> (the list for rows 0..num_rows-1, summary).

    Rows without values (and row 1, OOV) get ``[OOV]``; row 0 stays empty. The summary has ``covered`` (real rows
    with values), ``missing`` (real rows without), ``max_values`` (the longest row, at least 1) and
    ``multi_valued`` (a row holds more than one id).
    """
    table = [[]] + [[OOV_ID] for _ in range(1, num_rows)]
    covered = 0
    for row, ids in rows.items():
        if FIRST_ITEM_ID <= row < num_rows and ids:
            table[row] = list(ids)
            covered += 1
    longest = max((len(ids) for ids in table), default=1)
    real = max(0, num_rows - FIRST_ITEM_ID)
    return table, {
        "covered": covered,
        "missing": real - covered,
        "coverage": round(covered / real, 6) if real else 0.0,
        "max_values": max(1, longest),
        "multi_valued": longest > 1,
    }


def table_text(entity: str, keys: list, columns: dict) -> str:
    """The table file: a header ``id|row<TAB><entity><TAB><feature>...`` and one line per row, in row order.

    ``keys`` are the entity ids (strings) of rows 0.., ``[PAD]`` and ``[OOV]`` first; ``columns`` maps each feature
    to its rows (lists of value ids), written space-separated.
    """
    names = list(columns)
    lines = ["\t".join([KEY_COLUMNS[entity], entity] + names)]
    for row, key in enumerate(keys):
        lines.append("\t".join([str(row), key] + [" ".join(map(str, columns[name][row])) for name in names]))
    return "\n".join(lines) + "\n"


def entity_keys(vocabulary: list) -> list:
    """Row keys: ``[PAD]``, ``[OOV]``, then the ids of ``[(id, count), ...]`` in order."""
    return [PAD_TOKEN, OOV_TOKEN] + [key for key, _ in vocabulary]


def feature_summary(entity: str, name: str, source: str, num_values: int, table_summary: dict, counts: dict) -> dict:
    """What ``feature_spec.json`` and ``stats.json`` say about one feature (``counts``: the run's counters)."""
    return {
        "field": name,
        "source": source,
        "vocabulary_file": vocabulary_filename(entity, name),
        "vocabulary_size": num_values + FIRST_ITEM_ID,
        "num_values": num_values,
        **table_summary,
        "values_unknown": counts.get(counter(entity, "values_unknown", name), 0),
        "values_repeated": counts.get(counter(entity, "values_repeated", name), 0),
        "ids_truncated": counts.get(counter(entity, "ids_truncated", name), 0),
        "values_truncated": counts.get(counter(entity, "values_truncated", name), 0),
        "ids_not_in_vocabulary": counts.get(counter(entity, "ids_not_in_vocabulary", name), 0),
    }


def spec_tables(summaries: list, counts: dict) -> dict:
    """``{entity: SideFeatureTable}`` from the summaries ``BuildFeatureTable`` returns."""
    out = {}
    for summary in summaries:
        entity = summary["entity"]
        features = {}
        for name, info in summary["features"].items():
            full = feature_summary(entity, name, info["source"], info["num_values"], info, counts)
            features[name] = SideFeatureInfo(**{f: full[f] for f in SideFeatureInfo.__dataclass_fields__})
        out[entity] = SideFeatureTable(summary["file"], summary["key"], summary["num_rows"], features)
    return out

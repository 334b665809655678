"""Reading the side-feature tables ``tfseqrec preprocess`` writes: dense id -> value ids tables and vocabularies.

NumPy only (no TensorFlow): a model builds ``tf.constant(table)`` from the array (a SavedModel then embeds it) and
gathers rows by item id. For a feature with table ``T = load_item_feature_table(spec, name)``:

- ``T`` is int64 ``[V, M]``, ``V = spec.vocabulary.size`` (row = item id), ``M = info.max_values``; each row
  holds the item's value ids (ids of ``load_feature_vocabulary(spec, "item", name)``) padded with 0.
- Row 0 (``[PAD]``) is all 0; row 1 (``[OOV]``) and the rows of items without a value start with 1 (OOV);
  every row >= 1 holds at least one non-zero id, so a mean over non-zero ids is always defined for real items.
- Item histories ``[batch, seq_len]`` map to value ids ``[batch, seq_len, M]`` with ``tf.gather(T, item_ids)``.

User tables are keyed by strings: ``load_user_feature_table(spec, name)`` returns ``(keys [U], table [U, M])``
where ``keys[r]`` is the user (or sequence) id of row ``r`` (``keys[0] = "[PAD]"``, ``keys[1] = "[OOV]"``); the
record feature ``spec.user_features.key`` (``sequence_id`` or ``user_id``) holds the id to look up, and an id not
in ``keys`` should use row 1.
"""

from __future__ import annotations

import numpy as np

from tfseqrec import io_utils
from tfseqrec.data.spec import SideFeatureInfo, SideFeatureTable, resolve_spec

__all__ = [
    "feature_info",
    "load_feature_vocabulary",
    "load_item_feature_table",
    "load_user_feature_table",
    "load_feature_table",
]


def feature_info(spec, entity: str, name: str) -> SideFeatureInfo:
    """The spec's description of one item (``entity="item"``) or user feature; KeyError listing the features."""
    table = resolve_spec(spec).side_features(entity)
    if name not in table.features:
        raise KeyError(f"no {entity} feature {name!r}; the {entity} features are {', '.join(table.features)}")
    return table.features[name]


def load_feature_vocabulary(spec, entity: str, name: str) -> list[str]:
    """The values of one feature, index = value id (``[PAD]``, ``[OOV]`` first)."""
    spec = resolve_spec(spec)
    info = feature_info(spec, entity, name)
    path = io_utils.join(spec.directory, info.vocabulary_file)
    lines = io_utils.read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != info.vocabulary_size:
        raise ValueError(f"{path}: {len(lines)} lines, but feature_spec.json says {info.vocabulary_size}")
    return [line.rsplit("\t", 1)[0] for line in lines]


def load_feature_table(spec, entity: str, name: str) -> tuple[list[str], np.ndarray]:
    """``(keys, table)``: the row keys (item or user ids, ``[PAD]`` and ``[OOV]`` first) and the int64 ``[rows, M]``
    table of one feature's value ids, padded with 0 (see the module docstring)."""
    spec = resolve_spec(spec)
    table_info = spec.side_features(entity)
    info = feature_info(spec, entity, name)
    path = io_utils.join(spec.directory, table_info.file)
    lines = io_utils.read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = lines[0].split("\t") if lines else []
    if name not in header[2:]:
        raise ValueError(f"{path}: the header {header} has no column {name!r}; re-run `tfseqrec preprocess`")
    column = header.index(name)
    return _parse_rows(path, lines[1:], column, table_info, info)


def _parse_rows(path: str, lines: list, column: int, table_info: SideFeatureTable, info: SideFeatureInfo):
    if len(lines) != table_info.num_rows:
        raise ValueError(f"{path}: {len(lines)} rows, but feature_spec.json says {table_info.num_rows}")
    keys = []
    table = np.zeros((table_info.num_rows, info.max_values), dtype=np.int64)
    for row, line in enumerate(lines):
        fields = line.split("\t")
        if len(fields) <= column or fields[0] != str(row):
            raise ValueError(f"{path}, row {row}: expected '{row}<TAB>id<TAB>value ids...', got {line[:80]!r}")
        keys.append(fields[1])
        ids = [int(v) for v in fields[column].split()]
        if len(ids) > info.max_values or any(not 0 <= i < info.vocabulary_size for i in ids):
            raise ValueError(
                f"{path}, row {row}: value ids {ids} do not fit the spec of {info.field!r} "
                f"(at most {info.max_values} ids below {info.vocabulary_size})"
            )
        table[row, : len(ids)] = ids
    return keys, table


def load_item_feature_table(spec, name: str) -> np.ndarray:
    """int64 ``[V, M]``: row = item vocabulary id, the item's value ids of feature ``name`` padded with 0."""
    spec = resolve_spec(spec)
    _, table = load_feature_table(spec, "item", name)
    if table.shape[0] != spec.vocabulary.size:
        raise ValueError(
            f"{spec.directory}: the {name!r} table has {table.shape[0]} rows, the vocabulary {spec.vocabulary.size}"
        )
    return table


def load_user_feature_table(spec, name: str) -> tuple[list[str], np.ndarray]:
    """``(keys [U], table int64 [U, M])`` of a user feature: ``keys[r]`` is the user (sequence) id of row ``r``."""
    return load_feature_table(spec, "user", name)

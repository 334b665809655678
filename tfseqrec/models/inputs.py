"""The input layer every architecture shares: what a model embeds at each position of a history.

By default a position is its item id's embedding, as it always was. ``InputConfig`` adds, by configuration only:

* ``item_features``: item attributes from the preprocessed side-feature tables (``tfseqrec preprocess
  --item-features``; categories, brand, genres), each a table ``[V, M]`` of value ids, embedded ``[V_f, D]`` and
  mean-pooled over the item's values (multi-valued features such as ``Animation|Comedy``);
* ``dense_item_vectors``: a ``.npy`` file of precomputed item vectors ``[V, K]`` (text or image embeddings),
  projected to ``D``;
* ``event_types``: the behaviour of each event (click / cart / order; the ``event_types`` record feature);
* ``time_gaps``: the time since the previous event, in log2-spaced buckets (the ``timestamps`` record feature).

The parts ``[B, L, D]`` are fused by ``fusion``: ``sum``; ``concat`` (concatenation, then a projection to ``D``);
or ``gating`` (per-position softmax-free gates ``sigmoid(W [parts]) [B, L, P]`` weighting each part).
``output_features`` makes the item side of the output layer use the attributes too: an item's output embedding is
its id embedding plus its pooled attributes (and dense vector), so an item seen a few times is still scored
through what it shares with others.

Record features (``event_types``, ``timestamps``) are optional at call time: absent ones take defaults (event
type ``default_event_type``, no time gap), so a caller without them (a contrastive view of CL4SRec) still gets an
answer; an event type of 0 (unknown) also reads as ``default_event_type`` and a timestamp of 0 as "no gap", which
is what a serving request sends for an event it knows nothing about.

Tables are constants inside the model (a SavedModel embeds them); they come from the dataset's spec
(:func:`side_inputs_from_spec`), not from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Optional

import tfseqrec  # noqa: F401
import numpy as np
import tensorflow as tf

FUSIONS = ("sum", "concat", "gating")
EVENT_TYPES = "event_types"
TIMESTAMPS = "timestamps"
MILLISECONDS_PER_SECOND = 1000.0


@dataclasses.dataclass(frozen=True)
class InputConfig:
    """What a model embeds per position besides the item id (the module docstring).

    ``item_features``: names of item side features in ``feature_spec.json`` (``tfseqrec stats`` lists them).
    ``dense_item_vectors``: path of a float ``.npy`` ``[V, K]`` whose row ``i`` is item id ``i``'s vector.
    ``event_types`` / ``time_gaps``: embed the record features of those names. ``time_gap_buckets``: buckets of
    ``floor(log2(1 + gap in seconds))`` (the last one takes every longer gap). ``default_event_type``: the id
    used where a caller gives no event types.
    """

    item_features: tuple = ()
    dense_item_vectors: Optional[str] = None
    event_types: bool = False
    time_gaps: bool = False
    time_gap_buckets: int = 32
    default_event_type: int = 1
    fusion: str = "sum"
    output_features: bool = False

    def __post_init__(self):
        object.__setattr__(self, "item_features", tuple(self.item_features))
        if self.fusion not in FUSIONS:
            raise ValueError(f"inputs.fusion={self.fusion!r}: use one of {', '.join(FUSIONS)}")
        if self.time_gap_buckets < 2:
            raise ValueError(f"inputs.time_gap_buckets={self.time_gap_buckets} must be >= 2")
        if self.output_features and not (self.item_features or self.dense_item_vectors):
            raise ValueError("inputs.output_features needs inputs.item_features or inputs.dense_item_vectors")

    @property
    def record_features(self) -> tuple:
        """The record features (``[B, L]``, aligned with ``item_ids``) these inputs read."""
        return ((EVENT_TYPES,) if self.event_types else ()) + ((TIMESTAMPS,) if self.time_gaps else ())

    @property
    def is_id_only(self) -> bool:
        return not (self.item_features or self.dense_item_vectors or self.record_features)


@dataclasses.dataclass
class SideInputs:
    """The data an ``InputConfig`` needs: attribute tables ``{name: int [V, M]}`` with their vocabulary sizes,
    the dense vectors ``float [V, K]`` and the number of event types (ids 1..n; 0 is padding)."""

    tables: dict = dataclasses.field(default_factory=dict)
    vocabulary_sizes: dict = dataclasses.field(default_factory=dict)
    dense_vectors: Optional[np.ndarray] = None
    num_event_types: int = 0


def side_inputs_from_spec(spec, config: InputConfig) -> SideInputs:
    """Loads what ``config`` names from a preprocessed dataset (``FeatureSpec`` or its directory)."""
    from tfseqrec.data.side_features import feature_info, load_item_feature_table
    from tfseqrec.data.spec import resolve_spec

    spec = resolve_spec(spec)
    inputs = SideInputs(num_event_types=len(spec.event_types))
    for name in config.item_features:
        inputs.tables[name] = load_item_feature_table(spec, name)
        inputs.vocabulary_sizes[name] = feature_info(spec, "item", name).vocabulary_size
    if config.dense_item_vectors:
        vectors = np.load(config.dense_item_vectors)
        if vectors.ndim != 2 or vectors.shape[0] != spec.vocabulary.size:
            raise ValueError(
                f"inputs.dense_item_vectors {config.dense_item_vectors}: shape {vectors.shape}, expected "
                f"[{spec.vocabulary.size} (the vocabulary), K] with row i = item id i"
            )
        inputs.dense_vectors = vectors.astype(np.float32)
    return inputs


def time_gap_buckets(timestamps: tf.Tensor, num_buckets: int) -> tf.Tensor:
    """``timestamps [B, L]`` in ms (0 at padding) -> bucket ids ``[B, L]``: 0 for padding and the first event of
    a row, else ``1 + min(floor(log2(1 + gap_seconds)), num_buckets - 2)``."""
    timestamps = tf.cast(timestamps, tf.float32)
    previous = tf.pad(timestamps[:, :-1], [[0, 0], [1, 0]])
    has_previous = tf.logical_and(tf.not_equal(previous, 0.0), tf.not_equal(timestamps, 0.0))
    seconds = tf.maximum(timestamps - previous, 0.0) / MILLISECONDS_PER_SECOND
    bucket = tf.minimum(tf.floor(tf.math.log1p(seconds) / math.log(2.0)), float(num_buckets - 2)) + 1.0
    return tf.where(has_previous, tf.cast(bucket, tf.int64), tf.zeros_like(bucket, tf.int64))


def _embedding(rows: int, dim: int, name: str) -> tf.keras.layers.Embedding:
    """An embedding table ``[rows, D]``; ``name`` is made a valid TensorFlow scope (feature names such as
    RecBole's ``class:token_seq`` keep their spelling everywhere else)."""
    return tf.keras.layers.Embedding(
        rows,
        dim,
        name=re.sub(r"[^A-Za-z0-9_.\-]", "_", name),
        embeddings_initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02),
    )


class ItemInputs(tf.keras.layers.Layer):
    """Fuses the item id embeddings ``[B, L, D]`` with the configured side inputs (module docstring).

    ``table_rows``: rows of the item id space the model embeds (catalogue + input-only tokens such as
    BERT4Rec's mask); rows past the side tables have no attributes.
    """

    def __init__(
        self,
        config: InputConfig,
        dim: int,
        table_rows: int,
        side_inputs: Optional[SideInputs] = None,
        name: str = "item_inputs",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.config, self.dim = config, int(dim)
        side_inputs = side_inputs or SideInputs()
        missing = [f for f in config.item_features if f not in side_inputs.tables]
        if missing or (config.dense_item_vectors and side_inputs.dense_vectors is None):
            raise ValueError(
                f"model_config.inputs names {missing or [config.dense_item_vectors]}, which were not given to "
                f"the model: build it with the dataset's spec (tfseqrec.models.build_model(..., spec=spec))"
            )
        if config.event_types and side_inputs.num_event_types < 1:
            raise ValueError(
                "model_config.inputs.event_types=true, but the data have no event types: preprocess with "
                "--event-col (and --event-types)"
            )
        self._tables = {n: _pad_rows(side_inputs.tables[n], table_rows) for n in config.item_features}
        self.attribute_embeddings = {
            n: _embedding(side_inputs.vocabulary_sizes[n], dim, f"{n}_embedding") for n in config.item_features
        }
        self._dense = None
        self.dense_projection = None
        if config.dense_item_vectors:
            self._dense = _pad_rows(side_inputs.dense_vectors, table_rows)
            self.dense_projection = tf.keras.layers.Dense(dim, use_bias=False, name="dense_item_projection")
        self.event_embedding = (
            _embedding(side_inputs.num_event_types + 1, dim, "event_type_embedding") if config.event_types else None
        )
        self.time_gap_embedding = (
            _embedding(config.time_gap_buckets, dim, "time_gap_embedding") if config.time_gaps else None
        )
        num_parts = 1 + len(self._tables) + bool(self._dense is not None) + config.event_types + config.time_gaps
        self.fusion = None
        if config.fusion == "concat" and num_parts > 1:
            self.fusion = tf.keras.layers.Dense(dim, name="input_fusion")
        elif config.fusion == "gating" and num_parts > 1:
            self.fusion = tf.keras.layers.Dense(num_parts, activation="sigmoid", name="input_gates")

    @tf.autograph.experimental.do_not_convert  # Python control flow on the config only
    def item_parts(self, item_ids: tf.Tensor) -> list:
        """Item-level side parts ``[..., D]`` of ``item_ids [...]``: pooled attributes, projected dense vectors."""
        parts = []
        for name, table in self._tables.items():
            value_ids = tf.gather(tf.constant(table), item_ids)  # [..., M]
            embedded = self.attribute_embeddings[name](value_ids)  # [..., M, D]
            present = tf.cast(tf.not_equal(value_ids, 0), embedded.dtype)[..., tf.newaxis]
            pooled = tf.reduce_sum(embedded * present, axis=-2) / tf.maximum(tf.reduce_sum(present, axis=-2), 1.0)
            parts.append(pooled)
        if self._dense is not None:
            parts.append(self.dense_projection(tf.gather(tf.constant(self._dense), item_ids)))
        return parts

    @tf.autograph.experimental.do_not_convert  # Python control flow on the config only
    def call(self, id_embeddings: tf.Tensor, item_ids: tf.Tensor, features: Optional[dict] = None, training=None):
        """``id_embeddings [B, L, D]`` of ``item_ids [B, L]`` -> fused inputs ``[B, L, D]``; ``features``: the
        record features ``{name: [B, L]}`` (missing ones take defaults)."""
        if self.config.is_id_only:
            return id_embeddings
        features = features or {}
        item_ids = tf.cast(item_ids, tf.int64)
        parts = [id_embeddings] + [tf.cast(p, id_embeddings.dtype) for p in self.item_parts(item_ids)]
        if self.event_embedding is not None:
            default = tf.constant(self.config.default_event_type, tf.int64)
            events = features.get(EVENT_TYPES)
            events = tf.fill(tf.shape(item_ids), default) if events is None else tf.cast(events, tf.int64)
            events = tf.where(events > 0, events, default)  # 0 (unknown, or padding) reads as the default
            parts.append(tf.cast(self.event_embedding(events), id_embeddings.dtype))
        if self.time_gap_embedding is not None:
            times = features.get(TIMESTAMPS)
            buckets = (
                tf.zeros_like(item_ids) if times is None else time_gap_buckets(times, self.config.time_gap_buckets)
            )
            parts.append(tf.cast(self.time_gap_embedding(buckets), id_embeddings.dtype))
        return self._fuse(parts)

    @tf.autograph.experimental.do_not_convert  # Python control flow on the config only
    def _fuse(self, parts: list) -> tf.Tensor:
        if self.fusion is None:
            return tf.add_n(parts)
        stacked = tf.concat(parts, axis=-1)  # [B, L, P * D]
        if self.config.fusion == "concat":
            return self.fusion(stacked)
        gates = self.fusion(stacked)  # [B, L, P]
        return tf.add_n([parts[i] * gates[..., i : i + 1] for i in range(len(parts))])

    @tf.autograph.experimental.do_not_convert  # Python control flow on the config only
    def output_table(self, id_table: tf.Tensor) -> tf.Tensor:
        """The output layer's item table ``[N, D]`` from the id embeddings ``[N, D]``: plus the pooled
        attributes (and dense vectors) of every item when ``output_features``, else unchanged."""
        if not self.config.output_features:
            return id_table
        ids = tf.range(tf.shape(id_table)[0], dtype=tf.int64)
        return tf.add_n([id_table] + [tf.cast(p, id_table.dtype) for p in self.item_parts(ids)])


def _pad_rows(table: np.ndarray, rows: int) -> np.ndarray:
    """``table [V, ...]`` with zero rows appended up to ``rows`` (input-only tokens have no side values)."""
    if table.shape[0] > rows:
        raise ValueError(f"a side table has {table.shape[0]} rows, more than the model's {rows} item ids")
    return np.concatenate([table, np.zeros((rows - table.shape[0],) + table.shape[1:], table.dtype)])

"""The ``tf.Module`` an export saves: raw string histories in, top-K item id strings out (see ``contract.py``).

It holds the model's variables, the vocabulary (a ``StaticHashTable`` built from constants, so the export
needs no file of the preprocessing output), the training counts of the most popular items, and a top-K
index (``indexes.py``). Request handling, all in-graph and vectorised (``B`` = batch, ``H`` = history
columns, ``L`` = the model's ``max_len``, ``V`` = vocabulary size, ``N = V - 2`` real items):

1. ``history [B, H]`` strings -> ids (unknown -> OOV 1); ``""`` is padding wherever it is;
2. each row's real tokens are compacted in order (ragged), the latest ``L`` kept and left-padded to
   ``[B, W]``, the model's training layout, ``W`` = the longest row's count (at most ``L``: a short history
   costs little even when ``max_len`` is in the thousands); the history features the model reads
   (``timestamps [B, H]``, ..., see ``contract.py``) are compacted the same way, so they stay aligned; the query
   is ``model.query(ids, timestamps=..., ...) [B, D]`` (each feature by name, as the model's ``query`` takes it);
3. the index returns the top ``K`` with the *whole* history excluded (when asked), like the evaluator's
   ``filter_seen``; PAD and OOV are never returned;
4. rows without any real token get the most popular items, scored by their training counts.
"""

from __future__ import annotations

import inspect
from typing import Sequence

import tfseqrec  # noqa: F401  (Keras 2 for TFRS)
import numpy as np
import tensorflow as tf

from tfseqrec.export import contract
from tfseqrec.export.indexes import NEG_INF, TopKIndex
from tfseqrec.ids import FIRST_ITEM_ID, OOV_ID, PAD_ID

HISTORY_SPEC = tf.TensorSpec([None, None], tf.string, name=contract.HISTORY)
SUPPORT_SPEC = tf.TensorSpec([None, None], tf.string, name=contract.SUPPORT)
K_SPEC = tf.TensorSpec([None], tf.int32, name=contract.K)
EXCLUDE_SEEN_SPEC = tf.TensorSpec([None], tf.bool, name=contract.EXCLUDE_SEEN)
STATE_SPEC = tf.TensorSpec([None, None], tf.float32, name=contract.STATE)
ITEM_SPEC = tf.TensorSpec([None], tf.string, name=contract.ITEM)
SEEN_SPEC = tf.TensorSpec([None, None], tf.string, name=contract.SEEN)


def history_features(model) -> tuple[str, ...]:
    """The record features ``model`` reads besides item ids (``input_features``), served as signature inputs.

    Raises ValueError when one has no serving input (``contract.HISTORY_FEATURES``) or the model's ``query``
    does not take it by name, so an export never serves a model without what it reads.
    """
    names = tuple(n for n in model.input_features if n != contract.RECORD_ITEM_IDS)
    unknown = [n for n in names if n not in contract.HISTORY_FEATURES]
    if unknown:
        raise ValueError(
            f"model {model.registry_name!r} reads the record feature(s) {unknown} (input_features "
            f"{list(model.input_features)}), which exports cannot take: the serving signatures take "
            f"{', '.join(map(repr, contract.HISTORY_FEATURES))} next to the history"
        )
    params = inspect.signature(model.query).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    missing = [n for n in names if n not in params and not takes_any]
    if missing:
        raise ValueError(
            f"model {model.registry_name!r} reads {missing} (input_features) but its query() has no "
            f"argument named {', '.join(map(repr, missing))}; exports pass each feature to query() "
            f"by name"
        )
    return names


def row_features(model) -> tuple[str, ...]:
    """The per-row inputs ``[B]`` of ``model`` (``contract.ROW_FEATURES``): ``target_event_type`` for models with
    a target behaviour, else none."""
    return tuple(contract.ROW_FEATURES) if getattr(model, "target_behaviour", None) is not None else ()


class _Untracked:
    """Holds the Keras model out of the SavedModel's object graph: only its variables are saved (see
    ``ServingModule.model_variables``), so saving never runs Keras' own model serialisation."""

    def __init__(self, model):
        self.model = model


class ServingModule(tf.Module):
    """A trained model + vocabulary + popularity + top-K index, with the contract's signatures.

    The signature functions are built per instance: ``serving_default``, ``recommend`` and ``encode_query``
    take one extra input per history feature of the model (``history_features``), after the contract's, then
    its row features (``row_features``).
    """

    def __init__(
        self,
        model,
        vocabulary: Sequence[str],
        item_counts: Sequence[float],
        index: TopKIndex,
        default_k: int = 10,
        max_k: int = 1000,
        exclude_seen: bool = True,
    ):
        super().__init__(name="tfseqrec_serving")
        vocabulary = [str(v) for v in vocabulary]
        check_vocabulary(vocabulary, item_counts, model.num_items)
        if not 1 <= default_k <= max_k:
            raise ValueError(f"default_k={default_k} must be in [1, max_k={max_k}]")
        self._holder = _Untracked(model)
        self.model_variables = list(model.variables)  # tracked: the SavedModel's variables
        self.index = index
        self.max_len = int(model.config.max_len)
        self.default_k, self.max_k, self.exclude_seen = int(default_k), int(max_k), bool(exclude_seen)
        self.features = history_features(model)
        self.row_features = row_features(model)
        self.vocab_size = len(vocabulary)
        items = vocabulary[FIRST_ITEM_ID:]
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(items, tf.string), tf.range(FIRST_ITEM_ID, self.vocab_size, dtype=tf.int64)
            ),
            default_value=OOV_ID,
        )
        # id -> string for outputs; PAD (the "no item" id of padded results) and OOV read as "".
        self._id_to_item = tf.constant([contract.PADDING_TOKEN] * FIRST_ITEM_ID + items, tf.string)
        self._real_items = tf.constant(items, tf.string)
        popular_ids, popular_scores = most_popular(item_counts, self.max_k)
        self._popular_ids = tf.constant(popular_ids, tf.int64)  # [max_k], 0-padded
        self._popular_scores = tf.constant(popular_scores, tf.float32)  # [max_k], -inf-padded
        feature_specs = [
            tf.TensorSpec([None, None], tf.as_dtype(contract.HISTORY_FEATURES[n]), name=n) for n in self.features
        ] + [tf.TensorSpec([None], tf.as_dtype(contract.ROW_FEATURES[n]), name=n) for n in self.row_features]
        self.serving_default = tf.function(self._serving_default, input_signature=[HISTORY_SPEC, *feature_specs])
        self.recommend = tf.function(
            self._recommend_signature, input_signature=[HISTORY_SPEC, K_SPEC, EXCLUDE_SEEN_SPEC, *feature_specs]
        )
        self.encode_query = tf.function(self._encode_query, input_signature=[HISTORY_SPEC, *feature_specs])
        self.item_embeddings = tf.function(self._item_embeddings, input_signature=[])
        self.adapt_and_recommend = None
        if getattr(model, "adaptation", None) is not None:
            self.adapt_and_recommend = tf.function(
                self._adapt_and_recommend, input_signature=[SUPPORT_SPEC, K_SPEC, *feature_specs]
            )
        self.stream_start = self.stream_append = None
        if model.stream_state_layout() is not None and not feature_specs:
            self.stream_start = tf.function(self._stream_start, input_signature=[HISTORY_SPEC, K_SPEC])
            self.stream_append = tf.function(
                self._stream_append, input_signature=[STATE_SPEC, ITEM_SPEC, SEEN_SPEC, K_SPEC]
            )

    @property
    def model(self):
        return self._holder.model

    @property
    def stream_state_layout(self):
        """The model's ``StreamStateLayout`` (the state rows of ``stream_start`` / ``stream_append``), or None."""
        return self.model.stream_state_layout()

    # -- request handling -------------------------------------------------------------------------------
    def _item_ids(self, history: tf.Tensor):
        """``history [B, H]`` -> ``(ids [B, H] int64 with 0 at padding, real [B, H] bool)``."""
        real = tf.not_equal(history, contract.PADDING_TOKEN)
        ids = tf.where(real, self._table.lookup(history), tf.constant(PAD_ID, tf.int64))
        return ids, real

    def _model_input(self, values: tf.Tensor, real: tf.Tensor) -> tf.Tensor:
        """``values [B, H]`` (ids or a history feature) -> ``[B, W]``: each row's values at real tokens, in
        order, the latest ``L`` of them, left-padded with 0 to ``W`` = the longest row's count (at least 1, at most
        ``L``). Every model's states are the same whatever padding precedes a history (a contract test), so a
        request costs what its histories hold, not ``max_len``."""
        latest = tf.ragged.boolean_mask(values, real)[:, -self.max_len :]
        width = tf.maximum(tf.reduce_max(tf.concat([latest.row_lengths(), [0]], 0)), 1)
        padding = width - latest.row_lengths()
        zeros = tf.RaggedTensor.from_row_lengths(tf.zeros([tf.reduce_sum(padding)], values.dtype), padding)
        return tf.concat([zeros, latest], axis=1).to_tensor()

    def _check_features(self, history: tf.Tensor, features: Sequence[tf.Tensor]) -> list:
        """In-graph checks that each history feature has the shape of ``history`` (one value per entry) and each
        row feature one value per row."""
        in_history = zip(self.features, features[: len(self.features)])
        per_row = zip(self.row_features, features[len(self.features) :])
        return [
            tf.debugging.assert_equal(
                tf.shape(value),
                tf.shape(history),
                message=(f"{name} must have the shape of history (one value per history entry, 0 at padding)"),
            )
            for name, value in in_history
        ] + [
            tf.debugging.assert_equal(
                tf.shape(value)[0], tf.shape(history)[0], message=f"{name} must have one value per row of history"
            )
            for name, value in per_row
        ]

    def _query(self, ids: tf.Tensor, real: tf.Tensor, features: Sequence[tf.Tensor] = ()) -> tf.Tensor:
        """``[B, D]`` float32 query embeddings; ``features``: ``[B, H]`` in the order of ``self.features``, then
        ``[B]`` in the order of ``self.row_features``."""
        inputs = {name: self._model_input(value, real) for name, value in zip(self.features, features)}
        inputs.update(zip(self.row_features, features[len(self.features) :]))
        return tf.cast(self.model.query(self._model_input(ids, real), training=False, **inputs), tf.float32)

    def _recommend(self, history, k, exclude_seen, features=()):
        """The ``recommend`` computation: ``item_ids [B, K]`` strings and ``scores [B, K]``."""
        history = tf.convert_to_tensor(history, tf.string)
        batch = tf.shape(history)[0]
        checks = [  # quotes would be escaped in the error text, so names are bare
            tf.debugging.assert_equal(
                tf.shape(exclude_seen)[0],
                batch,
                message=f"recommend: {contract.EXCLUDE_SEEN} must have one entry per row of {contract.HISTORY}",
            ),
            *self._check_k(k, batch, "recommend", contract.HISTORY),
            *self._check_features(history, features),
        ]
        with tf.control_dependencies(checks):
            k = tf.identity(k)
            features = [tf.identity(value) for value in features]
        ids, real = self._item_ids(history)
        exclude_ids = tf.where(exclude_seen[:, None], ids, tf.zeros_like(ids))  # the whole history
        return self._top_k(self._query(ids, real, features), exclude_ids, real, k)

    def _check_k(self, k, batch, signature: str, rows_of: str) -> list:
        return [
            tf.debugging.assert_equal(
                tf.shape(k)[0], batch, message=f"{signature}: {contract.K} must have one entry per row of {rows_of}"
            ),
            tf.debugging.assert_greater_equal(k, 1, message=f"{signature}: {contract.K} must be >= 1 in every row"),
        ]

    def _top_k(self, query, exclude_ids, real, k):
        """``item_ids [B, K]`` strings and ``scores [B, K]`` for ``query [B, D]``, leaving out ``exclude_ids
        [B, H]`` (0 = nothing); rows whose ``real [B, H]`` is all false get the most popular items."""
        top = tf.clip_by_value(tf.reduce_max(tf.concat([k, [1]], 0)), 1, self.max_k)  # K = min(max(k), max_k)
        scores, top_ids = self.index.search(query, exclude_ids, top)
        # Rows without any item: the most popular items (nothing is seen, nothing to exclude).
        empty = tf.logical_not(tf.reduce_any(real, axis=1))[:, None]
        top_ids = tf.where(empty, self._popular_ids[None, :top], top_ids)
        scores = tf.where(empty, self._popular_scores[None, :top], scores)
        # Row b keeps k[b] entries.
        keep = (tf.range(top)[None, :] < k[:, None]) & (top_ids >= FIRST_ITEM_ID)
        scores = tf.where(keep, scores, tf.constant(NEG_INF, tf.float32))
        items = tf.gather(self._id_to_item, tf.where(keep, top_ids, tf.zeros_like(top_ids)))
        return {contract.ITEM_IDS: items, contract.SCORES: scores}

    # -- signatures (wrapped in tf.function by __init__) --------------------------------------------------------
    def _serving_default(self, history, *features):
        """Top ``default_k`` with the export's ``exclude_seen``: ``item_ids``, ``scores`` ``[B, default_k]``."""
        batch = tf.shape(history)[0]
        out = self._recommend(
            history,
            tf.fill([batch], tf.constant(self.default_k, tf.int32)),
            tf.fill([batch], tf.constant(self.exclude_seen)),
            features,
        )
        return {name: tf.ensure_shape(value, [None, self.default_k]) for name, value in out.items()}

    def _recommend_signature(self, history, k, exclude_seen, *features):
        """Per-row ``k`` and ``exclude_seen``: ``item_ids``, ``scores`` ``[B, min(max(k), max_k)]``."""
        return self._recommend(history, k, exclude_seen, features)

    def _encode_query(self, history, *features):
        """``query [B, D]``: the model's query embedding of each history."""
        with tf.control_dependencies(self._check_features(history, features)):
            features = [tf.identity(value) for value in features]
        return {contract.QUERY: self._query(*self._item_ids(history), features)}

    def _adapt_and_recommend(self, support, k, *features):
        """A new user's top ``k`` after adapting to ``support [B, S]`` (the support excluded)."""
        return self._recommend(support, k, tf.fill([tf.shape(support)[0]], True), features)

    def _stream_start(self, history, k):
        """A user's state after ``history [B, H]`` (its latest ``max_len`` items) and the top ``k`` after it (the
        history excluded): ``state [B, S]``, ``item_ids``, ``scores``; the server's ``append`` carries the state."""
        with tf.control_dependencies(self._check_k(k, tf.shape(history)[0], "stream_start", contract.HISTORY)):
            k, history = tf.identity(k), tf.identity(history)
        ids, real = self._item_ids(history)
        query, state = self.model.stream_start(self._model_input(ids, real))
        return {contract.STATE: tf.cast(state, tf.float32), **self._top_k(tf.cast(query, tf.float32), ids, real, k)}

    def _check_state_width(self, width: tf.Tensor) -> list:
        """In-graph checks that a state row has a width ``stream_start`` can give (``StreamStateLayout``)."""
        layout = self.stream_state_layout
        message = f"stream_append: {contract.STATE} must be a state stream_start or stream_append returned"
        if layout.per_item == 0:
            return [tf.debugging.assert_equal(width, layout.fixed, message=message)]
        extra = width - layout.fixed
        return [
            tf.debugging.assert_greater_equal(extra, 0, message=message),
            tf.debugging.assert_less_equal(extra, layout.max_width - layout.fixed, message=message),
            tf.debugging.assert_equal(tf.math.floormod(extra, layout.per_item), 0, message=message),
        ]

    def _stream_append(self, state, item, seen, k):
        """One more event: from ``state [B, S]`` after ``item [B]``, the new ``state`` and the top ``k`` leaving out
        ``seen [B, H]`` (the items to exclude, the new one included); one model step, no pass over the history."""
        batch = tf.shape(item)[0]
        checks = [
            *self._check_k(k, batch, "stream_append", contract.ITEM),
            tf.debugging.assert_equal(
                tf.shape(state)[0], batch, message=f"stream_append: {contract.STATE} needs one row per {contract.ITEM}"
            ),
            tf.debugging.assert_equal(
                tf.shape(seen)[0], batch, message=f"stream_append: {contract.SEEN} needs one row per {contract.ITEM}"
            ),
            *self._check_state_width(tf.shape(state)[1]),
        ]
        with tf.control_dependencies(checks):  # every input waits for the checks: no op runs on a bad state
            k, state, item, seen = (tf.identity(value) for value in (k, state, item, seen))
        item_ids = self._table.lookup(item)
        query, new_state = self.model.stream_step(state, item_ids)
        seen_ids, _ = self._item_ids(seen)
        real = tf.ones([batch, 1], tf.bool)  # a row always holds its new item
        return {
            contract.STATE: tf.cast(new_state, tf.float32),
            **self._top_k(tf.cast(query, tf.float32), seen_ids, real, k),
        }

    def _item_embeddings(self):
        """The ``N`` real items: ``item_ids [N]``, ``embeddings [N, D]``, ``biases [N]`` (zeros without bias)."""
        table = tf.cast(self.model.item_embeddings(), tf.float32)[FIRST_ITEM_ID:]
        bias = self.model.item_biases()
        bias = tf.zeros([tf.shape(table)[0]], tf.float32) if bias is None else tf.cast(bias, tf.float32)[FIRST_ITEM_ID:]
        return {contract.ITEM_IDS: self._real_items, contract.EMBEDDINGS: table, contract.BIASES: bias}

    def signatures(self) -> dict:
        """Signature name -> concrete function, for ``tf.saved_model.save``."""
        return {
            contract.SERVING_SIGNATURE: self.serving_default.get_concrete_function(),
            contract.RECOMMEND_SIGNATURE: self.recommend.get_concrete_function(),
            contract.ENCODE_SIGNATURE: self.encode_query.get_concrete_function(),
            contract.ITEM_EMBEDDINGS_SIGNATURE: self.item_embeddings.get_concrete_function(),
            **(
                {}
                if self.adapt_and_recommend is None
                else {contract.ADAPT_SIGNATURE: self.adapt_and_recommend.get_concrete_function()}
            ),
            **(
                {}
                if self.stream_start is None
                else {
                    contract.STREAM_START_SIGNATURE: self.stream_start.get_concrete_function(),
                    contract.STREAM_APPEND_SIGNATURE: self.stream_append.get_concrete_function(),
                }
            ),
        }


def check_vocabulary(vocabulary: Sequence[str], item_counts: Sequence[float], num_items: int) -> None:
    """Raises ValueError unless the vocabulary (``[PAD], [OOV], items...``) and counts fit the model."""
    if len(vocabulary) != num_items:
        raise ValueError(
            f"the vocabulary has {len(vocabulary)} entries but the model scores {num_items} ids; "
            f"export with the vocabulary of the dataset the model was trained on"
        )
    if len(item_counts) != len(vocabulary):
        raise ValueError(f"item_counts has {len(item_counts)} entries, the vocabulary {len(vocabulary)}")
    items = vocabulary[FIRST_ITEM_ID:]
    if contract.PADDING_TOKEN in items:
        raise ValueError(
            f"the vocabulary holds the padding token {contract.PADDING_TOKEN!r} as an item id "
            f"(id {FIRST_ITEM_ID + list(items).index(contract.PADDING_TOKEN)})"
        )
    if len(set(items)) != len(items):
        seen, dup = set(), None
        for item in items:
            if item in seen:
                dup = item
                break
            seen.add(item)
        raise ValueError(f"the vocabulary lists item {dup!r} more than once")


def most_popular(item_counts: Sequence[float], size: int):
    """``(ids [size] int64, counts [size] float32)``: real items by training count (descending, ties by id),
    padded with id 0 / ``-inf`` when there are fewer than ``size`` items."""
    counts = np.asarray(item_counts, np.float64)[FIRST_ITEM_ID:]
    order = np.argsort(-counts, kind="stable")[:size]
    ids = np.zeros(size, np.int64)
    scores = np.full(size, NEG_INF, np.float32)
    ids[: len(order)] = order + FIRST_ITEM_ID
    scores[: len(order)] = counts[order]
    return ids, scores

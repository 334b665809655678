"""Top-K retrieval over the item catalogue for exports: an exact ``brute_force`` index and an approximate ``scann``.

Both are ``tf.Module`` s behind one method, traced into the export's signatures::

    index.search(queries [B, D] float32, exclude_ids [B, H] int64, k int32 scalar)
        -> (scores [B, k] float32, ids [B, k] int64)

``exclude_ids`` holds vocabulary ids that must not be returned (0 = nothing; rows may repeat ids); PAD (0)
and OOV (1) are never returned. Rows with fewer than ``k`` candidates end with id 0 and score ``-inf``.
Scores are the model's, ``query . embedding + bias``, with the model's values at export time.

* ``brute_force``: one matmul against every item, an exclusion mask, ``tf.math.top_k``: exact, and the
  same scores and tie order as ``SequentialRecommender.score_all`` ranked like the evaluator. Plain TF ops,
  so stock ``tensorflow_model_server`` serves it. It multiplies by its own copy of the item table (saved
  with the export): the model's table is also read row by row by the query encoder's embedding lookup, and
  once a resource variable has been read that way TensorFlow switches it to copy-on-read, so that every
  whole read (the matmul's) copies it first, which for a large catalogue costs more than the matmul itself
  (``benchmarks/serving.py`` measures both). With ``precision`` ``int8`` / ``float16`` the copy is stored
  rounded (``ExportConfig.table_precision``) and cast to float32 for the matmul.
* ``scann``: a ``tfrs.layers.factorized_top_k.ScaNN`` tree + asymmetric-hashing index over the real items
  (ids ``2..V-1``), with the bias folded into the vectors (``[q, 1] . [e, b]``). It over-fetches
  ``max(num_reordering_candidates, k + longest exclusion list)`` approximate neighbours, rescores them
  exactly in TF (the reordering step, so returned scores are the model's), drops excluded ids and keeps the
  top ``k``. Serving it needs the ScaNN custom ops (``import scann`` before loading; TF Serving built with
  ScaNN).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import tfseqrec  # noqa: F401  (Keras 2 for TFRS)
import numpy as np
import tensorflow as tf

from tfseqrec.evaluation.ranking import exclusion_mask
from tfseqrec.ids import FIRST_ITEM_ID
from tfseqrec.models.item_tables.quantized import quantize_rows

EmbeddingsFn = Callable[[], tf.Tensor]  # () -> [V, D]: the whole vocabulary (PAD and OOV included)
BiasesFn = Callable[[], Optional[tf.Tensor]]  # () -> [V] or None
NEG_INF = float("-inf")
# ScaNN's asymmetric hashing learns 16 centres per block: fewer items than this cannot train it.
MIN_SCANN_ITEMS = 16
# The default search scores at least this many hashed items: about 0.05 ms per query on one CPU core, and
# searching fewer leaves costs recall on small catalogues (see ScannConfig).
MIN_ITEMS_SEARCHED = 20_000


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def pad_results(scores: tf.Tensor, ids: tf.Tensor, valid: tf.Tensor, k: tf.Tensor):
    """``scores [B, n]``, ``ids [B, n]``, ``valid [B, n]`` -> ``[B, k]`` each: invalid entries become id 0 and
    ``-inf``, and missing columns (``n < k``) are appended as such."""
    scores = tf.where(valid, scores, tf.constant(NEG_INF, scores.dtype))
    ids = tf.where(valid, ids, tf.zeros_like(ids))
    missing = tf.maximum(k - tf.shape(ids)[1], 0)
    scores = tf.pad(scores, [[0, 0], [0, missing]], constant_values=NEG_INF)
    ids = tf.pad(ids, [[0, 0], [0, missing]])
    return scores[:, :k], ids[:, :k]


class TopKIndex(tf.Module):
    """The interface of both variants (see the module docstring)."""

    variant = "base"
    exact = False
    precision = "float32"  # how the index stores the item table it scores against

    def search(self, queries: tf.Tensor, exclude_ids: tf.Tensor, k: tf.Tensor):
        raise NotImplementedError

    def params(self) -> dict:
        """Index parameters recorded in the export's ``tfseqrec_export.json``."""
        return {"variant": self.variant, "exact": self.exact, "table_precision": self.precision}


class BruteForceIndex(TopKIndex):
    """Exact top-K: ``query @ E^T + b`` over the whole vocabulary, PAD/OOV and ``exclude_ids`` masked."""

    variant = "brute_force"
    exact = True

    def __init__(
        self, embeddings: EmbeddingsFn, biases: BiasesFn, precision: str = "float32", name: str = "brute_force_index"
    ):
        super().__init__(name=name)
        # Copies only ever read whole, never row by row (see the module docstring: copy-on-read).
        table = tf.convert_to_tensor(embeddings())
        self.scales = None
        if precision == "float32":
            self.table = tf.Variable(table, trainable=False, name="item_table")
        else:  # rounded like the model's quantized table: int8 values with per-row scales, or float16
            values, scales = quantize_rows(table.numpy(), precision)
            self.table = tf.Variable(values, trainable=False, name="item_table")
            self.scales = tf.Variable(scales, trainable=False, name="item_table_scales")
        self.precision = precision
        bias = biases()
        self.bias = None if bias is None else tf.Variable(tf.convert_to_tensor(bias), trainable=False, name="item_bias")

    def search(self, queries, exclude_ids, k):
        if self.scales is None:
            scores = tf.matmul(queries, self.table, transpose_b=True)  # [B, V], as in score_all
        else:
            scores = tf.matmul(queries, tf.cast(self.table, tf.float32), transpose_b=True) * self.scales
        if self.bias is not None:
            scores = scores + self.bias
        vocab_size = tf.shape(scores)[1]
        excluded = exclusion_mask(exclude_ids, vocab_size, filter_seen=True)  # [B, V], like the evaluator
        masked = tf.where(excluded, tf.constant(NEG_INF, scores.dtype), scores)
        top_scores, top_ids = tf.math.top_k(masked, k=tf.minimum(k, vocab_size))  # [B, min(k, V)]
        valid = tf.logical_not(tf.gather(excluded, top_ids, batch_dims=1))
        return pad_results(top_scores, tf.cast(top_ids, tf.int64), valid, k)


@dataclasses.dataclass(frozen=True)
class ScannConfig:
    """ScaNN index parameters; ``None`` fields are derived from the catalogue size by :meth:`resolve`.

    Attributes:
      num_leaves: partitions of the tree (default ``round(sqrt(N))``, 1..2000, for ``N`` real items).
      num_leaves_to_search: partitions searched per query (default: at least 5% of the leaves, and enough
        leaves to hold ``MIN_ITEMS_SEARCHED`` (20,000) items or 4x ``num_reordering_candidates``, whichever is
        more; so all leaves of catalogues up to 20,000 items). The main recall/speed knob.
      num_reordering_candidates: at least this many approximate neighbours are rescored exactly (more when
        ``k`` plus the history length is larger).
      dimensions_per_block: asymmetric-hashing compression (higher = smaller, faster, less accurate).
      training_iterations: k-means iterations when building the tree.
      target_recall: when set, ``num_leaves_to_search`` and ``num_reordering_candidates`` are chosen after
        the build from a recall curve measured on calibration queries (``scann_calibration``): the fastest
        setting with recall@10 at or above it; values given for those two are replaced by the choice.

    The defaults come from ``benchmarks/serving.py`` (1,000,000 clustered items x 64, 1,000 leaves, recall@10
    against the exact top 10): 100 reordering candidates keep recall below 0.935 whatever the leaves searched
    (the asymmetric-hashing scores misorder the true top 10 below rank 100), 250 reach 0.995 at 50 leaves (5%)
    and 0.997 at 100 (10%); searching half the items for nearly the same recall served 5-20% more requests per
    second over gRPC (1 and 16 clients, 2 CPU cores). On the trained ML-1M SASRec (3,416 items, 58 leaves) the
    tree partitions fit its queries less well: 17 leaves (the 4x rule alone) gave recall 0.90, hence the
    20,000-item floor, which searches every leaf of such catalogues.
    """

    num_leaves: Optional[int] = None
    num_leaves_to_search: Optional[int] = None
    num_reordering_candidates: int = 250
    dimensions_per_block: int = 2
    training_iterations: int = 12
    target_recall: Optional[float] = None

    def __post_init__(self):
        if self.target_recall is not None and not 0 < self.target_recall <= 1:
            raise ValueError(f"ScannConfig.target_recall={self.target_recall!r} must be None or in (0, 1]")
        for field in ("num_leaves", "num_leaves_to_search"):
            value = getattr(self, field)
            if value is not None and (not _is_int(value) or value < 1):
                raise ValueError(f"ScannConfig.{field}={value!r} must be None (derived) or an int >= 1")
        for field in ("num_reordering_candidates", "dimensions_per_block", "training_iterations"):
            value = getattr(self, field)
            if not _is_int(value) or value < 1:
                raise ValueError(f"ScannConfig.{field}={value!r} must be an int >= 1")

    def resolve(self, num_items: int, dim: int) -> "ScannConfig":
        """Concrete values for ``num_items`` real items of vectors of ``dim`` columns; checks they fit."""
        if num_items < MIN_SCANN_ITEMS:
            raise ValueError(
                f"the scann variant needs at least {MIN_SCANN_ITEMS} items, the catalogue has "
                f"{num_items}; export only the brute_force variant"
            )
        leaves = self.num_leaves or int(min(2000, max(1, round(math.sqrt(num_items)))))
        if leaves > num_items:
            raise ValueError(
                f"ScannConfig.num_leaves={leaves} exceeds the {num_items} items of the catalogue; "
                f"use at most {num_items} (about sqrt({num_items}) = {round(math.sqrt(num_items))})"
            )
        to_search = self.num_leaves_to_search
        if to_search is None:
            per_leaf = num_items / leaves
            items = max(MIN_ITEMS_SEARCHED, 4 * self.num_reordering_candidates)
            to_search = min(leaves, max(math.ceil(0.05 * leaves), math.ceil(items / per_leaf)))
        if to_search > leaves:
            raise ValueError(f"ScannConfig.num_leaves_to_search={to_search} exceeds num_leaves={leaves}")
        if self.dimensions_per_block > dim:
            raise ValueError(
                f"ScannConfig.dimensions_per_block={self.dimensions_per_block} exceeds the {dim} "
                f"columns of the index vectors (embedding_dim + 1 for the bias)"
            )
        return dataclasses.replace(self, num_leaves=leaves, num_leaves_to_search=to_search)


class ScannIndex(TopKIndex):
    """Approximate top-K with ScaNN over the real items, exact rescoring of the fetched candidates."""

    variant = "scann"
    exact = False

    def __init__(
        self,
        embeddings: EmbeddingsFn,
        biases: BiasesFn,
        item_vectors: np.ndarray,
        item_biases: Optional[np.ndarray],
        config: Optional[ScannConfig] = None,
        name: str = "scann_index",
        calibration_queries: Optional[np.ndarray] = None,
        calibration_source: str = "",
    ):
        """``item_vectors [V, D]`` / ``item_biases [V]``: the current values of ``embeddings()`` / ``biases()``,
        from which the (frozen) ScaNN index is built. With ``config.target_recall``, ``calibration_queries
        [Q, D]`` (described by ``calibration_source``) choose the search settings."""
        super().__init__(name=name)
        import tensorflow_recommenders as tfrs

        self._embeddings = embeddings  # the model's table, read row by row (tf.gather) for the rescoring
        # [V] biases gathered by id; slicing the model's [V, 1] bias table would copy it for every request.
        self.bias = (
            None
            if item_biases is None
            else tf.Variable(np.asarray(item_biases, np.float32), trainable=False, name="item_bias")
        )
        vectors = np.asarray(item_vectors, np.float32)[FIRST_ITEM_ID:]  # [N, D]: real items only
        bias = (
            np.zeros(len(vectors), np.float32)
            if item_biases is None
            else np.asarray(item_biases, np.float32)[FIRST_ITEM_ID:]
        )
        folded = np.concatenate([vectors, bias[:, None]], axis=1)  # [N, D + 1]: [e, b]
        self.num_items = int(folded.shape[0])
        self.config = (config or ScannConfig()).resolve(self.num_items, int(folded.shape[1]))
        self.scann = tfrs.layers.factorized_top_k.ScaNN(
            k=min(10, self.num_items),
            distance_measure="dot_product",
            num_leaves=self.config.num_leaves,
            num_leaves_to_search=self.config.num_leaves_to_search,
            training_iterations=self.config.training_iterations,
            # ScaNN's own reordering caps the results at num_reordering_candidates (scann 1.4.2), which
            # would break the over-fetch for exclusions: search() rescores exactly in TF instead.
            dimensions_per_block=self.config.dimensions_per_block,
            num_reordering_candidates=None,
            name="scann",
        )
        self.scann.index(tf.constant(folded))
        self.calibration = None
        if self.config.target_recall is not None:
            self._calibrate(folded, calibration_queries, calibration_source)

    def _approximate(self, folded_queries, fetch, leaves):
        """ScaNN's ``(distances, positions)`` ``[B, n]`` (n <= fetch; missing: NaN distance), searching
        ``leaves`` leaves: the layer's searcher, with the leaves passed per call."""
        from scann.scann_ops.py import scann_ops

        searcher = scann_ops.searcher_from_module(self.scann._serialized_searcher)
        result = searcher.search_batched_parallel(folded_queries, final_num_neighbors=fetch, leaves_to_search=leaves)
        return result.distances, result.indices

    def _calibrate(self, folded: np.ndarray, queries: Optional[np.ndarray], source: str) -> None:
        from tfseqrec.export import scann_calibration as calibration

        if queries is None or len(queries) == 0:
            raise ValueError("ScannConfig.target_recall needs calibration queries (query embeddings [Q, D])")
        q = np.concatenate([np.asarray(queries, np.float32), np.ones((len(queries), 1), np.float32)], axis=1)
        k = min(10, self.num_items)

        def search(qs, k, leaves, reorder):
            fetch = min(self.num_items, max(reorder, k))
            _, positions = self._approximate(tf.constant(qs), fetch, leaves)
            positions = np.clip(positions.numpy(), 0, self.num_items - 1)
            scores = np.einsum("bd,bnd->bn", qs, folded[positions])  # the exact rescoring
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            return np.take_along_axis(positions, order, axis=1)

        exact = calibration.exact_top_k(folded, q, k)
        curve = calibration.recall_curve(search, exact, q, k, calibration.leaves_grid(self.config.num_leaves))
        best = calibration.choose(curve, self.config.target_recall)
        self.config = dataclasses.replace(
            self.config,
            num_leaves_to_search=best.leaves_to_search,
            num_reordering_candidates=best.reordering_candidates,
        )
        self.calibration = {
            "target_recall@10": self.config.target_recall,
            "queries": source or "given",
            "num_queries": int(len(q)),
            "chosen": dataclasses.asdict(best),
            "curve": [dataclasses.asdict(p) for p in curve],
        }

    def search(self, queries, exclude_ids, k):
        batch = tf.shape(queries)[0]
        folded = tf.concat([queries, tf.ones([batch, 1], queries.dtype)], axis=1)  # [B, D + 1]: [q, 1]
        longest = tf.reduce_max(tf.concat([tf.math.count_nonzero(exclude_ids, axis=1, dtype=tf.int32), [0]], 0))
        fetch = tf.minimum(self.num_items, tf.maximum(self.config.num_reordering_candidates, k + longest))
        approx, positions = self._approximate(folded, fetch, self.config.num_leaves_to_search)
        found = tf.math.is_finite(approx) & (positions >= 0) & (positions < self.num_items)
        ids = tf.where(found, tf.cast(positions, tf.int64) + FIRST_ITEM_ID, tf.zeros_like(positions, tf.int64))
        # Exact rescoring (the reordering step): the model's own score of each fetched item.
        scores = tf.einsum("bd,bnd->bn", queries, tf.gather(self._embeddings(), ids))
        if self.bias is not None:
            scores = scores + tf.gather(self.bias, ids)
        excluded = tf.reduce_any(tf.equal(ids[:, :, None], tf.cast(exclude_ids, tf.int64)[:, None, :]), axis=2)
        valid = found & tf.logical_not(excluded)
        masked = tf.where(valid, scores, tf.constant(NEG_INF, scores.dtype))
        top_scores, order = tf.math.top_k(masked, k=tf.minimum(k, tf.shape(masked)[1]))
        return pad_results(top_scores, tf.gather(ids, order, batch_dims=1), tf.gather(valid, order, batch_dims=1), k)

    def params(self) -> dict:
        return {
            **super().params(),
            **dataclasses.asdict(self.config),
            "num_items": self.num_items,
            "distance_measure": "dot_product",
            "bias_folded": True,
            "rescoring": "exact",
            **({"calibration": self.calibration} if self.calibration else {}),
        }


def build_index(
    variant: str,
    embeddings: EmbeddingsFn,
    biases: BiasesFn,
    scann_config: Optional[ScannConfig] = None,
    precision: str = "float32",
    calibration_queries: Optional[np.ndarray] = None,
    calibration_source: str = "",
) -> TopKIndex:
    """The index of an export variant (``"brute_force"`` or ``"scann"``) over the model's current tables;
    ``precision``: how the brute-force index stores its table (``float32``, ``float16``, ``int8``);
    ``calibration_queries [Q, D]``: for ``scann_config.target_recall``."""
    if variant == "brute_force":
        return BruteForceIndex(embeddings, biases, precision)
    if variant == "scann":
        bias = biases()
        return ScannIndex(
            embeddings,
            biases,
            embeddings().numpy(),
            None if bias is None else bias.numpy(),
            scann_config,
            calibration_queries=calibration_queries,
            calibration_source=calibration_source,
        )
    raise ValueError(f"unknown export variant {variant!r}; use 'brute_force' or 'scann'")

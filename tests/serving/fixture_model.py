"""A tiny SavedModel that follows ``tfseqrec.export.contract``, so the server is tested without the exporter.

``N`` random items ``item_0 .. item_{N-1}`` with ``D``-dim embeddings; the query is the mean embedding of the
known history items (``""`` and unknown ids are ignored); a row without known items gets the most popular
items. ``calls`` counts executions of the batched signatures, so tests can tell batching from one call per
request.
"""

from __future__ import annotations

import os
import shutil

import numpy as np

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from tfseqrec.export import contract as c

NUM_ITEMS = 50
DIM = 8
DEFAULT_K = 5
MAX_K = 20


class TinyRecommender(tf.Module):
    def __init__(
        self, seed: int = 0, num_items: int = NUM_ITEMS, dim: int = DIM, default_k: int = DEFAULT_K, max_k: int = MAX_K
    ):
        super().__init__()
        rng = np.random.default_rng(seed)
        ids = [f"item_{i}" for i in range(num_items)]
        self.num_items, self.default_k, self.max_k = num_items, default_k, max_k
        self.item_ids = tf.constant(ids)
        self.embeddings = tf.Variable(rng.normal(size=(num_items, dim)).astype(np.float32))
        self.biases = tf.Variable(np.zeros(num_items, np.float32))
        self.popularity = tf.constant(np.arange(num_items, 0, -1).astype(np.float32))  # item_0 most popular
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(ids), tf.range(num_items, dtype=tf.int64)), -1
        )
        self.calls = tf.Variable(0, dtype=tf.int64)

    def _query(self, history):
        idx = self.table.lookup(history)  # [B, H], -1 = padding / OOV
        valid = tf.cast(idx >= 0, tf.float32)
        emb = tf.gather(self.embeddings, tf.maximum(idx, 0)) * valid[..., None]
        count = tf.reduce_sum(valid, axis=1)
        return tf.reduce_sum(emb, axis=1) / tf.maximum(count, 1.0)[:, None], idx, count

    def _scores(self, history, exclude_seen):
        query, idx, count = self._query(history)
        scores = tf.matmul(query, self.embeddings, transpose_b=True) + self.biases
        scores = tf.where((count > 0)[:, None], scores, self.popularity[None, :])
        seen = tf.reduce_max(tf.one_hot(idx, self.num_items), axis=1) > 0  # one_hot(-1) is all zeros
        return tf.where(seen & exclude_seen[:, None], tf.constant(-np.inf, tf.float32), scores)

    def _top(self, scores, k):
        top_scores, top_idx = tf.math.top_k(scores, k)
        return tf.gather(self.item_ids, top_idx), top_scores

    @tf.function
    def serve(self, history):
        self.calls.assign_add(1)
        rows = tf.shape(history)[0]
        ids, scores = self._top(self._scores(history, tf.fill([rows], True)), self.default_k)
        return {c.ITEM_IDS: ids, c.SCORES: scores}

    @tf.function
    def recommend(self, history, k, exclude_seen):
        self.calls.assign_add(1)
        width = tf.minimum(tf.reduce_max(k), self.max_k)
        ids, scores = self._top(self._scores(history, exclude_seen), width)
        keep = tf.range(width)[None, :] < k[:, None]
        return {c.ITEM_IDS: tf.where(keep, ids, ""), c.SCORES: tf.where(keep, scores, tf.constant(-np.inf, tf.float32))}

    @tf.function
    def encode(self, history):
        return {c.QUERY: self._query(history)[0]}

    @tf.function
    def items(self):
        return {
            c.ITEM_IDS: self.item_ids,
            c.EMBEDDINGS: tf.identity(self.embeddings),
            c.BIASES: tf.identity(self.biases),
        }


def save_tiny_model(path: str, seed: int = 0, **kwargs) -> str:
    """Saves a TinyRecommender with the four contract signatures to ``path`` (a version directory)."""
    m = TinyRecommender(seed, **kwargs)
    history = tf.TensorSpec([None, None], tf.string, name=c.HISTORY)
    signatures = {
        c.SERVING_SIGNATURE: m.serve.get_concrete_function(history),
        c.RECOMMEND_SIGNATURE: m.recommend.get_concrete_function(
            history, tf.TensorSpec([None], tf.int32, name=c.K), tf.TensorSpec([None], tf.bool, name=c.EXCLUDE_SEEN)
        ),
        c.ENCODE_SIGNATURE: m.encode.get_concrete_function(history),
        c.ITEM_EMBEDDINGS_SIGNATURE: m.items.get_concrete_function(),
    }
    tf.saved_model.save(m, path, signatures=signatures)
    return path


def copy_version(src: str, base_path: str, version: int, via_tmp: bool = True) -> str:
    """Copies an export into ``base_path/<version>``, through a ``.tmp`` dir then a rename when ``via_tmp``."""
    dst = os.path.join(base_path, str(version))
    if not via_tmp:
        shutil.copytree(src, dst)
        return dst
    tmp = os.path.join(base_path, f".tmp-{version}")
    shutil.copytree(src, tmp)
    os.rename(tmp, dst)
    return dst

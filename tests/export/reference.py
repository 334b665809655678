"""The in-memory reference: the model's full ranking (``score_all``) with PAD/OOV and seen items masked, as the
evaluator ranks, computed in NumPy from string histories."""

import numpy as np

import tfseqrec  # noqa: F401
import tensorflow as tf


def dense(histories, left_pad=0):
    """String rows padded with ``""`` to one width (``left_pad`` extra ``""`` before each row)."""
    width = max(len(h) for h in histories) + left_pad
    return tf.constant([[""] * left_pad + h + [""] * (width - left_pad - len(h)) for h in histories])


def reference_top_k(model, vocabulary, histories, k, exclude_seen=True):
    """``(item_ids [B][k], scores [B, k])``; rows must hold at least one non-empty token."""
    index = {item: i for i, item in enumerate(vocabulary) if i >= 2}
    rows = [[index.get(t, 1) for t in h if t != ""] for h in histories]
    length = model.config.max_len
    inputs = np.zeros((len(rows), length), np.int64)
    for r, ids in enumerate(rows):
        latest = ids[-length:]
        inputs[r, length - len(latest) :] = latest
    scores = model.score_all(tf.constant(inputs)).numpy()
    excluded = np.zeros(scores.shape, bool)
    excluded[:, :2] = True
    if exclude_seen:
        for r, ids in enumerate(rows):
            excluded[r, ids] = True
    top_scores, top_ids = tf.math.top_k(np.where(excluded, -np.inf, scores), k=k)
    return [[vocabulary[i] for i in row] for row in top_ids.numpy()], top_scores.numpy()


def decode(tensor):
    return [[x.decode() for x in row] for row in tensor.numpy().tolist()]

"""Full-catalogue softmax cross-entropy with a hand-written gradient: the output layer of ``full_ce``.

The textbook graph, ``logits = q @ E^T`` then ``tf.nn.sparse_softmax_cross_entropy_with_logits``, forms and
differentiates the whole ``[N, V]`` logits (``benchmarks/output_layer.py`` times both layers in one process). Here
the forward pass keeps only ``softmax(logits)`` (one fused oneDNN kernel) and the backward pass never forms
``dlogits``:

* ``loss_n = -log p_n[y_n]`` where ``p = softmax(q E^T + b)``; rows where ``p[y]`` underflows float32 fall
  back to the exact ``logsumexp(logits_n) - logits_n[y_n]`` (a branch taken only when some row needs it);
* ``dq = dy * (p @ E - E[y])``, ``dE = ((dy * q)^T @ p)^T - scatter_add_y(dy * q)``,
  ``db = dy^T @ p - scatter_add_y(dy)``: the one-hot part of ``p - onehot(y)`` becomes a gather and a
  segment sum, ``dy`` is folded into the small ``[N, D]`` operand, and ``dE`` is computed as ``[D, V]``
  and transposed. ``benchmarks/output_layer.py`` times it against the textbook graph in one process.

Only the real items (ids ``first_id ..``) are candidates, so PAD and OOV need no masked logits at all;
their rows of ``dE`` are zero. Float32 only; other dtypes (mixed precision) use the textbook graph.
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from tfseqrec.ids import FIRST_ITEM_ID

# p[y] below this is treated as underflowed: its loss is recomputed exactly from the logits.
_UNDERFLOW = 1e-30


def full_softmax_cross_entropy(
    queries: tf.Tensor,
    item_embeddings: tf.Tensor,
    labels: tf.Tensor,
    item_bias: Optional[tf.Tensor] = None,
    first_id: int = FIRST_ITEM_ID,
) -> tf.Tensor:
    """Softmax cross-entropy of each query against every real item.

    Args:
      queries: ``[N, D]`` float32 query states.
      item_embeddings: ``[V, D]`` float32 output table; rows ``< first_id`` (PAD, OOV) are not candidates.
      labels: ``[N]`` int item ids in ``[first_id, V)``.
      item_bias: optional ``[V]`` float32 per-item logit bias.
      first_id: the first candidate id.

    Returns:
      ``[N]`` float32 losses; gradients flow to ``queries``, ``item_embeddings`` and ``item_bias``.
    """
    queries = tf.convert_to_tensor(queries)
    item_embeddings = tf.convert_to_tensor(item_embeddings)
    for name, tensor in (("queries", queries), ("item_embeddings", item_embeddings)) + (
        (("item_bias", tf.convert_to_tensor(item_bias)),) if item_bias is not None else ()
    ):
        if tensor.dtype != tf.float32:
            raise TypeError(f"full_softmax_cross_entropy: {name} must be float32, got {tensor.dtype.name}")
    candidates = item_embeddings[first_id:]  # [C, D]; the slice's gradient pads PAD/OOV rows with zeros
    local = tf.cast(labels, tf.int32) - first_id  # [N] in [0, C)
    if item_bias is None:
        return _softmax_ce(queries, candidates, local)
    return _softmax_ce_with_bias(queries, candidates, tf.convert_to_tensor(item_bias)[first_id:], local)


def _forward(queries, candidates, bias, labels):
    """(losses [N], probabilities [N, C])."""
    logits = tf.matmul(queries, candidates, transpose_b=True)  # [N, C]
    if bias is not None:
        logits += bias[tf.newaxis, :]
    probs = tf.nn.softmax(logits)
    label_probs = tf.gather(probs, labels, batch_dims=1)  # [N]
    underflow = label_probs < _UNDERFLOW
    losses = -tf.math.log(tf.maximum(label_probs, _UNDERFLOW))

    def exact():
        return tf.where(
            underflow, tf.reduce_logsumexp(logits, axis=1) - tf.gather(logits, labels, batch_dims=1), losses
        )

    losses = tf.cond(tf.reduce_any(underflow), exact, lambda: losses)
    return losses, probs


def _query_and_item_grads(dy, queries, candidates, labels, probs):
    """``dq [N, D]`` and ``dE [C, D]`` of ``sum_n dy_n * loss_n``."""
    num_candidates = tf.shape(candidates)[0]
    dy_col = dy[:, tf.newaxis]
    grad_queries = dy_col * (tf.matmul(probs, candidates) - tf.gather(candidates, labels))
    weighted = dy_col * queries  # [N, D]
    grad_items = tf.transpose(tf.matmul(weighted, probs, transpose_a=True)) - tf.math.unsorted_segment_sum(
        weighted, labels, num_candidates
    )
    return grad_queries, grad_items


@tf.custom_gradient
def _softmax_ce(queries, candidates, labels):
    losses, probs = _forward(queries, candidates, None, labels)

    def grad(dy):
        grad_queries, grad_items = _query_and_item_grads(dy, queries, candidates, labels, probs)
        return grad_queries, grad_items, None

    return losses, grad


@tf.custom_gradient
def _softmax_ce_with_bias(queries, candidates, bias, labels):
    losses, probs = _forward(queries, candidates, bias, labels)

    def grad(dy):
        grad_queries, grad_items = _query_and_item_grads(dy, queries, candidates, labels, probs)
        grad_bias = tf.linalg.matvec(probs, dy, transpose_a=True) - tf.math.unsorted_segment_sum(
            dy, labels, tf.shape(bias)[0]
        )
        return grad_queries, grad_items, grad_bias, None

    return losses, grad

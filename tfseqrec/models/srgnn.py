"""SR-GNN (Wu et al., "Session-based Recommendation with Graph Neural Networks", AAAI 2019).

Each session (here: each left-padded history row) becomes a directed graph over its *unique* items, with
an edge ``u -> v`` whenever ``v`` directly follows ``u``. As in the official code
(``CRIPAC-DIG/SR-GNN``, ``utils.py``/``model.py``), edges are binary (a repeated transition counts once)
and the two adjacency matrices are normalised by degree:

* ``A_out[u, v] = 1 / outdeg(u)`` for every edge ``u -> v`` (a node averages its successors),
* ``A_in[v, u] = 1 / indeg(v)`` for every edge ``u -> v`` (a node averages its predecessors).

Node states start from the item embeddings and go through ``gnn_steps`` gated graph steps with shared
weights (a GRU update whose input is ``[A_in H W_in + b_in ; A_out H W_out + b_out]``). The readout maps
every click ``i`` of the session to its node state ``v_i`` and combines the last click's state
``s_l = v_n`` with the attention-pooled global state ``s_g = sum_i alpha_i v_i``,
``alpha_i = q^T sigmoid(W_1 v_n + W_2 v_i + c)``, into ``s_h = W_3 [s_l; s_g]`` (``nonhybrid=True``:
``s_h = s_g``, the official ``--nonhybrid`` flag). The score of item ``j`` is ``s_h . E[j]`` (tied
embeddings, as in the paper).

Graph construction is batched TF ops (no Python per session), so it runs inside ``model.fit`` graphs:

* the node of a position is the position of the first occurrence of its item in the row (an "alias"
  index computed with an ``[B, L, L]`` equality and ``argmax``); so there are ``N = L`` node slots, of
  which only the first-occurrence positions are used;
* transitions ``j -> j + 1`` between two real (non-padding) positions are one-hot outer products
  ``[B, L - 1, N, N]``; the adjacency of a prefix is the (binarised) sum over its transitions.

**Training positions (design choice).** The paper trains on every prefix of every session (a session
``[s1..sn]`` gives the examples ``([s1], s2), ([s1, s2], s3), ...``). Here ``encode`` returns, at column
``t``, the SR-GNN session embedding ``s_h`` of the graph of the prefix ``0..t`` alone, computed for all
``L`` prefixes at once (the adjacency tensor is ``[B, L, N, N]``, node states ``[B, L, N, D]``). So the
model is truly causal (``causal = True``: the state at ``t`` never sees items after ``t``) and the base
class's ``compute_loss``, which makes every non-padding position a target, trains on exactly the
paper's all-prefixes augmentation, one graph per prefix, with no override. The cost is
``O(B L^3 + B L^2 D (D + L))`` per batch, fine for session data (``max_len`` ~ 20) but not for
``max_len`` in the hundreds. Scoring (``query``) builds only the graph of the whole (truncated) history,
``O(B L^2 D)``, and equals the last column of ``encode``.

Initialisation follows the official code: every weight (item table included) is uniform in
``+-1 / sqrt(embedding_dim)``. Dropout (``config.dropout``; the paper uses none) is applied to the input
item embeddings of the nodes.
"""

from __future__ import annotations

import dataclasses
import math

import tfseqrec  # noqa: F401  (Keras 2 for TFRS)
import tensorflow as tf

from tfseqrec.models.base import SequentialModelConfig, SequentialRecommender
from tfseqrec.ids import PAD_ID
from tfseqrec.models.dropout import FastDropout
from tfseqrec.models.registry import register


@dataclasses.dataclass(frozen=True)
class SRGNNConfig(SequentialModelConfig):
    """SR-GNN's own fields (the shared ones are in :class:`SequentialModelConfig`).

    Attributes:
      gnn_steps: number of gated graph steps (shared weights); the paper's default is 1.
      nonhybrid: use only the global embedding ``s_g`` as the session embedding (official ``--nonhybrid``).
    """

    gnn_steps: int = 1
    nonhybrid: bool = False

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.gnn_steps, bool) or not isinstance(self.gnn_steps, int) or self.gnn_steps < 1:
            raise ValueError(f"gnn_steps={self.gnn_steps!r} must be an int >= 1")


def session_graph(item_ids: tf.Tensor, prefix_ends: tf.Tensor):
    """Alias indices and normalised adjacency of the prefix graphs of left-padded sessions.

    Args:
      item_ids: ``[B, L]`` int, 0 = padding.
      prefix_ends: ``[P]`` int32, the last column of each prefix (the prefix is columns ``0..end``).

    Returns:
      ``(alias [B, L, N], a_in [B, P, N, N], a_out [B, P, N, N])`` with ``N = L``: ``alias[b, j, n] = 1``
      when column ``j`` is a real item whose node is ``n`` (the column of the item's first occurrence in
      the row); ``a_out[b, p, u, v] = 1 / outdeg(u)`` and ``a_in[b, p, v, u] = 1 / indeg(v)`` for each
      distinct edge ``u -> v`` among the transitions inside prefix ``p``.
    """
    item_ids = tf.cast(item_ids, tf.int64)
    length = tf.shape(item_ids)[1]
    is_item = tf.not_equal(item_ids, PAD_ID)  # [B, L]
    same = tf.equal(item_ids[:, :, tf.newaxis], item_ids[:, tf.newaxis, :])  # [B, L, L]
    first = tf.argmax(tf.cast(same, tf.int32), axis=2, output_type=tf.int32)  # first occurrence, <= j
    alias = tf.one_hot(first, length) * tf.cast(is_item, tf.float32)[..., tf.newaxis]  # [B, L, N]
    # Transition j -> j + 1 (zero unless both columns are real items): [B, L - 1, N, N].
    transitions = alias[:, :-1, :, tf.newaxis] * alias[:, 1:, tf.newaxis, :]
    # Transition j belongs to prefix p when j + 1 <= end_p.
    in_prefix = tf.cast(tf.range(length - 1)[tf.newaxis, :] < prefix_ends[:, tf.newaxis], tf.float32)  # [P, L-1]
    counts = tf.einsum("pj,bjuv->bpuv", in_prefix, transitions)  # [B, P, N, N]
    adjacency = tf.cast(counts > 0.5, tf.float32)  # binary edges, as the official code
    out_degree = tf.reduce_sum(adjacency, axis=3, keepdims=True)  # [B, P, N, 1]
    in_degree = tf.reduce_sum(adjacency, axis=2, keepdims=True)  # [B, P, 1, N]
    a_out = adjacency / tf.maximum(out_degree, 1.0)
    a_in = tf.linalg.matrix_transpose(adjacency / tf.maximum(in_degree, 1.0))
    return alias, a_in, a_out


def _uniform(dim: int) -> tf.keras.initializers.Initializer:
    """A fresh ``U(-1/sqrt(dim), 1/sqrt(dim))`` (the official init; unseeded instances must not be reused)."""
    limit = 1.0 / math.sqrt(dim)
    return tf.keras.initializers.RandomUniform(-limit, limit)


class GatedGraphCell(tf.keras.layers.Layer):
    """One gated GNN step (SR-GNN eq. 1-5; official ``GNN.GNNCell``) on node states ``[..., N, D]``."""

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        dense = lambda units, name: tf.keras.layers.Dense(  # noqa: E731
            units, kernel_initializer=_uniform(dim), bias_initializer=_uniform(dim), name=name
        )
        self.edge_in = dense(dim, "edge_in")
        self.edge_out = dense(dim, "edge_out")
        self.input_gates = dense(3 * dim, "input_gates")
        self.hidden_gates = dense(3 * dim, "hidden_gates")

    def build(self, input_shape):
        self.bias_in = self.add_weight(name="bias_in", shape=[self.dim], initializer=_uniform(self.dim))
        self.bias_out = self.add_weight(name="bias_out", shape=[self.dim], initializer=_uniform(self.dim))
        super().build(input_shape)

    def call(self, hidden, a_in, a_out):
        a_in, a_out = tf.cast(a_in, hidden.dtype), tf.cast(a_out, hidden.dtype)  # float32 graphs, mixed precision
        message_in = tf.matmul(a_in, self.edge_in(hidden)) + self.bias_in
        message_out = tf.matmul(a_out, self.edge_out(hidden)) + self.bias_out
        gi = self.input_gates(tf.concat([message_in, message_out], axis=-1))
        gh = self.hidden_gates(hidden)
        i_r, i_z, i_n = tf.split(gi, 3, axis=-1)
        h_r, h_z, h_n = tf.split(gh, 3, axis=-1)
        reset = tf.sigmoid(i_r + h_r)
        update = tf.sigmoid(i_z + h_z)
        candidate = tf.tanh(i_n + reset * h_n)
        return candidate + update * (hidden - candidate)


@register("srgnn", SRGNNConfig)
class SRGNN(SequentialRecommender):
    """SR-GNN; ``encode``: ``[B, L] -> [B, L, D]`` (column ``t`` = the prefix ``0..t``'s session embedding)."""

    reads_record_inputs = False  # graph nodes are items, not events: item-level side inputs only

    causal = True  # each column's graph holds only the items up to that column

    def __init__(self, config: SRGNNConfig, num_items: int, item_counts=None, **kwargs):
        super().__init__(config, num_items, item_counts=item_counts, **kwargs)
        dim = config.embedding_dim
        self.item_embedding.embeddings_initializer = _uniform(dim)  # table not built yet
        self.embedding_dropout = FastDropout(config.dropout, name="embedding_dropout")
        self.cell = GatedGraphCell(dim, name="gnn_cell")
        dense = lambda units, name, bias=True: tf.keras.layers.Dense(  # noqa: E731  (fresh initialisers)
            units, use_bias=bias, kernel_initializer=_uniform(dim), bias_initializer=_uniform(dim), name=name
        )
        self.attention_last = dense(dim, "attention_last")  # W_1 (+ c)
        self.attention_item = dense(dim, "attention_item")  # W_2
        self.attention_score = dense(1, "attention_score", bias=False)  # q
        self.combine = None if config.nonhybrid else dense(dim, "combine")  # W_3

    def _session_embeddings(self, item_ids: tf.Tensor, prefix_ends: tf.Tensor, training: bool) -> tf.Tensor:
        """``s_h [B, P, D]`` for the prefixes ending at columns ``prefix_ends [P]`` of ``item_ids [B, L]``."""
        item_ids = tf.cast(item_ids, tf.int64)
        alias, a_in, a_out = session_graph(item_ids, prefix_ends)
        num_prefixes = tf.shape(prefix_ends)[0]
        # Node n's initial state: the embedding of the item in column n (only first occurrences are read).
        nodes = self.embedding_dropout(self.embed_items(item_ids), training=training)  # [B, N, D]
        hidden = tf.tile(nodes[:, tf.newaxis], [1, num_prefixes, 1, 1])  # [B, P, N, D]
        for _ in range(self.config.gnn_steps):
            hidden = self.cell(hidden, a_in, a_out)
        alias = tf.cast(alias, hidden.dtype)
        clicks = tf.einsum("bjn,bpnd->bpjd", alias, hidden)  # v_i for every click j: [B, P, L, D]
        last_alias = tf.gather(alias, prefix_ends, axis=1)  # [B, P, N]
        last = tf.einsum("bpn,bpnd->bpd", last_alias, hidden)  # s_l = v_n: [B, P, D]
        length = tf.shape(item_ids)[1]
        in_prefix = tf.range(length)[tf.newaxis, :] <= prefix_ends[:, tf.newaxis]  # [P, L]
        mask = tf.logical_and(in_prefix[tf.newaxis], tf.not_equal(item_ids, PAD_ID)[:, tf.newaxis])  # [B, P, L]
        alpha = self.attention_score(
            tf.sigmoid(self.attention_last(last)[:, :, tf.newaxis] + self.attention_item(clicks))
        )  # [B, P, L, 1]
        alpha = alpha * tf.cast(mask, alpha.dtype)[..., tf.newaxis]
        global_state = tf.reduce_sum(alpha * clicks, axis=2)  # s_g: [B, P, D]
        if self.combine is None:
            return global_state
        return self.combine(tf.concat([last, global_state], axis=-1))  # s_h = W_3 [s_l; s_g]

    def encode(self, item_ids, training=False):
        """Column ``t``: SR-GNN session embedding of the graph of columns ``0..t`` (padding columns: junk)."""
        length = tf.shape(item_ids)[1]
        return self._session_embeddings(item_ids, tf.range(length), training)

    def query(self, item_ids, training=False):
        """Session embedding of the graph of the whole (truncated) history: ``[B, D]``."""
        item_ids = self._truncate(tf.cast(item_ids, tf.int64))
        ends = tf.reshape(tf.shape(item_ids)[1] - 1, [1])
        return self._session_embeddings(item_ids, ends, training)[:, 0, :]

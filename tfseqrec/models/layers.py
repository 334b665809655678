"""Building blocks shared by architectures: attention masks, transformer blocks, position ids.

Attention masks are functions of the padding mask, so a causal encoder (SASRec) and a bidirectional
masked-LM encoder (BERT4Rec) differ only in the mask function they pass to the same blocks. Position encodings
(``tfseqrec.models.positions``) reach the blocks' attention as an ``AttentionPositions`` (``positions=``); what
the attention computes is its kernel (``tfseqrec.models.attention``: full softmax by default, or an efficient
kind that never forms the ``[L, L]`` matrix).
"""

from __future__ import annotations


import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models.attention import AttentionConfig, build_attention
from tfseqrec.models.dropout import FastDropout


def causal_attention_mask(padding_mask: tf.Tensor) -> tf.Tensor:
    """``[B, L, L]`` bool: query position i may attend key j iff j <= i and key j is not padding.

    ``padding_mask [B, L]`` is True for real items.
    """
    length = tf.shape(padding_mask)[1]
    causal = tf.linalg.band_part(tf.ones([length, length], tf.bool), -1, 0)
    return tf.logical_and(causal[tf.newaxis], padding_mask[:, tf.newaxis, :])


def bidirectional_attention_mask(padding_mask: tf.Tensor) -> tf.Tensor:
    """``[B, L, L]`` bool: every position may attend every non-padding key (masked-LM encoders)."""
    length = tf.shape(padding_mask)[1]
    return tf.tile(padding_mask[:, tf.newaxis, :], [1, length, 1])


def small_normal_initializer(stddev: float = 0.02) -> tf.keras.initializers.Initializer:
    """Truncated normal with a small stddev for transformer weights (BERT/GPT-style; the SASRec and BERT4Rec
    reference implementations use 0.02): residual branches start near zero, so early training follows the
    embeddings."""
    return tf.keras.initializers.TruncatedNormal(stddev=stddev)


ATTENTION_INITS = ("small_normal", "xavier_qkv")


def check_attention_init(name: str) -> None:
    if name not in ATTENTION_INITS:
        raise ValueError(
            f"attention_init={name!r}: use one of {ATTENTION_INITS} (small_normal: every attention "
            "projection ~N(0, 0.02); xavier_qkv: query/key/value uniform Xavier over the packed "
            "[3D, D] matrix as torch's nn.MultiheadAttention, output projection ~N(0, 0.02))"
        )


def qkv_initializer(attention_init: str, dim: int) -> tf.keras.initializers.Initializer:
    """Initializer of the query/key/value kernels for ``attention_init`` (see :func:`check_attention_init`).

    ``xavier_qkv`` draws from ``U(+-sqrt(6 / (D + 3D)))``: torch packs Q, K and V into one ``[3D, D]``
    ``in_proj_weight`` and initialises it with Xavier-uniform, which the SASRec reference keeps (its
    ``N(0, 0.02)`` re-initialisation only reaches ``nn.Linear`` modules). Keras' own Glorot would compute
    the fans of the ``[D, heads, D / heads]`` einsum kernel differently, hence the explicit range.
    """
    check_attention_init(attention_init)
    if attention_init == "small_normal":
        return small_normal_initializer()
    limit = (6.0 / (4.0 * dim)) ** 0.5
    return tf.keras.initializers.RandomUniform(-limit, limit)


class ProjectionInitAttention(tf.keras.layers.MultiHeadAttention):
    """``MultiHeadAttention`` whose output projection has its own initializer, whose attention is a pluggable
    kernel, and with position encodings applied inside the attention.

    Keras gives every projection ``kernel_initializer``; here that one covers query, key and value, and
    ``output_kernel_initializer`` the output projection ``[heads, D / heads, D]``. ``kernel``: an
    ``AttentionKernel`` (``tfseqrec.models.attention``; full softmax with :class:`FastDropout` on the
    probabilities when None). ``call(..., positions=p, padding_mask=m)`` with an ``AttentionPositions``
    (``tfseqrec.models.positions.base``) lets ``p`` change the projected queries, keys and values
    ``[B, T | S, H, Dh]`` and, for kernels that form them, add to the logits and to the output; ``m [B, L]`` is
    what kernels without an ``[L, L]`` mask read.
    """

    def __init__(self, *args, output_kernel_initializer="glorot_uniform", kernel=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._output_kernel_initializer = tf.keras.initializers.get(output_kernel_initializer)
        self._positions = None  # the AttentionPositions of the call in progress
        self._padding_mask = None  # and its padding mask
        self.attention_kernel = kernel or build_attention(
            AttentionConfig(), 0, self._num_heads, self._key_dim, causal=False, dropout=self._dropout
        )

    def call(
        self,
        query,
        value,
        key=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
        positions=None,
        padding_mask=None,
    ):
        self._positions, self._padding_mask = positions, padding_mask
        try:
            return super().call(
                query,
                value,
                key,
                attention_mask=attention_mask,
                return_attention_scores=return_attention_scores,
                training=training,
                use_causal_mask=use_causal_mask,
            )
        finally:
            self._positions, self._padding_mask = None, None

    def _compute_attention(self, query, key, value, attention_mask=None, training=None):
        positions = self._positions
        if positions is not None:
            query, key, value = positions.project(query, key, value)
        return self.attention_kernel(
            query,
            key,
            value,
            padding_mask=self._padding_mask,
            attention_mask=attention_mask,
            positions=positions,
            training=training,
        )

    def _make_output_dense(self, free_dims, common_kwargs, name=None):
        initializer = self._output_kernel_initializer
        common_kwargs = dict(
            common_kwargs, kernel_initializer=initializer.__class__.from_config(initializer.get_config())
        )
        return super()._make_output_dense(free_dims, common_kwargs, name=name)

    def _build_attention(self, rank):
        super()._build_attention(rank)
        self._softmax = self._dropout_layer = None  # the kernel computes the attention (and owns its dropout)

    def get_config(self):
        return {
            **super().get_config(),
            "output_kernel_initializer": tf.keras.initializers.serialize(self._output_kernel_initializer),
        }


FFN_ACTIVATIONS = ("relu", "gelu")
BLOCK_STYLES = ("pre_norm", "post_norm")


def check_block_options(block_style: str, ffn_activation: str) -> None:
    if block_style not in BLOCK_STYLES:
        raise ValueError(
            f"block_style={block_style!r}: use one of {BLOCK_STYLES} (pre_norm: SASRec's block; "
            "post_norm: BERT's, LayerNorm after each residual sum)"
        )
    if ffn_activation not in FFN_ACTIVATIONS:
        raise ValueError(f"ffn_activation={ffn_activation!r}: use one of {FFN_ACTIVATIONS}")


class PointWiseFeedForward(tf.keras.layers.Layer):
    """Two position-wise dense layers with ReLU (or GELU) and dropout: ``[B, L, D] -> [B, L, D]``."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float, activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.dim, self.hidden_dim, self.dropout_rate, self.activation = dim, hidden_dim, dropout, activation
        self.inner = tf.keras.layers.Dense(
            hidden_dim, activation=activation, kernel_initializer=small_normal_initializer()
        )
        self.outer = tf.keras.layers.Dense(dim, kernel_initializer=small_normal_initializer())
        self.dropout1 = FastDropout(dropout)
        self.dropout2 = FastDropout(dropout)

    def call(self, x, training=False):
        return self.dropout2(self.outer(self.dropout1(self.inner(x), training=training)), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout_rate,
            "activation": self.activation,
        }


class TransformerBlock(tf.keras.layers.Layer):
    """Self-attention block, pre-norm as in SASRec (Kang & McAuley 2018) or post-norm as in BERT.

    ``pre_norm``: ``q = LN(x); x = q + MHA(q, x, x); x = LN(x); x = x + FFN(x)`` (SASRec's code).
    ``post_norm``: ``x = LN(x + Dropout(MHA(x, x, x))); x = LN(x + FFN(x))`` (BERT, and so BERT4Rec's code).
    Padding rows are zeroed. Input/output ``[B, L, D]``; ``attention_mask [B, L, L]`` bool (None for attention
    kinds that do not need it); ``padding_mask [B, L]``; ``positions``: the encoder's ``AttentionPositions`` for
    this pass (``tfseqrec.models.positions``), or None. ``attention``: the kind of attention
    (``tfseqrec.models.attention``, full softmax by default), for inputs of up to ``max_len`` positions,
    ``causal`` or not.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        hidden_dim: int,
        dropout: float,
        epsilon: float = 1e-8,
        attention_init: str = "small_normal",
        block_style: str = "pre_norm",
        ffn_activation: str = "relu",
        attention=None,
        max_len: int = 0,
        causal: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f"embedding_dim {dim} is not divisible by num_heads {num_heads}")
        check_block_options(block_style, ffn_activation)
        self.dim, self.num_heads, self.hidden_dim, self.dropout_rate, self.epsilon = (
            dim,
            num_heads,
            hidden_dim,
            dropout,
            epsilon,
        )
        self.attention_init, self.block_style, self.ffn_activation = attention_init, block_style, ffn_activation
        self.attention_norm = tf.keras.layers.LayerNormalization(epsilon=epsilon)
        self.attention = ProjectionInitAttention(
            num_heads,
            key_dim=dim // num_heads,
            dropout=dropout,
            kernel_initializer=qkv_initializer(attention_init, dim),
            output_kernel_initializer=small_normal_initializer(),
            kernel=build_attention(
                attention or AttentionConfig(), max_len, num_heads, dim // num_heads, causal, dropout, name="kernel"
            ),
        )
        self.attention_dropout = (
            FastDropout(dropout)  # BERT's dropout on the attention output
            if block_style == "post_norm"
            else None
        )
        self.ffn_norm = tf.keras.layers.LayerNormalization(epsilon=epsilon)
        self.ffn = PointWiseFeedForward(dim, hidden_dim, dropout, activation=ffn_activation)

    def call(self, x, attention_mask, padding_mask, training=False, positions=None):
        attend = dict(attention_mask=attention_mask, training=training, positions=positions, padding_mask=padding_mask)
        if self.block_style == "pre_norm":
            q = self.attention_norm(x)
            x = q + self.attention(q, x, x, **attend)
            x = self.ffn_norm(x)
            x = x + self.ffn(x, training=training)
        else:
            attended = self.attention(x, x, x, **attend)
            x = self.attention_norm(x + self.attention_dropout(attended, training=training))
            x = self.ffn_norm(x + self.ffn(x, training=training))
        return x * tf.cast(padding_mask, x.dtype)[..., tf.newaxis]

    def project_key_value(self, x: tf.Tensor) -> tuple:
        """The attention's keys and values ``[B, T, H, Dh]`` of block inputs ``x [B, T, D]`` (what a key-value
        cache keeps)."""
        return self.attention._key_dense(x), self.attention._value_dense(x)

    def step(self, x: tf.Tensor, keys: tf.Tensor, values: tf.Tensor, key_mask: tf.Tensor) -> tf.Tensor:
        """The block's output ``[B, 1, D]`` at one new position (inference): ``x [B, 1, D]`` its input, ``keys`` /
        ``values [B, S, H, Dh]`` every position's so far (this one's included), ``key_mask [B, S]`` which are
        real. Equals ``call`` over the whole sequence at that position when the attention kind
        ``attends_cached_keys`` and positions enter through the inputs only."""
        attention = self.attention

        def attend(query_input):
            output, _ = attention.attention_kernel(
                attention._query_dense(query_input),
                keys,
                values,
                padding_mask=key_mask,
                attention_mask=key_mask[:, tf.newaxis, :],
                training=False,
            )
            return attention._output_dense(output)

        if self.block_style == "pre_norm":
            q = self.attention_norm(x)
            x = self.ffn_norm(q + attend(q))
            return x + self.ffn(x, training=False)
        x = self.attention_norm(x + attend(x))
        return self.ffn_norm(x + self.ffn(x, training=False))

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout_rate,
            "epsilon": self.epsilon,
            "attention_init": self.attention_init,
            "block_style": self.block_style,
            "ffn_activation": self.ffn_activation,
            "attention": self.attention.attention_kernel.config.to_dict(),
            "max_len": self.attention.attention_kernel.max_len,
            "causal": self.attention.attention_kernel.causal,
        }


def run_blocks(blocks, x, padding_mask, mask_fn, position_encoding, timestamps=None, training=False, block_inputs=None):
    """``blocks`` over ``x [B, L, D]``: the ``[B, L, L]`` mask (``mask_fn(padding_mask)``) is built only when the
    attention kind needs it, and the position encoding's ``AttentionPositions`` once for all blocks.
    ``block_inputs``: a list that receives each block's input ``[B, L, D]`` (for a key-value cache)."""
    needs_mask = any(block.attention.attention_kernel.needs_mask for block in blocks)
    attention_mask = mask_fn(padding_mask) if needs_mask else None
    positions = position_encoding.attention_positions(padding_mask, attention_mask, timestamps, training)
    for block in blocks:
        if block_inputs is not None:
            block_inputs.append(x)
        x = block(x, attention_mask=attention_mask, padding_mask=padding_mask, training=training, positions=positions)
    return x


POSITION_ORIGINS = ("first", "last")


def check_position_origin(origin: str) -> None:
    if origin not in POSITION_ORIGINS:
        raise ValueError(
            f"position_origin={origin!r}: use one of {POSITION_ORIGINS} (first: position 0 is the "
            "oldest item kept; last: the newest item is max_len - 1)"
        )


def position_ids(padding_mask: tf.Tensor, max_len: int, origin: str = "first") -> tf.Tensor:
    """Position ids for left-padded rows, ``[B, L]`` (``origin="first"``) or ``[1, L]`` (``"last"``).

    ``"first"``: 0 at each row's oldest real item, counting up (padding gets 0 and is masked anyway), as
    with the right-padded reference implementations. ``"last"``: the newest column is ``max_len - 1``
    whatever the row's length. ``padding_mask [B, L]`` is True for real items; ``L <= max_len``.
    """
    if origin == "first":
        return tf.maximum(tf.cumsum(tf.cast(padding_mask, tf.int32), axis=1) - 1, 0)
    length = tf.shape(padding_mask)[1]
    return tf.range(max_len - length, max_len)[tf.newaxis]


def transformer_blocks(
    num_blocks: int,
    dim: int,
    num_heads: int,
    hidden_dim: int,
    dropout: float,
    epsilon: float,
    attention_init: str = "small_normal",
    block_style: str = "pre_norm",
    ffn_activation: str = "relu",
    attention=None,
    max_len: int = 0,
    causal: bool = True,
    prefix: str = "block",
) -> list:
    """``num_blocks`` ``TransformerBlock``s named ``<prefix>_<i>`` (``attention``, ``max_len``, ``causal``: see
    ``TransformerBlock``)."""
    return [
        TransformerBlock(
            dim,
            num_heads,
            hidden_dim,
            dropout,
            epsilon,
            attention_init,
            block_style=block_style,
            ffn_activation=ffn_activation,
            attention=attention,
            max_len=max_len,
            causal=causal,
            name=f"{prefix}_{i}",
        )
        for i in range(num_blocks)
    ]

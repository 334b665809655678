"""BERT4Rec (Sun et al., CIKM 2019): a bidirectional transformer trained with the cloze objective.

Same contract as every model (``base.SequentialRecommender``): tied item embeddings, a shared
``NextItemTask`` owning the loss (``full_ce`` as in the paper, or any other ``LossConfig``, e.g.
``sampled_softmax``), ``score_all(item_ids) -> [B, V]``. What differs from SASRec:

* **Vocabulary.** Ids 0 = PAD, 1 = OOV, items ``2 .. V - 1`` as everywhere, plus a mask token
  ``mask_token_id = V``: the input table has ``V + 1`` rows; the output layer uses the first ``V``
  rows only (``item_embeddings()``), so the mask token is never scored nor sampled.
* **Encoder** (``encode``): item + learnable absolute position embeddings (``position_origin``: counted
  from the newest item by default; ``"first"`` counts from the oldest, as the reference BERT on right
  padding; ``position_encoding`` picks another kind, see ``tfseqrec.models.positions``), LayerNorm and
  dropout (BERT's embedding post-processing), ``num_blocks`` shared
  ``TransformerBlock`` s with ``bidirectional_attention_mask`` (every position attends every real
  position, both sides), final LayerNorm. ``causal = False``: a state may depend on later items.
* **Training** (``compute_loss``): on the last ``max_len`` items of each training row, ``ClozeMasking``
  replaces a random subset of the real items by the mask token (``mask_prob``; see
  ``tfseqrec.models.masking``); the state at each masked column, through the output head, is the query
  for the item that was there. Unmasked columns have target 0 and are not examples. Outside training
  (``model.evaluate``, ``build_for_inputs``) the loss is deterministic: only the last item is masked.
* **Inference** (``query`` / ``score_all``): ``LastPositionMasking`` appends the mask token after the
  history (the oldest item dropped when the history already has ``max_len`` items) and the state at
  that column, through the output head, scores the next item. With an encoding that reads timestamps
  (``time_interval``), the mask column takes the newest history item's timestamp (interval 0 to it).
* **Output head** (``output_head=True``, the paper's Eq. 7 and its code's ``get_masked_lm_output``):
  ``LayerNorm(GELU(h W + b))`` before the dot product with the item embeddings, plus a per-item output
  bias (``output_bias`` defaults to True here).

Blocks: by default the library's SASRec-style pre-norm blocks with a ReLU feed-forward
(``layers.TransformerBlock``), so that SASRec and BERT4Rec differ only in the attention-mask function
and the masking; ``block_style="post_norm", ffn_activation="gelu"`` gives the paper's BERT blocks
(LayerNorm after each residual sum, GELU). The feed-forward width defaults to ``4 * embedding_dim`` as
in the paper/BERT (SASRec uses ``embedding_dim``).

Switching SASRec to a masked-LM objective (Transformers4Rec's ``masking="mlm"`` vs ``"clm"``) is this
class: ``attention_mask_fn`` = ``bidirectional_attention_mask`` instead of ``causal_attention_mask``
plus cloze masking (``compute_loss``) and last-position masking (``query``) instead of shifted targets.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import tfseqrec  # noqa: F401  (Keras 2 for TFRS)
import tensorflow as tf

from tfseqrec.models.base import SequentialModelConfig, SequentialRecommender
from tfseqrec.ids import PAD_ID
from tfseqrec.models.attention import AttentionConfig, attention_config, check_positions
from tfseqrec.models.dropout import FastDropout
from tfseqrec.models.layers import (
    bidirectional_attention_mask,
    check_block_options,
    check_position_origin,
    run_blocks,
    transformer_blocks,
)
from tfseqrec.models.inputs import TIMESTAMPS
from tfseqrec.models.positions import PositionEncodingConfig, build_position_encoding, position_encoding_config
from tfseqrec.models.masking import ClozeMasking, LastPositionMasking, mask_last_item
from tfseqrec.ids import FIRST_ITEM_ID
from tfseqrec.models.registry import register


@dataclasses.dataclass(frozen=True)
class BERT4RecConfig(SequentialModelConfig):
    """BERT4Rec's fields (the shared ones are in :class:`SequentialModelConfig`).

    Defaults follow the paper's ML-1M setting and code (2 blocks, 2 heads, mask proportion 0.2, dropout
    0.1, output bias, always the mask token, ~1/11 last-item rows); ``embedding_dim`` / ``max_len`` keep
    the library defaults 64 / 200, the paper's ML-1M values.

    Attributes:
      num_blocks, num_heads: transformer blocks and attention heads (``embedding_dim % num_heads == 0``).
      ffn_dim: feed-forward inner width; ``None`` = ``4 * embedding_dim`` (paper, as BERT).
      layer_norm_epsilon: of every LayerNorm.
      position_origin: ``"last"`` (newest item = ``max_len - 1``; the default, under which the cloze tests
        learn fastest) or ``"first"`` (position 0 = oldest kept item, as the reference BERT on right padding).
      mask_prob: fraction of each training row's real items that are masked (the paper's rho; at least
        one per row). The paper uses 0.2 on ML-1M / ML-20M, 0.4 on Steam, 0.6 on Beauty.
      mask_token_prob, random_token_prob: replacement of a chosen item: the mask token / a random item /
        unchanged with the rest. Default 1.0 / 0.0 (always the mask token, the paper's scripts);
        BERT's 80/10/10 is 0.8 / 0.1.
      mask_last_prob: probability that a training row has only its last item masked (the inference
        task). Default 0.1: the paper's data generator (``mask_last``) adds one such row per training
        window next to ``dupe_factor=10`` randomly masked copies (1/11); 0 = random masking only.
      max_predictions: optional cap on masked items per row (``max_predictions_per_seq``).
      output_head: the GELU dense + LayerNorm transform before the output layer (paper Eq. 7).
      block_style: ``"pre_norm"`` (default: the library's SASRec block, so the two models differ only in
        masking) or ``"post_norm"`` (BERT's block, as the paper's code; no final LayerNorm then, since
        every block already ends with one).
      ffn_activation: ``"relu"`` (SASRec's) or ``"gelu"`` (BERT's) in the feed-forward.
      masking_seed: seed of the cloze masking; ``None`` = drawn from Python's ``random``
        (``tf.keras.utils.set_random_seed`` makes it repeatable).
      position_encoding: a ``PositionEncodingConfig`` (or its mapping, or a bare name); ``learnable`` by
        default (``tfseqrec.models.positions``).
      attention: an ``AttentionConfig`` (or its mapping, or a bare name): ``full`` softmax by default, or an
        efficient kind (``tfseqrec.models.attention``: local, linear, performer, linformer).
    """

    dropout: float = 0.1
    output_bias: bool = True
    num_blocks: int = 2
    num_heads: int = 2
    ffn_dim: Optional[int] = None
    layer_norm_epsilon: float = 1e-8
    position_origin: str = "last"
    mask_prob: float = 0.2
    mask_token_prob: float = 1.0
    random_token_prob: float = 0.0
    mask_last_prob: float = 0.1
    max_predictions: Optional[int] = None
    output_head: bool = True
    block_style: str = "pre_norm"
    ffn_activation: str = "relu"
    masking_seed: Optional[int] = None
    position_encoding: PositionEncodingConfig = dataclasses.field(default_factory=PositionEncodingConfig)
    attention: AttentionConfig = dataclasses.field(default_factory=AttentionConfig)

    def __post_init__(self):
        super().__post_init__()
        check_position_origin(self.position_origin)
        object.__setattr__(self, "position_encoding", position_encoding_config(self.position_encoding))
        object.__setattr__(self, "attention", attention_config(self.attention))
        check_block_options(self.block_style, self.ffn_activation)
        if self.max_len < 2:
            raise ValueError(f"max_len={self.max_len} must be >= 2 (the mask token takes one position)")
        if self.num_blocks < 1 or self.num_heads < 1:
            raise ValueError(f"num_blocks ({self.num_blocks}) and num_heads ({self.num_heads}) must be >= 1")
        if self.embedding_dim % self.num_heads:
            raise ValueError(f"embedding_dim {self.embedding_dim} is not divisible by num_heads {self.num_heads}")
        if self.ffn_dim is not None and self.ffn_dim < 1:
            raise ValueError(f"ffn_dim={self.ffn_dim} must be >= 1 or None")
        if not 0.0 < self.mask_prob <= 1.0:
            raise ValueError(f"mask_prob={self.mask_prob} must be in (0, 1]")
        for name in ("mask_token_prob", "random_token_prob", "mask_last_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)} must be in [0, 1]")
        if self.mask_token_prob + self.random_token_prob > 1.0 + 1e-9:
            raise ValueError("mask_token_prob + random_token_prob must be <= 1")
        if self.max_predictions is not None and self.max_predictions < 1:
            raise ValueError(f"max_predictions={self.max_predictions} must be >= 1 or None")

    @property
    def ffn_width(self) -> int:
        return self.ffn_dim or 4 * self.embedding_dim


@register("bert4rec", BERT4RecConfig)
class BERT4Rec(SequentialRecommender):
    """Bidirectional self-attention with cloze training; ``encode``: ``[B, L] -> [B, L, D]``."""

    causal = False  # every state sees the whole input (the shared no-future test does not apply)
    attention_mask_fn = staticmethod(bidirectional_attention_mask)
    num_extra_input_tokens = 1  # [MASK] = num_items
    supports_heads = False  # its loss is its own (no per-position next-event states)

    def __init__(self, config: BERT4RecConfig, num_items: int, item_counts=None, **kwargs):
        super().__init__(config, num_items, item_counts=item_counts, **kwargs)
        dim = config.embedding_dim
        # the encoder's position encoding (any kind), under the attribute name of the learnable table
        self.position_embedding = build_position_encoding(
            config.position_encoding,
            config.max_len,
            dim,
            config.num_heads,
            origin=config.position_origin,
            causal=self.causal,
            dropout=config.dropout,
            name="position_embedding",
        )
        check_positions(config.attention, self.position_embedding)
        self.embedding_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon)
        self.input_dropout = FastDropout(config.dropout)
        self.blocks = transformer_blocks(
            config.num_blocks,
            dim,
            config.num_heads,
            config.ffn_width,
            config.dropout,
            config.layer_norm_epsilon,
            block_style=config.block_style,
            ffn_activation=config.ffn_activation,
            attention=config.attention,
            max_len=config.max_len,
            causal=self.causal,
        )
        self.final_norm = (
            tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon)
            if config.block_style == "pre_norm"
            else None
        )
        self.head_dense = self.head_norm = None
        if config.output_head:
            self.head_dense = tf.keras.layers.Dense(
                dim,
                activation="gelu",
                name="head_dense",
                kernel_initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02),
            )
            self.head_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name="head_norm")
        self.cloze_masking = ClozeMasking(
            config.mask_prob,
            self.mask_token_id,
            seed=config.masking_seed,
            mask_token_prob=config.mask_token_prob,
            random_token_prob=config.random_token_prob,
            num_items=self.num_items,
            mask_last_prob=config.mask_last_prob,
            max_predictions=config.max_predictions,
        )
        self.last_position_masking = LastPositionMasking(self.mask_token_id, config.max_len)

    # -- encoder ---------------------------------------------------------------------------------
    def encoder_features(self) -> tuple:
        """``("timestamps",)`` when the position encoding reads them."""
        return (TIMESTAMPS,) if self.position_embedding.reads_timestamps else ()

    def encode(self, item_ids, training=False, features=None):
        """States ``[B, L, D]`` of left-padded ids (mask tokens allowed); each attends both sides.

        ``features``: record features ``[B, L]`` by name (side inputs; ``timestamps`` for encodings that read
        them). A mask token has no attributes; its event type and time are the masked event's."""
        features = features or {}
        timestamps = features.get(TIMESTAMPS)
        item_ids = tf.cast(item_ids, tf.int64)
        padding_mask = tf.not_equal(item_ids, PAD_ID)  # [B, L]
        x = self.position_embedding(
            self.embed_items(item_ids, features), padding_mask=padding_mask, timestamps=timestamps, training=training
        )
        x = self.input_dropout(self.embedding_norm(x), training=training)
        x = x * tf.cast(padding_mask, x.dtype)[..., tf.newaxis]
        x = run_blocks(
            self.blocks, x, padding_mask, self.attention_mask_fn, self.position_embedding, timestamps, training
        )
        return x if self.final_norm is None else self.final_norm(x)

    def output_queries(self, states, training=False):
        """Output head on states ``[..., D]`` -> queries ``[..., D]`` (identity without the head)."""
        if self.head_dense is None:
            return states
        return self.head_norm(self.head_dense(states))

    # -- inference: append the mask token ----------------------------------------------------------
    def query(self, item_ids, training=False, **features):
        """Query ``[B, D]``: the state at a mask token appended after the history (through the head).

        ``features``: record features ``[B, L]`` by name, kept like the history, the mask column repeating the
        last one."""
        inputs = self.last_position_masking(tf.cast(item_ids, tf.int64))
        kept = {}
        for name, value in features.items():
            if value is not None:
                value = tf.convert_to_tensor(value)
                kept[name] = tf.concat([value[:, -(self.config.max_len - 1) :], value[:, -1:]], axis=1)
        states = self.encode(inputs, training=training, features=kept)
        return self.output_queries(states[:, -1, :], training=training)

    # -- training: cloze targets ---------------------------------------------------------------------
    def cloze_loss(self, masked_ids, target_ids, training=False, features=None):
        """The task's loss at the columns with a real-item target (``target_ids >= 2``); others are ignored."""
        states = self.encode(masked_ids, training=training, features=features)
        keep = tf.cast(target_ids, tf.int64) >= FIRST_ITEM_ID
        queries = self.output_queries(tf.boolean_mask(states, keep), training=training)  # [N, D]
        targets = tf.boolean_mask(tf.cast(target_ids, tf.int64), keep)  # [N]
        return self.task(queries, targets, self.item_embeddings(), item_bias=self.item_biases(), training=training)

    def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
        """Cloze loss on ``inputs["item_ids"]`` (the last ``max_len`` items of each row).

        Training: random masking (``ClozeMasking``); otherwise the last item of each row is masked.
        """
        item_ids = inputs["item_ids"] if isinstance(inputs, dict) else inputs
        item_ids = tf.cast(item_ids, tf.int64)[:, -self.config.max_len :]
        if training:
            masked_ids, target_ids = self.cloze_masking(item_ids, training=True)
        else:
            masked_ids, target_ids = mask_last_item(item_ids, self.mask_token_id)
        features = self.record_features(inputs, self.config.max_len)
        return self.cloze_loss(masked_ids, target_ids, training=training, features=features)

"""A model and a loss defined outside ``tfseqrec``, registered the way a user's plugin registers them.

Named in a training config with ``plugins: [tests.plugins.toy_plugin]``, ``model: toy_last_item`` and
``model_config.loss: {name: toy_hinge, margin: 0.5}``.
"""

import dataclasses

import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from tfseqrec.models import register
from tfseqrec.models.base import SequentialModelConfig, SequentialRecommender
from tfseqrec.tasks import Candidates, LossConfig, SampledLoss, register_loss
from tfseqrec.tasks.loss_config import check_number


@dataclasses.dataclass(frozen=True)
class LastItemConfig(SequentialModelConfig):
    """``SequentialModelConfig`` plus ``use_bias`` of the transition layer."""

    use_bias: bool = True


@register("toy_last_item", LastItemConfig)
class LastItemModel(SequentialRecommender):
    """A first-order model: the state after item ``t`` is a dense map of item ``t``'s embedding, ``[B, L, D]``."""

    def __init__(self, config: LastItemConfig, num_items: int, item_counts=None, **kwargs):
        super().__init__(config, num_items, item_counts=item_counts, **kwargs)
        self.transition = tf.keras.layers.Dense(config.embedding_dim, use_bias=config.use_bias, name="transition")

    def encode(self, item_ids, training=False):
        return self.transition(self.item_embedding(item_ids))


@dataclasses.dataclass(frozen=True)
class HingeConfig(LossConfig):
    """``LossConfig`` plus the hinge's ``margin`` (>= 0)."""

    margin: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        check_number("margin", self.margin, low=0.0)


@register_loss("toy_hinge", HingeConfig)
class Hinge(SampledLoss):
    """Mean over the counted negatives of ``max(0, margin - s+ + s-)``, ``[N]``."""

    default_num_negatives = 16

    def from_candidates(self, candidates: Candidates) -> tf.Tensor:
        hinge = tf.nn.relu(self.config.margin - candidates.pos_logits[:, None] + candidates.neg_logits)  # [N, C]
        if candidates.negative_mask is None:
            return tf.reduce_mean(hinge, axis=-1)
        weights = tf.cast(candidates.negative_mask, hinge.dtype)
        return tf.math.divide_no_nan(tf.reduce_sum(weights * hinge, axis=-1), tf.reduce_sum(weights, axis=-1))

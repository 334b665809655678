"""Mixed precision for training: which Keras dtype policy a run uses, applied only while the run builds and
trains its model.

``TrainConfig.mixed_precision`` accepts

* ``False`` / ``"float32"`` (default): everything in float32;
* ``"mixed_float16"``: layers compute in float16, variables stay float32 (GPUs with tensor cores). Keras wraps
  the optimizer in a ``LossScaleOptimizer`` and ``SequentialRecommender.train_step`` scales the loss and
  unscales the gradients, so small float16 gradients do not underflow;
* ``"mixed_bfloat16"``: layers compute in bfloat16 (float32's exponent range, no loss scaling; TPUs, recent
  GPUs, and CPUs with AVX512_BF16 / AMX through oneDNN);
* ``True``: ``"mixed_float16"`` when TensorFlow sees a GPU, else float32.

Losses, logits and ranking scores stay float32 whatever the policy: ``NextItemTask`` casts its logits to
float32 before the softmax, ``score_all`` returns float32 scores, a run's test evaluation uses a float32 copy of
the trained weights (``float32_twin``), and exports and ``tfseqrec evaluate`` rebuild the model from its run
directory in float32, so rankings are not rounded to 8 (bfloat16) or 11 (float16) significant bits. A Keras
policy is process-global and is read when a layer is created: ``keras_policy`` restores the previous one when
the run ends, even on error.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator, Union

import tfseqrec  # noqa: F401  (Keras 2 for TFRS)
import tensorflow as tf

from tfseqrec.training.config import PRECISION_POLICIES, check_mixed_precision

__all__ = ["PRECISION_POLICIES", "float32_twin", "keras_policy", "resolve_policy"]


def resolve_policy(value: Union[bool, str], has_gpu: bool) -> str:
    """The Keras policy name for a ``TrainConfig.mixed_precision`` value (see the module doc)."""
    check_mixed_precision(value)
    if value is True:
        return "mixed_float16" if has_gpu else "float32"
    if value is False:
        return "float32"
    return value


@contextlib.contextmanager
def keras_policy(name: str) -> Iterator[None]:
    """Sets Keras' global dtype policy to ``name`` inside the block and restores the previous one after."""
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def float32_twin(model):
    """A float32 copy of a ``SequentialRecommender`` built under a mixed policy (same config and weights).

    The weights travel through a TensorFlow checkpoint (matched by object path, not by creation order). A model
    that already computes in float32 is returned as it is.
    """
    if model.compute_dtype == tf.float32:
        return model
    with keras_policy("float32"):
        twin = type(model).from_config(model.get_config(), side_inputs=model.side_inputs)
        twin.build_for_inputs()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "weights")
        model.save_weights(path)
        twin.load_weights(path).expect_partial()
    return twin

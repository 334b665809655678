"""``quantized``: a trained table stored at lower precision for serving: ``int8`` with one scale per row
(symmetric, ``row = values * scale``, ``scale = max |row| / 127``) or ``float16``; dequantised on read.

Not trained: its weights are not trainable and start empty. ``tfseqrec export --table-precision int8`` builds an
export's twin of the trained model with this table (:func:`quantize_rows` of the trained one); the brute-force
index then keeps the same values (``tfseqrec.export.indexes``), so the SavedModel holds the item table at a
quarter (int8) or half (float16) of its float32 bytes and ranks with the rounded table everywhere.
"""

from __future__ import annotations

import dataclasses

import tfseqrec  # noqa: F401  (Keras 2)
import numpy as np
import tensorflow as tf

from tfseqrec.models.item_tables.config import ItemTableConfig
from tfseqrec.models.item_tables.registry import register_item_table

PRECISIONS = ("int8", "float16")
INT8_MAX = 127.0


def quantize_rows(table: np.ndarray, precision: str) -> tuple:
    """``table [rows, D]`` float -> ``(values [rows, D] int8 | float16, scales [rows] float32)`` (scales are 1 for
    float16); an all-zero row gets scale 1."""
    table = np.asarray(table, np.float32)
    if precision == "float16":
        return table.astype(np.float16), np.ones(table.shape[0], np.float32)
    if precision != "int8":
        raise ValueError(f"precision={precision!r}: use one of {', '.join(PRECISIONS)}")
    peak = np.abs(table).max(axis=1)
    scales = np.where(peak > 0, peak / INT8_MAX, 1.0).astype(np.float32)
    values = np.clip(np.rint(table / scales[:, None]), -INT8_MAX, INT8_MAX).astype(np.int8)
    return values, scales


def dequantize(values: tf.Tensor, scales: tf.Tensor) -> tf.Tensor:
    """``values [..., D]`` (int8 / float16) and ``scales [...]`` -> float32 ``[..., D]``."""
    return tf.cast(values, tf.float32) * scales[..., tf.newaxis]


@dataclasses.dataclass(frozen=True)
class QuantizedConfig(ItemTableConfig):
    """``precision``: ``int8`` (per-row scales) or ``float16``."""

    name: str = "quantized"
    precision: str = "int8"

    def __post_init__(self):
        super().__post_init__()
        if self.precision not in PRECISIONS:
            raise ValueError(f"item_table.precision={self.precision!r}: use one of {', '.join(PRECISIONS)}")


@register_item_table("quantized", QuantizedConfig)
class QuantizedItemTable(tf.keras.layers.Layer):
    """``ids [...] -> values[ids] * scales[ids] [..., D]``; filled by :meth:`assign_table`."""

    def __init__(self, config: QuantizedConfig, rows: int, dim: int, name: str = "item_embedding", **kwargs):
        super().__init__(name=name, **kwargs)
        self.config, self.rows, self.dim = config, rows, dim
        self.embeddings_initializer = None  # nothing to initialise: the values come from a trained table

    def build(self, input_shape=None):
        self.values = self.add_weight(
            "values", shape=[self.rows, self.dim], dtype=self.config.precision, initializer="zeros", trainable=False
        )
        self.scales = self.add_weight(
            "scales", shape=[self.rows], dtype=tf.float32, initializer="ones", trainable=False
        )
        super().build(input_shape)

    def assign_table(self, table: np.ndarray) -> None:
        """Quantises a trained ``table [rows, D]`` into this layer."""
        if not self.built:
            self.build()
        values, scales = quantize_rows(table, self.config.precision)
        self.values.assign(values)
        self.scales.assign(scales)

    def call(self, ids):
        ids = tf.cast(ids, tf.int64)
        return tf.cast(dequantize(tf.gather(self.values, ids), tf.gather(self.scales, ids)), self.compute_dtype)

    @property
    def embeddings(self) -> tf.Tensor:
        if not self.built:
            self.build()
        return dequantize(self.values, self.scales)  # [rows, D]

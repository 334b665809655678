"""Post-training quantisation of an export's item table (``ExportConfig.table_precision``).

:func:`quantized_twin` rebuilds a trained model with a ``quantized`` item table
(``tfseqrec.models.item_tables.quantized``): every other weight is copied, the table (materialised whatever its
kind) is rounded to int8 with per-row scales or to float16. The export then saves the twin, and the brute-force
index stores the same rounded values, so the item table's bytes shrink in both places and the export ranks
exactly as the twin does (a separate output table, SASRec's ``tie_embeddings: false``, stays float32 in the
twin while the index rounds it). The encoder's weights stay float32 (the LiteRT export quantises them too:
``tfseqrec.export.litert``).
"""

from __future__ import annotations

import tfseqrec  # noqa: F401
import tensorflow as tf

TABLE_PRECISIONS = ("float32", "float16", "int8")


def quantized_twin(model, precision: str):
    """``model`` with its item table stored at ``precision`` (``float16`` or ``int8``); ``model`` is unchanged."""
    if precision not in TABLE_PRECISIONS[1:]:
        raise ValueError(f"table_precision={precision!r}: use one of {', '.join(TABLE_PRECISIONS)}")
    config = {**model.config.to_dict(), "item_table": {"name": "quantized", "precision": precision}}
    twin = type(model).from_config({**model.get_config(), "config": config}, side_inputs=model.side_inputs)
    twin.build_for_inputs()
    table_ids = {id(w) for w in model.item_embedding.weights}
    twin_table_ids = {id(w) for w in twin.item_embedding.weights}
    source = [w for w in model.weights if id(w) not in table_ids]
    target = [w for w in twin.weights if id(w) not in twin_table_ids]
    if [w.shape for w in source] != [w.shape for w in target]:
        raise ValueError(f"model {model.registry_name!r}: its weights do not map one to one onto the quantised twin's")
    for destination, value in zip(target, source):
        destination.assign(value)
    twin.item_embedding.assign_table(tf.convert_to_tensor(model.item_embedding.embeddings).numpy())
    return twin

"""On-device exports: a trained model as a LiteRT (TensorFlow Lite) flatbuffer with its top-K, float32 or with
weights quantised after training.

The flatbuffer has one signature, ``serving_default`` (the recommend computation)::

    history [1, L] int64   item ids (vocabulary ids, 0 = padding; left-padded, the latest L = max_len items)
    seen [1, S] int64      ids never to return, any length (the whole history, older items included)
        -> ids [1, k] int32, scores [1, k] float32   the top k, PAD / OOV and the seen items left out

Ids, not strings: an app maps its items to ids with the ``vocab.txt`` written beside the model (line ``i`` is
id ``i``). Precisions (the converter's post-training quantisation, ``tf.lite.Optimize.DEFAULT``):

* ``float32``: the weights as trained;
* ``int8``: dynamic-range quantisation, every weight matrix (the item table included) stored as int8 with one
  scale per tensor (per-channel scales would make the converter keep two int8 copies of the tied item table,
  one for the lookup and one for the output layer) and dequantised on the fly: about 4x smaller;
* ``float16``: weights stored as float16. Refused by the check below for transformer encoders: the converter
  rounds the attention mask's ``-1e9`` to ``-inf`` and the masked softmax then yields NaN.

Every conversion is checked against the TensorFlow model on probe histories (:func:`check_conversion`): scores
must be finite and the top ``k`` must agree mostly, else ``ValueError`` says what broke. ScaNN's index is a
separate, server-side structure (its asymmetric hashing already stores 4-bit codes per 2 dimensions): an int8
LiteRT model ranks by brute force over its own int8 table.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import tfseqrec  # noqa: F401  (Keras 2)
import numpy as np
import tensorflow as tf

from tfseqrec.ids import FIRST_ITEM_ID

PRECISIONS = ("float32", "int8", "float16")
SIGNATURE = "serving_default"  # the converter names a concrete function's signature so
MIN_PROBE_OVERLAP = 0.5  # mean top-k overlap with the TensorFlow model below which a conversion is refused


def recommend_function(model, k: int) -> tf.types.experimental.ConcreteFunction:
    """The ``recommend`` computation of ``model`` for one left-padded history ``[1, max_len]``."""
    length, num_items = model.config.max_len, model.num_items

    @tf.function(
        input_signature=[
            tf.TensorSpec([1, length], tf.int64, name="history"),
            tf.TensorSpec([1, None], tf.int64, name="seen"),
        ]
    )
    def recommend(history, seen):
        scores = model.score_all(history)  # [1, V]
        ids = tf.reshape(seen, [-1, 1])
        marks = tf.scatter_nd(ids, tf.ones(tf.shape(ids)[:1], tf.float32), [num_items])  # [V]: > 0 where seen
        excluded = tf.logical_or(marks > 0, tf.range(num_items) < FIRST_ITEM_ID)
        masked = tf.where(excluded[tf.newaxis], tf.fill(tf.shape(scores), -3.0e38), scores)
        top = tf.math.top_k(masked, k=k)
        return {"ids": top.indices, "scores": top.values}

    return recommend.get_concrete_function()


def convert(model, precision: str = "int8", k: int = 10) -> bytes:
    """A LiteRT flatbuffer of ``model``'s ``recommend`` at ``precision`` (see the module docstring)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: use one of {', '.join(PRECISIONS)}")
    if not 1 <= k <= model.num_items - FIRST_ITEM_ID:
        raise ValueError(f"k={k} must be in 1..{model.num_items - FIRST_ITEM_ID} (the real items)")
    if len(model.input_features) > 1:
        raise ValueError(
            f"model {model.registry_name!r} reads {list(model.input_features[1:])} besides item ids; the LiteRT "
            f"export takes item ids only"
        )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([recommend_function(model, k)], model)
    if precision != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter._experimental_disable_per_channel = True  # one int8 item table, shared (module docstring)
    if precision == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


class LiteRTRecommender:
    """Runs a ``recommend`` flatbuffer with the LiteRT interpreter (``ai-edge-litert``)."""

    def __init__(self, flatbuffer: bytes, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=flatbuffer, num_threads=num_threads)
        self._runner = self.interpreter.get_signature_runner(SIGNATURE)
        self.max_len = int(self._runner.get_input_details()["history"]["shape"][1])
        self.size_bytes = len(flatbuffer)

    def recommend(self, history: Sequence[int]) -> tuple:
        """``(ids [k] int64, scores [k] float32)`` for one history of item ids (oldest first): the model reads its
        latest ``max_len`` items, every item of it is left out."""
        row = np.zeros([1, self.max_len], np.int64)
        whole = np.asarray(history, np.int64)
        latest = whole[-self.max_len :]
        if latest.size:
            row[0, -latest.size :] = latest
        seen = whole[np.newaxis] if whole.size else np.zeros([1, 1], np.int64)
        out = self._runner(history=row, seen=seen)
        return out["ids"][0].astype(np.int64), out["scores"][0]

    def latency_ms(self, histories: Sequence[Sequence[int]], repeats: int = 1) -> np.ndarray:
        """Wall-clock milliseconds of each ``recommend`` call over ``histories`` (``repeats`` passes)."""
        times = []
        for _ in range(repeats):
            for history in histories:
                started = time.perf_counter()
                self.recommend(history)
                times.append((time.perf_counter() - started) * 1000.0)
        return np.asarray(times)


@dataclasses.dataclass(frozen=True)
class ConversionCheck:
    """How a flatbuffer ranks against its TensorFlow model on the probe histories: mean top-k overlap, largest
    absolute score difference, and whether every score was finite."""

    overlap: float
    max_score_error: float
    finite: bool


def check_conversion(
    model, recommender: LiteRTRecommender, histories: Sequence[Sequence[int]], k: int = 10
) -> ConversionCheck:
    """Compares ``recommender`` with ``model`` on ``histories``; ``ValueError`` when the flatbuffer's scores are
    not finite or its top ``k`` mostly disagrees (``MIN_PROBE_OVERLAP``)."""
    reference = recommend_function(model, k)
    overlaps, errors, finite = [], [], True
    for history in histories:
        ids, scores = recommender.recommend(history)
        row = np.zeros([1, model.config.max_len], np.int64)
        latest = np.asarray(history, np.int64)[-model.config.max_len :]
        if latest.size:
            row[0, -latest.size :] = latest
        want = reference(tf.constant(row), tf.constant([list(history) or [0]], tf.int64))
        finite = finite and bool(np.all(np.isfinite(scores)))
        overlaps.append(len(set(ids.tolist()) & set(want["ids"].numpy()[0].tolist())) / k)
        errors.append(float(np.max(np.abs(scores - want["scores"].numpy()[0]))))
    check = ConversionCheck(float(np.mean(overlaps)), float(np.max(errors)), finite)
    if not check.finite or check.overlap < MIN_PROBE_OVERLAP:
        raise ValueError(
            f"the LiteRT conversion does not rank like the model: top-{k} overlap {check.overlap:.2f}, scores "
            f"finite: {check.finite} (float16 turns the attention mask's -1e9 into -inf; use int8 or float32)"
        )
    return check


def export_litert(
    model, vocabulary: Sequence[str], directory: str, precision: str, probes: Sequence[Sequence[int]], k: int = 10
) -> dict:
    """Converts, checks on ``probes`` and writes ``<directory>/model.tflite`` and ``vocab.txt``; returns a
    record (``precision``, ``size_bytes``, the check's figures)."""
    import json
    import os

    flatbuffer = convert(model, precision, k)
    check = check_conversion(model, LiteRTRecommender(flatbuffer), probes, k)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "model.tflite"), "wb") as f:
        f.write(flatbuffer)
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocabulary) + "\n")
    record = {"precision": precision, "size_bytes": len(flatbuffer), "k": k, **dataclasses.asdict(check)}
    with open(os.path.join(directory, "litert.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    return record


def split_histories(spec, split: str = "test", count: int = 32, max_len: int | None = None) -> list:
    """The first ``count`` histories (lists of item ids, oldest first) of a preprocessed ``split``: the
    conversion check's probes, and what a benchmark replays."""
    from tfseqrec.data.loader import SequenceBatchConfig, make_dataset

    config = SequenceBatchConfig(batch_size=min(count, 4096), max_len=max_len, padding="ragged", shuffle_buffer=0)
    histories = []
    for batch in make_dataset(spec, split, config):
        histories.extend(batch["item_ids"].to_list())
        if len(histories) >= count:
            break
    return [h for h in histories[:count]]

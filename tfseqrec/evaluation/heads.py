"""Scores a model's auxiliary heads (``tfseqrec.models.heads``) on a split, against the best constant predictor.

Each record's history is encoded as for ranking (the latest ``max_len`` items, with the record features the
model reads), and each head predicts the property of the record's first target: its event type
(``target_event_types``), its item's feature value (``target_ids``) or the time to it (``target_timestamps``
minus the last history time). A head's ``score`` per row (accuracy, absolute error) is averaged, and so is the
score of the best constant on the same labels (the most frequent class; the median), so a head is shown to learn
more than the labels' marginal distribution. Rows without a first target are skipped.
"""

from __future__ import annotations

from typing import Union

import numpy as np

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.data.loader import SequenceBatchConfig, make_dataset
from tfseqrec.data.spec import FeatureSpec, resolve_spec

_NEXT = {"target_event_types": "event_types", "target_timestamps": "timestamps"}


def evaluate_heads(model, spec_or_dir: Union[FeatureSpec, str], split: str = "test", batch_size: int = 256) -> dict:
    """``{head name: {<metric>, constant_<metric>, higher_is_better, rows}}`` of ``model.aux_heads`` on ``split``."""
    spec = resolve_spec(spec_or_dir)
    heads = list(getattr(model, "aux_heads", ()))
    if not heads:
        return {}
    config = SequenceBatchConfig(
        batch_size=batch_size,
        max_len=model.config.max_len,
        padding="left",
        include_targets=True,
        include_timestamps="timestamps" in spec.features,
        include_event_types="event_types" in spec.features,
        num_parallel_reads=None,
    )
    scores = {h.kind: [] for h in heads}
    labels = {h.kind: [] for h in heads}
    names = [n for n in model.input_features if n != "item_ids"]
    for batch in make_dataset(spec, split, config):
        has_target = batch["target_ids"].row_lengths() > 0
        first = {"item_ids": batch["target_ids"]}
        first.update({_NEXT[k]: batch[k] for k in _NEXT if k in batch})
        next_events = {
            k: tf.boolean_mask(v.to_tensor(default_value=0)[:, 0:1], has_target)[:, 0] for k, v in first.items()
        }
        items = tf.boolean_mask(batch["item_ids"], has_target)
        features = {n: tf.boolean_mask(batch[n], has_target) for n in names}
        current = {"item_ids": items[:, -1], **{n: v[:, -1] for n, v in features.items()}}
        states = model.query(items, **features)
        for head in heads:
            label = head.labels(next_events, current)
            scores[head.kind].append(head.score(head.predict(states), label).numpy())
            labels[head.kind].append(label.numpy())
    out = {}
    for head in heads:
        name = head.kind
        all_labels = np.concatenate(labels[name]) if labels[name] else np.zeros(0)
        constant = head.constant_score(tf.constant(all_labels)).numpy() if all_labels.size else np.zeros(0)
        row_scores = np.concatenate(scores[name]) if scores[name] else np.zeros(0)
        out[name] = {
            head.metric_name: float(row_scores.mean()) if row_scores.size else float("nan"),
            f"constant_{head.metric_name}": float(constant.mean()) if constant.size else float("nan"),
            "higher_is_better": head.higher_is_better,
            "rows": int(row_scores.size),
        }
    return out

"""Training on several devices or machines with TensorFlow's own strategies (``TrainConfig.strategy``).

- ``default``: one device (no distribution).
- ``mirrored``: ``tf.distribute.MirroredStrategy``, synchronous data parallelism over this machine's GPUs.
- ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy`` over the cluster in ``TF_CONFIG``: every
  worker runs the same ``tfseqrec train`` command; gradients are all-reduced each step.

``batch_size`` is the **global** batch: each of the ``R`` replicas gets ``batch_size / R`` rows of it, and the
loss of every replica is its share of the mean over the global batch (``tfseqrec.tasks.replicas``), so one
synchronous step takes the same gradient, and logs the same loss, as one process on that global batch. The
learning rate is therefore the one of the single-process config.

Data: each worker reads its own TFRecord files (tf.data auto-shard ``FILE``) when a split has at least as many
files as workers (``tfseqrec preprocess --num-shards``), else every worker reads all of them and keeps every
``R``-th batch (``DATA``). Outputs: the chief (the ``chief`` task, else worker 0) writes the run directory; other
workers write theirs under ``<output_dir>/workers/worker_<k>`` (each worker must save its checkpoints
somewhere: saving takes part in collectives). Every worker validates on the whole validation split with the
same synchronised weights, so early stopping stops all of them at the same epoch; a wall-clock
``time_budget_minutes`` could not, and is refused for ``multi_worker``.
"""

from __future__ import annotations

import json
import os
from typing import Optional

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")
WORKERS_DIR = "workers"


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy for ``TrainConfig.strategy``; create it before anything else runs TensorFlow ops
    (``multi_worker`` configures the collective ops of the process)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        cluster = tf_config().get("cluster", {})
        if not cluster.get("worker") and not cluster.get("chief"):
            raise ValueError(
                "strategy=multi_worker needs TF_CONFIG naming the cluster and this task, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy={name!r}: use one of {', '.join(STRATEGIES)}")


def tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not JSON ({e}): {raw[:200]}") from e


def task(strategy: tf.distribute.Strategy) -> tuple[Optional[str], int]:
    """``(task type, index)`` of this process in a multi-worker cluster; ``(None, 0)`` otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The process that writes the run directory: the ``chief`` task, else worker 0, else the only one."""
    kind, index = task(strategy)
    if kind is None or kind == "chief":
        return True
    has_chief = bool(strategy.cluster_resolver.cluster_spec().as_dict().get("chief"))
    return kind == "worker" and index == 0 and not has_chief


def worker_output_dir(output_dir: str, strategy: tf.distribute.Strategy) -> str:
    """``output_dir`` for the chief, ``<output_dir>/workers/<type>_<index>`` for the other workers."""
    if is_chief(strategy):
        return output_dir
    kind, index = task(strategy)
    return os.path.join(output_dir, WORKERS_DIR, f"{kind}_{index}")


def num_workers(strategy: tf.distribute.Strategy) -> int:
    return int(getattr(strategy.extended, "_num_workers", 1) or 1)


def shard_options(num_files: int, workers: int) -> tf.data.Options:
    """Auto-shard by file when every worker gets at least one file, else by data."""
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = policy.FILE if num_files >= workers else policy.DATA
    return options


def check_global_batch(batch_size: int, strategy: tf.distribute.Strategy) -> None:
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(
            f"batch_size={batch_size} is the global batch and must divide evenly among the {replicas} replicas "
            f"of the strategy: use a multiple of {replicas}"
        )

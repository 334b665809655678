"""Training on several devices or machines with TensorFlow's own strategies (``TrainConfig.strategy``).

- ``default``: one device (no distribution).
- ``mirrored``: ``tf.distribute.MirroredStrategy``, synchronous data parallelism over this machine's GPUs.
- ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy`` over the cluster in ``TF_CONFIG``: every
  worker runs the same ``tfseqrec train`` command; gradients are all-reduced each step.
- ``parameter_server``: ``tf.distribute.ParameterServerStrategy``: variables live on the parameter servers
  (tables larger than 256 KiB split across them, so an embedding table need not fit one machine), the chief
  (coordinator) runs ``tfseqrec train`` and schedules steps on the workers, which update asynchronously, each on
  a batch of ``batch_size`` rows. With ``TF_CONFIG`` the ``worker`` and ``ps`` tasks run the same command, which
  serves until the job ends; without it the chief starts an in-process cluster of ``local_cluster`` workers and
  parameter servers (to try it, and for tests).

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

STRATEGIES = ("default", "mirrored", "multi_worker", "parameter_server")
WORKERS_DIR = "workers"
MIN_SHARD_BYTES = 256 << 10
_LOCAL_SERVERS: list = []  # the in-process cluster's servers live as long as the process


def make_strategy(name: str, resolver=None, local_cluster=(2, 1)) -> tf.distribute.Strategy:
    """The strategy for ``TrainConfig.strategy``; create it before anything else runs TensorFlow ops
    (``multi_worker`` configures the collective ops of the process). ``parameter_server`` uses ``resolver``, else
    the cluster in ``TF_CONFIG``, else an in-process cluster of ``local_cluster = (workers, ps)``."""
    if name == "parameter_server":
        if resolver is None:
            has_ps = bool(tf_config().get("cluster", {}).get("ps"))
            resolver = (
                tf.distribute.cluster_resolver.TFConfigClusterResolver()
                if has_ps
                else in_process_cluster(*local_cluster)
            )
        num_ps = len(resolver.cluster_spec().as_dict().get("ps", []))
        partitioner = tf.distribute.experimental.partitioners.MinSizePartitioner(MIN_SHARD_BYTES, max_shards=num_ps)
        return tf.distribute.ParameterServerStrategy(resolver, variable_partitioner=partitioner)
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


def in_process_cluster(workers: int = 2, ps: int = 1):
    """Starts ``workers`` worker and ``ps`` parameter-server gRPC servers in this process on free localhost ports;
    returns the chief's cluster resolver."""
    if workers < 1 or ps < 1:
        raise ValueError(f"local_cluster=({workers}, {ps}): a parameter-server cluster needs >= 1 worker and >= 1 ps")
    ports = free_ports(workers + ps)
    spec = tf.train.ClusterSpec(
        {
            "worker": [f"localhost:{port}" for port in ports[:workers]],
            "ps": [f"localhost:{port}" for port in ports[workers:]],
        }
    )
    config = tf.compat.v1.ConfigProto()
    config.inter_op_parallelism_threads = workers + 1  # a worker's steps must not starve on a small machine
    for job, count in (("worker", workers), ("ps", ps)):
        for index in range(count):
            _LOCAL_SERVERS.append(
                tf.distribute.Server(spec, job_name=job, task_index=index, config=config, protocol="grpc")
            )
    return tf.distribute.cluster_resolver.SimpleClusterResolver(spec, rpc_layer="grpc")


def free_ports(n: int) -> list:
    """``n`` distinct localhost ports free right now (for a cluster on one machine)."""
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def serve_if_parameter_server_task(name: str) -> bool:
    """For ``parameter_server`` on a ``worker`` or ``ps`` task of ``TF_CONFIG``: serve the cluster until the job
    is torn down (never returns). Returns False on the chief and for the other strategies."""
    if name != "parameter_server":
        return False
    config = tf_config()
    kind = config.get("task", {}).get("type")
    if kind not in ("worker", "ps"):
        return False
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    server = tf.distribute.Server(
        resolver.cluster_spec(), job_name=kind, task_index=resolver.task_id, protocol=resolver.rpc_layer or "grpc"
    )
    server.join()
    return True


def tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not JSON ({e}): {raw[:200]}") from e


def task(strategy: tf.distribute.Strategy) -> tuple[Optional[str], int]:
    """``(task type, index)`` of this process in a multi-worker cluster; ``(None, 0)`` otherwise (also the
    parameter-server coordinator, which is the chief)."""
    if isinstance(strategy, tf.distribute.ParameterServerStrategy):
        return None, 0
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

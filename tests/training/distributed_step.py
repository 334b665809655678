"""One training step of a tiny SASRec on a fixed global batch, under a strategy; prints loss and weights (JSON).

  python distributed_step.py default | mirrored2 | multi_worker | parameter_server

(multi_worker: TF_CONFIG names the cluster; parameter_server: an in-process cluster of 1 worker and 2 ps).

``mirrored2`` splits the CPU into two logical devices (two replicas in one process). Used by
tests/training/test_distribution.py: every strategy must give the one-process loss and update.
"""

import json
import sys

import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
import numpy as np
import tensorflow as tf


def strategy_for(name: str) -> tf.distribute.Strategy:
    if name == "mirrored2":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "parameter_server":  # one worker and two parameter servers in this process
        from tfseqrec.training.distribution import in_process_cluster, make_strategy

        return make_strategy("parameter_server", in_process_cluster(workers=1, ps=2))
    return tf.distribute.get_strategy()


def main(name: str) -> None:
    strategy = strategy_for(name)
    from tfseqrec.models import build_model

    tf.keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model("sasrec", {"embedding_dim": 8, "max_len": 6, "num_blocks": 1, "dropout": 0.0}, 30)
        model.compile(optimizer=tf.keras.optimizers.SGD(0.5))
    ids = np.random.default_rng(1).integers(2, 30, size=(8, 7))
    ids[:3, :4] = 0  # left padding in the first rows only: the replicas hold different numbers of targets
    data = tf.data.Dataset.from_tensor_slices({"item_ids": ids}).batch(8).repeat()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    history = model.fit(data.with_options(options), epochs=1, steps_per_epoch=1, verbose=0)
    weights = [w.tolist() for w in model.get_weights()]
    print(json.dumps({"loss": history.history["loss"][0], "weights": weights}))


if __name__ == "__main__":
    main(sys.argv[1])

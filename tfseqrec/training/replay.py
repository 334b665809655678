"""Replay: fine-tuning on a new time slice while a share of the batches comes from earlier slices.

A model warm-started on a new slice (``init_from``; ``tfseqrec preprocess --base-vocabulary`` keeps the earlier
items' ids) forgets what only the earlier data taught it. ``replay`` mixes the earlier slices' training
sequences back in, as ADER (Mi et al., RecSys 2020) replays exemplars of earlier cycles; here the exemplars are
every earlier training sequence, or with ``max_sequences`` a fixed memory of about that many per slice, drawn at
random or, with ``selection: herding``, chosen as ADER chooses its exemplars (``tfseqrec.training.herding``: per
item a share of the memory proportional to its frequency as a target, picked by herding over the previous model's
representations)::

    replay: {data_dirs: [out/day1, out/day2], fraction: 0.3, max_sequences: 5000, selection: herding}

Each batch comes from the earlier slices with probability ``fraction`` (whole batches, so a batch keeps its
padding), else from this run's data; an epoch is ``ceil(new batches / (1 - fraction))`` steps, so it still
covers the new slice about once. The earlier slices' vocabularies must be prefixes of this data's (the chain of
``--base-vocabulary``), so their ids mean the same items here.
"""

from __future__ import annotations

import dataclasses

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.data.spec import FeatureSpec, load_feature_spec, load_vocabulary
from tfseqrec.training.herding import herding_memory


def check_prefix_vocabulary(spec: FeatureSpec, earlier: FeatureSpec) -> None:
    """``ValueError`` unless ``earlier``'s vocabulary is a prefix of ``spec``'s (same id, same item)."""
    old, new = load_vocabulary(earlier), load_vocabulary(spec)
    if len(old) > len(new) or new[: len(old)] != old:
        raise ValueError(
            f"replay.data_dirs: {earlier.directory} has a vocabulary that is not a prefix of {spec.directory}'s, so "
            f"its ids would name other items here; preprocess the new slice with --base-vocabulary "
            f"{earlier.directory} (or a later slice of the same chain)"
        )


def with_replay(
    data: tf.data.Dataset, steps, spec: FeatureSpec, cfg, max_len: int, input_features, memory_model=None
) -> tuple:
    """``(mixed dataset, steps per epoch)``: ``data`` (this run's batches, ``steps`` per epoch or None for one
    pass) mixed with batches of ``cfg.replay.data_dirs``' training splits (module docstring); ``memory_model``
    (the previous run's model) represents the earlier sequences for ``selection: herding``."""
    from tfseqrec.training.trainer import training_rows, train_dataset

    replay = cfg.replay
    if cfg.batching != "padded" or cfg.strategy in ("multi_worker", "parameter_server"):
        raise ValueError(
            "replay mixes padded batches on one worker: use batching=padded and strategy default or mirrored"
        )
    earlier = []
    for directory in replay.data_dirs:
        old_spec = load_feature_spec(directory)
        check_prefix_vocabulary(spec, old_spec)
        old_cfg = dataclasses.replace(cfg, seed=cfg.seed + 1 + len(earlier))
        if replay.selection == "herding":  # every earlier row once, in file order, then ADER's exemplars
            rows_cfg = dataclasses.replace(old_cfg, shuffle_buffer=0, bucket_pool_batches=0, train_windows="latest")
            rows = train_dataset(old_spec, rows_cfg, max_len, input_features)
            memory = herding_memory(memory_model, rows, max_len + 1, replay.max_sequences)
            size = len(memory["item_ids"])
            batches = tf.data.Dataset.from_tensor_slices(memory).shuffle(size, seed=old_cfg.seed).batch(cfg.batch_size)
        else:
            batches = train_dataset(old_spec, old_cfg, max_len, input_features)
            if replay.max_sequences:  # a fixed memory: the first batches of one seeded shuffle, kept
                batches = batches.take(-(-replay.max_sequences // cfg.batch_size)).cache()
        earlier.append(batches.repeat())
    old = earlier[0] if len(earlier) == 1 else tf.data.Dataset.sample_from_datasets(earlier, seed=cfg.seed)
    new_steps = steps or -(-training_rows(spec, cfg, max_len) // cfg.batch_size)
    mixed = tf.data.Dataset.sample_from_datasets(
        [data.repeat(), old], weights=[1.0 - replay.fraction, replay.fraction], seed=cfg.seed
    )
    return mixed, int(-(-new_steps // (1.0 - replay.fraction)))

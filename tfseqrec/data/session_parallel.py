"""Session-parallel mini-batches (Hidasi et al., "Session-based Recommendations with Recurrent Neural
Networks", ICLR 2016, Sec. 3.1.1), the way GRU4Rec is trained.

A mini-batch is not ``B`` padded sequences but ``B`` *slots*, each holding one active session. At every
step each slot emits the pair (current item, next item) of its session and moves one item forward, so a
step is one event per slot. When a slot's session has no next item left, the slot takes the next
session of the epoch's (shuffled) order, and the slot's ``reset`` flag is True on the first step of the
new session: the model zeroes that slot's hidden state before the step. The hidden state is carried
from one step to the next (truncated back-propagation through time of length 1, as in the paper).

Example with ``batch_size=2`` and the sessions ``[a b c]``, ``[d e]``, ``[f g h i]`` (in this order)::

    step  inputs   targets  reset
    0     [a, d]   [b, e]   [T, T]   # every slot starts a session at step 0 of an epoch
    1     [b, f]   [c, g]   [F, T]   # slot 1 finished [d e] and took [f g h i]
    (end: slot 0 finished [a b c] and no session is left to take its place)

Policy at the end of an epoch (the one of GRU4Rec's official code): the epoch stops at the first step
where a finished slot cannot be given a new session, i.e. as soon as fewer than ``batch_size`` sessions
could stay active. The remaining events of the still-active sessions (``h -> i`` above) are not used in
that epoch; as the session order is reshuffled every epoch, different sessions are cut each epoch, and
at most ``batch_size - 1`` sessions are cut. Consequences: every batch is full (a static batch
dimension ``[B]``, which the model's per-slot state variables need, so no ``drop_remainder`` is
required), and a dataset with fewer than ``batch_size`` usable sessions yields no batch at all.

Sessions with fewer than 2 items have no (input, target) pair and are skipped.

Usage::

    import tfseqrec  # before tensorflow
    from tfseqrec.data.session_parallel import SessionParallelConfig, make_session_parallel_dataset

    ds = make_session_parallel_dataset("/data/rsc15/processed", "train",
                                       SessionParallelConfig(batch_size=64, seed=1))
    for batch in ds.take(1):
        batch["inputs"]   # int64 [64]: current item of every slot
        batch["targets"]  # int64 [64]: next item of every slot
        batch["reset"]    # bool  [64]: True where the slot starts a new session at this step
    model.fit(ds, epochs=10)   # a GRU4Rec model trains in session-parallel mode on these batches

Every iteration over the dataset is one epoch with its own session order (``seed`` and the epoch
number give the order, so runs are reproducible); ``model.fit(ds, epochs=n)`` therefore reshuffles
every epoch.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

__all__ = [
    "SessionParallelConfig",
    "SessionParallelBatcher",
    "read_sessions",
    "make_session_parallel_batcher",
    "make_session_parallel_dataset",
]

MIN_SESSION_LENGTH = 2  # a session needs at least one (input, target) pair

# Step arrays of one numpy call: (inputs [B] int64, targets [B] int64, reset [B] bool).
Step = Tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class SessionParallelConfig:
    """Options of :func:`make_session_parallel_dataset`.

    Attributes:
      batch_size: active sessions (slots) per mini-batch, > 0. GRU4Rec's tuned values are 32 - 256.
      shuffle: shuffle the session order every epoch (with ``seed``); False keeps the record order.
      seed: seed of the per-epoch shuffles (epoch ``e`` uses ``(seed, e)``); None = non-deterministic.
      steps_per_chunk: steps computed per call into numpy before ``tf.data`` splits them; only a
        throughput knob (fewer Python round trips), it does not change the batches.
      prefetch: add ``prefetch(tf.data.AUTOTUNE)``.
    """

    batch_size: int = 64
    shuffle: bool = True
    seed: Optional[int] = None
    steps_per_chunk: int = 256
    prefetch: bool = True

    def __post_init__(self):
        for name in ("batch_size", "steps_per_chunk"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"SessionParallelConfig.{name} must be a positive int, got {value!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"SessionParallelConfig.seed must be None or an int, got {self.seed!r}")


class SessionParallelBatcher:
    """Session-parallel steps over a fixed set of sessions, computed with numpy.

    The sessions are stored once as one concatenated item array plus offsets; a step is then a few
    vectorised numpy operations on ``[B]`` arrays (gather the current and next items, advance, refill
    finished slots).

    Args:
      items: int ``[E]``: the items of every session, concatenated in session order.
      lengths: int ``[S]``: items per session (sums to ``E``). Sessions shorter than 2 are dropped.
      batch_size: slots per step ``B``.
      shuffle: shuffle the session order per epoch.
      seed: seed of the shuffles (see :class:`SessionParallelConfig`).
    """

    def __init__(self, items, lengths, batch_size: int, shuffle: bool = True, seed: Optional[int] = None):
        items = np.asarray(items, dtype=np.int64).reshape(-1)
        lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if lengths.sum() != items.size or np.any(lengths < 0):
            raise ValueError(f"lengths must be >= 0 and sum to len(items)={items.size}, got sum {int(lengths.sum())}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        keep = lengths >= MIN_SESSION_LENGTH
        self.items = items[np.repeat(keep, lengths)]  # [E'] events of the kept sessions
        self.lengths = lengths[keep]  # [S']
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)  # [S' + 1]
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.num_skipped = int((~keep).sum())

    @classmethod
    def from_sessions(
        cls, sessions: Sequence[Sequence[int]], batch_size: int, shuffle: bool = True, seed: Optional[int] = None
    ) -> "SessionParallelBatcher":
        """From a list of item-id lists (one per session)."""
        lengths = np.array([len(s) for s in sessions], dtype=np.int64)
        items = (
            np.concatenate([np.asarray(s, dtype=np.int64) for s in sessions])
            if len(sessions)
            else np.zeros([0], np.int64)
        )
        return cls(items, lengths, batch_size, shuffle=shuffle, seed=seed)

    @property
    def num_sessions(self) -> int:
        """Sessions with at least 2 items."""
        return int(self.lengths.size)

    @property
    def num_pairs(self) -> int:
        """(input, target) pairs over all kept sessions: ``sum(length - 1)``."""
        return int((self.lengths - 1).sum())

    def steps_per_epoch(self) -> int:
        """``floor(num_pairs / B)`` (at least 1): an epoch's steps if no session were cut at its end.

        The real number of steps varies from epoch to epoch (the cut tail depends on the session order),
        so Keras must not infer it from the first epoch: train on ``dataset().repeat()`` with this as
        ``steps_per_epoch`` (a Keras epoch then spans the batcher's epoch boundaries seamlessly).
        """
        return max(1, self.num_pairs // self.batch_size)

    def session_order(self, epoch: int = 0) -> np.ndarray:
        """``[S']`` session indices in the order slots take them in ``epoch``."""
        if not self.shuffle:
            return np.arange(self.num_sessions)
        rng = np.random.default_rng(None if self.seed is None else [int(self.seed), int(epoch)])
        return rng.permutation(self.num_sessions)

    def steps(self, epoch: int = 0) -> Iterator[Step]:
        """Yields the steps of one epoch: ``(inputs [B] int64, targets [B] int64, reset [B] bool)``.

        Yields nothing when there are fewer than ``B`` sessions with 2+ items.
        """
        order = self.session_order(epoch)
        starts, ends = self.offsets[:-1][order], self.offsets[1:][order]  # [S'] each
        if starts.size < self.batch_size:
            return
        position = starts[: self.batch_size].copy()  # [B] index of each slot's current item in self.items
        end = ends[: self.batch_size].copy()  # [B] one past each slot's last item
        next_session = self.batch_size
        reset = np.ones(self.batch_size, dtype=bool)
        while True:
            yield self.items[position], self.items[position + 1], reset
            position += 1
            reset = position + 1 >= end  # slots whose session has no next item left
            finished = np.flatnonzero(reset)
            if finished.size:
                if next_session + finished.size > starts.size:
                    return  # a finished slot cannot be refilled: the epoch ends (see module doc)
                position[finished] = starts[next_session : next_session + finished.size]
                end[finished] = ends[next_session : next_session + finished.size]
                next_session += finished.size

    def chunks(self, epoch: int = 0, steps_per_chunk: int = 256) -> Iterator[Step]:
        """The steps of :meth:`steps` stacked in chunks: ``[K, B]`` arrays with ``K <= steps_per_chunk``."""
        iterator = self.steps(epoch)
        while True:
            chunk = list(itertools.islice(iterator, steps_per_chunk))
            if not chunk:
                return
            yield tuple(np.stack(column) for column in zip(*chunk))

    def num_steps(self, epoch: int = 0) -> int:
        """Steps (batches) in ``epoch``; depends on the epoch's session order."""
        return sum(1 for _ in self.steps(epoch))

    def dataset(self, steps_per_chunk: int = 256, prefetch: bool = True) -> tf.data.Dataset:
        """A ``tf.data.Dataset`` of ``{"inputs": [B] int64, "targets": [B] int64, "reset": [B] bool}``.

        Each iteration over the dataset is the next epoch (0, 1, 2, ...), with its own session order.
        """
        epochs = itertools.count()
        batch_size = self.batch_size

        def generate():
            for inputs, targets, reset in self.chunks(next(epochs), steps_per_chunk):
                yield {"inputs": inputs, "targets": targets, "reset": reset}

        signature = {
            "inputs": tf.TensorSpec([None, batch_size], tf.int64),
            "targets": tf.TensorSpec([None, batch_size], tf.int64),
            "reset": tf.TensorSpec([None, batch_size], tf.bool),
        }
        ds = tf.data.Dataset.from_generator(generate, output_signature=signature).unbatch()
        return ds.prefetch(tf.data.AUTOTUNE) if prefetch else ds


def read_sessions(spec_or_dir, split: str = "train", read_batch_size: int = 4096) -> Tuple[np.ndarray, np.ndarray]:
    """Reads every record's ``item_ids`` of a split, in record order.

    Args:
      spec_or_dir: a ``FeatureSpec`` or the directory of ``feature_spec.json``.
      split: the split to read (the train split for training).
      read_batch_size: records parsed per ``tf.io.parse_example`` call.

    Returns:
      ``(items [E] int64, lengths [S] int64)``: the concatenated ``item_ids`` and the length of each.
    """
    from tfseqrec.data.loader import SequenceBatchConfig, make_dataset

    config = SequenceBatchConfig(batch_size=read_batch_size, padding="ragged", include_targets=False, shuffle_buffer=0)
    values, lengths = [], []
    for batch in make_dataset(spec_or_dir, split, config):
        ragged = batch["item_ids"]
        values.append(ragged.flat_values.numpy())
        lengths.append(ragged.row_lengths().numpy())
    if not values:
        return np.zeros([0], np.int64), np.zeros([0], np.int64)
    return np.concatenate(values).astype(np.int64), np.concatenate(lengths).astype(np.int64)


def make_session_parallel_batcher(
    spec_or_dir, split: str = "train", config: SessionParallelConfig = SessionParallelConfig()
) -> "SessionParallelBatcher":
    """The batcher over one split's sessions (see :func:`make_session_parallel_dataset`)."""
    items, lengths = read_sessions(spec_or_dir, split)
    batcher = SessionParallelBatcher(items, lengths, config.batch_size, shuffle=config.shuffle, seed=config.seed)
    if batcher.num_sessions < config.batch_size:
        raise ValueError(
            f"split {split!r} has {batcher.num_sessions} sessions with 2+ items, fewer than "
            f"batch_size={config.batch_size}: no session-parallel batch can be formed"
        )
    return batcher


def make_session_parallel_dataset(
    spec_or_dir, split: str = "train", config: SessionParallelConfig = SessionParallelConfig()
) -> tf.data.Dataset:
    """Session-parallel mini-batches over one split (each record's ``item_ids`` is one session).

    Returns:
      A dataset of ``{"inputs": [B] int64, "targets": [B] int64, "reset": [B] bool}`` with
      ``B = config.batch_size`` (static); one pass over it is one epoch.

    Raises:
      ValueError: the split has fewer than ``batch_size`` sessions with 2 or more items.
    """
    return make_session_parallel_batcher(spec_or_dir, split, config).dataset(config.steps_per_chunk, config.prefetch)

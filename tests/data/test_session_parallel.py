import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfseqrec.data.example_codec import encode_example
from tfseqrec.data.session_parallel import (
    SessionParallelBatcher,
    SessionParallelConfig,
    make_session_parallel_dataset,
    read_sessions,
)
from tfseqrec.data.spec import FeatureInfo, FeatureSpec, SplitFiles, VocabularyInfo

T, F = True, False


def _steps(sessions, batch_size, epoch=0, **kwargs):
    batcher = SessionParallelBatcher.from_sessions(sessions, batch_size, shuffle=False, **kwargs)
    return [(list(i), list(t), list(r)) for i, t, r in batcher.steps(epoch)]


def test_exact_steps_and_resets_at_session_boundaries():
    # a b c | d e | f g h i | j k  (letters as ids 10..20)
    a, b, c, d, e, f, g, h, i, j, k = range(10, 21)
    steps = _steps([[a, b, c], [d, e], [f, g, h, i], [j, k]], batch_size=2)
    assert steps == [
        ([a, d], [b, e], [T, T]),  # both slots start a session
        ([b, f], [c, g], [F, T]),  # slot 1 finished [d e] and took [f g h i]
        ([j, g], [k, h], [T, F]),  # slot 0 finished [a b c] and took [j k]
    ]  # then slot 0 finishes [j k] and no session is left: the epoch ends (h -> i is not used)


def test_short_sessions_are_skipped():
    batcher = SessionParallelBatcher.from_sessions([[2, 3], [4], [], [5, 6, 7]], 2, shuffle=False)
    assert batcher.num_sessions == 2 and batcher.num_skipped == 2
    steps = [(list(i), list(t), list(r)) for i, t, r in batcher.steps()]
    assert steps == [([2, 5], [3, 6], [T, T])]


def test_epoch_ends_when_a_finished_slot_cannot_be_refilled():
    # Both slots finish at step 1 and only one session is left: official policy, stop.
    assert _steps([[2, 3, 4], [5, 6, 7], [8, 9]], batch_size=2) == [([2, 5], [3, 6], [T, T]), ([3, 6], [4, 7], [F, F])]
    # Fewer sessions than slots: no batch at all.
    assert _steps([[2, 3], [4, 5]], batch_size=3) == []


def _reference_steps(sessions, order, batch_size):
    """A slot-by-slot pure Python version of the policy, to check the vectorised one against."""
    queue = [list(sessions[s]) for s in order if len(sessions[s]) >= 2]
    if len(queue) < batch_size:
        return []
    slots = [[queue.pop(0), 0, True] for _ in range(batch_size)]  # [session, position, reset]
    out = []
    while True:
        out.append(([s[0][s[1]] for s in slots], [s[0][s[1] + 1] for s in slots], [s[2] for s in slots]))
        for slot in slots:
            slot[1] += 1
            slot[2] = False
        for slot in slots:
            if slot[1] + 1 >= len(slot[0]):
                if not queue:
                    return out
                slot[:] = [queue.pop(0), 0, True]


def test_matches_a_slot_by_slot_reference_on_random_sessions():
    rng = np.random.default_rng(3)
    sessions = [list(rng.integers(2, 50, size=rng.integers(0, 9))) for _ in range(200)]
    batcher = SessionParallelBatcher.from_sessions(sessions, 7, shuffle=True, seed=11)
    kept = [s for s in sessions if len(s) >= 2]
    for epoch in (0, 1):
        got = [(list(i), list(t), list(r)) for i, t, r in batcher.steps(epoch)]
        assert got == _reference_steps(kept, batcher.session_order(epoch), 7)
        assert batcher.num_steps(epoch) == len(got)


def test_every_pair_is_a_consecutive_pair_of_the_slot_session():
    rng = np.random.default_rng(0)
    sessions = [list(rng.integers(2, 1000, size=rng.integers(2, 12))) for _ in range(100)]
    batcher = SessionParallelBatcher.from_sessions(sessions, 8, seed=5)
    current = [None] * 8
    for inputs, targets, reset in batcher.steps(0):
        for slot in range(8):
            if reset[slot]:
                current[slot] = []
            current[slot].append(inputs[slot])
            prefix = current[slot] + [targets[slot]]
            assert any(s[: len(prefix)] == prefix for s in sessions), "a slot mixed two sessions"


def test_shuffle_is_per_epoch_and_seeded():
    sessions = [[i, i + 1] for i in range(2, 40)]
    one = SessionParallelBatcher.from_sessions(sessions, 4, seed=1)
    two = SessionParallelBatcher.from_sessions(sessions, 4, seed=1)
    assert np.array_equal(one.session_order(0), two.session_order(0))
    assert not np.array_equal(one.session_order(0), one.session_order(1))
    assert sorted(one.session_order(1)) == list(range(len(sessions)))


def test_dataset_has_static_shapes_and_a_new_epoch_per_iteration():
    rng = np.random.default_rng(1)
    sessions = [list(rng.integers(2, 30, size=rng.integers(2, 7))) for _ in range(40)]
    batcher = SessionParallelBatcher.from_sessions(sessions, 4, seed=2)
    ds = batcher.dataset(steps_per_chunk=3)
    assert ds.element_spec["inputs"].shape == (4,) and ds.element_spec["reset"].dtype == tf.bool
    for epoch in (0, 1):
        got = [(b["inputs"].numpy(), b["targets"].numpy(), b["reset"].numpy()) for b in ds]
        want = list(batcher.steps(epoch))
        assert len(got) == len(want) > 0
        for g, w in zip(got, want):
            for x, y in zip(g, w):
                np.testing.assert_array_equal(x, y)


def _write_split(directory, sessions):
    os.makedirs(directory, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(directory, "train-00000-of-00001.tfrecord")) as writer:
        for n, items in enumerate(sessions):
            writer.write(
                encode_example(
                    {"sequence_id": ("bytes", [f"s{n}"]), "item_ids": ("int64", items), "target_ids": ("int64", [])}
                )
            )
    with open(os.path.join(directory, "vocab.tsv"), "w") as f:
        f.write("[PAD]\t0\n[OOV]\t0\n" + "".join(f"i{i}\t1\n" for i in range(2, 20)))
    spec = FeatureSpec(
        features={
            "sequence_id": FeatureInfo("string", "scalar"),
            "item_ids": FeatureInfo("int64", "list"),
            "target_ids": FeatureInfo("int64", "list"),
        },
        splits={"train": SplitFiles("train-*.tfrecord", len(sessions))},
        vocabulary=VocabularyInfo("vocab.tsv", size=20, num_items=18),
        protocol={},
    )
    with open(os.path.join(directory, "feature_spec.json"), "w") as f:
        json.dump(spec.to_json(), f)
    return str(directory)


def test_reads_records_and_builds_the_dataset(tmp_path):
    sessions = [[2, 3, 4], [5, 6], [7], [8, 9, 10, 11], [12, 13]]
    directory = _write_split(tmp_path / "data", sessions)
    items, lengths = read_sessions(directory, "train")
    assert list(lengths) == [3, 2, 1, 4, 2] and list(items) == sum(sessions, [])
    ds = make_session_parallel_dataset(directory, "train", SessionParallelConfig(batch_size=2, shuffle=False))
    got = [tuple(list(b[k].numpy()) for k in ("inputs", "targets", "reset")) for b in ds]
    assert got == [([2, 5], [3, 6], [T, T]), ([3, 8], [4, 9], [F, T]), ([12, 9], [13, 10], [T, F])]
    with pytest.raises(ValueError, match="fewer than batch_size=5"):
        make_session_parallel_dataset(directory, "train", SessionParallelConfig(batch_size=5))


def test_config_validation():
    with pytest.raises(ValueError, match="batch_size"):
        SessionParallelConfig(batch_size=0)
    with pytest.raises(ValueError, match="lengths"):
        SessionParallelBatcher([2, 3, 4], [2], 1)


def test_steps_per_epoch_counts_pairs_and_passes_vary_in_length():
    rng = np.random.default_rng(0)
    sessions = [list(range(2, 2 + int(n))) for n in rng.integers(2, 9, size=40)]
    batcher = SessionParallelBatcher.from_sessions(sessions, 4, seed=1)
    assert batcher.num_pairs == sum(len(s) - 1 for s in sessions)
    assert batcher.steps_per_epoch() == batcher.num_pairs // 4
    lengths = {sum(1 for _ in batcher.steps(epoch)) for epoch in range(8)}
    # Why the trainer repeats the dataset with a fixed steps_per_epoch: passes differ in length.
    assert len(lengths) > 1 and max(lengths) <= batcher.steps_per_epoch()

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfseqrec.data import SequenceBatchConfig, make_dataset
from tfseqrec.data.example_codec import encode_example
from tfseqrec.data.loader import dataset_size
from tfseqrec.data.spec import FeatureInfo, FeatureSpec, SplitFiles, VocabularyInfo, load_feature_spec

# sequence_id -> (item_ids, timestamps, event_types); ids as stored (>= 2 are real items).
HISTORIES = {
    "u1": ([2, 3, 4, 5, 6], [100, 200, 300, 400, 500], [1, 2, 1, 2, 1]),
    "u2": ([7, 8], [10, 20], [1, 1]),
    "u3": ([9], [5], [2]),
    "u4": ([10, 11, 12, 13, 14, 15, 16], [1000, 2000, 3000, 4000, 5000, 6000, 7000], [2, 2, 2, 2, 2, 1, 1]),
    "u5": ([3, 5, 7], [1, 2, 3], [1, 2, 1]),
}
TEST_TARGETS = {"u1": 12, "u2": 2, "u3": 3, "u4": 5, "u5": 9}
# Train records go to two files, to exercise reading several files.
TRAIN_FILES = {"train-00000-of-00002.tfrecord": ["u1", "u2", "u3"], "train-00001-of-00002.tfrecord": ["u4", "u5"]}


def _record(sid, target=None):
    items, times, events = HISTORIES[sid]
    return encode_example(
        {
            "sequence_id": ("bytes", [sid]),
            "item_ids": ("int64", items),
            "timestamps": ("int64", times),
            "event_types": ("int64", events),
            "target_ids": ("int64", [] if target is None else [target]),
            "target_timestamps": ("int64", [] if target is None else [times[-1] + 1]),
        }
    )


def _write(path, records, compression):
    options = tf.io.TFRecordOptions(compression_type=compression or "")
    with tf.io.TFRecordWriter(path, options) as writer:
        for r in records:
            writer.write(r)


def _build(directory, compression=None, features=None):
    os.makedirs(directory, exist_ok=True)
    for name, sids in TRAIN_FILES.items():
        _write(os.path.join(directory, name), [_record(s) for s in sids], compression)
    _write(
        os.path.join(directory, "test-00000-of-00001.tfrecord"),
        [_record(s, TEST_TARGETS[s]) for s in sorted(HISTORIES)],
        compression,
    )
    with open(os.path.join(directory, "vocab.tsv"), "w") as f:
        f.write("[PAD]\t0\n[OOV]\t0\n")
        for i in range(2, 17):
            f.write(f"item{i}\t{20 - i}\n")
    all_features = {
        "sequence_id": FeatureInfo("string", "scalar", "user id"),
        "item_ids": FeatureInfo("int64", "list"),
        "timestamps": FeatureInfo("int64", "list"),
        "event_types": FeatureInfo("int64", "list"),
        "target_ids": FeatureInfo("int64", "list"),
        "target_timestamps": FeatureInfo("int64", "list"),
    }
    spec = FeatureSpec(
        features={k: v for k, v in all_features.items() if features is None or k in features},
        splits={
            "train": SplitFiles("train-*.tfrecord", len(HISTORIES)),
            "test": SplitFiles("test-*.tfrecord", len(HISTORIES), num_targets=len(HISTORIES)),
        },
        vocabulary=VocabularyInfo("vocab.tsv", size=17, num_items=15),
        protocol={"split": "leave_one_out", "targets_per_record": 1},
        event_types=["view", "purchase"],
        compression=compression,
    )
    d = spec.to_json()
    assert d["format_version"] == 1
    with open(os.path.join(directory, "feature_spec.json"), "w") as f:
        json.dump(d, f)
    return str(directory)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return _build(str(tmp_path_factory.mktemp("plain")))


@pytest.fixture(scope="module")
def gzip_dir(tmp_path_factory):
    return _build(str(tmp_path_factory.mktemp("gzip")), compression="GZIP")


def _one_batch(directory, split="train", **kwargs):
    """All records in one batch, as numpy, rows keyed by sequence_id."""
    kwargs.setdefault("batch_size", 64)
    batches = list(make_dataset(directory, split, SequenceBatchConfig(**kwargs)))
    assert len(batches) == 1
    batch = batches[0]
    sids = [s.decode() for s in batch["sequence_id"].numpy()]
    assert sorted(sids) == sorted(HISTORIES)
    rows = {}
    for i, sid in enumerate(sids):
        rows[sid] = {
            k: (v[i].numpy().tolist() if isinstance(v, tf.RaggedTensor) else np.asarray(v[i]).tolist())
            for k, v in batch.items()
        }
    return batch, rows


def test_left_padding_puts_last_item_in_last_column(data_dir):
    batch, rows = _one_batch(data_dir, include_timestamps=True, include_event_types=True)
    assert batch["item_ids"].dtype == tf.int64 and batch["lengths"].dtype == tf.int32
    assert batch["sequence_id"].dtype == tf.string
    assert batch["item_ids"].shape == (5, 7)  # No max_len: longest history in the batch.
    assert rows["u2"]["item_ids"] == [0, 0, 0, 0, 0, 7, 8]
    assert rows["u2"]["timestamps"] == [0, 0, 0, 0, 0, 10, 20]
    assert rows["u2"]["event_types"] == [0, 0, 0, 0, 0, 1, 1]
    assert rows["u4"]["item_ids"] == [10, 11, 12, 13, 14, 15, 16]
    assert rows["u3"]["item_ids"] == [0, 0, 0, 0, 0, 0, 9]
    for sid, (items, _, _) in HISTORIES.items():
        assert rows[sid]["item_ids"][-1] == items[-1]
        assert rows[sid]["lengths"] == len(items)
    assert "target_ids" not in batch and "target_id" not in batch  # Train split has no targets.


def test_right_padding_puts_last_item_at_length_minus_one(data_dir):
    batch, rows = _one_batch(data_dir, padding="right", include_timestamps=True)
    assert rows["u2"]["item_ids"] == [7, 8, 0, 0, 0, 0, 0]
    assert rows["u2"]["timestamps"] == [10, 20, 0, 0, 0, 0, 0]
    for sid, (items, _, _) in HISTORIES.items():
        assert rows[sid]["item_ids"][rows[sid]["lengths"] - 1] == items[-1]
    assert "event_types" not in batch


def test_truncation_keeps_latest_items_and_matching_timestamps(data_dir):
    batch, rows = _one_batch(data_dir, max_len=3, include_timestamps=True, include_event_types=True)
    assert batch["item_ids"].shape == (5, 3)
    assert rows["u4"]["item_ids"] == [14, 15, 16]
    assert rows["u4"]["timestamps"] == [5000, 6000, 7000]
    assert rows["u4"]["event_types"] == [2, 1, 1]
    assert rows["u4"]["lengths"] == 3
    assert rows["u1"]["item_ids"] == [4, 5, 6] and rows["u1"]["timestamps"] == [300, 400, 500]
    assert rows["u2"]["item_ids"] == [0, 7, 8] and rows["u2"]["lengths"] == 2
    assert rows["u3"]["item_ids"] == [0, 0, 9] and rows["u3"]["lengths"] == 1

    _, right = _one_batch(data_dir, max_len=3, padding="right")
    assert right["u4"]["item_ids"] == [14, 15, 16]
    assert right["u2"]["item_ids"] == [7, 8, 0]


def test_ragged_mode_gives_exact_lists(data_dir):
    batch, rows = _one_batch(data_dir, padding="ragged", max_len=4, include_timestamps=True)
    assert isinstance(batch["item_ids"], tf.RaggedTensor)
    assert isinstance(batch["timestamps"], tf.RaggedTensor)
    assert batch["item_ids"].dtype == tf.int64
    for sid, (items, times, _) in HISTORIES.items():
        assert rows[sid]["item_ids"] == items[-4:]
        assert rows[sid]["timestamps"] == times[-4:]
        assert rows[sid]["lengths"] == len(items[-4:])


def test_pad_to_max_len_shapes(data_dir):
    batch, rows = _one_batch(data_dir, max_len=10)
    assert batch["item_ids"].shape == (5, 10)
    assert rows["u4"]["item_ids"] == [0, 0, 0, 10, 11, 12, 13, 14, 15, 16]
    batch, _ = _one_batch(data_dir, max_len=10, pad_to_max_len=False)
    assert batch["item_ids"].shape == (5, 7)  # Longest in the batch.
    ds = make_dataset(data_dir, "train", SequenceBatchConfig(batch_size=2, max_len=10, drop_remainder=True))
    assert ds.element_spec["item_ids"].shape.as_list() == [2, 10]
    assert len(list(ds)) == 2  # 5 records, remainder dropped.
    # Without pad_to_max_len, each batch is as wide as its own longest history.
    ds = make_dataset(data_dir, "train", SequenceBatchConfig(batch_size=1, num_parallel_reads=None))
    widths = {b["sequence_id"].numpy()[0].decode(): b["item_ids"].shape[1] for b in ds}
    assert widths == {sid: len(items) for sid, (items, _, _) in HISTORIES.items()}


def test_shuffle_with_seed_is_deterministic_permutation(data_dir):
    def order(seed):
        cfg = SequenceBatchConfig(batch_size=2, shuffle_buffer=100, seed=seed)
        return [s.decode() for b in make_dataset(data_dir, "train", cfg) for s in b["sequence_id"].numpy()]

    first = order(7)
    assert sorted(first) == sorted(HISTORIES)
    assert order(7) == first
    assert len({tuple(order(s)) for s in range(8)}) > 1  # Seeds do change the order.


def test_repeat(data_dir):
    ds = make_dataset(data_dir, "train", SequenceBatchConfig(batch_size=4, repeat=True, shuffle_buffer=10, seed=1))
    ids = [s.decode() for b in ds.take(5) for s in b["sequence_id"].numpy()]
    assert len(ids) == 20
    assert sorted(ids[:5]) == sorted(HISTORIES)  # One full epoch before the next.


def test_targets_parsed(data_dir):
    batch, rows = _one_batch(data_dir, split="test")
    assert isinstance(batch["target_ids"], tf.RaggedTensor)
    assert batch["target_id"].dtype == tf.int64 and batch["target_id"].shape == (5,)
    for sid, target in TEST_TARGETS.items():
        assert rows[sid]["target_ids"] == [target]
        assert rows[sid]["target_id"] == target
        assert rows[sid]["item_ids"][-1] == HISTORIES[sid][0][-1]
    batch, _ = _one_batch(data_dir, split="test", include_targets=False)
    assert "target_ids" not in batch and "target_id" not in batch
    # Asked for on train: empty ragged targets, no dense target_id.
    batch, rows = _one_batch(data_dir, split="train", include_targets=True)
    assert batch["target_ids"].shape.as_list() == [5, None] and "target_id" not in batch
    assert all(r["target_ids"] == [] for r in rows.values())


def test_gzip_matches_uncompressed(data_dir, gzip_dir):
    for split in ("train", "test"):
        _, plain = _one_batch(data_dir, split=split, max_len=4, include_timestamps=True)
        _, gz = _one_batch(gzip_dir, split=split, max_len=4, include_timestamps=True)
        assert gz == plain


def test_accepts_spec_and_dataset_size(data_dir):
    spec = load_feature_spec(data_dir)
    batch = next(iter(make_dataset(spec, "test", SequenceBatchConfig(batch_size=3))))
    assert batch["item_ids"].shape[0] == 3
    assert dataset_size(spec, "train") == 5
    assert dataset_size(data_dir, "test") == 5


def test_missing_split_lists_available(data_dir):
    with pytest.raises(KeyError, match=r"'valid'.*\['test', 'train'\]"):
        make_dataset(data_dir, "valid")
    with pytest.raises(KeyError, match="available"):
        dataset_size(data_dir, "valid")


def test_no_matching_files_is_a_clear_error(tmp_path):
    directory = _build(str(tmp_path / "d"))
    for name in TRAIN_FILES:
        os.remove(os.path.join(directory, name))
    with pytest.raises(FileNotFoundError, match=r"train-\*\.tfrecord"):
        make_dataset(directory, "train")


def test_missing_feature_is_a_clear_error(tmp_path):
    directory = _build(str(tmp_path / "d"), features={"sequence_id", "item_ids", "target_ids"})
    with pytest.raises(ValueError, match="timestamps"):
        make_dataset(directory, "train", SequenceBatchConfig(include_timestamps=True))
    # Only features in the spec are parsed: the extra ones in the records are ignored.
    batch = next(iter(make_dataset(directory, "test", SequenceBatchConfig(batch_size=5))))
    assert set(batch) == {"item_ids", "lengths", "sequence_id", "target_ids", "target_id"}


@pytest.mark.parametrize(
    "field,value",
    [
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("max_len", 0),
        ("max_len", -3),
        ("padding", "middle"),
        ("pad_to_max_len", "yes"),
        ("include_timestamps", 1),
        ("include_targets", "auto"),
        ("shuffle_buffer", -1),
        ("seed", 1.5),
        ("drop_remainder", None),
        ("num_parallel_reads", 0),
        ("prefetch", "no"),
        ("repeat", 0),
        ("bucket_pool_batches", -1),
        ("bucket_pool_batches", 1.5),
        ("bucket_width_multiple", 0),
        ("windows", "every"),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SequenceBatchConfig(**{field: value})


def test_default_config_is_valid():
    cfg = SequenceBatchConfig()
    assert cfg.batch_size == 128 and cfg.padding == "left" and cfg.max_len is None
    assert cfg.num_parallel_reads == tf.data.AUTOTUNE


def test_inconsistent_records_fail_loudly(tmp_path):
    directory = _build(str(tmp_path / "d"))
    bad = encode_example(
        {
            "sequence_id": ("bytes", ["x"]),
            "item_ids": ("int64", [2, 3]),
            "timestamps": ("int64", [1]),
            "target_ids": ("int64", [4, 5]),
        }
    )
    _write(os.path.join(directory, "test-00000-of-00001.tfrecord"), [bad], None)
    with pytest.raises(tf.errors.InvalidArgumentError, match="different lengths"):
        list(make_dataset(directory, "test", SequenceBatchConfig(include_timestamps=True, include_targets=False)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="targets_per_record"):
        list(make_dataset(directory, "test"))


def _bucketed(directory, split="train", **kwargs):
    config = SequenceBatchConfig(bucket_pool_batches=kwargs.pop("pool", 4), **kwargs)
    return [
        {k: (v.numpy() if not isinstance(v, tf.RaggedTensor) else v.to_list()) for k, v in b.items()}
        for b in make_dataset(directory, split, config)
    ]


def test_bucketing_sorts_a_pool_by_length_and_pads_each_batch_to_its_own_width(data_dir):
    # Lengths u1 5, u2 2, u3 1, u4 7, u5 3; max_len 6 truncates u4 to its latest 6 items.
    batches = _bucketed(data_dir, batch_size=2, max_len=6, bucket_width_multiple=2, include_timestamps=True)
    assert [b["sequence_id"].tolist() for b in batches] == [[b"u3", b"u2"], [b"u5", b"u1"], [b"u4"]]
    assert [b["item_ids"].shape for b in batches] == [(2, 2), (2, 6), (1, 6)]  # 2; 5 -> 6; 6 (= max_len)
    assert batches[0]["item_ids"].tolist() == [[0, 9], [7, 8]]
    assert batches[0]["timestamps"].tolist() == [[0, 5], [10, 20]]
    assert batches[1]["item_ids"].tolist() == [[0, 0, 0, 3, 5, 7], [0, 2, 3, 4, 5, 6]]
    assert batches[2]["item_ids"].tolist() == [[11, 12, 13, 14, 15, 16]]
    assert [b["lengths"].tolist() for b in batches] == [[1, 2], [3, 5], [6]]


def test_bucketing_keeps_every_record_and_its_targets(data_dir):
    batches = _bucketed(data_dir, "test", batch_size=2, max_len=50, padding="right")
    seen = {}
    for b in batches:
        for i, sid in enumerate(b["sequence_id"]):
            row = b["item_ids"][i].tolist()
            seen[sid.decode()] = (row[: b["lengths"][i]], b["target_id"][i], b["target_ids"][i])
            assert all(x == 0 for x in row[b["lengths"][i] :])
    assert {sid: v[0] for sid, v in seen.items()} == {sid: h[0] for sid, h in HISTORIES.items()}
    assert {sid: v[1] for sid, v in seen.items()} == TEST_TARGETS
    assert {sid: v[2] for sid, v in seen.items()} == {sid: [t] for sid, t in TEST_TARGETS.items()}
    assert max(b["item_ids"].shape[1] for b in batches) == 8  # the longest (7) rounded up to 8, not 50


def test_bucketing_with_shuffle_and_drop_remainder(data_dir):
    config = dict(batch_size=2, max_len=10, shuffle_buffer=10, seed=3, drop_remainder=True)
    first = _bucketed(data_dir, **config)
    assert all(b["item_ids"].shape[0] == 2 for b in first)
    assert len(first) == 2  # 5 records in one pool -> batches of 2, 2 and a dropped 1
    again = _bucketed(data_dir, **config)
    assert [b["sequence_id"].tolist() for b in first] == [b["sequence_id"].tolist() for b in again]
    for b in first:  # sorted within each batch
        assert b["lengths"].tolist() == sorted(b["lengths"].tolist())


def test_bucketing_ragged_mode_returns_sorted_ragged_batches(data_dir):
    batches = _bucketed(data_dir, batch_size=3, padding="ragged")
    assert [len(b["item_ids"]) for b in batches] == [3, 2]
    assert batches[0]["item_ids"] == [[9], [7, 8], [3, 5, 7]]


def test_window_bounds_cover_every_target_once():
    from tfseqrec.data.loader import window_bounds

    row, start, end = (t.numpy().tolist() for t in window_bounds(tf.constant([3, 5, 9, 1]), 4))
    assert row == [0, 1, 1, 2, 2, 2, 3]
    assert list(zip(start, end)) == [(0, 3), (1, 5), (0, 2), (5, 9), (2, 6), (0, 3), (0, 1)]
    for n in range(1, 30):
        for width in (2, 3, 7):
            r, s, e = (t.numpy() for t in window_bounds(tf.constant([n]), width))
            assert (e - s).max() <= width and s.min() == 0 and e[0] == n
            targets = sorted(i for a, b in zip(s, e) for i in range(a + 1, b))  # next-item targets per window
            assert targets == list(range(1, n)), (n, width)


def test_all_windows_rows_repeat_the_record_features(data_dir):
    config = SequenceBatchConfig(batch_size=64, max_len=3, windows="all", include_timestamps=True)
    batches = list(make_dataset(data_dir, "test", config))
    rows = [
        (sid.decode(), items.tolist(), ts.tolist(), int(n), int(t))
        for b in batches
        for sid, items, ts, n, t in zip(
            b["sequence_id"].numpy(),
            b["item_ids"].numpy(),
            b["timestamps"].numpy(),
            b["lengths"].numpy(),
            b["target_id"].numpy(),
        )
    ]
    by_user = {}
    for sid, items, ts, n, t in rows:
        assert t == TEST_TARGETS[sid]
        by_user.setdefault(sid, []).append((items, ts, n))
    # u4 (7 items, width 3): windows [4, 7), [2, 5), [0, 3), left padded to 3
    assert by_user["u4"] == [
        ([14, 15, 16], [5000, 6000, 7000], 3),
        ([12, 13, 14], [3000, 4000, 5000], 3),
        ([10, 11, 12], [1000, 2000, 3000], 3),
    ]
    assert by_user["u2"] == [([0, 7, 8], [0, 10, 20], 2)] and by_user["u3"] == [([0, 0, 9], [0, 0, 5], 1)]
    assert sum(len(v) for v in by_user.values()) == len(rows) == 1 + 2 + 1 + 3 + 1  # u1 u2 u3 u4 u5


def test_all_windows_keep_the_batch_size_and_work_with_buckets(data_dir):
    plain = list(make_dataset(data_dir, "train", SequenceBatchConfig(batch_size=3, max_len=3, windows="all")))
    assert [b["item_ids"].shape[0] for b in plain] == [3, 3, 2]  # 8 windows
    bucketed = _bucketed(data_dir, batch_size=3, max_len=3, windows="all", bucket_width_multiple=1)
    assert sorted(n for b in bucketed for n in b["lengths"].tolist()) == sorted(
        n for b in plain for n in b["lengths"].numpy().tolist()
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bucketed_windows_give_the_same_number_of_batches_every_pass(data_dir, seed):
    # pools hold windows, not records: ceil(8 windows / 2) batches whatever the shuffle (Keras stops training
    # when a later pass is shorter than the first)
    batches = _bucketed(data_dir, batch_size=2, max_len=3, windows="all", pool=2, shuffle_buffer=16, seed=seed)
    assert [len(b["lengths"]) for b in batches] == [2, 2, 2, 2]


def test_prefix_bounds_give_every_prefix_with_a_target_once():
    from tfseqrec.data.loader import prefix_bounds

    row, start, end = (t.numpy().tolist() for t in prefix_bounds(tf.constant([4, 1, 2, 0]), 2))
    assert row == [0, 0, 0, 1, 2, 3]  # n - 1 prefixes of a history of n >= 2 items, one row otherwise
    assert list(zip(start, end)) == [(2, 4), (1, 3), (0, 2), (0, 1), (0, 2), (0, 0)]  # latest 2 items of each
    _, whole_start, whole_end = (t.numpy().tolist() for t in prefix_bounds(tf.constant([3]), None))
    assert whole_start == [0, 0] and whole_end == [3, 2]


def test_prefix_rows_are_recboles_samples_with_their_features(data_dir):
    config = SequenceBatchConfig(batch_size=64, max_len=3, windows="prefixes", include_timestamps=True)
    rows = [
        (sid.decode(), items.tolist(), ts.tolist(), int(n))
        for b in make_dataset(data_dir, "train", config)
        for sid, items, ts, n in zip(
            b["sequence_id"].numpy(), b["item_ids"].numpy(), b["timestamps"].numpy(), b["lengths"].numpy()
        )
    ]
    expected = []
    for sid, (items, times, _) in HISTORIES.items():
        for end in range(len(items), 1, -1) if len(items) > 1 else [len(items)]:
            kept = slice(max(0, end - 3), end)
            pad = 3 - len(items[kept])
            expected.append((sid, [0] * pad + items[kept], [0] * pad + times[kept], len(items[kept])))
    assert sorted(rows) == sorted(expected)
    assert len(rows) == 4 + 1 + 1 + 6 + 2  # u1 u2 u3 u4 u5
    bucketed = _bucketed(data_dir, batch_size=3, max_len=3, windows="prefixes", bucket_width_multiple=1)
    assert sorted(n for b in bucketed for n in b["lengths"].tolist()) == sorted(r[3] for r in rows)
    shuffled = SequenceBatchConfig(batch_size=64, max_len=3, windows="prefixes", shuffle_buffer=100, seed=4)
    (batch,) = list(make_dataset(data_dir, "train", shuffled))
    assert sorted(batch["lengths"].numpy().tolist()) == sorted(r[3] for r in rows)  # shuffled, none lost


def test_random_prefix_bounds_draw_every_prefix_with_a_target_uniformly():
    from tfseqrec.data.loader import random_prefix_bounds

    tf.random.set_seed(0)
    lengths = tf.constant([5] * 4000 + [1, 0, 2], tf.int64)
    start, end = (t.numpy() for t in random_prefix_bounds(lengths, 3, seed=1))
    ends = end[:4000]
    assert set(ends.tolist()) == {2, 3, 4, 5}  # at least one next-item target, at most the whole history
    counts = np.bincount(ends, minlength=6)[2:]
    assert counts.min() > 900 and counts.max() < 1100  # uniform: 1,000 each expected
    np.testing.assert_array_equal(start[:4000], np.maximum(ends - 3, 0))  # the prefix's latest 3 items
    assert end[4000:].tolist() == [1, 0, 2] and start[4000:].tolist() == [0, 0, 0]  # too short to cut
    _, whole = random_prefix_bounds(tf.constant([9]), None, seed=1)
    assert 2 <= int(whole[0]) <= 9


def test_random_windows_give_one_prefix_per_record_and_change_every_pass(data_dir):
    config = SequenceBatchConfig(
        batch_size=8, max_len=4, windows="random", include_timestamps=True, seed=5, shuffle_buffer=8
    )
    dataset = make_dataset(data_dir, "train", config)

    def one_pass():
        (batch,) = list(dataset)  # 5 records, one batch; each pass is a new iterator, as in Keras' epochs
        rows = {}
        for sid, items, ts, n in zip(
            batch["sequence_id"].numpy(),
            batch["item_ids"].numpy(),
            batch["timestamps"].numpy(),
            batch["lengths"].numpy(),
        ):
            sid = sid.decode()
            history, times, _ = HISTORIES[sid]
            real = items[4 - n :].tolist()
            assert n <= 4 and items[: 4 - n].tolist() == [0] * (4 - n)  # left padded
            # a contiguous run of the history ending after its second item or later, timestamps aligned
            end = next(e for e in range(len(history), 0, -1) if history[max(0, e - n) : e] == real)
            assert end >= min(2, len(history)) and ts[4 - n :].tolist() == times[end - n : end]
            rows[sid] = tuple(real)
        assert sorted(rows) == sorted(HISTORIES)  # one row per record
        return rows

    passes = [one_pass() for _ in range(12)]
    assert len({p["u4"] for p in passes}) >= 3  # u4 (7 items) is cut differently from pass to pass
    fresh = [list(make_dataset(data_dir, "train", config))[0]["item_ids"].numpy().tolist() for _ in range(2)]
    assert fresh[0] == fresh[1]  # a new pipeline with the same seed draws the same first pass

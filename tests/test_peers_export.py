"""benchmarks/peers/export_split.py on a tiny generated leave-one-out dataset (no RecBole needed)."""

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from tfseqrec.data.example_codec import encode_example
from tfseqrec.data.spec import FeatureInfo, FeatureSpec, SplitFiles, VocabularyInfo

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "peers" / "export_split.py"
HEADER = ["user_id:token", "item_id_list:token_seq", "item_id:token", "timestamp:float"]
MAX_LEN = 3
VOCAB_SIZE = 12  # ids 2..11 are items
# Whole sequences (vocabulary ids); leave-one-out: last = test, second-to-last = valid; shorter than 3 = train only.
SEQUENCES = {
    "u1": [2, 3, 4, 5, 6, 7, 8],
    "u2": [9, 10, 2],
    "u3": [11, 4],
    "u4": [5, 5, 6, 11, 2, 3],
}


@pytest.fixture(scope="module")
def export_split():
    spec = importlib.util.spec_from_file_location("export_split", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["export_split"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("export_split", None)


def _write(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for r in records:
            writer.write(r)


def _record(sid, items, target=None):
    return encode_example(
        {
            "sequence_id": ("bytes", [sid]),
            "item_ids": ("int64", items),
            "target_ids": ("int64", [] if target is None else [target]),
        }
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("loo")
    train, valid, test = [], [], []
    for sid, seq in SEQUENCES.items():
        if len(seq) < 3:
            train.append(_record(sid, seq))
            continue
        train.append(_record(sid, seq[:-2]))
        valid.append(_record(sid, seq[:-2], seq[-2]))
        test.append(_record(sid, seq[:-1], seq[-1]))
    _write(d / "train-00000-of-00001.tfrecord", train)
    _write(d / "valid-00000-of-00001.tfrecord", valid)
    _write(d / "test-00000-of-00001.tfrecord", test)
    (d / "vocab.tsv").write_text("[PAD]\t0\n[OOV]\t0\n" + "".join(f"i{i}\t1\n" for i in range(2, VOCAB_SIZE)))
    spec = FeatureSpec(
        features={
            "sequence_id": FeatureInfo("string", "scalar"),
            "item_ids": FeatureInfo("int64", "list"),
            "target_ids": FeatureInfo("int64", "list"),
        },
        splits={
            "train": SplitFiles("train-*.tfrecord", len(train)),
            "valid": SplitFiles("valid-*.tfrecord", len(valid), num_targets=len(valid)),
            "test": SplitFiles("test-*.tfrecord", len(test), num_targets=len(test)),
        },
        vocabulary=VocabularyInfo("vocab.tsv", size=VOCAB_SIZE, num_items=VOCAB_SIZE - 2),
        protocol={"split": "leave_one_out", "targets_per_record": 1},
    )
    (d / "feature_spec.json").write_text(json.dumps(spec.to_json()))
    return d


def _rows(path):
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        user, history, item, ts = line.split("\t")
        rows.append((user, [int(i) for i in history.split()], int(item), float(ts)))
    return header, rows


@pytest.fixture(scope="module")
def exported(export_split, dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("recbole") / "tiny"
    manifest = export_split.export(str(dataset), str(out), MAX_LEN)
    return out, manifest


def test_files_have_recbole_columns(exported):
    out, manifest = exported
    for split in ("train", "valid", "test"):
        header, _ = _rows(out / f"tiny.{split}.inter")
        assert header == HEADER
    assert (out / "tiny.item").read_text().splitlines() == ["item_id:token"] + [str(i) for i in range(2, VOCAB_SIZE)]
    assert manifest["recbole_config"]["benchmark_filename"] == ["train", "valid", "test"]
    assert manifest["recbole_config"]["alias_of_item_id"] == ["item_id_list"]
    assert json.loads((out / "export.json").read_text())["max_len"] == MAX_LEN


def test_one_valid_and_one_test_row_per_user(exported):
    out, manifest = exported
    evaluated = sorted(sid for sid, seq in SEQUENCES.items() if len(seq) >= 3)
    for split in ("valid", "test"):
        _, rows = _rows(out / f"tiny.{split}.inter")
        assert sorted(r[0] for r in rows) == evaluated
        assert manifest["counts"][split]["rows"] == len(evaluated)
    _, test = _rows(out / "tiny.test.inter")
    _, valid = _rows(out / "tiny.valid.inter")
    for user, history, item, _ in test:
        seq = SEQUENCES[user]
        assert item == seq[-1] and history == seq[:-1][-MAX_LEN:]  # train + valid items, latest MAX_LEN
    for user, history, item, _ in valid:
        seq = SEQUENCES[user]
        assert item == seq[-2] and history == seq[:-2][-MAX_LEN:]


def test_train_rows_are_every_prefix(exported):
    out, manifest = exported
    _, rows = _rows(out / "tiny.train.inter")
    expected = []
    for user, seq in SEQUENCES.items():
        train = seq[:-2] if len(seq) >= 3 else seq
        expected += [(user, train[max(0, t - MAX_LEN) : t], train[t]) for t in range(1, len(train))]
    assert sorted((u, h, i) for u, h, i, _ in rows) == sorted(expected)
    assert manifest["counts"]["train"]["rows"] == len(expected)
    assert all(0 < len(h) <= MAX_LEN for _, h, _, _ in rows)


def test_timestamps_keep_the_order(exported):
    out, _ = exported
    times = {}
    for split in ("train", "valid", "test"):
        _, rows = _rows(out / f"tiny.{split}.inter")
        for user, history, item, ts in rows:
            times.setdefault(user, []).append((split, ts, item))
    for user, events in times.items():
        stamps = [ts for _, ts, _ in events]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), (user, events)
        seq = SEQUENCES[user]
        # in timestamp order the targets are the sequence from its second item on
        assert [item for _, _, item in sorted(events, key=lambda e: e[1])] == seq[1:]


def test_window_mode_keeps_the_last_max_len_targets(export_split, dataset, tmp_path):
    manifest = export_split.export(str(dataset), str(tmp_path / "win"), MAX_LEN, train_targets="window")
    _, rows = _rows(tmp_path / "win" / "win.train.inter")
    u1 = [item for user, _, item, _ in rows if user == "u1"]
    assert u1 == SEQUENCES["u1"][:-2][-MAX_LEN:]
    assert manifest["counts"]["train"]["rows"] == manifest["counts"]["train"]["tfseqrec_window_targets"]


def test_refuses_recbole_reserved_name(export_split, dataset, tmp_path):
    with pytest.raises(ValueError, match="ml-100k"):
        export_split.export(str(dataset), str(tmp_path / "ml-100k"), MAX_LEN)

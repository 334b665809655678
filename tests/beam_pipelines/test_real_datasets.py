"""Full real datasets from ../shared/data: the published preprocessing figures, exactly (slow)."""

import json

import pytest

from beam_pipelines import preprocess
from beam_pipelines.config import FilterConfig, OutputConfig, PreprocessConfig, ReaderConfig
from tests.conftest import shared_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ml1m(tmp_path_factory):
    out = tmp_path_factory.mktemp("ml1m")
    cfg = PreprocessConfig(
        inputs=(str(shared_file("ml-1m", "ml-1m.seq.tsv")),),
        output=OutputConfig(str(out)),
        reader=ReaderConfig(order_col="seq_pos"),
        filters=FilterConfig(item_min_count=5),
    )
    return out, preprocess.run(cfg)  # default options: DirectRunner, multi-process, 2 workers


def test_ml1m_item_5core_matches_sasrec_bert4rec_figures(ml1m):
    _, stats = ml1m
    assert stats["users"] == 6040
    assert stats["items"] == 3416
    assert stats["interactions"] == 999_611
    assert stats["splits"]["valid"] == {"records": 6040, "targets": 6040}
    assert stats["splits"]["test"] == {"records": 6040, "targets": 6040}
    rows = stats["rows"]
    assert rows["rows_read"] == 1_000_209 and rows["rows_rejected"] == 0
    assert rows["filtered_by_rule"] == {"kcore_item": 1_000_209 - 999_611}
    assert rows["balanced"] and rows["rows_kept"] == 999_611
    assert stats["kcore"]["converged"]


def test_ml1m_records_load_with_the_tf_data_loader(ml1m):
    import tensorflow as tf

    from tfseqrec.data import SequenceBatchConfig, load_feature_spec, load_vocabulary, make_dataset

    out, _ = ml1m
    spec = load_feature_spec(str(out))
    assert spec.vocabulary.size == 3418 and len(load_vocabulary(spec)) == 3418
    ds = make_dataset(spec, "test", SequenceBatchConfig(batch_size=1024, max_len=200, padding="left"))
    users, targets, longest = 0, set(), 0
    for batch in ds:
        users += int(tf.shape(batch["item_ids"])[0])
        assert batch["item_ids"].shape[1] == 200
        longest = max(longest, int(tf.reduce_max(batch["lengths"])))
        targets.update(batch["target_id"].numpy().tolist())
        assert int(tf.reduce_min(batch["target_id"])) >= 2
    assert users == 6040 and longest == 200 and max(targets) <= 3417


def test_ml1m_user_1_sequence_follows_seq_pos(ml1m, tmp_path):
    import tensorflow as tf

    from tfseqrec.data import load_feature_spec, load_vocabulary

    out, _ = ml1m
    spec = load_feature_spec(str(out))
    vocab = load_vocabulary(spec)
    lines = shared_file("ml-1m", "ml-1m.seq.tsv").read_text().splitlines()[1:]
    user1 = [line.split("\t") for line in lines if line.startswith("1\t")]
    expected = [item for _, item, _, _ in sorted(user1, key=lambda f: int(f[3]))]
    for raw in tf.data.TFRecordDataset(sorted(str(p) for p in out.glob("test-*.tfrecord"))):
        example = tf.train.Example.FromString(raw.numpy())
        if example.features.feature["sequence_id"].bytes_list.value[0] == b"1":
            ids = list(example.features.feature["item_ids"].int64_list.value)
            target = example.features.feature["target_ids"].int64_list.value[0]
            assert [vocab[i] for i in ids] + [vocab[target]] == expected
            break
    else:
        pytest.fail("user 1 not found in the test split")


def test_amazon_beauty_figures(tmp_path):
    cfg = PreprocessConfig(
        inputs=(str(shared_file("amazon-beauty", "Beauty.txt")),), output=OutputConfig(str(tmp_path), max_len=50)
    )
    stats = preprocess.run(cfg)
    assert (stats["users"], stats["items"], stats["interactions"]) == (22_363, 12_101, 198_502)
    assert stats["splits"]["test"] == {"records": 22_363, "targets": 22_363}
    assert stats["rows"]["balanced"] and stats["rows"]["rows_read"] == 198_502
    spec = json.loads((tmp_path / "feature_spec.json").read_text())
    assert spec["protocol"]["split"] == "leave_one_out" and spec["protocol"]["max_len"] == 50

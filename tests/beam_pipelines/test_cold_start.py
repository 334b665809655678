"""The cold-start protocol: new users by first-event time, held out whole; K-event support sets; accounting."""

import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_pipelines import sequence_ops, transforms as T
from beam_pipelines.config import SplitConfig
from beam_pipelines.records import Sequence
from tests.beam_pipelines.records_io import read_split
from tests.conftest import FAST_BEAM
from tfseqrec.cli import main


def _seq(key, items, first_ms):
    return Sequence(key, list(items), [first_ms + 1000 * i for i in range(len(items))], None)


def test_cut_is_the_quantile_of_first_event_times():
    assert sequence_ops.cold_start_cut([50, 10, 40, 20, 30], 0.2) == 50  # the latest 1 of 5 users is new
    assert sequence_ops.cold_start_cut([10, 20, 30, 40], 0.5) == 30
    assert sequence_ops.cold_start_cut([10, 20, 20, 20], 0.25) == 20  # ties at the cut are all new
    assert sequence_ops.cold_start_cut([], 0.2) == float("inf")


def test_new_user_gives_support_and_query_for_each_k_and_nothing_to_train():
    cfg = SplitConfig("cold_start", support_sizes=(1, 3), query_items=2)
    new = sequence_ops.split_sequence(_seq("new", "abcdef", 500), cfg, cold_cut_ms=500)
    assert new.train is None and new.valid is None and new.test is None
    assert {k: (v[0].items, v[1].items) for k, v in new.cold.items()} == {
        "cold_k1": (["a"], ["b", "c"]),
        "cold_k3": (["a", "b", "c"], ["d", "e"]),
    }
    short = sequence_ops.split_sequence(_seq("short", "abcd", 600), cfg, cold_cut_ms=500)
    assert set(short.cold) == {"cold_k1"} and short.dropped == {"short_cold_user/cold_k3": 1}
    warm = sequence_ops.split_sequence(_seq("warm", "abcd", 100), cfg, cold_cut_ms=500)
    assert warm.cold == {} and warm.train.items == ["a", "b"] and warm.test[1].items == ["d"]  # leave-one-out


def test_split_transform_computes_the_cut_and_counts_new_users():
    seqs = [_seq(f"u{i}", "abcdefg", 1000 * i) for i in range(10)]
    cfg = SplitConfig("cold_start", cold_user_fraction=0.2, support_sizes=(3,))
    with TestPipeline() as p:
        out = p | beam.Create(seqs) | T.SplitSequences(cfg)
        assert_that(out.train | beam.Map(lambda s: s.key), equal_to([f"u{i}" for i in range(8)]), label="train")
        assert_that(out.cold_k3 | "c" >> beam.Map(lambda pr: pr[0].key), equal_to(["u8", "u9"]), label="cold")
        assert_that(
            out[T.COUNTS] | T.CollectCounts(),
            equal_to([{"cold_users": 2, "kept/new_user_events": 14}]),
            label="counts",
        )


def test_validation_users_are_the_first_new_users_to_arrive():
    assert sequence_ops.cold_valid_cut([10, 50, 60, 70, 80], 50, 0.5) == 70  # new: 50..80, the first 2 validate
    assert sequence_ops.cold_valid_cut([10, 50, 60], 50, 0.0) == float("-inf")
    cfg = SplitConfig("cold_start", support_sizes=(1,), cold_valid_fraction=0.5)
    assert cfg.cold_splits() == ["cold_k1", "cold_valid_k1"]
    early = sequence_ops.split_sequence(_seq("a", "abc", 600), cfg, cold_cut_ms=500, cold_valid_cut_ms=700)
    late = sequence_ops.split_sequence(_seq("b", "abc", 700), cfg, cold_cut_ms=500, cold_valid_cut_ms=700)
    assert set(early.cold) == {"cold_valid_k1"} and set(late.cold) == {"cold_k1"}


def test_split_transform_puts_the_first_new_users_in_validation():
    seqs = [_seq(f"u{i}", "abcdefg", 1000 * i) for i in range(10)]
    cfg = SplitConfig("cold_start", cold_user_fraction=0.4, cold_valid_fraction=0.5, support_sizes=(3,))
    with TestPipeline() as p:
        out = p | beam.Create(seqs) | T.SplitSequences(cfg)
        assert_that(out.cold_valid_k3 | "v" >> beam.Map(lambda pr: pr[0].key), equal_to(["u6", "u7"]), label="v")
        assert_that(out.cold_k3 | "c" >> beam.Map(lambda pr: pr[0].key), equal_to(["u8", "u9"]), label="cold")
        assert_that(out.train | beam.Map(lambda s: s.key), equal_to([f"u{i}" for i in range(6)]), label="train")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cold_user_fraction": 1.0}, "cold_user_fraction"),
        ({"support_sizes": (0, 3)}, "support_sizes"),
        ({"query_items": 0}, "query_items"),
        ({"cold_valid_fraction": 1.0}, "cold_valid_fraction"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SplitConfig("cold_start", **kwargs)


def test_cli_writes_cold_splits_that_balance_and_evaluate(tmp_path):
    log = tmp_path / "log.csv"
    assert main(["generate", "--output", str(log), "--num-users", "300", "--num-items", "100", "--seed", "3"]) == 0
    out = tmp_path / "data"
    args = ["preprocess", "--input", str(log), "--output-dir", str(out), "--split", "cold_start"]
    flags = ["--support-sizes", "1,3", "--cold-user-fraction", "0.25", "--cold-valid-fraction", "0.3"]
    assert main(args + flags + FAST_BEAM) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows"]["balanced"] and stats["rows"]["kept"]["new_user_events"] > 0
    spec = json.loads((out / "feature_spec.json").read_text())
    assert spec["protocol"]["split"] == "cold_start" and spec["protocol"]["support_sizes"] == [1, 3]
    assert set(spec["splits"]) == {"train", "valid", "test", "cold_k1", "cold_k3", "cold_valid_k1", "cold_valid_k3"}
    names = ("train", "cold_k1", "cold_k3", "cold_valid_k1")
    train, cold1, cold3, valid1 = (read_split(str(out), name) for name in names)
    assert len(cold1) + len(valid1) == stats["new_users"]["users"] >= 0.2 * 300
    assert 0.2 < len(valid1) / stats["new_users"]["users"] < 0.4
    assert not (set(cold1) | set(valid1)) & set(train) and not set(cold1) & set(valid1)
    assert all(len(r["item_ids"]) == 3 and len(r["target_ids"]) == 1 for r in cold3.values())
    for user, record in cold3.items():
        if user in cold1:
            assert cold1[user]["item_ids"] == record["item_ids"][:1]
            assert cold1[user]["target_ids"] == record["item_ids"][1:2]
    run = tmp_path / "run"
    flags = ["--model", "sasrec", "--epochs", "1", "model_config.max_len=10", "model_config.embedding_dim=8"]
    assert main(["train", "--data-dir", str(out), "--output-dir", str(run), *flags, "verbose=0"]) == 0
    assert main(["evaluate", str(run), "--split", "cold_k3", "--output-dir", str(tmp_path / "ev")]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["protocol"]["split"] == "cold_k3" and metrics["summary"]["num_users"] == len(cold3)
    assert metrics["protocol"]["dataset_protocol"]["split"] == "cold_start"

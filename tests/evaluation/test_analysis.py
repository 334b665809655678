"""Error analysis: segment labels and means by hand, worst cases, and analyze() / `tfseqrec analyze` end to end."""

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
import csv
import dataclasses
import json
import os

import numpy as np
import pytest

from tfseqrec.evaluation.analysis import (
    UNMATCHED,
    analyze,
    cold_segments,
    history_length_labels,
    history_length_segments,
    popularity_segments,
    popularity_thresholds,
    segment_metrics,
    session_position_segments,
    worst_cases,
    worst_rows,
)

FAST = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


# ------------------------------------------------------------------------------------------ labels
def test_history_length_buckets_by_hand():
    lengths = [0, 1, 5, 6, 10, 11, 20, 21, 50, 51, 100, 101, 200, 201, 5000]
    assert history_length_segments(lengths).tolist() == [
        "0",
        "1-5",
        "1-5",
        "6-10",
        "6-10",
        "11-20",
        "11-20",
        "21-50",
        "21-50",
        "51-100",
        "51-100",
        "101-200",
        "101-200",
        "201+",
        "201+",
    ]
    assert history_length_labels() == ["0", "1-5", "6-10", "11-20", "21-50", "51-100", "101-200", "201+"]
    # A bucket of one length is written as that length.
    assert history_length_segments([1, 2, 3, 5, 6, 9], edges=(1, 2, 5)).tolist() == ["1", "2", "3-5", "3-5", "6+", "6+"]
    for bad in ((), (0, 5), (5, 5), (10, 5)):
        with pytest.raises(ValueError, match="edges"):
            history_length_segments([1], edges=bad)
    with pytest.raises(ValueError, match=">= 0"):
        history_length_segments([-1])


def test_head_torso_tail_by_hand():
    # Real items (ids 2..11) with train counts 100, 50, 50, 20, 10, 10, 5, 3, 1, 0 (n = 10).
    # m = items strictly more popular: 0, 1, 1, 3, 4, 4, 6, 7, 8, 9.
    # head: m < 0.2 * 10 = 2 -> 100, 50, 50 (the tie at the boundary goes to head);
    # tail: m >= (1 - 0.5) * 10 = 5 -> 5, 3, 1, 0; torso: 20, 10, 10.
    item_counts = [0, 0, 100, 50, 50, 20, 10, 10, 5, 3, 1, 0]
    labels = popularity_segments(item_counts[2:], item_counts)
    assert labels.tolist() == ["head"] * 3 + ["torso"] * 3 + ["tail"] * 4
    # Target counts need not be catalogue counts; a count of 0 (never trained on) is tail.
    assert popularity_segments([1000, 30, 0], item_counts).tolist() == ["head", "torso", "tail"]
    assert popularity_thresholds(item_counts) == {
        "head_min_count": 50,
        "tail_max_count": 5,
        "num_head_items": 3,
        "num_torso_items": 3,
        "num_tail_items": 4,
    }
    # head_share 0.1: only m < 1 -> 100; tail_share 0.2: m >= 8 -> 1, 0.
    assert (
        popularity_segments(item_counts[2:], item_counts, 0.1, 0.2).tolist() == ["head"] + ["torso"] * 7 + ["tail"] * 2
    )
    with pytest.raises(ValueError, match="head_share"):
        popularity_segments([1], item_counts, 0.6, 0.5)


def test_cold_targets():
    assert (
        cold_segments([0, 1, 5, 6, 100]).tolist()
        == ["cold (<= 5 train interactions)"] * 3 + ["warm (> 5 train interactions)"] * 2
    )
    assert cold_segments([0, 1], threshold=0).tolist() == [
        "cold (<= 0 train interactions)",
        "warm (> 0 train interactions)",
    ]


def test_session_position_buckets():
    # Sessions of 2, 3 and 5 items: (t, n).
    position = [1, 1, 2, 1, 2, 3, 4]
    length = [2, 3, 3, 5, 5, 5, 5]
    assert session_position_segments(position, length).tolist() == [
        "only (2-item session)",
        "first",
        "last",
        "first",
        "middle",
        "middle",
        "last",
    ]
    with pytest.raises(ValueError, match="position"):
        session_position_segments([3], [3])


def test_segment_means_by_hand():
    per_user = {"HR@10": np.array([1, 0, 1, 1, 0], float), "MRR": np.array([1, 0.1, 0.5, 0.25, 0.05])}
    labels = ["b", "a", "b", "c", "a"]
    rows = segment_metrics(per_user, labels, "dim", metrics=("HR@10", "MRR"), order=["c", "missing", "b"])
    assert [(r.segment, r.count) for r in rows] == [("c", 1), ("b", 2), ("a", 2)]  # unlisted "a" comes after
    assert rows[1].metrics == pytest.approx({"HR@10": 1.0, "MRR": 0.75})
    assert rows[2].metrics == pytest.approx({"HR@10": 0.0, "MRR": 0.075})
    assert rows[0].dimension == "dim" and sum(r.count for r in rows) == 5
    with pytest.raises(ValueError, match="NDCG@10"):
        segment_metrics(per_user, labels, "dim", metrics=("NDCG@10",))


def test_worst_cases_order():
    ranks = np.array([3, 9, 9, 1, 9, 7])
    ids = np.array(["u5", "u2", "u1", "u3", "u2", "u4"])
    # Rank 9: u1 (row 2), then u2 rows 1 and 4 in row order; then u4 (7), u5 (3), u3 (1).
    assert worst_rows(ranks, ids, n=10).tolist() == [2, 1, 4, 5, 0, 3]
    assert worst_rows(ranks, ids, n=2).tolist() == [2, 1]
    assert worst_rows(ranks, ids, n=3, eligible=[True, True, False, True, True, True]).tolist() == [1, 4, 5]
    histories = [[f"h{u}{j}" for j in range(u + 1)] for u in range(6)]
    cases = worst_cases(
        ranks,
        ids,
        target_items=[f"t{u}" for u in range(6)],
        histories=histories,
        top_items=[["a", "b"]] * 6,
        n=2,
        history_items=2,
        positions=[5, 6, 7, 8, 9, 10],
    )
    assert [(c.sequence_id, c.rank, c.target_item, c.position) for c in cases] == [
        ("u1", 9, "t2", 7),
        ("u2", 9, "t1", 6),
    ]
    assert cases[0].history == ["h21", "h22"] and cases[1].history == ["h10", "h11"]  # latest 2, most recent last
    assert cases[0].top_items == ["a", "b"]


# ------------------------------------------------------------------------------- hand-made datasets
def _write_dataset(directory, split_records, counts, protocol, features):
    import tensorflow as tf

    from tfseqrec.data.example_codec import encode_example
    from tfseqrec.data.spec import FeatureInfo, FeatureSpec, SplitFiles, VocabularyInfo

    os.makedirs(directory, exist_ok=True)
    splits = {}
    for split, records in split_records.items():
        with tf.io.TFRecordWriter(os.path.join(directory, f"{split}-00000-of-00001.tfrecord")) as writer:
            for sid, (items, targets) in records.items():
                example = {"sequence_id": ("bytes", [sid]), "item_ids": ("int64", items)}
                if "target_ids" in features:
                    example["target_ids"] = ("int64", targets)
                writer.write(encode_example(example))
        splits[split] = SplitFiles(
            f"{split}-*.tfrecord", len(records), num_targets=sum(len(t) for _, t in records.values())
        )
    with open(os.path.join(directory, "vocab.tsv"), "w") as f:
        f.write(
            "".join(f"{'[PAD]' if i == 0 else '[OOV]' if i == 1 else f'item{i}'}\t{c}\n" for i, c in enumerate(counts))
        )
    spec = FeatureSpec(
        features={
            name: FeatureInfo(
                "string" if name == "sequence_id" else "int64", "scalar" if name == "sequence_id" else "list"
            )
            for name in features
        },
        splits=splits,
        vocabulary=VocabularyInfo("vocab.tsv", size=len(counts), num_items=len(counts) - 2),
        protocol=protocol,
    )
    with open(os.path.join(directory, "feature_spec.json"), "w") as f:
        json.dump(spec.to_json(), f)
    return str(directory)


COUNTS = [0, 0, 6, 5, 4, 3, 2, 1]  # items 2..7; head (m < 1.2): 2, 3; torso: 4; tail (m >= 3): 5, 6, 7
SESSIONS = {"s1": [2, 3, 4], "s2": [5, 5], "s3": [6], "s4": [7, 2, 6, 3]}


def _most_popular(data_dir, **config):
    from tfseqrec.data.spec import load_feature_spec, load_item_counts
    from tfseqrec.evaluation import EvaluationConfig, evaluate
    from tfseqrec.models.baselines import MostPopular

    spec = load_feature_spec(data_dir)
    return evaluate(MostPopular(load_item_counts(spec)).score_fn, spec, EvaluationConfig(**config), verbose=False)


def _segments(analysis, dimension):
    return {s.segment: s.count for s in analysis.segments if s.dimension == dimension}


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory):
    return _write_dataset(
        tmp_path_factory.mktemp("sessions"),
        {"test": {k: (v, []) for k, v in SESSIONS.items()}},
        COUNTS,
        {"split": "session", "targets_per_record": 0},
        ("sequence_id", "item_ids"),
    )


def test_session_events_by_hand(session_dir):
    # Events (t, n): s1 (1, 3) -> 3, (2, 3) -> 4; s2 (1, 2) -> 5; s4 (1, 4) -> 2, (2, 4) -> 6, (3, 4) -> 3.
    result = _most_popular(session_dir, ks=(1, 5), filter_seen=False)
    assert result.per_user["target_id"].tolist() == [3, 4, 5, 2, 6, 3]
    assert result.per_user["history_length"].tolist() == [1, 2, 1, 1, 2, 3]
    analysis = analyze(result, session_dir, cold_threshold=3, metrics=("HR@1", "MRR", "NDCG@10"))
    assert analysis.protocol["unmatched_rows"] == 0 and analysis.protocol["row_kind"] == "session events"
    assert analysis.protocol["metrics"] == ["HR@1", "MRR"] and analysis.protocol["metrics_missing"] == ["NDCG@10"]
    assert _segments(analysis, "history_length") == {"1": 3, "2": 2, "3": 1}
    assert _segments(analysis, "session_position") == {"first": 2, "middle": 1, "last": 2, "only (2-item session)": 1}
    assert _segments(analysis, "target_popularity") == {"head": 3, "torso": 1, "tail": 2}
    assert _segments(analysis, "cold_target") == {
        "cold (<= 3 train interactions)": 2,
        "warm (> 3 train interactions)": 4,
    }
    # Most popular ranks 2 first: only the target 2 (s4, t = 1) is a hit at 1; its rank-1 row is a "first" event.
    first = next(s for s in analysis.segments if s.dimension == "session_position" and s.segment == "first")
    assert first.metrics["HR@1"] == pytest.approx(0.5)
    # Ranks without filter_seen (2 > 3 > ... > 7): 3 -> 2, 4 -> 3, 5 -> 4, 2 -> 1, 6 -> 5, 3 -> 2.
    worst = analysis.failures[0]
    assert (worst.sequence_id, worst.position, worst.target_item, worst.rank) == ("s4", 2, "item6", 5)
    assert worst.history == ["item7", "item2"] and worst.top_items[:2] == ["item2", "item3"]
    assert worst.target_train_count == 2
    assert [(f.sequence_id, f.rank) for f in analysis.failures] == [
        ("s4", 5),
        ("s2", 4),
        ("s1", 3),
        ("s1", 2),
        ("s4", 2),
        ("s4", 1),
    ]
    # Older files without the new fields, and without session_index / position, join the same way.
    for dropped in (
        ("target_id", "history_length"),
        ("target_id", "history_length", "session_index"),
        ("target_id", "history_length", "session_index", "position"),
    ):
        old = dataclasses.replace(result, per_user={k: v for k, v in result.per_user.items() if k not in dropped})
        again = analyze(old, session_dir, cold_threshold=3, metrics=("HR@1", "MRR"))
        assert again.segments == analysis.segments and again.failures == analysis.failures


def test_unmatched_rows_are_counted_in_every_dimension(session_dir):
    result = _most_popular(session_dir, ks=(1, 5))
    per_user = dict(result.per_user)
    per_user["target_id"] = per_user["target_id"].copy()
    per_user["target_id"][0] = 7  # The stored target disagrees with the split.
    ids = result.sequence_ids.copy()
    ids[5] = "nope"
    analysis = analyze(dataclasses.replace(result, per_user=per_user, sequence_ids=ids), session_dir, metrics=("MRR",))
    assert analysis.protocol["unmatched_rows"] == 2 and analysis.protocol["matched_rows"] == 4
    assert sorted(analysis.protocol["unmatched_reasons"].values()) == [1, 1]
    for dimension in ("history_length", "target_popularity", "cold_target", "session_position"):
        counts = _segments(analysis, dimension)
        assert counts[UNMATCHED] == 2 and sum(counts.values()) == 6, dimension
    assert all(f.sequence_id != "nope" for f in analysis.failures) and len(analysis.failures) == 4
    with pytest.raises(ValueError, match="split"):
        analyze(result, session_dir, split="valid")


def test_several_targets_use_the_first_and_skip_records_without_targets(tmp_path):
    records = {"u1": ([2, 3], [4, 6, 4]), "u2": ([5], [7]), "u3": ([2, 5], [])}
    data = _write_dataset(
        tmp_path / "temporal",
        {"test": records},
        COUNTS,
        {"split": "temporal"},
        ("sequence_id", "item_ids", "target_ids"),
    )
    result = _most_popular(data, ks=(1, 5))
    assert "target_id" not in result.per_user and result.per_user["history_length"].tolist() == [2, 1]
    analysis = analyze(result, data, cold_threshold=3, metrics=("MRR",))
    assert analysis.protocol["unmatched_rows"] == 0 and analysis.protocol["rows"] == 2
    assert _segments(analysis, "target_popularity") == {"torso": 1, "tail": 1}  # first targets 4 and 7
    assert {f.sequence_id: f.target_item for f in analysis.failures} == {"u1": "item4", "u2": "item7"}


# ----------------------------------------------------------------------------- generated dataset, CLI
@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from tfseqrec.cli import main

    root = tmp_path_factory.mktemp("generated")
    log, data = root / "log.csv", root / "data"
    assert main(["generate", "--output", str(log), "--num-users", "60", "--num-items", "80", "--seed", "3"]) == 0
    assert main(["preprocess", "--input", str(log), "--output-dir", str(data), *FAST]) == 0
    from tfseqrec.data.spec import load_feature_spec, load_item_counts
    from tfseqrec.evaluation import EvaluationConfig, evaluate
    from tfseqrec.models.baselines import ItemTransitions

    spec = load_feature_spec(str(data))
    counts = load_item_counts(spec)
    result = evaluate(
        ItemTransitions(spec, counts).score_fn, spec, EvaluationConfig(ks=(1, 10), max_len=10), verbose=False
    )
    result.save(str(root / "eval"))
    return data, root / "eval", result, np.asarray(counts)


def test_every_row_lands_in_exactly_one_segment(generated):
    data, _, result, counts = generated
    rows = len(result.sequence_ids)
    analysis = analyze(result, str(data), cold_threshold=20, n_failures=5, history_items=3)
    assert analysis.protocol["unmatched_rows"] == 0 and analysis.protocol["rows"] == rows == 60
    assert analysis.protocol["checked_against_stored"] == ["history_length", "target_id"]
    for dimension in ("history_length", "target_popularity", "cold_target"):
        segments = [s for s in analysis.segments if s.dimension == dimension]
        assert sum(s.count for s in segments) == rows and len({s.segment for s in segments}) == len(segments)
    assert not any(s.dimension == "session_position" for s in analysis.segments)
    # The segments agree with what the evaluator stored: the whole history (not the max_len=10 cut) ...
    assert _segments(analysis, "history_length") == dict(
        zip(*np.unique(history_length_segments(result.per_user["history_length"]), return_counts=True))
    )
    assert result.per_user["history_length"].max() > 10
    # ... and the targets' train counts.
    cold = int((counts[result.per_user["target_id"]] <= 20).sum())
    assert _segments(analysis, "cold_target").get("cold (<= 20 train interactions)", 0) == cold
    # The segment means weighted by their counts give back the overall means.
    for dimension in ("history_length", "target_popularity", "cold_target"):
        total = sum(s.count * s.metrics["NDCG@10"] for s in analysis.segments if s.dimension == dimension)
        assert total / rows == pytest.approx(result.summary["NDCG@10"])
    ranks = [f.rank for f in analysis.failures]
    assert len(ranks) == 5 and ranks == sorted(ranks, reverse=True) and ranks[0] == result.per_user["rank"].max()
    assert all(len(f.history) == 3 and len(f.top_items) == 10 for f in analysis.failures)
    assert analysis.coverage == {k: result.summary[k] for k in ("coverage@1", "coverage@10")}
    assert set(analysis.popularity_bias) == {"popularity_percentile@1", "popularity_percentile@10", "gini@1", "gini@10"}
    # Without the stored fields (files of older versions) the analysis is the same.
    old = dataclasses.replace(
        result, per_user={k: v for k, v in result.per_user.items() if k not in ("target_id", "history_length")}
    )
    again = analyze(old, str(data), cold_threshold=20, n_failures=5, history_items=3)
    assert again.segments == analysis.segments and again.failures == analysis.failures
    assert again.protocol["checked_against_stored"] == []


def test_write_and_cli(generated, tmp_path, capsys):
    from tfseqrec.cli import main

    data, evaluation, _, _ = generated
    out = tmp_path / "analysis"
    assert (
        main(
            [
                "analyze",
                "--evaluation",
                str(evaluation),
                "--data",
                str(data),
                "--output",
                str(out),
                "--failures",
                "4",
                "--cold-threshold",
                "20",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for text in (
        "60 users of split 'test'",
        "history_length",
        "target_popularity",
        "cold_target",
        "head",
        f"wrote analysis.json, segments.csv and failures.csv to {out}",
    ):
        assert text in printed, text
    saved = json.loads((out / "analysis.json").read_text())
    assert len(saved["failures"]) == 4 and saved["protocol"]["cold_threshold"] == 20
    with open(out / "segments.csv") as f:
        segments = list(csv.DictReader(f))
    assert list(segments[0]) == ["dimension", "segment", "count", "share", "HR@10", "NDCG@10", "MRR"]
    assert sum(int(r["count"]) for r in segments if r["dimension"] == "cold_target") == 60
    assert len(segments) == len(saved["segments"])
    with open(out / "failures.csv") as f:
        failures = list(csv.DictReader(f))
    assert [int(r["rank"]) for r in failures] == [c["rank"] for c in saved["failures"]]
    assert failures[0]["history"].split() == saved["failures"][0]["history"]
    # Help explains every option; bad input is a clean error.
    with pytest.raises(SystemExit) as e:
        main(["analyze", "--help"])
    assert e.value.code == 0
    help_text = capsys.readouterr().out
    for option in (
        "--evaluation",
        "--data",
        "--split",
        "--output",
        "--failures",
        "--history-items",
        "--cold-threshold",
        "--head-share",
        "--tail-share",
        "--metrics",
    ):
        assert option in help_text
    assert main(["analyze", "--evaluation", str(evaluation), "--data", str(data), "--split", "valid"]) == 2
    assert "not 'valid'" in capsys.readouterr().err

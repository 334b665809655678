"""The session protocol ("every next item"): event expansion and evaluate() by hand on a tiny split."""

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from tfseqrec.data.example_codec import encode_example
from tfseqrec.data.spec import FeatureInfo, FeatureSpec, SplitFiles, VocabularyInfo
from tfseqrec.evaluation import EvaluationConfig, EvaluationResult, evaluate
from tfseqrec.evaluation.sessions import read_session_events, session_events

L3 = 1.0 / math.log2(3)
V = 8  # ids 0..7: PAD, OOV and real items 2..7
# Scores by the last item of the prefix (rows = last item, columns = ids 0..7).
TABLE = np.zeros((V, V), np.float32)
TABLE[2] = [9, 9, 1, 5, 3, 2, 4, 0]  # after 2: 3 > 6 > 4 > 5 > 2 > 7
TABLE[3] = [0, 0, 0, 1, 6, 6, 2, 3]  # after 3: 4 and 5 tie at the top
TABLE[5] = [0, 0, 1, 1, 1, 7, 1, 1]  # after 5: 5 (a repeat) at the top
TABLE[6] = [0, 0, 3, 3, 3, 3, 3, 3]  # after 6: everything ties
TABLE[7] = [0, 0, 8, 2, 2, 2, 2, 0]  # after 7: 2 at the top
# s3 has one item and gives no event. Events: s1 ([2] -> 3, [2 3] -> 4), s2 ([5] -> 5),
# s4 ([7] -> 2, [7 2] -> 6, [7 2 6] -> 3).
SESSIONS = {"s1": [2, 3, 4], "s2": [5, 5], "s3": [6], "s4": [7, 2, 6, 3]}


def _times(items):
    return [1000 * (k + 1) for k in range(len(items))]


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("sessions"))
    with tf.io.TFRecordWriter(os.path.join(directory, "test-00000-of-00001.tfrecord")) as writer:
        for sid, items in SESSIONS.items():
            writer.write(
                encode_example(
                    {
                        "sequence_id": ("bytes", [sid]),
                        "item_ids": ("int64", items),
                        "timestamps": ("int64", _times(items)),
                    }
                )
            )
    with open(os.path.join(directory, "vocab.tsv"), "w") as f:
        f.write(
            "".join(
                f"{'[PAD]' if i == 0 else '[OOV]' if i == 1 else f'item{i}'}\t{c}\n"
                for i, c in enumerate([0, 0, 6, 5, 4, 3, 2, 1])
            )
        )
    spec = FeatureSpec(
        features={
            "sequence_id": FeatureInfo("string", "scalar"),
            "item_ids": FeatureInfo("int64", "list"),
            "timestamps": FeatureInfo("int64", "list"),
        },
        splits={"test": SplitFiles("test-*.tfrecord", len(SESSIONS), num_targets=0)},
        vocabulary=VocabularyInfo("vocab.tsv", size=V, num_items=V - 2),
        protocol={"split": "session", "test_days": 1.0, "valid_days": 0.0, "targets_per_record": 0},
    )
    with open(os.path.join(directory, "feature_spec.json"), "w") as f:
        json.dump(spec.to_json(), f)
    return directory


def lookup_scores(batch):
    assert "target_id" not in batch and "target_ids" not in batch  # The score function never sees targets.
    return tf.gather(tf.constant(TABLE), batch["item_ids"][:, -1])


def test_events_and_prefixes():
    lengths = [len(s) for s in SESSIONS.values()]
    flat = np.concatenate(list(SESSIONS.values()))
    events = session_events({"item_ids": flat, "timestamps": flat * 10}, lengths, list(SESSIONS))
    assert events.num_events == 6 and events.num_sessions == 3
    assert events.session_index.tolist() == [0, 0, 1, 3, 3, 3]
    assert events.position.tolist() == [1, 2, 1, 1, 2, 3]
    assert events.targets.tolist() == [3, 4, 5, 2, 6, 3]
    assert events.event_session_ids.tolist() == ["s1", "s1", "s2", "s4", "s4", "s4"]
    assert events.prefixes(np.arange(6)).tolist() == [[0, 0, 2], [0, 2, 3], [0, 0, 5], [0, 0, 7], [0, 7, 2], [7, 2, 6]]
    assert events.prefixes(np.array([4, 1]), "timestamps").tolist() == [[70, 20], [20, 30]]
    batches = list(events.batches(4))
    assert [b["item_ids"].shape for b, _ in batches] == [(4, 2), (2, 3)]
    assert [t.tolist() for _, t in batches] == [[3, 4, 5, 2], [6, 3]]
    assert batches[1][0]["lengths"].numpy().tolist() == [2, 3]
    assert batches[0][0]["sequence_id"].numpy().tolist() == [b"s1", b"s1", b"s2", b"s4"]
    with pytest.raises(ValueError, match="sum to"):
        session_events({"item_ids": flat}, [1, 2], ["a", "b"])


def test_read_session_events_keeps_timestamps(session_dir):
    events = read_session_events(session_dir, "test")
    assert sorted(events.values) == ["item_ids", "timestamps"] and events.num_events == 6
    batch, targets = next(events.batches(10))
    assert batch["timestamps"].numpy()[-1].tolist() == [1000, 2000, 3000]  # s4's prefix [7, 2, 6]
    assert targets.tolist() == [3, 4, 5, 2, 6, 3]


def test_evaluate_every_next_item_by_hand(session_dir):
    # Without filter_seen: e1 3 is best after 2 -> 1; e2 4 ties with 5 after 3 -> 2; e3 the repeat 5 -> 1;
    # e4 2 after 7 -> 1; e5 6 is behind 3 after 2 -> 2; e6 3 ties with all six items after 6 -> 6.
    result = evaluate(
        lookup_scores, session_dir, EvaluationConfig(ks=(1, 2, 5), filter_seen=False, batch_size=4), verbose=False
    )
    assert result.per_user["rank"].tolist() == [1, 2, 1, 1, 2, 6]
    assert result.per_user["num_candidates"].tolist() == [6] * 6
    assert result.per_user["session_index"].tolist() == [0, 0, 1, 3, 3, 3]
    assert result.per_user["position"].tolist() == [1, 2, 1, 1, 2, 3]
    assert result.sequence_ids.tolist() == ["s1", "s1", "s2", "s4", "s4", "s4"]
    s = result.summary
    assert s["num_events"] == 6 and s["num_sessions"] == 3 and "num_users" not in s
    assert s["HR@1"] == pytest.approx(3 / 6) and s["HR@2"] == pytest.approx(5 / 6)
    assert s["Recall@5"] == pytest.approx(5 / 6)  # one target: Recall = HR
    assert s["MRR@5"] == pytest.approx((1 + 0.5 + 1 + 1 + 0.5 + 0) / 6)
    assert s["MRR"] == pytest.approx((1 + 0.5 + 1 + 1 + 0.5 + 1 / 6) / 6)
    assert s["NDCG@2"] == pytest.approx((3 + 2 * L3) / 6)
    assert s["events_per_second"] > 0
    assert result.protocol["targets"] == "session: every next item"
    assert result.protocol["filter_seen"] is False and result.protocol["filter_seen_scope"] is None
    assert result.protocol["dataset_protocol"]["split"] == "session"


def test_filter_seen_excludes_the_prefix_but_not_the_target(session_dir):
    # e3's target 5 is in its prefix and stays a candidate; e6 competes only with 4 and 5 (7, 2, 6 are seen).
    result = evaluate(lookup_scores, session_dir, EvaluationConfig(ks=(1, 5), filter_seen=True), verbose=False)
    assert result.per_user["rank"].tolist() == [1, 2, 1, 1, 2, 3]
    assert result.per_user["num_candidates"].tolist() == [5, 4, 6, 5, 4, 3]
    assert result.protocol["filter_seen_scope"] == "the session prefix s[:t]"


def test_max_len_cuts_the_model_input_not_the_exclusion(session_dir):
    shapes = []

    def score_fn(batch):
        shapes.append(tuple(batch["item_ids"].shape))
        assert batch["timestamps"].shape == batch["item_ids"].shape
        return lookup_scores(batch)

    result = evaluate(score_fn, session_dir, EvaluationConfig(ks=(5,), max_len=1, batch_size=4), verbose=False)
    assert shapes == [(4, 1), (2, 1)]
    assert result.per_user["rank"].tolist() == [1, 2, 1, 1, 2, 3]  # s4's 7 and 2 are still excluded at e6
    assert result.protocol["max_len"] == 1


def test_results_do_not_depend_on_the_batch_size_and_round_trip(session_dir, tmp_path):
    one = evaluate(lookup_scores, session_dir, EvaluationConfig(ks=(1, 5), batch_size=1), verbose=False)
    many = evaluate(lookup_scores, session_dir, EvaluationConfig(ks=(1, 5), batch_size=100), verbose=False)
    for name in ("rank", "num_candidates", "topk_ids", "session_index", "position"):
        np.testing.assert_array_equal(one.per_user[name], many.per_user[name], err_msg=name)
    many.save(str(tmp_path / "eval"))
    loaded = EvaluationResult.load(str(tmp_path / "eval"))
    np.testing.assert_array_equal(loaded.per_user["session_index"], many.per_user["session_index"])
    assert loaded.protocol["targets"] == "session: every next item"
    assert loaded.summary["num_events"] == 6

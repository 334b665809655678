"""The batched TF ranking against the numpy reference, and evaluate() end to end on a tiny dataset."""

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from tfseqrec.data.example_codec import encode_example
from tfseqrec.data.spec import FeatureInfo, FeatureSpec, SplitFiles, VocabularyInfo
from tfseqrec.evaluation import EvaluationConfig, EvaluationResult, evaluate, metrics, ranking

L3 = 1.0 / math.log2(3)


# ------------------------------------------------------------------------- TF ranking vs numpy
def _random_case(seed, users=16, vocab=40):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.normal(size=(users, vocab)) * 2)  # Rounded: many ties.
    scores[rng.random((users, vocab)) < 0.1] = -np.inf
    excl = rng.random((users, vocab)) < 0.3
    targets = rng.integers(2, vocab, size=users)
    return scores.astype(np.float32), excl, targets


@pytest.mark.parametrize("seed", range(3))
def test_tf_ranks_equal_numpy_ranks(seed):
    scores, excl, targets = _random_case(seed)
    ranks, candidates = ranking.conservative_ranks(tf.constant(scores), tf.constant(targets), tf.constant(excl))
    np.testing.assert_array_equal(ranks.numpy(), metrics.conservative_ranks(scores, targets, excl))
    np.testing.assert_array_equal(candidates.numpy(), metrics.num_candidates(targets, scores.shape[1], excl))
    # One target per row through the multi-target path gives the same ranks.
    positions, _ = ranking.target_positions(tf.constant(scores), tf.constant(targets[:, None]), tf.constant(excl))
    np.testing.assert_array_equal(positions.numpy()[:, 0], ranks.numpy())


def _brute_force_positions(scores, targets, excl):
    """Sorts each user's candidates by (score desc, non-targets before targets, target order)."""
    out = np.zeros(targets.shape, dtype=np.int64)
    for u in range(scores.shape[0]):
        order = {}
        for j, t in enumerate(targets[u]):
            if t >= 2 and t not in order:
                order[t] = j
        cands = [i for i in range(2, scores.shape[1]) if not excl[u, i] or i in order]
        ranked = sorted(cands, key=lambda i: (-scores[u, i], i in order, order.get(i, 0)))
        for j, t in enumerate(targets[u]):
            if t in order and order[t] == j:
                out[u, j] = ranked.index(t) + 1
    return out


@pytest.mark.parametrize("seed", range(3))
def test_tf_positions_equal_brute_force(seed):
    scores, excl, _ = _random_case(seed, users=12, vocab=25)
    rng = np.random.default_rng(100 + seed)
    targets = rng.integers(2, 25, size=(12, 4))
    targets[rng.random((12, 4)) < 0.3] = 0  # Padding.
    targets[:, 0] = np.maximum(targets[:, 0], 2)  # At least one target per row.
    targets[0, 1] = targets[0, 0]  # A repeated target counts once.
    positions, candidates = ranking.target_positions(tf.constant(scores), tf.constant(targets), tf.constant(excl))
    np.testing.assert_array_equal(positions.numpy(), _brute_force_positions(scores, targets, excl))
    np.testing.assert_array_equal(candidates.numpy(), metrics.num_candidates(targets, 25, excl))
    assert positions.numpy()[0, 1] == 0


def test_tf_ranking_ties_and_nan():
    scores = tf.constant([[0, 0, 5, 5, 5, 1]], tf.float32)
    ranks, _ = ranking.conservative_ranks(scores, tf.constant([3]), tf.zeros([1, 6], tf.bool))
    assert ranks.numpy().tolist() == [3]
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
        nan_scores = tf.constant([[0, 0, float("nan"), 1.0]])
        ranking.conservative_ranks(nan_scores, tf.constant([3]), tf.zeros([1, 4], tf.bool))
    with pytest.raises(tf.errors.InvalidArgumentError, match="real item"):
        ranking.conservative_ranks(scores, tf.constant([1]), tf.zeros([1, 6], tf.bool))


def test_exclusion_mask_and_top_k():
    history = tf.constant([[0, 0, 2, 3], [0, 0, 0, 5]], tf.int64)
    mask = ranking.exclusion_mask(history, 6, filter_seen=True).numpy()
    assert mask.tolist() == [[True, True, True, True, False, False], [True, True, False, False, False, True]]
    assert ranking.exclusion_mask(history, 6, filter_seen=False).numpy()[:, 2:].sum() == 0
    scores = tf.constant([[9, 9, 8, 7, 1, 2], [9, 9, 3, 3, 1, 2]], tf.float32)
    top = ranking.masked_top_k(scores, tf.constant(mask), 3).numpy()
    # Row 0: candidates 5 (2), 4 (1), then nothing -> 0. Row 1: 2 and 3 tie (lower id first), then 4.
    assert top.tolist() == [[5, 4, 0], [2, 3, 4]]


# --------------------------------------------------------------------------- tiny dataset
V = 8  # ids 0..7: PAD, OOV and real items 2..7
COUNTS = [0, 0, 50, 40, 30, 20, 10, 5]  # Train counts -> popularity percentiles 1, .8, .6, .4, .2, 0
# Scores are looked up by the last history item (all users below end on a different item).
TABLE = np.zeros((V, V), np.float32)
TABLE[3] = [9, 9, 5, 4, 3, 3, 1, 0]
TABLE[5] = [0, 0, 1, 2, 3, 7, 6, 5]
TABLE[7] = [0, 0, 8, 8, 2, 1, 1, 9]
LOO = {"u1": ([2, 3], [4]), "u2": ([5], [6]), "u3": ([4, 7], [4])}
TEMPORAL = {"u1": ([2, 3], [4, 6, 4]), "u2": ([5], [7]), "u3": ([2, 5], [])}


def _build(directory, records, protocol):
    os.makedirs(directory, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(directory, "test-00000-of-00001.tfrecord")) as writer:
        for sid, (items, targets) in records.items():
            writer.write(
                encode_example(
                    {"sequence_id": ("bytes", [sid]), "item_ids": ("int64", items), "target_ids": ("int64", targets)}
                )
            )
    with open(os.path.join(directory, "vocab.tsv"), "w") as f:
        f.write(
            "".join(f"{'[PAD]' if i == 0 else '[OOV]' if i == 1 else f'item{i}'}\t{c}\n" for i, c in enumerate(COUNTS))
        )
    spec = FeatureSpec(
        features={
            "sequence_id": FeatureInfo("string", "scalar"),
            "item_ids": FeatureInfo("int64", "list"),
            "target_ids": FeatureInfo("int64", "list"),
        },
        splits={
            "test": SplitFiles("test-*.tfrecord", len(records), num_targets=sum(len(t) for _, t in records.values()))
        },
        vocabulary=VocabularyInfo("vocab.tsv", size=V, num_items=V - 2),
        protocol=protocol,
    )
    with open(os.path.join(directory, "feature_spec.json"), "w") as f:
        json.dump(spec.to_json(), f)
    return str(directory)


@pytest.fixture(scope="module")
def loo_dir(tmp_path_factory):
    return _build(str(tmp_path_factory.mktemp("loo")), LOO, {"split": "leave_one_out", "targets_per_record": 1})


@pytest.fixture(scope="module")
def temporal_dir(tmp_path_factory):
    return _build(
        str(tmp_path_factory.mktemp("temporal")), TEMPORAL, {"split": "temporal", "valid_cut": 1.0, "test_cut": 2.0}
    )


def lookup_scores(batch):
    assert "target_id" not in batch and "target_ids" not in batch  # The score function never sees targets.
    return tf.gather(tf.constant(TABLE), batch["item_ids"][:, -1])


def test_evaluate_leave_one_out_by_hand(loo_dir):
    # filter_seen: u1 candidates 4 (3), 5 (3), 6, 7; target 4 ties with 5 -> rank 2.
    # u2: 5 excluded; target 6 (6) is the best -> rank 1. u3: history {4, 7} excluded except the
    # target 4 (2); 2 and 3 (8) are above -> rank 3.
    result = evaluate(lookup_scores, loo_dir, EvaluationConfig(ks=(1, 2, 5), batch_size=2), verbose=False)
    order = np.argsort(result.sequence_ids)
    assert result.sequence_ids[order].tolist() == ["u1", "u2", "u3"]
    assert result.per_user["rank"][order].tolist() == [2, 1, 3]
    # Candidates: u1 6 - {2, 3} = 4; u2 6 - {5} = 5; u3 6 - {7} = 5 (the target 4 stays).
    assert result.per_user["num_candidates"][order].tolist() == [4, 5, 5]
    s = result.summary
    assert s["num_users"] == 3
    assert s["HR@1"] == pytest.approx(1 / 3) and s["HR@2"] == pytest.approx(2 / 3) and s["HR@5"] == 1
    assert s["NDCG@2"] == pytest.approx((L3 + 1) / 3)  # ranks 2, 1, 3
    assert s["NDCG@5"] == pytest.approx((L3 + 1 + 0.5) / 3)
    assert s["MRR"] == pytest.approx((1 / 2 + 1 + 1 / 3) / 3)
    assert s["AUC"] == pytest.approx((1 - 1 / 3 + 1 + 1 - 2 / 4) / 3)  # 1 - (r - 1) / (n - 1)
    # Top-5 lists (targets not used): u1 [4, 5, 6, 7, 0], u2 [6, 7, 4, 3, 2], u3 [2, 3, 5, 6, 0].
    assert result.per_user["topk_ids"][order].tolist() == [[4, 5, 6, 7, 0], [6, 7, 4, 3, 2], [2, 3, 5, 6, 0]]
    # @1: items {4, 6, 2} of 6 -> coverage 0.5; percentiles (0.6 + 0.2 + 1) / 3 = 0.6;
    # frequencies [1, 0, 1, 0, 1, 0] -> ascending [0, 0, 0, 1, 1, 1]: (1 + 3 + 5) / (6 * 3) = 0.5.
    assert s["coverage@1"] == pytest.approx(0.5) and s["coverage@5"] == 1.0
    assert s["popularity_percentile@1"] == pytest.approx(0.6)
    assert s["gini@1"] == pytest.approx(0.5)
    assert s["users_per_second"] > 0
    assert result.protocol["ties"] == "conservative" and result.protocol["filter_seen"] is True
    assert result.protocol["dataset_protocol"]["split"] == "leave_one_out"
    assert result.protocol["ks"] == [1, 2, 5]


def test_evaluate_without_filter_seen(loo_dir):
    # Seen items compete: u1 target 4 (3) behind 2 (5), 3 (4), tied with 5 -> rank 4; u2 behind 5 (7) -> 2;
    # u3 behind 2, 3 (8) and 7 (9) -> 4.
    result = evaluate(lookup_scores, loo_dir, EvaluationConfig(ks=(2, 5), filter_seen=False), verbose=False)
    order = np.argsort(result.sequence_ids)
    assert result.per_user["rank"][order].tolist() == [4, 2, 4]
    assert result.summary["HR@2"] == pytest.approx(1 / 3)
    # 1/log2(4 + 1) for the two rank-4 users, 1/log2(3) for rank 2.
    assert result.summary["NDCG@5"] == pytest.approx((2 / math.log2(5) + L3) / 3)
    assert result.protocol["filter_seen"] is False


def test_max_len_cuts_model_input_but_not_the_exclusion(loo_dir):
    shapes = []

    def score_fn(batch):
        shapes.append(tuple(batch["item_ids"].shape))
        return lookup_scores(batch)

    result = evaluate(score_fn, loo_dir, EvaluationConfig(ks=(2,), max_len=1), verbose=False)
    assert shapes == [(3, 1)]
    order = np.argsort(result.sequence_ids)
    assert result.per_user["rank"][order].tolist() == [2, 1, 3]  # u1's item 2 is still excluded.


def test_evaluate_multi_target_by_hand(temporal_dir):
    # u1: candidates 4 (3), 5 (3), 6 (1), 7 (0); distinct targets {4, 6}: 4 is behind the tied non-target 5
    # -> position 2; 6 is behind 5 and the target 4 -> 3. u2: candidates 2 (1), 3 (2), 4 (3), 6 (6), 7 (5);
    # target 7 is behind 6 -> 2. u3 has no targets and is left out.
    result = evaluate(lookup_scores, temporal_dir, EvaluationConfig(ks=(1, 2)), verbose=False)
    order = np.argsort(result.sequence_ids)
    assert result.sequence_ids[order].tolist() == ["u1", "u2"]
    assert result.per_user["target_positions"][order].tolist() == [[2, 3, 0], [2, 0, 0]]
    assert result.per_user["num_targets"][order].tolist() == [2, 1]
    s = result.summary
    assert s["num_users"] == 2 and s["num_users_without_targets"] == 1
    assert s["HR@1"] == 0 and s["HR@2"] == 1
    assert s["Recall@2"] == pytest.approx((1 / 2 + 1) / 2)  # hits / |T|
    assert s["Precision@2"] == pytest.approx(0.5)  # (1/2 + 1/2) / 2
    # u1: (1/log2 3) / (1 + 1/log2 3); u2: (1/log2 3) / 1.
    assert s["NDCG@2"] == pytest.approx((L3 / (1 + L3) + L3) / 2)
    assert s["MAP@2"] == pytest.approx((0.5 / 2 + 0.5 / 1) / 2)  # AP normalised by min(k, |T|)
    assert s["MRR"] == pytest.approx(0.5)
    assert result.protocol["targets"].startswith("multiple")


def test_save_load_round_trip(loo_dir, tmp_path):
    result = evaluate(lookup_scores, loo_dir, EvaluationConfig(ks=(1, 5), protocol="tiny"), verbose=False)
    out = str(tmp_path / "eval")
    result.save(out)
    with open(os.path.join(out, "metrics.json")) as f:
        saved = json.load(f)
    assert saved["protocol"]["name"] == "tiny" and saved["protocol"]["ties"] == "conservative"
    assert saved["config"]["ks"] == [1, 5]
    with np.load(os.path.join(out, "per_user.npz")) as data:
        assert json.loads(str(data["__protocol_json__"]))["split"] == "test"
    loaded = EvaluationResult.load(out)
    assert loaded.summary == pytest.approx(result.summary)
    assert loaded.protocol == json.loads(json.dumps(result.protocol))
    assert loaded.config == result.config
    assert loaded.sequence_ids.tolist() == result.sequence_ids.tolist()
    assert set(loaded.per_user) == set(result.per_user)
    for name, values in result.per_user.items():
        np.testing.assert_array_equal(loaded.per_user[name], values, err_msg=name)


def test_config_and_input_errors(loo_dir):
    assert EvaluationConfig().topk_for_lists == 20
    assert EvaluationConfig(ks=[10, 5, 10]).ks == (5, 10)
    for bad in ({"ks": ()}, {"ks": (0,)}, {"batch_size": 0}, {"filter_seen": 1}, {"max_len": 0}, {"topk_for_lists": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            EvaluationConfig(**bad)
    with pytest.raises(ValueError, match=r"\[3, 8\]"):
        evaluate(lambda b: tf.zeros([3, 5]), loo_dir, verbose=False)
    with pytest.raises(KeyError, match="valid"):
        evaluate(lookup_scores, loo_dir, EvaluationConfig(split="valid"), verbose=False)

"""Per-behaviour metrics, by hand, and end to end: preprocessing writes ``target_event_types`` beside the
targets and the evaluator reports each behaviour's Recall@K / NDCG@K from them."""

import json

import numpy as np
import pytest

from tests.conftest import FAST_BEAM
from tfseqrec.evaluation import EvaluationConfig, evaluate
from tfseqrec.evaluation.behaviours import OTTO_WEIGHTS, behaviour_metrics


def test_recall_ndcg_and_the_weighted_score_by_hand():
    topk = np.array([[5, 6, 7], [8, 9, 2]])
    targets = np.array([[5, 9, 0], [9, 3, 4]])
    events = np.array([[1, 2, 0], [2, 1, 1]])
    got = behaviour_metrics(topk, targets, events, ["clicks", "carts", "orders"], ks=[2], weights=OTTO_WEIGHTS)
    # clicks: user 0 wants {5} (hit at 1), user 1 wants {3, 4} (no hit): recall 1 / (1 + 2), NDCG (1 + 0) / 2
    assert got["clicks"] == {"users": 2, "Recall@2": pytest.approx(1 / 3), "NDCG@2": pytest.approx(0.5)}
    # carts: both want {9}; user 1 finds it at rank 2: recall 1 / 2, NDCG (0 + 1 / log2(3)) / 2
    assert got["carts"]["Recall@2"] == pytest.approx(0.5)
    assert got["carts"]["NDCG@2"] == pytest.approx(0.5 / np.log2(3))
    assert got["orders"]["users"] == 0 and np.isnan(got["orders"]["Recall@2"])
    assert got["weighted_Recall@2"] == pytest.approx(0.1 / 3 + 0.3 * 0.5)  # no orders: 0


def tiny_behaviour_data(tmp_path):
    """Six users who click a, b, c, then cart d and order e on the test day (temporal split, no validation)."""
    from tfseqrec.cli import main

    rows = ["user_id,item_id,timestamp,event_type"]
    for u in range(6):  # every user: a, b, c clicked; then d carted and e ordered on the last day
        for t, (item, event) in enumerate([("a", "clicks"), ("b", "clicks"), ("c", "clicks")]):
            rows.append(f"u{u},{item},{1_700_000_000 + 3600 * t},{event}")
        rows.append(f"u{u},d,{1_700_000_000 + 86400 * 3},carts")
        rows.append(f"u{u},e,{1_700_000_000 + 86400 * 3 + 60},orders")
    log = tmp_path / "log.csv"
    log.write_text("\n".join(rows) + "\n")
    out = tmp_path / "data"
    cut = str(1_700_000_000 + 86400 * 2)  # validation is empty: [cut, cut)
    args = ["preprocess", "--input", str(log), "--output-dir", str(out), "--split", "temporal"]
    assert main(args + ["--valid-cut", cut, "--test-cut", cut, *FAST_BEAM]) == 0
    return out


def scorer(vocab, order):
    """A score function ranking the items of ``order`` first, in that order."""

    def score(batch):
        scores = np.zeros((len(batch["item_ids"]), len(vocab)), np.float32)
        for rank, item in enumerate(order):
            scores[:, vocab.index(item)] = len(order) - rank
        return scores

    return score


def test_records_carry_target_behaviours_and_the_evaluator_splits_by_them(tmp_path):
    out = tiny_behaviour_data(tmp_path)
    spec = json.loads((out / "feature_spec.json").read_text())
    assert "target_event_types" in spec["features"]
    vocab = [line.split("\t")[0] for line in (out / "vocab.tsv").read_text().splitlines()]

    result = evaluate(scorer(vocab, ["d", "e"]), str(out), EvaluationConfig(ks=(1, 2), filter_seen=False))
    by = result.by_behaviour
    assert by["carts"]["users"] == by["orders"]["users"] == 6
    assert by["carts"]["Recall@1"] == 1.0 and by["orders"]["Recall@1"] == 0.0 and by["orders"]["Recall@2"] == 1.0
    assert by["weighted_Recall@1"] == pytest.approx(0.3)
    result.save(str(tmp_path / "eval"))
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["by_behaviour"]["orders"]["Recall@2"] == 1.0


def test_condition_on_behaviour_ranks_each_behaviour_with_its_own_list(tmp_path):
    from tfseqrec.data import load_feature_spec
    from tfseqrec.evaluation.evaluator import TOPK_FOR_EVENT

    out = tiny_behaviour_data(tmp_path)
    vocab = [line.split("\t")[0] for line in (out / "vocab.tsv").read_text().splitlines()]
    orders = load_feature_spec(str(out)).event_types.index("orders") + 1
    asked_for = []

    def score(batch):  # "orders" asked: e first; anything else (or nothing asked): d first
        asked = batch.get("target_event_type")
        asked_for.append(None if asked is None else sorted(set(np.asarray(asked).tolist())))
        wants_order = asked is not None and int(np.asarray(asked)[0]) == orders
        return scorer(vocab, ["e", "d"] if wants_order else ["d", "e"])(batch)

    plain = evaluate(score, str(out), EvaluationConfig(ks=(1,), filter_seen=False))
    assert plain.by_behaviour["orders"]["Recall@1"] == 0.0 and asked_for == [None]

    asked_for.clear()
    result = evaluate(score, str(out), EvaluationConfig(ks=(1,), filter_seen=False, condition_on_behaviour=True))
    assert asked_for == [None, [1], [2], [3]]  # the plain pass, then one per event type
    assert result.by_behaviour["orders"]["Recall@1"] == 1.0  # ranked with "orders" asked
    assert result.by_behaviour["carts"]["Recall@1"] == 1.0
    assert result.summary["HR@1"] == plain.summary["HR@1"]  # overall: the list of nothing asked
    assert result.per_user[f"{TOPK_FOR_EVENT}{orders}"][:, 0].tolist() == [vocab.index("e")] * 6

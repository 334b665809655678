"""stats.json pieces against values worked out by hand."""

import pytest

from beam_pipelines.stats import accounting, length_summary, popularity_summary, rank_curve


def test_popularity_summary_by_hand():
    pop = popularity_summary([("a", 3), ("b", 1), ("c", 0), ("d", 0)])
    # Gini = 2 * sum(i * x_(i)) / (n * total) - (n + 1) / n with ascending x = [0, 0, 1, 3]: 2*15/16 - 5/4.
    assert pop["gini"] == pytest.approx(0.625)
    assert pop["top_1pct_share"] == pytest.approx(0.75) and pop["top_10pct_share"] == pytest.approx(0.75)
    assert pop["items_without_train_interactions"] == 2 and pop["median_count"] == 1 and pop["max_count"] == 3
    assert pop["top_items"][0] == {"item": "a", "count": 3}
    assert popularity_summary([("a", 2), ("b", 2)])["gini"] == pytest.approx(0.0)
    assert popularity_summary([])["num_items"] == 0


def test_length_summary_by_hand():
    s = length_summary({2: 2, 5: 1, 1: 1})
    assert (s["sequences"], s["interactions"], s["min"], s["max"], s["mean"]) == (4, 10, 1, 5, 2.5)
    assert (s["median"], s["p90"]) == (2, 2)
    assert s["histogram"] == {"1": 1, "2-3": 2, "4-7": 1}
    assert length_summary({}) == {"sequences": 0}


def test_rank_curve_is_log_spaced_and_ends_at_the_last_item():
    curve = rank_curve(list(range(1000, 0, -1)), points=10)
    ranks = [r for r, _ in curve]
    assert ranks[0] == 1 and ranks[-1] == 1000 and ranks == sorted(set(ranks))
    assert all(c == 1001 - r for r, c in curve)


def test_accounting_balances_and_breaks_down():
    acc = accounting(
        {
            "rows_read": 10,
            "kept/train_items": 5,
            "kept/test_targets": 1,
            "filtered/kcore_item": 2,
            "rejected/bad_json": 2,
            "filtered/max_len": 0,
            "records/train": 3,
        }
    )
    assert (acc["rows_kept"], acc["rows_filtered"], acc["rows_rejected"]) == (6, 2, 2) and acc["balanced"]
    assert acc["filtered_by_rule"] == {"kcore_item": 2} and acc["rejected_by_reason"] == {"bad_json": 2}
    assert not accounting({"rows_read": 3, "kept/train_items": 2})["balanced"]

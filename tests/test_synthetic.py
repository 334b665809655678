"""Tests for the synthetic interaction generator (tfseqrec.synthetic)."""

import csv
import dataclasses
from collections import Counter, defaultdict

import numpy as np
import pytest

from tfseqrec.synthetic import (
    CSV_HEADER,
    SyntheticConfig,
    _build_catalogue,
    generate_interactions,
    next_item_predictability,
    write_csv,
)

SMALL = SyntheticConfig(num_users=300, num_items=400, num_topics=10, seed=7)


@pytest.fixture(scope="module")
def default_rows():
    return list(generate_interactions(SyntheticConfig()))


def _by_user(rows):
    """Rows grouped per user, keeping their order."""
    grouped = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row)
    return grouped


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [(u, i, int(t), e) for u, i, t, e in reader]


def test_same_seed_gives_identical_rows():
    assert list(generate_interactions(SMALL)) == list(generate_interactions(SMALL))


def test_different_seed_gives_different_rows():
    other = dataclasses.replace(SMALL, seed=8)
    assert list(generate_interactions(SMALL)) != list(generate_interactions(other))


def test_row_types_and_id_formats():
    row = next(generate_interactions(SMALL))
    user, item, timestamp, event = row
    assert isinstance(timestamp, int) and isinstance(event, str)
    assert user.startswith("u") and len(user) == 5 and user[1:].isdigit()
    assert item.startswith("i") and len(item) == 5 and item[1:].isdigit()


def test_write_csv_row_count_matches(tmp_path):
    path = tmp_path / "log.csv"
    written = write_csv(SMALL, str(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == CSV_HEADER
    assert written == len(lines) - 1 == len(list(generate_interactions(SMALL)))


def test_every_user_has_bounded_event_count(default_rows):
    config = SyntheticConfig()
    counts = Counter(row[0] for row in default_rows)
    assert len(counts) == config.num_users
    assert min(counts.values()) >= config.min_events
    assert max(counts.values()) <= config.max_events


def test_timestamps_non_decreasing_per_user(default_rows):
    for rows in _by_user(default_rows).values():
        times = [row[2] for row in rows]
        assert times == sorted(times)


def test_sessions_and_ties_exist(default_rows):
    gaps = [b[2] - a[2] for rows in _by_user(default_rows).values() for a, b in zip(rows, rows[1:])]
    ties = sum(g == 0 for g in gaps) / len(gaps)
    breaks = sum(g >= 2 * 3600 for g in gaps) / len(gaps)
    assert 0.005 < ties < 0.05
    assert 0.05 < breaks < 0.25


def test_shuffled_csv_stable_sort_reconstructs_sequences(tmp_path):
    path = tmp_path / "log.csv"
    write_csv(SMALL, str(path), shuffle_rows=True)
    header, rows = _read_csv(path)
    assert ",".join(header) == CSV_HEADER
    generated = list(generate_interactions(SMALL))
    assert rows != generated  # the rows really are shuffled
    read_back = {u: sorted(r, key=lambda row: row[2]) for u, r in _by_user(rows).items()}
    assert read_back == dict(_by_user(generated))


def test_unshuffled_csv_is_in_generation_order(tmp_path):
    path = tmp_path / "log.csv"
    write_csv(SMALL, str(path), shuffle_rows=False)
    assert _read_csv(path)[1] == list(generate_interactions(SMALL))


def test_event_types_within_set(default_rows):
    counts = Counter(row[3] for row in default_rows)
    assert set(counts) <= {"click", "cart", "purchase"}
    assert counts["click"] > counts["cart"] > counts["purchase"] > 0


def test_popularity_is_skewed(default_rows):
    counts = sorted(Counter(row[1] for row in default_rows).values(), reverse=True)
    top_decile = sum(counts[: SyntheticConfig().num_items // 10])
    assert top_decile / len(default_rows) > 0.4


def test_transition_model_beats_most_popular(default_rows):
    result = next_item_predictability(default_rows, k=10)
    assert result["num_targets"] == SyntheticConfig().num_users
    assert result["transition_hr"] >= 1.5 * result["popular_hr"]
    assert result["transition_hr"] - result["popular_hr"] > 0.2


def test_predictability_same_on_shuffled_csv(tmp_path):
    path = tmp_path / "log.csv"
    write_csv(SMALL, str(path), shuffle_rows=True)
    _, rows = _read_csv(path)
    assert next_item_predictability(rows) == next_item_predictability(generate_interactions(SMALL))


def test_invalid_config_is_rejected():
    with pytest.raises(ValueError):
        SyntheticConfig(min_events=10, max_events=5)
    with pytest.raises(ValueError):
        SyntheticConfig(event_type_probs=(0.5, 0.5, 0.5))


def test_favourite_prob_zero_leaves_the_walks_unchanged():
    assert list(generate_interactions(dataclasses.replace(SMALL, favourite_topics=3))) == list(
        generate_interactions(SMALL)
    )


def test_users_return_to_their_favourite_topics():
    """With lasting interests, a user's items concentrate on few topics; first-order transitions then miss
    what the history tells: the next topic after a switch."""
    config = dataclasses.replace(SMALL, topic_stay_prob=0.6, favourite_topics=2, favourite_prob=1.0)
    topic_of = _build_catalogue(config, np.random.default_rng(config.seed)).item_topic
    for cfg, most, least in ((SMALL, 0.0, 0.8), (config, 0.99, 1.0)):
        shares = []
        for rows in _by_user(generate_interactions(cfg)).values():
            if len(rows) >= 20:
                topics = Counter(int(topic_of[int(r[1][1:])]) for r in rows)
                shares.append(sum(n for _, n in topics.most_common(2)) / len(rows))
        assert most <= float(np.mean(shares)) <= least

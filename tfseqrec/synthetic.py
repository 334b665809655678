"""Seeded synthetic interaction logs with real sequential structure.

The demo and the tests need a data set that downloads nothing, preprocesses in seconds and on
which a sequence model has something to learn that most-popular cannot. This module simulates
users browsing a catalogue of items grouped into latent topics.

Generative process (all randomness from ``np.random.default_rng(config.seed)``):

1. **Catalogue.** The ``num_items`` items are split evenly, at random, into ``num_topics``
   latent topics. Each item gets a Zipf-like popularity weight ``1 / rank ** popularity_exponent``
   from a random popularity rank, so a few items are much more common than the rest.
2. **Topic graph.** Each topic has ``neighbour_topics`` randomly chosen neighbour topics.
3. **Item transitions.** Each item has ``num_successors`` likely successor items from its own
   topic, drawn without replacement with probability proportional to popularity. They get fixed
   weights that decay geometrically (the first successor is the strongest), so within a topic
   the items form a Markov chain with a few strong next-item choices.
4. **Sequence length.** Each user's number of events is log-normal around ``median_events``,
   rounded and clipped to ``[min_events, max_events]`` (many short users, a long tail).
5. **Walk.** A user starts in a uniformly drawn topic with a popularity-weighted item from it.
   When ``favourite_prob > 0`` the user also has ``favourite_topics`` lasting interests: the
   starting topic and uniformly drawn others (drawn from a second stream seeded with
   ``[seed, 2]``, so ``favourite_prob = 0`` leaves every walk bit-identical). At each further step:

   * with probability ``repeat_prob`` the previous item is repeated (as in real logs, where
     consecutive-duplicate removal has something to do); otherwise
   * with probability ``1 - topic_stay_prob`` the user switches topic: with probability
     ``favourite_prob`` to one of their favourite topics (uniformly; possibly the current one),
     else to one of the current topic's neighbours with probability ``neighbour_prob``, else to
     a uniform topic. Which topic comes next then depends on the user's whole history, not only
     on the last item: what a first-order transition model cannot see and a sequence model can;
   * if the topic did not change, with probability ``transition_strength`` the next item is one
     of the previous item's successors;
   * otherwise the next item is drawn from the current topic by popularity.

6. **Event types.** Each event is independently one of ``event_types`` with
   ``event_type_probs`` (mostly clicks, some carts, rare purchases).
7. **Timestamps.** A user's first event falls uniformly within ``span_days`` after
   ``start_time``. Each later gap is, with probability ``tie_prob``, zero (a timestamp tie);
   else with probability ``session_break_prob`` a session break of ``min_break_hours`` plus an
   exponential number of hours (mean ``mean_break_hours``); else an in-session gap of a few
   seconds plus an exponential with mean ``mean_gap_seconds``. Timestamps are therefore
   non-decreasing per user, and users have several sessions separated by multi-hour gaps.

User ids look like ``u0007`` and item ids like ``i0042`` (zero-padded, 0-based).

:func:`generate_interactions` yields the log in generation order (user by user, in sequence
order). :func:`write_csv` writes it as CSV, by default in a seeded random row order that keeps
rows with equal (user, timestamp) in generation order, so a stable sort by time per user
reconstructs each true sequence. :func:`next_item_predictability` measures how much a
first-order transition model beats most-popular on the data, documenting that sequential
structure exists.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter, defaultdict
from typing import Iterable, Iterator

import numpy as np

Interaction = tuple[str, str, int, str]

CSV_HEADER = "user_id,item_id,timestamp,event_type"


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the generative process described in the module docstring."""

    num_users: int = 2000
    num_items: int = 1000
    num_topics: int = 20
    min_events: int = 5
    max_events: int = 60
    median_events: float = 24.0
    length_sigma: float = 0.7
    topic_stay_prob: float = 0.85
    neighbour_topics: int = 3
    neighbour_prob: float = 0.8
    transition_strength: float = 0.6
    num_successors: int = 3
    successor_decay: float = 0.5
    popularity_exponent: float = 1.0
    repeat_prob: float = 0.03
    favourite_topics: int = 2
    favourite_prob: float = 0.0
    event_types: tuple[str, ...] = ("click", "cart", "purchase")
    event_type_probs: tuple[float, ...] = (0.88, 0.09, 0.03)
    seed: int = 42
    start_time: int = 1704067200  # 2024-01-01T00:00:00Z
    span_days: float = 30.0
    tie_prob: float = 0.02
    session_break_prob: float = 0.12
    min_break_hours: float = 2.0
    mean_break_hours: float = 20.0
    mean_gap_seconds: float = 90.0

    def __post_init__(self) -> None:
        _check(self.num_users >= 1, "num_users must be >= 1")
        _check(1 <= self.min_events <= self.max_events, "need 1 <= min_events <= max_events")
        _check(1 <= self.neighbour_topics < self.num_topics, "need 1 <= neighbour_topics < num_topics")
        _check(self.num_successors >= 1, "num_successors must be >= 1")
        _check(self.favourite_topics >= 1, "favourite_topics must be >= 1")
        _check(
            self.num_items >= self.num_topics * (self.num_successors + 1),
            "each topic needs at least num_successors + 1 items",
        )
        for name in (
            "topic_stay_prob",
            "neighbour_prob",
            "transition_strength",
            "repeat_prob",
            "favourite_prob",
            "tie_prob",
            "session_break_prob",
        ):
            _check(0.0 <= getattr(self, name) <= 1.0, f"{name} must be in [0, 1]")
        _check(self.tie_prob + self.session_break_prob <= 1.0, "tie_prob + session_break_prob must be <= 1")
        _check(
            len(self.event_types) == len(self.event_type_probs) > 0,
            "event_types and event_type_probs must have the same non-zero length",
        )
        _check(abs(sum(self.event_type_probs) - 1.0) < 1e-6, "event_type_probs must sum to 1")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"SyntheticConfig: {message}")


# ---------------------------------------------------------------------------------------------
# Catalogue: topics, popularity, successors.


@dataclasses.dataclass(frozen=True)
class _Catalogue:
    item_topic: np.ndarray  # [I] topic of each item
    topic_items: np.ndarray  # [T, M] items of each topic, padded with -1
    topic_cdf: np.ndarray  # [T, M] popularity CDF within each topic, padded with 1.0
    neighbours: np.ndarray  # [T, N] neighbour topics
    successors: np.ndarray  # [I, S] likely next items
    successor_cdf: np.ndarray  # [S] CDF of the successor weights


def _build_catalogue(config: SyntheticConfig, rng: np.random.Generator) -> _Catalogue:
    """Draws the item/topic structure the walks run on (steps 1-3 of the module docstring)."""
    num_items, num_topics = config.num_items, config.num_topics
    item_topic = np.empty(num_items, dtype=np.int64)
    item_topic[rng.permutation(num_items)] = np.arange(num_items) % num_topics
    ranks = rng.permutation(num_items)
    popularity = 1.0 / (ranks + 1.0) ** config.popularity_exponent

    width = -(-num_items // num_topics)
    topic_items = np.full((num_topics, width), -1, dtype=np.int64)
    topic_cdf = np.ones((num_topics, width))
    successors = np.empty((num_items, config.num_successors), dtype=np.int64)
    for topic in range(num_topics):
        items = np.flatnonzero(item_topic == topic)
        topic_items[topic, : len(items)] = items
        cdf = np.cumsum(popularity[items]) / popularity[items].sum()
        cdf[-1] = 1.0  # guards against rounding: a uniform draw in [0, 1) always lands
        topic_cdf[topic, : len(items)] = cdf
        successors[items] = _draw_successors(items, popularity[items], config.num_successors, rng)

    neighbours = np.stack([_draw_neighbours(t, config, rng) for t in range(num_topics)])
    weights = config.successor_decay ** np.arange(config.num_successors)
    successor_cdf = np.cumsum(weights) / weights.sum()
    successor_cdf[-1] = 1.0
    return _Catalogue(item_topic, topic_items, topic_cdf, neighbours, successors, successor_cdf)


def _draw_successors(items: np.ndarray, weights: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """For each item, `count` other items of its topic, popularity-weighted, no replacement.

    Uses the Gumbel-top-k trick: the top k of log(w) + Gumbel noise is a weighted sample
    without replacement, done for the whole topic at once.
    """
    keys = np.log(weights)[None, :] + rng.gumbel(size=(len(items), len(items)))
    np.fill_diagonal(keys, -np.inf)  # an item is not its own successor
    top = np.argsort(-keys, axis=1, kind="stable")[:, :count]
    return items[top]


def _draw_neighbours(topic: int, config: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """`neighbour_topics` distinct topics other than `topic`."""
    others = np.delete(np.arange(config.num_topics), topic)
    return rng.choice(others, size=config.neighbour_topics, replace=False)


# ---------------------------------------------------------------------------------------------
# Walks: items per user and step, vectorised over users.


def _sample_in_topic(catalogue: _Catalogue, topics: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Popularity-weighted item of each given topic, by inverting the topic CDFs at `u`."""
    index = (catalogue.topic_cdf[topics] < u[:, None]).sum(axis=1)
    return catalogue.topic_items[topics, index]


def _walk_items(config: SyntheticConfig, catalogue: _Catalogue, rng: np.random.Generator) -> np.ndarray:
    """Item ids of shape [users, max_events]; step t depends on step t - 1 and the user's favourite topics (step 5)."""
    users, steps = config.num_users, config.max_events
    # All draws up front with fixed shapes, so the stream does not depend on the outcomes.
    u = rng.random((8, steps, users))
    items = np.empty((users, steps), dtype=np.int64)

    topic = rng.integers(config.num_topics, size=users)
    favourites = fav_u = None
    if config.favourite_prob > 0:  # their own stream: favourite_prob = 0 leaves the walks bit-identical
        fav_rng = np.random.default_rng([config.seed, 2])
        favourites = fav_rng.integers(config.num_topics, size=(users, config.favourite_topics))
        favourites[:, 0] = topic  # [users, favourite_topics]; the starting topic is one of them
        fav_u = fav_rng.random((2, steps, users))
    items[:, 0] = _sample_in_topic(catalogue, topic, u[0, 0])
    for t in range(1, steps):
        prev = items[:, t - 1]
        repeat = u[0, t] < config.repeat_prob
        switch = ~repeat & (u[1, t] < 1.0 - config.topic_stay_prob)
        to_neighbour = u[2, t] < config.neighbour_prob
        neighbour = catalogue.neighbours[topic, (u[3, t] * config.neighbour_topics).astype(int)]
        uniform = (u[4, t] * config.num_topics).astype(np.int64)
        drifted = np.where(to_neighbour, neighbour, uniform)
        if favourites is not None:
            favourite = favourites[np.arange(users), (fav_u[1, t] * config.favourite_topics).astype(int)]
            drifted = np.where(fav_u[0, t] < config.favourite_prob, favourite, drifted)
        topic = np.where(switch, drifted, topic)

        follow = ~repeat & ~switch & (u[5, t] < config.transition_strength)
        slot = np.searchsorted(catalogue.successor_cdf, u[6, t], side="right")
        successor = catalogue.successors[prev, slot]
        popular = _sample_in_topic(catalogue, topic, u[7, t])
        items[:, t] = np.where(repeat, prev, np.where(follow, successor, popular))
    return items


# ---------------------------------------------------------------------------------------------
# Lengths, event types, timestamps.


def _draw_lengths(config: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """Skewed per-user event counts, clipped to [min_events, max_events] (step 4)."""
    raw = rng.lognormal(np.log(config.median_events), config.length_sigma, size=config.num_users)
    return np.clip(np.rint(raw), config.min_events, config.max_events).astype(np.int64)


def _draw_timestamps(config: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """Unix seconds of shape [users, max_events], non-decreasing along each row (step 7)."""
    shape = (config.num_users, config.max_events)
    kind = rng.random(shape)
    in_session = 5.0 + rng.exponential(config.mean_gap_seconds, shape)
    breaks = 3600.0 * (config.min_break_hours + rng.exponential(config.mean_break_hours, shape))
    is_break = kind < config.tie_prob + config.session_break_prob
    gaps = np.where(kind < config.tie_prob, 0.0, np.where(is_break, breaks, in_session))
    gaps[:, 0] = rng.uniform(0.0, config.span_days * 86400.0, config.num_users)
    return config.start_time + np.cumsum(np.floor(gaps).astype(np.int64), axis=1)


@dataclasses.dataclass(frozen=True)
class _Log:
    """The generated log as flat arrays in generation order."""

    users: np.ndarray  # [N] user index
    items: np.ndarray  # [N] item index
    timestamps: np.ndarray  # [N] unix seconds
    events: np.ndarray  # [N] index into config.event_types


def _simulate(config: SyntheticConfig) -> _Log:
    """Runs the whole generative process and keeps each user's first `length` steps."""
    rng = np.random.default_rng(config.seed)
    catalogue = _build_catalogue(config, rng)
    lengths = _draw_lengths(config, rng)
    items = _walk_items(config, catalogue, rng)
    timestamps = _draw_timestamps(config, rng)
    shape = (config.num_users, config.max_events)
    events = rng.choice(len(config.event_types), size=shape, p=np.asarray(config.event_type_probs))
    keep = np.arange(config.max_events)[None, :] < lengths[:, None]
    users = np.broadcast_to(np.arange(config.num_users)[:, None], shape)
    return _Log(users[keep], items[keep], timestamps[keep], events[keep])


def _id_strings(prefix: str, count: int) -> list[str]:
    """Zero-padded ids such as u0007 (at least 4 digits, more when `count` needs them)."""
    width = max(4, len(str(count - 1)))
    return [f"{prefix}{i:0{width}d}" for i in range(count)]


def _rows(config: SyntheticConfig, log: _Log, order: np.ndarray | None = None) -> list[Interaction]:
    """The log as (user_id, item_id, timestamp, event_type) tuples, optionally reordered."""
    user_ids = _id_strings("u", config.num_users)
    item_ids = _id_strings("i", config.num_items)
    columns = [log.users, log.items, log.timestamps, log.events]
    if order is not None:
        columns = [c[order] for c in columns]
    users, items, timestamps, events = (c.tolist() for c in columns)
    types = config.event_types
    return [(user_ids[u], item_ids[i], t, types[e]) for u, i, t, e in zip(users, items, timestamps, events)]


def generate_interactions(config: SyntheticConfig = SyntheticConfig()) -> Iterator[Interaction]:
    """Yields (user_id, item_id, timestamp, event_type) in generation order.

    Rows come user by user, each user's events in sequence order with non-decreasing
    timestamps. The output is bit-identical for the same config (seed included).
    """
    yield from _rows(config, _simulate(config))


# ---------------------------------------------------------------------------------------------
# CSV output.


def _shuffled_order(log: _Log, seed: int) -> np.ndarray:
    """A seeded row permutation in which rows with equal (user, timestamp) keep their order.

    Such rows are adjacent in generation order, so they form runs. After a random permutation
    the rows of each run are put back, in generation order, into the positions the run took.
    """
    n = len(log.items)
    order = np.random.default_rng([seed, 1]).permutation(n)
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (log.users[1:] != log.users[:-1]) | (log.timestamps[1:] != log.timestamps[:-1])
    run = np.cumsum(new_run)
    # Output positions sorted by (run of their row, position); run ids grow with row index,
    # so generation order (0..n-1) is exactly the order those positions should be refilled in.
    positions = np.lexsort((np.arange(n), run[order]))
    order[positions] = np.arange(n)
    return order


def write_csv(config: SyntheticConfig, path: str, shuffle_rows: bool = True) -> int:
    """Writes the log to `path` as CSV and returns the number of data rows.

    The header is ``user_id,item_id,timestamp,event_type``. With `shuffle_rows` the rows come
    in a seeded random order (so readers must group and sort), except that rows with equal
    (user, timestamp) keep their generation order: a stable sort by timestamp per user gives
    back each true sequence. Paths with a scheme (gs://...) go through ``tfseqrec.io_utils``.
    """
    log = _simulate(config)
    order = _shuffled_order(log, config.seed) if shuffle_rows else None
    rows = _rows(config, log, order)
    text = "\n".join([CSV_HEADER] + [f"{u},{i},{t},{e}" for u, i, t, e in rows]) + "\n"
    if "://" in path:
        from tfseqrec import io_utils

        io_utils.write_text(path, text)
    else:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return len(rows)


# ---------------------------------------------------------------------------------------------
# Predictability check.


def _sequences(interactions: Iterable[tuple]) -> list[list[str]]:
    """Item sequences per user, stable-sorted by timestamp (ties keep input order)."""
    by_user: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in interactions:
        by_user[row[0]].append((int(row[2]), row[1]))
    return [[item for _, item in sorted(events, key=lambda e: e[0])] for events in by_user.values()]


def _ranked(counts: Counter, fallback: list[str], k: int) -> list[str]:
    """Top-k of `counts` (ties by id), filled up from `fallback` without duplicates."""
    top = [item for item, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]
    seen = set(top)
    for item in fallback:
        if len(top) >= k:
            break
        if item not in seen:
            top.append(item)
            seen.add(item)
    return top


def next_item_predictability(interactions: Iterable[tuple], k: int = 10) -> dict:
    """HR@k of most-popular and of first-order item transitions for each user's last item.

    Each user with at least two events contributes one target, their last item. Both models
    are fit on every user's events except the last one: most-popular on item counts, the
    transition model on (previous item -> next item) counts, recommending the most frequent
    successors of the user's second-to-last item and filling up with popular items. A clearly
    higher transition HR shows the data has sequential structure beyond popularity.

    Returns a dict with ``k``, ``num_targets``, ``popular_hr``, ``transition_hr`` and ``lift``
    (transition_hr / popular_hr).
    """
    sequences = [s for s in _sequences(interactions) if len(s) >= 2]
    popularity: Counter = Counter()
    transitions: dict[str, Counter] = defaultdict(Counter)
    for seq in sequences:
        train = seq[:-1]
        popularity.update(train)
        for prev, nxt in zip(train, train[1:]):
            transitions[prev][nxt] += 1

    popular = _ranked(popularity, [], k)
    popular_set = set(popular)
    popular_hits = sum(seq[-1] in popular_set for seq in sequences)
    transition_hits = sum(seq[-1] in _ranked(transitions.get(seq[-2], Counter()), popular, k) for seq in sequences)
    n = len(sequences)
    popular_hr = popular_hits / n if n else 0.0
    transition_hr = transition_hits / n if n else 0.0
    return {
        "k": k,
        "num_targets": n,
        "popular_hr": popular_hr,
        "transition_hr": transition_hr,
        "lift": transition_hr / popular_hr if popular_hr else float("inf"),
    }

"""``stats.json``: row accounting, sizes, sequence lengths and item popularity of one preprocessing run."""

from __future__ import annotations

import dataclasses
import math

from beam_pipelines.config import PreprocessConfig
from beam_pipelines.readers import InputPlan, format_time_ms
from beam_pipelines.side_features import feature_summary

TOP_ITEMS = 20


def popularity_summary(vocab: list) -> dict:
    """Item popularity from ``[(item, train count), ...]`` ordered by count (descending).

    ``gini`` is the Gini coefficient of train counts over the catalogue (0 = uniform, 1 = one item has
    everything); ``top_1pct_share``/``top_10pct_share`` are the shares of train interactions that go to
    the most popular 1% / 10% of items.
    """
    counts = [n for _, n in vocab]
    total = sum(counts)
    n = len(counts)
    if n == 0 or total == 0:
        return {
            "num_items": n,
            "train_interactions": total,
            "gini": 0.0,
            "top_items": [],
            "top_1pct_share": 0.0,
            "top_10pct_share": 0.0,
            "items_without_train_interactions": n,
        }
    ascending = sorted(counts)
    weighted = sum((i + 1) * c for i, c in enumerate(ascending))
    gini = (2.0 * weighted) / (n * total) - (n + 1.0) / n

    def share(fraction):
        k = max(1, math.ceil(n * fraction))
        return sum(counts[:k]) / total

    return {
        "num_items": n,
        "train_interactions": total,
        "gini": round(gini, 6),
        "top_1pct_share": round(share(0.01), 6),
        "top_10pct_share": round(share(0.10), 6),
        "items_without_train_interactions": sum(1 for c in counts if c == 0),
        "max_count": counts[0],
        "median_count": ascending[n // 2],
        "top_items": [{"item": item, "count": c} for item, c in vocab[:TOP_ITEMS]],
        "rank_curve": rank_curve(counts),
    }


def rank_curve(counts_desc: list, points: int = 60) -> list:
    """``[[rank, count], ...]`` at about ``points`` log-spaced ranks (1-based), for a popularity plot."""
    n = len(counts_desc)
    ranks = sorted({min(n, max(1, round(n ** (i / (points - 1))))) for i in range(points)}) if n else []
    return [[r, counts_desc[r - 1]] for r in ranks]


def length_summary(lengths: dict) -> dict:
    """Exact summary of ``{length: number of sequences}`` plus a power-of-two bucket histogram."""
    pairs = sorted((int(k), v) for k, v in lengths.items())
    total = sum(v for _, v in pairs)
    if not total:
        return {"sequences": 0}

    def quantile(q):
        rank = q * (total - 1)
        seen = 0
        for length, v in pairs:
            seen += v
            if seen > rank:
                return length
        return pairs[-1][0]

    buckets: dict[str, int] = {}
    for length, v in pairs:
        low = 1 << max(0, length.bit_length() - 1) if length else 0
        label = f"{low}-{2 * low - 1}" if low > 1 else str(low)
        buckets[label] = buckets.get(label, 0) + v
    return {
        "sequences": total,
        "interactions": sum(length * v for length, v in pairs),
        "min": pairs[0][0],
        "max": pairs[-1][0],
        "mean": round(sum(length * v for length, v in pairs) / total, 4),
        "median": quantile(0.5),
        "p90": quantile(0.9),
        "p99": quantile(0.99),
        "histogram": buckets,
        "exact": {str(length): v for length, v in pairs},
    }


def protocol_description(cfg: PreprocessConfig) -> dict:
    """The protocol as written into the spec (and later into every result file)."""
    split = cfg.split
    out = {"split": split.protocol}
    if split.protocol == "leave_one_out":
        out.update(
            targets_per_record=1,
            description="per sequence: last item = test, second-to-last = "
            "validation, the rest = train; sequences shorter than 3 are train only",
        )
    elif split.protocol == "temporal":
        out.update(
            valid_cut=split.valid_cut,
            test_cut=split.test_cut,
            description="global time cuts: train < valid_cut <= validation < test_cut <= test",
        )
    elif split.protocol == "cold_start":
        out.update(
            cold_user_fraction=split.cold_user_fraction,
            cold_valid_fraction=split.cold_valid_fraction,
            support_sizes=[int(k) for k in split.support_sizes],
            query_items=split.query_items,
            targets_per_record=split.query_items,
            description="users whose first event is at or after the cut (the 1 - cold_user_fraction quantile "
            "of first-event times) are new and never trained on; warm users: leave-one-out; each new user with "
            "K + query_items events: input = its first K events, targets = the next query_items (split "
            "cold_k<K>; the cold_valid_fraction of new users who arrived first: cold_valid_k<K>); targets unseen in "
            "training are cold items (train count 0)",
        )
    elif split.protocol == "session":
        out.update(
            test_days=split.test_days,
            valid_days=split.valid_days,
            targets_per_record=0,
            test_vocabulary=split.test_vocabulary,
            description="sessions ending in the last test_days days are test, the valid_days before "
            "are validation; items unseen in training (test_vocabulary=train_valid: in training or "
            "validation) are removed from them; predict every next item",
        )
    out["max_len"] = cfg.output.max_len
    f = cfg.filters
    out["filters"] = {
        "min_rating": f.min_rating,
        "event_types": list(f.event_types),
        "remove_consecutive_repeats": f.remove_consecutive_repeats,
        "session_gap_seconds": f.session_gap_seconds,
        "item_min_count": f.item_min_count,
        "user_min_count": f.user_min_count,
    }
    return out


def accounting(counts: dict) -> dict:
    """rows read = kept + filtered + rejected, with each part broken down by rule or reason."""
    filtered = {k.split("/", 1)[1]: v for k, v in counts.items() if k.startswith("filtered/") and v}
    rejected = {k.split("/", 1)[1]: v for k, v in counts.items() if k.startswith("rejected/") and v}
    kept = {k.split("/", 1)[1]: v for k, v in counts.items() if k.startswith("kept/")}
    read = counts.get("rows_read", 0)
    total = sum(kept.values()) + sum(filtered.values()) + sum(rejected.values())
    return {
        "rows_read": read,
        "rows_kept": sum(kept.values()),
        "rows_filtered": sum(filtered.values()),
        "rows_rejected": sum(rejected.values()),
        "kept": kept,
        "filtered_by_rule": filtered,
        "rejected_by_reason": rejected,
        "balanced": total == read,
    }


def time_range(plan: InputPlan):
    """The accepted times as ISO dates (``None`` for an open side), or None when the input has no times."""
    if not plan.has_time:
        return None
    return {
        side: None if ms is None else format_time_ms(ms)
        for side, ms in (("min", plan.min_time_ms), ("max", plan.max_time_ms))
    }


def assemble_stats(
    cfg: PreprocessConfig,
    plan: InputPlan,
    counts: dict,
    lengths: dict,
    popularity: dict,
    num_items: int,
    num_users: int,
    kcore,
) -> dict:
    acc = accounting(counts)
    split_counts = {
        name: {
            "records": counts.get(f"records/{name}", 0),
            "targets": counts.get(f"kept/{name}_targets", counts.get(f"held_out/{name}_targets", 0)),
        }
        for name in ("train", "valid", "test", *cfg.split.cold_splits())
        if f"records/{name}" in counts
    }
    new_users = None
    if cfg.split.protocol == "cold_start":  # how many users are new, and how many were too short for each K
        new_users = {
            "users": counts.get("cold_users", 0),
            "too_short": {k.split("/", 1)[1]: v for k, v in counts.items() if k.startswith("short_cold_user/")},
        }
    return {
        "rows": acc,
        "users": num_users,
        "sequences": lengths and sum(lengths.values()) or 0,
        "items": num_items,
        "interactions": sum(int(k) * v for k, v in lengths.items()),
        "splits": split_counts,
        **({"new_users": new_users} if new_users is not None else {}),
        "files": {
            "read": counts.get("files_read", 0),
            "empty": counts.get("files_empty", 0),
            "blank_lines_skipped": counts.get("blank_lines", 0),
            "format": plan.format,
            "encoding": plan.encoding,
            "columns": dataclasses.asdict(plan.columns),
            "headerless_columns": list(plan.column_names),
            "time_range": time_range(plan),
            "max_id_length": plan.max_id_length,
            "paths": list(plan.files)[:100],
        },
        "kcore": kcore,
        "sequence_length": length_summary(lengths),
        "item_popularity": popularity,
        "protocol": protocol_description(cfg),
        "config": cfg.to_json(),
    }


def side_feature_stats(summaries: list, tables: tuple, counts: dict) -> dict:
    """``stats.json["side_features"]``: every table's rows read and rejects by reason (one per bad row, or per bad
    field of a JSON row) and every feature's coverage, vocabulary and counters (values unknown / repeated /
    truncated, ids not in the vocabulary)."""
    out: dict = {"tables": []}
    for plan in tables:
        prefix = f"table/{plan.index}/"
        rejected = {k[len(prefix) + 9 :]: v for k, v in counts.items() if k.startswith(prefix + "rejected/") and v}
        out["tables"].append(
            {
                **plan.describe(),
                "rows_read": counts.get(prefix + "rows_read", 0),
                "rejects": sum(rejected.values()),
                "rejected_by_reason": rejected,
            }
        )
    for summary in sorted(summaries, key=lambda s: s["entity"]):
        entity = summary["entity"]
        out[entity] = {
            "file": summary["file"],
            "key": summary["key"],
            "num_rows": summary["num_rows"],
            "features": {
                name: feature_summary(entity, name, info["source"], info["num_values"], info, counts)
                for name, info in summary["features"].items()
            },
        }
    return out

"""A pure-Python reference of the preprocessing pipeline (no Beam transforms, no TensorFlow).

``reference_preprocess(cfg)`` does what ``beam_pipelines.preprocess.run(cfg)`` does, step by step as
``beam_pipelines.config`` documents it, but written for clarity on an in-memory list of rows: plain
loops, a while-loop k-core, one dict per sequence. It writes nothing; it returns the records each split
would hold (with vocabulary ids, exactly as the TFRecords store them), the vocabulary, the event types
and the row accounting of ``stats.json``. The tests run both on the same input and compare.

Only the parsing is shared with the pipeline (``readers.plan_inputs`` + ``readers.iter_file_rows``), so
both see identical rows, and the same rejects (the row checks of ``ReaderConfig``: encoding, time range, id
length, are part of parsing); every later step is implemented here independently. Small and medium inputs
only: everything is held in memory.

Naming conventions the reference shares with the pipeline's output (they are not rules of the
protocol but of the record layout): sessions made by ``session_gap_seconds`` are keyed
``"<user>#<n>"`` with ``n`` the 0-based session number; event type ids are 1-based positions in the
sorted list of event types of the sequences that survive k-core.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Optional

from beam_pipelines import readers
from beam_pipelines.config import PreprocessConfig
from beam_pipelines.records import Reject
from tfseqrec.ids import FIRST_ITEM_ID, OOV_ID, OOV_TOKEN, PAD_TOKEN

DAY_MS = 86_400_000


@dataclasses.dataclass
class ReferenceOutput:
    """What the reference computed.

    ``splits``: split name -> sequence_id -> record, a dict with ``item_ids`` (vocabulary ids, oldest
    first) and, where they apply, ``timestamps`` (ms), ``event_types`` (1-based ids), ``target_ids`` and
    ``target_timestamps`` (validation/test records of leave_one_out/temporal), ``user_id`` and
    ``session_index`` (sessionized data).
    ``vocab``: item strings, index = id (``[PAD]``, ``[OOV]`` first); ``vocab_counts``: train counts, same index.
    ``counts``: the row accounting, keyed like ``stats.json["rows"]``.
    ``rejects``: ``(file, line, reason)`` of every malformed row, in input order.
    ``sizes``: users, sequences, interactions (after k-core, before the split) and items (vocabulary).
    ``kcore``: ``{"removed_per_round": [...], "rounds_removing": n, "converged": bool}`` or None.
    """
    splits: dict
    vocab: list
    vocab_counts: list
    event_types: list
    counts: dict
    rejects: list
    sizes: dict
    kcore: Optional[dict] = None


def _split_names(protocol: str, valid_days: float) -> list:
    if protocol == "none":
        return ["train"]
    if protocol == "session" and valid_days == 0:
        return ["train", "test"]
    return ["train", "valid", "test"]


def _new_seq(key, user=None, session_index=None, events=None):
    """A sequence: its key, and its events as a list of dicts {item, time, event}, oldest first."""
    return {"key": key, "user": user, "session_index": session_index, "events": list(events or [])}


def reference_preprocess(cfg: PreprocessConfig) -> ReferenceOutput:
    plan = readers.plan_inputs(cfg.inputs, cfg.reader)
    has_time, has_events = plan.has_time, plan.has_events
    f, split = cfg.filters, cfg.split
    filtered = Counter()   # rule -> rows
    rejected = Counter()   # reason -> rows
    kept = Counter()       # where kept rows went
    rejects = []

    # 1. read and parse every row
    read_counts = Counter()
    rows = []
    for file_index, path in enumerate(plan.files):
        for row in readers.iter_file_rows(plan, file_index, path, read_counts):
            if isinstance(row, Reject):
                rejected[row.reason] += 1
                rejects.append((row.file, row.line, row.reason))
            else:
                rows.append(row)
    rows_read = read_counts["rows_read"]

    # 2. row filters: min_rating, then event types
    wanted_types = set(f.event_types)
    passing = []
    for row in rows:
        if f.min_rating is not None and (row.rating is None or row.rating < f.min_rating):
            filtered["min_rating"] += 1
            continue
        if wanted_types and row.event not in wanted_types:
            filtered["event_type"] += 1
            continue
        passing.append(row)

    # 3. group by user (or session id), stable sort by (time, order, input position)
    groups = {}
    for row in passing:
        groups.setdefault(row.key, []).append(row)
    sequences = []
    for key in sorted(groups):
        group = groups[key]
        group.sort(key=lambda r: (r.time_ms if r.time_ms is not None else 0,
                                  r.order if r.order is not None else 0,
                                  r.pos))
        events = [{"item": r.item, "time": r.time_ms, "event": r.event} for r in group]
        sequences.append(_new_seq(key, events=events))

    # 4. remove consecutive repeats
    if f.remove_consecutive_repeats:
        for seq in sequences:
            new_events = []
            for e in seq["events"]:
                if new_events and new_events[-1]["item"] == e["item"]:
                    filtered["consecutive_repeat"] += 1
                else:
                    new_events.append(e)
            seq["events"] = new_events

    # 5. sessionize: a gap longer than session_gap_seconds starts a new session
    if f.session_gap_seconds is not None:
        gap_ms = f.session_gap_seconds * 1000.0
        sessions = []
        for seq in sequences:
            current = []
            index = 0
            previous_time = None
            for e in seq["events"]:
                if current and e["time"] - previous_time > gap_ms:
                    sessions.append(_new_seq(f"{seq['key']}#{index}", seq["key"], index, current))
                    index += 1
                    current = []
                current.append(e)
                previous_time = e["time"]
            if current:
                sessions.append(_new_seq(f"{seq['key']}#{index}", seq["key"], index, current))
        sequences = sessions

    # 6. k-core: rare items, then short sequences, round after round until a round drops nothing
    kcore = None
    if f.kcore_enabled:
        removed_per_round = []
        converged = False
        while len(removed_per_round) < f.kcore_max_rounds:
            item_counts = Counter(e["item"] for seq in sequences for e in seq["events"])
            removed = 0
            survivors = []
            for seq in sequences:
                if f.item_min_count > 1:
                    keep = [e for e in seq["events"] if item_counts[e["item"]] >= f.item_min_count]
                    rare = len(seq["events"]) - len(keep)
                    filtered["kcore_item"] += rare
                    removed += rare
                    seq["events"] = keep
                if len(seq["events"]) < max(f.user_min_count, 1):
                    filtered["kcore_user"] += len(seq["events"])
                    removed += len(seq["events"])
                    continue
                survivors.append(seq)
            sequences = survivors
            removed_per_round.append(removed)
            if removed == 0:
                converged = True
                break
        kcore = {"removed_per_round": removed_per_round,
                 "rounds_removing": sum(1 for n in removed_per_round if n),
                 "converged": converged}

    users = {seq["user"] if seq["user"] is not None else seq["key"] for seq in sequences}
    sizes = {"users": len(users), "sequences": len(sequences),
             "interactions": sum(len(seq["events"]) for seq in sequences)}
    event_types = sorted({e["event"] for seq in sequences for e in seq["events"]}) if has_events else []

    # 7. split: train sequences, and (input events, target events) per evaluation split
    names = _split_names(split.protocol, split.valid_days)
    train = []                              # sequences
    evaluation = {name: [] for name in names[1:]}   # name -> [(seq, targets)]
    if split.protocol == "none":
        train = list(sequences)
    elif split.protocol == "leave_one_out":
        for seq in sequences:
            ev = seq["events"]
            if len(ev) < 3:
                train.append(seq)
                continue
            train.append(dict(seq, events=ev[:-2]))
            evaluation["valid"].append((dict(seq, events=ev[:-2]), [ev[-2]]))
            evaluation["test"].append((dict(seq, events=ev[:-1]), [ev[-1]]))
    elif split.protocol == "temporal":
        valid_ms, test_ms = split.valid_cut * 1000.0, split.test_cut * 1000.0
        for seq in sequences:
            before_valid = [e for e in seq["events"] if e["time"] < valid_ms]
            in_valid = [e for e in seq["events"] if valid_ms <= e["time"] < test_ms]
            before_test = [e for e in seq["events"] if e["time"] < test_ms]
            from_test = [e for e in seq["events"] if e["time"] >= test_ms]
            if before_valid:
                train.append(dict(seq, events=before_valid))
            if in_valid:
                evaluation["valid"].append((dict(seq, events=before_valid), in_valid))
            if from_test:
                evaluation["test"].append((dict(seq, events=before_test), from_test))
    elif split.protocol == "session":
        latest = max((seq["events"][-1]["time"] for seq in sequences), default=0)
        test_start = latest - split.test_days * DAY_MS
        valid_start = test_start - split.valid_days * DAY_MS
        for seq in sequences:
            end = seq["events"][-1]["time"]
            if end > test_start:
                evaluation["test"].append((seq, None))
            elif split.valid_days > 0 and end > valid_start:
                evaluation["valid"].append((seq, None))
            else:
                train.append(seq)
    else:
        raise ValueError(f"unknown protocol {split.protocol!r}")

    # 8. vocabulary: train counts (desc), ties by id; items only in eval targets after them (count 0)
    train_counts = Counter(e["item"] for seq in train for e in seq["events"])
    all_items = dict(train_counts)
    if split.protocol in ("leave_one_out", "temporal"):
        for name in names[1:]:
            for _, targets in evaluation[name]:
                for e in targets:
                    all_items.setdefault(e["item"], 0)
    valid_items_known = (split.protocol == "session" and split.test_vocabulary == "train_valid"
                         and "valid" in evaluation)
    if valid_items_known:  # test sessions may keep the items of validation sessions too
        for seq, _ in evaluation["valid"]:
            for e in seq["events"]:
                all_items.setdefault(e["item"], 0)
    ordered = sorted(all_items.items(), key=lambda kv: (-kv[1], kv[0]))
    vocab = [PAD_TOKEN, OOV_TOKEN] + [item for item, _ in ordered]
    vocab_counts = [0, 0] + [n for _, n in ordered]
    ids = {item: i for i, item in enumerate(vocab) if i >= FIRST_ITEM_ID}
    event_ids = {t: i + 1 for i, t in enumerate(event_types)}

    # session protocol: drop items unseen in train from eval sessions, then sessions shorter than 2
    if split.protocol == "session":
        for name in names[1:]:
            known = ids if name == "test" or not valid_items_known else train_counts
            survivors = []
            for seq, _ in evaluation[name]:
                seen = [e for e in seq["events"] if e["item"] in known]
                filtered["unseen_item"] += len(seq["events"]) - len(seen)
                if len(seen) < 2:
                    filtered["short_eval_session"] += len(seen)
                    continue
                survivors.append((dict(seq, events=seen), None))
            evaluation[name] = survivors

    # 9. max length (latest items of each input), and the records
    def record(seq, targets, count_truncation, kept_name):
        events = seq["events"]
        if cfg.output.max_len is not None and len(events) > cfg.output.max_len:
            if count_truncation:
                filtered["max_len"] += len(events) - cfg.output.max_len
            events = events[-cfg.output.max_len:]
        rec = {"item_ids": [ids.get(e["item"], OOV_ID) for e in events]}
        if has_time:
            rec["timestamps"] = [e["time"] for e in events]
        if has_events:
            rec["event_types"] = [event_ids[e["event"]] for e in events]
        if seq["user"] is not None:
            rec["user_id"] = seq["user"]
            rec["session_index"] = seq["session_index"]
        if targets is not None:
            rec["target_ids"] = [ids.get(e["item"], OOV_ID) for e in targets]
            if has_time:
                rec["target_timestamps"] = [e["time"] for e in targets]
            kept[kept_name] += len(targets)
        else:
            kept[kept_name] += len(events)
        return rec

    splits = {name: {} for name in names}
    for seq in train:
        splits["train"][seq["key"]] = record(seq, None, True, "train_items")
    for name in names[1:]:
        for seq, targets in evaluation[name]:
            if targets is None:   # session protocol: the whole session is the record
                splits[name][seq["key"]] = record(seq, None, True, f"{name}_items")
            else:
                splits[name][seq["key"]] = record(seq, targets, False, f"{name}_targets")

    total_kept = sum(kept.values())
    total_filtered = sum(filtered.values())
    total_rejected = sum(rejected.values())
    counts = {
        "rows_read": rows_read,
        "rows_kept": total_kept,
        "rows_filtered": total_filtered,
        "rows_rejected": total_rejected,
        "kept": {k: v for k, v in kept.items() if v},
        "filtered_by_rule": {k: v for k, v in filtered.items() if v},
        "rejected_by_reason": {k: v for k, v in rejected.items() if v},
        "balanced": rows_read == total_kept + total_filtered + total_rejected,
    }
    sizes["items"] = len(vocab) - FIRST_ITEM_ID
    return ReferenceOutput(splits=splits, vocab=vocab, vocab_counts=vocab_counts, event_types=event_types,
                           counts=counts, rejects=rejects, sizes=sizes, kcore=kcore)

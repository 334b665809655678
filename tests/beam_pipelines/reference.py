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
    first) and, where they apply, ``timestamps`` (ms), ``event_types`` (1-based ids), ``target_ids``,
    ``target_timestamps`` and ``target_event_types`` (validation/test records of leave_one_out/temporal),
    ``user_id`` and ``session_index`` (sessionized data).
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
    """Runs the steps below in the pipeline's order on the rows of ``cfg.inputs``; see the module docstring."""
    plan = readers.plan_inputs(cfg.inputs, cfg.reader)
    f = cfg.filters
    acc = _Accounting()
    rows = read_rows(plan, acc)  # 1
    sequences = group_rows(filter_rows(rows, f, acc))  # 2, 3
    if f.remove_consecutive_repeats:
        remove_consecutive_repeats(sequences, acc)  # 4
    if f.session_gap_seconds is not None:
        sequences = sessionize(sequences, f.session_gap_seconds)  # 5
    kcore = None
    if f.kcore_enabled:
        sequences, kcore = kcore_filter(sequences, f, acc)  # 6

    users = {seq["user"] if seq["user"] is not None else seq["key"] for seq in sequences}
    sizes = {
        "users": len(users),
        "sequences": len(sequences),
        "interactions": sum(len(seq["events"]) for seq in sequences),
    }
    event_types = sorted({e["event"] for seq in sequences for e in seq["events"]}) if plan.has_events else []

    train, evaluation = split_sequences(sequences, cfg.split)  # 7
    vocab = build_vocabulary(train, evaluation, cfg.split)  # 8
    if cfg.split.protocol == "session":
        drop_unseen_items(evaluation, vocab, acc)
    encoder = _RecordEncoder(
        cfg.output.max_len,
        vocab.ids,
        {t: i + 1 for i, t in enumerate(event_types)},
        plan.has_time,
        plan.has_events,
        acc,
    )
    splits = encoder.splits(train, evaluation)  # 9
    sizes["items"] = len(vocab.items) - FIRST_ITEM_ID
    return ReferenceOutput(
        splits=splits,
        vocab=vocab.items,
        vocab_counts=vocab.counts,
        event_types=event_types,
        counts=acc.counts(),
        rejects=acc.rejects,
        sizes=sizes,
        kcore=kcore,
    )


@dataclasses.dataclass
class _Accounting:
    """The row accounting every step adds to (``stats.json["rows"]``)."""

    filtered: Counter = dataclasses.field(default_factory=Counter)  # rule -> rows
    rejected: Counter = dataclasses.field(default_factory=Counter)  # reason -> rows
    kept: Counter = dataclasses.field(default_factory=Counter)  # where kept rows went
    rejects: list = dataclasses.field(default_factory=list)  # (file, line, reason), in input order
    rows_read: int = 0

    def counts(self) -> dict:
        total_kept = sum(self.kept.values())
        total_filtered = sum(self.filtered.values())
        total_rejected = sum(self.rejected.values())
        return {
            "rows_read": self.rows_read,
            "rows_kept": total_kept,
            "rows_filtered": total_filtered,
            "rows_rejected": total_rejected,
            "kept": {k: v for k, v in self.kept.items() if v},
            "filtered_by_rule": {k: v for k, v in self.filtered.items() if v},
            "rejected_by_reason": {k: v for k, v in self.rejected.items() if v},
            "balanced": self.rows_read == total_kept + total_filtered + total_rejected,
        }


def read_rows(plan: readers.InputPlan, acc: _Accounting) -> list:
    """1. Reads and parses every row; malformed rows are counted rejects."""
    read_counts = Counter()
    rows = []
    for file_index, path in enumerate(plan.files):
        for row in readers.iter_file_rows(plan, file_index, path, read_counts):
            if isinstance(row, Reject):
                acc.rejected[row.reason] += 1
                acc.rejects.append((row.file, row.line, row.reason))
            else:
                rows.append(row)
    acc.rows_read = read_counts["rows_read"]
    return rows


def filter_rows(rows: list, f, acc: _Accounting) -> list:
    """2. Row filters: min_rating, then event types."""
    wanted_types = set(f.event_types)
    passing = []
    for row in rows:
        if f.min_rating is not None and (row.rating is None or row.rating < f.min_rating):
            acc.filtered["min_rating"] += 1
            continue
        if wanted_types and row.event not in wanted_types:
            acc.filtered["event_type"] += 1
            continue
        passing.append(row)
    return passing


def group_rows(rows: list) -> list:
    """3. Groups by user (or session id), sorted by key; each group stable sorted by (time, order, input position)."""
    groups = {}
    for row in rows:
        groups.setdefault(row.key, []).append(row)
    sequences = []
    for key in sorted(groups):
        group = groups[key]
        group.sort(
            key=lambda r: (r.time_ms if r.time_ms is not None else 0, r.order if r.order is not None else 0, r.pos)
        )
        events = [{"item": r.item, "time": r.time_ms, "event": r.event} for r in group]
        sequences.append(_new_seq(key, events=events))
    return sequences


def remove_consecutive_repeats(sequences: list, acc: _Accounting) -> None:
    """4. Removes an event whose item is the one of the event before it (in place)."""
    for seq in sequences:
        new_events = []
        for e in seq["events"]:
            if new_events and new_events[-1]["item"] == e["item"]:
                acc.filtered["consecutive_repeat"] += 1
            else:
                new_events.append(e)
        seq["events"] = new_events


def sessionize(sequences: list, session_gap_seconds: float) -> list:
    """5. Sessions: a gap longer than ``session_gap_seconds`` starts a new session, keyed ``"<user>#<n>"``."""
    gap_ms = session_gap_seconds * 1000.0
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
    return sessions


def kcore_filter(sequences: list, f, acc: _Accounting) -> tuple[list, dict]:
    """6. k-core: rare items, then short sequences, round after round until a round drops nothing.

    Returns ``(surviving sequences, {"removed_per_round", "rounds_removing", "converged"})``.
    """
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
                acc.filtered["kcore_item"] += rare
                removed += rare
                seq["events"] = keep
            if len(seq["events"]) < max(f.user_min_count, 1):
                acc.filtered["kcore_user"] += len(seq["events"])
                removed += len(seq["events"])
                continue
            survivors.append(seq)
        sequences = survivors
        removed_per_round.append(removed)
        if removed == 0:
            converged = True
            break
    return sequences, {
        "removed_per_round": removed_per_round,
        "rounds_removing": sum(1 for n in removed_per_round if n),
        "converged": converged,
    }


def split_sequences(sequences: list, split) -> tuple[list, dict]:
    """7. Split: train sequences, and ``(input sequence, target events)`` per evaluation split.

    Returns ``(train, {split name: [(seq, targets)]})``; session splits hold whole sessions (targets None).
    """
    names = _split_names(split.protocol, split.valid_days)
    train = []  # sequences
    evaluation = {name: [] for name in names[1:]}  # name -> [(seq, targets)]
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
    return train, evaluation


@dataclasses.dataclass
class _Vocabulary:
    """``items``: item strings, index = id; ``counts``: train counts, same index; ``ids``: item -> id (real
    items); ``train_counts``: item -> train count; ``valid_items_known``: validation sessions' items are in it."""

    items: list
    counts: list
    ids: dict
    train_counts: Counter
    valid_items_known: bool


def build_vocabulary(train: list, evaluation: dict, split) -> _Vocabulary:
    """8. Vocabulary: train counts (desc), ties by item; items only in eval targets after them (count 0)."""
    train_counts = Counter(e["item"] for seq in train for e in seq["events"])
    all_items = dict(train_counts)
    if split.protocol in ("leave_one_out", "temporal"):
        for pairs in evaluation.values():
            for _, targets in pairs:
                for e in targets:
                    all_items.setdefault(e["item"], 0)
    valid_items_known = split.protocol == "session" and split.test_vocabulary == "train_valid" and "valid" in evaluation
    if valid_items_known:  # test sessions may keep the items of validation sessions too
        for seq, _ in evaluation["valid"]:
            for e in seq["events"]:
                all_items.setdefault(e["item"], 0)
    ordered = sorted(all_items.items(), key=lambda kv: (-kv[1], kv[0]))
    vocab = [PAD_TOKEN, OOV_TOKEN] + [item for item, _ in ordered]
    return _Vocabulary(
        items=vocab,
        counts=[0, 0] + [n for _, n in ordered],
        ids={item: i for i, item in enumerate(vocab) if i >= FIRST_ITEM_ID},
        train_counts=train_counts,
        valid_items_known=valid_items_known,
    )


def drop_unseen_items(evaluation: dict, vocab: _Vocabulary, acc: _Accounting) -> None:
    """Session protocol: drops items unseen in train from eval sessions, then sessions shorter than 2 (in place)."""
    for name in evaluation:
        known = vocab.ids if name == "test" or not vocab.valid_items_known else vocab.train_counts
        survivors = []
        for seq, _ in evaluation[name]:
            seen = [e for e in seq["events"] if e["item"] in known]
            acc.filtered["unseen_item"] += len(seq["events"]) - len(seen)
            if len(seen) < 2:
                acc.filtered["short_eval_session"] += len(seen)
                continue
            survivors.append((dict(seq, events=seen), None))
        evaluation[name] = survivors


@dataclasses.dataclass
class _RecordEncoder:
    """9. Max length (latest items of each input), and the records with vocabulary ids."""

    max_len: Optional[int]
    ids: dict
    event_ids: dict
    has_time: bool
    has_events: bool
    acc: _Accounting

    def splits(self, train: list, evaluation: dict) -> dict:
        """split name -> sequence key -> record."""
        splits = {"train": {}, **{name: {} for name in evaluation}}
        for seq in train:
            splits["train"][seq["key"]] = self.record(seq, None, True, "train_items")
        for name, pairs in evaluation.items():
            for seq, targets in pairs:
                if targets is None:  # session protocol: the whole session is the record
                    splits[name][seq["key"]] = self.record(seq, None, True, f"{name}_items")
                else:
                    splits[name][seq["key"]] = self.record(seq, targets, False, f"{name}_targets")
        return splits

    def record(self, seq: dict, targets: Optional[list], count_truncation: bool, kept_name: str) -> dict:
        events = seq["events"]
        if self.max_len is not None and len(events) > self.max_len:
            if count_truncation:
                self.acc.filtered["max_len"] += len(events) - self.max_len
            events = events[-self.max_len :]
        rec = {"item_ids": [self.ids.get(e["item"], OOV_ID) for e in events]}
        if self.has_time:
            rec["timestamps"] = [e["time"] for e in events]
        if self.has_events:
            rec["event_types"] = [self.event_ids[e["event"]] for e in events]
        if seq["user"] is not None:
            rec["user_id"] = seq["user"]
            rec["session_index"] = seq["session_index"]
        if targets is not None:
            rec["target_ids"] = [self.ids.get(e["item"], OOV_ID) for e in targets]
            if self.has_time:
                rec["target_timestamps"] = [e["time"] for e in targets]
            if self.has_events:
                rec["target_event_types"] = [self.event_ids[e["event"]] for e in targets]
            self.acc.kept[kept_name] += len(targets)
        else:
            self.acc.kept[kept_name] += len(events)
        return rec

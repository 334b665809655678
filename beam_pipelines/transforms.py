"""The pipeline's steps as named, composable Beam ``PTransform``s.

Every step that drops rows reports how many, and why, on a ``counts`` output of ``(name, n)`` pairs;
``CollectCounts`` sums them with a combiner. Counts are pre-aggregated per bundle (in the DoFn) so
that the number of count elements stays small even at a billion rows.

Nothing here gathers the dataset into one element: sequences are grouped per user/session, k-core
and vocabulary counts are ``CombinePerKey`` combiners consumed as side inputs, and only the item
vocabulary (one entry per item, not per row) passes through a single combiner.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Optional

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from beam_pipelines import readers, sequence_ops
from beam_pipelines.config import FilterConfig, SplitConfig
from beam_pipelines.records import Interaction, Reject, Sequence
from tfseqrec import io_utils
from tfseqrec.ids import OOV_TOKEN, PAD_TOKEN

COUNTS = "counts"
REJECTS = "rejects"


def global_value(value) -> WindowedValue:
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


class CountingDoFn(beam.DoFn):
    """A DoFn that keeps named counters per bundle and emits them on the ``counts`` output."""

    def start_bundle(self):
        self.counts = Counter()

    def finish_bundle(self):
        for name, n in self.counts.items():
            if n:
                yield beam.pvalue.TaggedOutput(COUNTS, global_value((name, n)))
        self.counts = Counter()


# ---------------------------------------------------------------------------------------- reading


class _PlanChunksFn(beam.DoFn):
    def __init__(self, plan: readers.InputPlan):
        self.plan = plan

    def process(self, indexed_path):
        file_index, path = indexed_path
        size = readers.file_size(path)
        yield from readers.plan_chunks(self.plan, file_index, path, self.plan.chunk_bytes, size)


def _count_chunk_newlines(chunk: readers.FileChunk):
    """((file index, chunk index), newlines) for chunks of files read in several chunks."""
    if not chunk.whole_file:
        yield (chunk.file_index, chunk.index), readers.count_newlines(chunk)


class _LatestPerKeyFn(beam.CombineFn):
    """Combines ``(key, value)`` pairs into one ``{key: value}`` dict (keys are unique; small key sets)."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, pair):
        acc[pair[0]] = pair[1]
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for a in accs:
            out.update(a)
        return out

    def extract_output(self, acc):
        return acc


class _NewlinesBeforeChunkFn(_LatestPerKeyFn):
    """Per-chunk newline counts -> {(file index, chunk index): newlines in the file before the chunk}.

    Files read whole (one chunk) are not counted: a missing key means 0 lines before.
    """

    def extract_output(self, acc):
        before, running, current_file = {}, 0, None
        for file_index, chunk_index in sorted(acc):
            if file_index != current_file:
                running, current_file = 0, file_index
            before[(file_index, chunk_index)] = running
            running += acc[(file_index, chunk_index)]
        return before


class _ParseChunkFn(CountingDoFn):
    def __init__(self, plan: readers.InputPlan):
        self.plan = plan

    def process(self, chunk: readers.FileChunk, newlines_before: dict):
        if chunk.index == 0:
            self.counts["files_read"] += 1
        before = newlines_before.get((chunk.file_index, chunk.index), 0)
        for row in readers.iter_chunk_rows(self.plan, chunk, before, self.counts):
            if isinstance(row, Reject):
                self.counts["rejected/" + row.reason] += 1
                yield beam.pvalue.TaggedOutput(REJECTS, row)
            else:
                yield row


class ReadInteractions(beam.PTransform):
    """Files -> ``Interaction`` rows (main output), ``Reject`` rows and counts.

    Large uncompressed text files are cut into byte chunks (``plan.chunk_bytes``) that workers parse
    in parallel. To keep exact line numbers for rejects, a first pass counts the newlines of each
    chunk (a fast byte count) and every chunk learns how many lines come before it.
    """

    def __init__(self, plan: readers.InputPlan):
        super().__init__()
        self.plan = plan

    def expand(self, pbegin):
        chunks = (
            pbegin
            | "ListFiles" >> beam.Create(list(enumerate(self.plan.files)))
            | "SpreadFiles" >> beam.Reshuffle()
            | "PlanChunks" >> beam.ParDo(_PlanChunksFn(self.plan))
            | "SpreadChunks" >> beam.Reshuffle()
        )
        newlines_before = (
            chunks
            | "CountNewlines" >> beam.FlatMap(_count_chunk_newlines)
            | "LinesBeforeChunks" >> beam.CombineGlobally(_NewlinesBeforeChunkFn())
        )
        return chunks | "ParseChunks" >> beam.ParDo(
            _ParseChunkFn(self.plan), beam.pvalue.AsSingleton(newlines_before)
        ).with_outputs(REJECTS, COUNTS, main="rows")


class _FilterRowsFn(CountingDoFn):
    def __init__(self, cfg: FilterConfig):
        self.min_rating = cfg.min_rating
        self.event_types = frozenset(cfg.event_types)

    def process(self, row: Interaction):
        if self.min_rating is not None and (row.rating is None or row.rating < self.min_rating):
            self.counts["filtered/min_rating"] += 1
        elif self.event_types and row.event not in self.event_types:
            self.counts["filtered/event_type"] += 1
        else:
            yield row


class FilterRows(beam.PTransform):
    """Keeps rows with rating >= ``min_rating`` and an event type in ``event_types`` (when set)."""

    def __init__(self, cfg: FilterConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, rows):
        return rows | beam.ParDo(_FilterRowsFn(self.cfg)).with_outputs(COUNTS, main="rows")


# --------------------------------------------------------------------------------------- grouping


def _shuffle_value(row: Interaction) -> tuple:
    """The part of a row that travels through GroupByKey, as a plain tuple (4x cheaper to encode than
    the NamedTuple). It sorts by (time, order, file, line, position in line)."""
    return (row.time_ms or 0, row.order or 0, row.pos[0], row.pos[1], row.pos[2], row.item, row.event)


def _sequence_from_group(key: str, values, has_time: bool, has_events: bool) -> Sequence:
    ordered = sorted(values)  # positions are unique, so items and events never decide the order
    return Sequence(
        key=key,
        items=[v[5] for v in ordered],
        times=[v[0] for v in ordered] if has_time else None,
        events=[v[6] for v in ordered] if has_events else None,
    )


class GroupIntoSequences(beam.PTransform):
    """Rows -> one time-ordered ``Sequence`` per user (or session id).

    The sort is stable by time: ties are broken by the order column, then by input position.
    """

    def __init__(self, has_time: bool, has_events: bool):
        super().__init__()
        self.has_time, self.has_events = has_time, has_events

    def expand(self, rows):
        has_time, has_events = self.has_time, self.has_events
        return (
            rows
            | "KeyByUser" >> beam.Map(lambda r: (r.key, _shuffle_value(r)))
            | "GroupByUser" >> beam.GroupByKey()
            | "SortByTime" >> beam.MapTuple(lambda key, values: _sequence_from_group(key, values, has_time, has_events))
        )


class _RemoveRepeatsFn(CountingDoFn):
    def process(self, seq: Sequence):
        seq, dropped = sequence_ops.remove_consecutive_repeats(seq)
        self.counts["filtered/consecutive_repeat"] += dropped
        yield seq


class RemoveConsecutiveRepeats(beam.PTransform):
    """Drops an item equal to the item right before it in the same sequence."""

    def expand(self, seqs):
        return seqs | beam.ParDo(_RemoveRepeatsFn()).with_outputs(COUNTS, main="seqs")


class Sessionize(beam.PTransform):
    """Splits each user's history into sessions at gaps longer than ``gap_seconds``."""

    def __init__(self, gap_seconds: float):
        super().__init__()
        self.gap_seconds = gap_seconds

    def expand(self, seqs):
        gap = self.gap_seconds
        return seqs | beam.FlatMap(lambda s: sequence_ops.sessionize(s, gap))


# ----------------------------------------------------------------------------------------- k-core


class _BundleCountsFn(beam.DoFn):
    """Base for DoFns that count keys over a bundle and emit ``(key, count)`` pairs when it ends.

    Pre-aggregating in the bundle keeps the number of elements sent to the combiner near the number of
    distinct keys per bundle rather than the number of rows.
    """

    def start_bundle(self):
        self.bundle_counts = Counter()

    def finish_bundle(self):
        for key, n in self.bundle_counts.items():
            yield global_value((key, n))
        self.bundle_counts = Counter()


class _ItemCountsFn(_BundleCountsFn):
    """(item, count) over sequences' items; ``weight`` 0 registers items without counting them.

    With the ``previous_removed`` side input (k-core rounds) it counts nothing once a round removed nothing.
    """

    def __init__(self, weight: int = 1):
        self.weight = weight

    def process(self, seq: Sequence, previous_removed=None):
        if previous_removed == 0:
            return
        for item in seq.items:
            self.bundle_counts[item] += self.weight


class _KCoreRoundFn(CountingDoFn):
    def __init__(self, cfg: FilterConfig):
        self.cfg = cfg

    def process(self, seq: Sequence, item_counts, previous_removed=None):
        if previous_removed == 0:  # an earlier round removed nothing: the k-core is reached
            yield seq
            return
        kept, rare, short = sequence_ops.kcore_filter(seq, item_counts, self.cfg)
        self.counts["filtered/kcore_item"] += rare
        self.counts["filtered/kcore_user"] += short
        if rare or short:
            yield beam.pvalue.TaggedOutput("removed", rare + short)
        if kept is not None:
            yield kept


class IterativeKCore(beam.PTransform):
    """Drops rare items and short sequences, round after round, until a round drops nothing.

    Beam graphs are static, so ``kcore_max_rounds`` rounds are laid out; once a round removes nothing,
    later rounds pass sequences through without counting. Outputs ``seqs``, ``counts`` and ``rounds``
    (a single ``(rounds_that_removed_something, converged)`` element).
    """

    def __init__(self, cfg: FilterConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, seqs):
        counts_out = []
        removed_per_round = []
        previous = None
        current = seqs
        for r in range(self.cfg.kcore_max_rounds):
            extra = {} if previous is None else {"previous_removed": beam.pvalue.AsSingleton(previous)}
            item_counts = (
                current
                | f"CountItems{r}" >> beam.ParDo(_ItemCountsFn(), **extra)
                | f"SumItems{r}" >> beam.CombinePerKey(sum)
            )
            result = current | f"Round{r}" >> beam.ParDo(
                _KCoreRoundFn(self.cfg), beam.pvalue.AsDict(item_counts), **extra
            ).with_outputs("removed", COUNTS, main="seqs")
            previous = result.removed | f"Removed{r}" >> beam.CombineGlobally(sum)
            removed_per_round.append(previous | f"Tag{r}" >> beam.Map(lambda n, r=r: (r, n)))
            counts_out.append(result[COUNTS])
            current = result.seqs
        rounds = (
            removed_per_round
            | "AllRounds" >> beam.Flatten()
            | "RoundsSummary" >> beam.CombineGlobally(_KCoreSummaryFn())
        )
        counts = counts_out | "KCoreCounts" >> beam.Flatten()
        return {"seqs": current, COUNTS: counts, "rounds": rounds}


class _KCoreSummaryFn(_LatestPerKeyFn):
    """Folds (round, removed) pairs into {"rounds_removing": n, "converged": bool, "removed_per_round": [...]}."""

    def extract_output(self, acc):
        removed = [acc[r] for r in sorted(acc)]
        return {
            "removed_per_round": removed,
            "rounds_removing": sum(1 for n in removed if n),
            "converged": bool(removed) and removed[-1] == 0,
        }


# ------------------------------------------------------------------------------------------ split


class _SplitFn(CountingDoFn):
    def __init__(self, cfg: SplitConfig):
        self.cfg = cfg

    def process(self, seq: Sequence, latest_ms=None, cold_cut_ms=None, cold_valid_cut_ms=None):
        result = sequence_ops.split_sequence(seq, self.cfg, latest_ms, cold_cut_ms, cold_valid_cut_ms)
        if result.train is not None:
            yield result.train
        if result.valid is not None:
            yield beam.pvalue.TaggedOutput("valid", result.valid)
        if result.test is not None:
            yield beam.pvalue.TaggedOutput("test", result.test)
        for name, pair in result.cold.items():
            yield beam.pvalue.TaggedOutput(name, pair)
        if self.cfg.protocol == "cold_start" and seq.times[0] >= cold_cut_ms:
            self.counts["cold_users"] += 1
            self.counts["kept/new_user_events"] += len(seq.items)  # held out whole: in no training record
        for reason, n in result.dropped.items():
            self.counts[reason] += n


class SplitSequences(beam.PTransform):
    """Applies the evaluation protocol: outputs ``train`` (Sequence), ``valid``/``test`` ((input, targets))."""

    def __init__(self, cfg: SplitConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, seqs):
        extra = {}
        if self.cfg.protocol == "session":
            latest = (
                seqs
                | "LastEventTime" >> beam.Map(lambda s: s.times[-1])
                | "LatestTime" >> beam.CombineGlobally(lambda times: max(times, default=0))
            )
            extra["latest_ms"] = beam.pvalue.AsSingleton(latest)
        if self.cfg.protocol == "cold_start":
            first_times = (
                seqs
                | "FirstEventTime" >> beam.Map(lambda s: s.times[0])
                | "FirstEventTimes" >> (beam.combiners.ToList())
            )
            cut = first_times | "ColdStartCut" >> beam.Map(sequence_ops.cold_start_cut, self.cfg.cold_user_fraction)
            extra["cold_cut_ms"] = beam.pvalue.AsSingleton(cut)
            extra["cold_valid_cut_ms"] = beam.pvalue.AsSingleton(
                first_times
                | "ColdValidCut"
                >> beam.Map(sequence_ops.cold_valid_cut, beam.pvalue.AsSingleton(cut), self.cfg.cold_valid_fraction)
            )
        outputs = ("valid", "test", *self.cfg.cold_splits(), COUNTS)
        return seqs | beam.ParDo(_SplitFn(self.cfg), **extra).with_outputs(*outputs, main="train")


# ------------------------------------------------------------------------------------- vocabulary


class _SumPerKeyToDictFn(beam.CombineFn):
    """Combines ``(key, n)`` pairs into one ``{key: sum of n}`` dict (for small key sets: counters, items)."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, pair):
        acc[pair[0]] = acc.get(pair[0], 0) + pair[1]
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for a in accs:
            for k, v in a.items():
                out[k] = out.get(k, 0) + v
        return out

    def extract_output(self, acc):
        return dict(sorted(acc.items()))


class RankByCountFn(_SumPerKeyToDictFn):
    """(item, train count) pairs -> list of items ordered by count (desc), then item id string; with ``base``
    (the items of an earlier vocabulary, in id order) those come first, in their order, and the rest after."""

    def __init__(self, base: Optional[list] = None):
        super().__init__()
        self.base = list(base or [])

    def extract_output(self, acc):
        known = set(self.base)
        new = sorted(((k, v) for k, v in acc.items() if k not in known), key=lambda kv: (-kv[1], kv[0]))
        return [(item, acc.get(item, 0)) for item in self.base] + new


class BuildVocabulary(beam.PTransform):
    """Item vocabulary from training counts: a single ``[(item, count), ...]`` element (index + 2 = id).

    ``extra_items`` (sequences whose items join the vocabulary with count 0) covers items that occur
    only in validation/test targets under leave-one-out and temporal splits.
    """

    def __init__(self, extra_items=None, base: Optional[list] = None):
        super().__init__()
        self.extra_items = extra_items
        self.base = base

    def expand(self, train):
        parts = [train | "TrainItemCounts" >> beam.ParDo(_ItemCountsFn(1))]
        if self.extra_items is not None:
            parts.append(self.extra_items | "EvalItems" >> beam.ParDo(_ItemCountsFn(0)))
        return (
            parts
            | "AllItemCounts" >> beam.Flatten()
            | "SumPerItem" >> beam.CombinePerKey(sum)
            | "OrderVocabulary" >> beam.CombineGlobally(RankByCountFn(self.base))
        )


def read_base_vocabulary(path: str) -> list:
    """The items of an earlier ``vocab.tsv`` (a file, or the directory holding it), in id order from id 2."""
    if not path.endswith(".tsv"):
        path = io_utils.join(path, "vocab.tsv")
    lines = io_utils.read_text(path).split("\n")
    items = [line.rsplit("\t", 1)[0] for line in lines[2:] if line]
    if lines[:2] != [f"{PAD_TOKEN}\t0", f"{OOV_TOKEN}\t0"] or len(set(items)) != len(items):
        raise ValueError(f"--base-vocabulary {path}: not a tfseqrec vocab.tsv ([PAD], [OOV], then unique items)")
    return items


def vocabulary_to_ids(vocab: list) -> dict:
    """{item: id} with ids from 2 (0 = padding, 1 = OOV)."""
    return {item: i + 2 for i, (item, _) in enumerate(vocab)}


def trained_vocabulary_ids(vocab: list) -> dict:
    """{item: id} of the items with a train count (the vocabulary without count-0 evaluation-only items)."""
    return {item: i + 2 for i, (item, n) in enumerate(vocab) if n > 0}


def vocabulary_file_text(vocab: list) -> str:
    lines = [f"{PAD_TOKEN}\t0", f"{OOV_TOKEN}\t0"] + [f"{item}\t{n}" for item, n in vocab]
    return "\n".join(lines) + "\n"


class _DistinctSetFn(beam.CombineFn):
    def create_accumulator(self):
        return set()

    def add_input(self, acc, values):
        acc.update(values)
        return acc

    def merge_accumulators(self, accs):
        return set().union(*accs)

    def extract_output(self, acc):
        return sorted(acc)


class EventTypeVocabulary(beam.PTransform):
    """Sorted distinct event types (ids 1..n in that order; 0 = padding)."""

    def expand(self, seqs):
        return (
            seqs
            | "EventSets" >> beam.Map(lambda s: set(s.events or ()))
            | "DistinctEvents" >> beam.CombineGlobally(_DistinctSetFn())
        )


# ---------------------------------------------------------------------------------------- encoding


class _EncodeFn(CountingDoFn):
    """Truncates, maps items to ids and serialises one split's records."""

    def __init__(
        self,
        split: str,
        max_len: Optional[int],
        paired: bool,
        count_truncation: bool,
        with_targets: bool,
        targets_kept: bool = True,
    ):
        self.split, self.max_len, self.paired = split, max_len, paired
        self.count_truncation, self.with_targets = count_truncation, with_targets
        # cold-start records re-use events already counted once (as kept/new_user_events)
        self.target_prefix = "kept" if targets_kept else "held_out"

    def process(self, element, vocab_ids, event_ids):
        inputs, targets = element if self.paired else (element, None)
        inputs, dropped = sequence_ops.truncate(inputs, self.max_len)
        if self.count_truncation:
            self.counts["filtered/max_len"] += dropped
        self.counts[f"records/{self.split}"] += 1
        if self.with_targets:
            self.counts[f"{self.target_prefix}/{self.split}_targets"] += len(targets.items)
        else:
            self.counts[f"kept/{self.split}_items"] += len(inputs.items)
        yield sequence_ops.encode_record(inputs, targets if self.with_targets else None, vocab_ids, event_ids)


class EncodeRecords(beam.PTransform):
    """Sequences (or (input, targets) pairs) -> serialised ``tf.train.Example`` bytes, plus counts."""

    def __init__(
        self,
        split: str,
        max_len: Optional[int],
        paired: bool,
        count_truncation: bool,
        with_targets: bool,
        vocab_ids,
        event_ids,
        targets_kept: bool = True,
    ):
        super().__init__()
        self.fn = _EncodeFn(split, max_len, paired, count_truncation, with_targets, targets_kept)
        self.vocab_ids, self.event_ids = vocab_ids, event_ids

    def expand(self, elements):
        return elements | beam.ParDo(self.fn, self.vocab_ids, self.event_ids).with_outputs(COUNTS, main="records")


class _FilterEvalSessionsFn(CountingDoFn):
    def process(self, pair, vocab_ids):
        seq, targets = pair
        kept, unseen, short = sequence_ops.filter_eval_session(seq, vocab_ids)
        self.counts["filtered/unseen_item"] += unseen
        self.counts["filtered/short_eval_session"] += short
        if kept is not None:
            yield kept, targets


class FilterEvalSessions(beam.PTransform):
    """Session protocol: removes items unseen in training from evaluation sessions (and short sessions)."""

    def __init__(self, vocab_ids):
        super().__init__()
        self.vocab_ids = vocab_ids

    def expand(self, pairs):
        return pairs | beam.ParDo(_FilterEvalSessionsFn(), self.vocab_ids).with_outputs(COUNTS, main="pairs")


# ----------------------------------------------------------------------------------- side features


class _FeatureValueCountsFn(_BundleCountsFn):
    """((item, feature index, value), count) for rows that carry item side features."""

    def process(self, row: Interaction):
        if row.features:
            for index, value in enumerate(row.features):
                if value:
                    self.bundle_counts[(row.item, index, value)] += 1


def _most_frequent_values(item, grouped, num_features: int):
    """Per item, each feature's most frequent value (ties: smallest string); '' when never given."""
    best = [("", 0)] * num_features
    for (index, value), n in grouped:
        current = best[index]
        if n > current[1] or (n == current[1] and value < current[0]):
            best[index] = (value, n)
    return item, [value for value, _ in best]


class ItemSideFeatures(beam.PTransform):
    """Rows -> ``(item, [value per feature])``: the most frequent value of each side-feature column."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def expand(self, rows):
        num_features = self.num_features
        return (
            rows
            | "FeatureValueCounts" >> beam.ParDo(_FeatureValueCountsFn())
            | "SumFeatureValues" >> beam.CombinePerKey(sum)
            | "KeyByItem" >> beam.MapTuple(lambda key, n: (key[0], ((key[1], key[2]), n)))
            | "GroupByItem" >> beam.GroupByKey()
            | "MostFrequent" >> beam.MapTuple(lambda item, g: _most_frequent_values(item, g, num_features))
        )


# ------------------------------------------------------------------------------------------- stats


class CollectCounts(beam.PTransform):
    """Sums ``(name, n)`` count pairs into a single ``{name: total}`` element."""

    def expand(self, count_pairs):
        return (
            count_pairs
            | "SumCounts" >> beam.CombinePerKey(sum)
            | "CountsDict" >> beam.CombineGlobally(_SumPerKeyToDictFn())
        )


class LengthHistogram(beam.PTransform):
    """``{length: number of sequences}`` (exact; one entry per distinct length)."""

    def expand(self, seqs):
        return (
            seqs
            | "Lengths" >> beam.Map(lambda s: (len(s.items), 1))
            | "CountLengths" >> beam.CombinePerKey(sum)
            | "LengthsDict" >> beam.CombineGlobally(_SumPerKeyToDictFn())
        )


def reject_to_json(reject: Reject) -> str:
    return json.dumps(reject.to_json(), ensure_ascii=False)

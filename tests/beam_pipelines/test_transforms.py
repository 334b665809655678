"""Each PTransform on a TestPipeline, checked with assert_that against hand-worked results."""

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_pipelines import sequence_ops, transforms as T
from beam_pipelines.config import FilterConfig, SplitConfig
from beam_pipelines.records import Interaction, Sequence


def _row(key, item, t, line, event=None, rating=None):
    return Interaction(key, item, t, None, (0, line, 0), event, rating, None)


def _seq(key, items, times=None, events=None, **kw):
    return Sequence(
        key, list(items), None if times is None else list(times), None if events is None else list(events), **kw
    )


def _summary(seq):
    return seq.key, tuple(seq.items)


def test_filter_rows_counts_each_rule():
    rows = [
        _row("u", "a", 1, 1, "view", 5.0),
        _row("u", "b", 2, 2, "view", 2.0),
        _row("u", "c", 3, 3, "buy", 4.0),
        _row("u", "d", 4, 4, "view", None),
    ]
    with TestPipeline() as p:
        out = p | beam.Create(rows) | T.FilterRows(FilterConfig(min_rating=4, event_types=("view",)))
        assert_that(out.rows | beam.Map(lambda r: r.item), equal_to(["a"]), label="rows")
        assert_that(
            out[T.COUNTS] | beam.CombinePerKey(sum),
            equal_to([("filtered/min_rating", 2), ("filtered/event_type", 1)]),
            label="counts",
        )


def test_group_sorts_stably_by_time_with_ties_in_input_order():
    rows = [
        _row("u1", "c", 20, 1),
        _row("u1", "a", 10, 5),
        _row("u1", "b", 20, 0),
        _row("u2", "x", 1, 9),
        _row("u1", "d", 10, 7),
    ]
    with TestPipeline() as p:
        out = p | beam.Create(rows) | T.GroupIntoSequences(has_time=True, has_events=False)
        assert_that(
            out | beam.Map(lambda s: (s.key, tuple(s.items), tuple(s.times))),
            equal_to([("u1", ("a", "d", "b", "c"), (10, 10, 20, 20)), ("u2", ("x",), (1,))]),
        )


def test_remove_consecutive_repeats():
    with TestPipeline() as p:
        out = p | beam.Create([_seq("u", "aabba"), _seq("v", "ab")]) | T.RemoveConsecutiveRepeats()
        assert_that(out.seqs | beam.Map(_summary), equal_to([("u", tuple("aba")), ("v", tuple("ab"))]), label="s")
        assert_that(out[T.COUNTS], equal_to([("filtered/consecutive_repeat", 2)]), label="c")


def test_sessionize_splits_at_gaps_longer_than_threshold():
    seq = _seq("u", "abcd", times=[0, 1000, 62_000, 63_000])
    with TestPipeline() as p:
        out = p | beam.Create([seq]) | T.Sessionize(gap_seconds=60)
        assert_that(
            out | beam.Map(lambda s: (s.key, s.user, s.session_index, tuple(s.items))),
            equal_to([("u#0", "u", 0, ("a", "b")), ("u#1", "u", 1, ("c", "d"))]),
        )


def test_iterative_kcore_needs_several_rounds():
    # k=2 for items and users. Counts x=3, y=2, z=1. Round 1 drops z (rare) and then u3 = [y] (short);
    # round 2: y has one interaction left, so it goes (rare) and u2 = [x] follows (short); round 3 finds
    # x=2 and u1 = [x, x] long enough: nothing to remove. Rare items 2 (z, y), items lost with users 2.
    seqs = [_seq("u1", "xx"), _seq("u2", "xy"), _seq("u3", "yz")]
    cfg = FilterConfig(item_min_count=2, user_min_count=2, kcore_max_rounds=6)
    with TestPipeline() as p:
        out = p | beam.Create(seqs) | T.IterativeKCore(cfg)
        assert_that(out["seqs"] | beam.Map(_summary), equal_to([("u1", ("x", "x"))]), label="seqs")
        assert_that(
            out["rounds"],
            equal_to([{"removed_per_round": [2, 2, 0, 0, 0, 0], "rounds_removing": 2, "converged": True}]),
            label="rounds",
        )
        assert_that(
            out[T.COUNTS] | beam.CombinePerKey(sum),
            equal_to([("filtered/kcore_item", 2), ("filtered/kcore_user", 2)]),
            label="counts",
        )


def test_kcore_reports_non_convergence():
    seqs = [_seq("u1", "xx"), _seq("u2", "xy"), _seq("u3", "yz")]
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(seqs)
            | T.IterativeKCore(FilterConfig(item_min_count=2, user_min_count=2, kcore_max_rounds=1))
        )
        assert_that(out["rounds"], equal_to([{"removed_per_round": [2], "rounds_removing": 1, "converged": False}]))


def test_leave_one_out_split():
    with TestPipeline() as p:
        out = p | beam.Create([_seq("u", "abcd"), _seq("short", "ab")]) | T.SplitSequences(SplitConfig())
        assert_that(out.train | beam.Map(_summary), equal_to([("u", ("a", "b")), ("short", ("a", "b"))]), label="tr")
        pair = lambda p_: (p_[0].key, tuple(p_[0].items), tuple(p_[1].items))  # noqa: E731
        assert_that(out.valid | "v" >> beam.Map(pair), equal_to([("u", ("a", "b"), ("c",))]), label="va")
        assert_that(out.test | "t" >> beam.Map(pair), equal_to([("u", ("a", "b", "c"), ("d",))]), label="te")


def test_temporal_split_uses_global_cuts():
    seq = _seq("u", "abcde", times=[1000, 2000, 3000, 4000, 5000])
    result = sequence_ops.split_sequence(seq, SplitConfig("temporal", valid_cut=2.5, test_cut=4.0))
    assert result.train.items == ["a", "b"]
    assert (result.valid[0].items, result.valid[1].items) == (["a", "b"], ["c"])
    assert (result.test[0].items, result.test[1].items) == (["a", "b", "c"], ["d", "e"])
    late = sequence_ops.split_sequence(
        _seq("v", "xy", times=[4500, 4600]), SplitConfig("temporal", valid_cut=2.5, test_cut=4.0)
    )
    assert late.train is None and late.valid is None and late.test[0].items == [] and late.test[1].items == ["x", "y"]


def test_session_split_and_unseen_item_removal():
    day = sequence_ops.DAY_MS
    sessions = [
        _seq("s1", "ab", times=[0, 1]),
        _seq("s2", "bc", times=[5 * day, 5 * day + 1]),
        _seq("s3", "abz", times=[9 * day, 9 * day + 1, 9 * day + 2]),
        _seq("s4", "az", times=[10 * day - 5, 10 * day]),
    ]
    cfg = SplitConfig("session", test_days=2, valid_days=5)
    with TestPipeline() as p:
        out = p | beam.Create(sessions) | T.SplitSequences(cfg)
        assert_that(out.train | beam.Map(_summary), equal_to([("s1", ("a", "b"))]), label="train")
        assert_that(out.valid | "v" >> beam.Map(lambda pr: pr[0].key), equal_to(["s2"]), label="valid")
        assert_that(out.test | "t" >> beam.Map(lambda pr: pr[0].key), equal_to(["s3", "s4"]), label="test")
        vocab = p | "vocab" >> beam.Create([{"a": 2, "b": 3}])
        kept = out.test | T.FilterEvalSessions(beam.pvalue.AsSingleton(vocab))
        assert_that(
            kept.pairs | "k" >> beam.Map(lambda pr: _summary(pr[0])), equal_to([("s3", ("a", "b"))]), label="kept"
        )
        assert_that(
            kept[T.COUNTS], equal_to([("filtered/unseen_item", 2), ("filtered/short_eval_session", 1)]), label="counts"
        )


def test_vocabulary_orders_by_train_count_then_id_and_adds_eval_only_items():
    with TestPipeline() as p:
        train = p | "train" >> beam.Create([_seq("u", "bcab"), _seq("v", "cd")])
        extra = p | "extra" >> beam.Create([_seq("u", "e")])
        vocab = train | T.BuildVocabulary(extra)
        assert_that(vocab, equal_to([[("b", 2), ("c", 2), ("a", 1), ("d", 1), ("e", 0)]]))
    ids = T.vocabulary_to_ids([("b", 2), ("c", 2)])
    assert ids == {"b": 2, "c": 3}
    assert T.vocabulary_file_text([("b", 2)]) == "[PAD]\t0\n[OOV]\t0\nb\t2\n"


def test_collect_counts_and_length_histogram():
    with TestPipeline() as p:
        counts = p | "c" >> beam.Create([("a", 1), ("b", 2), ("a", 3)]) | T.CollectCounts()
        assert_that(counts, equal_to([{"a": 4, "b": 2}]), label="counts")
        lengths = p | "s" >> beam.Create([_seq("u", "ab"), _seq("v", "cd"), _seq("w", "e")]) | T.LengthHistogram()
        assert_that(lengths, equal_to([{2: 2, 1: 1}]), label="lengths")


def test_item_side_features_take_most_frequent_value():
    rows = [
        Interaction("u", "a", 1, None, (0, 1, 0), None, None, ("x", "")),
        Interaction("u", "a", 2, None, (0, 2, 0), None, None, ("y", "red")),
        Interaction("v", "a", 3, None, (0, 3, 0), None, None, ("y", "blue")),
        Interaction("v", "b", 4, None, (0, 4, 0), None, None, ("z", "red")),
    ]
    with TestPipeline() as p:
        out = p | beam.Create(rows) | T.ItemSideFeatures(2)
        assert_that(out, equal_to([("a", ["y", "blue"]), ("b", ["z", "red"])]))


@pytest.mark.parametrize("max_len,expected,dropped", [(None, "abcd", 0), (2, "cd", 2), (9, "abcd", 0)])
def test_truncate_keeps_latest(max_len, expected, dropped):
    seq, n = sequence_ops.truncate(_seq("u", "abcd", times=[1, 2, 3, 4]), max_len)
    assert "".join(seq.items) == expected and n == dropped and len(seq.times) == len(expected)


def test_session_split_window_edges_are_exclusive():
    day = sequence_ops.DAY_MS
    latest = 10 * day
    cfg = SplitConfig("session", test_days=2, valid_days=3)
    on_test_edge = sequence_ops.split_sequence(_seq("a", "xy", times=[0, 8 * day]), cfg, latest)
    assert on_test_edge.test is None and on_test_edge.valid is not None
    just_after = sequence_ops.split_sequence(_seq("b", "xy", times=[0, 8 * day + 1]), cfg, latest)
    assert just_after.test is not None
    on_valid_edge = sequence_ops.split_sequence(_seq("c", "xy", times=[0, 5 * day]), cfg, latest)
    assert on_valid_edge.train is not None and on_valid_edge.valid is None

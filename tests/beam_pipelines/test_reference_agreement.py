"""The Beam pipeline and the pure-Python reference (``tfseqrec.reference``) agree on the same input.

Each case runs ``beam_pipelines.preprocess.run`` (DirectRunner, in-memory, one worker) into ``tmp_path``
and ``reference_preprocess`` on the same config, then compares every record of every split (all
features), the vocabulary (order and train counts), the event types, the rejects, the k-core summary,
the sizes and the row accounting of ``stats.json``, and checks that the accounting balances.
"""

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

import os
import random
from pathlib import Path

import pytest

from beam_pipelines import preprocess
from beam_pipelines.config import FilterConfig, OutputConfig, PreprocessConfig, ReaderConfig, SplitConfig
from tfseqrec.data.spec import load_feature_spec
from tests.beam_pipelines.reference import reference_preprocess
from tfseqrec.synthetic import SyntheticConfig, write_csv

try:
    from .records_io import read_output, read_rejects, read_vocab
except ImportError:  # tests/beam_pipelines is not a package
    from records_io import read_output, read_rejects, read_vocab

SHARED_DATA = Path(
    os.environ.get("TFSEQREC_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data")
)
PIPELINE_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
BASE = 1_700_000_000  # seconds since epoch (2023-11-14)
DAY = 86_400


# ------------------------------------------------------------------------------------------ helpers


def _config(inputs, out_dir, reader=None, filters=None, split=None, max_len=None) -> PreprocessConfig:
    return PreprocessConfig(
        inputs=(str(inputs),),
        output=OutputConfig(str(out_dir), max_len=max_len),
        reader=reader or ReaderConfig(),
        filters=filters or FilterConfig(),
        split=split or SplitConfig(),
    )


def _first_differences(name, got: dict, want: dict, limit=5) -> list:
    diffs = []
    for sid in sorted(set(got) | set(want)):
        if got.get(sid) != want.get(sid):
            diffs.append(f"{name}/{sid!r}: pipeline={got.get(sid)} reference={want.get(sid)}")
            if len(diffs) >= limit:
                break
    return diffs


def run_and_compare(cfg: PreprocessConfig):
    """Runs both implementations on ``cfg``, asserts they agree, returns (reference output, stats)."""
    stats = preprocess.run(cfg, PIPELINE_ARGS, overwrite=True)
    ref = reference_preprocess(cfg)
    out_dir = cfg.output.output_dir

    # accounting: reported, balanced, and equal to the reference's
    rows = stats["rows"]
    assert rows["balanced"], rows
    assert rows["rows_read"] == rows["rows_kept"] + rows["rows_filtered"] + rows["rows_rejected"], rows
    assert ref.counts["balanced"], ref.counts
    assert rows == ref.counts

    # records, split by split
    pipeline_splits = read_output(out_dir)
    assert sorted(pipeline_splits) == sorted(ref.splits)
    for name in ref.splits:
        diffs = _first_differences(name, pipeline_splits[name], ref.splits[name])
        assert not diffs, "\n".join(diffs)
        assert stats["splits"].get(name, {}).get("records", 0) == len(ref.splits[name])

    # vocabulary, event types, rejects, sizes, k-core
    vocab, vocab_counts = read_vocab(out_dir)
    assert vocab == ref.vocab
    assert vocab_counts == ref.vocab_counts
    spec = load_feature_spec(out_dir)
    assert spec.event_types == ref.event_types
    assert spec.vocabulary.num_items == len(ref.vocab) - 2
    for name, records in ref.splits.items():
        assert spec.splits[name].num_records == len(records)
        assert spec.splits[name].num_targets == sum(len(r.get("target_ids", ())) for r in records.values())
    assert read_rejects(out_dir) == sorted(ref.rejects)
    assert {k: stats[k] for k in ("users", "sequences", "items", "interactions")} == ref.sizes
    if ref.kcore is None:
        assert stats["kcore"] is None
    else:
        assert stats["kcore"]["converged"] == ref.kcore["converged"]
        assert stats["kcore"]["rounds_removing"] == ref.kcore["rounds_removing"]
        assert [n for n in stats["kcore"]["removed_per_round"] if n] == [n for n in ref.kcore["removed_per_round"] if n]
    return ref, stats


def _write(path: Path, lines, encoding="utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode(encoding)) + b"\n" for line in lines))
    return path


# ---------------------------------------------------------------------------------- (a) ml-1m slice


def test_ml1m_slice_kcore_leave_one_out(tmp_path):
    source = SHARED_DATA / "ml-1m" / "ml-1m.seq.tsv"
    if not source.exists():
        pytest.skip(f"{source} is not available")
    header, rows, users = None, [], []
    with open(source, encoding="utf-8") as f:
        header = f.readline().rstrip("\n")
        for line in f:
            user = line.split("\t", 1)[0]
            if not users or users[-1] != user:
                if len(users) == 300:
                    break
                users.append(user)
            rows.append(line.rstrip("\n"))
    random.Random(7).shuffle(rows)  # the order column, not the file order, must order each user
    data = _write(tmp_path / "in" / "ml1m.tsv", [header] + rows)
    cfg = _config(
        data,
        tmp_path / "out",
        reader=ReaderConfig(order_col="seq_pos"),
        filters=FilterConfig(item_min_count=5, user_min_count=5),
        split=SplitConfig("leave_one_out"),
        max_len=50,
    )
    ref, stats = run_and_compare(cfg)
    assert ref.counts["filtered_by_rule"].get("kcore_item", 0) > 0
    assert ref.counts["filtered_by_rule"].get("max_len", 0) > 0
    assert len(ref.splits["test"]) > 250


# ------------------------------------------------------------------------------- (b) Amazon Beauty


def test_beauty_slice_leave_one_out(tmp_path):
    source = SHARED_DATA / "amazon-beauty" / "Beauty.txt"
    if not source.exists():
        pytest.skip(f"{source} is not available")
    with open(source, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for _, line in zip(range(500), f)]
    data = _write(tmp_path / "in" / "beauty.txt", lines)
    cfg = _config(data, tmp_path / "out", split=SplitConfig("leave_one_out"), max_len=20)
    ref, _ = run_and_compare(cfg)
    assert len(ref.splits["test"]) == 500


# ----------------------------------------------------------------------------- (c) edge cases (csv)

T0 = BASE


def _edge_case_files(directory: Path) -> Path:
    """Three CSV files: the main one, one with reordered columns, one whose header lacks the time."""
    a = [
        "user_id,item_id,timestamp,event_type",
        # ties in time keep input order; the earlier time goes first whatever its position
        f"tie,tA,{T0 + 100},click",
        f"tie,tB,{T0 + 100},cart",
        f"tie,tC,{T0 + 100},click",
        f"tie,tD,{T0 + 50},click",
        # users with 1 and 2 events (train only under leave-one-out)
        f"one,o1,{T0},click",
        f"two,o1,{T0 + 5},click",
        f"two,o2,{T0 + 1},purchase",
        f"fmt,plain,{T0 + 1},click",
        f"fmt,late,{T0 + 9},click",
        # malformed rows
        f",i1,{T0},click",  # empty user
        f"u1,,{T0},click",  # empty item
        "u1,i1,,click",  # empty timestamp
        "u1,i1,yesterday,click",  # non-numeric timestamp
        f"u1,i1,{T0}",  # too few fields
        f"u1,i1,{T0},click,extra",  # too many fields
        f"u1,i1,{T0},",  # empty event type
        b"u1,\xff\xfe,1700000000,click",  # not UTF-8
        "",  # blank line: skipped, not read
        f'"u,q",i1,{T0},click',  # quoted id with the delimiter inside: valid
        f'"u,q",i2,{T0 + 1},click',
        f'"u,q",i3,{T0 + 2},click',
        # unicode ids and event types
        f"ユーザー,é-item,{T0 + 3},click",
        f"ユーザー,🍣,{T0 + 1},購入",
        f"ユーザー,ß,{T0 + 2},click",
        f"ユーザー,é-item,{T0 + 9},cart",
        f"😀,🍣,{T0 + 4},click",
        f"😀,é-item,{T0 + 8},click",
        f"😀,ß,{T0 + 6},購入",
        f"😀,o1,{T0 + 7},click",
        # consecutive repeats appear only after sorting by time
        f"rep,r1,{T0 + 3},click",
        f"rep,r1,{T0 + 1},click",
        f"rep,r2,{T0 + 4},click",
        f"rep,r1,{T0 + 2},cart",
        f"rep,r1,{T0 + 5},click",
        f"rep,r1,{T0 + 6},click",
        f"rep,r3,{T0 + 7},click",
        # sessions (gap 60 s): s3 at +20 and +1000 is a repeat across a session boundary (removed before
        # sessionizing); p -> q is exactly 60 s apart (same session), r -> s1 61 s (new session)
        f"sess,s1,{T0},click",
        f"sess,s2,{T0 + 10},click",
        f"sess,s3,{T0 + 20},click",
        f"sess,s3,{T0 + 1000},click",
        f"sess,p,{T0 + 1030},click",
        f"sess,q,{T0 + 1090},click",
        f"sess,r,{T0 + 1100},click",
        f"sess,s1,{T0 + 1161},click",
        f"sess,s2,{T0 + 1170},click",
        f"sess,s3,{T0 + 5000},click",
        f"sess,s1,{T0 + 5010},click",
        # a k-core chain (item_min_count=2, user_min_count=2): x1 is rare, so c1 gets too short, so a1
        # gets rare, so c2 gets too short, ... until a5 leaves the core users
        f"c1,x1,{T0},click",
        f"c1,a1,{T0 + 1},click",
        f"c2,a1,{T0},click",
        f"c2,a2,{T0 + 1},click",
        f"c3,a2,{T0},click",
        f"c3,a3,{T0 + 1},click",
        f"c4,a3,{T0},click",
        f"c4,a4,{T0 + 1},click",
        f"c5,a4,{T0},click",
        f"c5,a5,{T0 + 1},click",
        f"k1,p,{T0},click",
        f"k1,q,{T0 + 1},click",
        f"k1,r,{T0 + 2},click",
        f"k1,a5,{T0 + 3},click",
        f"k2,p,{T0},click",
        f"k2,q,{T0 + 1},cart",
        f"k2,r,{T0 + 2},click",
        f"k2,p,{T0 + 3},click",
        f"k3,r,{T0},click",
        f"k3,q,{T0 + 1},click",
        f"k3,p,{T0 + 2},purchase",
        f"k3,p,{T0 + 3},click",
        f"k3,q,{T0 + 4},click",
    ]
    b = [
        "timestamp,event_type,item_id,user_id",
        f"{T0 + 100},click,tE,tie",  # same time as tA..tC, later file: goes after them
        f"{T0 + 60},click,tF,tie",
        f"{T0 + 11},click,p,only_b",
        f"{T0 + 12},click,q,only_b",
        f"{T0 + 13},click,r,only_b",
        f"{T0 + 14},cart,p,only_b",
        "1700000000000,click,ms,fmt",  # milliseconds (auto unit): T0 exactly
        "2023-11-14T22:13:21Z,click,iso,fmt",  # ISO time: T0 + 1, ties with 'plain' (earlier file first)
    ]
    c = ["user_id,item_id,event_type", "z,i1,click", "z,i2,click"]  # no time column: header_mismatch
    _write(directory / "edge-a.csv", a)
    _write(directory / "edge-b.csv", b)
    _write(directory / "edge-c.csv", c)
    return directory


def test_edge_cases_leave_one_out(tmp_path):
    data = _edge_case_files(tmp_path / "in")
    cfg = _config(
        data,
        tmp_path / "out",
        filters=FilterConfig(remove_consecutive_repeats=True),
        split=SplitConfig("leave_one_out"),
        max_len=3,
    )
    ref, stats = run_and_compare(cfg)
    vocab = ref.vocab
    items = lambda ids: [vocab[i] for i in ids]  # noqa: E731
    train, test = ref.splits["train"], ref.splits["test"]
    # ties keep input order (files in sorted order, then line), earlier times first
    # (tD, tF, tA, tB, tC, tE; the test input keeps the latest max_len=3)
    assert items(test["tie"]["item_ids"] + test["tie"]["target_ids"]) == ["tA", "tB", "tC", "tE"]
    assert items(ref.splits["valid"]["tie"]["target_ids"]) == ["tC"]
    assert items(test["fmt"]["item_ids"] + test["fmt"]["target_ids"]) == ["ms", "plain", "iso", "late"]
    assert test["fmt"]["timestamps"] == [T0 * 1000, (T0 + 1) * 1000, (T0 + 1) * 1000]
    # short users are train only
    assert items(train["two"]["item_ids"]) == ["o2", "o1"] and "two" not in test
    assert items(train["one"]["item_ids"]) == ["o1"] and "one" not in test
    # repeats removed after sorting (rep: 3, sess: 1, k3: 1, ユーザー: 1)
    assert ref.counts["filtered_by_rule"]["consecutive_repeat"] == 6
    assert items(train["rep"]["item_ids"]) == ["r1", "r2"]
    assert "u,q" in test and "ユーザー" in test and "😀" in test
    reasons = {r for _, _, r in ref.rejects}
    assert {"empty_field", "bad_timestamp", "wrong_field_count", "not_utf8", "header_mismatch"} <= reasons
    assert ref.event_types == sorted(["click", "cart", "purchase", "購入"])
    assert stats["files"]["blank_lines_skipped"] == 1


@pytest.mark.parametrize("max_rounds", [10, 3])
def test_edge_cases_sessions_and_kcore_chain(tmp_path, max_rounds):
    data = _edge_case_files(tmp_path / "in")
    cfg = _config(
        data,
        tmp_path / "out",
        filters=FilterConfig(
            remove_consecutive_repeats=True,
            session_gap_seconds=60,
            item_min_count=2,
            user_min_count=2,
            kcore_max_rounds=max_rounds,
        ),
        split=SplitConfig("leave_one_out"),
        max_len=5,
    )
    ref, stats = run_and_compare(cfg)
    all_keys = set().union(*(set(s) for s in ref.splits.values()))
    if max_rounds == 10:
        assert ref.kcore["converged"] and ref.kcore["rounds_removing"] >= 6
        assert not any(k.startswith(("c1#", "c2#", "c3#", "c4#", "c5#")) for k in all_keys)
        assert "a5" not in ref.vocab
    else:
        assert not ref.kcore["converged"] and ref.kcore["rounds_removing"] == 3
        assert "c5#0" in all_keys
    for name, records in ref.splits.items():
        for sid, rec in records.items():
            assert sid == f"{rec['user_id']}#{rec['session_index']}"
    vocab = ref.vocab
    sess = {
        sid: [vocab[i] for i in rec["item_ids"] + rec.get("target_ids", [])]
        for sid, rec in ref.splits["test"].items()
        if sid.startswith("sess#")
    }
    assert sess == {"sess#0": ["s1", "s2", "s3"], "sess#1": ["p", "q", "r"]}
    assert ref.splits["train"]["sess#2"]["item_ids"] == [vocab.index("s1"), vocab.index("s2")]


# --------------------------------------------------------------------- (d) temporal split, row filters


def test_temporal_split_with_row_filters(tmp_path):
    V, T = BASE, BASE + DAY
    lines = ["user_id,item_id,timestamp,rating,event_type"]
    add = lambda u, i, t, r="5", e="click": lines.append(f"{u},{i},{t},{r},{e}")  # noqa: E731
    # t1: train, validation and test events
    for k, t in enumerate([V - 300, V - 200, V - 100, V + 10, V + 20, T + 5, T + 6]):
        add("t1", f"i{k % 4}", t)
    # t2: only before valid_cut -> train only
    add("t2", "i0", V - 50)
    add("t2", "i1", V - 40)
    add("t2", "i1", V - 30, e="buy")  # noqa: E702
    # t3: nothing before valid_cut -> validation record with empty input, and a test record
    add("t3", "i2", V + 100)
    add("t3", "new0", V + 200)
    add("t3", "i3", T + 100)  # noqa: E702
    # t4: only from test_cut on -> test record with empty input
    add("t4", "new1", T + 1)
    add("t4", "i0", T + 2)  # noqa: E702
    # t5: events exactly at the cuts, as milliseconds and ISO strings, and ties at the cut
    add("t5", "i1", V - 1)
    add("t5", "i2", V * 1000)  # == valid_cut -> validation
    add("t5", "i3", "2023-11-15T22:13:20Z")  # == test_cut -> test
    add("t5", "i0", T)
    add("t5", "new1", T)  # noqa: E702  ties at test_cut keep input order
    # row filters: min_rating (missing ratings count as below it) and event types
    add("t1", "low", V - 250, r="2")
    add("t1", "norating", V - 240, r="")
    add("t2", "viewed", V - 45, e="view")
    add("t2", "lowview", V - 44, r="1", e="view")  # both rules: counted under min_rating (checked first)
    add("t3", "badrating", V + 150, r="abc")  # rejected: bad_rating
    # t6: many train events, to exercise max_len on train (counted) and test inputs (not counted)
    for k in range(6):
        add("t6", f"i{k % 3}", V - 1000 + k)
    add("t6", "i3", T + 50)
    data = _write(tmp_path / "in" / "temporal.csv", lines)
    cfg = _config(
        data,
        tmp_path / "out",
        filters=FilterConfig(min_rating=3.0, event_types=("click", "buy")),
        split=SplitConfig("temporal", valid_cut=float(V), test_cut=float(T)),
        max_len=3,
    )
    ref, _ = run_and_compare(cfg)
    valid, test = ref.splits["valid"], ref.splits["test"]
    assert valid["t3"]["item_ids"] == [] and test["t4"]["item_ids"] == []
    assert "t3" not in ref.splits["train"] and "t2" not in test
    assert ref.vocab[-3:] == ["i3", "new0", "new1"] and ref.vocab_counts[-3:] == [0, 0, 0]
    assert [ref.vocab[i] for i in test["t5"]["target_ids"]] == ["i3", "i0", "new1"]
    assert [ref.vocab[i] for i in valid["t5"]["target_ids"]] == ["i2"]
    assert ref.counts["filtered_by_rule"] == {"min_rating": 3, "event_type": 1, "max_len": 3}
    assert ref.counts["rejected_by_reason"] == {"bad_rating": 1}


# ------------------------------------------------------------------------------- (e) session split


def test_session_split_with_unseen_items(tmp_path):
    rng = random.Random(11)
    lines = ["user_id,item_id,timestamp"]
    start = BASE
    pool = [f"p{k:02d}" for k in range(25)]
    for u in range(30):
        t = start + rng.randrange(0, DAY)
        while t < start + 6 * DAY:
            for _ in range(rng.randint(1, 6)):
                late = t > start + 4 * DAY
                item = f"late{rng.randrange(8)}" if late and rng.random() < 0.3 else rng.choice(pool)
                lines.append(f"user{u:02d},{item},{t}")
                t += rng.randint(1, 600)
            t += rng.randint(2 * 3600, 30 * 3600)
    latest = start + 7 * DAY  # hand-made sessions at the end of the data
    lines += [
        f"zz,p00,{latest - 100}",
        f"zz,unseenA,{latest - 90}",
        f"zz,unseenB,{latest - 80}",  # -> 1 item: short
        f"zy,unseenC,{latest - 70}",
        f"zy,unseenD,{latest - 60}",  # -> 0 items
    ] + [f"zx,{pool[k % 5]},{latest - 50 + k}" for k in range(9)]  # long: max_len
    lines += [
        f"zw,p01,{latest - DAY - 3600}",
        f"zw,p02,{latest - DAY - 3500}",  # validation
        f"zw,unseenE,{latest - DAY - 3400}",
    ]
    data = _write(tmp_path / "in" / "sessions.csv", lines)
    cfg = _config(
        data,
        tmp_path / "out",
        filters=FilterConfig(session_gap_seconds=1800),
        split=SplitConfig("session", test_days=1.0, valid_days=1.0),
        max_len=6,
    )
    ref, _ = run_and_compare(cfg)
    rules = ref.counts["filtered_by_rule"]
    assert rules["unseen_item"] >= 5 and rules["short_eval_session"] >= 1 and rules["max_len"] >= 3
    assert ref.splits["valid"] and ref.splits["test"]
    assert not any(k.startswith(("zz#", "zy#")) for k in ref.splits["test"])
    assert "unseenA" not in ref.vocab


# ------------------------------------------------------------------------------ randomized synthetic


@pytest.mark.parametrize("case", ["loo_kcore", "session"])
def test_synthetic(tmp_path, case):
    data = tmp_path / "in" / "synthetic.csv"
    write_csv(SyntheticConfig(num_users=150, num_items=300, num_topics=10, seed=5), str(data))
    if case == "loo_kcore":
        cfg = _config(
            data,
            tmp_path / "out",
            filters=FilterConfig(
                remove_consecutive_repeats=True, item_min_count=5, user_min_count=5, event_types=("click", "cart")
            ),
            split=SplitConfig("leave_one_out"),
            max_len=30,
        )
    else:
        cfg = _config(
            data,
            tmp_path / "out",
            filters=FilterConfig(session_gap_seconds=3600, item_min_count=2, user_min_count=2),
            split=SplitConfig("session", test_days=3.0, valid_days=2.0),
            max_len=10,
        )
    ref, _ = run_and_compare(cfg)
    assert ref.splits["train"] and ref.splits["test"]
    assert ref.kcore["converged"]


def test_session_split_test_vocabulary_train_valid_keeps_the_test_set(tmp_path):
    # Item "v" occurs only in a validation session and again in test sessions. With valid_days=0 that
    # session is train, so v is a train item. Carving out validation drops v from the test sessions with
    # the default vocabulary (train items); with train_valid the test records (as item strings) are those
    # of the split without validation days.
    day = BASE + 10 * DAY
    lines = ["session_id,item_id,timestamp"]
    lines += [f"tr{k},{a},{BASE + k * 600 + j}" for k in range(6) for j, a in enumerate("abc"[: 2 + k % 2])]
    lines += [f"va,a,{day - DAY - 300}", f"va,v,{day - DAY - 200}", f"va,b,{day - DAY - 100}"]  # validation
    lines += [
        f"te,b,{day - 300}",
        f"te,v,{day - 200}",
        f"te,u,{day - 150}",
        f"te,c,{day - 100}",
        f"t2,v,{day - 50}",
        f"t2,a,{day}",
    ]
    data = _write(tmp_path / "in" / "sessions.csv", lines)

    def run(valid_days, vocabulary, name):
        split = SplitConfig("session", test_days=1.0, valid_days=valid_days, test_vocabulary=vocabulary)
        ref, stats = run_and_compare(_config(data, tmp_path / name, split=split))
        items = {
            name: {sid: [ref.vocab[i] for i in rec["item_ids"]] for sid, rec in records.items()}
            for name, records in ref.splits.items()
            if name != "train"
        }
        return ref, stats, items

    _, _, without_valid = run(0.0, "train", "none")
    assert without_valid == {"test": {"te": ["b", "v", "c"], "t2": ["v", "a"]}}  # u was never in train
    ref, _, default = run(1.0, "train", "default")
    assert default["test"] == {"te": ["b", "c"]} and "v" not in ref.vocab  # t2 is left with one item
    ref, stats, kept = run(1.0, "train_valid", "train_valid")
    assert kept["test"] == without_valid["test"]
    assert kept["valid"] == {"va": ["a", "b"]}  # validation sessions still keep only train items
    assert ref.vocab[-1] == "v" and ref.vocab_counts[-1] == 0 and "u" not in ref.vocab
    assert stats["protocol"]["test_vocabulary"] == "train_valid"
    with pytest.raises(ValueError, match="session split only"):
        SplitConfig("leave_one_out", test_vocabulary="train_valid")
    with pytest.raises(ValueError, match="test_vocabulary"):
        SplitConfig("session", test_vocabulary="everything")

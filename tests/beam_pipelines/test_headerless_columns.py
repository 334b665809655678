"""csv/tsv files without a header whose columns ``--columns`` names (Taobao UserBehavior and many production logs)."""

import dataclasses
from collections import Counter

import pytest

from beam_pipelines.config import ReaderConfig
from beam_pipelines.readers import (
    InputError,
    count_newlines,
    file_size,
    iter_chunk_rows,
    iter_file_rows,
    plan_chunks,
    plan_inputs,
)
from beam_pipelines.records import Interaction, Reject
from tests.beam_pipelines.test_end_to_end import _preprocess, _write_log
from tests.beam_pipelines.records_io import read_output, read_rejects

TAOBAO_COLUMNS = ("user", "item", "category", "event", "timestamp")
# Taobao UserBehavior rows: user,item,category,behavior,timestamp; the last one is cut short like the real sample's.
TAOBAO_LINES = [
    "1,2268318,2520377,pv,1511544070",
    "1,2333346,2520771,pv,1511561733",
    "1,2576651,149192,cart,1511572885",
    "2,2268318,2520377,pv,1511544071",
    "2,3830808,4181361,buy,1511593493",
    "2,4365585,2520377,fav,1511596146",
    "2,2268318,2520377,pv",
]


def _rows(path, cfg):
    plan = plan_inputs((str(path),), cfg)
    counts = Counter()
    return plan, list(iter_file_rows(plan, 0, plan.files[0], counts)), counts


def test_columns_name_a_headerless_file_and_feed_the_common_name_detection(tmp_path):
    path = _write_log(tmp_path / "UserBehavior.csv", TAOBAO_LINES)
    with pytest.raises(InputError, match=r"no user column found among 1, 2268318, .*name its columns with --columns"):
        plan_inputs((str(path),), ReaderConfig())
    cfg = ReaderConfig(columns=TAOBAO_COLUMNS, item_feature_cols=("category",))
    plan, rows, counts = _rows(path, cfg)
    assert plan.column_names == TAOBAO_COLUMNS and plan.delimiter == ","
    assert (plan.columns.user, plan.columns.item, plan.columns.time, plan.columns.event) == (
        "user",
        "item",
        "timestamp",
        "event",
    )
    assert rows[0] == Interaction("1", "2268318", 1511544070000, None, (0, 1, 0), "pv", None, ("2520377",))
    assert [r.item for r in rows if isinstance(r, Interaction)][-1] == "4365585"
    assert [(r.line, r.reason, r.detail) for r in rows if isinstance(r, Reject)] == [
        (7, "wrong_field_count", "expected 5 fields, got 4")
    ]
    assert counts["rows_read"] == 7


def test_columns_work_with_the_col_flags_and_tsv(tmp_path):
    path = _write_log(tmp_path / "log.tsv", ["s9\tx\t3\t1700000000", "s9\ty\t1\t1700000001"])
    cfg = ReaderConfig(columns=("sid", "thing", "stars", "when"), user_col="sid", item_col="thing", rating_col="stars")
    plan, rows, _ = _rows(path, dataclasses.replace(cfg, time_col="when"))
    assert plan.delimiter == "\t"
    assert [(r.key, r.item, r.rating, r.time_ms) for r in rows] == [
        ("s9", "x", 3.0, 1700000000000),
        ("s9", "y", 1.0, 1700000001000),
    ]
    with pytest.raises(InputError, match=r"column 'ts' \(--time-col\) is not in the header; columns are: sid, thing"):
        plan_inputs((str(path),), dataclasses.replace(cfg, time_col="ts"))


@pytest.mark.parametrize(
    "first_line",
    ["user,item,category,event,timestamp", "user_id,item_id,cat,behavior,ts", "uid,ITEM,cat,b,t"],
)
def test_a_header_in_a_file_said_to_have_none_is_an_error(tmp_path, first_line):
    _write_log(tmp_path / "a.csv", TAOBAO_LINES[:2])
    _write_log(tmp_path / "b.csv", [first_line] + TAOBAO_LINES[2:4])
    with pytest.raises(InputError, match=r"b.csv: the first line .* looks like a header .* but --columns says"):
        plan_inputs((str(tmp_path),), ReaderConfig(columns=TAOBAO_COLUMNS))


def test_event_values_that_happen_to_be_column_names_are_not_a_header(tmp_path):
    # one common column name ("order" as an event) is data; a header needs a name at its place or two common names
    path = _write_log(tmp_path / "log.csv", ["u1,i1,order,1700000000", "u1,i2,view,1700000001"])
    _, rows, _ = _rows(path, ReaderConfig(columns=("user", "item", "event", "timestamp")))
    assert [r.event for r in rows] == ["order", "view"]


def test_columns_options_are_checked():
    with pytest.raises(ValueError, match="names 'item' more than once"):
        ReaderConfig(columns=("user", "item", "item"))
    with pytest.raises(ValueError, match="empty column name"):
        ReaderConfig(columns=("user", " ", "item"))
    with pytest.raises(ValueError, match="csv/tsv files without a header, not to format='jsonl'"):
        ReaderConfig(format="jsonl", columns=("user", "item"))


def test_columns_with_a_format_that_has_names_is_an_error(tmp_path):
    path = _write_log(tmp_path / "log.jsonl", ['{"user_id": "u", "item_id": "i"}'])
    with pytest.raises(InputError, match="--columns names the columns of csv/tsv files without a header"):
        plan_inputs((str(path),), ReaderConfig(columns=("user", "item")))


@pytest.mark.parametrize("chunk_bytes", [1, 7, 40, 10_000])
def test_chunked_headerless_reading_equals_whole_file_reading(tmp_path, chunk_bytes):
    path = _write_log(tmp_path / "log.csv", TAOBAO_LINES)
    plan = plan_inputs((str(path),), ReaderConfig(columns=TAOBAO_COLUMNS))
    expected = list(iter_file_rows(plan, 0, str(path), Counter()))
    rows, before = [], 0
    for chunk in plan_chunks(plan, 0, str(path), chunk_bytes, file_size(str(path))):
        rows += list(iter_chunk_rows(plan, chunk, before, Counter()))
        before += count_newlines(chunk) if not chunk.whole_file else 0
    assert rows == expected and len(rows) == 7


def test_taobao_like_file_end_to_end(tmp_path):
    log = _write_log(tmp_path / "UserBehavior.csv", TAOBAO_LINES)
    stats = _preprocess(log, tmp_path / "out", "--columns", ",".join(TAOBAO_COLUMNS), "--split", "none")
    assert stats["rows"]["rows_read"] == 7 and stats["rows"]["rows_kept"] == 6
    assert stats["rows"]["rejected_by_reason"] == {"wrong_field_count": 1} and stats["rows"]["balanced"]
    assert stats["files"]["columns"]["event"] == "event"
    records = read_output(str(tmp_path / "out"))["train"]
    assert sorted(records) == ["1", "2"] and len(records["2"]["item_ids"]) == 3
    assert records["2"]["event_types"] == [4, 1, 3]  # pv, buy, fav (ids in sorted order: buy cart fav pv)
    assert read_rejects(str(tmp_path / "out")) == [(str(log), 7, "wrong_field_count")]

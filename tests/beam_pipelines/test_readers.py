"""Format detection, column resolution and row parsing, format by format, including malformed rows."""

import gzip
import json
from collections import Counter

import pytest

from beam_pipelines.config import ReaderConfig
from beam_pipelines.readers import InputError, detect_format, iter_file_rows, parse_time_ms, plan_inputs
from beam_pipelines.records import Interaction, Reject


# Small made-up times (seconds from 0) would be rejected as before 1990: these tests read them without that bound.
ANY_TIME = ReaderConfig(min_time=None)


def _rows(path, cfg=ReaderConfig()):
    plan = plan_inputs((str(path),), cfg)
    counts = Counter()
    rows = list(iter_file_rows(plan, 0, plan.files[0], counts))
    return plan, rows, counts


def _write(path, text, mode="w"):
    with open(path, mode, encoding=None if "b" in mode else "utf-8") as f:
        f.write(text)
    return path


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("a.dat", "movielens"),
        ("a.csv", "csv"),
        ("a.tsv", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.parquet", "parquet"),
        ("a.txt", "seq"),
        ("a.csv.gz", "csv"),
        ("a.md", None),
    ],
)
def test_detect_format_by_extension(name, fmt):
    assert detect_format(name) == fmt


def test_parse_time_units_and_iso():
    assert parse_time_ms("978300760", "auto") == 978300760000
    assert parse_time_ms("1396860669.277", "s") == 1396860669277
    assert parse_time_ms(1659304800025, "auto") == 1659304800025
    assert parse_time_ms("5", "ms") == 5
    assert parse_time_ms("2016-05-09", "auto") == 1462752000000
    assert parse_time_ms("2016-05-09T01:00:00+01:00", "auto") == 1462752000000
    for bad in ("abc", "", "nan", "12:30"):
        with pytest.raises(ValueError):
            parse_time_ms(bad, "auto")


def test_movielens_rows_and_rejects(tmp_path):
    path = _write(
        tmp_path / "ratings.dat", "1::10::5::978300760\n1::11::3\n2::12::4::notatime\n\n2::13::x::978300765\n"
    )
    plan, rows, counts = _rows(path)
    assert plan.format == "movielens"
    assert rows[0] == Interaction("1", "10", 978300760000, None, (0, 1, 0), None, 5.0, None)
    assert [(r.line, r.reason) for r in rows if isinstance(r, Reject)] == [
        (2, "wrong_field_count"),
        (3, "bad_timestamp"),
        (5, "bad_rating"),
    ]
    assert counts["rows_read"] == 4 and counts["blank_lines"] == 1
    assert rows[1].file == str(path) and "expected 4 fields" in rows[1].detail


def test_csv_with_column_flags_order_column_and_sniffed_delimiter(tmp_path):
    path = _write(
        tmp_path / "views.csv",
        "session_id;user_id;item_id;timeframe;eventdate\n1;NA;81766;526309;2016-05-09\n1;NA;31331;1031018;2016-05-09\n",
    )
    plan, rows, _ = _rows(path, ReaderConfig(user_col="session_id", time_col="eventdate", order_col="timeframe"))
    assert plan.delimiter == ";"
    assert [(r.key, r.item, r.time_ms, r.order) for r in rows] == [
        ("1", "81766", 1462752000000, 526309),
        ("1", "31331", 1462752000000, 1031018),
    ]


def test_csv_detects_common_column_names_and_quotes(tmp_path):
    path = _write(tmp_path / "log.csv", 'userId,movieId,rating,timestamp\n"u,1",m1,4.5,10\n')
    plan, rows, _ = _rows(path, ANY_TIME)
    assert (plan.columns.user, plan.columns.item, plan.columns.rating, plan.columns.time) == (
        "userId",
        "movieId",
        "rating",
        "timestamp",
    )
    assert rows[0].key == "u,1" and rows[0].rating == 4.5 and rows[0].time_ms == 10000


def test_csv_bad_rows_are_rejected_with_line_and_reason(tmp_path):
    path = _write(
        tmp_path / "log.csv",
        "user_id,item_id,timestamp\nu1,i1,1\nu1,i2\nu1,,3\n,i3,4\nu1,i4,soon\nu1,i5,5,extra\nu1,i6,7",
    )  # last line has no newline: still a row
    _, rows, counts = _rows(path, ANY_TIME)
    rejects = [(r.line, r.reason) for r in rows if isinstance(r, Reject)]
    assert rejects == [
        (3, "wrong_field_count"),
        (4, "empty_field"),
        (5, "empty_field"),
        (6, "bad_timestamp"),
        (7, "wrong_field_count"),
    ]
    assert [r.item for r in rows if isinstance(r, Interaction)] == ["i1", "i6"]
    assert counts["rows_read"] == 7


def test_unknown_column_is_an_error_naming_file_and_columns(tmp_path):
    path = _write(tmp_path / "log.csv", "user_id,item_id,timestamp\nu1,i1,1\n")
    with pytest.raises(
        InputError,
        match=r"log.csv: column 'ts' \(--time-col\) is not in the header; columns are: "
        r"user_id, item_id, timestamp",
    ):
        plan_inputs((str(path),), ReaderConfig(time_col="ts"))
    path = _write(tmp_path / "x.csv", "a,b\n1,2\n")
    with pytest.raises(InputError, match="no user column found among a, b; name it with --user-col"):
        plan_inputs((str(path),), ReaderConfig())


def test_file_with_different_header_rejects_its_rows(tmp_path):
    _write(tmp_path / "a.csv", "user_id,item_id,timestamp\nu1,i1,1\n")
    _write(tmp_path / "b.csv", "user,thing,timestamp\nu2,i2,2\n")
    plan = plan_inputs((str(tmp_path),), ReaderConfig())
    counts = Counter()
    rows = list(iter_file_rows(plan, 1, plan.files[1], counts))
    assert len(rows) == 1 and rows[0].reason == "header_mismatch" and "no column 'user_id' (user)" in rows[0].detail


def test_mixed_directory_and_unknown_extension_are_errors(tmp_path):
    _write(tmp_path / "a.csv", "user_id,item_id\nu,i\n")
    _write(tmp_path / "b.jsonl", '{"user_id": "u", "item_id": "i"}\n')
    with pytest.raises(InputError, match="mixes formats: csv: .*a.csv; jsonl: .*b.jsonl"):
        plan_inputs((str(tmp_path),), ReaderConfig())
    _write(tmp_path / "README.md", "hello\n")
    with pytest.raises(InputError, match="cannot tell the format of .*README.md"):
        plan_inputs((str(tmp_path),), ReaderConfig())
    plan = plan_inputs((str(tmp_path / "*.csv"),), ReaderConfig())
    assert plan.format == "csv" and len(plan.files) == 1


def test_empty_files(tmp_path):
    _write(tmp_path / "empty.csv", "")
    with pytest.raises(InputError, match="every input file is empty"):
        plan_inputs((str(tmp_path / "empty.csv"),), ReaderConfig())
    _write(tmp_path / "full.csv", "user_id,item_id\nu,i\n")
    plan = plan_inputs((str(tmp_path),), ReaderConfig())
    counts = Counter()
    assert list(iter_file_rows(plan, 0, str(tmp_path / "empty.csv"), counts)) == []
    assert counts["files_empty"] == 1
    with pytest.raises(InputError, match="does not exist"):
        plan_inputs((str(tmp_path / "missing.csv"),), ReaderConfig())
    with pytest.raises(InputError, match="matches no files"):
        plan_inputs((str(tmp_path / "*.tsv"),), ReaderConfig())


def test_not_utf8_line_is_rejected(tmp_path):
    path = _write(tmp_path / "log.tsv", "user_id\titem_id\nu1\ti1\n".encode() + b"u2\t\xff\xfe\n", mode="wb")
    _, rows, _ = _rows(path)
    assert isinstance(rows[1], Reject) and rows[1].reason == "not_utf8" and rows[1].line == 3


def test_otto_nested_jsonl(tmp_path):
    line = {
        "session": 7,
        "events": [
            {"aid": 1, "ts": 1659304800025, "type": "clicks"},
            {"aid": 2, "ts": 1659304900000, "type": "carts"},
            "junk",
        ],
    }
    path = _write(tmp_path / "otto.jsonl", json.dumps(line) + "\n{not json\n[1,2]\n")
    plan, rows, counts = _rows(path)
    assert plan.nested_events and plan.columns.user == "session" and plan.columns.item == "aid"
    assert [(r.key, r.item, r.time_ms, r.event, r.pos) for r in rows[:2]] == [
        ("7", "1", 1659304800025, "clicks", (0, 1, 0)),
        ("7", "2", 1659304900000, "carts", (0, 1, 1)),
    ]
    assert [r.reason for r in rows[2:]] == ["bad_json", "bad_json", "bad_json"]
    assert counts["rows_read"] == 5


def test_flat_jsonl_missing_field(tmp_path):
    path = _write(tmp_path / "log.jsonl", '{"user_id": "u", "item_id": "i", "timestamp": 3}\n{"user_id": "u"}\n')
    _, rows, _ = _rows(path, ANY_TIME)
    assert rows[0].item == "i" and rows[1].reason == "missing_field" and "'item_id'" in rows[1].detail


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"user_id": ["u1", "u1", None], "item_id": ["a", "b", "c"], "ts": [3, 1, 2]})
    pq.write_table(table, tmp_path / "log.parquet")
    plan, rows, counts = _rows(tmp_path / "log.parquet", ANY_TIME)
    assert plan.columns.time == "ts"
    assert [(r.item, r.time_ms) for r in rows[:2]] == [("a", 3000), ("b", 1000)]
    assert rows[2].reason == "empty_field" and counts["rows_read"] == 3


def test_seq_lines_and_gzip(tmp_path):
    path = tmp_path / "beauty.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("1 5 6 7\n2 8\nlonely\n")
    plan, rows, counts = _rows(path)
    assert plan.format == "seq"
    assert [(r.key, r.item, r.pos) for r in rows[:4]] == [
        ("1", "5", (0, 1, 0)),
        ("1", "6", (0, 1, 1)),
        ("1", "7", (0, 1, 2)),
        ("2", "8", (0, 2, 0)),
    ]
    assert rows[4].reason == "wrong_field_count" and counts["rows_read"] == 5


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 8, 13, 64, 10_000])
def test_chunked_reading_equals_whole_file_reading(tmp_path, chunk_bytes):
    from beam_pipelines.readers import count_newlines, file_size, iter_chunk_rows, plan_chunks

    text = (
        'user_id,item_id,timestamp\r\n\r\nü1,ä,1\r\nu1,b,2\nu2,"c,d",3\n\nbad line\nu3,é,x\n'
        "u4,x,5\nu4,y,6"
    )  # CRLF, blank lines, multi-byte characters, rejects, no final newline
    path = _write(tmp_path / "log.csv", text)
    plan = plan_inputs((str(path),), ANY_TIME)
    expected_counts = Counter()
    expected = list(iter_file_rows(plan, 0, str(path), expected_counts))
    chunks = plan_chunks(plan, 0, str(path), chunk_bytes, file_size(str(path)))
    assert (len(chunks) > 1) == (chunk_bytes < len(text.encode()))
    counts, rows, before = Counter(), [], 0
    for chunk in chunks:
        rows += list(iter_chunk_rows(plan, chunk, before, counts))
        before += count_newlines(chunk) if not chunk.whole_file else 0
    assert rows == expected
    assert counts == expected_counts
    assert [(r.line, r.reason) for r in rows if isinstance(r, Reject)] == [
        (7, "wrong_field_count"),
        (8, "bad_timestamp"),
    ]
    assert [(r.key, r.item, r.pos[1]) for r in rows if isinstance(r, Interaction)][:3] == [
        ("ü1", "ä", 3),
        ("u1", "b", 4),
        ("u2", "c,d", 5),
    ]


def test_compressed_files_are_not_split(tmp_path):
    from beam_pipelines.readers import plan_chunks

    plan = plan_inputs((str(_write(tmp_path / "a.csv", "user_id,item_id\nu,i\n")),), ReaderConfig())
    assert len(plan_chunks(plan, 0, "x.csv.gz", 10, 1000)) == 1
    assert [(c.start, c.end) for c in plan_chunks(plan, 0, "x.csv", 400, 1000)] == [(0, 400), (400, 800), (800, None)]

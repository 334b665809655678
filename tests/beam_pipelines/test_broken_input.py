"""Broken input logs: byte-order marks, other encodings, absurd times, huge ids.

Each case runs ``tfseqrec preprocess`` end to end (in-memory DirectRunner) and checks the counted reject
reasons, the rejects file (file, line, reason, text) and that rows read = kept + filtered + rejected;
reader-level tests cover every text format and chunked / compressed reads.
"""

import codecs
import datetime
import gzip
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from beam_pipelines.config import ReaderConfig, SplitConfig
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
from tests.conftest import FAST_BEAM
from tfseqrec.cli import main

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
BOM = codecs.BOM_UTF8


def _write(path: Path, lines, encoding="utf-8", prefix=b"") -> Path:
    """Lines (str encoded with ``encoding``, or bytes as they are), each ending in a newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((line if isinstance(line, bytes) else line.encode(encoding)) + b"\n" for line in lines)
    path.write_bytes(prefix + data)
    return path


def _preprocess(tmp_path: Path, log: Path, *flags, name="out"):
    """Runs the CLI; returns (exit status, stats.json, rejects as dicts sorted by (file, line))."""
    out = tmp_path / name
    code = main(["preprocess", "--input", str(log), "--output-dir", str(out), *map(str, flags), *FAST_BEAM])
    stats = json.loads((out / "stats.json").read_text()) if (out / "stats.json").exists() else None
    rejects = [
        json.loads(line)
        for p in sorted(out.glob("rejects-*.jsonl"))
        for line in p.read_text(encoding="utf-8").splitlines()
        if line
    ]
    return code, stats, sorted(rejects, key=lambda r: (r["file"], r["line"]))


def _assert_balanced(stats: dict):
    rows = stats["rows"]
    assert rows["rows_read"] == rows["rows_kept"] + rows["rows_filtered"] + rows["rows_rejected"], rows
    assert rows["rows_rejected"] == sum(rows["rejected_by_reason"].values())
    assert rows["balanced"]


def _reader_rows(path: Path, cfg=ReaderConfig()):
    plan = plan_inputs((str(path),), cfg)
    counts = Counter()
    return plan, list(iter_file_rows(plan, 0, plan.files[0], counts)), counts


def _three_users(first_user="u1"):
    return [
        f"{first_user},a,{T0}",
        f"{first_user},b,{T0 + 1}",
        f"{first_user},c,{T0 + 2}",
        f"u2,a,{T0 + 3}",
        f"u2,c,{T0 + 4}",
        f"u2,b,{T0 + 5}",
    ]


# ------------------------------------------------------------------------------------ byte-order mark


def test_bom_header_is_read(tmp_path):
    log = _write(tmp_path / "export.csv", ["user_id,item_id,timestamp"] + _three_users(), prefix=BOM)
    code, stats, rejects = _preprocess(tmp_path, log)
    assert code == 0 and rejects == []
    assert stats["files"]["columns"]["user"] == "user_id" and stats["files"]["columns"]["time"] == "timestamp"
    assert stats["rows"]["rows_read"] == 6 and stats["rows"]["rows_kept"] == 6
    assert stats["users"] == 2
    _assert_balanced(stats)


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 4, 7, 64, 10_000])
def test_bom_in_chunked_reads_keeps_line_numbers(tmp_path, chunk_bytes):
    lines = ["user_id,item_id,timestamp", "", "u1,é,1700000000", "u1,b", "u2,c,1700000002", "u2,d,soon"]
    path = _write(tmp_path / "log.csv", lines, prefix=BOM)
    plan = plan_inputs((str(path),), ReaderConfig())
    whole = list(iter_file_rows(plan, 0, str(path), Counter()))
    chunks = plan_chunks(plan, 0, str(path), chunk_bytes, file_size(str(path)))
    rows, before = [], 0
    for chunk in chunks:
        rows += list(iter_chunk_rows(plan, chunk, before, Counter()))
        before += count_newlines(chunk) if not chunk.whole_file else 0
    assert rows == whole
    assert [(r.key, r.item, r.pos[1]) for r in rows if isinstance(r, Interaction)] == [("u1", "é", 3), ("u2", "c", 5)]
    assert [(r.line, r.reason) for r in rows if isinstance(r, Reject)] == [
        (4, "wrong_field_count"),
        (6, "bad_timestamp"),
    ]


@pytest.mark.parametrize(
    "name,lines,first_key",
    [
        ("seq.txt", ["1 5 6", "2 7"], "1"),
        ("ratings.dat", [f"1::10::5::{T0}", f"2::11::4::{T0}"], "1"),
        ("log.jsonl", [json.dumps({"user_id": "1", "item_id": "i", "timestamp": T0})], "1"),
    ],
)
def test_bom_is_dropped_in_every_text_format(tmp_path, name, lines, first_key):
    _, rows, counts = _reader_rows(_write(tmp_path / name, lines, prefix=BOM))
    assert all(isinstance(r, Interaction) for r in rows) and counts["rows_read"] == len(rows)
    assert rows[0].key == first_key


def test_bom_contradicting_the_encoding_and_utf16_are_clear_errors(tmp_path):
    path = _write(tmp_path / "a.csv", ["user_id,item_id", "u,i"], prefix=BOM)
    with pytest.raises(InputError, match="UTF-8 byte-order mark, but --encoding is iso8859-1"):
        plan_inputs((str(path),), ReaderConfig(encoding="latin-1"))
    wide = tmp_path / "b.csv"
    wide.write_bytes("user_id,item_id\nu,i\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16 byte-order mark.*iconv -f UTF-16 -t UTF-8"):
        plan_inputs((str(wide),), ReaderConfig())
    with pytest.raises(ValueError, match="does not write ASCII as single bytes"):
        ReaderConfig(encoding="utf-16")
    with pytest.raises(ValueError, match="not a text encoding"):
        ReaderConfig(encoding="klingon")


# ------------------------------------------------------------------------------------------ encodings

LATIN1_ROWS = [
    "user_id,item_id,timestamp",
    f"u1,Amélie,{T0}",
    f"u1,Léon,{T0 + 1}",
    f"u1,plain,{T0 + 2}",
    f"u2,Amélie,{T0 + 3}",
    f"u2,Léon,{T0 + 4}",
    f"u2,Zoë,{T0 + 5}",
]


def test_latin1_file_is_rejected_without_encoding_and_read_with_it(tmp_path):
    log = _write(tmp_path / "latin1.csv", LATIN1_ROWS, encoding="latin-1")
    code, stats, rejects = _preprocess(tmp_path, log, name="default")
    assert code == 0
    assert stats["rows"]["rows_read"] == 6 and stats["rows"]["rejected_by_reason"] == {"not_utf8": 5}
    _assert_balanced(stats)
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (2, "not_utf8"),
        (3, "not_utf8"),
        (5, "not_utf8"),
        (6, "not_utf8"),
        (7, "not_utf8"),
    ]
    assert rejects[0]["file"] == str(log) and rejects[0]["text"] == f"u1,Am\\xe9lie,{T0}"
    assert "not valid utf-8" in rejects[0]["detail"] and "--encoding" in rejects[0]["detail"]

    code, stats, rejects = _preprocess(tmp_path, log, "--encoding", "latin-1", name="latin1")
    assert code == 0 and rejects == [] and stats["files"]["encoding"] == "iso8859-1"
    assert stats["rows"]["rows_read"] == 6 and stats["rows"]["rows_kept"] == 6
    _assert_balanced(stats)
    vocab = [line.split("\t")[0] for line in (tmp_path / "latin1" / "vocab.tsv").read_text("utf-8").splitlines()]
    assert sorted(vocab[2:]) == ["Amélie", "Léon", "Zoë", "plain"]


def test_latin1_gzip_and_chunked_reads(tmp_path):
    gz = tmp_path / "gz" / "latin1.csv.gz"
    gz.parent.mkdir()
    with gzip.open(gz, "wb") as f:
        f.write("".join(line + "\n" for line in LATIN1_ROWS).encode("latin-1"))
    code, stats, rejects = _preprocess(tmp_path, gz, "--encoding", "latin-1", name="gz")
    assert code == 0 and rejects == [] and stats["rows"]["rows_kept"] == 6
    plain = _write(tmp_path / "plain" / "latin1.csv", LATIN1_ROWS, encoding="latin-1")
    code, chunked, rejects = _preprocess(
        tmp_path, plain, "--encoding", "latin-1", "--chunk-bytes", "16", name="chunked"
    )
    assert code == 0 and rejects == [] and chunked["rows"] == stats["rows"]


@pytest.mark.parametrize(
    "name,lines",
    [
        ("ratings.dat", [f"1::Amélie::5::{T0}"]),
        ("seq.txt", ["u1 Amélie Léon"]),
        ("log.jsonl", ['{"user_id": "u1", "item_id": "Amélie", "timestamp": %d}' % T0]),
        ("log.tsv", ["user_id\titem_id", "u1\tAmélie"]),
    ],
)
def test_encoding_applies_to_every_text_format(tmp_path, name, lines):
    path = _write(tmp_path / name, lines, encoding="latin-1")
    _, rows, _ = _reader_rows(path)
    assert rows and all(isinstance(r, Reject) and r.reason == "not_utf8" for r in rows)
    _, rows, counts = _reader_rows(path, ReaderConfig(encoding="latin-1"))
    assert all(isinstance(r, Interaction) for r in rows) and counts["rows_read"] == len(rows)
    assert rows[0].item == "Amélie"


def test_undecodable_rows_name_the_chosen_encoding(tmp_path):
    # 0x81 is undefined in cp1252; 0xe9 is é
    path = _write(tmp_path / "log.csv", ["user_id,item_id", b"u1,caf\xe9", b"u1,x\x81y"])
    _, rows, _ = _reader_rows(path, ReaderConfig(encoding="cp1252"))
    assert rows[0].item == "café"
    assert rows[1].reason == "not_cp1252" and rows[1].line == 3 and "not valid cp1252" in rows[1].detail
    assert rows[1].text == "u1,x\\x81y"


def test_undecodable_header_is_a_clear_error(tmp_path):
    path = _write(tmp_path / "log.csv", [b"user_id,item_id,cat\xe9gorie", b"u1,a,x"])
    with pytest.raises(InputError, match=r"header line is not valid utf-8 \(byte 0xe9 at column 20.*--encoding"):
        plan_inputs((str(path),), ReaderConfig())
    plan = plan_inputs((str(path),), ReaderConfig(encoding="latin-1", item_feature_cols=("catégorie",)))
    assert plan.columns.features == ("catégorie",)


# ---------------------------------------------------------------------------------------------- times


def test_absurd_timestamps_are_rejected(tmp_path):
    log = _write(
        tmp_path / "log.csv", ["user_id,item_id,timestamp"] + _three_users() + ["u1,d,-5", "u2,e,1e30", "u3,f,0"]
    )
    code, stats, rejects = _preprocess(tmp_path, log)
    assert code == 0
    assert stats["rows"]["rows_read"] == 9 and stats["rows"]["rejected_by_reason"] == {"time_out_of_range": 3}
    assert stats["rows"]["rows_kept"] == 6
    _assert_balanced(stats)
    assert [(r["line"], r["reason"], r["text"]) for r in rejects] == [
        (8, "time_out_of_range", "u1,d,-5"),
        (9, "time_out_of_range", "u2,e,1e30"),
        (10, "time_out_of_range", "u3,f,0"),
    ]
    assert "1969-12-31T23:59:55Z, before --min-time 1990-01-01T00:00:00Z" in rejects[0]["detail"]
    assert "after --max-time" in rejects[1]["detail"] and "--min-time/--max-time" in rejects[1]["detail"]
    assert stats["files"]["time_range"]["min"] == "1990-01-01T00:00:00Z"


def test_default_upper_bound_is_the_run_start_plus_a_day(tmp_path):
    now = int(time.time())
    log = _write(
        tmp_path / "log.csv",
        [
            "user_id,item_id,timestamp",
            f"u1,a,{now - 3600}",
            f"u1,b,{now + 3600}",
            f"u1,c,{now + 3 * 86400}",
            f"u1,d,{(now + 3 * 86400) * 1000}",
        ],
    )
    code, stats, rejects = _preprocess(tmp_path, log, "--split", "none")
    assert code == 0 and stats["rows"]["rows_kept"] == 2
    assert [(r["line"], r["reason"]) for r in rejects] == [(4, "time_out_of_range"), (5, "time_out_of_range")]
    upper = datetime.datetime.fromisoformat(stats["files"]["time_range"]["max"].replace("Z", "+00:00"))
    assert now + 86400 - 60 <= upper.timestamp() <= time.time() + 86400
    _assert_balanced(stats)


def test_time_range_flags(tmp_path):
    low, high = 1_577_836_800, 1_609_459_200  # 2020-01-01, 2021-01-01
    lines = [
        "user_id,item_id,timestamp",
        f"u1,a,{low - 1}",
        f"u1,b,{low}",
        "u1,c,2020-06-01T00:00:00Z",
        f"u1,d,{high * 1000}",
        f"u1,e,{high + 1}",
        f"u1,f,{T0}",
    ]
    log = _write(tmp_path / "log.csv", lines)
    code, stats, rejects = _preprocess(
        tmp_path, log, "--min-time", "2020-01-01", "--max-time", str(high), "--split", "none"
    )
    assert code == 0
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (2, "time_out_of_range"),
        (6, "time_out_of_range"),
        (7, "time_out_of_range"),
    ]
    assert stats["rows"]["rows_kept"] == 3 and stats["rows"]["rejected_by_reason"] == {"time_out_of_range": 3}
    assert stats["files"]["time_range"] == {"min": "2020-01-01T00:00:00Z", "max": "2021-01-01T00:00:00Z"}
    _assert_balanced(stats)
    # bounds far in the past: small made-up times are accepted
    code, stats, rejects = _preprocess(
        tmp_path,
        _write(tmp_path / "small.csv", ["user_id,item_id,timestamp", "u1,a,1", "u1,b,2", "u1,c,3"]),
        "--min-time",
        "0",
        name="small",
    )
    assert code == 0 and rejects == [] and stats["rows"]["rows_kept"] == 3


def test_bad_time_range_flags_are_clear_errors(tmp_path, capsys):
    log = _write(tmp_path / "log.csv", ["user_id,item_id,timestamp"] + _three_users())
    code, _, _ = _preprocess(tmp_path, log, "--min-time", "2021-01-01", "--max-time", "2020-01-01")
    assert code == 2 and "is after max_time" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["preprocess", "--input", str(log), "--output-dir", str(tmp_path / "x"), "--min-time", "someday"])
    assert "not a number or ISO-8601 time" in capsys.readouterr().err


def test_order_columns_and_inputs_without_times_are_not_checked(tmp_path):
    log = _write(tmp_path / "ordered.csv", ["user_id,item_id,seq_pos", "u1,a,2", "u1,b,0", "u1,c,1", "u1,d,-5"])
    code, stats, rejects = _preprocess(tmp_path, log, "--order-col", "seq_pos", name="ordered")
    assert code == 0 and rejects == [] and stats["rows"]["rows_kept"] == 4
    assert stats["files"]["time_range"] is None
    _, rows, _ = _reader_rows(_write(tmp_path / "seq.txt", ["1 5 6 7"]))
    assert [r.item for r in rows] == ["5", "6", "7"]


# ------------------------------------------------------------------------------------------------ ids


def test_million_character_ids_are_rejected(tmp_path):
    huge = "x" * 1_000_000
    lines = (
        ["user_id,item_id,timestamp"]
        + _three_users()
        + [f"u1,{huge},{T0 + 9}", f"{huge},a,{T0 + 9}", f"u3,{'y' * 256},{T0}", f"u3,{'z' * 257},{T0}"]
    )
    log = _write(tmp_path / "log.csv", lines)
    code, stats, rejects = _preprocess(tmp_path, log, "--split", "none")
    assert code == 0
    assert stats["rows"]["rows_read"] == 10 and stats["rows"]["rejected_by_reason"] == {"id_too_long": 3}
    assert stats["rows"]["rows_kept"] == 7
    _assert_balanced(stats)
    assert [(r["line"], r["reason"]) for r in rejects] == [(8, "id_too_long"), (9, "id_too_long"), (11, "id_too_long")]
    assert "the item id has 1,000,000 characters, more than --max-id-length 256" == rejects[0]["detail"]
    assert rejects[1]["detail"].startswith("the user id has 1,000,000 characters")
    assert len(rejects[0]["text"]) == 500  # the text is kept, cut to 500 characters
    code, stats, rejects = _preprocess(tmp_path, log, "--split", "none", "--max-id-length", "1000000", name="longer")
    assert code == 0 and rejects == [] and stats["rows"]["rows_kept"] == 10


def test_quoted_field_beyond_the_csv_field_limit_is_a_counted_reject(tmp_path):
    log = _write(tmp_path / "log.csv", ["user_id,item_id", "u1,a", f'u1,"{"q" * 1_000_000}"', "u1,b"])
    _, rows, counts = _reader_rows(log)
    assert [r.item for r in rows if isinstance(r, Interaction)] == ["a", "b"]
    assert rows[1].reason == "bad_csv" and rows[1].line == 3 and "field larger than field limit" in rows[1].detail
    assert counts["rows_read"] == 3


# ----------------------------------------------------------------------------- pipeline vs reference


def test_broken_rows_agree_with_the_reference(tmp_path):
    from tests.beam_pipelines.test_reference_agreement import _config, run_and_compare

    lines = (
        [b"user_id,item_id,timestamp"]
        + [line.encode() for line in _three_users()]
        + [
            f"u1,Amélie,{T0 + 7}".encode("latin-1"),
            b"u2,d,-5",
            b"u2,e,1e30",
            f"u3,{'x' * 300},{T0}".encode(),
            f"u3,a,{T0}".encode(),
            f"u3,b,{T0 + 1}".encode(),
        ]
    )
    data = _write(tmp_path / "in" / "broken.csv", lines, prefix=BOM)
    ref, stats = run_and_compare(_config(data, tmp_path / "out", split=SplitConfig("leave_one_out")))
    assert ref.counts["rejected_by_reason"] == {"not_utf8": 1, "time_out_of_range": 2, "id_too_long": 1}
    assert ref.counts["rows_read"] == 12 and ref.counts["rows_kept"] == 8

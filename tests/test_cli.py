"""End-to-end CLI runs: help texts, generate, preprocess on good and bad input, stats, demo."""

import json
import subprocess
import sys

import pytest

from tfseqrec.cli import main

FAST = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _preprocess(tmp_path, *args, name="out"):
    out = tmp_path / name
    code = main(["preprocess", "--output-dir", str(out), *map(str, args), *FAST])
    return code, out


def _stats(out):
    return json.loads((out / "stats.json").read_text())


def _rejects(out):
    lines = []
    for path in sorted(out.glob("rejects-*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line]
    return lines


@pytest.mark.parametrize("command", ["preprocess", "stats", "generate", "demo"])
def test_every_command_has_help_with_defaults(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "usage: tfseqrec " + command in text
    if command != "stats":
        assert "(default:" in text


def test_top_level_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "tfseqrec.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("preprocess", "stats", "generate", "demo"):
        assert command in out.stdout


def test_generate_preprocess_stats_round_trip(tmp_path, capsys):
    log = tmp_path / "log.csv"
    assert main(["generate", "--output", str(log), "--num-users", "60", "--num-items", "80", "--seed", "3"]) == 0
    assert "first-order transitions" in capsys.readouterr().out
    rows = len(log.read_text().splitlines()) - 1
    code, out = _preprocess(tmp_path, "--input", log, "--event-col", "event_type", "--max-len", "10")
    assert code == 0
    stats = _stats(out)
    assert stats["rows"]["rows_read"] == rows and stats["rows"]["balanced"]
    assert stats["users"] == 60 and stats["splits"]["test"]["records"] == 60
    spec = json.loads((out / "feature_spec.json").read_text())
    assert spec["event_types"] == ["cart", "click", "purchase"]
    assert spec["splits"]["valid"]["num_targets"] == 60
    capsys.readouterr()
    assert main(["stats", str(out), "--plot", str(tmp_path / "s.png")]) == 0
    printed = capsys.readouterr().out
    assert f"rows read {rows:,} = kept" in printed and "users 60" in printed
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_bad_rows_go_to_rejects_and_are_counted(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text(
        "user_id,item_id,timestamp\n"
        "u1,a,1\nu1,b,2\nu1,c,3\n"
        "u1,d\n"  # truncated line
        "u2,a,4,9\n"  # too many fields
        "u2,b,yesterday\n"  # non-numeric timestamp
        ",c,5\n"  # empty user
        "u2,c,6\nu2,a,7\nu2,b"
    )  # last line truncated mid-row
    code, out = _preprocess(tmp_path, "--input", log, "--min-time", "0")  # times 1-7: seconds after the epoch
    assert code == 0
    stats = _stats(out)
    assert stats["rows"]["rows_read"] == 10
    assert stats["rows"]["rejected_by_reason"] == {"wrong_field_count": 3, "bad_timestamp": 1, "empty_field": 1}
    assert stats["rows"]["rows_kept"] == 5 and stats["rows"]["balanced"]
    rejects = _rejects(out)
    assert sorted((r["line"], r["reason"]) for r in rejects) == [
        (5, "wrong_field_count"),
        (6, "wrong_field_count"),
        (7, "bad_timestamp"),
        (8, "empty_field"),
        (11, "wrong_field_count"),
    ]
    assert all(r["file"] == str(log) for r in rejects)
    assert any(r["text"] == "u2,b,yesterday" for r in rejects)


def test_unknown_column_is_a_clear_error(tmp_path, capsys):
    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id,timestamp\nu1,a,1\n")
    code, out = _preprocess(tmp_path, "--input", log, "--time-col", "when")
    assert code == 2
    err = capsys.readouterr().err
    assert "error: " in err and "column 'when' (--time-col) is not in the header" in err and "Traceback" not in err
    assert not (out / "stats.json").exists()


def test_empty_input_and_mixed_directory_are_clear_errors(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "empty.csv").write_text("")
    code, _ = _preprocess(tmp_path, "--input", tmp_path / "data")
    assert code == 2 and "every input file is empty" in capsys.readouterr().err
    (tmp_path / "data" / "log.dat").write_text("1::2::3::4\n")
    code, _ = _preprocess(tmp_path, "--input", tmp_path / "data")
    err = capsys.readouterr().err
    assert code == 2 and "mixes formats" in err and "empty.csv" in err and "log.dat" in err


def test_directory_with_an_empty_file_counts_it(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("user_id,item_id,timestamp\nu1,a,1\nu1,b,2\nu1,c,3\n")
    (tmp_path / "data" / "b.csv").write_text("")
    code, out = _preprocess(tmp_path, "--input", tmp_path / "data", "--min-time", "0")
    stats = _stats(out)
    assert code == 0 and stats["files"]["read"] == 2 and stats["files"]["empty"] == 1
    assert stats["rows"]["rows_read"] == 3 and stats["rows"]["balanced"]


def test_output_dir_is_not_silently_mixed(tmp_path, capsys):
    log = tmp_path / "log.txt"
    log.write_text("u1 a b c\nu2 a c b\n")
    assert _preprocess(tmp_path, "--input", log)[0] == 0
    code, _ = _preprocess(tmp_path, "--input", log)
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    assert _preprocess(tmp_path, "--input", log, "--overwrite")[0] == 0


def test_split_needing_time_without_time_column(tmp_path, capsys):
    log = tmp_path / "log.txt"
    log.write_text("u1 a b c\n")
    code, _ = _preprocess(tmp_path, "--input", log, "--split", "session")
    assert code == 2 and "needs a time column" in capsys.readouterr().err


def test_kcore_not_converged_fails_with_advice(tmp_path, capsys):
    log = tmp_path / "log.txt"
    log.write_text("u1 x x\nu2 x y\nu3 y z\n")
    code, _ = _preprocess(
        tmp_path, "--input", log, "--item-min-count", "2", "--user-min-count", "2", "--kcore-max-rounds", "1"
    )
    assert code == 3 and "--kcore-max-rounds" in capsys.readouterr().err


def test_beam_options_pass_through_and_bad_options_are_rejected(tmp_path, capsys):
    log = tmp_path / "log.txt"
    log.write_text("u1 a b c\n")
    code, out = _preprocess(tmp_path, "--input", log, "--num-shards", "2")
    assert code == 0 and len(list(out.glob("train-*-of-00002.tfrecord"))) == 2
    with pytest.raises(SystemExit):
        main(["preprocess", "--input", str(log), "--output-dir", str(tmp_path / "x"), "stray"])


def test_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--output-dir", str(tmp_path / "demo"), "--num-users", "300", "--epochs", "2", *FAST]) == 0
    printed = capsys.readouterr().out
    assert "[5/6]" in printed and "[6/6]" in printed and "DOES NOT BALANCE" not in printed
    assert "SASRec (full CE)" in printed and "most popular" in printed
    compared = printed.split("[5/6]", 1)[1].split("[6/6]", 1)[0]
    assert ("beats item transitions" in compared) != ("item transitions matches or beats" in compared)
    assert (tmp_path / "demo" / "sasrec" / "run.json").exists()
    # [6/6]: exported, served and queried over gRPC: ten ranked items after the user's history
    served = printed.split("[6/6]", 1)[1]
    assert "served top-10 (sasrec_demo_scann, gRPC Client.recommend)" in served and " 10. " in served
    assert "held-out next item" in served and "sasrec_demo_brute_force (exact full ranking)" in served
    for variant in ("brute_force", "scann"):
        assert (tmp_path / "demo" / "saved_models" / f"sasrec_demo_{variant}" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "demo" / "saved_models" / "models.config").exists()
    assert (tmp_path / "demo" / "synthetic" / "feature_spec.json").exists()
    assert (tmp_path / "demo" / "otto" / "stats.json").exists()
    otto = _stats(tmp_path / "demo" / "otto")
    assert otto["rows"]["rows_read"] == 862 and otto["rows"]["balanced"]


def test_nothing_left_after_kcore_is_an_error_not_a_crash(tmp_path, capsys):
    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id,timestamp\nu1,a,1700000000\nu2,b,1700000001\n")
    code, out = _preprocess(tmp_path, "--input", log, "--item-min-count", "2", "--split", "session")
    assert code == 4 and "no rows were kept" in capsys.readouterr().err
    assert _stats(out)["rows"]["filtered_by_rule"] == {"kcore_item": 2}


def test_chunked_parallel_read_gives_identical_output(tmp_path):
    log = tmp_path / "log.csv"
    assert main(["generate", "--output", str(log), "--num-users", "40", "--seed", "5"]) == 0
    with open(log, "a", encoding="utf-8") as f:
        f.write("u1,bad\n\nu2,i1,notatime\n")
    whole = _preprocess(tmp_path, "--input", log, name="whole")[1]
    chunked = _preprocess(tmp_path, "--input", log, "--chunk-bytes", "997", name="chunked")[1]
    a, b = _stats(whole), _stats(chunked)
    assert a["rows"] == b["rows"] and a["rows"]["rows_rejected"] == 2
    assert sorted((r["line"], r["reason"]) for r in _rejects(whole)) == sorted(
        (r["line"], r["reason"]) for r in _rejects(chunked)
    )
    import tensorflow as tf

    def examples(out):
        return sorted(r.numpy() for p in sorted(out.glob("*.tfrecord")) for r in tf.data.TFRecordDataset(str(p)))

    assert examples(whole) == examples(chunked) and len(examples(whole)) == 120  # 40 users x 3 splits

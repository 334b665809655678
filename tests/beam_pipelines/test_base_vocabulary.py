"""A new time slice extends the earlier vocabulary (``--base-vocabulary``): earlier items keep their ids (with
this slice's counts, 0 when absent), new items are appended by count, the records use those ids, and the spec
names the base."""

import json
from pathlib import Path

from tests.beam_pipelines.records_io import read_output
from tests.conftest import FAST_BEAM
from tfseqrec.cli import main


def _log(path: Path, rows) -> Path:
    path.write_text("user_id,item_id,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in rows))
    return path


def _vocab(directory: Path) -> list:
    return [line.split("\t") for line in (directory / "vocab.tsv").read_text().splitlines()]


def test_a_later_slice_keeps_the_earlier_ids_and_appends_new_items(tmp_path, capsys):
    t = 1_700_000_000
    first = [
        ("u1", "a", t),
        ("u1", "b", t + 1),
        ("u1", "c", t + 2),
        ("u2", "a", t),
        ("u2", "b", t + 1),
        ("u2", "a", t + 5),
    ]
    second = [("u3", "c", t + 9), ("u3", "d", t + 10), ("u3", "e", t + 11), ("u4", "e", t + 9), ("u4", "c", t + 10),
              ("u4", "e", t + 12), ("u5", "b", t + 9), ("u5", "e", t + 10), ("u5", "c", t + 11)]  # fmt: skip
    old, new = tmp_path / "old", tmp_path / "new"
    assert (
        main(["preprocess", "--input", str(_log(tmp_path / "1.csv", first)), "--output-dir", str(old), *FAST_BEAM]) == 0
    )
    base = [item for item, _ in _vocab(old)[2:]]
    flags = ["--base-vocabulary", str(old), *FAST_BEAM]
    assert main(["preprocess", "--input", str(_log(tmp_path / "2.csv", second)), "--output-dir", str(new), *flags]) == 0
    vocab = _vocab(new)
    assert [item for item, _ in vocab[2 : 2 + len(base)]] == base  # the earlier ids, unchanged
    assert [item for item, _ in vocab[2 + len(base) :]] == ["e", "d"]  # by train count (d is only a target)
    counts = {item: int(n) for item, n in vocab[2:]}
    assert counts["a"] == 0  # absent from the new slice, kept with its id
    ids = {item: i for i, (item, _) in enumerate(vocab)}
    test = read_output(str(new))["test"]
    assert test["u3"]["item_ids"] == [ids["c"], ids["d"]] and test["u3"]["target_ids"] == [ids["e"]]
    spec = json.loads((new / "feature_spec.json").read_text())["vocabulary"]
    assert spec["base_size"] == len(base) + 2 and spec["base_file"] == str(old) and spec["size"] == len(vocab)

    (tmp_path / "bad.tsv").write_text("x\t1\n")
    assert main(["preprocess", "--input", str(tmp_path / "2.csv"), "--output-dir", str(tmp_path / "bad"),
                 "--base-vocabulary", str(tmp_path / "bad.tsv"), *FAST_BEAM]) == 2  # fmt: skip
    assert "not a tfseqrec vocab.tsv" in capsys.readouterr().err

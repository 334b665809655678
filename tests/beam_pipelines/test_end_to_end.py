"""`tfseqrec preprocess` end to end, read back with the library: item side features from log columns, gzip
records, and the default (multi-process) DirectRunner giving the same output as the in-memory runner."""

import json
from pathlib import Path

from tests.beam_pipelines.records_io import read_output, read_rejects, read_vocab
from tests.conftest import FAST_BEAM
from tfseqrec.cli import main
from tfseqrec.data import (
    SequenceBatchConfig,
    load_feature_spec,
    load_feature_vocabulary,
    load_item_feature_table,
    load_vocabulary,
    make_dataset,
)

T0 = 1_700_000_000


def _write_log(path: Path, lines) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _preprocess(log: Path, out: Path, *flags, beam_args=FAST_BEAM) -> dict:
    assert main(["preprocess", "--input", str(log), "--output-dir", str(out), *flags, *beam_args]) == 0
    return json.loads((out / "stats.json").read_text())


def _batches(spec, split: str) -> dict:
    """sequence_id -> (item ids oldest first, target ids) from make_dataset over the whole split."""
    out = {}
    config = SequenceBatchConfig(batch_size=4, padding="ragged")
    for batch in make_dataset(spec, split, config):
        items = batch["item_ids"].to_list()
        targets = batch["target_ids"].to_list() if "target_ids" in batch else [[]] * len(items)
        for sid, row, target in zip(batch["sequence_id"].numpy(), items, targets):
            out[sid.decode()] = (row, target)
    return out


def test_item_feature_cols_end_to_end(tmp_path):
    # brand of "a" is given twice as acme and once as other (most frequent wins), "b" ties (smallest wins),
    # "c" is never given one (OOV), "rare" is dropped by the item k-core (its values are counted, not kept).
    lines = [
        "user_id,item_id,timestamp,category,brand",
        f"u1,a,{T0},food,acme",
        f"u1,b,{T0 + 1},toys,zeta",
        f"u1,c,{T0 + 2},food,",
        f"u2,a,{T0 + 3},food,acme",
        f"u2,c,{T0 + 4},food,",
        f"u2,b,{T0 + 5},toys,beta",
        f"u3,b,{T0 + 6},toys,",
        f"u3,a,{T0 + 7},food,other",
        f"u3,c,{T0 + 8},food,",
        f"u3,rare,{T0 + 9},x,y",
    ]
    log = _write_log(tmp_path / "log.csv", lines)
    stats = _preprocess(log, tmp_path / "out", "--item-feature-cols", "category,brand", "--item-min-count", "2")
    assert stats["rows"]["balanced"] and stats["rows"]["filtered_by_rule"] == {"kcore_item": 1}
    spec = load_feature_spec(str(tmp_path / "out"))
    # train: u1 [a], u2 [a], u3 [b] -> ids a 2, b 3, c 4 (count 0: only a validation/test target)
    assert load_vocabulary(spec) == ["[PAD]", "[OOV]", "a", "b", "c"]
    assert [(n, f.source, f.max_values) for n, f in spec.item_features.features.items()] == [
        ("category", "interactions", 1),
        ("brand", "interactions", 1),
    ]
    # category: food (a: 2, c: 0) = 2, toys (b: 1) = 3; brand: acme (a) = 2, beta (b) = 3, c has none -> OOV
    assert load_feature_vocabulary(spec, "item", "category") == ["[PAD]", "[OOV]", "food", "toys"]
    assert load_feature_vocabulary(spec, "item", "brand") == ["[PAD]", "[OOV]", "acme", "beta"]
    category = load_item_feature_table(spec, "category")
    assert category.tolist() == [[0], [1], [2], [3], [2]]
    assert load_item_feature_table(spec, "brand").tolist() == [[0], [1], [2], [3], [1]]
    features = stats["side_features"]["item"]["features"]
    assert [(features[n]["covered"], features[n]["ids_not_in_vocabulary"]) for n in ("category", "brand")] == [
        (3, 1),
        (2, 1),
    ]
    # every item the records hold has its row: join the records read by make_dataset with the table
    records = _batches(spec, "test")
    assert sorted(records) == ["u1", "u2", "u3"]
    history, target = records["u2"]
    assert [category[i][0] for i in history + target] == [2, 2, 3]  # food, food, toys


def test_gzip_compression_end_to_end(tmp_path):
    lines = ["user_id,item_id,timestamp"] + [
        f"u{u},i{(u * 7 + k) % 11},{T0 + 10 * u + k}" for u in range(12) for k in range(3 + u % 4)
    ]
    log = _write_log(tmp_path / "log.csv", lines)
    _preprocess(log, tmp_path / "plain")
    stats = _preprocess(log, tmp_path / "gz", "--compression", "gzip", "--num-shards", "2")
    spec = load_feature_spec(str(tmp_path / "gz"))
    assert spec.compression == "GZIP"
    raw_spec = json.loads((tmp_path / "gz" / "feature_spec.json").read_text())
    assert raw_spec["compression"] == "GZIP"
    for split in ("train", "valid", "test"):
        assert raw_spec["splits"][split]["file_pattern"] == f"{split}-*.tfrecord.gz"
        files = sorted((tmp_path / "gz").glob(f"{split}-*"))
        assert [f.name for f in files] == [f"{split}-0000{k}-of-00002.tfrecord.gz" for k in range(2)]
        assert all(f.read_bytes()[:2] == b"\x1f\x8b" for f in files)  # gzip magic
    assert stats["splits"]["test"]["records"] == 12
    plain = _batches(load_feature_spec(str(tmp_path / "plain")), "test")
    compressed = _batches(spec, "test")
    assert len(compressed) == 12 and compressed == plain
    batch = next(iter(make_dataset(spec, "test", SequenceBatchConfig(batch_size=12, max_len=4))))
    assert batch["item_ids"].shape == (12, 4) and batch["target_id"].shape == (12,)
    assert read_output(str(tmp_path / "gz")) == read_output(str(tmp_path / "plain"))


def test_default_multi_process_runner_equals_in_memory_runner(tmp_path):
    lines = (
        ["user_id,item_id,timestamp,event_type"]
        + [
            f"u{u},i{(u * 5 + k * 3) % 17},{T0 + 100 * u + k // 2},{'click' if k % 3 else 'cart'}"
            for u in range(20)
            for k in range(2 + u % 5)
        ]
        + ["u1,bad", "u2,i1,soon,click"]
    )
    log = _write_log(tmp_path / "log.csv", lines)
    flags = ["--remove-repeats", "--max-len", "4"]
    default = _preprocess(log, tmp_path / "default", *flags, beam_args=[])
    in_memory = _preprocess(log, tmp_path / "in_memory", *flags)
    assert default["rows"] == in_memory["rows"] and default["rows"]["rows_rejected"] == 2
    for key in ("users", "sequences", "items", "interactions", "splits", "sequence_length", "item_popularity"):
        assert default[key] == in_memory[key], key
    assert read_output(str(tmp_path / "default")) == read_output(str(tmp_path / "in_memory"))
    assert read_vocab(str(tmp_path / "default")) == read_vocab(str(tmp_path / "in_memory"))
    assert read_rejects(str(tmp_path / "default")) == read_rejects(str(tmp_path / "in_memory"))

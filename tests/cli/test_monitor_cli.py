"""`tfseqrec monitor` end to end: traffic like the training data passes, shifted traffic (tail items, new
items, long histories) exits 1 naming each figure over its threshold, and bad input is refused clearly."""

import json

import numpy as np
import pytest

from tests.conftest import generated_dataset
from tfseqrec.cli import main
from tfseqrec.data.spec import load_feature_spec, load_item_counts, load_vocabulary
from tfseqrec.serving.monitoring import RequestLabels, RequestLog


def _log(path, histories):
    log = RequestLog(str(path), sample_rate=1.0)
    width = max(len(h) for h in histories)
    padded = np.array([[b""] * (width - len(h)) + [x.encode() for x in h] for h in histories], dtype=object)
    log.log(RequestLabels("REST", "sasrec", "1", "serving_default"), {"history": padded})
    log.close()


def test_drift_is_measured_against_the_training_split(tmp_path, capsys):
    data = generated_dataset(tmp_path, 300, 120, 4)
    spec = load_feature_spec(str(data))
    vocabulary, counts = load_vocabulary(spec), np.asarray(load_item_counts(spec), np.float64)
    rng = np.random.default_rng(0)
    ids = np.arange(len(vocabulary))
    reference_lengths = json.loads((data / "stats.json").read_text())["sequence_length"]["exact"]
    lengths = np.repeat([int(n) for n in reference_lengths], [int(c) for c in reference_lengths.values()])

    def like_training(n):  # items drawn by training popularity, lengths by the training lengths
        sizes = [min(int(rng.choice(lengths)) - 2, 50) for _ in range(n)]
        return [[vocabulary[i] for i in rng.choice(ids, size=size, p=counts / counts.sum())] for size in sizes]

    _log(tmp_path / "same.jsonl", like_training(400))
    out = tmp_path / "same"
    code = main(["monitor", "--data-dir", str(data), "--request-log", str(tmp_path / "same.jsonl"),
                 "--output-dir", str(out)])  # fmt: skip
    result = json.loads((out / "drift.json").read_text())
    assert code == 0 and result["exceeded"] == {}, result["figures"]
    assert result["counts"]["served_histories"] == 400 and result["figures"]["oov_rate"] == 0.0
    assert result["figures"]["popularity_psi"] < 0.1
    assert (out / "report.md").exists() and (out / "drift.png").stat().st_size > 0

    tail = [vocabulary[i] for i in np.argsort(counts)[:30] if counts[i] > 0]
    shifted = [[*rng.choice(tail, 110), *(f"brand_new_{i}" for i in range(10))] for _ in range(100)]
    _log(tmp_path / "shifted.jsonl", shifted)
    capsys.readouterr()
    code = main(["monitor", "--data-dir", str(data), "--request-log", str(tmp_path / "shifted.jsonl"),
                 "--output-dir", str(tmp_path / "shifted")])  # fmt: skip
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "shifted" / "drift.json").read_text())
    assert code == 1 and {"popularity_psi", "length_psi", "oov_rate"} <= set(result["exceeded"])
    assert result["figures"]["oov_rate"] == pytest.approx(10 / 120)
    assert "DRIFT: oov_rate" in printed and "DRIFT: popularity_psi" in printed
    assert "**exceeded**" in (tmp_path / "shifted" / "report.md").read_text()

    code = main(["monitor", "--data-dir", str(data), "--request-log", str(tmp_path / "none.jsonl")])
    assert code == 2 and "no such file" in capsys.readouterr().err
    code = main(["monitor", "--data-dir", str(data), "--request-log", str(tmp_path / "same.jsonl"), "--model", "x"])
    assert code == 2 and "no logged rows of model 'x'" in capsys.readouterr().err
    code = main(["monitor", "--data-dir", str(data), "--request-log", str(tmp_path / "same.jsonl"), "--split", "bad"])
    assert code == 2 and "has the splits" in capsys.readouterr().err

"""benchmarks/dropout.py: both variants train the same model, only the dropout layers' class differs."""

import pytest

from tests.conftest import generated_dataset
from tests.peer_scripts import load_benchmark_script


@pytest.fixture()
def dropout_benchmark():
    return load_benchmark_script("dropout")


def test_times_both_variants_of_a_tiny_bert4rec(dropout_benchmark, tmp_path, capsys):
    import tensorflow as tf

    from tfseqrec.models.dropout import FastDropout

    data = generated_dataset(tmp_path, num_users=150, num_items=80, seed=1)
    result = dropout_benchmark.main(
        ["--data-dir", str(data), "--max-len", "12", "--batch-size", "8", "--steps", "2", "--rounds", "1"]
    )
    out = capsys.readouterr().out
    assert "bert4rec, length 12, batch 8, 7 dropout layers" in out  # input + 2 blocks x (attention, 2 FFN)
    assert result["dropout_layers"] == 7 and result["speedup"] > 0
    assert set(result["seconds_per_step"]) == {"keras", "tfseqrec"}
    layer = FastDropout(0.5)
    dropout_benchmark.with_keras_dropout(tf.keras.Sequential([layer]))
    assert type(layer) is tf.keras.layers.Dropout
    with pytest.raises(ValueError, match="variant"):
        dropout_benchmark.compiled_step("bert4rec", 12, None, None, "other")

"""Mixed precision: the policy a config asks for, applied only during a run; float32 losses, scores and tests."""

import json

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import generated_dataset
from tests.models.test_contract import NUM_ITEMS, SMALL, _cyclic_batch
from tfseqrec.cli import main
from tfseqrec.models import available_models, build_model
from tfseqrec.training.config import TrainConfig
from tfseqrec.training.precision import float32_twin, keras_policy, resolve_policy


@pytest.mark.parametrize(
    "value, gpu, expected",
    [
        (False, True, "float32"),
        ("float32", True, "float32"),
        (True, True, "mixed_float16"),
        (True, False, "float32"),
        ("mixed_bfloat16", False, "mixed_bfloat16"),
        ("mixed_float16", False, "mixed_float16"),
    ],
)
def test_resolve_policy(value, gpu, expected):
    assert resolve_policy(value, gpu) == expected


def test_unknown_precision_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="mixed_precision='fp16'.*mixed_bfloat16"):
        TrainConfig(data_dir=str(tmp_path), mixed_precision="fp16")


def test_policy_is_restored_after_the_block_even_on_error():
    before = tf.keras.mixed_precision.global_policy().name
    with pytest.raises(RuntimeError):
        with keras_policy("mixed_bfloat16"):
            assert tf.keras.mixed_precision.global_policy().name == "mixed_bfloat16"
            raise RuntimeError("boom")
    assert tf.keras.mixed_precision.global_policy().name == before == "float32"


@pytest.mark.parametrize("name", available_models())
def test_every_model_trains_in_bfloat16_and_scores_in_float32(name):
    tf.keras.utils.set_random_seed(0)
    ids = _cyclic_batch(batch_size=32)
    with keras_policy("mixed_bfloat16"):
        model = build_model(name, dict(SMALL), NUM_ITEMS)
        assert model.encode(ids[:, 1:]).dtype == tf.bfloat16
        first = float(model.compute_loss({"item_ids": ids}))
        model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
        history = model.fit(tf.data.Dataset.from_tensors({"item_ids": ids}).repeat(40), epochs=1, verbose=0)
    assert model.item_embedding.embeddings.dtype == tf.float32  # variables stay float32
    assert np.isfinite(first) and history.history["loss"][-1] < first
    mixed_scores = model.score_all(ids[:, 1:])
    assert mixed_scores.dtype == tf.float32
    twin = float32_twin(model)
    assert twin is not model and twin.compute_dtype == "float32" and twin.encode(ids[:, 1:]).dtype == tf.float32
    # same weights: float32 scores agree with the bfloat16 encoder's up to its rounding (8 significant bits)
    twin_scores = twin.score_all(ids[:, 1:]).numpy()
    np.testing.assert_allclose(mixed_scores.numpy(), twin_scores, rtol=0.05, atol=0.05 * np.abs(twin_scores).max())
    assert float32_twin(twin) is twin


def test_float16_steps_scale_the_loss_and_unscale_the_gradients():
    """One SGD step under mixed_float16 (Keras adds a LossScaleOptimizer) moves the weights as in float32; a
    scaled but not unscaled gradient would move them 32,768 times further."""
    ids = _cyclic_batch(batch_size=16)
    steps = {}
    for policy in ("float32", "mixed_float16"):
        tf.keras.utils.set_random_seed(0)
        with keras_policy(policy):
            model = build_model("sasrec", dict(SMALL), NUM_ITEMS)
            model.build_for_inputs()
            if policy == "float32":
                initial = [w.numpy() for w in model.trainable_weights]
            else:
                for variable, value in zip(model.trainable_weights, initial):
                    variable.assign(value)
            model.compile(optimizer=tf.keras.optimizers.SGD(1.0))
            model.fit(tf.data.Dataset.from_tensors({"item_ids": ids}), epochs=1, verbose=0)
        steps[policy] = np.concatenate([(w.numpy() - w0).ravel() for w, w0 in zip(model.trainable_weights, initial)])
        if policy == "mixed_float16":
            assert isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    assert np.abs(steps["float32"]).max() > 1e-4
    np.testing.assert_allclose(steps["mixed_float16"], steps["float32"], atol=0.02 * np.abs(steps["float32"]).max())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generated_dataset(tmp_path_factory.mktemp("synthetic"), 300, 120, 1)


def test_cli_trains_in_bfloat16_and_tests_in_float32(dataset, tmp_path):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data-dir",
                str(dataset),
                "--model",
                "sasrec",
                "--output-dir",
                str(run),
                "--epochs",
                "2",
                "model_config.embedding_dim=16",
                "model_config.max_len=20",
                "verbose=0",
                "batch_size=64",
                "mixed_precision=mixed_bfloat16",
            ]
        )
        == 0
    )
    summary = json.loads((run / "run.json").read_text())
    assert summary["precision"] == {"policy": "mixed_bfloat16", "compute_dtype": "bfloat16", "test_dtype": "float32"}
    assert tf.keras.mixed_precision.global_policy().name == "float32"
    # `tfseqrec evaluate` rebuilds the model in float32 from the checkpoint: the same test metrics
    assert main(["evaluate", str(run), "--output-dir", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())["summary"]
    for key in ("HR@10", "NDCG@10", "MRR"):
        assert again[key] == pytest.approx(summary["test_metrics"][key], abs=1e-9)

"""Early stopping and best-weight restore inside ``tfseqrec.training.train``: a run whose validation metric stops
improving stops before its epoch budget, and ends (in memory, in its checkpoint and in its test metrics) with
the best epoch's weights, not the last epoch's.

The model trains and is ranked for real; only the validation NDCG@10 the trainer reads is scripted, so that the
epoch at which it stops improving is known in advance rather than an accident of the tiny data."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import generated_dataset
from tfseqrec.training import load_train_config, train
from tfseqrec.training.trainer import evaluate_run, load_trained_model

# Validation NDCG@10 after epochs 1..6: best at epoch 2, then 2 validations without improvement (patience 2)
# stop the run after epoch 4 of 6. A run that did not stop would go on to its best value at epoch 6.
SCRIPTED_NDCG = [0.10, 0.30, 0.20, 0.29, 0.50, 0.60]
BEST_EPOCH, STOPPED_AFTER, EPOCHS, PATIENCE = 2, 4, 6, 2


class WeightsPerEpoch(tf.keras.callbacks.Callback):
    """The model's weights at the end of every epoch (after that epoch's validation)."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def _same(left, right) -> bool:
    return len(left) == len(right) and all(np.array_equal(a, b) for a, b in zip(left, right))


@pytest.fixture
def scripted_validation(monkeypatch):
    """Runs the real evaluator and replaces the NDCG@10 of each validation by the next scripted value."""
    from tfseqrec.evaluation import evaluator

    real, script = evaluator.evaluate, iter(SCRIPTED_NDCG)

    def evaluate(score_fn, spec, config, **kwargs):
        result = real(score_fn, spec, config, **kwargs)
        if config.split == "valid":
            result.summary["NDCG@10"] = next(script)
        return result

    monkeypatch.setattr(evaluator, "evaluate", evaluate)


def test_training_stops_early_and_ends_with_the_best_epochs_weights(tmp_path, scripted_validation):
    data = generated_dataset(tmp_path / "data", 100, 80, 3)
    run = tmp_path / "run"
    cfg = load_train_config(
        overrides=[
            f"data_dir={data}",
            f"output_dir={run}",
            "model=sasrec",
            f"epochs={EPOCHS}",
            f"patience={PATIENCE}",
            "validation_metric=NDCG@10",
            "steps_per_epoch=2",
            "model_config.embedding_dim=8",
            "model_config.max_len=10",
            "model_config.num_blocks=1",
            "batch_size=32",
            "verbose=0",
        ]
    )
    per_epoch = WeightsPerEpoch()
    summary = train(cfg, callbacks=[per_epoch])

    assert (summary["epochs_run"], summary["stopped_by"], summary["best_epoch"]) == (
        STOPPED_AFTER,
        "early_stopping",
        BEST_EPOCH,
    )
    assert summary["best_valid_NDCG@10"] == SCRIPTED_NDCG[BEST_EPOCH - 1]
    assert [h["NDCG@10"] for h in summary["validation_history"]] == SCRIPTED_NDCG[:STOPPED_AFTER]
    assert len(per_epoch.weights) == STOPPED_AFTER

    best, last = per_epoch.weights[BEST_EPOCH - 1], per_epoch.weights[-1]
    assert not _same(best, last)  # training moved the weights after the best epoch
    assert _same(per_epoch.model.get_weights(), best)  # restored at the end of training
    checkpointed, _, _ = load_trained_model(str(run))
    assert _same(checkpointed.get_weights(), best)
    # The test metrics in run.json are those of the restored weights: scoring the checkpoint again agrees.
    again = evaluate_run(str(run), output_dir=str(tmp_path / "again"), verbose=False).summary
    for metric in ("HR@10", "NDCG@10", "MRR"):
        assert summary["test_metrics"][metric] == pytest.approx(again[metric], rel=1e-6)

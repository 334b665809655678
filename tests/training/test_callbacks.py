"""Training callbacks: the wall-clock budget stops ``model.fit`` at an epoch end."""

import numpy as np
import pytest
import tensorflow as tf

from tfseqrec.training.callbacks import TimeBudget
from tfseqrec.training.config import load_train_config


def _tiny_model():
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_time_budget_stops_after_the_epoch_that_exhausts_it():
    x, y = np.zeros((8, 2), np.float32), np.zeros((8, 1), np.float32)
    budget = TimeBudget(minutes=1e-9, verbose=0)
    history = _tiny_model().fit(x, y, epochs=5, callbacks=[budget], verbose=0)
    assert budget.exhausted and len(history.history["loss"]) == 1


def test_generous_time_budget_does_not_stop():
    x, y = np.zeros((8, 2), np.float32), np.zeros((8, 1), np.float32)
    budget = TimeBudget(minutes=60, verbose=0)
    history = _tiny_model().fit(x, y, epochs=3, callbacks=[budget], verbose=0)
    assert not budget.exhausted and len(history.history["loss"]) == 3


def test_time_budget_must_be_positive():
    with pytest.raises(ValueError, match="time_budget_minutes"):
        load_train_config(data_dir="x", time_budget_minutes=0)

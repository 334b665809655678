"""The loss registry: lookup by name, per-loss config classes, flat dicts, and a loss registered from outside."""

import dataclasses

import numpy as np
import pytest

import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

from tfseqrec.tasks import LossConfig, NextItemLoss, NextItemTask, available_losses, get_loss_class, register_loss
from tfseqrec.tasks import registry
from tfseqrec.tasks.pairwise_losses import BPRMax, BPRMaxConfig
from tfseqrec.tasks.sigmoid_losses import GBCEConfig, SigmoidLossConfig

V = 12


def test_builtin_losses_and_their_config_classes():
    assert {"full_ce", "sampled_softmax", "bce", "gbce", "bpr_max", "top1_max", "in_batch"} <= set(available_losses())
    assert get_loss_class("bpr_max") is BPRMax and BPRMax.name == "bpr_max" and BPRMax.config_class is BPRMaxConfig
    assert type(LossConfig()) is LossConfig and type(LossConfig("top1_max")) is LossConfig
    assert type(LossConfig(name="bce")) is SigmoidLossConfig
    config = LossConfig(name="gbce", num_negatives=8, gbce_t=0.5)
    assert type(config) is GBCEConfig and isinstance(config, LossConfig)
    assert config == GBCEConfig(name="gbce", num_negatives=8, gbce_t=0.5)
    assert config.to_dict() == {
        **LossConfig(name="sampled_softmax").to_dict(),
        "name": "gbce",
        "num_negatives": 8,
        "logit_offset": None,
        "gbce_t": 0.5,
    }


def test_unknown_names_and_fields_say_what_to_do():
    with pytest.raises(
        ValueError,
        match=r"unknown loss 'hinge'; available: bce, .*register_loss\('hinge'\).*"
        r"plugins:.*'tfseqrec.losses'",
    ):
        LossConfig(name="hinge")
    with pytest.raises(ValueError, match="loss 'full_ce' has no field.*gbce_t.*its fields are"):
        LossConfig(gbce_t=0.5)
    with pytest.raises(ValueError, match="'gbce' is configured by GBCEConfig, not SigmoidLossConfig"):
        dataclasses.replace(LossConfig(name="bce"), name="gbce")


def test_flat_dicts_load_and_another_loss_s_value_is_refused():
    # a dict listing every built-in loss's fields at their defaults (e.g. a run.json) loads
    every_field = {**LossConfig().to_dict(), "gbce_t": 0.75, "bpr_reg": 1.0, "logit_offset": None}
    assert LossConfig.from_dict(every_field) == LossConfig()
    assert LossConfig.from_dict({**every_field, "name": "bpr_max", "bpr_reg": 1.95}) == LossConfig(
        name="bpr_max", bpr_reg=1.95
    )
    with pytest.raises(ValueError, match=r"Unknown LossConfig keys \['gbce_t'\] for loss 'full_ce'"):
        LossConfig.from_dict({"name": "full_ce", "gbce_t": 0.9})
    # called on any config class, the dict's name decides
    assert type(SigmoidLossConfig.from_dict({"name": "gbce", "gbce_t": 0.9})) is GBCEConfig


def test_model_config_builds_the_loss_s_own_config_class():
    from tfseqrec.models import build_model

    model = build_model(
        "sasrec",
        {"max_len": 5, "embedding_dim": 8, "loss": {"name": "bpr_max", "num_negatives": 4, "bpr_reg": 1.5}},
        20,
    )
    assert model.config.loss == LossConfig(name="bpr_max", num_negatives=4, bpr_reg=1.5)
    assert isinstance(model.task.loss, BPRMax) and model.task.loss.config.bpr_reg == 1.5
    assert model.config.to_dict()["loss"]["bpr_reg"] == 1.5  # run.json keeps the flat shape


@dataclasses.dataclass(frozen=True)
class ScaledConfig(LossConfig):
    scale: float = 1.0


class MeanSquaredScore(NextItemLoss):
    """A catalogue-wide toy loss: ``scale * (mean over items of s^2 - 2 s+)``, ``[N]``."""

    def per_example(self, queries, targets, item_embeddings, item_bias=None):
        scores = tf.matmul(queries, item_embeddings, transpose_b=True)  # [N, V]
        positive = tf.gather(scores, targets, batch_dims=1)
        return self.config.scale * (tf.reduce_mean(tf.square(scores), axis=-1) - 2.0 * positive)


def test_a_registered_loss_is_built_once_and_computes_the_task_s_loss(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # the registration ends with the test
    register_loss("mean_squared_score", ScaledConfig)(MeanSquaredScore)
    with pytest.raises(ValueError, match="already registered to MeanSquaredScore"):
        register_loss("mean_squared_score")(type("Other", (NextItemLoss,), {}))
    with pytest.raises(TypeError, match="NextItemLoss subclass"):
        register_loss("not_a_loss")(object)
    config = LossConfig.from_dict({"name": "mean_squared_score", "scale": 2.0})
    assert type(config) is ScaledConfig and config.effective_num_negatives == 0
    with pytest.raises(ValueError, match="num_negatives applies to the losses that sample negatives"):
        LossConfig(name="mean_squared_score", num_negatives=3)
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(2, 3, 4)).astype(np.float32)
    targets = np.array([[0, 3, 5], [7, 1, 2]])  # PAD and OOV dropped: 4 kept positions
    table = rng.normal(size=(V, 4)).astype(np.float32)
    task = NextItemTask(config, num_items=V)
    assert isinstance(task.loss, MeanSquaredScore) and task.loss.num_items == V
    keep = targets >= 2
    scores = queries[keep] @ table.T
    expected = 2.0 * (np.mean(scores**2, axis=1) - 2.0 * scores[np.arange(4), targets[keep]]).mean()
    np.testing.assert_allclose(task(queries, targets, table), expected, rtol=1e-5)
    assert NextItemTask.from_config(task.get_config()).loss_config == config

"""CL4SRec: the shared contract, loss = next-item loss + lambda * InfoNCE, the [MASK] row, configs."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.models import test_contract as contract
from tfseqrec.models import build_model, get_model_class
from tfseqrec.models.cl4srec import CL4SRec, CL4SRecConfig
from tfseqrec.models.sasrec import SASRecConfig
from tfseqrec.tasks.contrastive import InfoNCE

NUM_ITEMS = contract.NUM_ITEMS
SMALL = contract.SMALL
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _model(**overrides):
    tf.keras.utils.set_random_seed(0)
    return build_model("cl4srec", {**SMALL, "augmentation_seed": 1, **overrides}, NUM_ITEMS)


# -- the contract every architecture keeps (the same checks as tests/models/test_contract.py) ----------
def test_registered_and_keeps_the_contract(tmp_path):
    assert get_model_class("cl4srec") == (CL4SRec, CL4SRecConfig)
    contract.test_shapes_and_scores("cl4srec")
    contract.test_no_position_sees_the_future("cl4srec")
    contract.test_config_and_weights_round_trip("cl4srec", tmp_path)


def test_learns_a_deterministic_sequence_to_hr_at_1():
    contract.test_learns_a_deterministic_sequence_to_hr_at_1("cl4srec")  # lambda = 0.1, all augmentations


# -- vocabulary: [MASK] = V is an input row only ------------------------------------------------------
def test_mask_token_is_an_input_row_not_an_output():
    model = _model(contrastive_weight=0.5)
    ids = contract._cyclic_batch()
    model.build_for_inputs()
    assert model.mask_token_id == NUM_ITEMS
    assert model.item_embedding.embeddings.shape == (NUM_ITEMS + 1, SMALL["embedding_dim"])
    assert model.item_embeddings().shape == (NUM_ITEMS, SMALL["embedding_dim"])
    assert model.score_all(ids[:, 1:]).shape == (16, NUM_ITEMS)
    masked = tf.where(ids[:, 1:] == 5, tf.constant(NUM_ITEMS, tf.int64), ids[:, 1:])
    assert np.isfinite(model.encode(masked).numpy()).all()

    def mask_row_gradient(m):
        with tf.GradientTape() as tape:
            loss = m.compute_loss({"item_ids": ids}, training=True)
        grad = tf.convert_to_tensor(tape.gradient(loss, m.item_embedding.embeddings))
        return np.abs(grad.numpy()[NUM_ITEMS]).sum()

    assert mask_row_gradient(model) > 0  # trained by the contrastive views only
    assert mask_row_gradient(_model(contrastive_weight=0.0)) == 0


# -- the loss ------------------------------------------------------------------------------------------
def test_loss_is_next_item_loss_plus_weighted_infonce():
    weight = 0.7
    model = _model(contrastive_weight=weight, tau=0.5)
    ids = contract._cyclic_batch()
    model.build_for_inputs()
    model.augmentation_rng.reset_from_seed(5)
    total = model.compute_loss({"item_ids": ids}).numpy()
    next_item = super(CL4SRec, model).compute_loss({"item_ids": ids}).numpy()
    model.augmentation_rng.reset_from_seed(5)  # the same two views
    contrastive = model.contrastive_loss(ids[:, :-1]).numpy()
    assert contrastive > 0
    assert total == pytest.approx(next_item + weight * contrastive, rel=1e-6)

    # the contrastive term by hand: InfoNCE of the last states of the two views of the histories
    seed = tf.constant([3, 4], tf.int64)
    view_a, view_b = model.augment(ids[:, :-1], seed)
    assert (view_a.numpy() != view_b.numpy()).any()
    assert (view_a.numpy() == NUM_ITEMS).any() or (view_b.numpy() == NUM_ITEMS).any()
    expected = InfoNCE(0.5)(model.encode(view_a)[:, -1], model.encode(view_b)[:, -1]).numpy()
    assert model.contrastive_loss(ids[:, :-1], seed=seed).numpy() == pytest.approx(expected, rel=1e-5)

    # fresh views at every call (the generator advances); a seeded model repeats its stream
    assert model.contrastive_loss(ids[:, :-1]).numpy() != model.contrastive_loss(ids[:, :-1]).numpy()
    again = _model(contrastive_weight=weight, tau=0.5)
    again.build_for_inputs()
    again.set_weights(model.get_weights())
    for m in (model, again):
        m.augmentation_rng.reset_from_seed(9)
    assert model.compute_loss({"item_ids": ids}).numpy() == again.compute_loss({"item_ids": ids}).numpy()


def test_zero_weight_is_sasrec_with_the_same_weights():
    model = _model(contrastive_weight=0.0)
    ids = contract._cyclic_batch()
    model.build_for_inputs()
    sasrec_fields = {f.name for f in dataclasses.fields(SASRecConfig)}
    sasrec_config = {k: v for k, v in model.config.to_dict().items() if k in sasrec_fields}
    sasrec = build_model("sasrec", sasrec_config, NUM_ITEMS).build_for_inputs()
    sasrec.item_embedding.embeddings.assign(model.item_embeddings())  # the first V rows
    for mine, theirs in zip(
        [model.position_embedding, *model.blocks, model.final_norm],
        [sasrec.position_embedding, *sasrec.blocks, sasrec.final_norm],
    ):
        theirs.set_weights(mine.get_weights())
    inputs = {"item_ids": ids}
    assert model.compute_loss(inputs).numpy() == pytest.approx(sasrec.compute_loss(inputs).numpy(), rel=1e-6)
    np.testing.assert_allclose(
        model.score_all(ids[:, 1:]).numpy(), sasrec.score_all(ids[:, 1:]).numpy(), rtol=1e-5, atol=1e-5
    )


def test_rows_without_items_are_left_out():
    model = _model(contrastive_weight=1.0)
    ids = contract._cyclic_batch().numpy()
    ids[3] = 0
    history = tf.constant(ids[:, :-1])
    seed = tf.constant([1, 2], tf.int64)
    with_empty = model.contrastive_loss(history, seed=seed).numpy()
    view_a, view_b = model.augment(history, seed)
    keep = [r for r in range(16) if r != 3]
    states_a = tf.gather(model.encode(view_a)[:, -1], keep)
    states_b = tf.gather(model.encode(view_b)[:, -1], keep)
    assert with_empty == pytest.approx(InfoNCE()(states_a, states_b).numpy(), rel=1e-5)


# -- configuration ---------------------------------------------------------------------------------------
def test_config_defaults_validation_and_yaml():
    config = CL4SRecConfig()
    assert (config.contrastive_weight, config.tau, config.similarity) == (0.1, 1.0, "dot")
    assert (config.crop_eta, config.mask_gamma, config.reorder_beta) == (0.6, 0.3, 0.6)
    model = build_model("cl4srec", {**SMALL, "augmentations": ["mask", "crop"]}, NUM_ITEMS)
    assert model.config.augmentations == ("mask", "crop")
    assert model.augmentation.operations == ("mask", "crop")
    for bad in (
        {"contrastive_weight": -1.0},
        {"tau": 0},
        {"similarity": "l2"},
        {"crop_eta": 0.0},
        {"mask_gamma": 1.5},
        {"augmentations": []},
        {"augmentations": ["drop"]},
        {"augmentation_seed": "x"},
    ):
        with pytest.raises(ValueError):
            CL4SRecConfig(**bad)

    from tfseqrec.training.config import load_train_config

    cl = load_train_config(str(CONFIGS / "cl4srec_beauty.yaml"), data_dir="unused")
    base = load_train_config(str(CONFIGS / "sasrec_beauty.yaml"), data_dir="unused")
    assert cl.model == "cl4srec" and cl.model_config["contrastive_weight"] == 0.1
    same_budget = {k: v for k, v in cl.to_dict().items() if k not in ("model", "model_config")}
    assert same_budget == {k: v for k, v in base.to_dict().items() if k not in ("model", "model_config")}
    assert {k: v for k, v in cl.model_config.items() if k in base.model_config} == base.model_config
    built = build_model(cl.model, {**cl.model_config, "max_len": 4, "embedding_dim": 8}, NUM_ITEMS)
    assert isinstance(built, CL4SRec) and built.config.loss.name == "full_ce"

"""BERT4Rec: cloze masking, the mask token outside the output layer, bidirectional states, the cloze loss,
learning a toy cycle with last-position masking, serialisation, registry, and no held-out items in training."""

import json
import os

import numpy as np
import pytest

import tfseqrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf

import tfseqrec.models.bert4rec  # noqa: F401  (registers "bert4rec")
from tfseqrec.models import available_models, build_model
from tfseqrec.models.base import SequentialRecommender
from tfseqrec.models.bert4rec import BERT4Rec, BERT4RecConfig
from tfseqrec.models.masking import ClozeMasking, LastPositionMasking, mask_last_item

NUM_ITEMS = 14  # 0 = PAD, 1 = OOV, real items 2..13; the mask token is 14
MASK = NUM_ITEMS
CYCLE = 12  # the toy sequence 2 -> 3 -> ... -> 13 -> 2
SMALL = {"embedding_dim": 16, "max_len": 8, "dropout": 0.0}


def _model(**overrides):
    tf.keras.utils.set_random_seed(0)
    return build_model("bert4rec", {**SMALL, **overrides}, NUM_ITEMS)


def _next(item, step=1):
    return (item - 2 + step) % CYCLE + 2


def _cyclic_batch(batch_size=64, length=9, seed=0):
    """Left-padded rows of the cycle with random starts and lengths (3 .. length)."""
    rng = np.random.default_rng(seed)
    rows = np.zeros([batch_size, length], np.int64)
    for r in range(batch_size):
        n = rng.integers(3, length + 1)
        start = rng.integers(0, CYCLE)
        rows[r, length - n :] = [_next(2, start + i) for i in range(n)]
    return rows


ROWS = np.array(
    [
        [0, 0, 0, 2, 3, 4, 5, 6, 7, 8],
        [0, 0, 0, 0, 0, 0, 0, 0, 9, 10],
        [2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 5, 1, 6, 1, 7, 1],  # OOV (1) is never masked
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 12],
    ],
    np.int64,
)


# -- masking layers -------------------------------------------------------------------------------


def test_cloze_masking_masks_only_real_items_with_a_fixed_count_per_row():
    layer = ClozeMasking(0.2, MASK, seed=7)
    masked, targets = (t.numpy() for t in layer(tf.constant(ROWS), training=True))
    assert masked.shape == targets.shape == ROWS.shape and masked.dtype == targets.dtype == np.int64
    chosen = targets > 0
    assert not chosen[ROWS < 2].any()  # never padding nor OOV
    np.testing.assert_array_equal(targets[chosen], ROWS[chosen])  # targets are the original items
    np.testing.assert_array_equal(masked[chosen], MASK)  # default: always the mask token
    np.testing.assert_array_equal(masked[~chosen], ROWS[~chosen])  # everything else untouched
    real = (ROWS >= 2).sum(axis=1)
    expected = np.where(real > 0, np.minimum(real, np.maximum(1, np.round(real * 0.2))), 0)
    np.testing.assert_array_equal(chosen.sum(axis=1), expected)  # at least one per row with an item
    assert expected.tolist() == [1, 1, 2, 0, 1, 1]

    again = ClozeMasking(0.2, MASK, seed=7)(tf.constant(ROWS), training=True)  # same seed, same masks
    np.testing.assert_array_equal(again[0].numpy(), masked)
    same, zeros = layer(tf.constant(ROWS), training=False)  # identity outside training
    np.testing.assert_array_equal(same.numpy(), ROWS)
    np.testing.assert_array_equal(zeros.numpy(), 0)


def test_cloze_masking_spreads_masks_and_supports_bert_replacements_and_last_only_rows():
    rows = np.tile(np.arange(2, 42, dtype=np.int64), [500, 1])  # 500 rows of 40 real items
    layer = ClozeMasking(0.5, 100, seed=1, mask_token_prob=0.8, random_token_prob=0.1, num_items=100)
    masked, targets = (t.numpy() for t in layer(tf.constant(rows), training=True))
    chosen = targets > 0
    np.testing.assert_array_equal(chosen.sum(axis=1), 20)
    assert 0.45 < chosen.mean(axis=0).min() and chosen.mean(axis=0).max() < 0.55  # uniform over columns
    as_mask = (masked == 100) & chosen
    kept = (masked == rows) & chosen
    random = chosen & ~as_mask & ~kept
    assert abs(as_mask.sum() / chosen.sum() - 0.8) < 0.02
    assert abs((kept | random).sum() / chosen.sum() - 0.2) < 0.02  # kept also holds random draws of the same id
    assert masked[random].min() >= 2 and masked[random].max() < 100
    np.testing.assert_array_equal(targets[chosen], rows[chosen])

    last_only = ClozeMasking(0.2, MASK, seed=3, mask_last_prob=1.0)
    masked, targets = (t.numpy() for t in last_only(tf.constant(ROWS), training=True))
    expected_masked, expected_targets = (t.numpy() for t in mask_last_item(tf.constant(ROWS), MASK))
    np.testing.assert_array_equal(masked, expected_masked)
    np.testing.assert_array_equal(targets, expected_targets)
    assert expected_targets[4].tolist() == [0] * 8 + [7, 0]  # the last real item, not the trailing OOV

    clone = ClozeMasking.from_config(layer.get_config())
    assert (clone.mask_prob, clone.mask_token_prob, clone.random_token_prob, clone.seed) == (0.5, 0.8, 0.1, 1)
    for bad in ({"mask_prob": 0.0}, {"mask_token_prob": 0.8, "random_token_prob": 0.3}, {"mask_last_prob": 2}):
        with pytest.raises(ValueError):
            ClozeMasking(**{"mask_prob": 0.2, "mask_token_id": MASK, **bad})


def test_last_position_masking_appends_the_mask_and_drops_the_oldest_item():
    full = LastPositionMasking(MASK, max_len=4)(tf.constant([[2, 3, 4, 5, 6], [0, 0, 0, 7, 8]])).numpy()
    np.testing.assert_array_equal(full, [[4, 5, 6, MASK], [0, 7, 8, MASK]])
    short = LastPositionMasking(MASK, max_len=8)(tf.constant([[0, 2, 3]])).numpy()
    np.testing.assert_array_equal(short, [[0, 2, 3, MASK]])


# -- model ----------------------------------------------------------------------------------------


def test_mask_token_is_in_the_input_table_but_never_scored():
    model = _model()
    ids = tf.constant(ROWS[:, 2:])
    scores = model.score_all(ids)
    assert model.mask_token_id == NUM_ITEMS and not model.causal
    assert model.item_embedding.embeddings.shape == (NUM_ITEMS + 1, 16)
    assert model.item_embeddings().shape == (NUM_ITEMS, 16) and model.item_biases().shape == (NUM_ITEMS,)
    assert scores.shape == (6, NUM_ITEMS) and np.isfinite(scores.numpy()).all()
    sampled = _model(loss={"name": "sampled_softmax", "num_negatives": 5})
    assert np.isfinite(sampled.compute_loss({"item_ids": ids}, training=True).numpy())


def test_a_masked_position_sees_both_sides():
    model = _model()
    ids = np.array([[0, 0, 2, 3, MASK, 5, 6, 7]], np.int64)
    base = model.encode(tf.constant(ids)).numpy()[0, 4]
    for column in (3, 5):  # left and right neighbour of the mask
        changed = ids.copy()
        changed[0, column] = 11
        assert not np.allclose(model.encode(tf.constant(changed)).numpy()[0, 4], base, atol=1e-4)


def test_loss_counts_masked_positions_only():
    model = _model()
    ids = tf.constant(ROWS[:, 2:])
    masked, targets = model.cloze_masking(ids, training=True)

    def manual(masked, targets):
        states = model.encode(masked).numpy()
        keep = targets.numpy() >= 2
        queries = model.output_queries(tf.constant(states[keep])).numpy()
        logits = queries @ model.item_embeddings().numpy().T + model.item_biases().numpy()
        logits[:, :2] = -np.inf
        logits -= logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -log_probs[np.arange(keep.sum()), targets.numpy()[keep]].mean()

    np.testing.assert_allclose(model.cloze_loss(masked, targets).numpy(), manual(masked, targets), rtol=1e-5)
    # Outside training (model.evaluate, build_for_inputs) the loss is the last item's, deterministic.
    last_masked, last_targets = mask_last_item(ids, MASK)
    np.testing.assert_allclose(
        model.compute_loss({"item_ids": ids}).numpy(), manual(last_masked, last_targets), rtol=1e-5
    )


@pytest.fixture(scope="module", params=["pre_norm", "post_norm"])
def trained(request):
    model = _model(block_style=request.param, ffn_activation="relu" if request.param == "pre_norm" else "gelu")
    rows = _cyclic_batch()
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    model.fit(tf.data.Dataset.from_tensors({"item_ids": tf.constant(rows)}).repeat(300), epochs=1, verbose=0)
    return model, rows


def test_learns_the_cycle_and_predicts_the_next_item_at_the_appended_mask(trained):
    model, rows = trained
    scores = model.score_all(tf.constant(rows[:, :-1])).numpy()  # history; the mask goes after it
    scores[:, :2] = -np.inf
    assert (scores.argmax(axis=1) == rows[:, -1]).mean() == 1.0


def test_learns_to_fill_a_mask_from_the_right_context_alone(trained):
    model, _ = trained
    firsts = [3, 7, 11]
    ids = np.array([[0, 0, 0, MASK, f, _next(f), _next(f, 2), _next(f, 3)] for f in firsts], np.int64)
    states = model.encode(tf.constant(ids)).numpy()[:, 3]
    scores = tf.matmul(model.output_queries(tf.constant(states)), model.item_embeddings(), transpose_b=True)
    scores = (scores + model.item_biases()).numpy()
    scores[:, :2] = -np.inf
    assert scores.argmax(axis=1).tolist() == [_next(f, -1) for f in firsts]


@pytest.mark.parametrize("blocks", [{}, {"block_style": "post_norm", "ffn_activation": "gelu"}])
def test_config_and_weights_round_trip(tmp_path, blocks):
    model = _model(mask_prob=0.3, ffn_dim=24, **blocks)
    ids = tf.constant(_cyclic_batch(16)[:, 1:])
    model.build_for_inputs()
    expected = model.score_all(ids).numpy()
    model.save_weights(str(tmp_path / "w"))
    config = json.loads(json.dumps(model.get_config()))  # as stored in run.json
    clone = SequentialRecommender.from_config(config)
    assert type(clone) is BERT4Rec and clone.config == model.config
    clone.build_for_inputs()
    clone.load_weights(str(tmp_path / "w"))
    np.testing.assert_array_equal(clone.score_all(ids).numpy(), expected)


def test_registry_and_config():
    assert "bert4rec" in available_models()
    model = _model()
    assert isinstance(model, BERT4Rec) and model.registry_name == "bert4rec"
    config = BERT4RecConfig()
    assert (config.num_blocks, config.num_heads, config.mask_prob, config.ffn_width) == (2, 2, 0.2, 256)
    assert config.mask_token_prob == 1.0 and config.output_bias and config.dropout == 0.1
    assert (config.block_style, config.ffn_activation) == ("pre_norm", "relu")
    for bad in (
        {"mask_prob": 0.0},
        {"embedding_dim": 10, "num_heads": 4},
        {"max_len": 1},
        {"mask_token_prob": 0.9, "random_token_prob": 0.2},
        {"block_style": "bert"},
    ):
        with pytest.raises(ValueError):
            BERT4RecConfig(**bad)
    with pytest.raises(ValueError, match="has no field"):
        build_model("bert4rec", {"mask_probability": 0.3}, NUM_ITEMS)


# -- no leakage: training sees the loader's train split only -------------------------------------

HISTORIES = {"u1": [2, 3, 4, 5, 6, 7], "u2": [8, 9, 10], "u3": [11, 12, 13, 2]}
HELD_OUT = {"u1": (14, 15), "u2": (15, 14), "u3": (14, 15)}  # (valid, test) items, never in a training history


def _write_dataset(directory):
    from tfseqrec.data.example_codec import encode_example
    from tfseqrec.data.spec import FeatureInfo, FeatureSpec, SplitFiles, VocabularyInfo

    def record(sid, items, targets):
        return encode_example(
            {"sequence_id": ("bytes", [sid]), "item_ids": ("int64", items), "target_ids": ("int64", targets)}
        )

    splits = {
        "train": [record(s, h, []) for s, h in HISTORIES.items()],
        "valid": [record(s, h, [HELD_OUT[s][0]]) for s, h in HISTORIES.items()],
        "test": [record(s, h + [HELD_OUT[s][0]], [HELD_OUT[s][1]]) for s, h in HISTORIES.items()],
    }
    for split, records in splits.items():
        with tf.io.TFRecordWriter(os.path.join(directory, f"{split}-00000-of-00001.tfrecord")) as writer:
            for r in records:
                writer.write(r)
    with open(os.path.join(directory, "vocab.tsv"), "w") as f:
        f.write("[PAD]\t0\n[OOV]\t0\n" + "".join(f"item{i}\t1\n" for i in range(2, 16)))
    spec = FeatureSpec(
        features={
            "sequence_id": FeatureInfo("string", "scalar"),
            "item_ids": FeatureInfo("int64", "list"),
            "target_ids": FeatureInfo("int64", "list"),
        },
        splits={
            "train": SplitFiles("train-*.tfrecord", 3),
            "valid": SplitFiles("valid-*.tfrecord", 3, num_targets=3),
            "test": SplitFiles("test-*.tfrecord", 3, num_targets=3),
        },
        vocabulary=VocabularyInfo("vocab.tsv", size=16, num_items=14),
        protocol={"split": "leave_one_out", "targets_per_record": 1},
    )
    with open(os.path.join(directory, "feature_spec.json"), "w") as f:
        json.dump(spec.to_json(), f)


def test_training_batches_and_cloze_targets_hold_no_held_out_items(tmp_path):
    from tfseqrec.training.config import TrainConfig
    from tfseqrec.training.trainer import train_dataset
    from tfseqrec.data import load_feature_spec

    _write_dataset(str(tmp_path))
    spec = load_feature_spec(str(tmp_path))
    tf.keras.utils.set_random_seed(0)
    model = build_model("bert4rec", {**SMALL, "mask_prob": 0.5}, 16)
    data = train_dataset(spec, TrainConfig(data_dir=str(tmp_path), batch_size=4), model.config.max_len)
    batches = list(data)
    assert len(batches) == 1 and set(batches[0]) == {"item_ids"}  # no targets reach the model
    ids = batches[0]["item_ids"]
    held_out = {i for pair in HELD_OUT.values() for i in pair}
    assert not held_out & set(ids.numpy().ravel().tolist())
    for _ in range(5):
        masked, targets = model.cloze_masking(ids[:, -model.config.max_len :], training=True)
        chosen = targets.numpy() > 0
        assert not held_out & set(targets.numpy()[chosen].tolist())
        assert set(masked.numpy().ravel().tolist()) <= set(range(14)) | {model.mask_token_id}
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    history = model.fit(data, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

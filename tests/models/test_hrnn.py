"""HRNN: the user state changes exactly at session starts, the user path learns, data helper, contract."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

import tfseqrec.models.hrnn  # noqa: F401  (registers "hrnn")
from tfseqrec.data.example_codec import encode_example
from tfseqrec.models import build_model
from tfseqrec.models.base import SequentialRecommender
from tfseqrec.models.hrnn import (
    HRNN,
    HRNNConfig,
    read_session_records,
    sessions_to_user_sequences,
    user_sequence_dataset,
)
from tests.models import test_contract as contract

NUM_ITEMS = 14


def _hrnn(**overrides):
    tf.keras.utils.set_random_seed(0)
    return build_model("hrnn", {"embedding_dim": 8, "max_len": 8, "dropout": 0.0, **overrides}, NUM_ITEMS)


def _plain_scan(cell, x, h, extra=None):
    """Session GRU over ``x [B, T, E]`` from ``h``; returns the states after each item."""
    out = []
    for t in range(x.shape[1]):
        inputs = x[:, t] if extra is None else tf.concat([x[:, t], extra], -1)
        h, _ = cell(inputs, [h])
        out.append(h)
    return tf.stack(out, 1).numpy()


@pytest.mark.parametrize("user_input", ["init", "all"])
def test_user_state_changes_exactly_at_session_starts(user_input):
    model = _hrnn(user_input=user_input, session_units=6, user_units=5)
    ids = tf.constant([[0, 0, 4, 5, 6, 7, 8, 9], [0, 2, 3, 4, 5, 6, 7, 8]], tf.int64)
    starts = tf.constant(np.array([[0, 0, 1, 0, 0, 1, 0, 0], [0, 1, 0, 1, 0, 0, 0, 1]], bool))
    run = {k: v.numpy() for k, v in model.run_states(ids, starts).items()}
    x = model.item_embedding(ids)
    zeros_u = tf.zeros([1, 5])
    for b, (first, boundaries) in enumerate([(2, [5]), (1, [3, 7])]):
        # padding keeps zero states; the first session is a plain session GRU from zero, user state zero
        np.testing.assert_array_equal(run["session"][b, :first], 0.0)
        extra = zeros_u if user_input == "all" else None
        plain = _plain_scan(model.session_cell, x[b : b + 1, first : boundaries[0]], tf.zeros([1, 6]), extra)
        np.testing.assert_allclose(run["session"][b, first : boundaries[0]], plain[0], atol=1e-5)
        np.testing.assert_array_equal(run["user"][b, : boundaries[0]], 0.0)
        ends = boundaries[1:] + [ids.shape[1]]
        user = np.zeros([1, 5], np.float32)
        for t, end in zip(boundaries, ends):
            # the user state changes at the start, from the previous session's final state ...
            user = model.user_cell(tf.constant(run["session"][b : b + 1, t - 1]), [tf.constant(user)])[0].numpy()
            np.testing.assert_allclose(run["user"][b, t:end], np.repeat(user, end - t, 0), atol=1e-5)
            assert not np.allclose(run["user"][b, t], run["user"][b, t - 1])
            # ... and the session restarts from tanh(W_init c + b)
            init = np.tanh(user @ model.session_init.kernel.numpy() + model.session_init.bias.numpy())
            np.testing.assert_allclose(run["session_before"][b, t], init[0], atol=1e-5)
            extra = tf.constant(user) if user_input == "all" else None
            plain = _plain_scan(model.session_cell, x[b : b + 1, t:end], tf.constant(init), extra)
            np.testing.assert_allclose(run["session"][b, t:end], plain[0], atol=1e-5)


def test_without_session_starts_it_is_a_plain_gru():
    model = _hrnn()
    ids = tf.constant([[0, 0, 4, 5, 6, 7, 8, 9], [2, 3, 4, 5, 6, 7, 8, 9]], tf.int64)
    states = model.encode(ids).numpy()
    expected = _plain_scan(model.session_cell, model.item_embedding(ids[:1, 2:]), tf.zeros([1, 8]))
    np.testing.assert_allclose(states[0, 2:], expected[0], atol=1e-5)
    np.testing.assert_array_equal(states[0, :2], 0.0)
    expected = _plain_scan(model.session_cell, model.item_embedding(ids[1:]), tf.zeros([1, 8]))
    np.testing.assert_allclose(states[1], expected[0], atol=1e-5)
    # all-False starts are the same as no starts; a start on the first item changes nothing either
    np.testing.assert_allclose(model.encode(ids, session_starts=tf.zeros([2, 8], tf.bool)).numpy(), states)
    first = np.zeros([2, 8], bool)
    first[0, 2] = first[1, 0] = True
    np.testing.assert_allclose(model.encode(ids, session_starts=tf.constant(first)).numpy(), states)


def _toy_users(n=60, seed=0):
    """Session 1 = [r?, a, 13], session 2 = [12, a + 5]: the item after 12 depends on the previous session."""
    rng = np.random.default_rng(seed)
    ids, starts = np.zeros([n, 6], np.int64), np.zeros([n, 6], bool)
    for r in range(n):
        a = rng.integers(2, 7)
        row = ([int(rng.integers(2, 12))] if r % 2 else []) + [a, 13, 12, a + 5]
        flag = [True] + [False] * (len(row) - 3) + [True, False]
        ids[r, 6 - len(row) :] = row
        starts[r, 6 - len(row) :] = flag
    return ids, starts


def _hr_at_1_after_training(user_input):
    model = _hrnn(user_input=user_input, embedding_dim=16)
    ids, starts = _toy_users()
    model.compile(optimizer=tf.keras.optimizers.Adam(0.02))
    data = tf.data.Dataset.from_tensors({"item_ids": ids, "session_starts": starts}).repeat(600)
    model.fit(data, epochs=1, verbose=0)
    scores = model.score_all(ids[:, :-1], session_starts=starts[:, :-1]).numpy()
    scores[:, :2] = -np.inf
    return (scores.argmax(1) == ids[:, -1]).mean()


def test_user_path_learns_what_the_next_session_needs():
    with_user = _hr_at_1_after_training("init")
    without_user = _hr_at_1_after_training("none")  # sessions restart from zero: at best 1 in 5
    assert with_user == 1.0
    assert without_user <= 0.5


def test_compute_loss_masks_session_start_targets():
    ids, starts = _toy_users(8)
    for flag in (True, False):
        model = _hrnn(predict_session_starts=flag)
        loss = model.compute_loss({"item_ids": ids, "session_starts": starts}).numpy()
        assert np.isfinite(loss)
    assert np.isfinite(_hrnn().compute_loss({"item_ids": ids}).numpy())


def test_config_validation_and_registry():
    model = _hrnn(session_units=12, user_units=4, user_input="all")
    assert isinstance(model, HRNN) and model.config.session_size == 12 and model.config.user_size == 4
    assert model.encode(tf.constant([[0, 2, 3]])).shape == (1, 3, 8)  # projected to embedding_dim
    with pytest.raises(ValueError, match="user_input"):
        HRNNConfig(user_input="sometimes")
    with pytest.raises(ValueError, match="session_units"):
        HRNNConfig(session_units=0)


@pytest.mark.parametrize("user_input", ["init", "all", "none"])
def test_round_trip_with_session_starts(user_input, tmp_path):
    model = _hrnn(user_input=user_input, session_units=6)
    ids, starts = _toy_users(8)
    model.build_for_inputs()
    expected = model.score_all(ids, session_starts=starts).numpy()
    model.save_weights(str(tmp_path / "w"))
    clone = SequentialRecommender.from_config(model.get_config())
    assert type(clone) is HRNN and clone.config == model.config
    clone.build_for_inputs()
    clone.load_weights(str(tmp_path / "w"))
    np.testing.assert_array_equal(clone.score_all(ids, session_starts=starts).numpy(), expected)


def test_sessions_to_user_sequences(tmp_path):
    path = str(tmp_path / "s.tfrecord")
    records = [("u2", 1, [9, 10]), ("u1", 0, [2, 3, 4]), ("u2", 0, [7]), ("u1", 1, [5]), ("u3", 0, [])]
    with tf.io.TFRecordWriter(path) as writer:
        for user, index, items in records:
            writer.write(
                encode_example(
                    {
                        "item_ids": ("int64", items),
                        "user_id": ("bytes", [user]),
                        "session_index": ("int64", [index]),
                        "sequence_id": ("bytes", [f"{user}#{index}"]),
                    }
                )
            )
    read = read_session_records([path])
    out = sessions_to_user_sequences(read["item_ids"], read["user_id"], read["session_index"])
    assert list(out["user_id"]) == [b"u2", b"u1"]
    np.testing.assert_array_equal(out["item_ids"], [[0, 7, 9, 10], [2, 3, 4, 5]])
    np.testing.assert_array_equal(out["session_starts"], [[0, 1, 1, 0], [1, 0, 0, 1]])
    cut = sessions_to_user_sequences(
        read["item_ids"], read["user_id"], read["session_index"], max_len=3, pad_to_max_len=True
    )
    np.testing.assert_array_equal(cut["item_ids"], [[7, 9, 10], [3, 4, 5]])
    batch = next(iter(user_sequence_dataset(out, batch_size=2)))
    assert set(batch) == {"item_ids", "session_starts"} and batch["session_starts"].dtype == tf.bool


# -- the shared contract (tests/models/test_contract.py), run for "hrnn" --------------------------------------
def test_contract_shapes_and_scores():
    contract.test_shapes_and_scores("hrnn")


def test_contract_causal():
    contract.test_no_position_sees_the_future("hrnn")


def test_contract_learns():
    contract.test_learns_a_deterministic_sequence_to_hr_at_1("hrnn")


def test_contract_round_trip(tmp_path):
    contract.test_config_and_weights_round_trip("hrnn", tmp_path)


# -- sessions from timestamps: what `tfseqrec train` uses ------------------------------------------------------
def test_session_starts_from_timestamp_gaps():
    model = _hrnn(session_gap_seconds=60)
    assert model.input_features == ("item_ids", "timestamps") and _hrnn().input_features == ("item_ids",)
    ids = tf.constant([[0, 0, 4, 5, 6, 7], [2, 3, 4, 5, 6, 7]], tf.int64)
    ms = tf.constant([[0, 0, 1000, 61000, 122001, 130000], [0, 5, 60005, 60006, 500000, 500001]], tf.int64)
    # A gap of exactly 60 s stays in the session; 61.001 s starts one; each row's first item is a start.
    np.testing.assert_array_equal(
        model.session_starts(ids, timestamps=ms).numpy(), [[0, 0, 1, 0, 1, 0], [1, 0, 0, 0, 1, 0]]
    )
    given = tf.constant(np.eye(6, dtype=bool)[:2])
    np.testing.assert_array_equal(model.session_starts(ids, session_starts=given, timestamps=ms).numpy(), given)
    assert _hrnn().session_starts(ids, timestamps=ms) is None  # no gap configured: timestamps are ignored
    # Scoring and the loss with timestamps equal those with the derived starts.
    starts = model.session_starts(ids, timestamps=ms)
    np.testing.assert_allclose(
        model.score_all(ids, timestamps=ms).numpy(), model.score_all(ids, session_starts=starts).numpy(), atol=1e-6
    )
    np.testing.assert_allclose(
        model({"item_ids": ids, "timestamps": ms}).numpy(),
        model.score_all(ids, session_starts=starts).numpy(),
        atol=1e-6,
    )
    for flag in (True, False):
        gapped = _hrnn(session_gap_seconds=60, predict_session_starts=flag)
        np.testing.assert_allclose(
            gapped.compute_loss({"item_ids": ids, "timestamps": ms}).numpy(),
            gapped.compute_loss({"item_ids": ids, "session_starts": starts}).numpy(),
            rtol=1e-6,
        )
    with pytest.raises(ValueError, match="session_gap_seconds"):
        HRNNConfig(session_gap_seconds=0)


def _timed_dataset(directory, with_times=True):
    """A tiny leave-one-out dataset: 4 users whose train/test records carry (or lack) timestamps."""
    import json
    import os
    from tfseqrec.data.spec import FeatureInfo, FeatureSpec, SplitFiles, VocabularyInfo

    rows = {"u1": [2, 3, 4, 5, 6], "u2": [7, 8, 9, 10], "u3": [11, 12, 13, 2, 3], "u4": [4, 5, 6, 7]}
    features = {
        "sequence_id": FeatureInfo("string", "scalar"),
        "item_ids": FeatureInfo("int64", "list"),
        "target_ids": FeatureInfo("int64", "list"),
    }
    if with_times:
        features["timestamps"] = FeatureInfo("int64", "list")
    for split, cut in (("train", 2), ("test", 1)):
        with tf.io.TFRecordWriter(os.path.join(directory, f"{split}-00000-of-00001.tfrecord")) as writer:
            for user, items in rows.items():
                record = {
                    "sequence_id": ("bytes", [user]),
                    "item_ids": ("int64", items[:-cut]),
                    "target_ids": ("int64", items[-1:] if split == "test" else []),
                }
                if with_times:  # a new session (1 day later) from the third item on
                    record["timestamps"] = (
                        "int64",
                        [k * 1000 + (86_400_000 if k >= 2 else 0) for k in range(len(items) - cut)],
                    )
                writer.write(encode_example(record))
    with open(os.path.join(directory, "vocab.tsv"), "w") as f:
        f.write("[PAD]\t0\n[OOV]\t0\n" + "".join(f"i{i}\t1\n" for i in range(2, NUM_ITEMS)))
    spec = FeatureSpec(
        features=features,
        splits={"train": SplitFiles("train-*.tfrecord", 4), "test": SplitFiles("test-*.tfrecord", 4, num_targets=4)},
        vocabulary=VocabularyInfo("vocab.tsv", size=NUM_ITEMS, num_items=NUM_ITEMS - 2),
        protocol={"split": "leave_one_out", "targets_per_record": 1},
    )
    with open(os.path.join(directory, "feature_spec.json"), "w") as f:
        json.dump(spec.to_json(), f)
    return spec


def test_trainer_and_evaluator_feed_timestamps_to_hrnn(tmp_path):
    from tfseqrec.data.spec import load_feature_spec
    from tfseqrec.evaluation import EvaluationConfig, evaluate
    from tfseqrec.training.config import TrainConfig
    from tfseqrec.training.trainer import check_input_features, model_score_fn, train_dataset

    _timed_dataset(str(tmp_path))
    spec = load_feature_spec(str(tmp_path))
    model = _hrnn(session_gap_seconds=1800, user_input="init")
    check_input_features(model, spec)
    batch = next(
        iter(
            train_dataset(
                spec,
                TrainConfig(data_dir=str(tmp_path), batch_size=4, shuffle_buffer=0),
                model.config.max_len,
                model.input_features,
            )
        )
    )
    assert set(batch) == {"item_ids", "timestamps"} and batch["timestamps"].shape == batch["item_ids"].shape
    assert np.isfinite(model.compute_loss(batch).numpy())
    # The evaluator's batches reach the model with their timestamps: the user level changes the scores.
    seen = []
    score = model_score_fn(model)
    result = evaluate(lambda b: seen.append(sorted(b)) or score(b), spec, EvaluationConfig(ks=(5,)), verbose=False)
    assert "timestamps" in seen[0] and result.summary["num_users"] == 4
    ids, times = batch["item_ids"], batch["timestamps"]  # u1 and u3 open a second session at their last item
    with_sessions = model_score_fn(model)({"item_ids": ids, "timestamps": times}).numpy()
    np.testing.assert_allclose(with_sessions, model.score_all(ids, timestamps=times).numpy(), atol=1e-6)
    assert not np.allclose(with_sessions, model.score_all(ids).numpy(), atol=1e-4)
    # Data without timestamps: a clear error instead of silently training without the user level.
    (tmp_path / "plain").mkdir()
    plain = _timed_dataset(str(tmp_path / "plain"), with_times=False)
    plain = load_feature_spec(str(tmp_path / "plain"))
    with pytest.raises(ValueError, match="timestamps.*session_gap_seconds"):
        check_input_features(model, plain)
    check_input_features(_hrnn(), plain)

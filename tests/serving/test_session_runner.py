"""Signatures run as TF Serving runs them: the SignatureDef's tensor names in the version's own session."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.serving.session_runner import SessionOptions, SignatureRunner


def test_a_signature_in_its_session_equals_the_restored_function(exports):
    runner = SignatureRunner(exports["a"], SessionOptions(intra_op_threads=1, inter_op_threads=-1))
    try:
        history = np.array([[b"item_1", b"item_7", b""], [b"", b"", b"nope"]], dtype=object)
        got = runner.callable(runner.meta_graph.signature_def["serving_default"])({"history": history})
        want = tf.saved_model.load(exports["a"]).signatures["serving_default"](history=tf.constant(history.tolist()))
        assert sorted(got) == ["item_ids", "scores"]
        assert got["item_ids"].dtype == object and got["item_ids"].tolist() == want["item_ids"].numpy().tolist()
        np.testing.assert_array_equal(got["scores"], want["scores"].numpy())
        recommend = runner.callable(runner.meta_graph.signature_def["recommend"])
        out = recommend({"history": history, "k": np.array([2, 3], np.int32), "exclude_seen": np.array([1, 0], bool)})
        assert out["item_ids"].shape == (2, 3) and out["item_ids"][0, 2] == b""  # row 0 keeps its k = 2
    finally:
        runner.close()


def test_session_options_are_validated():
    with pytest.raises(ValueError, match="intra_op_threads must be >= 0"):
        SessionOptions(intra_op_threads=-1)
    with pytest.raises(ValueError, match="inter_op_threads must be >= -1"):
        SessionOptions(inter_op_threads=-2)
    config = SessionOptions(1, -1).config()
    assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (1, -1)
    assert config.allow_soft_placement and config.gpu_options.allow_growth

"""Hierarchical transformer (``tfseqrec.models.hierarchical``): causality across chunk boundaries, chunks that see
each other only through the chunk-level context, a toy it learns, save / load, errors, and the CLI."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.models.long_history_checks import assert_learns_a_toy_and_round_trips, assert_the_cli_trains_and_tests
from tfseqrec.models import build_model

NUM_ITEMS = 30
HISTORY = tf.constant(
    [[0, 0, 0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19], [0] * 15 + [3, 4, 5, 6, 7]], tf.int64
)


def _model(**config):
    base = {"embedding_dim": 16, "max_len": 20, "chunk_size": 4, "num_blocks": 1, "dropout": 0.0}
    return build_model("hierarchical", {**base, **config}, NUM_ITEMS)


def test_states_never_depend_on_later_items():
    model = _model(chunk_blocks=2)
    states = model.encode(HISTORY).numpy()
    for cut in range(3, 20):  # every cut, inside chunks and on their boundaries
        changed = tf.concat([HISTORY[:, :cut], tf.fill([2, 20 - cut], tf.constant(25, tf.int64))], axis=1)
        np.testing.assert_allclose(model.encode(changed).numpy()[:, :cut], states[:, :cut], atol=1e-5)


def test_chunks_see_earlier_chunks_only_through_the_chunk_level_context():
    model = _model()
    last_chunk = slice(16, 20)
    earlier_changed = tf.concat([HISTORY[:, :4], tf.fill([2, 4], tf.constant(25, tf.int64)), HISTORY[:, 8:]], 1)
    states, changed = model.encode(HISTORY).numpy(), model.encode(earlier_changed).numpy()
    assert np.abs(states[0, last_chunk] - changed[0, last_chunk]).max() > 1e-4  # the context carries it
    model.context_projection.kernel.assign(tf.zeros_like(model.context_projection.kernel))
    model.context_projection.bias.assign(tf.zeros_like(model.context_projection.bias))
    states, changed = model.encode(HISTORY).numpy(), model.encode(earlier_changed).numpy()
    np.testing.assert_allclose(changed[0, last_chunk], states[0, last_chunk], atol=1e-5)


def test_shorter_inputs_give_the_same_states_as_padded_ones():
    model = _model()
    np.testing.assert_allclose(
        model.encode(HISTORY[1:, 9:]).numpy(), model.encode(HISTORY[1:]).numpy()[:, 9:], atol=1e-5
    )


def test_learns_a_toy_and_round_trips(tmp_path):
    assert_learns_a_toy_and_round_trips(_model(max_len=12), "hierarchical", NUM_ITEMS, tmp_path)


def test_errors_name_the_bad_input():
    with pytest.raises(ValueError, match="acts inside a softmax attention"):
        _model(position_encoding="rotary")
    with pytest.raises(ValueError, match="chunk_size"):
        _model(chunk_size=0)
    with pytest.raises(ValueError, match="chunk_blocks"):
        _model(chunk_blocks=0)


def test_the_cli_trains_and_tests_it(tmp_path):
    assert_the_cli_trains_and_tests("hierarchical", tmp_path, "model_config.chunk_size=4")

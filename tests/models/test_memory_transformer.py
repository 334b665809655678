"""Memory-augmented transformer (``tfseqrec.models.memory_transformer``): the segment mask by hand, causality, the
state carried forward equal to reading the history whole, a toy it learns, save / load, errors, and the CLI."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.models.long_history_checks import assert_learns_a_toy_and_round_trips, assert_the_cli_trains_and_tests
from tfseqrec.models import build_model
from tfseqrec.models.memory_transformer import segment_attention_mask

NUM_ITEMS = 30
HISTORY = tf.constant(
    [[0, 0, 0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19], [0] * 15 + [3, 4, 5, 6, 7]], tf.int64
)


def _model(**config):
    base = {"embedding_dim": 16, "max_len": 20, "segment_size": 4, "memory_slots": 2, "dropout": 0.0}
    return build_model("memory_transformer", {**base, **config}, NUM_ITEMS)


def test_segment_mask_by_hand():
    # K = 1 slot, S = 3 items of which the last is padding; tokens: read | i0 i1 i2 | write
    got = segment_attention_mask(tf.constant([[True, True, False]]), 1).numpy()[0].astype(int)
    want = [
        [1, 0, 0, 0, 0],  # read: the read memory only
        [1, 1, 0, 0, 0],  # item 0: memory and itself
        [1, 1, 1, 0, 0],  # item 1: memory, items 0-1
        [1, 1, 1, 0, 0],  # item 2 (padding): never a key; its row is zeroed by the blocks
        [1, 1, 1, 0, 1],  # write: memory, every item, the write tokens
    ]
    np.testing.assert_array_equal(got, want)


def test_states_never_depend_on_later_items():
    model = _model(num_blocks=2)
    states = model.encode(HISTORY).numpy()
    for cut in range(3, 20):
        changed = tf.concat([HISTORY[:, :cut], tf.fill([2, 20 - cut], tf.constant(25, tf.int64))], axis=1)
        np.testing.assert_allclose(model.encode(changed).numpy()[:, :cut], states[:, :cut], atol=1e-5)


def test_carrying_the_memory_forward_equals_reading_the_history_whole():
    model = _model()
    whole = model.encode(HISTORY[:1]).numpy()[:, 3:]  # 17 items
    first, memory = model.encode_with_memory(HISTORY[:1, 3:11])  # two complete segments
    second, _ = model.encode_with_memory(HISTORY[:1, 11:], memory=memory)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, atol=1e-5)
    # rows of different lengths: each row's memory is the one after its own complete segments
    _, memories = model.encode_with_memory(tf.constant([[0, 0, 3, 4, 5, 6], [0, 3, 4, 5, 6, 7]], tf.int64))
    _, one_segment = model.encode_with_memory(tf.constant([[3, 4, 5, 6]], tf.int64))
    np.testing.assert_allclose(memories.numpy(), np.repeat(one_segment.numpy(), 2, axis=0), atol=1e-5)


def test_a_row_without_complete_segments_keeps_the_initial_memory():
    model = _model()
    _, memory = model.encode_with_memory(tf.constant([[0, 0, 0, 5, 6, 7]], tf.int64))
    np.testing.assert_allclose(memory.numpy(), model.initial_memory(1).numpy())


def test_the_memory_is_what_links_segments():
    model = _model()
    changed = tf.concat([HISTORY[:1, :3], tf.fill([1, 4], tf.constant(25, tf.int64)), HISTORY[:1, 7:]], axis=1)
    states, other = model.encode(HISTORY[:1]).numpy(), model.encode(changed).numpy()
    assert np.abs(states[0, -4:] - other[0, -4:]).max() > 1e-4  # the first segment reaches the last one
    last_segment = HISTORY[:1, -5:]  # 17 items: the last segment holds the newest item alone
    for history in (HISTORY[:1], changed):
        _, memory = model.encode_with_memory(history[:, :-1])
        alone, _ = model.encode_with_memory(last_segment[:, -1:], memory=memory)
        np.testing.assert_allclose(alone[0, -1], model.encode(history).numpy()[0, -1], atol=1e-5)


def test_learns_a_toy_and_round_trips(tmp_path):
    assert_learns_a_toy_and_round_trips(_model(max_len=12), "memory_transformer", NUM_ITEMS, tmp_path)


def test_errors_name_the_bad_input():
    with pytest.raises(ValueError, match="acts inside a softmax attention"):
        _model(position_encoding="alibi")
    with pytest.raises(ValueError, match="memory_slots"):
        _model(memory_slots=0)


def test_the_cli_trains_and_tests_it(tmp_path):
    assert_the_cli_trains_and_tests("memory_transformer", tmp_path, "model_config.segment_size=4")

"""The key-value cache state (tfseqrec.models.kv_cache): its layout by hand, pack / unpack round trips, the oldest
position leaving at max_len, the key mask, and users of different history lengths batched by zero padding with
the same next step as each alone."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tfseqrec.models import build_model, kv_cache
from tfseqrec.models.kv_cache import StreamStateLayout


def test_the_layout_counts_values_by_hand():
    layout = StreamStateLayout(fixed=1, per_item=6, max_items=4)
    assert [layout.width(n) for n in range(5)] == [1, 7, 13, 19, 25] and layout.max_width == 25
    assert layout.items_in(13) == 2
    for width in (0, 12, 31):  # before the count, between positions, past max_items
        with pytest.raises(ValueError, match=r"1 \+ n \* 6 values for n <= 4, not"):
            layout.items_in(width)
    with pytest.raises(ValueError, match="a state has 5 values, not 6"):
        StreamStateLayout(fixed=5).items_in(6)


def test_pad_inserts_zeros_after_the_count_and_trim_takes_them_out():
    layout = StreamStateLayout(fixed=1, per_item=2, max_items=3)
    short = np.array([1.0, 7.0, 8.0], np.float32)  # one item
    long = np.array([3.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], np.float32)  # three items
    padded = layout.pad([short, long])
    np.testing.assert_array_equal(padded, [[1, 0, 0, 0, 0, 7, 8], [3, 1, 2, 3, 4, 5, 6]])
    np.testing.assert_array_equal(layout.trim(padded[0]), short)
    np.testing.assert_array_equal(layout.trim(padded[1]), long)
    np.testing.assert_array_equal(layout.trim(np.array([0.0, 9.0, 9.0])), [0.0])  # an empty history holds nothing
    gru = StreamStateLayout(fixed=3)
    np.testing.assert_array_equal(gru.trim(np.array([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0])


def test_pack_and_unpack_round_trip_position_major():
    keys = tf.reshape(tf.range(2 * 3 * 2 * 1, dtype=tf.float32), [2, 3, 2, 1])  # [B, W, H, d]
    values = 100.0 + tf.reshape(tf.range(2 * 3 * 1 * 2, dtype=tf.float32), [2, 3, 1, 2])
    state = kv_cache.pack(tf.constant([3.0, 2.0]), [keys, values])
    assert state.shape == (2, 1 + 3 * 4)
    # the first row: its count, then per position the two key heads, then the value's two dims
    np.testing.assert_array_equal(state[0].numpy(), [3, 0, 1, 100, 101, 2, 3, 102, 103, 4, 5, 104, 105])
    count, (k, v) = kv_cache.unpack(state, [(2, 1), (1, 2)])
    np.testing.assert_array_equal(count.numpy(), [3.0, 2.0])
    np.testing.assert_array_equal(k.numpy(), keys.numpy())
    np.testing.assert_array_equal(v.numpy(), values.numpy())


def test_push_grows_the_cache_until_max_len_then_drops_the_oldest():
    cache = tf.zeros([1, 0, 1, 1])
    for step in range(1, 5):
        cache = kv_cache.push(cache, tf.fill([1, 1, 1, 1], float(step)), max_len=3)
    np.testing.assert_array_equal(cache.numpy().ravel(), [2.0, 3.0, 4.0])
    mask = kv_cache.key_mask(tf.constant([1.0, 2.0, 5.0]), 3)  # rows holding 1, 2 and (past max_len) 5 items
    np.testing.assert_array_equal(mask.numpy(), [[False, False, True], [False, True, True], [True, True, True]])


@pytest.mark.parametrize("architecture", ["sasrec", "hstu"])
def test_users_of_different_lengths_batched_by_padding_step_as_each_alone(architecture):
    tf.keras.utils.set_random_seed(0)
    model = build_model(architecture, {"embedding_dim": 8, "max_len": 10, "num_blocks": 2}, 30).build_for_inputs()
    layout = model.stream_state_layout()
    histories = [[3, 4], [5, 6, 7, 8, 9, 10, 11]]
    alone = [model.stream_start(tf.constant([h]))[1][0].numpy() for h in histories]
    assert [len(state) for state in alone] == [layout.width(2), layout.width(7)]  # sized by the history
    batched = tf.constant(layout.pad(alone))
    query, state = model.stream_step(batched, tf.constant([12, 13]))
    for row, (history, single) in enumerate(zip(histories, alone)):
        one_query, one_state = model.stream_step(tf.constant(single[np.newaxis]), tf.constant([12 + row]))
        np.testing.assert_allclose(query[row].numpy(), one_query[0].numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(layout.trim(state[row].numpy()), one_state[0].numpy(), rtol=1e-5, atol=1e-5)
        full = model.query(tf.constant([history + [12 + row]]))
        np.testing.assert_allclose(one_query.numpy(), full.numpy(), rtol=1e-5, atol=1e-5)

"""Merging concurrent requests whose history carries features: every row stays aligned with its own history."""

import numpy as np

from tfseqrec.serving.batching import _Task, merge_inputs


def test_history_features_are_left_padded_with_zero_like_the_history():
    a = _Task(
        {
            "history": np.array([[b"x", b"y", b"z"]], dtype=object),
            "timestamps": np.array([[10, 20, 30]]),
            "k": np.array([5]),
        },
        rows=1,
    )
    b = _Task(
        {
            "history": np.array([[b"p"], [b"q"]], dtype=object),
            "timestamps": np.array([[7], [8]]),
            "k": np.array([3, 4]),
        },
        rows=2,
    )
    merged = merge_inputs([a, b])
    assert merged["history"].tolist() == [[b"x", b"y", b"z"], [b"", b"", b"p"], [b"", b"", b"q"]]
    assert merged["timestamps"].tolist() == [[10, 20, 30], [0, 0, 7], [0, 0, 8]]
    assert merged["timestamps"].dtype == np.array([1]).dtype
    assert merged["k"].tolist() == [5, 3, 4]

"""The server's per-request limits (``tfseqrec.serving.predict.Limits``): a model exported with a longer
``max_len`` than the server's history cap takes histories up to its ``max_len``; other models keep the cap."""

import pytest

from tfseqrec.export import contract
from tfseqrec.serving.predict import Limits, check_shape
from tfseqrec.serving.servable import TensorSpec


def _history_spec():
    return TensorSpec(contract.HISTORY, 7, (None, None))  # DT_STRING


def test_a_long_history_model_raises_the_history_cap_for_itself_only():
    limits = Limits(max_history=2048, max_k=100, max_batch_rows=8)
    long_model = limits.for_model({"max_len": 4096})
    assert long_model.max_history == 4096 and long_model.max_k == 100 and long_model.max_batch_rows == 8
    assert limits.for_model({"max_len": 200}).max_history == 2048
    assert limits.for_model({}).max_history == 2048  # exports without the field (older or foreign)
    check_shape(_history_spec(), (1, 4096), long_model)
    with pytest.raises(Exception, match="at most 2048"):
        check_shape(_history_spec(), (1, 4096), limits)

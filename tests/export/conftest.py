"""Loaded exports of the tiny trained SASRec (``exported``: ``tests/export/trained.py``, registered in
``tests/conftest.py`` so that ``tests/serving`` shares the same training and export)."""

import pytest

from tests.export.trained import FAST, MAX_K, Exported  # noqa: F401  (re-exported for the tests)


@pytest.fixture(scope="session")
def brute(exported):
    import tensorflow as tf

    return tf.saved_model.load(str(exported.paths["brute_force"]))


@pytest.fixture(scope="session")
def scann_export(exported):
    import scann  # noqa: F401  (registers the Scann ops before loading)
    import tensorflow as tf

    return tf.saved_model.load(str(exported.paths["scann"]))

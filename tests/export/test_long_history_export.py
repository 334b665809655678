"""Long-history models export like the others: SASRec with an efficient attention kind, HSTU and the hierarchical
and memory-augmented transformers, exported with the brute-force and ScaNN top-K, serve the in-memory model's top-K
for histories longer than ``max_len`` (the export keeps the latest items)."""

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.export.reference import decode, dense, reference_top_k
from tfseqrec.export import ExportConfig, contract, export_model
from tfseqrec.models import build_model

NUM_ITEMS = 60
MAX_LEN = 48
VOCABULARY = ["[PAD]", "[OOV]"] + [f"i{n}" for n in range(2, NUM_ITEMS)]
COUNTS = [0, 0] + list(range(NUM_ITEMS - 2, 0, -1))


@pytest.mark.parametrize(
    "name, config",
    [
        ("sasrec", {"attention": {"name": "local", "window": 8}}),
        ("sasrec", {"attention": {"name": "linear", "chunk_size": 16}}),
        ("sasrec", {"attention": {"name": "performer", "num_features": 16}}),
        ("hstu", {}),
        ("hierarchical", {"chunk_size": 8}),
        ("memory_transformer", {"segment_size": 8, "memory_slots": 4}),
    ],
)
def test_exports_serve_the_in_memory_top_k(name, config, tmp_path):
    import scann  # noqa: F401  (the ScaNN variant's custom ops)

    tf.keras.utils.set_random_seed(0)
    model = build_model(name, {"embedding_dim": 16, "max_len": MAX_LEN, "num_blocks": 1, **config}, NUM_ITEMS)
    model.build_for_inputs()
    paths = export_model(
        model, VOCABULARY, COUNTS, str(tmp_path), "long", config=ExportConfig(max_k=20, warmup_requests=False)
    )
    rng = np.random.default_rng(0)
    histories = [[VOCABULARY[i] for i in rng.integers(2, NUM_ITEMS, n)] for n in (3, 47, 48, 90)]
    want, _ = reference_top_k(model, VOCABULARY, histories, 10)
    for variant in ("brute_force", "scann"):
        served = tf.saved_model.load(paths[variant]).signatures[contract.SERVING_SIGNATURE](history=dense(histories))
        assert decode(served[contract.ITEM_IDS]) == want, variant


def test_a_request_is_padded_to_its_longest_history_not_to_max_len():
    from tfseqrec.export.indexes import BruteForceIndex
    from tfseqrec.export.serving_module import ServingModule

    model = build_model("sasrec", {"embedding_dim": 8, "max_len": MAX_LEN, "num_blocks": 1}, NUM_ITEMS)
    model.build_for_inputs()
    module = ServingModule(model, VOCABULARY, COUNTS, BruteForceIndex(model.item_embeddings, model.item_biases))
    ids, real = module._item_ids(tf.constant([["i2", "", "i3", "i4"], ["", "", "i5", ""]]))
    np.testing.assert_array_equal(module._model_input(ids, real).numpy(), [[2, 3, 4], [0, 0, 5]])
    long = tf.constant([[f"i{2 + n % 50}" for n in range(MAX_LEN + 7)]])
    assert module._model_input(*module._item_ids(long)).shape == (1, MAX_LEN)  # the latest max_len items
    assert module._model_input(*module._item_ids(tf.constant([["", ""]]))).shape == (1, 1)  # nothing: one PAD

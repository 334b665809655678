"""A SASRec with every side input (item attributes in and out, behaviour types, time gaps), trained by the CLI on
a generated log with an item table, exported by the CLI and served by our server: the attribute tables live in
the SavedModel (the export reads no preprocessing file), the signatures take ``event_types`` and ``timestamps``,
and the top-K over gRPC and REST equals the in-memory model's."""

import contextlib
import io
import json

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import generated_dataset
from tfseqrec.export import contract
from tfseqrec.serving import Client, Server, ServerConfig

MAX_LEN = 8
K = 10
MODEL = "side_brute_force"
INPUTS = {
    "item_features": ["topic", "brand"],
    "event_types": True,
    "time_gaps": True,
    "output_features": True,
    "fusion": "gating",
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tfseqrec.cli import main
    from tfseqrec.data.spec import load_vocabulary
    from tfseqrec.training.trainer import load_trained_model

    root = tmp_path_factory.mktemp("side_inputs")
    items = {f"i{n:04d}": {"topic": [f"t{n % 7}", f"g{n % 3}"], "brand": f"b{n % 4}"} for n in range(100) if n % 10}
    (root / "items.json").write_text(json.dumps(items))
    data = generated_dataset(root, 150, 100, 4, "--item-features", str(root / "items.json"))
    run, base = root / "run", root / "saved_models"
    args = ["train", "--data-dir", str(data), "--model", "sasrec", "--output-dir", str(run), "--epochs", "1"]
    overrides = ["steps_per_epoch=6", "batch_size=32", "verbose=0", "model_config.embedding_dim=16"]
    overrides += [f"model_config.max_len={MAX_LEN}", f"model_config.inputs={json.dumps(INPUTS)}"]
    assert main(args + overrides) == 0
    model, _, spec = load_trained_model(str(run))
    vocabulary = load_vocabulary(spec)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", str(run), "--output", str(base), "--name", "side"]) == 0
    # the export must not read the dataset again: move it away before serving
    data.rename(root / "data_moved")
    return model, vocabulary, base


def _requests(vocab, count=12, seed=0):
    rng = np.random.default_rng(seed)
    histories, events, times = [], [], []
    for _ in range(count):
        n = int(rng.integers(2, 12))
        histories.append([vocab[i] for i in rng.integers(2, len(vocab), n)])
        events.append(rng.integers(1, 4, n).tolist())
        times.append((1_700_000_000_000 + np.cumsum(rng.integers(1_000, 10**7, n))).tolist())
    return histories, events, times


def _reference(model, vocab, histories, events, times, k=K):
    index = {item: i for i, item in enumerate(vocab) if i >= 2}
    shape = (len(histories), MAX_LEN)
    ids, ev, ts = np.zeros(shape, np.int64), np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    for r, history in enumerate(histories):
        n = min(len(history), MAX_LEN)
        ids[r, MAX_LEN - n :] = [index.get(x, 1) for x in history[-n:]]
        ev[r, MAX_LEN - n :] = events[r][-n:]
        ts[r, MAX_LEN - n :] = times[r][-n:]
    scores = model.score_all(tf.constant(ids), event_types=tf.constant(ev), timestamps=tf.constant(ts)).numpy()
    for r, history in enumerate(histories):
        scores[r, [index.get(x, 1) for x in history]] = -np.inf
    scores[:, :2] = -np.inf
    return [[vocab[i] for i in row] for row in np.argsort(-scores, axis=1, kind="stable")[:, :k]]


def test_the_model_reads_its_side_inputs_and_the_signatures_take_them(exported):
    model, _, base = exported
    assert model.input_features == ("item_ids", "event_types", "timestamps")
    module = tf.saved_model.load(str(base / MODEL / "1"))
    inputs = module.signatures[contract.SERVING_SIGNATURE].structured_input_signature[1]
    assert sorted(inputs) == ["event_types", contract.HISTORY, "timestamps"]


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_served_top_k_equals_the_in_memory_model(exported, protocol):
    model, vocab, base = exported
    histories, events, times = _requests(vocab)
    want = _reference(model, vocab, histories, events, times)
    other = _reference(model, vocab, histories, [[2] * len(e) for e in events], times)
    assert want != other  # the behaviour types matter
    config = ServerConfig(model_config_file=str(base / "models.config"), grpc_port=0, rest_port=0, poll_seconds=0)
    with Server(config) as server:
        port = server.grpc_port if protocol == "grpc" else server.rest_port
        target = f"127.0.0.1:{port}" if protocol == "grpc" else f"http://127.0.0.1:{port}"
        with Client(target, MODEL, protocol=protocol) as client:
            assert sorted(client.history_features()) == ["event_types", "timestamps"]
            got = client.recommend(histories, event_types=events, timestamps=times)
    assert [[item for item, _ in row] for row in got] == want

"""A SASRec whose query is conditioned on the target behaviour, trained by the CLI, exported and served by our
server: the signatures take ``target_event_type [B]`` after the history features, and the top-K over gRPC and
REST equals the in-memory model's for each behaviour asked (0: any)."""

import json

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import generated_dataset
from tfseqrec.export import ExportConfig, contract, export_model
from tfseqrec.serving import Client, Server, ServerConfig

MAX_LEN = 8
K = 10
MODEL = "asked_brute_force"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tfseqrec.cli import main
    from tfseqrec.data.spec import load_item_counts, load_vocabulary
    from tfseqrec.training.trainer import load_trained_model

    root = tmp_path_factory.mktemp("target_behaviour")
    data = generated_dataset(root, 120, 80, 4)
    run, base = root / "run", root / "saved_models"
    args = ["train", "--data-dir", str(data), "--model", "sasrec", "--output-dir", str(run), "--epochs", "1"]
    overrides = ["steps_per_epoch=4", "batch_size=32", "verbose=0", "model_config.embedding_dim=16"]
    overrides += [f"model_config.max_len={MAX_LEN}", "model_config.target_behaviour.enabled=true"]
    assert main(args + overrides) == 0
    run_json = json.loads((run / "run.json").read_text())
    behaviours = [name for name, entry in run_json["test_by_behaviour"].items() if isinstance(entry, dict)]
    lists = [n for n in np.load(run / "test" / "per_user.npz").files if n.startswith("topk_ids_for_event_")]
    assert behaviours and len(lists) == len(behaviours)  # each behaviour ranked on its own list
    model, _, spec = load_trained_model(str(run))
    # a few steps leave the maps near the identity: make the behaviours ask for clearly different items
    target = model.target_behaviour
    target.bias.assign(tf.random.stateless_normal(target.bias.shape, seed=[1, 2], stddev=2.0))
    vocabulary = load_vocabulary(spec)
    export_model(
        model, vocabulary, load_item_counts(spec), str(base), "asked", config=ExportConfig(variants=("brute_force",))
    )
    return model, vocabulary, base


def _reference(model, vocab, histories, events, asked):
    index = {item: i for i, item in enumerate(vocab) if i >= 2}
    ids, ev = np.zeros((len(histories), MAX_LEN), np.int64), np.zeros((len(histories), MAX_LEN), np.int64)
    for r, history in enumerate(histories):
        n = min(len(history), MAX_LEN)
        ids[r, MAX_LEN - n :] = [index.get(x, 1) for x in history[-n:]]
        ev[r, MAX_LEN - n :] = events[r][-n:]
    scores = model.score_all(tf.constant(ids), event_types=tf.constant(ev), target_event_type=tf.constant(asked))
    scores = scores.numpy()
    for r, history in enumerate(histories):
        scores[r, [index.get(x, 1) for x in history]] = -np.inf
    scores[:, :2] = -np.inf
    return [[vocab[i] for i in row] for row in np.argsort(-scores, axis=1, kind="stable")[:, :K]]


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_served_top_k_equals_the_in_memory_model_for_each_behaviour_asked(exported, protocol):
    model, vocab, base = exported
    num_types = model.target_behaviour.num_event_types
    rng = np.random.default_rng(0)
    histories = [[vocab[i] for i in rng.integers(2, len(vocab), int(rng.integers(2, 12)))] for _ in range(8)]
    events = [rng.integers(1, num_types + 1, len(h)).tolist() for h in histories]
    asked = [r % (num_types + 1) for r in range(len(histories))]  # 0 (any) and each behaviour
    want = _reference(model, vocab, histories, events, asked)
    assert want != _reference(model, vocab, histories, events, [1] * len(histories))  # asking matters
    config = ServerConfig(model_config_file=str(base / "models.config"), grpc_port=0, rest_port=0, poll_seconds=0)
    with Server(config) as server:
        port = server.grpc_port if protocol == "grpc" else server.rest_port
        target = f"127.0.0.1:{port}" if protocol == "grpc" else f"http://127.0.0.1:{port}"
        with Client(target, MODEL, protocol=protocol) as client:
            assert client.history_features() == ["event_types"] and client.row_features() == ["target_event_type"]
            got = client.recommend(histories, event_types=events, target_event_type=asked)
            with pytest.raises(Exception, match="target_event_type"):
                client.recommend(histories, event_types=events, target_event_type=asked[:-1])
    assert [[item for item, _ in row] for row in got] == want


def test_the_export_lists_its_row_feature(exported):
    _, _, base = exported
    info = json.loads((base / MODEL / "1" / contract.EXPORT_INFO_FILE).read_text())
    assert info["row_features"] == {"target_event_type": "int64"}
    module = tf.saved_model.load(str(base / MODEL / "1"))
    spec = module.signatures[contract.RECOMMEND_SIGNATURE].structured_input_signature[1]["target_event_type"]
    assert spec.shape.as_list() == [None] and spec.dtype == tf.int64

"""Stateful serving: ``append`` over gRPC and REST answers what ``recommend`` computes from the whole history
(replayed event log, repeated users in one request, histories past max_len, SASRec key-value caches of different
lengths in one request), ``reset``, a full cache evicting the
least recently used user, expiry, version changes, and the metrics."""

import urllib.request

import numpy as np
import pytest

from tfseqrec.export.exporter import ExportConfig, export_model
from tfseqrec.models import build_model
from tfseqrec.serving import Client, Server, ServerConfig
from tfseqrec.serving.model_config import ModelEntry
from tfseqrec.serving.user_state import StatefulSignatures, UserStateCache, UserStateOptions, _Entry

VOCAB = ["[PAD]", "[OOV]"] + [f"item{i}" for i in range(40)]
COUNTS = [0, 0] + list(range(40, 0, -1))


def _export(root, name, max_len, variants=("brute_force",), architecture="gru4rec"):
    model = build_model(architecture, {"embedding_dim": 8, "max_len": max_len}, len(VOCAB)).build_for_inputs()
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    export_model(model, VOCAB, COUNTS, str(root), name, config=ExportConfig(variants=variants))
    return str(root / f"{name}_brute_force")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("stateful")
    models = (
        ModelEntry("gru", _export(root, "gru", 50)),
        ModelEntry("short", _export(root, "short", 4)),
        ModelEntry("sas", _export(root, "sas", 20, architecture="sasrec")),
    )
    config = ServerConfig(models=models, grpc_port=0, rest_port=0, poll_seconds=0, user_state_max_users=6)
    with Server(config) as s:
        yield s


def _ids(rows):
    return [[item for item, _ in row] for row in rows]


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_a_replayed_log_gets_the_top_k_of_the_whole_history(server, protocol):
    target = f"127.0.0.1:{server.grpc_port}" if protocol == "grpc" else f"http://127.0.0.1:{server.rest_port}"
    client = Client(target, "gru", protocol=protocol)
    rng = np.random.default_rng(1)
    users = [f"{protocol}_u{i}" for i in range(3)]
    log = [(users[rng.integers(3)], f"item{rng.integers(40)}") for _ in range(30)] + [(users[0], "brand_new")]
    histories = {u: [] for u in users}
    for user, item in log:
        histories[user].append(item)
        streamed = client.append([user], [item], k=6)
        assert _ids(streamed) == _ids(client.recommend([histories[user]], k=6))
    # several rows of one user in one request are applied in order
    batch_users, batch_items = [users[1], users[1], users[2]], ["item3", "item4", "item5"]
    out = client.append(batch_users, batch_items, k=4)
    histories[users[1]] += ["item3", "item4"]
    histories[users[2]] += ["item5"]
    expected = _ids(client.recommend([histories[users[1]][:-1], histories[users[1]], histories[users[2]]], k=4))
    assert _ids(out) == expected
    assert client.reset([users[0], "nobody"]) == [True, False]
    assert _ids(client.append([users[0]], ["item9"], k=3)) == _ids(client.recommend([["item9"]], k=3))


def test_key_value_caches_of_users_with_different_lengths_share_a_request_and_are_sized_by_history(server):
    client = Client(f"127.0.0.1:{server.grpc_port}", "sas")
    cache = server.manager.user_states("sas")
    histories = {"kv_short": ["item1"], "kv_long": [f"item{i}" for i in range(2, 14)]}
    for user, items in histories.items():
        for item in items:
            client.append([user], [item], k=4)
    hits = cache.counts["hits"]
    out = client.append(["kv_short", "kv_long"], ["item20", "item21"], k=4)  # 1 and 12 cached positions
    assert cache.counts["hits"] - hits == 2  # both stepped in one call, the short state padded to the long one
    histories["kv_short"].append("item20")
    histories["kv_long"].append("item21")
    assert _ids(out) == _ids(client.recommend(list(histories.values()), k=4))
    per_item = 2 * 2 * 8  # two blocks' keys and values of dimension 8 per position
    for user, items in histories.items():
        assert cache.get(user.encode()).state.shape == (1 + per_item * len(items),)  # padding trimmed


def test_histories_past_max_len_are_recomputed_exactly(server):
    client = Client(f"127.0.0.1:{server.grpc_port}", "short")
    history = []
    for item in ["item1", "item2", "item3", "item4", "item5", "item6", "item7"]:
        history.append(item)
        assert _ids(client.append(["long"], [item], k=5)) == _ids(client.recommend([history], k=5))
    counts = server.manager.user_states("short").counts
    assert counts["hits"] == 3 and counts["new_users"] == 1 and counts["rebuilt_length"] == 3


def test_a_full_cache_evicts_the_least_recently_used_user_and_metrics_count_it(server):
    client = Client(f"127.0.0.1:{server.grpc_port}", "short")
    cache = server.manager.user_states("short")
    before = cache.counts["evicted_capacity"]
    for i in range(8):  # 6 users fit
        client.append([f"lru{i}"], ["item1"], k=2)
    assert len(cache) == 6 and cache.counts["evicted_capacity"] - before >= 2
    assert cache.get(b"lru0") is None and cache.get(b"lru7") is not None
    # an evicted user starts again as a new one
    assert _ids(client.append(["lru0"], ["item2"], k=3)) == _ids(client.recommend([["item2"]], k=3))
    with urllib.request.urlopen(f"http://127.0.0.1:{server.rest_port}/monitoring/prometheus/metrics") as r:
        text = r.read().decode()
    assert ':tfseqrec:serving:user_state_users{model_name="short"} 6.0' in text
    assert ':tfseqrec:serving:user_state_events_total{event="evicted_capacity",model_name="short"}' in text


def test_models_without_streaming_have_no_append(tmp_path):
    model_config = {"embedding_dim": 8, "max_len": 5, "num_blocks": 1, "position_origin": "last"}  # no cache form
    model = build_model("sasrec", model_config, len(VOCAB)).build_for_inputs()
    export_model(model, VOCAB, COUNTS, str(tmp_path), "sas", config=ExportConfig(variants=("brute_force",)))
    config = ServerConfig(
        models=(ModelEntry("sas", str(tmp_path / "sas_brute_force")),), grpc_port=0, rest_port=None, poll_seconds=0
    )
    with Server(config) as s:
        with pytest.raises(Exception, match="no signature 'append'"):
            Client(f"127.0.0.1:{s.grpc_port}", "sas").append(["u"], ["item1"])


class _FakeServable:
    """Records which stream signature ran; the state counts the steps."""

    def __init__(self, version):
        self.version, self.export_info, self.calls = version, {"max_len": 10}, []

    def run(self, signature, inputs):
        self.calls.append(signature)
        rows = len(inputs["k"])
        state = inputs["state"] + 1 if "state" in inputs else np.zeros((rows, 2), np.float32)
        return {"state": state, "item_ids": np.full((rows, 1), b"x", dtype=object), "scores": np.zeros((rows, 1))}


def test_a_new_version_rebuilds_the_state_and_idle_users_expire():
    now = [0.0]
    cache = UserStateCache(UserStateOptions(ttl_seconds=10), clock=lambda: now[0])
    stateful = StatefulSignatures(cache)
    v1, v2 = _FakeServable(1), _FakeServable(2)
    ask = {"user": np.array([b"u"], dtype=object), "item": np.array([b"a"], dtype=object), "k": np.array([1])}
    stateful(v1, "append", ask)
    stateful(v1, "append", ask)
    stateful(v2, "append", ask)
    assert v1.calls == ["stream_start", "stream_append"] and v2.calls == ["stream_start"]
    assert cache.counts["rebuilt_version"] == 1 and cache.get(b"u").items == [b"a", b"a", b"a"]
    now[0] = 11.0
    assert cache.get(b"u") is None and cache.counts["evicted_ttl"] == 1


def test_the_byte_bound_evicts_too():
    cache = UserStateCache(UserStateOptions(max_bytes=2000))
    for i in range(10):
        cache.put(f"u{i}".encode(), _Entry(1, np.zeros(64, np.float32), [b"item"] * 10, 0.0))
    assert cache.bytes <= 2000 and 0 < len(cache) < 10 and cache.counts["evicted_capacity"] == 10 - len(cache)

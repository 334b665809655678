"""End to end: a trained SASRec exported by `tfseqrec export` (v1) and `export_model` (v2), served by `Server` from
the written models.config, queried with the real TF Serving stub and with `Client` over gRPC and REST.

The served brute-force top-k equals the in-memory model's full ranking (``score_all``, seen items excluded)
exactly; the ScaNN variant overlaps it strongly; a version published while requests run is picked up without a
failed request.
"""

import shutil
import threading

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.export.reference import reference_top_k
from tests.export.trained import MAX_K
from tests.serving.conftest import Stubs, history_array, predict_request, wait_for
from tfseqrec.export import contract
from tfseqrec.export.exporter import ExportConfig, export_model
from tfseqrec.export.models_config import update_export_configs
from tfseqrec.serving import Client, Server, ServerConfig

K = 10


def _histories(vocab, count=24, seed=3):
    """Random histories of 1..14 known items (some longer than the model's max_len 10), plus edge cases."""
    rng = np.random.default_rng(seed)
    rows = [[vocab[i] for i in rng.integers(2, len(vocab), rng.integers(1, 15))] for _ in range(count)]
    rows.append([vocab[3], "no-such-item", vocab[3], vocab[40]])  # OOV inside, a repeated item
    rows.append([vocab[i] for i in range(2, 27)])  # 25 items: the latest 10 are the input
    return rows


def _overlap(got, want):
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got, want)]))


@pytest.fixture(scope="module")
def server(exported):
    """The CLI's export (both variants) served from the models.config it wrote, on ephemeral ports."""
    config = ServerConfig(
        model_config_file=str(exported.base / "models.config"), grpc_port=0, rest_port=0, poll_seconds=0
    )
    with Server(config) as s:
        assert sorted(s.manager.model_names) == ["tiny_brute_force", "tiny_scann"]
        yield s


def _predict_with_stub(port, model_name, histories):
    """One Predict over the real stub: (response, top-k item ids as lists of str)."""
    stubs = Stubs(port)
    try:
        response = stubs.predict.Predict(predict_request(model_name, {"history": history_array(histories)}), timeout=30)
    finally:
        stubs.close()
    ids = [[x.decode() for x in row] for row in tf.make_ndarray(response.outputs[contract.ITEM_IDS]).tolist()]
    return response, ids


def test_real_stub_brute_force_equals_in_memory_full_ranking(exported, server):
    histories = _histories(exported.vocabulary)
    want_ids, want_scores = reference_top_k(exported.model, exported.vocabulary, histories, K)
    response, ids = _predict_with_stub(server.grpc_port, "tiny_brute_force", histories)
    assert (response.model_spec.name, response.model_spec.version.value) == ("tiny_brute_force", 1)
    assert response.model_spec.signature_name == contract.SERVING_SIGNATURE
    assert ids == want_ids
    np.testing.assert_allclose(tf.make_ndarray(response.outputs[contract.SCORES]), want_scores, rtol=1e-5, atol=1e-6)
    assert not any(set(row) & set(h) for row, h in zip(ids, histories))


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_client_brute_force_exact_and_scann_overlap(exported, server, protocol):
    histories = _histories(exported.vocabulary, seed=7)
    target = f"127.0.0.1:{server.grpc_port}" if protocol == "grpc" else f"http://127.0.0.1:{server.rest_port}"
    for k in (K, MAX_K):
        want_ids, want_scores = reference_top_k(exported.model, exported.vocabulary, histories, k)
        with Client(target, "tiny_brute_force", protocol=protocol) as client:
            got = client.recommend(histories, k=k)
        assert [[i for i, _ in row] for row in got] == want_ids
        np.testing.assert_allclose([[s for _, s in row] for row in got], want_scores, rtol=1e-5, atol=1e-6)
        with Client(target, "tiny_scann", protocol=protocol) as client:
            approx = client.recommend(histories, k=k)
            assert [len(row) for row in approx] == [k] * len(histories)
            assert _overlap([[i for i, _ in row] for row in approx], want_ids) >= 0.9
            assert not any({i for i, _ in row} & set(h) for row, h in zip(approx, histories))
            if k == K:  # serving_default is the export's default k with seen items excluded
                assert [[i for i, _ in row] for row in client.recommend(histories)] == [
                    [i for i, _ in row] for row in approx
                ]
            assert [s["state"] for s in client.status()] == ["AVAILABLE"]


def test_scann_through_the_real_stub_overlaps_the_full_ranking(exported, server):
    histories = _histories(exported.vocabulary, count=64, seed=11)
    want_ids, _ = reference_top_k(exported.model, exported.vocabulary, histories, K)
    _, ids = _predict_with_stub(server.grpc_port, "tiny_scann", histories)
    assert _overlap(ids, want_ids) >= 0.9


def test_a_version_exported_while_requests_run_is_served_without_failures(exported, tmp_path):
    """The CLI's export (v1) copied to a fresh base -> serve -> export_model v2 (default k 5) under load -> v2."""
    base = tmp_path / "saved_models"
    shutil.copytree(exported.base, base)
    names = {f"tiny_{v}": str(base / f"tiny_{v}") for v in contract.VARIANTS}
    update_export_configs(str(base), names, contract.VARIANTS)  # point models.config at the copy
    histories = _histories(exported.vocabulary, count=4, seed=5)
    want10, _ = reference_top_k(exported.model, exported.vocabulary, histories, 10)
    want5, _ = reference_top_k(exported.model, exported.vocabulary, histories, 5)
    config = ServerConfig(model_config_file=str(base / "models.config"), grpc_port=0, rest_port=0, poll_seconds=0.1)
    with Server(config) as server:
        assert sorted(server.manager.model_names) == sorted(names)
        stubs = Stubs(server.grpc_port)
        rest = Client(f"127.0.0.1:{server.rest_port}", "tiny_brute_force", protocol="rest")
        seen = {name: [] for name in names}
        failures, stop = [], threading.Event()
        request = {name: predict_request(name, {"history": history_array(histories)}) for name in seen}

        def load(name):
            while not stop.is_set():
                try:
                    r = stubs.predict.Predict(request[name], timeout=30)
                    ids = [[x.decode() for x in row] for row in tf.make_ndarray(r.outputs[contract.ITEM_IDS]).tolist()]
                    version = r.model_spec.version.value
                    if name == "tiny_brute_force":
                        assert ids == (want10 if version == 1 else want5), (version, ids)
                    else:
                        assert len(ids[0]) == (10 if version == 1 else 5)
                    seen[name].append(version)
                except Exception as e:  # noqa: BLE001
                    failures.append(f"{name}: {e!r}")
                # Pacing, not a wait for a condition: the loop pauses so the exporter thread (Python-heavy
                # tracing) gets its share of the GIL; waiting on `stop` ends the pause at once when the test stops.
                stop.wait(0.02)

        def rest_load():
            while not stop.is_set():
                try:
                    assert [[i for i, _ in row] for row in rest.recommend(histories)] in (want10, want5)
                except Exception as e:  # noqa: BLE001
                    failures.append(f"rest: {e!r}")
                stop.wait(0.02)  # pacing, as in load()

        threads = [threading.Thread(target=load, args=(n,)) for n in seen] + [threading.Thread(target=rest_load)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: all(len(v) > 5 for v in seen.values()), what="first responses")
            v2 = export_model(
                exported.model,
                exported.vocabulary,
                exported.counts,
                str(base),
                "tiny",
                config=ExportConfig(default_k=5, max_k=MAX_K, warmup_requests=False),
            )
            assert sorted(v2) == sorted(contract.VARIANTS) and all(p.endswith("/2") for p in v2.values())
            wait_for(lambda: all(v and v[-1] == 2 for v in seen.values()), timeout=60, what="version 2 to be served")
            counts = {n: len(v) for n, v in seen.items()}
            wait_for(lambda: all(len(seen[n]) > counts[n] + 5 for n in seen), what="more responses")
        finally:
            stop.set()
            for t in threads:
                t.join()
            stubs.close()
            rest.close()
        assert failures == []
        for name, versions in seen.items():
            assert versions[0] == 1 and versions[-1] == 2
            assert set(versions[versions.index(2) :]) == {2}, name  # never back to version 1
            assert {s.version: s.state for s in server.manager.status(name)} == {2: "AVAILABLE", 1: "END"}

"""Version lifecycle: hot swap under load, corrupt versions, removal, policies, several models at once."""

import logging
import threading
import time

import grpc
import pytest
import tensorflow as tf

from tests.serving.conftest import (
    Stubs,
    history_array,
    http,
    make_model_dir,
    predict_request,
    remove_version,
    wait_for,
    write_corrupt_version,
)
from tfseqrec.serving import Server, ServerConfig
from tfseqrec.serving.model_config import ModelEntry, VersionPolicy
from tests.serving.fixture_model import copy_version

POLL = 0.1


def served_version(stubs, model="m"):
    return stubs.predict.Predict(
        predict_request(model, {"history": history_array([["item_1"]])}), timeout=10
    ).model_spec.version.value


def states(server, model="m"):
    return {s.version: s for s in server.manager.status(model)}


def test_new_version_is_swapped_in_while_requests_keep_succeeding(exports, tmp_path):
    base = make_model_dir(tmp_path, "m", {1: exports["a"]})
    config = ServerConfig(models=(ModelEntry("m", base),), grpc_port=0, rest_port=0, poll_seconds=POLL)
    with Server(config) as server:
        stubs = Stubs(server.grpc_port)
        seen, spans, failures, stop = [], [], [], threading.Event()

        def load(protocol):
            while not stop.is_set():
                try:
                    if protocol == "grpc":
                        start = time.monotonic()
                        version = served_version(stubs)
                        seen.append(version)
                        spans.append((start, time.monotonic(), version))
                    else:
                        status, body = http(
                            server.rest_port, "POST", "/v1/models/m:predict", {"instances": [["item_1"]]}
                        )
                        assert status == 200, body
                except Exception as e:  # noqa: BLE001
                    failures.append(repr(e))

        threads = [threading.Thread(target=load, args=(p,)) for p in ("grpc", "grpc", "rest")]
        for t in threads:
            t.start()
        wait_for(lambda: len(seen) > 10, what="first responses")
        copy_version(exports["b"], base, 2)  # written to .tmp-2, then renamed
        wait_for(lambda: seen and seen[-1] == 2, what="version 2 to be served")
        wait_for(lambda: states(server)[1].state == "END", what="version 1 to be unloaded")
        n = len(seen)
        wait_for(lambda: len(seen) > n + 10, what="more responses")
        stop.set()
        for t in threads:
            t.join()
        stubs.close()
        assert failures == []
        assert seen[0] == 1 and seen[-1] == 2 and sorted(set(seen)) == [1, 2]
        first_v2_done = min(end for _, end, v in spans if v == 2)
        assert all(v == 2 for start, _, v in spans if start > first_v2_done)  # never back to version 1
        assert [(v, s.state) for v, s in states(server).items()] == [(2, "AVAILABLE"), (1, "END")]


def test_corrupt_version_is_reported_not_served_and_retried_only_when_its_files_change(exports, tmp_path, caplog):
    base = make_model_dir(tmp_path, "m", {1: exports["a"]})
    config = ServerConfig(models=(ModelEntry("m", base),), grpc_port=0, rest_port=0, poll_seconds=POLL)
    caplog.set_level(logging.ERROR, logger="tfseqrec.serving.manager")
    with Server(config) as server:
        stubs = Stubs(server.grpc_port)
        write_corrupt_version(base, 2)
        bad = wait_for(
            lambda: states(server).get(2) if 2 in states(server) and states(server)[2].state == "END" else None,
            what="version 2 to fail",
        )
        assert bad.error_code != "OK" and "saved_model.pb" in bad.error_message
        polls = server.manager.polls
        assert server.manager.wait_for_polls(polls + 3, timeout=30)  # later polls see the same corrupt files
        assert sum("version 2 failed to load" in r.getMessage() for r in caplog.records) == 1  # not retried
        assert served_version(stubs) == 1 and states(server)[1].state == "AVAILABLE"
        with pytest.raises(grpc.RpcError) as e:
            stubs.predict.Predict(predict_request("m", {"history": history_array([["a"]])}, version=2), timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        status, body = http(server.rest_port, "GET", "/v1/models/m/versions/2")
        assert status == 200 and body["model_version_status"][0]["state"] == "END"
        assert body["model_version_status"][0]["status"]["error_code"] == bad.error_code
        assert http(server.rest_port, "GET", "/readyz")[0] == 200
        # Fixing the files makes the poller retry the version.
        remove_version(base, 2)
        copy_version(exports["b"], base, 2)
        wait_for(lambda: served_version(stubs) == 2, what="fixed version 2 to be served")
        stubs.close()


def test_removed_version_is_unloaded_and_the_previous_one_served(exports, tmp_path):
    base = make_model_dir(tmp_path, "m", {1: exports["a"], 2: exports["b"]})
    config = ServerConfig(
        models=(ModelEntry("m", base, VersionPolicy("latest", 2)),), grpc_port=0, rest_port=None, poll_seconds=POLL
    )
    with Server(config) as server:
        stubs = Stubs(server.grpc_port)
        assert served_version(stubs) == 2 and server.manager.live_versions("m") == [1, 2]
        remove_version(base, 2)
        wait_for(lambda: states(server)[2].state == "END", what="version 2 to be unloaded")
        assert served_version(stubs) == 1
        stubs.close()


def test_models_without_versions_are_not_ready_until_one_arrives(exports, tmp_path):
    empty = tmp_path / "later"
    config = ServerConfig(
        models=(ModelEntry("m", make_model_dir(tmp_path, "m", {3: exports["a"]})), ModelEntry("later", str(empty))),
        grpc_port=0,
        rest_port=0,
        poll_seconds=POLL,
    )
    with Server(config) as server:
        stubs = Stubs(server.grpc_port)
        status, body = http(server.rest_port, "GET", "/readyz")
        assert status == 503 and body == {"ready": False, "models": {"later": [], "m": [3]}}
        with pytest.raises(grpc.RpcError) as e:
            served_version(stubs, "later")
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "no version directories" in e.value.details()
        empty.mkdir()
        (empty / ".tmp-5").mkdir()  # an export in progress is ignored
        copy_version(exports["b"], str(empty), 4)
        wait_for(lambda: http(server.rest_port, "GET", "/readyz")[0] == 200, what="readiness")
        assert served_version(stubs, "later") == 4 and served_version(stubs, "m") == 3
        assert [s.version for s in server.manager.status("later")] == [4]
        stubs.close()


def test_specific_policy_serves_only_listed_versions(exports, tmp_path):
    base = make_model_dir(tmp_path, "m", {1: exports["a"], 2: exports["b"], 3: exports["a"]})
    config = ServerConfig(
        models=(ModelEntry("m", base, VersionPolicy("specific", versions=(1, 2))),),
        grpc_port=0,
        rest_port=None,
        poll_seconds=0,
    )
    with Server(config) as server:
        assert server.manager.live_versions("m") == [1, 2]
        stubs = Stubs(server.grpc_port)
        assert served_version(stubs) == 2
        out = stubs.predict.Predict(
            predict_request("m", {"history": history_array([["item_1"]])}, version=1), timeout=10
        )
        assert tf.make_ndarray(out.outputs["item_ids"]).shape == (1, 5)
        stubs.close()

"""Distributed training: one synchronous step equals one process on the global batch; two workers on
localhost train to the same result without hanging; the strategy settings are checked."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, generated_dataset
from tfseqrec.training.config import TrainConfig
from tfseqrec.training.distribution import free_ports

STEP = Path(__file__).with_name("distributed_step.py")
TIMEOUT = 300  # seconds: a hung collective fails the test instead of the whole run


def env(tf_config=None):
    out = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out.pop("TF_CONFIG", None)
    if tf_config is not None:
        out["TF_CONFIG"] = json.dumps(tf_config)
    return out


def cluster(n):
    return {"worker": [f"localhost:{port}" for port in free_ports(n)]}


def run_workers(command, n=2):
    """Starts ``n`` workers of one cluster; returns their (returncode, stdout, stderr) once all ended."""
    spec = cluster(n)
    processes = [
        subprocess.Popen(
            command,
            env=env({"cluster": spec, "task": {"type": "worker", "index": i}}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    results = []
    try:
        for p in processes:
            out, err = p.communicate(timeout=TIMEOUT)
            results.append((p.returncode, out, err))
    finally:
        for p in processes:
            p.kill()
    return results


def one_step(name):
    out = subprocess.run(
        [sys.executable, str(STEP), name], env=env(), capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def assert_same_step(a, b):
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    for x, y in zip(a["weights"], b["weights"]):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def single():
    return one_step("default")


def test_two_replicas_take_the_one_process_step(single):
    assert_same_step(one_step("mirrored2"), single)


def test_two_workers_take_the_one_process_step(single):
    results = run_workers([sys.executable, str(STEP), "multi_worker"])
    for code, out, err in results:
        assert code == 0, err[-2000:]
        assert_same_step(json.loads(out.strip().splitlines()[-1]), single)


def test_a_parameter_server_step_is_the_one_process_step(single):
    assert_same_step(one_step("parameter_server"), single)


def test_in_process_parameter_server_cluster_trains_end_to_end(tmp_path):
    data = generated_dataset(tmp_path / "data", 200, 80, 6)
    run = tmp_path / "run"
    command = [sys.executable, "-m", "tfseqrec.cli", "train", "--data-dir", str(data), "--model", "sasrec"]
    command += ["--output-dir", str(run), "--epochs", "3", "model_config.embedding_dim=16", "model_config.max_len=20"]
    command += ["batch_size=64", "verbose=0", "strategy=parameter_server", "local_cluster=[2, 2]"]
    done = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "device_count" not in done.stderr  # the servers' multi-line SessionOptions logs are filtered
    summary = json.loads((run / "run.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_run"] == 3
    assert summary["config"]["local_cluster"] == [2, 2]
    history = (run / "history.csv").read_text().splitlines()
    losses = [float(line.split(",")[2]) for line in history[1:]]
    assert losses[-1] < losses[0]  # it learns


def test_two_workers_train_end_to_end_to_the_same_result(tmp_path):
    data = generated_dataset(tmp_path / "data", 200, 80, 5)
    run = tmp_path / "run"
    command = [sys.executable, "-m", "tfseqrec.cli", "train", "--data-dir", str(data), "--model", "sasrec"]
    command += ["--output-dir", str(run), "--epochs", "3", "model_config.embedding_dim=16", "model_config.max_len=20"]
    command += ["batch_size=64", "verbose=0", "strategy=multi_worker"]
    for code, _, err in run_workers(command):
        assert code == 0, err[-2000:]
    chief = json.loads((run / "run.json").read_text())
    other = json.loads((run / "workers" / "worker_1" / "run.json").read_text())
    assert chief["status"] == other["status"] == "finished" and chief["epochs_run"] == 3
    assert chief["config"]["strategy"] == "multi_worker"
    assert chief["best_valid_NDCG@10"] == pytest.approx(other["best_valid_NDCG@10"], abs=1e-9)
    assert chief["test_metrics"]["NDCG@10"] == pytest.approx(other["test_metrics"]["NDCG@10"], abs=1e-9)


def test_strategy_settings_are_checked(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="strategy='ring'"):
        TrainConfig(data_dir="d", strategy="ring")
    with pytest.raises(ValueError, match="wall-clock budget"):
        TrainConfig(data_dir="d", strategy="multi_worker", time_budget_minutes=5)
    with pytest.raises(ValueError, match="batching=padded"):
        TrainConfig(data_dir="d", strategy="mirrored", batching="session_parallel")
    from tfseqrec.training.distribution import make_strategy, shard_options

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not JSON"):
        make_strategy("multi_worker")
    from tfseqrec.training.distribution import in_process_cluster

    with pytest.raises(ValueError, match="needs >= 1 worker and >= 1 ps"):
        in_process_cluster(2, 0)
    import tensorflow as tf

    policy = tf.data.experimental.AutoShardPolicy
    assert shard_options(4, 2).experimental_distribute.auto_shard_policy == policy.FILE
    assert shard_options(1, 2).experimental_distribute.auto_shard_policy == policy.DATA


def test_global_batch_must_divide_among_replicas():
    from tfseqrec.training.distribution import check_global_batch

    class TwoReplicas:
        num_replicas_in_sync = 2

    check_global_batch(64, TwoReplicas())
    with pytest.raises(ValueError, match="multiple of 2"):
        check_global_batch(65, TwoReplicas())

"""A runner whose commands write plausible results in milliseconds, and fabricated cells for the report."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from tfseqrec.benchmark.runner import CellError, GridRunner, write_json

NUM_USERS = 40


def per_user_values(name: str, seed: int) -> np.ndarray:
    """Deterministic per-user NDCG@10 of a fake model: a run's level plus seed noise."""
    rng = np.random.default_rng([zlib.crc32(name.encode()), seed])
    level = {"good": 0.4, "weak": 0.2}.get(name.split("_")[0], 0.1)
    return np.clip(level + rng.normal(0.0, 0.15, NUM_USERS), 0.0, 1.0)


def write_results(directory: Path, values: np.ndarray) -> dict:
    """``metrics.json`` and ``per_user.npz`` as the evaluator writes them (the parts the benchmark reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    summary = {
        "NDCG@10": float(values.mean()),
        "HR@10": float((values > 0).mean()),
        "MRR": float(values.mean() / 2),
        "num_users": NUM_USERS,
        "users_per_second": 1000.0,
        "seconds": 0.04,
    }
    protocol = {
        "name": "full_ranking",
        "split": "test",
        "ranking": "full",
        "ties": "conservative",
        "filter_seen": True,
        "targets": "single (target_id)",
        "ks": [1, 5, 10],
        "dataset_protocol": {"split": "leave_one_out"},
    }
    (directory / "metrics.json").write_text(json.dumps({"summary": summary, "protocol": protocol, "config": {}}))
    np.savez(
        directory / "per_user.npz",
        sequence_ids=np.array([f"u{i:03d}" for i in range(NUM_USERS)]),
        **{
            "NDCG@10": values,
            "HR@10": (values > 0).astype(float),
            "MRR": values / 2,
            "rank": np.arange(1, NUM_USERS + 1),
        },
    )
    return {"summary": summary, "protocol": protocol}


class FakeRunner(GridRunner):
    """``execute`` fabricates the output of `tfseqrec train` / `tfseqrec evaluate --baseline`; runs whose name
    starts with ``broken`` fail. No data, TensorFlow or subprocess."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("log", lambda message: None)
        super().__init__(*args, **kwargs)
        self.calls: list[list[str]] = []

    def prepare_dataset(self, dataset):
        return self.data_path(dataset)

    def train_lengths(self, dataset, data_dir):
        return {10: 30, 25: 10}

    def analyze(self, cell, data_dir, directory, record):
        return {
            "status": "done",
            "directory": "analysis",
            "segments": [
                {"dimension": "history_length", "segment": "1-5", "count": 10, "metrics": {"NDCG@10": 0.1}},
                {"dimension": "target_popularity", "segment": "head", "count": 30, "metrics": {"NDCG@10": 0.3}},
            ],
            "failures": [
                {
                    "sequence_id": "u007",
                    "target_item": "i9",
                    "rank": 40,
                    "history": ["i1", "i2"],
                    "top_items": ["i3", "i4"],
                }
            ],
        }

    def execute(self, args, log_path, append=False):
        self.calls.append(list(args))
        out = Path(args[args.index("--output-dir") + 1])  # train: the cell; evaluate: <cell>/test
        with open(log_path, "a" if append else "w") as log:
            log.write("fake\n")
        cell = out if args[0] == "train" else out.parent
        run, seed = cell.parent.name, int(cell.name[len("seed") :])
        if args[0] == "evaluate":
            write_results(out, per_user_values(run, seed))
            return
        if run.startswith("broken"):
            raise CellError("`tfseqrec train` exited with status 1; end of log:\nValueError: boom")
        results = write_results(out / "test", per_user_values(run, seed))
        chain = continuation(args)
        (out / "checkpoints").mkdir(exist_ok=True)
        (out / "checkpoints" / "best.index").write_bytes(b"x" * 100)
        (out / "checkpoints" / "best.data-00000-of-00001").write_bytes(b"x" * 1000)
        (out / "history.csv").write_text("epoch,epoch_seconds,loss\n0,2.0,5.0\n1,3.0,4.0\n")
        write_json(
            out / "run.json",
            {
                "status": "finished",
                "model": "sasrec",
                "model_config": {"max_len": 20},
                "num_items": 50,
                "config": {"batch_size": 8, "batching": "padded", "steps_per_epoch": None, "seed": seed},
                "protocol": results["protocol"],
                "test_metrics": results["summary"],
                "test_split": "test",
                "validation_history": [
                    {"epoch": 1, "seconds": 0.5, "NDCG@10": 0.1},
                    {"epoch": 2, "seconds": 0.5, "NDCG@10": 0.2},
                ],
                "best_epoch": 2,
                "epochs_run": 2,
                "stopped_by": "epochs",
                "seconds_per_epoch": 2.5,
                "train_seconds": 6.0,
                "eval_seconds": 0.1,
                "total_seconds": 7.0,
                "peak_memory_mib": 500.0,
                "machine": {"cpus": 2},
                **chain,
            },
        )


def continuation(args: list[str]) -> dict:
    """What `tfseqrec train` adds to run.json when started with ``init_from=DIR`` (the fake's run is 2 epochs,
    best 2, 6 training seconds): where the weights came from and the chain's cost."""
    start = next((a.split("=", 1)[1] for a in args if a.startswith("init_from=")), None)
    if start is None:
        return {}
    parent = json.loads((Path(start) / "run.json").read_text())
    chain = parent.get("cumulative", {})
    before = {
        "epochs_before": chain.get("best_epoch", parent["best_epoch"]),
        "train_seconds_before": chain.get("train_seconds", parent["train_seconds"]),
    }
    return {
        "initialised_from": {
            "run_dir": start,
            "best_epoch": parent["best_epoch"],
            "epochs_run": parent["epochs_run"],
            "train_seconds": parent["train_seconds"],
            **before,
        },
        "cumulative": {
            "best_epoch": before["epochs_before"] + 2,
            "epochs_run": before["epochs_before"] + 2,
            "train_seconds": before["train_seconds_before"] + 6.0,
        },
    }

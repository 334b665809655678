"""The tables of benchmarks/peers/throughput.py and compare.py: busy-machine flags and other processes' CPU
(no RecBole, no training: the scripts' table builders on fixed rows)."""
import importlib.util
from pathlib import Path

PEERS = Path(__file__).resolve().parents[1] / "benchmarks" / "peers"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"peers_{name}", PEERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_throughput_table_marks_ratios_taken_on_a_busy_machine():
    throughput = _script("throughput")
    args = type("Args", (), {"ours_data": "data/beauty", "max_len": 50, "batch_size": 128, "recbole_batches": 20,
                             "steps": 32, "bucket_pool_batches": 0})()

    def row(model, ours_other, recbole_other):
        return {"model": model,
                "ours": {"targets_per_second": 9000.0, "peak_memory_mib": 1000.0, "configuration": "x",
                         "other_cores": ours_other},
                "recbole": {"targets_per_second": 60.0, "peak_memory_mib": 5000.0, "other_cores": recbole_other}}

    lines = throughput.table([row("Idle", 0.02, 0.01), row("Busy", 0.0, 1.7), row("Unknown", None, None)],
                             args).splitlines()
    idle, busy, unknown = (next(l for l in lines if l.startswith(f"| {m} ")) for m in ("Idle", "Busy", "Unknown"))
    assert "150.0x (met)" in idle and idle.endswith("| 0.02 / 0.01 |")
    assert "150.0x (busy machine: not comparable)" in busy and busy.endswith("| 0.00 / 1.70 |")
    assert "150.0x (met)" in unknown and unknown.endswith("| ? / ? |")
    assert "0.20 (met)" in idle


def test_peer_comparison_prints_the_cpu_other_processes_used_during_our_training():
    compare = _script("compare")
    system = {"system": "tfseqrec", "model": "sasrec", "dir": "d", "NDCG@10": 0.1, "NDCG@10_ci": None,
              "HR@10": 0.2, "HR@10_ci": None, "MRR": 0.1, "num_users": 10, "filter_seen": False, "num_items": 5}
    table = {"systems": [dict(system, name="idle", costs={"other_cores": 0.04}),
                         dict(system, name="unknown", costs={})],
             "comparisons": [], "warnings": [], "protocol": "p", "num_resamples": 10}
    text = compare.markdown(table)
    assert "CPU used by other processes during our training (cores, `other_cores_during_training`): idle 0.04." in text
    assert "unknown 0" not in text

"""How much does the order of same-second ratings change ML-1M leave-one-out accuracy?

ML-1M users rate many movies within the same second (sign-up pages), so "chronological order" leaves the
order inside each second open, and the leave-one-out validation and test targets depend on it. The
shared ``ml-1m.seq.tsv`` is reassembled (see its SOURCE.md): its order inside equal timestamps is the
one of a third-party copy, not ``ratings.dat``'s. Only users 1-2,999 have raw timestamps
(``original/ratings.dat.first487650rows.gz``), so this script compares, on those users only:

* ``file_order``: stable sort of ``ratings.dat`` by timestamp (rows of one second keep their file order,
  which is what a stable ``sort_values("timestamp")`` of the original file gives);
* ``shared_order``: the order of ``ml-1m.seq.tsv`` (what every ML-1M figure of this package uses);
* ``random_order_<s>``: a random order inside each second (seeds 1, 2).

Each variant goes through the same pipeline (``tfseqrec preprocess --order-col seq_pos --item-min-count
5``, leave-one-out) and is scored by the item-to-item transitions and most-popular baselines (full ranking,
filter_seen, ties against the model); ``--train CONFIG`` also trains that config on every variant
(e.g. ``configs/sasrec_ml1m.yaml time_budget_minutes=30``). It prints how many users' validation and test
targets differ between the variants, and the metrics side by side.

    python benchmarks/ml1m_tie_order.py [--workdir DIR] [--train configs/sasrec_ml1m.yaml KEY=VALUE ...]
        [--train-variants file_order shared_order] [--run-prefix converged]

Writes only under ``--workdir`` (default: a temporary directory); MovieLens files are read in place.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ML1M = REPO.parent / "shared" / "data" / "ml-1m"
RAW = ML1M / "original" / "ratings.dat.first487650rows.gz"
SHARED_TSV = ML1M / "ml-1m.seq.tsv"
COLUMNS = ["user_id", "item_id", "rating", "seq_pos"]


def read_raw(path: Path = RAW) -> pd.DataFrame:
    """``ratings.dat`` rows (users 1-2,999) with their file position."""
    with gzip.open(path, "rt") as f:
        raw = pd.read_csv(f, sep="::", engine="python", names=["user_id", "item_id", "rating", "timestamp"])
    raw["file_pos"] = np.arange(len(raw))
    return raw


def ordered(raw: pd.DataFrame, tie_key: str) -> pd.DataFrame:
    """Each user's ratings sorted by timestamp, ties by ``tie_key``; ``seq_pos`` = position in the user's order."""
    out = raw.sort_values(["user_id", "timestamp", tie_key], kind="stable").copy()
    out["seq_pos"] = out.groupby("user_id").cumcount()
    return out[COLUMNS]


def variants(raw: pd.DataFrame, shared: pd.DataFrame) -> dict[str, pd.DataFrame]:
    users = set(raw.user_id)
    out = {
        "file_order": ordered(raw, "file_pos"),
        "shared_order": shared[shared.user_id.isin(users)][COLUMNS].sort_values(["user_id", "seq_pos"]),
    }
    for seed in (1, 2):
        shuffled = raw.assign(random_key=np.random.default_rng(seed).random(len(raw)))
        out[f"random_order_{seed}"] = ordered(shuffled, "random_key")
    return out


def target_differences(frames: dict[str, pd.DataFrame], base: str = "file_order") -> dict[str, dict[str, int]]:
    """Users whose test (last) and validation (second to last) items differ from ``base``'s."""

    def last_two(frame):
        return frame.sort_values(["user_id", "seq_pos"]).groupby("user_id").item_id.apply(lambda s: tuple(s.iloc[-2:]))

    reference = last_two(frames[base])
    out = {}
    for name, frame in frames.items():
        other = last_two(frame).reindex(reference.index)
        out[name] = {
            "test_differs": int(sum(a[-1] != b[-1] for a, b in zip(reference, other))),
            "valid_differs": int(sum(a[0] != b[0] for a, b in zip(reference, other))),
            "users": int(len(reference)),
        }
    return out


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "tfseqrec.cli", *args], check=True, stdout=subprocess.DEVNULL)


def _metrics(directory: Path) -> dict:
    return json.loads((directory / "metrics.json").read_text())["summary"]


def paired_model_comparison(
    workdir: Path, prefix: str, a: str = "file_order", b: str = "shared_order", metric: str = "NDCG@10"
) -> dict:
    """Per-user test ``metric`` of the runs trained on variants ``a`` and ``b``, paired over the same users
    (whose targets differ where the orders do): means, difference with its 95% bootstrap CI, p-values."""
    from tfseqrec.evaluation import stats

    per_user = {}
    for name in (a, b):
        path = workdir / f"{prefix}_{name}" / "test" / "per_user.npz"
        if not path.exists():
            return {}
        with np.load(path) as data:
            per_user[name] = dict(zip(data["sequence_ids"].astype(str), data[metric].astype(np.float64)))
    users = sorted(set(per_user[a]) & set(per_user[b]))
    c = stats.compare(
        np.array([per_user[a][u] for u in users]), np.array([per_user[b][u] for u in users]), a, b, metric, seed=0
    )
    return {
        "variant": f"paired {a} - {b} ({prefix})",
        "users": len(users),
        f"{a} {metric}": c.mean_a,
        f"{b} {metric}": c.mean_b,
        "difference": c.mean_diff,
        "ci95": list(c.diff_ci),
        "t-test p": c.ttest.pvalue,
        "wilcoxon p": c.wilcoxon.pvalue,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None, help="where data and results go (default: a temp dir)")
    parser.add_argument(
        "--train",
        nargs="+",
        metavar="CONFIG [KEY=VALUE ...]",
        default=None,
        help="also train this config (with overrides) on the variants of --train-variants",
    )
    parser.add_argument(
        "--train-variants",
        nargs="+",
        default=None,
        metavar="VARIANT",
        help="variants to train on (default: all; e.g. file_order shared_order)",
    )
    parser.add_argument(
        "--run-prefix",
        default="run",
        help="trained runs go to WORKDIR/<prefix>_<variant> (a new prefix keeps earlier runs)",
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ml1m_tie_order_"))
    workdir.mkdir(parents=True, exist_ok=True)
    frames = variants(read_raw(), pd.read_csv(SHARED_TSV, sep="\t"))
    print(json.dumps({"targets_differing_from_file_order": target_differences(frames)}, indent=1))
    rows = []
    for name, frame in frames.items():
        tsv, data = workdir / f"{name}.tsv", workdir / f"data_{name}"
        frame.to_csv(tsv, sep="\t", index=False)
        if not (data / "feature_spec.json").exists():
            _cli(
                "preprocess",
                "--input",
                str(tsv),
                "--order-col",
                "seq_pos",
                "--item-min-count",
                "5",
                "--output-dir",
                str(data),
                "--overwrite",
            )
        row = {"variant": name}
        for baseline in ("transitions", "most_popular"):
            out = workdir / f"eval_{name}_{baseline}"
            _cli("evaluate", "--baseline", baseline, "--data-dir", str(data), "--ks", "10", "--output-dir", str(out))
            summary = _metrics(out)
            row[f"{baseline} HR@10"], row[f"{baseline} NDCG@10"] = summary["HR@10"], summary["NDCG@10"]
        if args.train and (args.train_variants is None or name in args.train_variants):
            run = workdir / f"{args.run_prefix}_{name}"
            if not (run / "run.json").exists():
                _cli(
                    "train",
                    "--config",
                    args.train[0],
                    "--data-dir",
                    str(data),
                    "--output-dir",
                    str(run),
                    "verbose=0",
                    *args.train[1:],
                )
            summary = json.loads((run / "run.json").read_text())
            test = summary["test_metrics"]
            row["model HR@10"], row["model NDCG@10"] = test["HR@10"], test["NDCG@10"]
            row["best valid NDCG@10"], row["stopped_by"] = summary.get("best_valid_NDCG@10"), summary["stopped_by"]
            chain = summary.get("cumulative", summary)
            row["epochs (best / run, whole chain)"] = [chain[k] for k in ("best_epoch", "epochs_run")]
        rows.append(row)
        print(" | ".join(f"{k} {v:.4f}" if isinstance(v, float) else str(v) for k, v in row.items()), flush=True)
    paired = paired_model_comparison(workdir, args.run_prefix)
    if paired:
        rows.append(paired)
        print(json.dumps(paired, indent=1))
    results = workdir / ("tie_order.json" if args.run_prefix == "run" else f"tie_order_{args.run_prefix}.json")
    results.write_text(json.dumps(rows, indent=1))
    print(f"results: {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

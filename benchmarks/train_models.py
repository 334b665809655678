"""Trains the issue's reference models to convergence and prints the accuracy table with costs.

    python benchmarks/train_models.py                       # every experiment below (hours on 2 CPU cores)
    python benchmarks/train_models.py --only sasrec_ml1m_ce  # one experiment
    python benchmarks/train_models.py --only bert4rec_ml1m_random time_budget_minutes=105  # with overrides
    python benchmarks/train_models.py --report-only          # just re-print the table from finished runs

Each experiment is a committed config in ``configs/`` trained with ``tfseqrec train`` in its own process
(so peak memory is per run), on data written by ``tfseqrec preprocess`` into ``--workdir``. Finished runs
(``run.json`` says finished) are not retrained; an unfinished one (killed) resumes from its last complete epoch
(``tfseqrec train --resume``; a time budget given as an override then counts the current invocation). Protocol for every row: leave-one-out, full ranking over all
items, already-seen items excluded (``filter_seen``), ties counted against the model.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

DATASETS = {
    "ml1m": ["--input", str(SHARED / "ml-1m" / "ml-1m.seq.tsv"), "--order-col", "seq_pos", "--item-min-count", "5"],
    "beauty": ["--input", str(SHARED / "amazon-beauty" / "Beauty.txt")],
}


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One row of the table: a committed config trained on a dataset, the paper's figures and the issue's bar.

    ``bar`` is the (HR@10, NDCG@10) the run must reach (None: no bar, the published figure is a gap to
    reproduce); ``above``: an experiment it must also beat over the same users (Wilcoxon p < 0.05).
    """
    dataset: str
    config: str
    published: tuple = (None, None)
    rule: str = ""
    bar: Optional[tuple] = None
    above: Optional[str] = None


ML1M_BERT4REC = {"published": (0.2843, 0.1537), "rule": ">= 0.284 / >= 0.154", "bar": (0.284, 0.154)}
ML1M_GSASREC = {"rule": "NDCG@10 >= 0.17", "bar": (0.0, 0.17)}
BEAUTY_CL4SREC = {"published": (0.0681, None), "rule": "HR@10 >= 0.068, > sasrec_beauty_ce", "bar": (0.068, 0.0),
                  "above": "sasrec_beauty_ce"}
EXPERIMENTS = {
    "sasrec_ml1m_ce": Experiment("ml1m", "sasrec_ml1m_ce.yaml", (0.3152, 0.1821), ">= 0.315 / >= 0.182", (0.315, 0.182)),
    "sasrec_ml1m_ce_windows": Experiment("ml1m", "sasrec_ml1m_ce_windows.yaml", (0.3152, 0.1821),
                                         ">= 0.315 / >= 0.182", (0.315, 0.182)),
    "sasrec_ml1m_bce": Experiment("ml1m", "sasrec_ml1m_bce.yaml", (0.2500, 0.1341), "about 0.25 / 0.134"),
    "gru4rec_ml1m": Experiment("ml1m", "gru4rec_ml1m.yaml", (0.2811, 0.1648), ">= 0.28 / >= 0.165", (0.28, 0.165)),
    "sasrec_beauty_ce": Experiment("beauty", "sasrec_beauty_ce.yaml", (0.0921, 0.0531), ">= 0.09 / >= 0.05",
                                   (0.09, 0.05)),
    # architectures issue: same protocol
    "bert4rec_ml1m": Experiment("ml1m", "bert4rec_ml1m.yaml", **ML1M_BERT4REC),
    "bert4rec_ml1m_bucketed": Experiment("ml1m", "bert4rec_ml1m_bucketed.yaml", **ML1M_BERT4REC),
    "bert4rec_ml1m_bert_blocks": Experiment("ml1m", "bert4rec_ml1m_bert_blocks.yaml", **ML1M_BERT4REC),
    "bert4rec_ml1m_random": Experiment("ml1m", "bert4rec_ml1m_random.yaml", **ML1M_BERT4REC),
    "bert4rec_ml1m_hf_bert": Experiment("ml1m", "bert4rec_ml1m_hf_bert.yaml", **ML1M_BERT4REC),
    "bert4rec_ml1m_d128_decay": Experiment("ml1m", "bert4rec_ml1m_d128_decay.yaml", **ML1M_BERT4REC),
    "gsasrec_ml1m": Experiment("ml1m", "gsasrec_ml1m.yaml", **ML1M_GSASREC),
    "gsasrec_ml1m_group": Experiment("ml1m", "gsasrec_ml1m_group.yaml", **ML1M_GSASREC),
    "gsasrec_ml1m_group_decay": Experiment("ml1m", "gsasrec_ml1m_group_decay.yaml", **ML1M_GSASREC),
    "gsasrec_ml1m_d128_decay": Experiment("ml1m", "gsasrec_ml1m_d128_decay.yaml", **ML1M_GSASREC),
    "cl4srec_beauty": Experiment("beauty", "cl4srec_beauty.yaml", **BEAUTY_CL4SREC),
    "cl4srec_beauty_cosine": Experiment("beauty", "cl4srec_beauty_cosine.yaml", **BEAUTY_CL4SREC),
}
# Continuations: warm-started from the parent run's best weights (`init_from`), for runs whose budget ended while
# validation was still rising; fresh optimizer (runs before 2026-11-29 took over the parent's Adam state: see
# tfseqrec.training.warm_start.reset_optimizer), the cost counted over the chain; the parent's target.
# name: (parent, config file)
CONTINUATIONS = {
    "gsasrec_ml1m_continued": ("gsasrec_ml1m", "gsasrec_ml1m.yaml"),
    "bert4rec_ml1m_bucketed_continued": ("bert4rec_ml1m_bucketed", "bert4rec_ml1m_bucketed.yaml"),
    "gsasrec_ml1m_group_continued": ("gsasrec_ml1m_continued", "gsasrec_ml1m_group.yaml"),  # negatives per run
    "bert4rec_ml1m_random_decay_continued": ("bert4rec_ml1m_random", "bert4rec_ml1m_random_decay.yaml"),  # lr -> 0
    "bert4rec_ml1m_random_decay_long_continued": ("bert4rec_ml1m_random", "bert4rec_ml1m_random_decay_long.yaml"),
}
CONTINUES = {name: parent for name, (parent, _) in CONTINUATIONS.items()}
for _name, (_parent, _config) in CONTINUATIONS.items():
    EXPERIMENTS[_name] = dataclasses.replace(EXPERIMENTS[_parent], config=_config)
BASELINES = ("most_popular", "transitions")
# Paired comparisons printed under the table: (a, b), same test users; CL4SRec must beat SASRec with the
# same loss and budget, and the loss comparisons on ML-1M.
PAIRS = (("cl4srec_beauty", "sasrec_beauty_ce"), ("cl4srec_beauty_cosine", "sasrec_beauty_ce"),
         ("sasrec_ml1m_ce_windows", "sasrec_ml1m_ce"), ("sasrec_ml1m_ce", "sasrec_ml1m_bce"),
         ("gsasrec_ml1m", "sasrec_ml1m_bce"), ("sasrec_ml1m_ce", "gsasrec_ml1m"), ("sasrec_ml1m_ce", "gru4rec_ml1m"),
         ("bert4rec_ml1m", "sasrec_ml1m_ce"), ("bert4rec_ml1m_bucketed", "bert4rec_ml1m"),
         ("gsasrec_ml1m_continued", "gsasrec_ml1m"), ("bert4rec_ml1m_bucketed_continued", "bert4rec_ml1m_bucketed"),
         ("gsasrec_ml1m_group_continued", "gsasrec_ml1m_continued"), ("gsasrec_ml1m_group", "gsasrec_ml1m"),
         ("bert4rec_ml1m_bert_blocks", "bert4rec_ml1m_bucketed"), ("bert4rec_ml1m_random", "bert4rec_ml1m_bucketed"),
         ("bert4rec_ml1m_random_decay_continued", "bert4rec_ml1m_random"),
         ("bert4rec_ml1m_random_decay_long_continued", "bert4rec_ml1m_random_decay_continued"),
         ("bert4rec_ml1m_hf_bert", "bert4rec_ml1m_random"),
         ("bert4rec_ml1m_d128_decay", "bert4rec_ml1m_random_decay_long_continued"),
         ("gsasrec_ml1m_group_decay", "gsasrec_ml1m_group"), ("gsasrec_ml1m_d128_decay", "gsasrec_ml1m_group_decay"))


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "tfseqrec.cli", *args], check=True)


def prepare(dataset: str, workdir: Path) -> Path:
    out = workdir / "data" / dataset
    if not (out / "feature_spec.json").exists():
        _cli("preprocess", *DATASETS[dataset], "--output-dir", str(out), "--overwrite")
    return out


def run_experiment(name: str, workdir: Path, overrides: list[str]) -> Path:
    dataset, config = EXPERIMENTS[name].dataset, EXPERIMENTS[name].config
    data = prepare(dataset, workdir)
    run = workdir / "runs" / name
    if name in CONTINUES:
        overrides = [*overrides, f"init_from={run_experiment(CONTINUES[name], workdir, overrides)}"]
    if not (run / "run.json").exists() or json.loads((run / "run.json").read_text()).get("status") != "finished":
        # --resume: a run killed part-way (a session's end) continues from its last complete epoch
        _cli("train", "--config", str(REPO / "configs" / config), "--data-dir", str(data), "--output-dir", str(run),
             "--resume", "verbose=2", *overrides)
    return run


def run_baseline(dataset: str, baseline: str, workdir: Path) -> Path:
    data = prepare(dataset, workdir)
    out = workdir / "runs" / f"{baseline}_{dataset}"
    if not (out / "metrics.json").exists():
        _cli("evaluate", "--data-dir", str(data), "--baseline", baseline, "--output-dir", str(out))
    return out


def report(workdir: Path) -> str:
    rows = ["| experiment | HR@10 | NDCG@10 | published | target | met | s/epoch | best epoch / run | "
            "train time | peak MiB | eval users/s |", "|" + "---|" * 11]
    for name, experiment in EXPERIMENTS.items():
        hr, ndcg, target = *experiment.published, experiment.rule
        path = workdir / "runs" / name / "run.json"
        if not path.exists() or json.loads(path.read_text()).get("status") != "finished":
            rows.append(f"| {name} | not run | | {_published(hr, ndcg)} | {target} | | | | | | |")
            continue
        run = json.loads(path.read_text())
        m = run["test_metrics"]
        met = _met(workdir, name, m["HR@10"], m["NDCG@10"])
        rows.append(f"| {name} | {m['HR@10']:.4f} | {m['NDCG@10']:.4f} | {_published(hr, ndcg)} | {target} | {met} | "
                    f"{run['seconds_per_epoch']:.1f} | {_epochs_and_time(run)} | {run['peak_memory_mib']:.0f} | "
                    f"{m['users_per_second']:.0f} |")
    for dataset in DATASETS:
        for baseline in BASELINES:
            path = workdir / "runs" / f"{baseline}_{dataset}" / "metrics.json"
            if path.exists():
                m = json.loads(path.read_text())["summary"]
                rows.append(f"| {baseline}_{dataset} | {m['HR@10']:.4f} | {m['NDCG@10']:.4f} | | | | | | | | "
                            f"{m['users_per_second']:.0f} |")
    rows += ["", "Paired over the same test users (per-user NDCG@10; `tfseqrec.evaluation.stats`: 95% paired bootstrap "
             "interval of the mean difference, paired t-test, Wilcoxon signed-rank):", "",
             "| a | b | NDCG@10 a | NDCG@10 b | a - b [95% CI] | t-test p | Wilcoxon p | users |", "|" + "---|" * 8]
    rows += [line for a, b in PAIRS if (line := _paired_row(workdir, a, b))]
    runs = (json.loads(p.read_text()) for p in sorted((workdir / "runs").glob("*/run.json")))
    machine = next((r["machine"] for r in runs if r.get("machine")), {})  # a running run has none yet
    return "\n".join(rows) + f"\n\nmachine: {json.dumps(machine)}\n"


def _epochs_and_time(run: dict) -> str:
    """``best / run`` epochs and training minutes; for a warm-started run, over the whole chain with the parts."""
    if "cumulative" not in run:
        return f"{run['best_epoch']} / {run['epochs_run']} | {run['train_seconds'] / 60:.1f} min"
    total, start = run["cumulative"], run["initialised_from"]
    return (f"{total['best_epoch']} / {total['epochs_run']} (from epoch {start['epochs_before']}) | "
            f"{total['train_seconds'] / 60:.1f} min ({start['train_seconds_before'] / 60:.1f} + "
            f"{run['train_seconds'] / 60:.1f})")


def _per_user(workdir: Path, name: str, metric: str):
    """(sequence ids, per-user metric) of a finished run's test evaluation, or None."""
    import numpy as np
    path = workdir / "runs" / name / "test" / "per_user.npz"
    run = workdir / "runs" / name / "run.json"
    if not path.exists() or not run.exists() or json.loads(run.read_text()).get("status") != "finished":
        return None
    with np.load(path, allow_pickle=False) as data:
        return data["sequence_ids"].astype(str), data[metric].astype(np.float64)


def _paired_row(workdir: Path, a: str, b: str, metric: str = "NDCG@10") -> str:
    import numpy as np
    from tfseqrec.evaluation import stats
    left, right = _per_user(workdir, a, metric), _per_user(workdir, b, metric)
    if left is None or right is None:
        return ""
    if not np.array_equal(left[0], right[0]):
        return f"| {a} | {b} | | | n/a: the runs' test users differ | | | |"
    c = stats.compare(left[1], right[1], a, b, metric, seed=0)
    return (f"| {a} | {b} | {c.mean_a:.4f} | {c.mean_b:.4f} | {c.mean_diff:+.4f} [{c.diff_ci[0]:+.4f}, "
            f"{c.diff_ci[1]:+.4f}] | {c.ttest.pvalue:.2g} | {c.wilcoxon.pvalue:.2g} | {left[1].size:,} |")


def _published(hr, ndcg) -> str:
    return " / ".join("-" if v is None else f"{v}" for v in (hr, ndcg))


def _met(workdir: Path, name: str, hr: float, ndcg: float) -> str:
    experiment = EXPERIMENTS[name]
    if experiment.bar is None:
        return "n/a (reproduce the gap)"
    low_hr, low_ndcg = experiment.bar
    if hr < low_hr or ndcg < low_ndcg:
        return "NO"
    if experiment.above is None:
        return "yes"
    base, own = _per_user(workdir, experiment.above, "NDCG@10"), _per_user(workdir, name, "NDCG@10")
    if base is None or own is None:
        return f"HR only ({experiment.above} not run)"
    if ndcg <= float(base[1].mean()):
        return "NO"
    from tfseqrec.evaluation import stats
    p = stats.wilcoxon_signed_rank(own[1], base[1]).pvalue
    return "yes" if p < 0.05 else f"by the mean only (Wilcoxon p {p:.2g})"


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(REPO / "benchmarks" / "out" / "models"), help="data and runs")
    parser.add_argument("--only", nargs="+", metavar="EXPERIMENT",
                        help=f"run only these experiments, of: {', '.join(sorted(EXPERIMENTS))}")
    parser.add_argument("--report-only", action="store_true", help="print the table from finished runs")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE overrides passed to every `tfseqrec train`")
    args = parser.parse_args(argv)
    if args.only:  # KEY=VALUE after --only are overrides, not experiment names
        args.overrides += [item for item in args.only if "=" in item]
        args.only = [item for item in args.only if "=" not in item]
        unknown = sorted(set(args.only) - set(EXPERIMENTS))
        if unknown:
            parser.error(f"--only {' '.join(unknown)}: no such experiment; choose from {', '.join(sorted(EXPERIMENTS))}")
    workdir = Path(args.workdir)
    if not args.report_only:
        for name in args.only or EXPERIMENTS:
            run_experiment(name, workdir, args.overrides)
        for dataset in {EXPERIMENTS[n].dataset for n in (args.only or EXPERIMENTS)}:
            for baseline in BASELINES:
                run_baseline(dataset, baseline, workdir)
    table = report(workdir)
    (workdir / "report.md").parent.mkdir(parents=True, exist_ok=True)
    (workdir / "report.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())

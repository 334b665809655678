"""One table: our runs and RecBole's on the same split, with confidence intervals, paired tests and costs.

    python benchmarks/peers/compare.py \\
        --ours sasrec=/tmp/peers/runs/ours_sasrec \\
        --recbole recbole_sasrec=/tmp/peers/runs/recbole_sasrec \\
        --recbole recbole_sasrec_throughput=/tmp/peers/runs/recbole_sasrec_tp \\
        --output /tmp/peers/compare

Runs in the package's virtualenv. ``--ours NAME=DIR`` (repeatable) is a ``tfseqrec train`` run directory or an
evaluation directory (``metrics.json`` + ``per_user.npz``). RecBole ranks without removing already-seen items,
so ours must be evaluated with ``filter_seen=False`` too: a run directory's ``test/`` is used when its protocol
says ``filter_seen: false`` (trained with ``filter_seen=false``), else ``test_keep_seen/`` when present, else
the run's best checkpoint is evaluated here with ``filter_seen=False`` into ``test_keep_seen/`` (unless
``--no-evaluate``). ``--recbole NAME=DIR`` (repeatable) is an output of ``run_recbole.py``: a trained run
(accuracy and costs) or a ``--throughput-batches`` run (costs only).

Per row: NDCG@10 and HR@10 with 95% percentile-bootstrap intervals over users
(``tfseqrec.evaluation.stats.bootstrap_ci``, 10,000 resamples, seed 0), MRR, users, training targets per second
and samples per second, seconds per epoch, peak memory, epochs (best), what stopped training and the time budget.
Training targets: ours = next-item positions of the padded training windows (``min(n, max_len + 1) - 1`` per
training sequence of ``n`` items, or ``n - 1`` with ``train_windows=all``; BERT4Rec: every non-padding position, of
which a share is masked), RecBole = one per (prefix, next item) sample (BERT4Rec: its masked positions, as counted
by ``run_recbole.py``).
Then, for each of our runs against each RecBole run of the same architecture with accuracy (every pair with
``--cross-model``), paired over the users they share (matched by
sequence id): the mean difference with its paired bootstrap interval, the paired t-test and Wilcoxon p-values and
the Holm-adjusted Wilcoxon p-value over the whole table (``tfseqrec.evaluation.stats.compare`` /
``compare_all``).

Writes ``comparison.json`` and ``comparison.md`` into ``--output`` and prints the Markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from tfseqrec.evaluation import stats

METRICS = ("NDCG@10", "HR@10")


# ----------------------------------------------------------------------------- statistics
def bootstrap_ci(values: np.ndarray, num_resamples: int) -> tuple[float, float]:
    return stats.bootstrap_ci(values, confidence=0.95, num_resamples=num_resamples, seed=0)


def paired_rows(pairs: list[tuple[str, str, str, np.ndarray, np.ndarray]], num_resamples: int) -> list[dict]:
    """``[(name_a, name_b, metric, a, b)]`` -> table rows with the paired tests (Holm over the Wilcoxon p-values)."""
    comparisons = stats.compare_all(
        [stats.compare(a, b, na, nb, metric, num_resamples=num_resamples) for na, nb, metric, a, b in pairs]
    )
    return [
        {
            "a": c.name_a,
            "b": c.name_b,
            "metric": c.metric,
            "mean_a": c.mean_a,
            "mean_b": c.mean_b,
            "diff": c.mean_diff,
            "diff_ci": list(c.diff_ci),
            "ttest_p": c.ttest.pvalue,
            "wilcoxon_p": c.wilcoxon.pvalue,
            "wilcoxon_method": c.wilcoxon.method,
            "holm_p": c.pvalue_holm,
            "users": len(a),
        }
        for c, (_, _, _, a, _) in zip(comparisons, pairs)
    ]


# ----------------------------------------------------------------------------- reading runs
def _load_eval(directory: Path) -> tuple[dict, dict, np.ndarray]:
    """(metrics.json payload, per-user arrays, sequence ids) of an evaluation directory."""
    payload = json.loads((directory / "metrics.json").read_text())
    per_user, ids = {}, None
    path = directory / "per_user.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            per_user = {k: data[k] for k in data.files if not k.startswith("__")}
        ids = per_user.pop("sequence_ids", None)
    return payload, per_user, ids


def _evaluate_keep_seen(run_dir: Path) -> Path:
    """Evaluates a run's best checkpoint on test with filter_seen=False into ``run_dir/test_keep_seen``."""
    import tfseqrec  # noqa: F401
    from tfseqrec.data.spec import load_item_counts
    from tfseqrec.evaluation import EvaluationConfig, evaluate
    from tfseqrec.training.trainer import check_input_features, load_trained_model, model_score_fn

    model, run, spec = load_trained_model(str(run_dir))
    check_input_features(model, spec)
    cfg = run["config"]
    config = EvaluationConfig(
        ks=tuple(cfg.get("ks", (1, 5, 10, 20))),
        filter_seen=False,
        batch_size=cfg.get("eval_batch_size", 256),
        max_len=model.config.max_len,
        split="test",
    )
    result = evaluate(model_score_fn(model), spec, config, item_counts=np.asarray(load_item_counts(spec)))
    out = run_dir / "test_keep_seen"
    result.save(str(out))
    return out


def _train_targets(data_dir: str, max_len: int, windows: str = "latest") -> tuple[int, int]:
    """(training rows, next-item positions of their padded windows of max_len + 1 items); with
    ``windows="all"`` (``train_windows=all``) the rows are all the windows, which hold every training target."""
    import tfseqrec  # noqa: F401
    from tfseqrec.data import SequenceBatchConfig, make_dataset

    sequences = targets = 0
    config = SequenceBatchConfig(
        batch_size=1024,
        max_len=max_len + 1,
        padding="ragged",
        shuffle_buffer=0,
        include_targets=False,
        prefetch=False,
        num_parallel_reads=None,
        windows=windows,
    )
    for batch in make_dataset(data_dir, "train", config):
        lengths = batch["lengths"].numpy()
        sequences += len(lengths)
        targets += int(np.maximum(lengths - 1, 0).sum())
    return sequences, targets


def read_ours(name: str, directory: Path, evaluate_missing: bool) -> dict:
    run_json = directory / "run.json"
    run = json.loads(run_json.read_text()) if run_json.exists() else None
    if run is None:
        eval_dir = directory
    else:
        eval_dir = None
        test = directory / run.get("test_split", "test")
        if (test / "metrics.json").exists() and not json.loads((test / "metrics.json").read_text())["protocol"].get(
            "filter_seen", True
        ):
            eval_dir = test
        elif (directory / "test_keep_seen" / "metrics.json").exists():
            eval_dir = directory / "test_keep_seen"
        elif evaluate_missing:
            print(f"[{name}] evaluating {directory} on test with filter_seen=False -> test_keep_seen/", flush=True)
            eval_dir = _evaluate_keep_seen(directory)
        else:
            raise SystemExit(
                f"error: {directory} has no evaluation with filter_seen=False (drop --no-evaluate, or "
                f"train with filter_seen=false)"
            )
    payload, per_user, ids = _load_eval(eval_dir)
    if payload["protocol"].get("filter_seen", True):
        raise SystemExit(f"error: {eval_dir} was evaluated with filter_seen=True; RecBole does not remove seen items")
    row = {
        "name": name,
        "system": "tfseqrec",
        "model": run.get("model") if run else None,
        "dir": str(eval_dir),
        "summary": payload["summary"],
        "protocol": payload["protocol"],
        "per_user": per_user,
        "ids": ids,
    }
    if run is not None:
        mc, cfg = run.get("model_config", {}), run.get("config", {})
        max_len = mc.get("max_len")
        sequences, targets = (
            _train_targets(cfg["data_dir"], max_len, cfg.get("train_windows", "latest")) if max_len else (None, None)
        )
        spe = run.get("seconds_per_epoch")
        if cfg.get("steps_per_epoch"):
            spe = None  # an "epoch" is then not a pass over the data
        row["costs"] = {
            "seconds_per_epoch": spe,
            "peak_memory_mib": run.get("peak_memory_mib"),
            "targets_per_epoch": targets,
            "samples_per_epoch": sequences,
            "targets_per_second": targets / spe if spe and targets else None,
            "samples_per_second": sequences / spe if spe and sequences else None,
            "epochs_run": run.get("epochs_run"),
            "best_epoch": run.get("best_epoch"),
            "stopped_by": run.get("stopped_by"),
            "time_budget_minutes": cfg.get("time_budget_minutes"),
            "train_minutes": run["train_seconds"] / 60 if run.get("train_seconds") else None,
            "batch_size": cfg.get("batch_size"),
            "max_len": max_len,
            "targets_note": "all non-padding positions" if run.get("model") == "bert4rec" else "next-item positions",
            "other_cores": run.get("other_cores_during_training"),
        }
    return row


def read_recbole(name: str, directory: Path) -> dict:
    payload, per_user, ids = _load_eval(directory)
    training = payload.get("training", {})
    cfg = payload.get("config", {})
    throughput = training.get("mode") == "throughput"
    return {
        "name": name,
        "system": "recbole",
        "model": cfg.get("model"),
        "dir": str(directory),
        "summary": payload.get("summary", {}),
        "protocol": payload.get("protocol", {}),
        "per_user": per_user,
        "ids": ids,
        "costs": {
            "seconds_per_epoch": (
                training.get("projected_seconds_per_epoch") if throughput else training.get("seconds_per_epoch")
            ),
            "seconds_per_epoch_projected": throughput,
            "peak_memory_mib": training.get("peak_memory_mib"),
            "targets_per_epoch": training.get("train_samples_per_epoch"),
            "samples_per_epoch": training.get("train_samples_per_epoch"),
            "targets_per_second": training.get("targets_per_second"),
            "samples_per_second": training.get("samples_per_second"),
            "epochs_run": None if throughput else training.get("epochs_run"),
            "best_epoch": None if throughput else training.get("best_epoch"),
            "stopped_by": (
                f"throughput ({training.get('timed_batches')} batches)" if throughput else training.get("stopped_by")
            ),
            "time_budget_minutes": training.get("time_budget_minutes"),
            "train_minutes": None if throughput else (training.get("train_seconds") or 0) / 60,
            "batch_size": cfg.get("batch_size"),
            "max_len": cfg.get("max_len"),
            "targets_note": "masked positions" if cfg.get("model") == "BERT4Rec" else "one per prefix sample",
            "load_average": training.get("load_average_before")
            or payload.get("machine", {}).get("load_average_at_end"),
        },
    }


# ----------------------------------------------------------------------------- the table
def _fmt(value, digits=4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def same_model(a: dict, b: dict) -> bool:
    """Whether two rows train the same architecture (ours ``sasrec`` and RecBole's ``SASRec``); a row without a
    model name pairs with anything."""
    return not a.get("model") or not b.get("model") or str(a["model"]).lower() == str(b["model"]).lower()


def build(rows: list[dict], num_resamples: int, cross_model: bool = False) -> dict:
    warnings = []
    for row in rows:
        row["ci"] = {}
        for metric in METRICS:
            values = row["per_user"].get(metric)
            if values is not None and len(values) >= 2:
                row["ci"][metric] = list(bootstrap_ci(values, num_resamples))
    with_accuracy = [r for r in rows if r["ids"] is not None and all(m in r["per_user"] for m in METRICS)]
    items = {r["name"]: r["protocol"].get("num_items") for r in with_accuracy}
    if len(set(items.values())) > 1:
        warnings.append(f"catalogue sizes differ: {items}")
    max_lens = {r["name"]: r["costs"].get("max_len") for r in rows if r.get("costs")}
    if len({v for v in max_lens.values() if v}) > 1:
        warnings.append(f"max lengths differ: {max_lens}")
    pairs = []
    ours = [r for r in with_accuracy if r["system"] == "tfseqrec"]
    theirs = [r for r in with_accuracy if r["system"] == "recbole"]
    for a in ours:
        for b in theirs:
            if not cross_model and not same_model(a, b):
                continue
            ids_a = {str(s): i for i, s in enumerate(a["ids"])}
            ids_b = {str(s): i for i, s in enumerate(b["ids"])}
            shared = sorted(set(ids_a) & set(ids_b))
            if set(ids_a) != set(ids_b):
                warnings.append(
                    f"{a['name']} vs {b['name']}: {len(ids_a)} and {len(ids_b)} users, {len(shared)} "
                    f"shared (paired over the shared ones)"
                )
            ia = np.array([ids_a[s] for s in shared], np.int64)
            ib = np.array([ids_b[s] for s in shared], np.int64)
            for key in ("target_id", "num_candidates"):  # same split: same target and catalogue per user
                if key in a["per_user"] and key in b["per_user"]:
                    differ = int((np.asarray(a["per_user"][key])[ia] != np.asarray(b["per_user"][key])[ib]).sum())
                    if differ:
                        warnings.append(
                            f"{a['name']} vs {b['name']}: {differ} of {len(shared)} users have a different "
                            f"{key}: not the same split"
                        )
            for metric in METRICS:
                pairs.append(
                    (
                        a["name"],
                        b["name"],
                        metric,
                        np.asarray(a["per_user"][metric], np.float64)[ia],
                        np.asarray(b["per_user"][metric], np.float64)[ib],
                    )
                )
    comparisons = paired_rows(pairs, num_resamples) if pairs else []
    systems = []
    for r in rows:
        s = r["summary"]
        systems.append(
            {
                "name": r["name"],
                "system": r["system"],
                "model": r["model"],
                "dir": r["dir"],
                "NDCG@10": s.get("NDCG@10"),
                "NDCG@10_ci": r["ci"].get("NDCG@10"),
                "HR@10": s.get("HR@10"),
                "HR@10_ci": r["ci"].get("HR@10"),
                "MRR": s.get("MRR"),
                "num_users": s.get("num_users"),
                "filter_seen": r["protocol"].get("filter_seen"),
                "num_items": r["protocol"].get("num_items"),
                "costs": r.get("costs", {}),
            }
        )
    return {
        "systems": systems,
        "comparisons": comparisons,
        "warnings": warnings,
        "protocol": "test split, full ranking over all items, seen items NOT removed (filter_seen=False), "
        "conservative ties; 95% percentile bootstrap over users (seed 0)",
        "num_resamples": num_resamples,
    }


def markdown(table: dict) -> str:
    lines = [
        "| run | system | model | NDCG@10 [95% CI] | HR@10 [95% CI] | MRR | users | train targets/s | "
        "samples/s | s/epoch | peak MiB | epochs (best) | stopped by | budget min | train min |",
        "|" + "---|" * 15,
    ]
    for s in table["systems"]:
        c = s["costs"]
        spe = _fmt(c.get("seconds_per_epoch"), 1) + (" (projected)" if c.get("seconds_per_epoch_projected") else "")
        epochs = "" if c.get("epochs_run") is None else f"{c['epochs_run']} ({c.get('best_epoch')})"
        lines.append(
            f"| {s['name']} | {s['system']} | {s['model'] or ''} | {with_ci(s, 'NDCG@10')} | "
            f"{with_ci(s, 'HR@10')} | {_fmt(s['MRR'])} | {_fmt(s['num_users'])} | "
            f"{_fmt(c.get('targets_per_second'), 0)} | "
            f"{_fmt(c.get('samples_per_second'), 0)} | {spe} | {_fmt(c.get('peak_memory_mib'), 0)} | "
            f"{epochs} | {c.get('stopped_by') or ''} | {_minutes(c.get('time_budget_minutes'))} | "
            f"{_fmt(c.get('train_minutes'), 1)} |"
        )
    out = "\n".join(lines)
    if table["comparisons"]:
        rows = [
            "| a | b | metric | mean a | mean b | a - b [95% CI] | t-test p | Wilcoxon p | Holm p | users |",
            "|" + "---|" * 10,
        ]
        for c in table["comparisons"]:
            ci = c["diff_ci"]
            rows.append(
                f"| {c['a']} | {c['b']} | {c['metric']} | {c['mean_a']:.4f} | {c['mean_b']:.4f} | "
                f"{c['diff']:+.4f} [{ci[0]:+.4f}, {ci[1]:+.4f}] | {format_p(c['ttest_p'])} | "
                f"{format_p(c['wilcoxon_p'])} | {format_p(c['holm_p'])} | {c['users']} |"
            )
        out += "\n\nPaired over the same users (matched by sequence id):\n\n" + "\n".join(rows)
    out += f"\n\nProtocol: {table['protocol']}.\n"
    out += (
        "Training targets: ours = next-item positions of the padded training windows (each user's latest, or "
        "all with train_windows=all; BERT4Rec: all non-padding positions); RecBole = one per (prefix, next item) "
        "sample (BERT4Rec: masked positions). "
        "s/epoch marked projected = throughput run (a fixed number of batches), extrapolated to one pass.\n"
    )
    loads = [(s["name"], s["costs"].get("load_average")) for s in table["systems"] if s["costs"].get("load_average")]
    if loads:
        out += (
            "Load average during RecBole timing: "
            + ", ".join(f"{n} {load[0]:.1f}" for n, load in loads)
            + f" (on {os.cpu_count()} CPUs).\n"
        )
    others = [
        (s["name"], s["costs"].get("other_cores"))
        for s in table["systems"]
        if s["costs"].get("other_cores") is not None
    ]
    if others:
        out += (
            "CPU used by other processes during our training (cores, `other_cores_during_training`): "
            + ", ".join(f"{n} {c:.2f}" for n, c in others)
            + ".\n"
        )
    for w in table["warnings"]:
        out += f"\nWARNING: {w}"
    return out + "\n"


def with_ci(system: dict, metric: str) -> str:
    """``0.0414 [0.0395, 0.0433]``: a system row's metric with its bootstrap interval ("n/a" without the metric)."""
    if system.get(metric) is None:
        return "n/a"
    ci = system.get(f"{metric}_ci")
    return f"{system[metric]:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else f"{system[metric]:.4f}"


def _minutes(value) -> str:
    return "" if value is None else f"{value:g}"


def format_p(value) -> str:
    if value is None:
        return ""
    return f"{value:.2g}" if value >= 1e-4 else f"{value:.1e}"


def _named(values: Optional[list[str]], flag: str) -> list[tuple[str, Path]]:
    out = []
    for v in values or []:
        name, sep, path = v.partition("=")
        if not sep:
            name, path = Path(v).name, v
        if not Path(path).is_dir():
            raise SystemExit(f"error: {flag} {v}: {path} is not a directory")
        out.append((name, Path(path)))
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", action="append", metavar="NAME=DIR", help="tfseqrec run or evaluation dir")
    parser.add_argument("--recbole", action="append", metavar="NAME=DIR", help="run_recbole.py output dir")
    parser.add_argument("--output", required=True, help="where comparison.json and comparison.md go")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument(
        "--cross-model",
        action="store_true",
        help="also pair runs of different architectures (default: ours sasrec only against "
        "RecBole's SASRec, and so on)",
    )
    parser.add_argument(
        "--no-evaluate", action="store_true", help="fail instead of evaluating a run with filter_seen=False"
    )
    args = parser.parse_args(argv)
    ours, theirs = _named(args.ours, "--ours"), _named(args.recbole, "--recbole")
    if not ours and not theirs:
        parser.error("give at least one --ours or --recbole")
    rows = [read_ours(n, d, not args.no_evaluate) for n, d in ours] + [read_recbole(n, d) for n, d in theirs]
    table = build(rows, args.resamples, args.cross_model)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(_jsonable(table), indent=2) + "\n")
    text = markdown(table)
    (out / "comparison.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())

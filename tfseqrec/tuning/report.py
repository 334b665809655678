"""What ``tfseqrec tune`` leaves behind: ``report.md``, ``trials.csv``, ``best_config.yaml`` and plots.

The report compares the best trial (chosen on validation) with the base config trained unchanged (the preset) on
the same data and seed: validation and test figures, and a paired test on the test users' NDCG@10.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from typing import Optional

import optuna
import yaml
from optuna.trial import TrialState

from tfseqrec.training.config import _set_dotted
from tfseqrec.training.run_reuse import finished_run
from tfseqrec.tuning.space import SearchSpace
from tfseqrec.tuning.trials import BASELINE_DIR

PLOTS = {
    "history.png": "plot_optimization_history",
    "curves.png": "plot_intermediate_values",
    "importance.png": "plot_param_importances",
    "parallel.png": "plot_parallel_coordinate",
}


def best_trial(study: optuna.Study) -> Optional[optuna.trial.FrozenTrial]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(complete, key=lambda t: t.value) if complete else None


def best_config(space: SearchSpace, trial: optuna.trial.FrozenTrial) -> dict:
    """The base config with the best trial's params: a preset for ``tfseqrec train --config``."""
    raw = space.base_values()
    for key, value in trial.params.items():
        _set_dotted(raw, key, value)
    return raw


def load_baseline(study_dir: str, metric: str) -> Optional[dict]:
    run = finished_run(os.path.join(study_dir, BASELINE_DIR))
    if run is None:
        return None
    return {"valid": run[f"best_valid_{metric}"], "test": run["test_metrics"], "best_epoch": run["best_epoch"]}


def paired_test(study_dir: str, trial: optuna.trial.FrozenTrial, split: str, metric: str):
    """Best trial vs baseline on the test users' ``metric``: a ``tfseqrec.evaluation.stats.Comparison``."""
    from tfseqrec.evaluation.results import EvaluationResult
    from tfseqrec.evaluation.stats import compare

    try:
        a = EvaluationResult.load(os.path.join(trial.user_attrs["run_dir"], split))
        b = EvaluationResult.load(os.path.join(study_dir, BASELINE_DIR, split))
    except (KeyError, FileNotFoundError, OSError):
        return None
    if list(a.sequence_ids) != list(b.sequence_ids) or metric not in a.per_user:
        return None
    return compare(a.per_user[metric], b.per_user[metric], f"trial {trial.number}", "baseline", metric)


def state_name(trial: optuna.trial.FrozenTrial) -> str:
    """COMPLETE, PRUNED, FAIL, ..., or INTERRUPTED for a trial a kill left running (queued again on resume)."""
    return "INTERRUPTED" if trial.user_attrs.get("interrupted") else trial.state.name


def write_trials_csv(study: optuna.Study, path: str) -> None:
    keys = sorted({k for t in study.trials for k in t.params})
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        header = ["number", "state", "value", "test_NDCG@10", "test_HR@10", "epochs", "seconds", "resumes_trial"]
        writer.writerow(header + keys)
        for t in study.trials:
            test = t.user_attrs.get("test", {})
            seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else ""
            writer.writerow(
                [
                    t.number,
                    state_name(t),
                    "" if t.value is None else t.value,
                    test.get("NDCG@10", ""),
                    test.get("HR@10", ""),
                    t.user_attrs.get("epochs_run", t.last_step or ""),
                    seconds,
                    t.user_attrs.get("resumes_trial", ""),
                    *[t.params.get(k, "") for k in keys],
                ]
            )


def write_plots(study: optuna.Study, out_dir: str, metric: str) -> list[str]:
    """The plots that the study's trials allow (importance needs two complete trials that differ); none
    without matplotlib (``pip install tfseqrec[benchmark]``)."""
    try:
        import matplotlib
    except ImportError:
        return []

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm

    written = []
    for name, function in PLOTS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                axes = getattr(ovm, function)(study)
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue
        first = axes.flat[0] if hasattr(axes, "flat") else axes
        if name == "curves.png":
            first.set_xlabel("epoch")
            first.set_ylabel(f"validation {metric}")
        figure = first.figure
        figure.set_size_inches(9, 5)
        figure.tight_layout()
        figure.savefig(os.path.join(out_dir, name), dpi=90)
        plt.close(figure)
        written.append(name)
    return written


def importances(study: optuna.Study) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError, ZeroDivisionError):
            return {}


def wall_time_line(study: optuna.Study) -> str:
    """The study's span (first trial start to last trial end) and the trials' summed time, in minutes."""
    times = [(t.datetime_start, t.datetime_complete) for t in study.trials if t.datetime_start and t.datetime_complete]
    if not times:
        return "No trial has finished yet."
    span = (max(end for _, end in times) - min(start for start, _ in times)).total_seconds() / 60
    summed = sum((end - start).total_seconds() for start, end in times) / 60
    return (
        f"Search time: {span:.0f} minutes from the first trial's start to the last one's end ({summed:.0f} "
        "trial-minutes; the preset's run and any time the search was stopped not included)."
    )


def _fmt(value, digits: int = 4) -> str:
    return "-" if value is None or value == "" else f"{value:.{digits}f}"


def write_report(space: SearchSpace, study: optuna.Study, study_dir: str, preset: Optional[str] = None) -> dict:
    """Writes the report files into ``study_dir`` (and the best config to ``preset`` too); returns a summary."""
    metric = space.base_values().get("validation_metric", "NDCG@10")
    write_trials_csv(study, os.path.join(study_dir, "trials.csv"))
    state = {}
    for t in study.trials:
        state[state_name(t)] = state.get(state_name(t), 0) + 1
    best = best_trial(study)
    baseline = load_baseline(study_dir, metric)
    summary = {"name": space.name, "trials": state, "metric": metric, "baseline": baseline}
    lines = [
        f"# Hyperparameter search: {space.name}",
        "",
        f"Base config: `{space.config or 'defaults'}` on `{space.data_dir}`"
        + (f", overrides `{' '.join(space.overrides)}`" if space.overrides else "")
        + f". Objective: best validation {metric}; TPE ({space.startup_trials} random start-up trials, seed "
        f"{space.seed}), pruner {space.pruner.name}.",
        "",
        "Trials: "
        + ", ".join(f"{n} {k.lower()}" for k, n in sorted(state.items()))
        + "."
        + (
            " An interrupted trial was cut off by a kill and continued as a new trial from its last epoch."
            if "INTERRUPTED" in state
            else ""
        ),
        "",
        wall_time_line(study),
        "",
    ]
    if best is not None:
        test = best.user_attrs.get("test", {})
        config = best_config(space, best)
        header = (
            f"# Best of the tfseqrec tune study {space.name!r}: trial {best.number}, validation {metric} "
            f"{best.value:.4f}, test NDCG@10 {_fmt(test.get('NDCG@10'))}.\n"
        )
        text = header + yaml.safe_dump(config, sort_keys=False)
        for path in [os.path.join(study_dir, "best_config.yaml")] + ([preset] if preset else []):
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        summary["best"] = {"number": best.number, "valid": best.value, "params": best.params, "test": test}
        lines += [
            "| run | validation " + metric + " | test HR@10 | test NDCG@10 | best epoch |",
            "|---|---|---|---|---|",
        ]
        if baseline:
            lines.append(
                f"| base config (preset) | {_fmt(baseline['valid'])} | {_fmt(baseline['test'].get('HR@10'))} | "
                f"{_fmt(baseline['test'].get('NDCG@10'))} | {baseline['best_epoch']} |"
            )
        lines.append(
            f"| best trial ({best.number}) | {_fmt(best.value)} | {_fmt(test.get('HR@10'))} | "
            f"{_fmt(test.get('NDCG@10'))} | {best.user_attrs.get('best_epoch', '-')} |"
        )
        lines.append("")
        split = best.user_attrs.get("test_split") or "test"
        comparison = paired_test(study_dir, best, split, "NDCG@10") if baseline else None
        if comparison is not None:
            summary["paired_test"] = {"mean_diff": comparison.mean_diff, "wilcoxon_p": comparison.wilcoxon.pvalue}
            low, high = comparison.diff_ci
            lines += [
                f"Best trial against the preset on the {split} users' NDCG@10: {comparison.mean_diff:+.4f} "
                f"[{low:+.4f}, {high:+.4f}] (95% paired bootstrap), Wilcoxon p {comparison.wilcoxon.pvalue:.2g}.",
                "",
            ]
        lines += ["Best parameters:", ""] + [f"- `{k}`: {v}" for k, v in best.params.items()] + [""]
        lines += ["Preset written to `best_config.yaml`" + (f" and `{preset}`" if preset else "") + ".", ""]
    weights = importances(study)
    if weights:
        summary["importance"] = weights
        lines += ["Parameter importance (fANOVA):", ""] + [f"- `{k}`: {v:.2f}" for k, v in weights.items()] + [""]
    lines += ["Every trial: `trials.csv`.", ""]
    for name in write_plots(study, study_dir, metric):
        lines += [f"![{name[:-4]}]({name})", ""]
    with open(os.path.join(study_dir, "report.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    with open(os.path.join(study_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, default=str)
    return summary

"""Compression: model size, CPU serving latency and NDCG@10 of each compressed variant against the uncompressed
teacher, trained and measured on one dataset.

    tfseqrec preprocess --input ../shared/data/ml-100k/recbole/ml-100k.inter --format tsv \\
        --user-col user_id:token --item-col item_id:token --time-col timestamp:float \\
        --item-min-count 5 --user-min-count 5 --output-dir benchmarks/out/data/ml-100k
    python benchmarks/compression.py --data-dir benchmarks/out/data/ml-100k --runs benchmarks/out/compression/ml100k \\
        --output benchmarks/reports/compression_ml100k

Variants (each a ``tfseqrec train`` run of ``--config`` under ``--overrides``; a finished run of the same config is
reused, one trained with other values is refused: ``tfseqrec.training.run_reuse``):

* ``teacher``: the uncompressed model (``--teacher``: embedding 128, 2 blocks);
* ``student``: a small model (``--student``: embedding 32, 1 block) trained alone;
* ``student_distilled``: the same small model distilled from the teacher (``distillation``: the teacher's soft
  targets over the catalogue at temperature ``--temperature``, weight ``--weight``);
* ``low_rank``: the teacher with a factorised item table ``[V, r] x [r, D]``, ``r`` the largest rank that makes
  it at least 4x smaller (``item_table: low_rank``);
* ``quotient_remainder``: the teacher with a compositional item table (``item_table: quotient_remainder``);
* ``pruned``: the teacher with its item table magnitude-pruned during training to ``--pruning-sparsity`` zeros
  (``pruning: {sparsity, end_epoch}``; the table stays dense, so its gain shows in the nonzero entries and in the
  gzip-compressed size);
* ``teacher_table_int8``: the teacher's SavedModel with its item table rounded to int8 after training
  (``tfseqrec export --table-precision int8``; NDCG@10 by the evaluator on the rounded model);
* ``teacher_litert_float32`` / ``teacher_litert_int8`` and ``student_distilled_litert_int8``: LiteRT exports
  (``tfseqrec export --litert``), int8 by post-training dynamic-range quantisation.

Measured per variant: parameters (all, and the item table's, with its nonzero entries), the item table's
gzip-compressed float32 bytes, the brute-force SavedModel's size on disk (or the LiteRT flatbuffer's),
single-request latency p50 / p99 over ``--requests`` test histories (the SavedModel's ``recommend`` signature
called in this process, batch 1, k 10; the LiteRT interpreter on one thread), and
NDCG@10 / HR@10 on the test split: the full-ranking evaluator's for the trained runs (``run.json``), and for
LiteRT models the same protocol computed from the flatbuffer's top 10 (seen items excluded), reported beside the
float32 flatbuffer's so that int8's loss is measured against the identical pipeline.

Writes ``report.md`` and ``results.json`` to ``--output``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def variants(args, vocabulary_size: int) -> dict:
    """``{name: overrides}`` of the trained variants; the low-rank table's rank is the largest that keeps it at
    least 4x smaller than the teacher's (``V r + r D <= V D / 4``)."""
    teacher_dim = int(next(o for o in args.teacher if o.startswith("model_config.embedding_dim=")).split("=")[1])
    rank = max(1, (vocabulary_size * teacher_dim // 4) // (vocabulary_size + teacher_dim))
    teacher_dir = os.path.join(args.runs, "teacher")
    return {
        "teacher": list(args.teacher),
        "student": list(args.student),
        "student_distilled": list(args.student)
        + [
            f"distillation.teacher={teacher_dir}",
            f"distillation.temperature={args.temperature}",
            f"distillation.weight={args.weight}",
        ],
        "low_rank": list(args.teacher)
        + ["model_config.item_table.name=low_rank", f"model_config.item_table.rank={rank}"],
        "quotient_remainder": list(args.teacher) + ["model_config.item_table.name=quotient_remainder"],
        "pruned": list(args.teacher)
        + [f"pruning.sparsity={args.pruning_sparsity}", f"pruning.end_epoch={args.pruning_end_epoch}"],
    }


def wanted_config(args, overrides: list):
    """The ``TrainConfig`` this invocation asks of a variant with ``overrides``."""
    from tfseqrec.training import load_train_config

    return load_train_config(args.config, list(args.overrides) + overrides, data_dir=args.data_dir)


def stale_keys(run: dict, args, overrides: list) -> list:
    """Config keys whose value in a finished ``run`` (``run.json``) differs from what this invocation asks
    (``tfseqrec.training.run_reuse``)."""
    from tfseqrec.training.run_reuse import config_differences

    return config_differences(run, wanted_config(args, overrides))


def train_variant(args, name: str, overrides: list) -> dict:
    """The finished run of variant ``name`` in ``--runs``, trained now unless there; a finished run trained with
    another config is refused (it would mix budgets in one table)."""
    from tfseqrec.cli import main as cli
    from tfseqrec.training.run_reuse import finished_run, reusable_run

    run_dir = os.path.join(args.runs, name)
    try:
        run = reusable_run(run_dir, wanted_config(args, overrides))
    except ValueError as error:
        raise SystemExit(f"{name}: {error}") from None
    if run is None:
        argv = ["train", "--config", args.config, "--data-dir", args.data_dir, "--output-dir", run_dir]
        if cli(argv + list(args.overrides) + overrides + ["verbose=0"]) != 0:
            raise SystemExit(f"training {name} failed")
        run = finished_run(run_dir)
    return run


def test_cases(spec, limit: int) -> list:
    """``[(history ids, target id)]`` of the test split (leave-one-out: one target per user)."""
    from tfseqrec.data.loader import SequenceBatchConfig, make_dataset

    cases = []
    config = SequenceBatchConfig(batch_size=512, padding="ragged", include_targets=True, shuffle_buffer=0)
    for batch in make_dataset(spec, "test", config):
        for history, target in zip(batch["item_ids"].to_list(), batch["target_id"].numpy().tolist()):
            cases.append((history, int(target)))
    return cases[:limit] if limit else cases


def _percentiles(times_ms: list) -> dict:
    return {"p50_ms": float(np.percentile(times_ms, 50)), "p99_ms": float(np.percentile(times_ms, 99))}


def _folder_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def saved_model_figures(run_dir: str, cases: list, vocabulary: list, requests: int, precision="float32") -> dict:
    """Size of the brute-force export (item table at ``precision``) and its ``recommend`` latency in this process
    (batch 1, k 10)."""
    import tensorflow as tf

    from tfseqrec.export.exporter import ExportConfig, export_run

    with tempfile.TemporaryDirectory() as directory:
        config = ExportConfig(variants=("brute_force",), warmup_requests=False, table_precision=precision)
        path = export_run(run_dir, directory, "model", config=config)["brute_force"]
        size = _folder_bytes(path)
        recommend = tf.saved_model.load(path).signatures["recommend"]
        k, exclude = tf.constant([10]), tf.constant([True])
        histories = [tf.constant([[vocabulary[i] for i in history]]) for history, _ in cases[:requests]]
        for history in histories[:20]:
            recommend(history=history, k=k, exclude_seen=exclude)  # warm-up
        times = []
        for history in histories:
            started = time.perf_counter()
            recommend(history=history, k=k, exclude_seen=exclude)
            times.append((time.perf_counter() - started) * 1000.0)
    return {"saved_model_bytes": size, **_percentiles(times)}


def litert_figures(model, precision: str, cases: list, requests: int) -> dict:
    """Size, interpreter latency and NDCG@10 / HR@10 from the flatbuffer's top 10 over every test case."""
    from tfseqrec.export.litert import LiteRTRecommender, convert

    recommender = LiteRTRecommender(convert(model, precision, k=10))
    ndcg = hits = 0.0
    for history, target in cases:
        ids, _ = recommender.recommend(history)
        found = np.flatnonzero(ids == target)
        if found.size:
            hits += 1.0
            ndcg += 1.0 / math.log2(found[0] + 2.0)
    times = recommender.latency_ms([h for h, _ in cases[:requests]])
    return {
        "litert_bytes": recommender.size_bytes,
        **_percentiles(times.tolist()),
        "NDCG@10": ndcg / len(cases),
        "HR@10": hits / len(cases),
    }


def parameters(model) -> dict:
    """Parameter counts, the item table's nonzero entries and its gzip-compressed float32 bytes."""
    count = lambda weights: int(sum(np.prod(w.shape) for w in weights))  # noqa: E731
    table = [w.numpy().astype(np.float32) for w in model.item_embedding.weights]
    return {
        "parameters": count(model.weights),
        "item_table_parameters": count(model.item_embedding.weights),
        "item_table_nonzero": int(sum(np.count_nonzero(w) for w in table)),
        "item_table_gzip_bytes": len(gzip.compress(b"".join(w.tobytes() for w in table))),
    }


def measure(args) -> dict:
    import tfseqrec  # noqa: F401
    from tfseqrec.data.spec import load_feature_spec, load_vocabulary
    from tfseqrec.export.quantization import quantized_twin
    from tfseqrec.training.trainer import evaluate_model, load_trained_model

    spec = load_feature_spec(args.data_dir)
    vocabulary = load_vocabulary(spec)
    cases = test_cases(spec, args.test_users)
    rows = {}
    runs = {name: train_variant(args, name, overrides) for name, overrides in variants(args, len(vocabulary)).items()}
    for name, run in runs.items():  # measured once every run is trained, on a machine left to the measurements
        run_dir = os.path.join(args.runs, name)
        model, _, _ = load_trained_model(run_dir)
        rows[name] = {
            "kind": "SavedModel",
            **parameters(model),
            "NDCG@10": run["test_metrics"]["NDCG@10"],
            "HR@10": run["test_metrics"]["HR@10"],
            "train_seconds": run.get("train_seconds"),
            "epochs": run.get("epochs_run"),
            **saved_model_figures(run_dir, cases, vocabulary, args.requests),
        }
        if name == "teacher":  # the SavedModel with its item table rounded to int8 after training
            twin = quantized_twin(model, "int8")
            metrics = evaluate_model(twin, run, spec).summary
            rows["teacher_table_int8"] = {
                "kind": "SavedModel, int8 table",
                **parameters(model),
                "NDCG@10": metrics["NDCG@10"],
                "HR@10": metrics["HR@10"],
                **saved_model_figures(run_dir, cases, vocabulary, args.requests, "int8"),
            }
        litert = {"teacher": ("float32", "int8"), "student_distilled": ("int8",)}.get(name, ())
        for precision in litert:
            rows[f"{name}_litert_{precision}"] = {
                "kind": f"LiteRT {precision}",
                **parameters(model),
                **litert_figures(model, precision, cases, args.requests),
            }
    return {"rows": rows, "test_users": len(cases), "items": len(vocabulary) - 2}


def _goals(rows: dict) -> list:
    teacher = rows["teacher"]
    lines = []
    student = rows["student_distilled"]
    fewer = teacher["parameters"] / student["parameters"]
    share = student["NDCG@10"] / teacher["NDCG@10"]
    plain = rows["student"]["NDCG@10"] / teacher["NDCG@10"]
    lines.append(
        f"- Student: {fewer:.1f}x fewer parameters, NDCG@10 at {share:.1%} of the teacher's (trained alone: "
        f"{plain:.1%}). Goal >= 95% with >= 4x fewer: **{'met' if share >= 0.95 and fewer >= 4 else 'not met'}**."
    )
    for name in ("low_rank", "quotient_remainder"):
        row = rows[name]
        smaller = teacher["item_table_parameters"] / row["item_table_parameters"]
        loss = 1.0 - row["NDCG@10"] / teacher["NDCG@10"]
        met = smaller >= 4 and loss <= 0.03
        lines.append(
            f"- {name}: item table {smaller:.1f}x smaller, NDCG@10 {-loss:+.1%} against the teacher. Goal 4x for "
            f"<= 3%: **{'met' if met else 'not met'}**."
        )
    if "pruned" in rows:  # a dense table with zeros: judged by its compressed bytes
        row = rows["pruned"]
        fewer = teacher["item_table_nonzero"] / row["item_table_nonzero"]
        smaller = teacher["item_table_gzip_bytes"] / row["item_table_gzip_bytes"]
        loss = 1.0 - row["NDCG@10"] / teacher["NDCG@10"]
        lines.append(
            f"- pruned: {1 - row['item_table_nonzero'] / row['item_table_parameters']:.1%} of the item table is zero "
            f"({fewer:.1f}x fewer nonzero entries), its gzip-compressed bytes {smaller:.2f}x smaller than the "
            f"teacher's, NDCG@10 {-loss:+.1%}. Goal 4x (compressed bytes) for <= 3%: "
            f"**{'met' if smaller >= 4 and loss <= 0.03 else 'not met'}**."
        )
    table = rows["teacher_table_int8"]
    loss = 1.0 - table["NDCG@10"] / teacher["NDCG@10"]
    smaller = teacher["saved_model_bytes"] / table["saved_model_bytes"]
    lines.append(
        f"- int8 item table (SavedModel, post-training): {smaller:.1f}x smaller export, NDCG@10 {-loss:+.2%}. "
        f"Goal <= 1% loss: **{'met' if loss <= 0.01 else 'not met'}**."
    )
    int8, fp32 = rows["teacher_litert_int8"], rows["teacher_litert_float32"]
    loss = 1.0 - int8["NDCG@10"] / fp32["NDCG@10"]
    lines.append(
        f"- int8 (LiteRT, post-training): {fp32['litert_bytes'] / int8['litert_bytes']:.1f}x smaller than float32, "
        f"NDCG@10 {-loss:+.2%} against the float32 flatbuffer. Goal <= 1% loss: "
        f"**{'met' if loss <= 0.01 else 'not met'}**."
    )
    return lines


def report(command: str, machine: str, result: dict) -> str:
    rows = result["rows"]
    teacher = rows["teacher"]
    lines = [
        "# Compression: size, latency and NDCG@10 against the uncompressed model",
        "",
        f"`{command}` on {machine}; {result['items']:,} items, {result['test_users']:,} test users (leave-one-out, "
        "full ranking, seen items excluded). Latency: one request at a time in this process, k 10 (SavedModel: the "
        "brute-force export's `recommend`; LiteRT: the interpreter, one thread).",
        "",
        "| variant | kind | parameters | item table (nonzero) | table gzip MB | size MB | p50 ms | p99 ms | NDCG@10 | "
        "HR@10 | vs teacher |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        size = row.get("saved_model_bytes", row.get("litert_bytes", 0)) / 1e6
        table = f"{row['item_table_parameters']:,}"
        if row["item_table_nonzero"] < row["item_table_parameters"]:
            table += f" ({row['item_table_nonzero']:,})"
        lines.append(
            f"| {name} | {row['kind']} | {row['parameters']:,} | {table} | {row['item_table_gzip_bytes'] / 1e6:.2f} | "
            f"{size:.2f} | "
            f"{row['p50_ms']:.3f} | {row['p99_ms']:.3f} | {row['NDCG@10']:.4f} | {row['HR@10']:.4f} | "
            f"{row['NDCG@10'] / teacher['NDCG@10']:.1%} |"
        )
    lines += ["", "Goals (issue 30):", "", *_goals(rows)]
    lines += [
        "",
        "The SavedModel holds the model's float32 variables and the brute-force index's own copy of the item table "
        "(materialised from the factors for the compressed tables), so its size falls less than the parameters. "
        "LiteRT NDCG@10 is computed from each flatbuffer's top 10, the SavedModel rows' by the evaluator. "
        "*table gzip MB*: the item table's float32 weights compressed with gzip, the size a compressed or sparse "
        "store would keep; the pruned table is exported dense (its zeros included), like the others.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="a preprocessed dataset (leave-one-out)")
    parser.add_argument("--config", default=str(REPO / "configs" / "sasrec_ml1m.yaml"), help="the base preset")
    parser.add_argument(
        "--runs", required=True, help="where the variants' runs go (finished runs of the same config are reused)"
    )
    parser.add_argument("--output", default=None, help="directory for report.md and results.json")
    parser.add_argument(
        "--overrides",
        nargs="*",
        default=["epochs=60", "validate_every=2", "patience=4", "time_budget_minutes=20", "seed=1"],
        help="overrides of every run",
    )
    parser.add_argument("--teacher", nargs="*", default=["model_config.embedding_dim=128", "model_config.num_blocks=2"])
    parser.add_argument("--student", nargs="*", default=["model_config.embedding_dim=32", "model_config.num_blocks=1"])
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--weight", type=float, default=0.5)
    parser.add_argument("--pruning-sparsity", type=float, default=0.85, help="the pruned table's share of zeros")
    parser.add_argument("--pruning-end-epoch", type=int, default=10, help="the epoch the pruning schedule ends at")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per variant")
    parser.add_argument("--test-users", type=int, default=0, help="test users scored by LiteRT (0: all)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from tfseqrec.host.machine import describe

    result = measure(args)
    command = "python benchmarks/compression.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(command, describe().get("cpu_model", "?"), result)
    print(text)
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        Path(args.output, "report.md").write_text(text)
        Path(args.output, "results.json").write_text(json.dumps({**result, "command": command}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

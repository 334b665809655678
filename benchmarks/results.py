"""Builds ``benchmarks/RESULTS.md`` from the committed reports under ``benchmarks/reports/``.

    python benchmarks/results.py            # rewrite benchmarks/RESULTS.md
    python benchmarks/results.py --check    # exit 1 when RESULTS.md differs from what the reports give

Every figure in RESULTS.md comes from a report file written by a benchmark command; this script only arranges
them: one section per report with the command that produced it, its protocol and its machine, then the report's
tables as they are. A report file that no section reads is an error, so a new report cannot be forgotten. Reads
files only: no TensorFlow, no training.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Callable

BENCHMARKS = Path(__file__).resolve().parent
REPORTS = BENCHMARKS / "reports"
OUTPUT = BENCHMARKS / "RESULTS.md"


@dataclasses.dataclass(frozen=True)
class Section:
    """One part of RESULTS.md.

    ``sources``: report files (relative to ``benchmarks/reports``) it reads; ``render`` turns them into Markdown.
    ``command``: what wrote the reports; ``protocol``: how the figures were measured (split, ranking, machine).
    """

    title: str
    sources: tuple[str, ...]
    command: str
    protocol: str
    render: Callable[[tuple[Path, ...]], str]


def whole_markdown(paths: tuple[Path, ...]) -> str:
    """The reports' Markdown, headings pushed below the section's, relative links rebased on ``benchmarks/``."""
    return "\n\n".join(_rebase(_demote(path.read_text()), path) for path in paths)


def whole_markdown_of(*indices: int) -> Callable[[tuple[Path, ...]], str]:
    """``whole_markdown`` of the sources at ``indices`` (the others are data files the section also reads)."""
    return lambda paths: whole_markdown(tuple(paths[i] for i in indices))


def markdown_parts(*headings: str) -> Callable[[tuple[Path, ...]], str]:
    """Only the ``## heading`` parts named (in the report's order), e.g. a grid report's accuracy and tests."""

    def render(paths: tuple[Path, ...]) -> str:
        out = []
        for path in paths:
            parts = re.split(r"(?m)^(?=## )", path.read_text())
            kept = [p for p in parts if p.startswith("## ") and p[3:].splitlines()[0].strip() in headings]
            out.append(_rebase(_demote("".join(kept)), path))
        return "\n\n".join(out)

    return render


def accuracy_then(caption: str, render: Callable[[tuple[Path, ...]], str]) -> Callable[[tuple[Path, ...]], str]:
    """A grid report's accuracy and pairwise tables (the first source), then ``render`` of the second source
    under ``caption``."""
    return lambda paths: (
        markdown_parts("Accuracy", "Pairwise comparisons")(paths[:1]) + f"\n\n{caption}:\n\n" + render(paths[1:2])
    )


def text_block(paths: tuple[Path, ...]) -> str:
    """Plain-text reports as they were printed."""
    return "\n\n".join(f"`{p.relative_to(BENCHMARKS)}`:\n\n```text\n{p.read_text().rstrip()}\n```" for p in paths)


def markdown_tables(paths: tuple[Path, ...]) -> str:
    """Markdown reports (tables) as they were printed, their headings one level down."""
    return "\n\n".join(_demote(p.read_text()) for p in paths)


def json_table(paths: tuple[Path, ...]) -> str:
    """A list of flat JSON records per file as one table (nested values and seconds shown compactly)."""
    out = []
    for path in paths:
        records = json.loads(path.read_text())
        records = records if isinstance(records, list) else [records]
        columns = list(dict.fromkeys(k for r in records for k in r))
        rows = [f"| {' | '.join(columns)} |", "|" + "---|" * len(columns)]
        rows += [f"| {' | '.join(_cell(r.get(c)) for c in columns)} |" for r in records]
        out.append(f"`{path.relative_to(BENCHMARKS)}`:\n\n" + "\n".join(rows))
    return "\n\n".join(out)


def tie_order_tables(paths: tuple[Path, ...]) -> str:
    """``ml1m_tie_order.py`` reports: per run, the model and baselines on each order, then the paired test."""
    rows = [
        "| run | order | model HR@10 | model NDCG@10 | best validation NDCG@10 | transitions NDCG@10 | "
        "most popular NDCG@10 | stopped by |",
        "|" + "---|" * 8,
    ]
    pairs = [
        "| run | users | NDCG@10 ratings.dat order | NDCG@10 shared order | difference [95% CI] | t-test p | "
        "Wilcoxon p |",
        "|" + "---|" * 7,
    ]
    for path in paths:
        for r in json.loads(path.read_text()):
            if "users" in r:
                low, high = r["ci95"]
                pairs.append(
                    f"| {path.stem} | {r['users']:,} | {r['file_order NDCG@10']:.4f} | "
                    f"{r['shared_order NDCG@10']:.4f} | {r['difference']:+.4f} [{low:+.4f}, {high:+.4f}] | "
                    f"{r['t-test p']:.2g} | {r['wilcoxon p']:.2g} |"
                )
                continue
            model = [_cell(r.get(k)) for k in ("model HR@10", "model NDCG@10", "best valid NDCG@10")]
            rows.append(
                f"| {path.stem} | {r['variant']} | {' | '.join(model)} | {r['transitions NDCG@10']:.4f} | "
                f"{r['most_popular NDCG@10']:.4f} | {r.get('stopped_by', '')} |"
            )
    return "\n".join(rows) + "\n\n" + "\n".join(pairs)


def peer_tables(throughputs: tuple[tuple[str, str], ...], comparisons: tuple[tuple[str, str], ...]):
    """The RecBole side-by-side tables of ``benchmarks/peers/results.py`` for the given report folders."""

    def render(paths: tuple[Path, ...]) -> str:
        peers = _peer_results_script()

        def titled(pairs, filename, companion=None):
            return peers._titled([f"{t}={REPORTS / d}" for t, d in pairs], "--report", filename, companion)

        text = peers.section(
            titled(throughputs, "throughput.json", "limits.json"),
            titled(comparisons, "comparison.json"),
            "python benchmarks/results.py",
        )
        return text.split("\n", 2)[2].strip()  # without the peers script's "generated by" line

    return render


def _peer_results_script():
    """``benchmarks/peers/results.py`` as a module (its sibling imports resolve through ``benchmarks/peers``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("peer_results", BENCHMARKS / "peers" / "results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _demote(text: str) -> str:
    text = re.sub(r"(?m)^# .*\n+", "", text, count=1)
    return re.sub(r"(?m)^(#{2,5}) ", lambda m: "#" * (len(m.group(1)) + 1) + " ", text).strip()


def _rebase(text: str, path: Path) -> str:
    folder = path.parent.relative_to(BENCHMARKS).as_posix()
    return re.sub(r"\]\((?!https?:|/|#)([^)]+)\)", lambda m: f"]({folder}/{m.group(1)})", text)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    return "" if value is None else str(value)


PEER_THROUGHPUT = (
    ("ML-1M, length 200, Intel Xeon", "peers/throughput_ml1m_l200_xeon"),
    ("Amazon Beauty, length 50, Intel Xeon", "peers/throughput_beauty_l50_xeon"),
    ("ML-1M, length 200, AMD EPYC", "peers/throughput_ml1m_l200"),
    ("Amazon Beauty, length 50, AMD EPYC", "peers/throughput_beauty_l50"),
)
PEER_COMPARISONS = (
    ("ML-100K (length 50) to convergence: SASRec", "peers/ml100k_converged_sasrec"),
    ("ML-100K (length 50) to convergence: GRU4Rec", "peers/ml100k_converged_gru4rec"),
    ("ML-100K (length 50) to convergence: BERT4Rec (Intel Xeon)", "peers/ml100k_converged_bert4rec"),
    ("Amazon Beauty (length 50) to convergence", "peers/beauty_converged"),
    (
        "Amazon Beauty (length 50) to convergence, GRU4Rec with ~126 targets per update on both sides (Intel Xeon)",
        "peers/beauty_gru4rec_equal_targets",
    ),
    ("ML-1M (length 200), 30-minute budget", "peers/ml1m_30min"),
    ("ML-100K (length 50), 10-minute budgets, busy machine", "peers/ml100k_equal_budgets"),
)
LEAVE_ONE_OUT = (
    "leave-one-out (last item = test, second-to-last = validation), full ranking over every item, ties "
    "counted against the model"
)

SECTIONS = (
    Section(
        "Reference models on MovieLens-1M and Amazon Beauty",
        ("models/report.md",),
        "`tfseqrec benchmark benchmarks/grids/models.yaml --output benchmarks/out/models` (one run each, seed 42; "
        "the rows give each run's budget)",
        f"{LEAVE_ONE_OUT}, items already in the history excluded (`filter_seen`); ML-1M is the item 5-core "
        "`ml-1m.seq.tsv` (6,040 users, 3,416 items, length 200), Beauty the S3-Rec `Beauty.txt` (length 50). "
        "2-core CPU VMs without GPU (AMD EPYC or Intel Xeon, as each row's note says); 'published' is the "
        "paper's full-ranking figure (Klenitskiy & Vasilev 2023 for ML-1M).",
        whole_markdown,
    ),
    Section(
        "Session datasets and HRNN",
        ("sessions/report.md",),
        "`tfseqrec benchmark benchmarks/grids/sessions.yaml --output benchmarks/out/sessions` (seeds 1-3)",
        "session splits: every next item of each test session, full ranking, seen items kept, Recall@20 / "
        "MRR@20 averaged over events; ML-1M with timestamps: leave-one-out, seen items excluded. 2-core CPU VM.",
        whole_markdown,
    ),
    Section(
        "MovieLens-100K grid (3 seeds, 15-minute budgets)",
        ("ml100k/report.md",),
        "`tfseqrec benchmark benchmarks/grids/ml100k.yaml --output benchmarks/out/ml100k --report-dir "
        "benchmarks/reports/ml100k`",
        f"{LEAVE_ONE_OUT}, seen items excluded; 943 users, 1,349 items; 2-core CPU VM shared with other "
        "trainings (the budgets bought fewer epochs than an idle machine would). The full report (curves, "
        "efficiency, segments, failure cases) is [reports/ml100k/report.md](reports/ml100k/report.md).",
        markdown_parts("Accuracy", "Pairwise comparisons", "Protocol", "Machine"),
    ),
    Section(
        "Against RecBole 1.2.1: throughput, memory and accuracy",
        tuple(
            f"{d}/{f}"
            for d, files in (
                (
                    d,
                    ("throughput.json", "throughput.md")
                    + (("limits.json", "limits.md") if d.endswith("_xeon") else ()),
                )
                for _, d in PEER_THROUGHPUT
            )
            for f in files
        )
        + tuple(f"{d}/comparison.{ext}" for _, d in PEER_COMPARISONS for ext in ("json", "md")),
        "the scripts of `benchmarks/peers/` (RecBole in its own virtualenv; every command line is in "
        "[peers/README.md](peers/README.md))",
        "same splits and model sizes on both sides (exported by `benchmarks/peers/export_split.py`), 2-core CPU "
        "VMs; accuracy: test split, full ranking, seen items kept, conservative ties, 95% bootstrap over users.",
        peer_tables(PEER_THROUGHPUT, PEER_COMPARISONS),
    ),
    Section(
        "ML-1M: the order of same-second ratings",
        ("tie_order/sasrec_converged.json", "tie_order/gru4rec_28min.json", "tie_order/gru4rec_continued.json"),
        "`python benchmarks/ml1m_tie_order.py`",
        "the 2,999 ML-1M users with raw timestamps, ordered as `ratings.dat` (`file_order`) or as the shared "
        "`ml-1m.seq.tsv` (`shared_order`); leave-one-out, full ranking, seen items excluded; 2-core CPU VM. The "
        "shared file's order of same-second ratings costs SASRec and GRU4Rec most of their gap to the published "
        "ML-1M figures.",
        tie_order_tables,
    ),
    Section(
        "A plain PyTorch GRU on the GRU4Rec (CE) setup",
        ("peers/torch_gru_curve_ml1m.txt",),
        "`benchmarks/peers/torch_gru_curve.py` (first line of the report)",
        "ML-1M shared file, validation NDCG@10 by epoch, against ours on the same data (second line).",
        text_block,
    ),
    Section(
        "Item attributes: SASRec-CE on Amazon Beauty with and without categories and brand",
        ("side_features/report.md", "side_features/segments.md", "side_features/segments.json"),
        "`tfseqrec benchmark benchmarks/grids/side_features.yaml --output benchmarks/out/side_features --report-dir "
        "benchmarks/reports/side_features`, then `python benchmarks/segment_pairs.py benchmarks/out/side_features "
        "--report benchmarks/reports/side_features/segments.json > benchmarks/reports/side_features/segments.md`",
        f"{LEAVE_ONE_OUT}, seen items excluded; the S3-Rec `Beauty.txt` and `Beauty_item2attributes.json` (637 "
        "attribute values, 1-6 per item); configs/sasrec_beauty.yaml for both runs, 30 epochs with early stopping, "
        "seed 1; the attributes run pools them into every input and every output embedding. Paired tests over the "
        "22,363 users, overall and on cold (<= 5 training interactions) and tail (least popular half) targets. "
        "2-core AMD EPYC VM shared with other trainings and test runs.",
        accuracy_then("On rare targets (`benchmarks/segment_pairs.py`)", text_block),
    ),
    Section(
        "Position encodings: SASRec with each kind on ML-100K, Yoochoose and Diginetica",
        ("positions/report.md",),
        "`tfseqrec benchmark benchmarks/grids/positions.yaml --output benchmarks/out/positions --only-datasets D "
        "--report-dir benchmarks/reports/positions` for D = ml100k, diginetica, yoochoose",
        "SASRec with `model_config.position_encoding.name` = each kind and nothing else changed; ML-100K "
        f"(5-core, {LEAVE_ONE_OUT}, seen items excluded, configs/sasrec_ml1m.yaml, 30 epochs); the Yoochoose "
        "100k-click sample (last day = test, 12 epochs) and the SR-GNN Diginetica sample (last 7 days, early "
        "stopping within 100 epochs), every next item of the test sessions; seed 1. Diginetica's times are days, "
        "so its time intervals are all 0 within a session. 2-core AMD EPYC VM shared with other trainings (fixed "
        "epochs: sharing changes times only).",
        markdown_parts("Accuracy", "Pairwise comparisons"),
    ),
    Section(
        "Long histories: attention kinds, HSTU, hierarchical and memory transformers from 200 to 4,096 items",
        ("long_attention/long_attention.md", "long_attention/results.json", "long_attention/long_attention.png"),
        "`python benchmarks/long_attention.py --steps 3 --output benchmarks/reports/long_attention`",
        "d 64, 2 blocks, 1 head, full CE over 2,000 items: SASRec with each attention kind, HSTU, the hierarchical "
        "transformer (chunks of 64, one chunk-level block) and the memory transformer (segments of 64, 8 slots), on "
        "synthetic histories of exactly L items, 8,192 positions per step (B = 8192 / L); medians of 3 timed steps "
        "after a warm-up, the kind and full attention timed in alternating rounds in one process per (kind, L); "
        "memory is the growth of the process's peak resident set from the built model, measured before full "
        "attention is built (about 230-330 MiB of it is tracing and allocator slack common to all). Idle 2-core "
        "AMD EPYC VM, no GPU.",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Long histories: accuracy of every kind against full attention on MovieLens-1M",
        ("long_histories/report.md",),
        "`tfseqrec benchmark benchmarks/grids/long_histories.yaml --output benchmarks/out/long_histories "
        "--report-dir benchmarks/reports/long_histories`",
        f"{LEAVE_ONE_OUT}, seen items excluded; ML-1M item 5-core (6,040 users, 3,416 items), length 200; d 64, 2 "
        "blocks, 1 head, full CE, configs/sasrec_ml1m.yaml's optimizer and batch for every run (HSTU: "
        "configs/hstu_ml1m.yaml, dropout 0.2), 10 epochs each (a fixed, short budget: SASRec-CE reaches 0.170 "
        "after about 70), seed 1. 2-core AMD EPYC VM shared with test runs (fixed epochs: sharing changes times "
        "only).",
        markdown_parts("Accuracy", "Pairwise comparisons"),
    ),
    Section(
        "HSTU against SASRec-CE on MovieLens-1M, both trained to convergence",
        ("hstu_ml1m/report.md",),
        "`tfseqrec benchmark benchmarks/grids/hstu_ml1m.yaml --output benchmarks/out/hstu_ml1m --report-dir "
        "benchmarks/reports/hstu_ml1m`",
        f"{LEAVE_ONE_OUT}, seen items excluded; ML-1M item 5-core (6,040 users, 3,416 items), length 200; d 64, 2 "
        "blocks, 1 head, full CE, Adam 1e-3, batch 128 for both (configs/sasrec_ml1m.yaml, dropout 0.1; "
        "configs/hstu_ml1m.yaml, dropout 0.2), early stopping on validation NDCG@10 (every 2 epochs, patience 8 "
        "validations), no time budget, seed 1; 'published' is HSTU-large in Zhai et al. 2024 (their own "
        "setup). 2-core AMD EPYC VM shared with other jobs (epochs to convergence do not depend on it; times do).",
        markdown_parts("Accuracy", "Published figures and targets", "Pairwise comparisons"),
    ),
    Section(
        "Does a longer history help? Local attention and the memory transformer at max_len 200, 512 and 1,024",
        ("long_lengths/report.md", "long_lengths/segments.md", "long_lengths/segments.json"),
        "`tfseqrec benchmark benchmarks/grids/long_lengths.yaml --output benchmarks/out/long_lengths --report-dir "
        "benchmarks/reports/long_lengths`, then `python benchmarks/segment_pairs.py benchmarks/out/long_lengths "
        "--history-edges 200 512 1024 --no-popularity --report benchmarks/reports/long_lengths/segments.json > "
        "benchmarks/reports/long_lengths/segments.md`",
        f"{LEAVE_ONE_OUT}, seen items excluded; ML-1M item 5-core (its longest history: 2,277 ratings); SASRec "
        "with local attention (window 64; with 2 blocks a state reaches back at most 126 items) and the memory "
        "transformer (segments of 64, 8 slots), configs/sasrec_ml1m.yaml otherwise, 10 epochs on length-bucketed "
        "batches, seed 1; a longer max_len sees more of each long history and trains on more of its items. "
        "Paired tests over all users and by the length of their whole history. 2-core AMD EPYC VM shared with "
        "test runs (fixed epochs: sharing changes times only).",
        accuracy_then("By history length (`benchmarks/segment_pairs.py`)", text_block),
    ),
    Section(
        "Serving latency of the long-history models at 2,048 items",
        ("long_serving/long_serving.md", "long_serving/results.json"),
        "`python benchmarks/long_serving.py --length 2048 --requests 30 --output benchmarks/reports/long_serving`",
        "Each kind of the scaling benchmark built with max_len 2,048 over 3,706 items (untrained), exported with "
        "brute-force and ScaNN top-K, one request of one 2,048-item history (k 10, seen excluded) to the loaded "
        "SavedModel's `recommend` signature; 30 rounds after 3 untimed calls, every export once per round, so the "
        "ratios compare calls made side by side; each export's top 10 checked against its in-memory model. 2-core "
        "AMD EPYC VM, no GPU, shared with a test run (absolute times and p99 are inflated by it).",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Hyperparameter search: SASRec-CE on MovieLens-100K",
        (
            "tune_sasrec_ml100k/report.md",
            "tune_sasrec_ml100k/trials.csv",
            "tune_sasrec_ml100k/summary.json",
            "tune_sasrec_ml100k/best_config.yaml",
            "tune_sasrec_ml100k/history.png",
            "tune_sasrec_ml100k/curves.png",
            "tune_sasrec_ml100k/importance.png",
            "tune_sasrec_ml100k/parallel.png",
        ),
        "`tfseqrec tune benchmarks/tune/sasrec_ml100k.yaml --output benchmarks/out/tune/sasrec_ml100k` (killed "
        "with `kill -9` during trial 2 and run again, which resumed it as trial 3), then the same command with "
        "`--report-only`; files copied to `benchmarks/reports/tune_sasrec_ml100k/`",
        f"{LEAVE_ONE_OUT}, seen items excluded; RecBole's ml-100k atomic file, 5-core (943 users, 1,349 items); "
        "20 finished trials of TPE (8 random start-up trials) over 10 keys from configs/sasrec_ml1m.yaml, median "
        "pruning, each trial to early stopping on validation NDCG@10 (every 2 epochs, patience 4 validations, at "
        "most 100 epochs), training seed 1 for every trial and for the preset. The best trial is chosen on "
        "validation; its test figure is reported, not used. 2-core AMD EPYC VM shared with another training "
        "(the search ran at low priority; times are inflated, epochs are not).",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Hyperparameter search: SASRec-CE on Amazon Beauty",
        (
            "tune_sasrec_beauty/report.md",
            "tune_sasrec_beauty/trials.csv",
            "tune_sasrec_beauty/summary.json",
            "tune_sasrec_beauty/best_config.yaml",
            "tune_sasrec_beauty/history.png",
            "tune_sasrec_beauty/curves.png",
            "tune_sasrec_beauty/importance.png",
            "tune_sasrec_beauty/parallel.png",
        ),
        "`tfseqrec tune benchmarks/tune/sasrec_beauty.yaml --output benchmarks/out/tune/sasrec_beauty` (killed "
        "with `kill -9` at epoch 23 of trial 1 and run again with `--jobs 2`, which continued it from its last "
        "epoch as trial 2); files copied to `benchmarks/reports/tune_sasrec_beauty/`",
        f"{LEAVE_ONE_OUT}, seen items excluded; the S3-Rec Beauty.txt (5-core, 22,363 users, 12,101 items), "
        "length 50; 20 finished trials of TPE (8 random start-up trials) over 9 keys from "
        "configs/sasrec_beauty.yaml, median pruning after 6 epochs, each trial to early stopping on validation "
        "NDCG@10 (every 2 epochs, patience 4 validations) or 30 epochs, training seed 1 for every trial and for "
        "the preset. The budget is epochs, not minutes, so the machine's other work changed times only. The best "
        "trial is chosen on validation; its test figure is reported, not used. 2-core AMD EPYC VM, shared with a "
        "test run and a streaming benchmark for part of the search (paused for them).",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Distributed training: two workers and a parameter-server cluster against one process on MovieLens-100K",
        ("distributed/report.md", "distributed/results.json"),
        "`python benchmarks/distributed.py --data-dir benchmarks/out/data/ml-100k --seeds 1 2 3 --strategies "
        "multi_worker parameter_server --output benchmarks/reports/distributed -- time_budget_minutes=null "
        "model_config.max_len=50` (the one-process and multi-worker runs of an earlier invocation without "
        "`--strategies` reused)",
        f"{LEAVE_ONE_OUT}, seen items excluded; RecBole's ml-100k atomic file, 5-core (943 users, 1,349 items); "
        "configs/sasrec_ml1m.yaml at length 50, global batch 128, to early stopping on validation NDCG@10; per "
        "seed one process (strategy=default) and two worker processes of a MultiWorkerMirroredStrategy cluster "
        "on localhost (strategy=multi_worker, 64 rows per worker per step), and an in-process "
        "ParameterServerStrategy cluster of 2 workers and 1 parameter server (strategy=parameter_server, "
        "asynchronous steps of 128 rows); the test users' NDCG@10 paired per seed. The multi-worker runs' workers "
        "agree (checked). One 2-core AMD EPYC VM shared with another training: the distributed runs share the two "
        "cores, so seconds per epoch say nothing about scaling.",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Cold start: new MovieLens-100K users with 1, 3 and 5 events",
        ("cold_start_ml100k/report.md", "cold_start_ml100k/results.json"),
        "`tfseqrec preprocess --input ../shared/data/ml-100k/recbole/ml-100k.inter --format tsv --user-col "
        "user_id:token --item-col item_id:token --time-col timestamp:float --item-min-count 5 --user-min-count 5 "
        "--split cold_start --output-dir benchmarks/out/data/ml-100k-cold`, then `python benchmarks/cold_start.py "
        "--data-dir benchmarks/out/data/ml-100k-cold --seeds 1 2 3 --output benchmarks/reports/cold_start_ml100k`",
        "RecBole's ml-100k atomic file, 5-core; the cold-start protocol (docs/preprocessing.md): the 20% of users "
        "whose first rating came last (189) are new and never trained on, the other 754 are split leave-one-out "
        "for training and validation; each new user's first K ratings (by timestamp) are the history, the next "
        "one the target; full ranking over 1,349 items, seen items excluded. The warm model is "
        "configs/sasrec_ml1m.yaml to early stopping (no time budget), seeds 1-3, ranking the new users as it is "
        "(zero-shot); the baselines read the same K ratings. Paired tests on seed 1. 2-core AMD EPYC VM shared "
        "with other jobs.",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Cold start with meta-learning: new MovieLens-100K users, zero-shot, fine-tuned and meta-learned",
        ("cold_start_meta_ml100k/report.md", "cold_start_meta_ml100k/results.json"),
        "`tfseqrec preprocess --input ../shared/data/ml-100k/recbole/ml-100k.inter --format tsv --user-col "
        "user_id:token --item-col item_id:token --time-col timestamp:float --item-min-count 5 --user-min-count 5 "
        "--split cold_start --cold-user-fraction 0.3 --cold-valid-fraction 0.4 --output-dir "
        "benchmarks/out/data/ml-100k-meta`, then `python benchmarks/cold_start.py --data-dir "
        "benchmarks/out/data/ml-100k-meta --seeds 1 2 3 --runs benchmarks/out/cold_start_meta_ml100k --meta maml "
        "fomaml reptile --meta-overrides optimizer.learning_rate=1e-4 epochs=100 validate_every=1 patience=10 "
        "--output benchmarks/reports/cold_start_meta_ml100k`",
        "RecBole's ml-100k atomic file, 5-core; the cold-start protocol (docs/preprocessing.md) with 30% new users "
        "by first-rating time: the first 40% of them to arrive (113) validate, the last 60% (170) are tested; the "
        "other 660 users are warm (leave-one-out). Each new user's first K ratings are the history, the next one "
        "the target; full ranking over 1,349 items, seen items excluded. Warm model: configs/sasrec_ml1m.yaml to "
        "early stopping, seeds 1-3. Fine-tuning: a per-user query offset, 3 steps on the support's own next-item "
        "pairs, the step size for K events picked from 0.03-30 on the validation users with K events, which gives "
        "one step size per number of pairs (`adaptation.inner_lr` as a list). Meta-learning: the same adapter, "
        "meta-trained from the warm run (Adam 1e-4, episodes from the warm users' first 1-5 events), its step sizes "
        "per number of pairs starting at fine-tuning's and meta-learned, early stopping on all validation users "
        "(K = 1, 3 and 5 pooled; epoch 0 is fine-tuning). "
        "2-core AMD EPYC VM shared with other jobs.",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Cold start with meta-learning: new MovieLens-1M users, zero-shot, fine-tuned and meta-learned",
        ("cold_start_meta_ml1m/report.md", "cold_start_meta_ml1m/results.json"),
        "`tfseqrec preprocess --input ../shared/data/ml-1m/original/ratings.dat.first487650rows.gz --format "
        "movielens --item-min-count 5 --user-min-count 5 --split cold_start --cold-user-fraction 0.3 "
        "--cold-valid-fraction 0.4 --output-dir benchmarks/out/data/ml-1m-meta`, then `python "
        "benchmarks/cold_start.py --data-dir benchmarks/out/data/ml-1m-meta --seeds 1 2 3 --runs "
        "benchmarks/out/cold_start_meta_ml1m --meta maml fomaml reptile --meta-overrides "
        "optimizer.learning_rate=1e-4 epochs=100 validate_every=1 patience=10 --output "
        "benchmarks/reports/cold_start_meta_ml1m -- time_budget_minutes=null validate_every=2 patience=5`",
        "MovieLens-1M users 1-2,999, the ones whose raw timestamps the shared copy holds "
        "(../shared/data/ml-1m/SOURCE.md: the other users' ratings have an order but no time, and new users are "
        "defined by time); 5-core (2,999 users, 3,266 items). 30% new users by first-rating time: the first 360 to "
        "arrive validate, the last 540 are tested; 2,099 warm users (leave-one-out) train configs/sasrec_ml1m.yaml to"
        " early stopping (validation every 2 epochs, patience 5), seeds 1-3. Fine-tuning and meta-learning as on "
        "MovieLens-100K above, with the same settings. 2-core AMD EPYC VM shared with other jobs.",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Genres: SASRec-CE on MovieLens-100K with and without movie genres",
        ("genres/report.md", "genres/segments.md", "genres/segments.json"),
        "`tfseqrec benchmark benchmarks/grids/genres.yaml --output benchmarks/out/genres --report-dir "
        "benchmarks/reports/genres`, then `python benchmarks/segment_pairs.py benchmarks/out/genres --report "
        "benchmarks/reports/genres/segments.json > benchmarks/reports/genres/segments.md`",
        f"{LEAVE_ONE_OUT}, seen items excluded; RecBole's ml-100k atomic files, 5-core (943 users, 1,349 items), "
        "the 19 genres of ml-100k.item (`class`, up to 6 per movie) pooled into every input and output embedding; "
        "configs/sasrec_ml1m.yaml for both runs, 30 epochs, seeds 1-3; the rare-target tests pool the seeds. "
        "2-core AMD EPYC VM shared with other trainings (fixed epochs: sharing changes times only).",
        accuracy_then("On rare targets (`benchmarks/segment_pairs.py`)", text_block),
    ),
    Section(
        "Behaviour types on the Taobao UserBehavior sample",
        ("behaviours/report.md", "behaviours/behaviours.md", "behaviours/behaviours.json"),
        "`tfseqrec benchmark benchmarks/grids/behaviours.yaml --output benchmarks/out/behaviours --report-dir "
        "benchmarks/reports/behaviours`, then `python benchmarks/behaviours.py benchmarks/out/behaviours --report "
        "benchmarks/reports/behaviours/behaviours.json > benchmarks/reports/behaviours/behaviours.md`",
        "929 users' 9 days of pv / cart / fav / buy; temporal split: test targets are 2017-12-03's events, "
        "validation 2017-12-02's, each from everything before; full ranking over 61,330 items, seen items kept; "
        "per behaviour, OTTO's Recall@20 and NDCG@20 over the users with targets of it. "
        "benchmarks/configs/sasrec_taobao.yaml for every run, 12 epochs, seeds 1 and 2 (2-core AMD EPYC VM, shared "
        "with up to three other trainings for some runs; epochs are fixed, so sharing changes times only). The "
        "behaviour_target runs condition the query on the target behaviour (affine map or shift); their "
        "per-behaviour metrics rank each behaviour's targets on the list asked for it, their overall metrics on "
        "the list of nothing asked.",
        accuracy_then("Per target behaviour (`benchmarks/behaviours.py`)", markdown_tables),
    ),
    Section(
        "Training throughput with side inputs and heads",
        ("side_inputs/throughput_ml1m.txt", "side_inputs/throughput_ml1m.json"),
        "`python benchmarks/train_throughput.py --data-dir out/ml-1m-features --only sasrec_full_ce "
        "sasrec_side_inputs sasrec_side_inputs_heads --steps 12 --rounds 3 --json "
        "benchmarks/reports/side_inputs/throughput_ml1m.json` (output in the .txt)",
        "ML-1M with the genres of movies.dat (18 values, up to 6 per movie), length 200, batch 128, d 64, "
        "float32; side inputs: genres pooled into every input and output embedding; heads: next genre; the "
        "configurations alternate for 3 rounds in one process, ratios are medians of the rounds; 2-core AMD "
        "EPYC VM.",
        lambda paths: text_block(paths[:1]),
    ),
    Section(
        "Training speed: mixed precision and dropout",
        ("precision/precision.txt", "precision/beauty_sasrec.json", "precision/ml1m_sasrec.json", "dropout/xeon.txt"),
        "`python benchmarks/train_throughput.py --data-dir D --only sasrec_full_ce --precisions float32 "
        "mixed_bfloat16`; `python benchmarks/dropout.py` (commands in the reports)",
        "ratios measured in one process on an idle 2-core CPU (AVX512_BF16, no AMX).",
        lambda paths: text_block((paths[0], paths[3])) + "\n\n" + json_table(paths[1:3]),
    ),
    Section(
        "Training throughput against an earlier revision",
        (
            "throughput_revisions/ml1m/throughput.md",
            "throughput_revisions/ml1m/throughput.json",
            "throughput_revisions/beauty/throughput.md",
            "throughput_revisions/beauty/throughput.json",
        ),
        "`python benchmarks/throughput_revisions.py --base ca98446 --data-dir out/ml-1m --max-len 200 --steps 24 "
        "--rounds 5 --report benchmarks/reports/throughput_revisions/ml1m`, and for Beauty `--data-dir "
        "out/beauty --max-len 50 --steps 48`",
        "`benchmarks/train_throughput.py` of each tree in its own process (padded batches, d 64, batch 128, "
        "float32), base and current alternating for 5 rounds on an idle 2-core AMD EPYC VM; the headline ratio "
        "is the median of the rounds' ratios and their spread is the noise. Base ca98446 is the tree before the "
        "package layout, registries and input hardening of issue 26; data from `tfseqrec preprocess` as in the "
        "presets of `configs/`.",
        lambda paths: whole_markdown((paths[0], paths[2])),
    ),
    Section(
        "Preprocessing speed: the Beam pipeline against pandas on ML-1M",
        ("preprocess/ml1m.txt",),
        "`python benchmarks/preprocess_ml1m.py --breakdown --repeat 3` (first line of the report)",
        "full ML-1M `ml-1m.seq.tsv` (1,000,209 rows): read, item 5-core, group, sort, leave-one-out, vocabulary, "
        "write; Beam on the DirectRunner (2 worker processes) against a pandas implementation of the same "
        "steps, byte-identical records checked; each run a fresh subprocess on an idle 2-core AMD EPYC VM.",
        text_block,
    ),
    Section(
        "Serving: indexes, the gRPC server and version swaps under load",
        ("serving/report.md", "serving/results.json", "serving/server.log"),
        "`python benchmarks/serving.py --out benchmarks/reports/serving`",
        "1,000,000 synthetic clustered items x 64; the exported brute-force and ScaNN indexes, then a SASRec "
        "export served by `tfseqrec serve` in its own process over gRPC on loopback with client processes on "
        "the same 2 cores; machine and load in the report's first line.",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Serving: sessions against restored functions (this tree against the earlier server)",
        ("serving_revisions/report.md", "serving_revisions/results.json", "serving_revisions/server.log"),
        "`python benchmarks/serving_revisions.py --base 144f6a6 --output benchmarks/reports/serving_revisions` "
        "(after `python benchmarks/serving.py --work benchmarks/out/serving_work`, which makes the exports)",
        "The same 1,000,000-item ScaNN export served by the server of revision 144f6a6 (each signature a restored "
        "`tf.saved_model.load` function) and by this tree (each version in its own session, signatures as "
        "`RunCallable`s), with the server's default threads (every op in the request's thread) and with "
        "TensorFlow's pools; the arms alternate in "
        "each of 3 rounds on an idle 2-core AMD EPYC VM, the clients on the same cores.",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Serving with TensorFlow's thread pools",
        ("serving_tf_pools/report.md", "serving_tf_pools/results.json", "serving_tf_pools/server.log"),
        "`python benchmarks/serving.py --only e2e --work benchmarks/out/serving_work --server-args "
        '"--intra-op-threads 0 --inter-op-threads 0" --out benchmarks/reports/serving_tf_pools`',
        "The end-to-end part of the section above (same exports, reused) with TensorFlow's own thread pools "
        "(`--intra-op-threads 0 --inter-op-threads 0`, one thread per core) instead of the server's default of "
        "every op in the request's thread; run right after it on the same idle 2-core AMD EPYC VM.",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Stateful serving: one GRU step per event against a full recompute",
        ("streaming/report.md", "streaming/results.json"),
        "`tfseqrec train --config configs/gru4rec_ml1m.yaml --data-dir benchmarks/out/data/ml-100k --output-dir "
        "benchmarks/out/streaming/gru4rec_ml100k model_config.max_len=1100 time_budget_minutes=5`, then `python "
        "benchmarks/streaming.py --run benchmarks/out/streaming/gru4rec_ml100k --output benchmarks/reports/streaming`",
        "RecBole's ml-100k atomic file, 5-core, leave-one-out (`tfseqrec preprocess ... --output-dir "
        "benchmarks/out/data/ml-100k`); GRU4Rec (one GRU layer of 64, full cross-entropy) trained for 5 minutes "
        "with max_len 1100; exported (brute force) and served in the benchmark's process over gRPC on loopback, "
        "one client; 2-core AMD EPYC VM. *bytes per user*: the cached users of that length alone (state and kept "
        "items).",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Stateful serving with a key-value cache: SASRec",
        ("streaming_sasrec/report.md", "streaming_sasrec/results.json"),
        "`tfseqrec train --config configs/sasrec_ml1m.yaml --data-dir benchmarks/out/data/ml-100k --output-dir "
        "benchmarks/out/streaming/sasrec_ml100k model_config.max_len=1100 time_budget_minutes=5 validate_every=1`, "
        "then `python benchmarks/streaming.py --run benchmarks/out/streaming/sasrec_ml100k --output "
        "benchmarks/reports/streaming_sasrec --replay-events 1000 --users 1000 --cache-users 250 --cache-events 2000`",
        "As the GRU4Rec section above, for SASRec (d 64, 2 blocks, full attention, learnable positions) with "
        "max_len 1100, trained for 5 minutes (4 epochs): the server keeps each user's key-value cache sized by "
        "the history (count, then each block's keys and values of the user's positions so far, up to 1,100: "
        "1 KB per item) and `append` runs one position through the blocks; 2-core AMD EPYC VM. *bytes per user*: "
        "the cached users of that length alone (state and kept items).",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Monitoring: the cost of metrics and the request log, and drift of replayed traffic",
        ("monitoring/report.md", "monitoring/results.json"),
        "`python benchmarks/monitoring.py --run benchmarks/out/cold_start_meta_ml1m/warm_seed1 --output "
        "benchmarks/reports/monitoring`",
        "The warm SASRec of the MovieLens-1M cold-start benchmark above (users 1-2,999 with timestamps; seed 1), "
        "exported (brute force) and served in the benchmark's process over gRPC on loopback, one client; drift "
        "against its training split, from the server's own request log (sample rate 1); 2-core AMD EPYC VM.",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Compression: distillation, smaller item tables and quantisation on ML-1M",
        ("compression_ml1m/report.md", "compression_ml1m/results.json"),
        "`tfseqrec preprocess --input ../shared/data/ml-1m/ml-1m.seq.tsv --order-col seq_pos --item-min-count 5 "
        "--output-dir benchmarks/out/data/ml-1m`, then `python benchmarks/compression.py --data-dir "
        "benchmarks/out/data/ml-1m --runs benchmarks/out/compression/ml1m --output benchmarks/reports/compression_ml1m "
        "--overrides epochs=60 validate_every=2 patience=4 time_budget_minutes=30 seed=1 model_config.max_len=50`",
        f"{LEAVE_ONE_OUT}, seen items excluded; ML-1M item 5-core (6,040 users, 3,416 items) at length 50 (not the "
        "preset's 200, to train six models in one session); configs/sasrec_ml1m.yaml (full cross-entropy) for "
        "every run: teacher d 128 with 2 blocks, students d 32 with 1 block, at most 60 epochs with early stopping "
        "(validation every 2 epochs, patience 4) or 30 minutes; the runs' `stopped_by` and best epochs are in "
        "their run.json. The pruned teacher (85% of the item table set to zero by magnitude, ramped over 10 epochs; "
        "validated from epoch 10) was trained later on a machine shared with another benchmark's training. "
        "Latency in one process, one request at a time, on a 2-core AMD EPYC VM left to the measurements.",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Compression: distillation, smaller item tables, pruning and quantisation on Amazon Beauty",
        ("compression_beauty/report.md", "compression_beauty/results.json"),
        "`tfseqrec preprocess --input ../shared/data/amazon-beauty/Beauty.txt --output-dir "
        "benchmarks/out/data/beauty`, then `python benchmarks/compression.py --data-dir benchmarks/out/data/beauty "
        "--config "
        "configs/sasrec_beauty.yaml --runs benchmarks/out/compression/beauty --output "
        "benchmarks/reports/compression_beauty --overrides epochs=60 validate_every=2 patience=4 "
        "time_budget_minutes=15 seed=1 --pruning-end-epoch 6`",
        f"{LEAVE_ONE_OUT}, seen items excluded; the S3-Rec Beauty.txt (5-core, 22,363 users, 12,101 items), length "
        "50; configs/sasrec_beauty.yaml (full cross-entropy, dropout 0.5) for every run: teacher d 128 with 2 "
        "blocks, students d 32 with 1 block, at most 60 epochs with early stopping (validation every 2 epochs, "
        "patience 4) or 15 minutes of training each (most runs stop on that budget: see `stopped_by` in their "
        "run.json), trained on a 2-core AMD EPYC VM shared with another benchmark's training part of the time. "
        "Latency in one process, one request at a time, on the same VM left to the measurements.",
        lambda paths: whole_markdown(paths[:1]),
    ),
    Section(
        "Incremental updates against full retraining: Yoochoose day slices, Diginetica 4-week slices",
        (
            "incremental_yoochoose_e4/report.md",
            "incremental_yoochoose_e4/results.json",
            "incremental_yoochoose_e4_noreplay/report.md",
            "incremental_yoochoose_e4_noreplay/results.json",
            "incremental_yoochoose/report.md",
            "incremental_yoochoose/results.json",
            "incremental_diginetica/report.md",
            "incremental_diginetica/results.json",
            "incremental_yoochoose_m1000_herding/report.md",
            "incremental_yoochoose_m1000_herding/results.json",
            "incremental_yoochoose_m1000_random/report.md",
            "incremental_yoochoose_m1000_random/results.json",
            "incremental_yoochoose_e4_distill/report.md",
            "incremental_yoochoose_e4_distill/results.json",
        ),
        "`python benchmarks/incremental.py --name yoochoose --input ../shared/data/yoochoose-100k-sample/"
        "yoochoose-clicks-100k_train_full.txt --input ../shared/data/yoochoose-100k-sample/"
        'yoochoose-clicks-100k_test.txt --preprocess-args="--format tsv" --start 2014-04-01 --slices 7 '
        "--warm-slices 3 --config configs/sasrec_yoochoose.yaml --full-epochs 10 --incremental-epochs 4 --replay 0.5 "
        "--work benchmarks/out/incremental/yoochoose_e4 --output benchmarks/reports/incremental_yoochoose_e4` "
        "(the other two: `--replay 0` and `--incremental-epochs 2 --replay 0.3`; Diginetica: 28-day slices of "
        "SR-GNN's sample with configs/sasrec_diginetica.yaml; ADER's parts on Yoochoose: `--replay-memory 1000 "
        "--replay-selection herding` against `random`, and `--distill 0.3` over every earlier sequence; each "
        "report names its command)",
        "session-rec's Yoochoose 100k-click sample cut into 7 UTC days (2014-04-01 to 04-07); each test day's "
        "sessions, every next item, full ranking over the items seen before it, seen items kept; SASRec "
        "(configs/sasrec_yoochoose.yaml: d 100, 2 blocks, full cross-entropy) without validation (fixed epochs); "
        "compute is training seconds from run.json (preprocessing excluded). 2-core AMD EPYC VM, shared with a "
        "compression benchmark's training during these runs (both chains alike). Diginetica: SR-GNN's 12,391-view "
        "sample (most items seen once), 28-day slices from 2016-01-04, sessions of 2+ views, no item filter; its "
        "runs last seconds, so their compute ratio is mostly fixed start-up cost. The two memory arms "
        "(`yoochoose_m1000_*`) reuse the full-retraining runs of `yoochoose_e4` (copied into their work "
        "directories) and trained their incremental runs while another benchmark used the cores: compare their "
        "Recall@20 / MRR@20, not their compute column (both arms take the same steps; herding adds a 3-4 s forward "
        "pass per step, counted). The distillation arm retrained both chains in one go, on the same busy machine.",
        whole_markdown_of(0, 2, 4, 6, 8, 10, 12),
    ),
    Section(
        "BCE / gBCE with many negatives: the logit offset",
        ("logit_offset/report.md",),
        "`MINUTES=3 bash benchmarks/logit_offset.sh`",
        "SASRec on ML-100K, length 50, leave-one-out, full ranking, seen items excluded; 2-core CPU VM shared "
        "with other jobs.",
        whole_markdown,
    ),
)


def build() -> str:
    lines = [
        "# Results",
        "",
        "_Generated by `python benchmarks/results.py` from the committed reports under `benchmarks/reports/`; "
        "do not edit by hand. Each section names the command that wrote its reports, the protocol and the "
        "machine._",
        "",
    ]
    lines += [f"- [{s.title}](#{_anchor(s.title)})" for s in SECTIONS] + [""]
    for s in SECTIONS:
        paths = tuple(REPORTS / source for source in s.sources)
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise SystemExit(f"error: section {s.title!r} reads missing report(s): {', '.join(missing)}")
        lines += [
            f"## {s.title}",
            "",
            f"**Command**: {s.command}.",
            "",
            f"**Protocol**: {s.protocol}",
            "",
            s.render(paths).strip(),
            "",
        ]
    return "\n".join(lines)


def unread_reports() -> list[str]:
    """Report files no section reads (images are read through the Markdown that shows them)."""
    read = {source for s in SECTIONS for source in s.sources}
    shown = set(re.findall(r"\]\(reports/([^)]+)\)", build()))
    return sorted(
        p.relative_to(REPORTS).as_posix()
        for p in REPORTS.rglob("*")
        if p.is_file()
        and p.relative_to(REPORTS).as_posix() not in read | shown
        and not (p.suffix in (".png", ".html") and (p.parent / "report.md").exists())
    )


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; fail if RESULTS.md is out of date")
    args = parser.parse_args(argv)
    text = build()
    unread = unread_reports()
    if unread:
        print(f"error: no section of benchmarks/results.py reads {', '.join(unread)}", file=sys.stderr)
        return 1
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print("benchmarks/RESULTS.md is out of date: run python benchmarks/results.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(BENCHMARKS.parent)} ({len(SECTIONS)} sections)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: preprocess full MovieLens-1M with the Beam pipeline and with plain pandas, side by side.

What it measures
----------------
Both implementations do the same steps on ``ml-1m.seq.tsv`` (columns user_id, item_id, rating, seq_pos;
``seq_pos`` is each user's chronological order):

    read -> item 5-core (repeated until a round drops nothing) -> group by user -> stable sort by
    (seq_pos, input position) -> leave-one-out split -> vocabulary (train count desc, ties by item id
    string; 0 = [PAD], 1 = [OOV]) -> write train/valid/test records + vocab.tsv

* **Beam**: ``beam_pipelines.preprocess.run`` (the code behind ``tfseqrec preprocess --order-col seq_pos
  --item-min-count 5``), by default on the DirectRunner in multi_processing mode with 2 workers. It also
  writes ``stats.json``, ``feature_spec.json`` and a rejects file, which the pandas version does not.
* **pandas**: ``pandas.read_csv`` + numpy (factorize, bincount, lexsort), records serialised with
  ``tfseqrec.data.example_codec.encode_example`` (the same codec the pipeline uses) and framed as TFRecords in
  plain Python (``--pandas-output parquet`` writes parquet instead).

Each measured run is a fresh Python subprocess (so one run's memory does not inflate the next). Inside it,
imports happen before the clock starts; then the run is timed (wall seconds) while a background thread
samples, every 50 ms with psutil, the RSS of the run's whole process tree (driver + Beam worker processes)
and keeps the peak of the sum (shared pages, e.g. of libraries, count once per process). The driver's
``ru_maxrss`` (and the largest ``ru_maxrss`` of its reaped children) is reported too. "rows/s" is input data
rows (1,000,209 for ML-1M) per wall second.

After the runs it checks both outputs: 6,040 users, 3,416 items, 999,611 interactions, 6,040 validation and
6,040 test targets; identical ``vocab.tsv``; identical per-user train sequences and validation/test
inputs and targets (the Beam TFRecords are read back with TensorFlow). It exits non-zero if a check fails.

``--breakdown`` adds Beam variants to find the dominant cost: an empty pipeline (runner start-up and
tear-down), a bare read -> key by user -> GroupByKey -> write pipeline written with plain Beam, our full
pipeline with ``item_min_count=0`` (no k-core), and the in-process parse cost alone
(``beam_pipelines.readers.iter_file_rows`` over the file, no Beam).

Run it from the repository root (about 30 s without ``--breakdown``, about 1-2 minutes with it, on 2 CPUs)::

    python benchmarks/preprocess_ml1m.py [--breakdown] [--repeat N] [--input PATH]
        [--output-dir DIR] [--runner-args="--direct_num_workers=4"] [--pandas-output tfrecord|parquet]

Needs ``psutil`` (``pip install psutil``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

try:
    import psutil
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit(
        "preprocess_ml1m.py needs psutil to measure the memory of the process tree: "
        "run `pip install psutil` in the project's virtual environment (. .venv/bin/activate) and retry."
    )

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = REPO_ROOT / ".." / "shared" / "data" / "ml-1m" / "ml-1m.seq.tsv"
ITEM_MIN_COUNT = 5
EXPECTED = {"users": 6040, "items": 3416, "interactions": 999_611, "valid_targets": 6040, "test_targets": 6040}
SAMPLE_INTERVAL_S = 0.05
TARGET_BEAM_SECONDS = 45.0
MIB = 1024 * 1024


# ------------------------------------------------------------------------------------- measurement


class TreeMemorySampler:
    """Samples, in a background thread, the summed RSS of this process and all its descendants."""

    def __init__(self, interval: float = SAMPLE_INTERVAL_S):
        self.interval = interval
        self.root = psutil.Process()
        self.peak_tree = 0
        self.peak_driver = 0
        self.max_processes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        total = 0
        processes = [self.root]
        try:
            processes += self.root.children(recursive=True)
        except psutil.Error:
            pass
        counted = 0
        for proc in processes:
            try:
                rss = proc.memory_info().rss
            except psutil.Error:  # exited between listing and reading
                continue
            counted += 1
            total += rss
            if proc.pid == self.root.pid:
                self.peak_driver = max(self.peak_driver, rss)
        self.peak_tree = max(self.peak_tree, total)
        self.max_processes = max(self.max_processes, counted)
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        return False


def _ru_maxrss_bytes(who) -> int:
    value = resource.getrusage(who).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024  # Linux reports KiB


# ----------------------------------------------------------------------------------- Beam variants


def _beam_config(input_path: str, output_dir: str, item_min_count: int):
    from beam_pipelines.config import FilterConfig, OutputConfig, PreprocessConfig, ReaderConfig, SplitConfig

    return PreprocessConfig(
        inputs=(input_path,),
        output=OutputConfig(output_dir),
        reader=ReaderConfig(order_col="seq_pos"),
        filters=FilterConfig(item_min_count=item_min_count),
        split=SplitConfig("leave_one_out"),
    )


def _key_line_by_user(line: str):
    return line.split("\t", 1)[0], line


def _format_user_group(user: str, lines) -> str:
    return user + "\t" + " ".join(line.split("\t", 2)[1] for line in lines)


def _identity(x):
    return x


def child_beam(spec: dict) -> dict:
    """Full pipeline (``item_min_count`` 5) or the no-k-core variant (0)."""
    from beam_pipelines import preprocess

    cfg = _beam_config(spec["input"], spec["output_dir"], spec["item_min_count"])
    args = shlex.split(spec["runner_args"])

    def work():
        return preprocess.run(cfg, args, overwrite=True)

    return work


def child_beam_bare(spec: dict):
    """Plain Beam: ReadFromText -> key by user -> GroupByKey -> WriteToText (no parsing, sorting, ...)."""
    import apache_beam as beam
    from beam_pipelines import preprocess

    options = preprocess.default_pipeline_options(shlex.split(spec["runner_args"]))
    out = os.path.join(spec["output_dir"], "user_lines")

    def work():
        os.makedirs(spec["output_dir"], exist_ok=True)
        with beam.Pipeline(options=options) as p:
            (
                p
                | "Read" >> beam.io.ReadFromText(spec["input"], skip_header_lines=1)
                | "KeyByUser" >> beam.Map(_key_line_by_user)
                | "GroupByUser" >> beam.GroupByKey()
                | "Format" >> beam.MapTuple(_format_user_group)
                | "Write" >> beam.io.WriteToText(out, file_name_suffix=".txt")
            )
        return {}

    return work


def child_beam_empty(spec: dict):
    """A one-element pipeline: what the runner costs before any data moves."""
    import apache_beam as beam
    from beam_pipelines import preprocess

    options = preprocess.default_pipeline_options(shlex.split(spec["runner_args"]))

    def work():
        with beam.Pipeline(options=options) as p:
            p | beam.Create([0]) | beam.Map(_identity)
        return {}

    return work


def child_parse(spec: dict):
    """``readers.iter_file_rows`` over the file in this one process: the parse cost without Beam."""
    from collections import Counter
    from beam_pipelines import readers
    from beam_pipelines.config import ReaderConfig

    def work():
        plan = readers.plan_inputs((spec["input"],), ReaderConfig(order_col="seq_pos"))
        counts = Counter()
        rows = 0
        for file_index, path in enumerate(plan.files):
            for _ in readers.iter_file_rows(plan, file_index, path, counts):
                rows += 1
        return {"rows_read": counts["rows_read"], "rows_out": rows}

    return work


# ---------------------------------------------------------------------------------- pandas version


def _masked_crc32c(data: bytes, crc32c) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class _TFRecordFile:
    """TFRecord framing in plain Python (length, masked CRC32C of length, data, masked CRC32C of data)."""

    def __init__(self, path: str):
        try:
            import google_crc32c

            self._crc = google_crc32c.value
            self.writer_name = f"plain-Python TFRecord framing (google_crc32c, {google_crc32c.implementation})"
            self._tf = None
            self._f = open(path, "wb")
        except ImportError:  # fall back to TensorFlow's writer
            import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
            import tensorflow as tf

            self.writer_name = "tf.io.TFRecordWriter"
            self._tf = tf.io.TFRecordWriter(path)

    def write(self, record: bytes) -> None:
        if self._tf is not None:
            self._tf.write(record)
            return
        header = struct.pack("<Q", len(record))
        self._f.write(
            header
            + struct.pack("<I", _masked_crc32c(header, self._crc))
            + record
            + struct.pack("<I", _masked_crc32c(record, self._crc))
        )

    def close(self) -> None:
        (self._tf or self._f).close()


def pandas_preprocess(input_path: str, output_dir: str, item_min_count: int, output_format: str) -> dict:
    """The same steps as the pipeline, with pandas/numpy. Returns counts and per-stage seconds."""
    import numpy  # noqa: F401  (imported before the clock, as the steps' own imports)
    import pandas as pd
    from tfseqrec.data.example_codec import encode_example  # noqa: F401

    stages = _Stages()
    df = _pandas_read(input_path)  # 1. read
    rows_read = len(df)
    stages.lap("read")
    item_codes, item_names = pd.factorize(df["item_id"])  # 2. item k-core
    kept_idx, removed_per_round = _item_kcore(item_codes, len(item_names), item_min_count)
    item_codes = item_codes[kept_idx]
    stages.lap("kcore")
    seqs = _group_sort(df, kept_idx, item_codes)  # 3. group, sort
    stages.lap("group_sort")
    split = _leave_one_out(seqs)  # 4. split
    stages.lap("split")
    vocab, ids = _pandas_vocabulary(seqs.items, split.is_train, item_names)  # 5. vocabulary
    stages.lap("vocabulary")
    writer_name = _pandas_write(output_dir, output_format, vocab, ids, seqs, split)  # 6. write
    stages.lap("write")

    return {
        "rows_read": rows_read,
        "users": int(len(seqs.starts)),
        "items": len(vocab),
        "interactions": int(len(seqs.items)),
        "valid_targets": int(len(split.valid_target_idx)),
        "test_targets": int(len(split.test_target_idx)),
        "kcore_removed_per_round": removed_per_round,
        "stages": stages.seconds,
        "writer": writer_name,
    }


class _Stages:
    """Wall seconds per stage: ``lap(name)`` records the time since the previous lap (or the start)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self._t
        self._t = now


def _pandas_read(input_path: str):
    """1. The TSV as a DataFrame; empty user/item/seq_pos fields are an error (no rejects here)."""
    import pandas as pd

    df = pd.read_csv(
        input_path, sep="\t", dtype={"user_id": str, "item_id": str, "rating": "float64", "seq_pos": "int64"}
    )
    if df[["user_id", "item_id", "seq_pos"]].isna().any().any():
        raise ValueError(f"{input_path}: empty user/item/seq_pos fields; the pandas version does not reject rows")
    return df


def _item_kcore(item_codes, num_items: int, item_min_count: int):
    """2. Item k-core, repeated until a round removes nothing: ``(kept row indices, rows removed per round)``."""
    import numpy as np

    keep = np.ones(len(item_codes), dtype=bool)
    removed_per_round = []
    while True:
        counts = np.bincount(item_codes[keep], minlength=num_items)
        drop = keep & (counts[item_codes] < item_min_count)
        removed = int(drop.sum())
        removed_per_round.append(removed)
        if removed == 0 or item_min_count <= 1:
            break
        keep &= ~drop
    return np.flatnonzero(keep), removed_per_round


@dataclasses.dataclass
class _UserSequences:
    """Kept rows grouped by user (``R`` rows, ``U`` users), each user's rows in order."""

    users: Any  # user code per row [R]
    items: Any  # item code per row [R]
    starts: Any  # first row of each user [U]
    lengths: Any  # rows of each user [U]
    user_names: Any  # user id string per user code


def _group_sort(df, kept_idx, item_codes) -> _UserSequences:
    """3. Groups the kept rows by user, stable sorted by (seq_pos, input position)."""
    import numpy as np
    import pandas as pd

    user_codes, user_names = pd.factorize(df["user_id"].to_numpy()[kept_idx])
    seq_pos = df["seq_pos"].to_numpy()[kept_idx]
    order = np.lexsort((kept_idx, seq_pos, user_codes))  # last key is the primary one; lexsort is stable
    users = user_codes[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    return _UserSequences(
        users=users,
        items=item_codes[order],
        starts=starts,
        lengths=np.diff(np.r_[starts, len(users)]),
        user_names=user_names,
    )


@dataclasses.dataclass
class _LeaveOneOut:
    """Which rows train on, which users are evaluated (``n >= 3``) and their target rows."""

    is_train: Any  # bool [R]
    has_eval: Any  # bool [U]
    valid_target_idx: Any  # row of each evaluated user's validation target
    test_target_idx: Any  # row of each evaluated user's test target


def _leave_one_out(seqs: _UserSequences) -> _LeaveOneOut:
    """4. Leave-one-out: n >= 3 -> train seq[:-2], valid (seq[:-2], seq[-2]), test (seq[:-1], seq[-1])."""
    import numpy as np

    starts, lengths = seqs.starts, seqs.lengths
    group_len = np.repeat(lengths, lengths)
    position = np.arange(len(seqs.users)) - np.repeat(starts, lengths)
    has_eval = lengths >= 3
    return _LeaveOneOut(
        is_train=(group_len < 3) | (position < group_len - 2),
        has_eval=has_eval,
        valid_target_idx=(starts + lengths - 2)[has_eval],
        test_target_idx=(starts + lengths - 1)[has_eval],
    )


def _pandas_vocabulary(items, is_train, item_names):
    """5. Vocabulary: train count desc, then item id string; eval-only items join with count 0.

    Returns ``([(item, train count)] in id order from 2, vocabulary id per row)``.
    """
    import numpy as np

    train_counts = np.bincount(items[is_train], minlength=len(item_names))
    present = np.flatnonzero(np.bincount(items, minlength=len(item_names)) > 0)
    names = item_names[present]
    vocab = sorted(zip(names.tolist(), train_counts[present].tolist()), key=lambda kv: (-kv[1], kv[0]))
    code_of = {name: code for name, code in zip(names.tolist(), present.tolist())}
    id_of_code = np.zeros(len(item_names), dtype=np.int64)
    for i, (name, _) in enumerate(vocab):
        id_of_code[code_of[name]] = i + 2
    return vocab, id_of_code[items]


def _pandas_write(
    output_dir: str, output_format: str, vocab: list, ids, seqs: _UserSequences, split: _LeaveOneOut
) -> str:
    """6. Writes vocab.tsv and the splits (TFRecords or parquet); returns what wrote the splits."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "vocab.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(["[PAD]\t0", "[OOV]\t0"] + [f"{name}\t{n}" for name, n in vocab]) + "\n")
    sequence_ids = seqs.user_names[seqs.users[seqs.starts]].tolist()
    if output_format == "tfrecord":
        return _write_pandas_tfrecords(output_dir, sequence_ids, ids, seqs)
    return _write_pandas_parquet(output_dir, sequence_ids, ids, seqs, split)


def _write_pandas_tfrecords(output_dir: str, sequence_ids: list, ids, seqs: _UserSequences) -> str:
    """train/valid/test TFRecords of ``tf.train.Example`` (the pipeline's codec), one file per split."""
    from tfseqrec.data.example_codec import encode_example

    writers = {
        s: _TFRecordFile(os.path.join(output_dir, f"{s}-00000-of-00001.tfrecord")) for s in ("train", "valid", "test")
    }
    all_ids = ids.tolist()
    for sid, start, n in zip(sequence_ids, seqs.starts.tolist(), seqs.lengths.tolist()):
        seq = all_ids[start : start + n]
        if n < 3:
            writers["train"].write(encode_example({"sequence_id": ("bytes", [sid]), "item_ids": ("int64", seq)}))
            continue
        writers["train"].write(encode_example({"sequence_id": ("bytes", [sid]), "item_ids": ("int64", seq[:-2])}))
        writers["valid"].write(
            encode_example(
                {"sequence_id": ("bytes", [sid]), "item_ids": ("int64", seq[:-2]), "target_ids": ("int64", [seq[-2]])}
            )
        )
        writers["test"].write(
            encode_example(
                {"sequence_id": ("bytes", [sid]), "item_ids": ("int64", seq[:-1]), "target_ids": ("int64", [seq[-1]])}
            )
        )
    writer_name = writers["train"].writer_name
    for w in writers.values():
        w.close()
    return writer_name


def _write_pandas_parquet(output_dir: str, sequence_ids: list, ids, seqs: _UserSequences, split: _LeaveOneOut) -> str:
    """train/valid/test parquet files (pyarrow) with list columns."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def list_array(values, offsets):
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, pa.int64()))

    lengths, has_eval = seqs.lengths, split.has_eval
    train_len = np.where(lengths < 3, lengths, lengths - 2)
    train_offsets = np.r_[0, np.cumsum(train_len)]
    pq.write_table(
        pa.table({"sequence_id": sequence_ids, "item_ids": list_array(ids[split.is_train], train_offsets)}),
        os.path.join(output_dir, "train.parquet"),
    )
    eval_ids = [s for s, e in zip(sequence_ids, has_eval.tolist()) if e]
    eval_starts, eval_len = seqs.starts[has_eval], lengths[has_eval]
    for name, input_len, target_idx in (
        ("valid", eval_len - 2, split.valid_target_idx),
        ("test", eval_len - 1, split.test_target_idx),
    ):
        take = (
            np.concatenate([np.arange(s, s + n) for s, n in zip(eval_starts, input_len)])
            if len(eval_starts)
            else np.array([], dtype=np.int64)
        )
        offsets = np.r_[0, np.cumsum(input_len)]
        pq.write_table(
            pa.table(
                {
                    "sequence_id": eval_ids,
                    "item_ids": list_array(ids[take], offsets),
                    "target_ids": list_array(ids[target_idx], np.arange(len(target_idx) + 1)),
                }
            ),
            os.path.join(output_dir, f"{name}.parquet"),
        )
    return "parquet (pyarrow), one file per split"


def child_pandas(spec: dict):
    import numpy  # noqa: F401  (imports before the clock)
    import pandas  # noqa: F401
    import tfseqrec.data.example_codec  # noqa: F401

    if spec["pandas_output"] == "tfrecord":
        try:
            import google_crc32c  # noqa: F401
        except ImportError:
            import tfseqrec  # noqa: F401
            import tensorflow  # noqa: F401
    else:
        import pyarrow.parquet  # noqa: F401

    def work():
        return pandas_preprocess(spec["input"], spec["output_dir"], spec["item_min_count"], spec["pandas_output"])

    return work


CHILDREN = {
    "beam": child_beam,
    "beam_bare": child_beam_bare,
    "beam_empty": child_beam_empty,
    "parse": child_parse,
    "pandas": child_pandas,
}


def run_child(spec: dict) -> None:
    """Entry point of a measured subprocess: imports, then times ``work()`` under the memory sampler."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    work = CHILDREN[spec["kind"]](spec)
    with TreeMemorySampler() as sampler:
        start = time.perf_counter()
        result = work() or {}
        wall = time.perf_counter() - start
    out = {
        "wall_s": wall,
        "peak_tree_rss": sampler.peak_tree,
        "peak_driver_rss": sampler.peak_driver,
        "max_processes": sampler.max_processes,
        "samples": sampler.samples,
        "ru_maxrss_self": _ru_maxrss_bytes(resource.RUSAGE_SELF),
        "ru_maxrss_children": _ru_maxrss_bytes(resource.RUSAGE_CHILDREN),
        "result": result,
    }
    with open(spec["result_path"], "w") as f:
        json.dump(out, f)


# ------------------------------------------------------------------------------------------ driver


class Runner:
    """Starts measured subprocesses and keeps their logs."""

    def __init__(self, work_dir: Path, args):
        self.work_dir, self.args = work_dir, args
        self.log_dir = work_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def measure(self, name: str, kind: str, output_subdir: str, item_min_count: int = ITEM_MIN_COUNT) -> dict:
        self.count += 1
        result_path = self.log_dir / f"{self.count:02d}-{name}.json"
        log_path = self.log_dir / f"{self.count:02d}-{name}.log"
        spec = {
            "kind": kind,
            "input": str(self.args.input),
            "output_dir": str(self.work_dir / output_subdir),
            "item_min_count": item_min_count,
            "runner_args": self.args.runner_args,
            "pandas_output": self.args.pandas_output,
            "result_path": str(result_path),
        }
        env = dict(os.environ)
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
        print(f"  running {name} ...", end="", flush=True)
        start = time.perf_counter()
        with open(log_path, "w") as log:
            proc = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--_child", json.dumps(spec)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(REPO_ROOT),
                env=env,
            )
        process_s = time.perf_counter() - start
        if proc.returncode != 0 or not result_path.exists():
            print(" FAILED")
            tail = log_path.read_text(errors="replace").splitlines()[-40:]
            raise RuntimeError(f"{name} failed (exit {proc.returncode}); last lines of its log:\n" + "\n".join(tail))
        out = json.loads(result_path.read_text())
        out["process_s"] = process_s
        print(f" {out['wall_s']:.1f} s, peak tree RSS {out['peak_tree_rss'] / MIB:,.0f} MiB")
        return out


def _summarise(runs: list[dict]) -> dict:
    return {
        "wall_s": statistics.median(r["wall_s"] for r in runs),
        "wall_min": min(r["wall_s"] for r in runs),
        "wall_max": max(r["wall_s"] for r in runs),
        "process_s": statistics.median(r["process_s"] for r in runs),
        "peak_tree_rss": max(r["peak_tree_rss"] for r in runs),
        "peak_driver_rss": max(r["peak_driver_rss"] for r in runs),
        "ru_maxrss_self": max(r["ru_maxrss_self"] for r in runs),
        "ru_maxrss_children": max(r["ru_maxrss_children"] for r in runs),
        "max_processes": max(r["max_processes"] for r in runs),
        "result": runs[-1]["result"],
    }


def _print_table(rows: list[tuple[str, dict]], input_rows: int, repeat: int) -> None:
    wall_head = "wall s" if repeat == 1 else f"wall s (median of {repeat}; min-max)"
    headers = [
        "",
        wall_head,
        "rows/s",
        "peak tree RSS MiB",
        "driver ru_maxrss MiB",
        "child ru_maxrss MiB",
        "procs",
        "process s",
    ]
    table = []
    for name, s in rows:
        wall = f"{s['wall_s']:.2f}" if repeat == 1 else f"{s['wall_s']:.2f} ({s['wall_min']:.2f}-{s['wall_max']:.2f})"
        rows_per_s = "-" if s.get("no_data") else f"{input_rows / s['wall_s']:,.0f}"
        table.append(
            [
                name,
                wall,
                rows_per_s,
                f"{s['peak_tree_rss'] / MIB:,.0f}",
                f"{s['ru_maxrss_self'] / MIB:,.0f}",
                f"{s['ru_maxrss_children'] / MIB:,.0f}",
                str(s["max_processes"]),
                f"{s['process_s']:.2f}",
            ]
        )
    _print_rows(headers, table)


def _print_rows(headers, table) -> None:
    widths = [max(len(str(r[i])) for r in [headers] + table) for i in range(len(headers))]

    def line(r):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in table:
        print(line(r))


# --------------------------------------------------------------------------------------- checking


def _read_tfrecords(pattern_dir: Path, split: str):
    """{sequence_id: (item_ids, target_ids)} and the raw serialised records of one split, read with TF."""
    import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
    import tensorflow as tf

    files = sorted(str(p) for p in pattern_dir.glob(f"{split}-*.tfrecord"))
    if not files:
        raise FileNotFoundError(f"no {split}-*.tfrecord in {pattern_dir}")
    spec = {
        "sequence_id": tf.io.FixedLenFeature([], tf.string),
        "item_ids": tf.io.RaggedFeature(tf.int64),
        "target_ids": tf.io.RaggedFeature(tf.int64),
    }
    records, raw = {}, []
    for batch in tf.data.TFRecordDataset(files).batch(1024):
        raw.extend(batch.numpy().tolist())
        parsed = tf.io.parse_example(batch, spec)
        for sid, items, targets in zip(
            parsed["sequence_id"].numpy().tolist(), parsed["item_ids"].to_list(), parsed["target_ids"].to_list()
        ):
            records[sid.decode("utf-8")] = (tuple(items), tuple(targets))
    return records, raw


def _read_parquet(out_dir: Path, split: str):
    import pyarrow.parquet as pq

    table = pq.read_table(out_dir / f"{split}.parquet").to_pydict()
    targets = table.get("target_ids") or [[] for _ in table["sequence_id"]]
    return {sid: (tuple(items), tuple(t)) for sid, items, t in zip(table["sequence_id"], table["item_ids"], targets)}


def _counts_from_records(splits: dict, vocab_lines: list[str]) -> dict:
    return {
        "users": len(splits["train"]),
        "items": len(vocab_lines) - 2,
        "interactions": sum(len(items) for items, _ in splits["train"].values())
        + sum(len(t) for _, t in splits["valid"].values())
        + sum(len(t) for _, t in splits["test"].values()),
        "valid_targets": sum(len(t) for _, t in splits["valid"].values()),
        "test_targets": sum(len(t) for _, t in splits["test"].values()),
    }


def _first_difference(a: list, b: list) -> int:
    """The first index where ``a`` and ``b`` differ (the shorter length when one is a prefix of the other)."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def check_outputs(beam_dir: Path, pandas_dir: Path, pandas_result: dict, pandas_format: str) -> bool:
    ok = True

    def check(label: str, passed: bool, detail: str = "") -> None:
        nonlocal ok
        ok &= passed
        print(f"  [{'ok' if passed else 'FAIL'}] {label}{': ' + detail if detail else ''}")

    stats = json.loads((beam_dir / "stats.json").read_text())
    beam_stats = {
        "users": stats["users"],
        "items": stats["items"],
        "interactions": stats["interactions"],
        "valid_targets": stats["splits"]["valid"]["targets"],
        "test_targets": stats["splits"]["test"]["targets"],
    }
    beam_vocab = (beam_dir / "vocab.tsv").read_text().splitlines()
    pandas_vocab = (pandas_dir / "vocab.tsv").read_text().splitlines()
    beam_splits, beam_raw = {}, {}
    pandas_splits, pandas_raw = {}, {}
    for split in ("train", "valid", "test"):
        beam_splits[split], beam_raw[split] = _read_tfrecords(beam_dir, split)
        if pandas_format == "tfrecord":
            pandas_splits[split], pandas_raw[split] = _read_tfrecords(pandas_dir, split)
        else:
            pandas_splits[split] = _read_parquet(pandas_dir, split)
    beam_files = _counts_from_records(beam_splits, beam_vocab)
    pandas_files = _counts_from_records(pandas_splits, pandas_vocab)
    pandas_own = {k: pandas_result[k] for k in EXPECTED}

    headers = ["", "expected", "Beam stats.json", "Beam records (TF)", "pandas (in-run)", "pandas records"]
    table = [
        [
            k.replace("_", " "),
            f"{v:,}",
            f"{beam_stats[k]:,}",
            f"{beam_files[k]:,}",
            f"{pandas_own[k]:,}",
            f"{pandas_files[k]:,}",
        ]
        for k, v in EXPECTED.items()
    ]
    _print_rows(headers, table)
    for name, got in (
        ("Beam stats.json", beam_stats),
        ("Beam records read back with TF", beam_files),
        ("pandas", pandas_own),
        ("pandas records read back", pandas_files),
    ):
        bad = {k: got[k] for k in EXPECTED if got[k] != EXPECTED[k]}
        check(f"{name} counts match the expected ML-1M numbers", not bad, f"differ: {bad}" if bad else "")
    check(
        "vocab.tsv identical (same ids, same order, same counts)",
        beam_vocab == pandas_vocab,
        "" if beam_vocab == pandas_vocab else f"first difference at line {_first_difference(beam_vocab, pandas_vocab)}",
    )
    for split in ("train", "valid", "test"):
        b, p = beam_splits[split], pandas_splits[split]
        same = b == p
        detail = f"{len(b):,} sequences"
        if not same:
            diff_users = sorted(set(b) ^ set(p))[:5] + [u for u in sorted(set(b) & set(p)) if b[u] != p[u]][:5]
            detail = f"Beam {len(b):,} vs pandas {len(p):,} sequences; e.g. users {diff_users}"
        what = "train sequences" if split == "train" else f"{split} inputs and targets"
        check(f"per-user {what} identical", same, detail)
    if pandas_format == "tfrecord":
        for split in ("train", "valid", "test"):
            same = sorted(beam_raw[split]) == sorted(pandas_raw[split])
            check(f"{split} serialised tf.train.Example records byte-identical", same)
    return ok


# ------------------------------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Preprocess full MovieLens-1M with the Beam pipeline (beam_pipelines.preprocess.run) and "
        "with plain pandas, in one run, and print wall seconds, input rows/s, peak memory and the "
        "Beam/pandas ratio; then check that both outputs agree. Each measured run is a fresh "
        "subprocess; peak memory is the summed RSS of its process tree sampled every 50 ms.",
        epilog='Example: python benchmarks/preprocess_ml1m.py --breakdown --runner-args="--direct_num_workers=2"',
    )
    parser.add_argument(
        "--input",
        type=Path,
        default=DEFAULT_INPUT,
        help="ML-1M sequence TSV with columns user_id, item_id, rating, seq_pos "
        "(default: ../shared/data/ml-1m/ml-1m.seq.tsv relative to the repository root)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="where both implementations write (beam/, pandas/, breakdown/, logs/); kept afterwards. "
        "Default: a temporary directory, deleted at the end",
    )
    parser.add_argument(
        "--runner-args",
        default="",
        help="Beam pipeline options passed through to every Beam run, as one string; use the = form, "
        'e.g. --runner-args="--direct_num_workers=4". Default: DirectRunner, '
        "multi_processing, 2 workers (beam_pipelines.preprocess.default_pipeline_options)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each implementation (and each --breakdown variant) N times; "
        "the table shows the median wall time and the largest memory (default 1)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time Beam variants (empty pipeline, plain-Beam read+group+write, our pipeline "
        "without k-core) and the in-process parse, and say which stage dominates",
    )
    parser.add_argument(
        "--pandas-output",
        choices=("tfrecord", "parquet"),
        default="tfrecord",
        help="what the pandas version writes: TFRecords of tf.train.Example (same codec as the "
        "pipeline; default) or parquet",
    )
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args._child:
        run_child(json.loads(args._child))
        return 0
    args.input = args.input.resolve()
    if not args.input.is_file():
        print(f"input {args.input} does not exist; pass --input PATH to ml-1m.seq.tsv", file=sys.stderr)
        return 2

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow only reads records back here; keep it quiet
    keep_outputs = args.output_dir is not None
    work_dir = args.output_dir.resolve() if keep_outputs else Path(tempfile.mkdtemp(prefix="preprocess_ml1m_"))
    work_dir.mkdir(parents=True, exist_ok=True)
    with open(args.input, "rb") as f:
        input_rows = sum(1 for _ in f) - 1  # minus the header
    _print_setup(args, work_dir, keep_outputs, input_rows)

    runner = Runner(work_dir, args)
    ok = True
    try:
        print("Runs (each a fresh subprocess; imports are not timed):")
        beam_runs, pandas_runs = [], []
        for _ in range(args.repeat):
            beam_runs.append(runner.measure("beam", "beam", "beam"))
            pandas_runs.append(runner.measure("pandas", "pandas", "pandas"))
        breakdown = _measure_breakdown(runner, args.repeat) if args.breakdown else {}
        beam, pd_ = _summarise(beam_runs), _summarise(pandas_runs)
        _print_results(beam, pd_, input_rows, args.repeat)
        if breakdown:
            _print_breakdown(breakdown, beam, input_rows, args.repeat)

        print()
        print("Checks:")
        ok = check_outputs(work_dir / "beam", work_dir / "pandas", pd_["result"], args.pandas_output)
        print()
        verdict = "MET" if beam["wall_s"] < TARGET_BEAM_SECONDS else "NOT MET"
        print(
            f"Target: Beam on the DirectRunner ({'default 2 workers' if not args.runner_args else args.runner_args}) "
            f"finishes ML-1M (read, k-core, group, split, vocabulary, write) in < {TARGET_BEAM_SECONDS:.0f} s: "
            f"{verdict} ({beam['wall_s']:.1f} s{' median' if args.repeat > 1 else ''}; "
            f"{beam['process_s']:.1f} s including interpreter start-up and imports)"
        )
        print(f"All checks {'passed' if ok else 'FAILED'}.")
    except RuntimeError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        ok = False
    finally:
        if not keep_outputs:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0 if ok else 1


def _print_setup(args, work_dir: Path, keep_outputs: bool, input_rows: int) -> None:
    """The command, the input, the machine and what is measured."""
    from importlib.metadata import version

    print("MovieLens-1M preprocessing benchmark: Beam pipeline vs plain pandas")
    print(f"command : {' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}")
    print(f"input   : {args.input} ({input_rows:,} data rows, {args.input.stat().st_size / MIB:.1f} MiB)")
    print(
        f"machine : {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM; Python "
        f"{sys.version.split()[0]}, apache-beam {version('apache-beam')}, pandas {version('pandas')}, "
        f"psutil {psutil.__version__}"
    )
    runner_desc = (
        args.runner_args
        or "(none: DirectRunner, direct_running_mode=multi_processing, direct_num_workers="
        f"{max(1, min(os.cpu_count() or 1, 2))})"
    )
    print(
        f"beam    : beam_pipelines.preprocess.run(cfg, runner args {runner_desc}, overwrite=True); "
        f"item_min_count={ITEM_MIN_COUNT}, order_col=seq_pos, leave_one_out"
    )
    print(f"output  : {work_dir}{'' if keep_outputs else ' (temporary, deleted at the end)'}")
    print(
        f"memory  : summed RSS of the run's process tree (driver + Beam workers), sampled every "
        f"{SAMPLE_INTERVAL_S * 1000:.0f} ms with psutil; ru_maxrss of the driver and of its largest reaped child"
    )
    print()


def _measure_breakdown(runner: Runner, repeat: int) -> dict[str, list[dict]]:
    """The Beam variants of ``--breakdown`` (and the parse alone), each measured ``repeat`` times."""
    breakdown = {}
    for _ in range(repeat):
        for name, kind, sub, k in (
            ("beam_empty", "beam_empty", "breakdown/empty", ITEM_MIN_COUNT),
            ("beam_bare", "beam_bare", "breakdown/bare", ITEM_MIN_COUNT),
            ("beam_no_kcore", "beam", "breakdown/no_kcore", 0),
            ("parse_only", "parse", "breakdown/parse", ITEM_MIN_COUNT),
        ):
            breakdown.setdefault(name, []).append(runner.measure(name, kind, sub, k))
    return breakdown


def _print_results(beam: dict, pd_: dict, input_rows: int, repeat: int) -> None:
    """Beam against pandas: the table, their ratios and pandas' stages."""
    print()
    pandas_writer = pd_["result"]["writer"]
    print(
        f"Results (input rows = {input_rows:,}; pandas writes {pandas_writer}; "
        f"Beam writes TFRecords via WriteToTFRecord + vocab.tsv, stats.json, feature_spec.json, rejects):"
    )
    _print_table([("Beam (full pipeline)", beam), ("pandas", pd_)], input_rows, repeat)
    ratio = lambda k: beam[k] / pd_[k] if pd_[k] else float("nan")  # noqa: E731
    print(
        f"{'ratio Beam/pandas':<22}  wall {ratio('wall_s'):.1f}x   "
        f"rows/s {pd_['wall_s'] / beam['wall_s']:.3f}x   "
        f"peak tree RSS {ratio('peak_tree_rss'):.1f}x   driver ru_maxrss {ratio('ru_maxrss_self'):.1f}x   "
        f"process s {ratio('process_s'):.1f}x"
    )
    print(
        "pandas stages (s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in pd_["result"]["stages"].items())
        + f"; k-core removed per round {pd_['result']['kcore_removed_per_round']}"
    )
    print(
        "'process s' = whole subprocess including interpreter start-up and imports; "
        "'procs' = most processes seen in the tree at once."
    )


def _print_breakdown(breakdown: dict, beam: dict, input_rows: int, repeat: int) -> None:
    """The Beam variants' table, and where the full pipeline's seconds go (differences of medians)."""
    print()
    print("Beam breakdown (same runner options; each variant a fresh subprocess):")
    summaries = {name: _summarise(runs) for name, runs in breakdown.items()}
    labels = {
        "beam_empty": "(0) empty pipeline: Create([0]) | Map",
        "beam_bare": "(1) plain Beam ReadFromText->key->GroupByKey->WriteToText",
        "beam_no_kcore": "(2) our pipeline, item_min_count=0 (no k-core)",
        "beam_full": "(3) our full pipeline (the Beam run above)",
        "parse_only": "(p) iter_file_rows in-process, no Beam",
    }
    summaries["beam_full"] = beam
    summaries["beam_empty"]["no_data"] = True
    order = ["beam_empty", "beam_bare", "beam_no_kcore", "beam_full", "parse_only"]
    _print_table([(labels[n], summaries[n]) for n in order], input_rows, repeat)
    t = {n: summaries[n]["wall_s"] for n in order}
    stages = [
        ("runner start-up/tear-down (0)", t["beam_empty"]),
        ("plain read+group+write, net of start-up (1)-(0)", t["beam_bare"] - t["beam_empty"]),
        (
            "our parse/validate, sort, split, vocabulary, encode, stats beyond plain Beam (2)-(1)",
            t["beam_no_kcore"] - t["beam_bare"],
        ),
        ("k-core, 10 laid-out rounds (3)-(2)", t["beam_full"] - t["beam_no_kcore"]),
    ]
    print()
    print(f"Where the full pipeline's {t['beam_full']:.1f} s go (differences of medians):")
    for label, secs in stages:
        print(f"  {secs:7.2f} s  {100 * secs / t['beam_full']:5.1f}%  {label}")
    print(
        f"  (parse alone, one process, no Beam: {t['parse_only']:.2f} s = "
        f"{input_rows / t['parse_only']:,.0f} rows/s; our pipeline parses each input file in one worker)"
    )
    top = max(stages, key=lambda s: s[1])
    print(f"Dominant stage: {top[0]} ({top[1]:.1f} s, {100 * top[1] / t['beam_full']:.0f}% of the full run)")


if __name__ == "__main__":
    sys.exit(main())

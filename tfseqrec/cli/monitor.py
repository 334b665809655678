"""`tfseqrec monitor`: drift between a model's training data and the traffic its server logged."""

from __future__ import annotations

import argparse
import json
import math
import os

from tfseqrec.cli.common import Formatter

EPILOG = """\
The served side is a request log written by `tfseqrec serve --request-log FILE` (a sample of the served
histories, JSON lines; FILE.1 is read too). The training side is a split of the preprocessed data (default
train). Measured (tfseqrec/evaluation/drift.py): item popularity (Jensen-Shannon divergence, its noise floor for
a sample that small, and PSI over popularity buckets), history lengths (PSI over the training deciles), event
types (PSI) and the out-of-vocabulary rate of served items.

OUTPUT gets drift.json, report.md and drift.png. The exit status is 1 when a figure is above its threshold
(so a scheduled job can alert), 0 otherwise, 2 on bad input.

examples:
  tfseqrec serve --model-dir saved_models/sasrec_brute_force --model-name sasrec --request-log logs/requests.jsonl
  tfseqrec monitor --data-dir out/ml-1m --request-log logs/requests.jsonl --output-dir monitor/today
  tfseqrec monitor --data-dir out/ml-1m --request-log logs/requests.jsonl --max-psi 0.1 --model sasrec
"""


def reference_profile(data_dir: str, split: str):
    """The ``Profile`` of ``split``'s histories (item ids, lengths, event types) read from its TFRecords."""
    import numpy as np
    import tensorflow as tf

    from tfseqrec.data.spec import load_feature_spec
    from tfseqrec.evaluation.drift import Profile

    spec = load_feature_spec(data_dir)
    if split not in spec.splits:
        raise ValueError(f"--split {split!r}: {data_dir} has the splits {sorted(spec.splits)}")
    files = sorted(tf.io.gfile.glob(spec.split_pattern(split)))
    if not files:
        raise FileNotFoundError(f"no TFRecord files for split {split!r} in {data_dir}")
    features = {"item_ids": tf.io.VarLenFeature(tf.int64)}
    if "event_types" in spec.features:
        features["event_types"] = tf.io.VarLenFeature(tf.int64)
    counts = np.zeros(spec.vocabulary.size, np.int64)
    lengths, types = [], {}
    for batch in tf.data.TFRecordDataset(files).batch(4096).map(lambda x: tf.io.parse_example(x, features)):
        items = tf.sparse.to_dense(batch["item_ids"]).numpy()
        real = items != 0
        lengths.extend(real.sum(axis=1).tolist())
        counts += np.bincount(items[real], minlength=spec.vocabulary.size)
        if "event_types" in batch:
            values, number = np.unique(batch["event_types"].values.numpy(), return_counts=True)
            for value, n in zip(values.tolist(), number.tolist()):
                types[value] = types.get(value, 0) + n
    return Profile(counts, np.asarray(lengths, np.int64), types)


def served_profile(rows: list, data_dir: str):
    """The ``Profile`` of logged rows: their items mapped to the data's vocabulary (unknown ones are OOV)."""
    import numpy as np

    from tfseqrec.data.spec import load_feature_spec, load_vocabulary
    from tfseqrec.evaluation.drift import Profile
    from tfseqrec.ids import FIRST_ITEM_ID

    vocabulary = load_vocabulary(load_feature_spec(data_dir))
    index = {item: i for i, item in enumerate(vocabulary) if i >= FIRST_ITEM_ID}
    counts = np.zeros(len(vocabulary), np.int64)
    lengths, types, oov = [], {}, 0
    for row in rows:
        history = [str(item) for item in row["history"]]
        lengths.append(len(history))
        for item in history:
            i = index.get(item)
            if i is None:
                oov += 1
            else:
                counts[i] += 1
        for value in row.get("event_types") or []:
            types[int(value)] = types.get(int(value), 0) + 1
    return Profile(counts, np.asarray(lengths, np.int64), types, oov)


def format_report(result: dict, command: str) -> str:
    figures, counts = result["figures"], result["counts"]

    def show(value):
        return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"

    limits = {
        "item_js_excess": result["thresholds"]["max_js"],
        "popularity_psi": result["thresholds"]["max_psi"],
        "length_psi": result["thresholds"]["max_psi"],
        "event_type_psi": result["thresholds"]["max_psi"],
        "oov_rate": result["thresholds"]["max_oov_rate"],
    }
    lines = [
        "# Drift: training data against served traffic",
        "",
        f"`{command}`",
        "",
        f"Training side: {counts['reference_histories']:,} histories, {counts['reference_items']:,} items. "
        f"Served side: {counts['served_histories']:,} logged rows, {counts['served_items']:,} items "
        f"({counts['served_oov']:,} outside the vocabulary; from {result.get('source', 'the request log')}).",
        "",
        "| figure | value | threshold | status |",
        "|---|---|---|---|",
    ]
    for name, value in figures.items():
        limit = limits.get(name)
        unmeasured = isinstance(value, float) and math.isnan(value)
        status = "" if limit is None or unmeasured else ("**exceeded**" if name in result["exceeded"] else "ok")
        lines.append(f"| {name} | {show(value)} | {'' if limit is None else limit} | {status} |")
    lines += [
        "",
        "item_js: Jensen-Shannon divergence of the item distributions (base 2); item_js_noise_floor: the same for a "
        "sample of that many items drawn from the training distribution; item_js_excess: the difference, checked. "
        "PSI: population stability index (below 0.1 stable, 0.1-0.25 moderate, above 0.25 large).",
        "",
        "![drift](drift.png)",
    ]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: str) -> bool:
    """``drift.png``: popularity buckets, history lengths and event types side by side (False without
    matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    bins = result["bins"]
    panels = [
        ("items by training popularity (tenths of interactions, head first)", bins["popularity"],
         [str(i + 1) for i in range(len(bins["popularity"]["reference"]))]),
        ("history length (training deciles)", bins["lengths"], _edge_labels(bins["length_edges"])),
    ]  # fmt: skip
    if bins["event_types"]["types"]:
        sent = sum(bins["event_types"]["served"]) > 0
        title = "event type" + ("" if sent else " (the requests sent none)")
        panels.append((title, bins["event_types"], [str(t) for t in bins["event_types"]["types"]]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
    for ax, (title, counts, labels) in zip(np.atleast_1d(axes), panels):
        x = np.arange(len(labels))
        for offset, side in ((-0.2, "reference"), (0.2, "served")):
            values = np.asarray(counts[side], np.float64)
            ax.bar(x + offset, values / max(values.sum(), 1.0), width=0.4, label="training" if side == "reference"
                   else "served")  # fmt: skip
        ax.set_xticks(x, labels, rotation=45, fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("share")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _edge_labels(edges: list) -> list:
    labels = []
    for low, high in zip(edges[:-1], edges[1:]):
        if math.isinf(low):
            labels.append(f"<={high:g}")
        elif math.isinf(high):
            labels.append(f">{low:g}")
        else:
            labels.append(f"{low:g}-{high:g}")
    return labels


def run_monitor(args: argparse.Namespace) -> int:
    from tfseqrec.evaluation.drift import Thresholds, compare
    from tfseqrec.serving.monitoring import read_request_log

    if not os.path.exists(args.request_log) and not os.path.exists(args.request_log + ".1"):
        raise FileNotFoundError(f"--request-log {args.request_log}: no such file (nor {args.request_log}.1)")
    rows, skipped = read_request_log(args.request_log)
    if args.model:
        rows = [row for row in rows if row.get("model") == args.model]
    if not rows:
        raise ValueError(
            f"{args.request_log} holds no logged rows" + (f" of model {args.model!r}" if args.model else "")
            + ": serve with --request-log and a --request-log-sample-rate that logs some requests"
        )  # fmt: skip
    thresholds = Thresholds(args.max_psi, args.max_js, args.max_oov_rate)
    result = compare(reference_profile(args.data_dir, args.split), served_profile(rows, args.data_dir), thresholds)
    result["source"] = f"{args.request_log}, {len(rows):,} rows"
    if skipped:
        result["source"] += f", {skipped} unreadable lines skipped"
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "drift.json"), "w") as f:
        json.dump(result, f, indent=2, default=float)
    command = (
        f"tfseqrec monitor --data-dir {args.data_dir} --request-log {args.request_log} --split {args.split}"
        + (f" --model {args.model}" if args.model else "")
        + f" --max-psi {args.max_psi} --max-js {args.max_js} --max-oov-rate {args.max_oov_rate}"
    )
    with open(os.path.join(args.output_dir, "report.md"), "w") as f:
        f.write(format_report(result, command))
    plot(result, os.path.join(args.output_dir, "drift.png"))
    figures = result["figures"]
    print(
        f"{len(rows):,} served rows: item JS excess {figures['item_js_excess']:.4f}, popularity PSI "
        f"{figures['popularity_psi']:.4f}, length PSI {figures['length_psi']:.4f}, OOV rate {figures['oov_rate']:.4f}"
    )
    for name, over in result["exceeded"].items():
        print(f"DRIFT: {name} {over['value']:.4f} > {over['threshold']}")
    print(f"report: {os.path.join(args.output_dir, 'report.md')}")
    return 1 if result["exceeded"] else 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "monitor",
        formatter_class=Formatter,
        epilog=EPILOG,
        help="drift between training data and served traffic (PSI, Jensen-Shannon), with thresholds",
        description="Compare the histories a server logged with the data the model was trained on.",
    )
    p.add_argument("--data-dir", required=True, help="the preprocessed data the served model was trained on")
    p.add_argument("--request-log", required=True, help="tfseqrec serve --request-log FILE (FILE.1 is read too)")
    p.add_argument("--output-dir", default="monitor", help="where drift.json, report.md and drift.png go")
    p.add_argument("--split", default="train", help="the training side's split")
    p.add_argument("--model", default=None, help="only the logged rows of this served model name")
    p.add_argument("--max-psi", type=float, default=0.25, help="PSI above this is drift (popularity, lengths, types)")
    p.add_argument("--max-js", type=float, default=0.2, help="item Jensen-Shannon divergence above its noise floor")
    p.add_argument("--max-oov-rate", type=float, default=0.05, help="share of served items outside the vocabulary")

"""`tfseqrec export`: a trained run -> SavedModels for TF Serving (brute-force and ScaNN top-K)."""

from __future__ import annotations

import argparse
import os

from tfseqrec.cli.common import Formatter

EXPORT_EPILOG = """\
Writes, for each variant, <output>/<name>_<variant>/<version>/ (saved_model.pb, variables/, assets.extra/
with tfseqrec_export.json and TF Serving warmup requests), then updates <output>/models.config (all
variants) and <output>/models.brute_force.config (brute-force only, for a stock tensorflow_model_server).
Versions are never overwritten; without --version the next free integer is used.

Signatures (tfseqrec/export/contract.py): serving_default(history) -> item_ids, scores;
recommend(history, k, exclude_seen); encode_query(history) -> query; item_embeddings().
A model that reads more record features than item ids (e.g. hrnn with session_gap_seconds reads timestamps)
takes each of them in the first three as an input of the history's shape (timestamps: int64 ms); nothing to
pass here, the model's input_features decide.
The scann variant needs the ScaNN ops to load (`import scann`, or TF Serving built with ScaNN).
--litert int8 also writes <output>/<name>_litert_int8/<version>/model.tflite (+ vocab.txt, litert.json): the
recommend computation on item ids for on-device use (ai-edge-litert), weights quantised after training.

  tfseqrec export runs/sasrec --output saved_models --name sasrec_ml1m
  tensorflow_model_server --model_config_file=$PWD/saved_models/models.brute_force.config --port=8500
"""


def run_export(args: argparse.Namespace) -> int:
    from tfseqrec.export.exporter import ExportConfig, export_run
    from tfseqrec.export.indexes import ScannConfig
    from tfseqrec.export.models_config import BRUTE_FORCE_CONFIG, MODELS_CONFIG

    config = ExportConfig(
        default_k=args.k,
        max_k=args.max_k,
        exclude_seen=not args.no_exclude_seen,
        variants=tuple(args.variants),
        warmup_requests=not args.no_warmup,
        table_precision=args.table_precision,
        scann=ScannConfig(
            num_leaves=args.num_leaves,
            num_leaves_to_search=args.leaves_to_search,
            num_reordering_candidates=args.reorder,
            dimensions_per_block=args.dimensions_per_block,
            training_iterations=args.training_iterations,
            target_recall=args.target_recall,
        ),
    )
    written = export_run(args.run_dir, args.output, name=args.name, version=args.version, config=config)
    for variant, path in written.items():
        print(f"{variant}: {path}")
    if args.litert:
        version = os.path.basename(next(iter(written.values())))
        name = args.name or os.path.basename(os.path.normpath(os.path.abspath(args.run_dir)))
        for precision, record in export_litert_run(args.run_dir, args.output, name, version, args.litert, args.k):
            print(
                f"litert {precision}: {record['path']} ({record['size_bytes'] / 1e6:.2f} MB; top-{args.k} overlap "
                f"with the model {record['overlap']:.2f} on {record['probes']} test histories)"
            )
    print(f"models.config: {os.path.join(args.output, MODELS_CONFIG)}")
    if "brute_force" in written:
        print(f"models.brute_force.config: {os.path.join(args.output, BRUTE_FORCE_CONFIG)}")
    return 0


def export_litert_run(run_dir: str, output: str, name: str, version: str, precisions, k: int):
    """Yields ``(precision, record)`` for each LiteRT model written to ``<output>/<name>_litert_<precision>/
    <version>/`` (model.tflite, vocab.txt, litert.json)."""
    from tfseqrec.data.spec import load_vocabulary
    from tfseqrec.export.litert import export_litert, split_histories
    from tfseqrec.training.trainer import load_trained_model

    model, _, spec = load_trained_model(run_dir)
    probes = split_histories(spec, "test", 32, model.config.max_len)
    for precision in precisions:
        directory = os.path.join(output, f"{name}_litert_{precision}", version)
        record = export_litert(model, load_vocabulary(spec), directory, precision, probes, k)
        yield precision, {**record, "path": os.path.join(directory, "model.tflite"), "probes": len(probes)}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _recall(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{value} must be in (0, 1]")
    return value


def add_parser(sub) -> None:
    from tfseqrec.export.contract import VARIANTS

    p = sub.add_parser(
        "export",
        formatter_class=Formatter,
        epilog=EXPORT_EPILOG,
        help="export a trained run as SavedModels for TF Serving",
        description="Export the best checkpoint of a `tfseqrec train` run as self-contained "
        "SavedModels (vocabulary, popularity fallback and top-K index inside) in TF Serving's "
        "layout, one per top-K variant.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory of `tfseqrec train` (its dataset must exist)")
    p.add_argument("--output", "-o", default="saved_models", help="export base directory")
    p.add_argument("--name", default=None, help="export name, served as NAME_<variant>; None: RUN_DIR's folder name")
    p.add_argument("--version", type=_positive_int, default=None, help="version number; None: the next free one")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS), help="top-K variants")
    p.add_argument("--k", type=_positive_int, default=10, help="items returned by serving_default")
    p.add_argument("--max-k", type=_positive_int, default=1000, help="largest k of the recommend signature")
    p.add_argument(
        "--no-exclude-seen",
        action="store_true",
        help="serving_default keeps items of the history (recommend decides per row)",
    )
    p.add_argument("--no-warmup", action="store_true", help="do not write TF Serving warmup requests")
    p.add_argument(
        "--table-precision",
        choices=("float32", "float16", "int8"),
        default="float32",
        help="store the item table of the SavedModels (model and brute-force index) rounded after training: "
        "int8 with per-row scales (4x smaller) or float16 (2x)",
    )
    p.add_argument(
        "--litert",
        nargs="+",
        choices=("float32", "int8", "float16"),
        default=(),
        help="also write on-device LiteRT models at these precisions (int8: post-training dynamic-range "
        "quantisation), each checked against the model on test histories (tfseqrec/export/litert.py)",
    )
    g = p.add_argument_group("ScaNN index (scann variant)")
    g.add_argument("--num-leaves", type=_positive_int, default=None, help="tree partitions; None: ~sqrt(items)")
    g.add_argument(
        "--leaves-to-search",
        type=_positive_int,
        default=None,
        help="partitions searched per query; None: >= 5%% of the leaves and enough to hold 20,000 items "
        "(or 4x --reorder)",
    )
    g.add_argument(
        "--reorder",
        type=_positive_int,
        default=250,
        help="approximate candidates rescored exactly (at least k + history length)",
    )
    g.add_argument("--dimensions-per-block", type=_positive_int, default=2, help="asymmetric-hashing block size")
    g.add_argument("--training-iterations", type=_positive_int, default=12, help="k-means iterations of the tree")
    g.add_argument(
        "--target-recall",
        type=_recall,
        default=None,
        metavar="R",
        help="choose --leaves-to-search and --reorder from a recall curve measured after the build: the fastest "
        "setting with recall@10 >= R against exact search, on the model's queries of 500 validation histories "
        "(curve and choice in tfseqrec_export.json)",
    )

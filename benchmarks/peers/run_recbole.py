"""RecBole 1.2.1's SASRec, GRU4Rec or BERT4Rec on a split exported by ``export_split.py``; writes our result shape.

Runs in the RecBole virtualenv (``benchmarks/peers/setup_recbole.sh``), never imports tfseqrec:

    benchmarks/peers/.venv-recbole/bin/python benchmarks/peers/run_recbole.py \\
        --data-dir /tmp/peers/recbole/ml100k --model SASRec --max-len 50 --embedding-dim 64 --layers 2 \\
        --heads 1 --dropout 0.1 --batch-size 128 --epochs 200 --output /tmp/peers/runs/recbole_sasrec

    # throughput only: time 20 training batches (after 2 warm-up batches) and stop
    ... --throughput-batches 20 --output /tmp/peers/runs/recbole_sasrec_tp

    # same architecture and batch size as one of our runs (explicit flags still win)
    ... --from-run benchmarks/out/models/runs/ml1m/sasrec_ml1m_ce/seed42

Training: RecBole's own training step (``Trainer._train_epoch``: its loss, optimizer, data loader and
transform) with full cross-entropy over the catalogue (``loss_type: CE``, ``train_neg_sample_args: None``),
one (prefix, next item) sample per row of the exported train file. Validation every ``--eval-step`` epochs
with RecBole's full-ranking evaluator on the exported valid rows; early stopping after ``--patience``
validations without a better NDCG@10 (our trainer's rule); the best weights are kept in memory and restored
for the test. ``--time-budget-minutes`` stops training when the wall-clock time since training began (with
validations) passes the budget, checked after every batch, then validates the partial epoch.

Resuming: after every complete epoch the training state (weights, Adam's moments, the best weights, early
stopping counters, history, random generators) is written to ``--output``/``resume_state.pt``. With ``--resume``
a run whose state file exists continues from its last complete epoch (the same arguments are required: a
different model, size, batch size, learning rate or data directory is refused with exit 2), so a training longer
than one sitting (RecBole's BERT4Rec: ~3.4 minutes per ML-100K epoch here) can be spread over several; the time
budget then counts the current invocation, and ``training.train_seconds`` / ``invocations`` in ``metrics.json``
add them all up. A partial epoch cut by the budget is not saved (a resumed run repeats it). A finished run
(early stopping or ``--epochs``) resumed is only tested again.

Measured: seconds per epoch (training steps only), training samples and targets per second (a SASRec or
GRU4Rec sample is one target; a BERT4Rec sample holds as many targets as its masked positions that RecBole's
loss counts), peak resident memory of this process (``ru_maxrss``, data loading included) and the RSS after the
data were built.

Evaluation: RecBole's reported test metrics (``trainer.evaluate``: full ranking over all items, already-seen
items NOT removed; sequential models have no history mask in RecBole) and per-user ranks computed here from
``model.full_sort_predict`` on RecBole's test batches: PAD scored -inf as RecBole does, conservative ties
(rank = 1 + number of other items scoring >= the target). The two averages are printed side by side; the
script exits with 3 if they differ by more than 1e-4.

Anomaly detection: importing RecBole 1.2.1's model zoo runs ``torch.autograd.set_detect_anomaly(True)`` (in
``sine.py``), which slows every model about 1.5x; this script switches it off again after the import and
says so. ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is set before torch is imported (RecBole's checkpoints hold a
pickled config).

Outputs in ``--output``: ``metrics.json`` (``summary`` / ``protocol`` / ``config`` as our evaluation writes them,
plus ``training`` and ``machine``), ``per_user.npz`` (``rank``, ``HR@10``, ``NDCG@10``, ... per test user and
``sequence_ids``: our user ids), RecBole's log under ``log/``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # before torch: RecBole pickles its config

import argparse  # noqa: E402
import copy  # noqa: E402
import io  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

# RecBole 1.2.1 on pandas 2 / torch 2.13 / setuptools 80 warns at every load (chained fillna, Series.agg(len),
# torch.cuda.amp.GradScaler, pkg_resources); none of it changes the results.
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning, message=".*pkg_resources.*")

import recbole  # noqa: E402
import recbole.model.sequential_recommender  # noqa: E402,F401  (its sine.py turns anomaly detection on)
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.utils import get_model, get_trainer, init_logger, init_seed  # noqa: E402

ANOMALY_ON_AFTER_IMPORT = bool(torch.is_anomaly_enabled())
torch.autograd.set_detect_anomaly(False)

MODELS = ("SASRec", "GRU4Rec", "BERT4Rec")
SOURCE = f"recbole {recbole.__version__}"
DEFAULTS = {"embedding_dim": 64, "layers": 2, "heads": 1, "dropout": 0.1, "batch_size": 128, "learning_rate": 1e-3}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", required=True, help="directory written by export_split.py")
    p.add_argument("--model", choices=MODELS, default="SASRec")
    p.add_argument("--max-len", type=int, default=None, help="MAX_ITEM_LIST_LENGTH; must equal the export's")
    p.add_argument("--embedding-dim", type=int, default=None, help=f"default {DEFAULTS['embedding_dim']}")
    p.add_argument(
        "--layers",
        type=int,
        default=None,
        help=f"transformer blocks / GRU layers (default {DEFAULTS['layers']}; GRU4Rec: 1)",
    )
    p.add_argument("--heads", type=int, default=None, help=f"attention heads (default {DEFAULTS['heads']})")
    p.add_argument(
        "--dropout",
        type=float,
        default=None,
        help=f"hidden and attention dropout (GRU4Rec: its embedding dropout; default {DEFAULTS['dropout']})",
    )
    p.add_argument(
        "--inner-size",
        type=int,
        default=None,
        help="feed-forward width (default as ours: SASRec embedding-dim, BERT4Rec 4 x embedding-dim)",
    )
    p.add_argument("--hidden-act", default="relu", help="feed-forward activation (ours: relu; RecBole's default gelu)")
    p.add_argument("--gru-hidden-size", type=int, default=None, help="GRU4Rec hidden size (default embedding-dim)")
    p.add_argument("--mask-ratio", type=float, default=0.2, help="BERT4Rec mask_ratio")
    p.add_argument("--batch-size", type=int, default=None, help=f"default {DEFAULTS['batch_size']}")
    p.add_argument("--learning-rate", type=float, default=None, help=f"Adam (default {DEFAULTS['learning_rate']})")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--patience", type=int, default=10, help="validations without improvement before stopping")
    p.add_argument("--eval-step", type=int, default=1, help="validate every N epochs")
    p.add_argument(
        "--time-budget-minutes",
        type=float,
        default=None,
        help="stop training after this many minutes (with --resume: of this invocation)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUTPUT/resume_state.pt (written after every complete epoch) if it exists",
    )
    p.add_argument(
        "--throughput-batches",
        type=int,
        default=None,
        help="only time N training batches (after --warmup-batches) and stop; no evaluation",
    )
    p.add_argument("--warmup-batches", type=int, default=2)
    p.add_argument("--eval-batch-size", type=int, default=256)
    p.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10, 20])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument(
        "--from-run",
        default=None,
        help="a `tfseqrec train` run directory: take max_len, embedding, layers, heads, dropout, ffn, "
        "batch size and learning rate from its run.json (explicit flags win)",
    )
    p.add_argument("--output", required=True, help="directory for metrics.json, per_user.npz and RecBole's log")
    p.add_argument("--dump-dataset", default=None, help=argparse.SUPPRESS)  # export_split.py's check
    p.add_argument("--dump-train-users", type=int, default=200, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    _resolve(args)
    return args


def _resolve(args) -> None:
    """Fills unset hyper-parameters from --from-run, then the defaults; checks max_len against the export."""
    manifest_path = Path(args.data_dir) / "export.json"
    if not manifest_path.exists():
        sys.exit(f"error: {manifest_path} not found: --data-dir must be a directory written by export_split.py")
    args.manifest = json.loads(manifest_path.read_text())
    run = {}
    if args.from_run:
        run_json = json.loads((Path(args.from_run) / "run.json").read_text())
        mc, cfg = run_json["model_config"], run_json["config"]
        run = {
            "max_len": mc.get("max_len"),
            "embedding_dim": mc.get("embedding_dim"),
            "layers": mc.get("num_blocks") or len(mc.get("hidden_units") or [0]),
            "heads": mc.get("num_heads"),
            "dropout": mc.get("dropout"),
            "inner_size": mc.get("ffn_dim"),
            "batch_size": cfg.get("batch_size"),
            "learning_rate": (cfg.get("optimizer") or {}).get("learning_rate"),
        }
        if run_json.get("model") == "gru4rec":
            units = mc.get("hidden_units")
            run["gru_hidden_size"] = units[0] if units else None
        args.from_run_model = run_json.get("model")
    defaults = dict(DEFAULTS, layers=1 if args.model == "GRU4Rec" else DEFAULTS["layers"])
    for name, default in list(defaults.items()) + [
        ("max_len", args.manifest["max_len"]),
        ("inner_size", None),
        ("gru_hidden_size", None),
    ]:
        if getattr(args, name) is None:
            value = run.get(name)
            setattr(args, name, value if value is not None else default)
    if args.inner_size is None:
        args.inner_size = 4 * args.embedding_dim if args.model == "BERT4Rec" else args.embedding_dim
    if args.gru_hidden_size is None:
        args.gru_hidden_size = args.embedding_dim
    if args.max_len != args.manifest["max_len"]:
        sys.exit(
            f"error: --max-len {args.max_len} differs from the export's max_len {args.manifest['max_len']} "
            f"(export again with export_split.py --max-len {args.max_len})"
        )


def recbole_config_dict(args) -> dict:
    data_dir = Path(args.data_dir).resolve()
    manifest = args.manifest
    if data_dir.name != manifest["dataset_name"]:
        sys.exit(
            f"error: {data_dir} holds the dataset {manifest['dataset_name']!r}; RecBole needs the directory "
            f"name to be the dataset name (rename it back)"
        )
    d = dict(manifest["recbole_config"])
    d.update(
        {
            "data_path": str(data_dir.parent),
            "checkpoint_dir": str(Path(args.output).resolve() / "saved"),
            "MAX_ITEM_LIST_LENGTH": args.max_len,
            "loss_type": "CE",
            "train_neg_sample_args": None,
            # The split is given by the benchmark files; RecBole checks only that order is TO for sequential models.
            "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
            "repeatable": True,
            "metrics": ["Hit", "NDCG", "MRR"],
            "topk": list(args.ks),
            "valid_metric": "NDCG@10",
            "metric_decimal_place": 6,
            "train_batch_size": args.batch_size,
            "eval_batch_size": args.eval_batch_size,
            "learner": "adam",
            "learning_rate": args.learning_rate,
            "weight_decay": 0.0,
            "epochs": args.epochs,
            "eval_step": args.eval_step,
            "stopping_step": args.patience,
            "seed": args.seed,
            "reproducibility": True,
            "shuffle": True,
            "show_progress": False,
            "log_wandb": False,
            "save_dataset": False,
            "save_dataloaders": False,
            "state": "INFO",
        }
    )
    if args.model in ("SASRec", "BERT4Rec"):
        d.update(
            {
                "n_layers": args.layers,
                "n_heads": args.heads,
                "hidden_size": args.embedding_dim,
                "inner_size": args.inner_size,
                "hidden_dropout_prob": args.dropout,
                "attn_dropout_prob": args.dropout,
                "hidden_act": args.hidden_act,
            }
        )
        if args.model == "BERT4Rec":
            d["mask_ratio"] = args.mask_ratio
    else:
        d.update(
            {
                "embedding_size": args.embedding_dim,
                "hidden_size": args.gru_hidden_size,
                "num_layers": args.layers,
                "dropout_prob": args.dropout,
            }
        )
    return d


def build(args):
    """RecBole's Config, dataset, dataloaders (public API, as its quick start does)."""
    argv, sys.argv = sys.argv, sys.argv[:1]  # RecBole's Config reads --key=value from the command line
    try:
        config = Config(model=args.model, dataset=args.manifest["dataset_name"], config_dict=recbole_config_dict(args))
    finally:
        sys.argv = argv
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    return config, dataset, train_data, valid_data, test_data


def rss_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def dump_dataset(args, config, dataset, train_data, valid_data, test_data) -> None:
    """What RecBole's dataloaders hand to a model, in tokens (export_split.py's check reads this)."""
    uid, iid = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
    seq_field, len_field = iid + config["LIST_SUFFIX"], config["ITEM_LIST_LENGTH_FIELD"]
    users, items = dataset.field2id_token[uid], dataset.field2id_token[iid]
    out = {
        "recbole": recbole.__version__,
        "item_num": int(dataset.item_num),
        "user_num": int(dataset.user_num),
        "catalogue": [str(t) for t in items[1:]],
        "train_samples": len(train_data._dataset),
        "max_item_list_len": int(dataset.field2seqlen[seq_field]),
        "splits": {},
        "duplicates": {},
    }
    for name, loader in (("valid", valid_data), ("test", test_data)):
        rows, dups = {}, []
        for batch in loader:
            inter = batch[0]
            seqs, lens = inter[seq_field].numpy(), inter[len_field].numpy()
            for u, seq, n, t in zip(inter[uid].numpy(), seqs, lens, inter[iid].numpy()):
                token = str(users[u])
                if token in rows:
                    dups.append(token)
                rows[token] = {
                    "history": [str(items[i]) for i in seq[:n]],
                    "target": str(items[t]),
                    "padding_is_zero": bool((seq[n:] == 0).all()),
                }
        out["splits"][name], out["duplicates"][name] = rows, dups
    inter = train_data._dataset.inter_feat
    train_uids = inter[uid].numpy()
    rng = np.random.default_rng(args.seed)
    distinct = np.unique(train_uids)
    chosen = set(rng.choice(distinct, size=min(args.dump_train_users, len(distinct)), replace=False).tolist())
    out["train_users"] = sorted(str(users[u]) for u in chosen)
    train_rows: dict = {}
    seqs, lens, targets = inter[seq_field].numpy(), inter[len_field].numpy(), inter[iid].numpy()
    for row in np.nonzero(np.isin(train_uids, list(chosen)))[0]:
        n = lens[row]
        train_rows.setdefault(str(users[train_uids[row]]), []).append(
            {"history": [str(items[i]) for i in seqs[row][:n]], "target": str(items[targets[row]])}
        )
    out["train_rows"] = train_rows
    with open(args.dump_dataset, "w", encoding="utf-8") as f:
        json.dump(out, f)
    print(
        f"dumped RecBole's view of {args.data_dir}: {len(out['splits']['test'])} test users, "
        f"{out['train_samples']} training samples, {out['item_num'] - 1} items -> {args.dump_dataset}"
    )


class TargetCounter:
    """Wraps ``model.calculate_loss`` to count the samples and the targets of each training batch."""

    def __init__(self, model, model_name: str, config):
        self.model, self.bert = model, model_name == "BERT4Rec"
        self.mask_index = config["MASK_INDEX"] if self.bert else None
        self.samples = self.targets = self.batches = 0

    def __call__(self, interaction):
        n = len(interaction)
        self.samples += n
        self.batches += 1
        # BERT4Rec's CE loss averages over masked positions with masked_index > 0 (RecBole's rule).
        self.targets += int((interaction[self.mask_index] > 0).sum()) if self.bert else n
        return self.model.calculate_loss(interaction)

    def reset(self):
        self.samples = self.targets = self.batches = 0


STATE_FILE = "resume_state.pt"
# arguments that must match for a resumed run to be the same training
RESUME_KEYS = (
    "data_dir",
    "model",
    "max_len",
    "embedding_dim",
    "layers",
    "heads",
    "dropout",
    "inner_size",
    "hidden_act",
    "gru_hidden_size",
    "mask_ratio",
    "batch_size",
    "learning_rate",
    "seed",
    "eval_step",
)


def save_training_state(path: Path, model, trainer, train_data, args, loop: dict) -> None:
    """Everything needed to continue training after the epoch just finished (the random generators too, the
    training loader's shuffling one included, so that a resumed run trains as an uninterrupted one would);
    written atomically."""
    state = {
        "args": {k: getattr(args, k) for k in RESUME_KEYS},
        "model": model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "loop": loop,
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
        "loader_rng": train_data.generator.get_state(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_training_state(path: Path, model, trainer, train_data, args) -> dict:
    """Restores what :func:`save_training_state` wrote and returns its loop counters; exits 2 when the run was
    started with other arguments."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    differ = {k: (v, getattr(args, k)) for k, v in state["args"].items() if v != getattr(args, k)}
    if differ:
        print(
            f"error: --resume: {path} was written by a run with other arguments (saved, given): {differ}; "
            "use the same arguments or another --output",
            file=sys.stderr,
        )
        raise SystemExit(2)
    model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    train_data.generator.set_state(state["loader_rng"])
    return state["loop"]


def _invocation(started: float, epochs_after: int) -> dict:
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "seconds": time.time() - started,
        "epochs_after": epochs_after,
    }


def _until(iterable, deadline, state):
    """Yields batches until ``deadline`` (time.time()) passes; records whether it stopped early."""
    for batch in iterable:
        if deadline is not None and time.time() >= deadline:
            state["budget_hit"] = True
            return
        yield batch


def per_user_ranks(model, test_data, config, item_num: int):
    """Conservative 1-based ranks of each test target among all items (PAD excluded, nothing else removed)."""
    uid, iid = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
    len_field = config["ITEM_LIST_LENGTH_FIELD"]
    device = config["device"]
    model.eval()
    ranks, users, targets, lengths = [], [], [], []
    with torch.no_grad():
        for batch in test_data:
            inter = batch[0].to(device)
            scores = model.full_sort_predict(inter).view(-1, item_num)
            scores[:, 0] = -math.inf  # PAD, as RecBole's evaluator does
            target = inter[iid]
            target_scores = scores.gather(1, target.view(-1, 1))
            ranks.append((scores >= target_scores).sum(dim=1).cpu().numpy())  # counts the target itself once
            users.append(inter[uid].cpu().numpy())
            targets.append(target.cpu().numpy())
            lengths.append(inter[len_field].cpu().numpy())
    return (
        np.concatenate(ranks).astype(np.int64),
        np.concatenate(users),
        np.concatenate(targets),
        np.concatenate(lengths),
    )


def single_target_metrics(ranks: np.ndarray, num_candidates: int, ks) -> dict:
    """Our per-user metric definitions (tfseqrec.evaluation.metrics) for one target per user."""
    r = ranks.astype(np.float64)
    out = {}
    for k in ks:
        hit = (r <= k).astype(np.float64)
        out[f"HR@{k}"] = hit
        out[f"Recall@{k}"] = hit
        out[f"NDCG@{k}"] = np.where(r <= k, 1.0 / np.log2(r + 1.0), 0.0)
        out[f"MRR@{k}"] = np.where(r <= k, 1.0 / r, 0.0)
        out[f"Precision@{k}"] = hit / k
        out[f"MAP@{k}"] = out[f"MRR@{k}"]
    out["MRR"] = 1.0 / r
    others = num_candidates - 1
    out["AUC"] = np.full_like(r, 1.0) if others <= 0 else 1.0 - (r - 1.0) / others
    return out


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "recbole": recbole.__version__,
        "numpy": np.__version__,
        "cuda": torch.cuda.is_available(),
    }


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def main(argv=None) -> int:
    args = parse_args(argv)
    output = Path(args.output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    args.data_dir = str(Path(args.data_dir).resolve())
    if args.dump_dataset:
        args.dump_dataset = str(Path(args.dump_dataset).resolve())
    os.chdir(output)  # RecBole writes log/ and log_tensorboard/ into the working directory
    print(
        f"anomaly detection: switched on by RecBole's import: {ANOMALY_ON_AFTER_IMPORT}; switched off: "
        f"{not torch.is_anomaly_enabled()} (torch.autograd.set_detect_anomaly(False))",
        flush=True,
    )
    if args.threads:
        torch.set_num_threads(args.threads)

    started = time.time()
    config, dataset, train_data, valid_data, test_data = build(args)
    data_seconds = time.time() - started
    rss_after_data = rss_mib()
    if args.dump_dataset:
        dump_dataset(args, config, dataset, train_data, valid_data, test_data)
        return 0

    init_seed(config["seed"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    torch.autograd.set_detect_anomaly(False)  # again, in case a model import switched it on
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer.eval_collector.data_collect(train_data)
    counter = TargetCounter(model, args.model, config)
    item_num = int(dataset.item_num)
    train_samples = len(train_data._dataset)
    num_params = sum(p.numel() for p in model.parameters())
    print(
        f"RecBole {recbole.__version__} {args.model}: {train_samples:,} training samples (one per prefix), "
        f"{len(valid_data._dataset):,} valid / {len(test_data._dataset):,} test users, {item_num - 1:,} items, "
        f"{num_params:,} parameters; data built in {data_seconds:.1f} s, RSS {rss_after_data:.0f} MiB",
        flush=True,
    )

    training: dict = {
        "train_samples_per_epoch": train_samples,
        "data_seconds": data_seconds,
        "rss_after_data_mib": rss_after_data,
        "num_parameters": num_params,
        "anomaly_detection": {
            "enabled_by_recbole_import": ANOMALY_ON_AFTER_IMPORT,
            "disabled_for_this_run": not torch.is_anomaly_enabled(),
        },
    }
    config_out = {k: v for k, v in vars(args).items() if k not in ("manifest",)}
    config_out["recbole_config"] = {k: config[k] for k in recbole_config_dict(args)}
    config_out["export"] = {
        k: args.manifest.get(k)
        for k in ("dataset_name", "source_data_dir", "max_len", "train_targets", "num_items", "counts")
    }

    if args.throughput_batches:
        training.update(measure_throughput(args, trainer, train_data, counter, train_samples))
        _write(
            output,
            {
                "summary": {},
                "protocol": _protocol(args, item_num, None),
                "config": config_out,
                "training": training,
                "machine": machine(),
            },
            None,
        )
        return 0

    loop = TrainingLoop(args, output / STATE_FILE)
    loop.run(model, trainer, train_data, valid_data, counter)
    test = evaluate_test(args, model, trainer, test_data, config, dataset, item_num)
    summary = test["summary"]
    training.update(loop.summary())
    training.update(
        {
            "eval_seconds": test["eval_seconds"],
            "peak_memory_mib": peak_rss_mib(),
            "validation_history": loop.history,
            "recbole_test_result": {k: float(v) for k, v in test["reported"].items()},
            "recbole_vs_per_user_max_abs_diff": test["max_diff"],
        }
    )
    _write(
        output,
        {
            "summary": summary,
            "protocol": _protocol(args, item_num, test["max_diff"]),
            "config": config_out,
            "training": training,
            "machine": machine(),
        },
        (test["per_user"], test["sequence_ids"]),
    )
    tps = training["targets_per_second"]
    print(
        f"{args.model}: test HR@10 {summary.get('HR@10', float('nan')):.4f}, NDCG@10 "
        f"{summary.get('NDCG@10', float('nan')):.4f}; best epoch {loop.best_epoch} of {loop.epochs_run} "
        f"({loop.stopped_by}); {training['seconds_per_epoch'] or float('nan'):.1f} s/epoch, "
        f"{tps or float('nan'):.0f} targets/s, peak RSS {training['peak_memory_mib']:.0f} MiB; results in {output}",
        flush=True,
    )
    if not test["max_diff"] <= 1e-4:
        print(f"ERROR: per-user averages differ from RecBole's by {test['max_diff']:.2e} (> 1e-4)", file=sys.stderr)
        return 3
    return 0


def measure_throughput(args, trainer, train_data, counter: TargetCounter, train_samples: int) -> dict:
    """``--throughput-batches``: times that many training batches after ``--warmup-batches``; returns the
    ``training`` entries (and prints them)."""
    load_average_before = list(os.getloadavg())
    it = iter(train_data)
    trainer._train_epoch(itertools.islice(it, args.warmup_batches), 0, loss_func=counter)
    counter.reset()
    t0 = time.time()
    trainer._train_epoch(itertools.islice(it, args.throughput_batches), 0, loss_func=counter)
    seconds = time.time() - t0
    out = {
        "load_average_before": load_average_before,
        "mode": "throughput",
        "warmup_batches": args.warmup_batches,
        "timed_batches": counter.batches,
        "timed_seconds": seconds,
        "seconds_per_batch": seconds / max(counter.batches, 1),
        "samples": counter.samples,
        "targets": counter.targets,
        "samples_per_second": counter.samples / seconds,
        "targets_per_second": counter.targets / seconds,
        "projected_seconds_per_epoch": train_samples / (counter.samples / seconds),
        "peak_memory_mib": peak_rss_mib(),
    }
    print(
        f"throughput: {counter.batches} batches ({counter.samples:,} samples, {counter.targets:,} targets) in "
        f"{seconds:.2f} s: {out['targets_per_second']:.0f} targets/s, "
        f"{seconds / counter.batches:.3f} s/batch; projected epoch {out['projected_seconds_per_epoch'] / 60:.1f} "
        f"min; peak RSS {out['peak_memory_mib']:.0f} MiB",
        flush=True,
    )
    return out


class TrainingLoop:
    """Training with validation every ``--eval-step`` epochs, early stopping on NDCG@10, the time budget and
    ``--resume``: the counters below are what ``resume_state.pt`` saves after every complete epoch."""

    def __init__(self, args, state_file: Path):
        self.args, self.state_file = args, state_file
        self.deadline = time.time() + args.time_budget_minutes * 60 if args.time_budget_minutes else None
        self.train_started = time.time()
        self.best, self.best_epoch, self.best_state, self.bad = -math.inf, 0, None, 0
        self.epoch_seconds, self.history, self.budget = [], [], {"budget_hit": False}
        self.train_step_seconds, self.stopped_by, self.epochs_run = 0.0, "epochs", 0
        # of the invocations before this one (--resume)
        self.earlier_seconds, self.invocations, self.finished = 0.0, [], False
        self.train_seconds = 0.0

    def run(self, model, trainer, train_data, valid_data, counter: TargetCounter) -> None:
        """Resumes (with ``--resume``), trains until a stop, then restores the best weights into ``model``."""
        args = self.args
        if args.resume and self.state_file.exists():
            self._resume(model, trainer, train_data)
        elif args.resume:
            print(f"--resume: no {self.state_file} yet; starting from scratch", flush=True)
        for epoch in range(self.epochs_run, 0 if self.finished else args.epochs):
            if not self._epoch(epoch, model, trainer, train_data, valid_data, counter):
                break
        self.train_seconds = self.earlier_seconds + time.time() - self.train_started
        self.invocations = self.invocations + [_invocation(self.train_started, self.epochs_run)]
        if self.best_state is not None:
            model.load_state_dict(self.best_state)

    def _resume(self, model, trainer, train_data) -> None:
        loop = load_training_state(self.state_file, model, trainer, train_data, self.args)
        self.best, self.best_epoch, self.best_state, self.bad = (
            loop["best"],
            loop["best_epoch"],
            loop["best_state"],
            loop["bad"],
        )
        self.epoch_seconds, self.history = loop["epoch_seconds"], loop["history"]
        self.train_step_seconds = loop["train_step_seconds"]
        self.epochs_run, self.earlier_seconds, self.invocations = (
            loop["epochs_run"],
            loop["train_seconds"],
            loop["invocations"],
        )
        self.stopped_by = loop["stopped_by"]
        # more epochs asked for than the finished run had
        self.finished = loop["finished"] and not (self.stopped_by == "epochs" and self.args.epochs > self.epochs_run)
        print(
            f"resumed from {self.state_file}: {self.epochs_run} epochs done, best valid NDCG@10 {self.best:.4f} "
            f"at {self.best_epoch}, {self.earlier_seconds / 60:.1f} min of training so far"
            + (f"; already finished ({self.stopped_by})" if self.finished else ""),
            flush=True,
        )

    def _epoch(self, epoch: int, model, trainer, train_data, valid_data, counter: TargetCounter) -> bool:
        """Trains (and maybe validates) one epoch; returns whether training goes on."""
        args = self.args
        counter.reset()
        t0 = time.time()
        loss = trainer._train_epoch(_until(train_data, self.deadline, self.budget), epoch, loss_func=counter)
        seconds = time.time() - t0
        self.train_step_seconds += seconds
        self.epochs_run = epoch + 1
        complete = not self.budget["budget_hit"]
        if complete:
            self.epoch_seconds.append(seconds)
        record = {
            "epoch": epoch + 1,
            "train_seconds": seconds,
            "complete_epoch": complete,
            "samples": counter.samples,
            "targets": counter.targets,
            "loss": None if loss is None else float(loss) / max(counter.batches, 1),
        }
        if counter.samples == 0:
            self.stopped_by = "time_budget"
            return False
        if (epoch + 1) % args.eval_step == 0 or not complete or epoch + 1 == args.epochs:
            self._validate(epoch, seconds, record, model, trainer, valid_data, counter)
        self.history.append(record)
        if complete:
            self.finished = self.bad >= args.patience or epoch + 1 == args.epochs
            self.stopped_by = "early_stopping" if self.bad >= args.patience else "epochs"
            self._save(model, trainer, train_data)
        if not complete or (self.deadline is not None and time.time() >= self.deadline):
            self.stopped_by = "time_budget"
            return False
        if self.bad >= args.patience:
            self.stopped_by = "early_stopping"
            return False
        return True

    def _validate(
        self, epoch: int, seconds: float, record: dict, model, trainer, valid_data, counter: TargetCounter
    ) -> None:
        """RecBole's full-ranking validation; keeps the best weights and counts validations without progress."""
        v0 = time.time()
        result = trainer.evaluate(valid_data, load_best_model=False, show_progress=False)
        value = float(result["ndcg@10"])
        record.update(
            {
                "valid_seconds": time.time() - v0,
                "valid": {k: float(v) for k, v in result.items()},
                "elapsed_minutes": (self.earlier_seconds + time.time() - self.train_started) / 60,
            }
        )
        if value > self.best:
            self.best, self.best_epoch, self.bad = value, epoch + 1, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad += 1
        print(
            f"epoch {epoch + 1}: {seconds:.1f} s, {counter.targets / seconds:.0f} targets/s, loss "
            f"{record['loss']:.4f}; valid NDCG@10 {value:.4f} (best {self.best:.4f} at {self.best_epoch}) "
            f"[{record['valid_seconds']:.1f} s, {record['elapsed_minutes']:.1f} min]",
            flush=True,
        )

    def _save(self, model, trainer, train_data) -> None:
        save_training_state(
            self.state_file,
            model,
            trainer,
            train_data,
            self.args,
            {
                "best": self.best,
                "best_epoch": self.best_epoch,
                "best_state": self.best_state,
                "bad": self.bad,
                "epoch_seconds": self.epoch_seconds,
                "history": self.history,
                "train_step_seconds": self.train_step_seconds,
                "epochs_run": self.epochs_run,
                "finished": self.finished,
                "stopped_by": self.stopped_by,
                "train_seconds": self.earlier_seconds + time.time() - self.train_started,
                "invocations": self.invocations + [_invocation(self.train_started, self.epochs_run)],
            },
        )

    def summary(self) -> dict:
        """The ``training`` entries of ``metrics.json`` about the training itself."""
        all_targets = sum(r["targets"] for r in self.history)
        all_samples = sum(r["samples"] for r in self.history)
        total = self.train_step_seconds
        return {
            "mode": "train",
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_valid_NDCG@10": self.best,
            "stopped_by": self.stopped_by,
            "train_seconds": self.train_seconds,
            "train_step_seconds": total,
            "invocations": self.invocations,
            "seconds_per_epoch": float(np.median(self.epoch_seconds)) if self.epoch_seconds else None,
            "samples_per_second": all_samples / total if total else None,
            "targets_per_second": all_targets / total if total else None,
            "time_budget_minutes": self.args.time_budget_minutes,
        }


def evaluate_test(args, model, trainer, test_data, config, dataset, item_num: int) -> dict:
    """RecBole's test metrics and our per-user ranks on its test batches, compared (printed side by side).

    Returns ``reported`` (RecBole's), ``per_user``, ``sequence_ids``, ``summary``, ``eval_seconds`` and
    ``max_diff`` (the largest |difference| of the averages both compute).
    """
    e0 = time.time()
    reported = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    ranks, uids, targets, lengths = per_user_ranks(model, test_data, config, item_num)
    eval_seconds = time.time() - e0
    num_candidates = item_num - 1
    per_user = single_target_metrics(ranks, num_candidates, args.ks)
    per_user.update(
        {
            "rank": ranks,
            "num_candidates": np.full(len(ranks), num_candidates, np.int64),
            "target_id": np.asarray(
                [int(dataset.field2id_token[config["ITEM_ID_FIELD"]][t]) for t in targets], np.int64
            ),
            "input_length": lengths.astype(np.int64),
        }
    )
    sequence_ids = np.asarray([str(dataset.field2id_token[config["USER_ID_FIELD"]][u]) for u in uids])
    summary = {
        name: float(values.mean())
        for name, values in per_user.items()
        if name not in ("rank", "num_candidates", "target_id", "input_length")
    }
    summary.update(
        {
            "num_users": int(len(ranks)),
            "seconds": eval_seconds,
            "users_per_second": len(ranks) / eval_seconds if eval_seconds > 0 else float("nan"),
        }
    )
    pairs = (
        [(f"hit@{k}", f"HR@{k}") for k in args.ks]
        + [(f"ndcg@{k}", f"NDCG@{k}") for k in args.ks]
        + [(f"mrr@{k}", f"MRR@{k}") for k in args.ks]
    )
    diffs = {ours: abs(float(reported[theirs]) - summary[ours]) for theirs, ours in pairs if theirs in reported}
    max_diff = max(diffs.values()) if diffs else float("nan")
    print("test (RecBole's evaluator vs per-user ranks computed here):")
    for theirs, ours in pairs:
        if theirs in reported:
            print(
                f"  {ours:>8}: RecBole {float(reported[theirs]):.6f}  ours {summary[ours]:.6f}  "
                f"|diff| {diffs[ours]:.2e}"
            )
    return {
        "reported": reported,
        "per_user": per_user,
        "sequence_ids": sequence_ids,
        "summary": summary,
        "eval_seconds": eval_seconds,
        "max_diff": max_diff,
    }


def _protocol(args, item_num: int, max_diff) -> dict:
    m = args.manifest
    return {
        "name": "recbole full ranking on the exported tfseqrec split",
        "split": "test",
        "ranking": "full",
        "ties": "conservative (per-user ranks); RecBole's own metrics use torch.topk order",
        "filter_seen": False,
        "filter_seen_scope": None,
        "target_in_history": "kept as a candidate",
        "targets": "single (target_id)",
        "ks": list(args.ks),
        "max_len": args.max_len,
        "num_items": item_num - 1,
        "dataset": m.get("source_data_dir"),
        "dataset_protocol": m.get("source_protocol"),
        "exported_split": args.data_dir,
        "train_targets": m.get("train_targets"),
        "source": SOURCE,
        "training_samples": "one (prefix, next item) sample per row of the exported train file",
        "anomaly_detection": "disabled after importing RecBole (its sine.py enables it)",
        "recbole_vs_per_user_max_abs_diff": max_diff,
    }


def _write(output: Path, payload: dict, per_user) -> None:
    (output / "metrics.json").write_text(json.dumps(_jsonable(payload), indent=2) + "\n")
    if per_user is None:
        return
    arrays, sequence_ids = per_user
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        **{k: np.asarray(v) for k, v in arrays.items()},
        sequence_ids=np.asarray(sequence_ids, dtype=str),
        __protocol_json__=np.asarray(json.dumps(_jsonable(payload["protocol"]), sort_keys=True)),
        __config_json__=np.asarray(json.dumps(_jsonable(payload["config"]), sort_keys=True)),
    )
    (output / "per_user.npz").write_bytes(buffer.getvalue())


if __name__ == "__main__":
    sys.exit(main())

"""Writes one of our preprocessed datasets as RecBole atomic files, so RecBole trains and tests on our split.

    python benchmarks/peers/export_split.py --data-dir benchmarks/out/models/data/ml1m \\
        --output /tmp/peers/recbole/ml1m_l200 --max-len 200

Runs in the package's own virtualenv (it reads our TFRecords with :func:`tfseqrec.data.make_dataset`); RecBole is
not imported here. The output directory's name is the RecBole dataset name (``--output .../NAME`` writes
``NAME.train.inter`` ...); ``ml-100k`` is refused because RecBole 1.2.1 then reads its bundled copy instead.

What is written (RecBole's pre-split "benchmark files", ``benchmark_filename: [train, valid, test]``):

* ``NAME.train.inter``, ``NAME.valid.inter``, ``NAME.test.inter`` with the columns
  ``user_id:token  item_id_list:token_seq  item_id:token  timestamp:float``; one row = one (history, target)
  sample. RecBole 1.2.1's ``SequentialDataset`` does *not* augment benchmark files (``_change_feat_format``
  returns before ``data_augmentation`` when ``benchmark_filename`` is set, and ``_benchmark_presets`` reads
  the ``item_id_list`` column as it is), so the histories must be in the files: plain
  ``user_id, item_id, timestamp`` rows would give RecBole no ``item_id_list`` at all.

  - train: every prefix of each user's training sequence (RecBole's own augmentation: the target
    ``s[t]`` with the history ``s[max(0, t - L):t]``, ``t = 1..n-1``), or with ``--train-targets window``
    only the last ``L`` targets (those our padded training window of ``L + 1`` items predicts);
  - valid: one row per user with a validation target: our valid record's history (its latest ``L``
    items) and target;
  - test: one row per user with a test target: our test record's history (train + valid items, latest ``L``)
    and target. These are exactly the inputs our evaluator gives our models at ``max_len = L``.
* ``NAME.item``: every catalogue item (``item_id:token``), so RecBole's catalogue is our vocabulary's items
  even if some item never appears in a history (RecBole ranks all of them, as we do).
* ``export.json``: the manifest (source, counts, the RecBole settings these files need, the check's result).

Tokens: items are written as our vocabulary ids (``2 .. V-1``; PAD 0 and OOV 1 never appear), users as our
``sequence_id`` strings. Timestamps are positions, not times (RecBole does not sort or use them with benchmark
files, and our ML-1M records carry none): the train target ``s[t]`` gets ``t``, the validation target ``n``
(the training length) and the test target ``n + 1``, so each user's rows are in time order.

The check (``--check``, default on when ``benchmarks/peers/.venv-recbole`` exists): RecBole itself loads the
files (``run_recbole.py --dump-dataset``: ``create_dataset`` + ``data_preparation``, i.e. remapping, the
benchmark split and the full-ranking dataloaders) and dumps, for every valid/test user, the history and target
its dataloader hands to the model, plus the training rows of a sample of users. Those are compared with our
records read again through our loader (``make_dataset(..., max_len=L)``, what our evaluator feeds our models):
the script exits non-zero on the first kind of mismatch and lists examples.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
RECBOLE_PYTHON = HERE / ".venv-recbole" / "bin" / "python"
HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\ttimestamp:float\n"
SPLITS = ("train", "valid", "test")
TRAIN_TARGETS = ("all", "window")
FIRST_ITEM = 2  # our first real item id (0 = PAD, 1 = OOV)
RESERVED_NAMES = ("ml-100k",)  # RecBole 1.2.1's Config replaces data_path for this name (its bundled copy)


def read_split(spec, split: str, max_len: Optional[int] = None) -> dict:
    """``{sequence_id: (history ids, target id or None)}`` of one split, through our loader (ragged, unshuffled)."""
    import tfseqrec  # noqa: F401
    from tfseqrec.data import SequenceBatchConfig, make_dataset

    config = SequenceBatchConfig(
        batch_size=1024, max_len=max_len, padding="ragged", shuffle_buffer=0, num_parallel_reads=None, prefetch=False
    )
    out = {}
    for batch in make_dataset(spec, split, config):
        ids = [s.decode("utf-8") for s in batch["sequence_id"].numpy()]
        items = batch["item_ids"].to_list()
        targets = batch["target_ids"].to_list() if "target_ids" in batch else [None] * len(ids)
        for sid, hist, tgt in zip(ids, items, targets):
            if sid in out:
                raise ValueError(
                    f"split {split!r}: sequence_id {sid!r} has more than one record; the export "
                    f"needs one record per user (leave-one-out or temporal splits, not sessions)"
                )
            if tgt is not None and len(tgt) != 1:
                raise ValueError(
                    f"split {split!r}: sequence_id {sid!r} has {len(tgt)} targets; the export needs "
                    f"exactly one per record (protocol targets_per_record == 1)"
                )
            out[sid] = (list(hist), None if tgt is None else int(tgt[0]))
    return out


def train_rows(items: list, max_len: int, train_targets: str) -> list:
    """``[(history, target, timestamp)]`` for one training sequence (see the module docstring)."""
    first = 1 if train_targets == "all" else max(1, len(items) - max_len)
    return [(items[max(0, t - max_len) : t], items[t], float(t)) for t in range(first, len(items))]


def _check_token(sid: str) -> None:
    if not sid or any(c in sid for c in "\t\n\r ") or sid != sid.strip():
        raise ValueError(
            f"sequence_id {sid!r} is empty or holds whitespace, which RecBole's atomic files cannot carry as a token"
        )


def _line(sid: str, history: list, target: int, timestamp: float) -> str:
    return f"{sid}\t{' '.join(map(str, history))}\t{target}\t{timestamp:g}\n"


def export(data_dir: str, output: str, max_len: int, train_targets: str = "all") -> dict:
    """Writes the atomic files and ``export.json`` (without the check); returns the manifest."""
    import tfseqrec  # noqa: F401
    from tfseqrec.data.spec import load_feature_spec

    if max_len < 1:
        raise ValueError(f"--max-len must be positive, got {max_len}")
    if train_targets not in TRAIN_TARGETS:
        raise ValueError(f"train_targets must be one of {TRAIN_TARGETS}, got {train_targets!r}")
    out = Path(output).resolve()
    name = out.name
    if name in RESERVED_NAMES:
        raise ValueError(
            f"the output directory's name is RecBole's dataset name; {name!r} makes RecBole 1.2.1 read "
            f"its bundled copy instead of these files: choose another name"
        )
    spec = load_feature_spec(data_dir)
    missing = [s for s in SPLITS if s not in spec.splits]
    if missing:
        raise ValueError(f"{data_dir} has no {missing} split(s); the export needs train, valid and test")
    if spec.protocol.get("targets_per_record") != 1:
        raise ValueError(
            f"{data_dir}: protocol {spec.protocol.get('split')!r} with targets_per_record="
            f"{spec.protocol.get('targets_per_record')!r}; the export needs one target per record"
        )
    started = time.time()
    records = {split: read_split(spec, split) for split in SPLITS}
    vocab_size = spec.vocabulary.size
    out.mkdir(parents=True, exist_ok=True)
    counts = {"train": _write_train(out / f"{name}.train.inter", records["train"], vocab_size, max_len, train_targets)}
    consistency = {"valid_history_is_train": 0, "test_history_is_valid_plus_target": 0}
    for split in ("valid", "test"):
        counts[split] = _write_eval(out / f"{name}.{split}.inter", split, records, vocab_size, max_len, consistency)
    with open(out / f"{name}.item", "w", encoding="utf-8") as f:
        f.write("item_id:token\n")
        f.writelines(f"{i}\n" for i in range(FIRST_ITEM, vocab_size))
    manifest = {
        "format": "RecBole 1.2.1 atomic files, pre-split benchmark files",
        "dataset_name": name,
        "source_data_dir": str(Path(data_dir).resolve()),
        "source_protocol": spec.protocol,
        "max_len": max_len,
        "train_targets": train_targets,
        "num_items": spec.num_items,
        "vocabulary_size": vocab_size,
        "counts": counts,
        "consistency": consistency,
        "tokens": "items: tfseqrec vocabulary ids (2..V-1); users: tfseqrec sequence_id strings",
        "timestamps": "positions: train target s[t] -> t, validation target -> n_train, test target -> n_train + 1",
        "recbole_config": {
            "benchmark_filename": list(SPLITS),
            "load_col": {"inter": ["user_id", "item_id_list", "item_id", "timestamp"], "item": ["item_id"]},
            "alias_of_item_id": ["item_id_list"],
            "USER_ID_FIELD": "user_id",
            "ITEM_ID_FIELD": "item_id",
            "TIME_FIELD": "timestamp",
            "MAX_ITEM_LIST_LENGTH": max_len,
        },
        "seconds": round(time.time() - started, 2),
        "check": None,
    }
    _write_manifest(out, manifest)
    return manifest


def _check_ids(split: str, sid: str, ids: list, vocab_size: int) -> None:
    bad = [i for i in ids if not FIRST_ITEM <= i < vocab_size]
    if bad:
        raise ValueError(
            f"split {split!r}, sequence {sid!r}: ids {bad[:5]} are not real items in [2, {vocab_size})"
            f" (PAD/OOV cannot be exported as RecBole items)"
        )


def _write_train(path: Path, train: dict, vocab_size: int, max_len: int, train_targets: str) -> dict:
    """``NAME.train.inter``: the training rows of every user (see :func:`train_rows`); returns its counts."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER)
        rows = targets = 0
        for sid, (items, _) in train.items():
            _check_token(sid)
            _check_ids("train", sid, items, vocab_size)
            for history, target, ts in train_rows(items, max_len, train_targets):
                f.write(_line(sid, history, target, ts))
                rows += 1
            targets += min(max(len(items) - 1, 0), max_len)
    return {"rows": rows, "users": len(train), "tfseqrec_window_targets": targets}


def _write_eval(path: Path, split: str, records: dict, vocab_size: int, max_len: int, consistency: dict) -> dict:
    """``NAME.valid.inter`` or ``NAME.test.inter``: one row per user with a target (its latest ``max_len`` items);
    counts the histories that continue the previous split in ``consistency``; returns the file's counts."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER)
        rows = 0
        for sid, (history, target) in records[split].items():
            if target is None:
                continue
            _check_token(sid)
            _check_ids(split, sid, history + [target], vocab_size)
            base = len(records["train"][sid][0]) if sid in records["train"] else len(history)
            ts = float(base) if split == "valid" else float(base + (1 if sid in records["valid"] else 0))
            f.write(_line(sid, history[-max_len:], target, ts))
            rows += 1
            if split == "valid" and sid in records["train"] and records["train"][sid][0] == history:
                consistency["valid_history_is_train"] += 1
            if split == "test" and sid in records["valid"]:
                v_hist, v_target = records["valid"][sid]
                if v_hist + [v_target] == history:
                    consistency["test_history_is_valid_plus_target"] += 1
    return {"rows": rows, "users": rows}


def _write_manifest(out: Path, manifest: dict) -> None:
    tmp = out / "export.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, out / "export.json")


def check_with_recbole(
    data_dir: str,
    output: str,
    max_len: int,
    train_targets: str,
    recbole_python: str = str(RECBOLE_PYTHON),
    sample_users: int = 200,
    seed: int = 0,
) -> dict:
    """Has RecBole load the exported files and compares what its dataloaders hold with our records.

    Raises ``AssertionError`` listing examples on any mismatch; returns a summary of what was compared.
    """
    import numpy as np

    import tfseqrec  # noqa: F401
    from tfseqrec.data.spec import load_feature_spec

    spec = load_feature_spec(data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        dump_path = os.path.join(tmp, "recbole_dump.json")
        cmd = [
            recbole_python,
            str(HERE / "run_recbole.py"),
            "--data-dir",
            str(output),
            "--model",
            "SASRec",
            "--dump-dataset",
            dump_path,
            "--dump-train-users",
            str(sample_users),
            "--seed",
            str(seed),
            "--output",
            os.path.join(tmp, "run"),
        ]
        env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(
                f"RecBole could not load the export ({' '.join(cmd)}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        with open(dump_path, encoding="utf-8") as f:
            dump = json.load(f)

    problems: list[str] = []
    compared = {}
    expected_items = {str(i) for i in range(2, spec.vocabulary.size)}
    if set(dump["catalogue"]) != expected_items:
        extra, lacking = set(dump["catalogue"]) - expected_items, expected_items - set(dump["catalogue"])
        problems.append(
            f"catalogue: RecBole has {len(dump['catalogue'])} items, ours {len(expected_items)} "
            f"(extra {sorted(extra)[:5]}, missing {sorted(lacking)[:5]})"
        )
    if dump["max_item_list_len"] > max_len:
        problems.append(f"RecBole item_id_list width {dump['max_item_list_len']} > max_len {max_len}")
    for split in ("valid", "test"):
        ours = {
            sid: (hist, tgt) for sid, (hist, tgt) in read_split(spec, split, max_len=max_len).items() if tgt is not None
        }
        theirs = dump["splits"][split]
        if dump["duplicates"][split]:
            problems.append(f"{split}: users with more than one RecBole row: {dump['duplicates'][split][:5]}")
        if set(ours) != set(theirs):
            problems.append(
                f"{split}: user sets differ: only ours {sorted(set(ours) - set(theirs))[:5]}, "
                f"only RecBole {sorted(set(theirs) - set(ours))[:5]}"
            )
        bad = []
        for sid in sorted(set(ours) & set(theirs)):
            hist, tgt = ours[sid]
            row = theirs[sid]
            got_hist = [int(t) for t in row["history"]]
            if got_hist != hist or int(row["target"]) != tgt or not row["padding_is_zero"]:
                bad.append(
                    f"{sid}: ours {hist[-5:]} -> {tgt} (len {len(hist)}), RecBole {got_hist[-5:]} -> "
                    f"{row['target']} (len {len(got_hist)}, padding zero: {row['padding_is_zero']})"
                )
        if bad:
            problems.append(f"{split}: {len(bad)} users' history/target differ, e.g. " + "; ".join(bad[:3]))
        compared[split] = {"users": len(set(ours) & set(theirs)), "mismatches": len(bad)}
    # Training rows of the sampled users: every prefix (or the last-L window) of our train record.
    train = read_split(spec, "train")
    sampled = dump["train_users"]
    bad = []
    for sid in sampled:
        want = [(h, t) for h, t, _ in train_rows(train[sid][0], max_len, train_targets)]
        # RecBole keeps a benchmark file's row order; compare as multisets anyway.
        got = [(list(map(int, r["history"])), int(r["target"])) for r in dump["train_rows"].get(sid, [])]
        if sorted(got, key=repr) != sorted(want, key=repr):
            bad.append(f"{sid}: {len(want)} expected rows, RecBole has {len(got)}")
    if bad:
        problems.append(
            f"train: {len(bad)} of {len(sampled)} sampled users' training rows differ, e.g. " + "; ".join(bad[:3])
        )
    expected_rows = sum(len(train_rows(items, max_len, train_targets)) for items, _ in train.values())
    if dump["train_samples"] != expected_rows:
        problems.append(f"train: RecBole has {dump['train_samples']} training samples, expected {expected_rows}")
    compared["train"] = {"sampled_users": len(sampled), "mismatches": len(bad), "samples": dump["train_samples"]}
    if problems:
        raise AssertionError("RecBole's view of the export differs from our split:\n  " + "\n  ".join(problems))
    rng = np.random.default_rng(seed)
    example = str(rng.choice(sorted(dump["splits"]["test"]))) if dump["splits"]["test"] else None
    return {
        "ok": True,
        "recbole_item_num": dump["item_num"],
        "recbole_user_num": dump["user_num"],
        "compared": compared,
        "example_user": example,
        "example_test_history_tail": dump["splits"]["test"][example]["history"][-5:] if example else None,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="output directory of `tfseqrec preprocess`")
    parser.add_argument(
        "--output", required=True, help="directory for the atomic files; its name is the RecBole dataset name"
    )
    parser.add_argument("--max-len", type=int, required=True, help="MAX_ITEM_LIST_LENGTH (the models' max_len)")
    parser.add_argument(
        "--train-targets",
        choices=TRAIN_TARGETS,
        default="all",
        help="all: every prefix of the training sequence (RecBole's augmentation); window: only the "
        "last max-len targets (those our padded training predicts)",
    )
    parser.add_argument(
        "--check",
        choices=("auto", "on", "off"),
        default="auto",
        help="have RecBole load the files and compare with our records (auto: when its venv exists)",
    )
    parser.add_argument("--check-users", type=int, default=200, help="users whose training rows are compared")
    parser.add_argument("--recbole-python", default=str(RECBOLE_PYTHON), help="python of the RecBole virtualenv")
    args = parser.parse_args(argv)

    manifest = export(args.data_dir, args.output, args.max_len, args.train_targets)
    c = manifest["counts"]
    print(
        f"wrote {args.output}: train {c['train']['rows']:,} rows ({c['train']['users']:,} users), "
        f"valid {c['valid']['rows']:,}, test {c['test']['rows']:,}; {manifest['num_items']:,} items; "
        f"max_len {args.max_len}, train targets {args.train_targets} [{manifest['seconds']:.1f} s]"
    )
    print(f"consistency of our records: {manifest['consistency']}")
    run_check = args.check == "on" or (args.check == "auto" and os.path.exists(args.recbole_python))
    if args.check == "on" and not os.path.exists(args.recbole_python):
        print(
            f"error: --check on but {args.recbole_python} does not exist (run benchmarks/peers/setup_recbole.sh)",
            file=sys.stderr,
        )
        return 2
    if run_check:
        started = time.time()
        try:
            result = check_with_recbole(
                args.data_dir, args.output, args.max_len, args.train_targets, args.recbole_python, args.check_users
            )
        except AssertionError as e:
            manifest["check"] = {"ok": False, "error": str(e)}
            _write_manifest(Path(args.output).resolve(), manifest)
            print(f"CHECK FAILED: {e}", file=sys.stderr)
            return 1
        result["seconds"] = round(time.time() - started, 1)
        manifest["check"] = result
        _write_manifest(Path(args.output).resolve(), manifest)
        comp = result["compared"]
        print(
            f"check ok: RecBole's valid ({comp['valid']['users']:,} users) and test ({comp['test']['users']:,} "
            f"users) histories and targets equal ours truncated to {args.max_len}; training rows of "
            f"{comp['train']['sampled_users']} sampled users equal; {comp['train']['samples']:,} training samples; "
            f"catalogue {result['recbole_item_num'] - 1:,} items [{result['seconds']} s]"
        )
    elif args.check == "off":
        print("check skipped (--check off)")
    else:
        print("check skipped (no RecBole venv; run benchmarks/peers/setup_recbole.sh, then --check on)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())

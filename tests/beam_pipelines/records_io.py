"""Reads a preprocessing output directory back into plain Python (for tests).

``read_output(dir)`` returns the same structure as ``tfseqrec.reference.ReferenceOutput.splits``:
split name -> sequence_id -> {feature: value}, lists for list features, a single value for scalars
(``sequence_id`` is the key and is not repeated inside). Only features present in a record appear.
"""

from __future__ import annotations

import json

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from tfseqrec import io_utils
from tfseqrec.data.spec import load_feature_spec, load_vocabulary


def _values(feature: tf.train.Feature, dtype: str) -> list:
    kind = feature.WhichOneof("kind")
    if kind is None:
        return []
    if kind == "int64_list":
        values = [int(v) for v in feature.int64_list.value]
    elif kind == "bytes_list":
        values = [v.decode("utf-8") for v in feature.bytes_list.value]
    else:
        values = [float(v) for v in feature.float_list.value]
    if dtype == "string" and kind != "bytes_list" and values:
        raise ValueError(f"feature declared string but stored as {kind}")
    if dtype == "int64" and kind != "int64_list" and values:
        raise ValueError(f"feature declared int64 but stored as {kind}")
    return values


def read_split(output_dir: str, split: str, spec=None) -> dict:
    """sequence_id -> record for one split; raises on duplicate ids or features missing from the spec."""
    spec = spec or load_feature_spec(output_dir)
    files = sorted(io_utils.match(spec.split_pattern(split)))
    out = {}
    if not files:
        return out
    dataset = tf.data.TFRecordDataset(files, compression_type=spec.compression or "")
    for raw in dataset.as_numpy_iterator():
        example = tf.train.Example.FromString(raw)
        record = {}
        for name, feature in example.features.feature.items():
            if name not in spec.features:
                raise ValueError(f"{split}: feature {name!r} is not in feature_spec.json")
            info = spec.features[name]
            values = _values(feature, info.dtype)
            if info.kind == "scalar":
                if len(values) != 1:
                    raise ValueError(f"{split}: scalar feature {name!r} has {len(values)} values")
                record[name] = values[0]
            else:
                record[name] = values
        sid = record.pop("sequence_id")
        if sid in out:
            raise ValueError(f"{split}: sequence_id {sid!r} occurs in more than one record")
        out[sid] = record
    return out


def read_output(output_dir: str) -> dict:
    """split name -> sequence_id -> record, for every split named in feature_spec.json."""
    spec = load_feature_spec(output_dir)
    return {split: read_split(output_dir, split, spec) for split in spec.splits}


def read_vocab(output_dir: str) -> tuple[list, list]:
    """(items, train counts) from vocab.tsv, index = id."""
    spec = load_feature_spec(output_dir)
    items = load_vocabulary(spec)
    lines = io_utils.read_text(spec.vocabulary_path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    counts = [int(line.split("\t", 1)[1]) for line in lines]
    return items, counts


def read_rejects(output_dir: str) -> list:
    """(file, line, reason) of every reject in rejects-*.jsonl, sorted."""
    out = []
    for path in sorted(io_utils.match(io_utils.join(output_dir, "rejects-*"))):
        for line in io_utils.read_text(path).splitlines():
            if line.strip():
                obj = json.loads(line)
                out.append((obj["file"], obj["line"], obj["reason"]))
    return sorted(out)

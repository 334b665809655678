"""``export_model`` / ``export_run``: SavedModels in TF Serving's layout, one per top-K variant.

Layout (``<served name>`` = ``<name>_<variant>``, the model name in ``models.config``)::

    <export_base>/
      models.config                  every exported model (models_config.py)
      models.brute_force.config      brute-force models only (stock tensorflow_model_server)
      <name>_brute_force/<version>/  saved_model.pb, variables/, assets.extra/
      <name>_scann/<version>/        ... (needs the ScaNN ops to load)

The signatures take, next to ``history``, every record feature the model reads besides item ids
(``model.input_features``, e.g. HRNN's ``timestamps``; see ``contract.py``); a model reading one that exports
cannot take is refused before anything is written.

``assets.extra/`` holds ``tfseqrec_export.json`` (what was exported, from what, with which parameters) and
``tf_serving_warmup_requests`` (TF Serving replays them at load time so the first real request is fast).

Versions are integers: by default one more than the largest existing version of any exported variant
(so the variants of one export share a number); an existing version is never overwritten. Each
SavedModel is written to a hidden temporary folder next to its version folders and renamed into place
once every variant is complete, so a server polling ``<name>_<variant>/`` never sees a partial export.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
import uuid
from typing import Optional, Sequence

import tfseqrec
import numpy as np
import tensorflow as tf

from tfseqrec.export import contract
from tfseqrec.export.indexes import ScannConfig, build_index
from tfseqrec.export.models_config import update_export_configs
from tfseqrec.export.quantization import TABLE_PRECISIONS, quantized_twin
from tfseqrec.export.serving_module import ServingModule, check_vocabulary, history_features, row_features
from tfseqrec.ids import FIRST_ITEM_ID

WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
TEMP_PREFIX = ".tmp-"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What an export serves.

    Attributes:
      default_k: items returned by ``serving_default``.
      max_k: the largest ``k`` of ``recommend`` (larger requests are capped).
      exclude_seen: whether ``serving_default`` leaves out the items of the history.
      variants: top-K variants to write (``contract.VARIANTS``), one SavedModel each.
      scann: parameters of the ``scann`` variant's index.
      warmup_requests: write TF Serving's ``assets.extra/tf_serving_warmup_requests``.
      table_precision: ``float32`` (as trained), ``float16`` or ``int8`` (per-row scales): the item table in the
        SavedModel and in the brute-force index, rounded after training (``tfseqrec.export.quantization``).
    """

    default_k: int = 10
    max_k: int = 1000
    exclude_seen: bool = True
    variants: tuple[str, ...] = contract.VARIANTS
    scann: ScannConfig = dataclasses.field(default_factory=ScannConfig)
    warmup_requests: bool = True
    table_precision: str = "float32"

    def __post_init__(self):
        object.__setattr__(self, "variants", tuple(self.variants))
        if not _is_int(self.default_k) or not _is_int(self.max_k) or not 1 <= self.default_k <= self.max_k:
            raise ValueError(f"need 1 <= default_k <= max_k, got default_k={self.default_k!r}, max_k={self.max_k!r}")
        if not isinstance(self.exclude_seen, bool):
            raise ValueError(f"exclude_seen must be a bool, got {self.exclude_seen!r}")
        unknown = [v for v in self.variants if v not in contract.VARIANTS]
        if not self.variants or unknown or len(set(self.variants)) != len(self.variants):
            raise ValueError(f"variants={self.variants!r}: give one or more distinct of {', '.join(contract.VARIANTS)}")
        if not isinstance(self.scann, ScannConfig):
            raise ValueError(f"scann must be a ScannConfig, got {type(self.scann).__name__}")
        if self.table_precision not in TABLE_PRECISIONS:
            raise ValueError(f"table_precision={self.table_precision!r}: use one of {', '.join(TABLE_PRECISIONS)}")


def served_name(name: str, variant: str) -> str:
    """The model name of one variant in ``models.config`` and TF Serving requests."""
    return f"{name}_{variant}"


def existing_versions(model_dir: str) -> list[int]:
    """Integer version folders of ``<export_base>/<served name>`` (hidden temporary folders are not versions)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(d) for d in os.listdir(model_dir) if d.isdigit() and os.path.isdir(os.path.join(model_dir, d)))


def export_model(
    model,
    vocabulary: Sequence[str],
    item_counts: Sequence[float],
    export_base: str,
    name: str,
    version: Optional[int] = None,
    config: Optional[ExportConfig] = None,
    source: Optional[dict] = None,
    calibration_queries: Optional[np.ndarray] = None,
    calibration_source: str = "",
) -> dict[str, str]:
    """Exports a trained ``SequentialRecommender`` as one SavedModel per variant; updates the models.config files.

    Args:
      model: the trained model (its ``num_items`` must equal ``len(vocabulary)``).
      vocabulary: item id strings, index = id (0 = [PAD], 1 = [OOV]), as ``tfseqrec.data.spec.load_vocabulary``.
      item_counts: training count per id (``load_item_counts``), for the most-popular fallback.
      export_base: the folder of all exports (e.g. ``saved_models``).
      name: export name; variant ``v`` is served as ``<name>_<v>``.
      version: integer version; default: the next after the existing ones. Existing versions are refused.
      config: see ``ExportConfig`` (default: ``ExportConfig()``).
      source: extra provenance written into ``tfseqrec_export.json`` (e.g. the run directory).
      calibration_queries: ``[Q, D]`` query embeddings of held-out histories, on which
        ``config.scann.target_recall`` chooses the ScaNN search settings; default: item vectors drawn by
        training popularity; ``calibration_source`` says where they come from (``tfseqrec_export.json``).

    Returns:
      ``{variant: version directory}``. ``<export_base>/models.config`` (and ``models.brute_force.config`` when
      a brute-force variant was written) list the exported models afterwards.
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(
            f"export name {name!r} must start with a letter or digit and use only letters, digits, "
            f"'_', '.', '-' (`tfseqrec export`: pass --name)"
        )
    config = ExportConfig() if config is None else config
    if not isinstance(config, ExportConfig):
        raise ValueError(f"config must be an ExportConfig, got {type(config).__name__}")
    check_vocabulary([str(v) for v in vocabulary], item_counts, model.num_items)
    history_features(model)  # every feature the model reads must be servable: fail before writing anything
    if "scann" in config.variants:  # fail before writing anything
        config.scann.resolve(len(vocabulary) - 2, int(model.config.embedding_dim) + 1)
    if config.table_precision != "float32":
        model = quantized_twin(model, config.table_precision)
    calibration = None
    if "scann" in config.variants and config.scann.target_recall is not None:
        calibration = _calibration_queries(model, item_counts, calibration_queries, calibration_source)
    model_dirs = {v: os.path.join(export_base, served_name(name, v)) for v in config.variants}
    version = _choose_version(model_dirs, version)
    temps: dict[str, str] = {}
    try:
        for variant, model_dir in model_dirs.items():
            os.makedirs(model_dir, exist_ok=True)
            temps[variant] = os.path.join(model_dir, f"{TEMP_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
            _save_variant(
                model, vocabulary, item_counts, variant, temps[variant], name, version, config, source, calibration
            )
        targets = {variant: os.path.join(d, str(version)) for variant, d in model_dirs.items()}
        clashes = [t for t in targets.values() if os.path.exists(t)]
        if clashes:  # created since _choose_version: refuse rather than replace
            raise FileExistsError(f"{', '.join(clashes)} appeared during the export; nothing was overwritten")
        written = {}
        for variant, target in targets.items():
            os.rename(temps.pop(variant), target)
            written[variant] = target
    finally:
        for temp in temps.values():
            shutil.rmtree(temp, ignore_errors=True)
    update_export_configs(export_base, {served_name(name, v): model_dirs[v] for v in written}, list(written))
    return written


def export_run(
    run_dir: str,
    export_base: str,
    name: Optional[str] = None,
    version: Optional[int] = None,
    config: Optional[ExportConfig] = None,
) -> dict[str, str]:
    """Exports the best checkpoint of a ``tfseqrec train`` run (``name`` defaults to the run folder's name).

    Needs the run's dataset (for the vocabulary and counts) at export time only; the export is
    self-contained afterwards.
    """
    from tfseqrec.data.spec import load_item_counts, load_vocabulary
    from tfseqrec.training.trainer import load_trained_model

    if not os.path.isfile(os.path.join(run_dir, "run.json")):
        raise FileNotFoundError(f"{run_dir}/run.json not found: give a run directory of `tfseqrec train`")
    model, run, spec = load_trained_model(run_dir)
    name = name or os.path.basename(os.path.normpath(os.path.abspath(run_dir)))
    source = {
        "run_dir": os.path.abspath(run_dir),
        "data_dir": spec.directory,
        "run_status": run.get("status"),
        "best_epoch": run.get("best_epoch"),
        "test_metrics": run.get("test_metrics"),
        "protocol": {"data": spec.protocol, "evaluation": run.get("protocol")},
    }
    config = ExportConfig() if config is None else config
    queries = None
    if "scann" in config.variants and config.scann.target_recall is not None:
        queries = held_out_queries(model, spec)
    return export_model(
        model,
        load_vocabulary(spec),
        load_item_counts(spec),
        export_base,
        name,
        version,
        config,
        source,
        queries,
        "" if queries is None else f"the model's queries of {len(queries)} validation histories",
    )


def _calibration_queries(model, item_counts, queries, source: str = "", count: int = 500, seed: int = 0):
    """``(queries [Q, D], description)`` for the ScaNN calibration: the given query embeddings, else ``count``
    item vectors drawn by training popularity (a stand-in for queries, which sit near the items they retrieve)."""
    if queries is not None:
        return np.asarray(queries, np.float32), source or f"{len(queries)} query embeddings given to the export"
    counts = np.asarray(item_counts, np.float64)[FIRST_ITEM_ID:]
    p = counts / counts.sum() if counts.sum() > 0 else None
    ids = np.random.default_rng(seed).choice(len(counts), count, p=p) + FIRST_ITEM_ID
    table = np.asarray(model.item_embeddings().numpy(), np.float32)
    return table[ids], f"{count} item vectors drawn by training popularity"


def held_out_queries(model, spec, count: int = 500) -> Optional[np.ndarray]:
    """The model's ``[Q, D]`` query embeddings of the first ``count`` validation histories (None for models that
    read more than item ids, or without validation data)."""
    from tfseqrec.export.litert import split_histories

    if history_features(model) or row_features(model):
        return None
    histories = [h for h in split_histories(spec, "valid", count, model.config.max_len) if h]
    if not histories:
        return None
    width = max(len(h) for h in histories)
    ids = np.zeros((len(histories), width), np.int64)
    for row, h in enumerate(histories):
        ids[row, width - len(h) :] = h
    return np.asarray(tf.cast(model.query(tf.constant(ids), training=False), tf.float32).numpy())


# -- one variant ------------------------------------------------------------------------------------------
def _choose_version(model_dirs: dict[str, str], version: Optional[int]) -> int:
    if version is None:
        return 1 + max([0] + [v for d in model_dirs.values() for v in existing_versions(d)])
    if not _is_int(version) or version < 1:
        raise ValueError(f"version={version!r} must be an int >= 1 (TF Serving versions are positive integers)")
    taken = [d for d in model_dirs.values() if version in existing_versions(d)]
    if taken:
        raise FileExistsError(
            f"version {version} already exists in {', '.join(taken)}; exports are never "
            f"overwritten: pick another --version or omit it for the next free one"
        )
    return int(version)


def _save_variant(
    model,
    vocabulary,
    item_counts,
    variant: str,
    path: str,
    name: str,
    version: int,
    config: ExportConfig,
    source: Optional[dict],
    calibration: Optional[tuple] = None,
) -> None:
    queries, described = calibration or (None, "")
    index = build_index(
        variant,
        model.item_embeddings,
        model.item_biases,
        config.scann,
        config.table_precision,
        calibration_queries=queries,
        calibration_source=described,
    )
    module = ServingModule(
        model,
        vocabulary,
        item_counts,
        index,
        default_k=config.default_k,
        max_k=config.max_k,
        exclude_seen=config.exclude_seen,
    )
    options = tf.saved_model.SaveOptions(namespace_whitelist=["Scann"] if variant == "scann" else None)
    tf.saved_model.save(module, path, signatures=module.signatures(), options=options)
    info = export_info(model, module, variant, name, version, config, source)
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    with open(os.path.join(path, contract.EXPORT_INFO_FILE), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2, default=str)
        f.write("\n")
    if config.warmup_requests:
        write_warmup_requests(
            os.path.join(path, WARMUP_FILE),
            served_name(name, variant),
            vocabulary,
            item_counts,
            module.features,
            module.row_features,
        )


def export_info(
    model, module: ServingModule, variant: str, name: str, version: int, config: ExportConfig, source: Optional[dict]
) -> dict:
    """The content of ``assets.extra/tfseqrec_export.json``."""
    return {
        "served_name": served_name(name, variant),
        "export_name": name,
        "version": version,
        "variant": variant,
        "model": model.registry_name,
        "model_config": model.config.to_dict(),
        "embedding_dim": int(model.config.embedding_dim),
        "max_len": module.max_len,
        "vocabulary_size": module.vocab_size,
        "num_items": module.vocab_size - 2,
        "default_k": config.default_k,
        "max_k": config.max_k,
        "exclude_seen": config.exclude_seen,
        "index": module.index.params(),
        "signatures": [
            contract.SERVING_SIGNATURE,
            contract.RECOMMEND_SIGNATURE,
            contract.ENCODE_SIGNATURE,
            contract.ITEM_EMBEDDINGS_SIGNATURE,
        ],
        "history_features": {n: contract.HISTORY_FEATURES[n] for n in module.features},
        "row_features": {n: contract.ROW_FEATURES[n] for n in module.row_features},
        "padding_token": contract.PADDING_TOKEN,
        "stream_state": module.stream_state_layout.to_dict() if module.stream_start is not None else None,
        "needs_custom_ops": ["Scann"] if variant == "scann" else [],
        "source": source or {},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tfseqrec_version": tfseqrec.__version__,
        "tensorflow_version": tf.__version__,
    }


def write_warmup_requests(
    path: str,
    model_name: str,
    vocabulary: Sequence[str],
    item_counts: Sequence[float],
    features: Sequence[str] = (),
    row_features: Sequence[str] = (),
) -> None:
    """TF Serving's warmup file: a TFRecord of ``PredictionLog`` s, one ``serving_default`` and one ``recommend``
    request on a batch of two rows (the most popular items, and an empty history), with zeros for each history
    feature and row feature the signatures take (``features``, ``row_features``: TF Serving refuses to load a
    model whose warmup fails)."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    from tfseqrec.export.serving_module import most_popular

    ids, _ = most_popular(item_counts, 3)
    items = [vocabulary[i] for i in ids if i > 0]
    width = max(len(items), 1)
    history = [items + [contract.PADDING_TOKEN] * (width - len(items)), [contract.PADDING_TOKEN] * width]
    extra = {n: tf.make_tensor_proto(tf.zeros([2, width], contract.HISTORY_FEATURES[n])) for n in features}
    extra.update({n: tf.make_tensor_proto(tf.zeros([2], contract.ROW_FEATURES[n])) for n in row_features})
    inputs = {
        contract.SERVING_SIGNATURE: {contract.HISTORY: tf.make_tensor_proto(history, tf.string), **extra},
        contract.RECOMMEND_SIGNATURE: {
            contract.HISTORY: tf.make_tensor_proto(history, tf.string),
            contract.K: tf.make_tensor_proto([5, 1], tf.int32),
            contract.EXCLUDE_SEEN: tf.make_tensor_proto([True, False], tf.bool),
            **extra,
        },
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature, tensors in inputs.items():
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = signature
            for key, proto in tensors.items():
                request.inputs[key].CopyFrom(proto)
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())

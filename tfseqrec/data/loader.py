"""A ``tf.data`` loader over the TFRecords written by ``tfseqrec preprocess``.

The records are ``tf.train.Example`` protos with list features (see :mod:`tfseqrec.data.spec`).
The loader batches the *serialized* records first and then parses each batch with one vectorised
``tf.io.parse_example`` call using ``tf.io.RaggedFeature`` for the list features, which is much
faster than parsing record by record. Sequences are then truncated with ragged ops (keeping the
latest items) and padded on the left (default, SASRec style: the last item is in the last column),
on the right, or left ragged.

Ids are used exactly as stored; the vocabulary is never re-derived. The pad id comes from the
spec (``spec.vocabulary.pad_id``, 0).

Usage::

    import tfseqrec  # before tensorflow
    from tfseqrec.data import make_dataset, SequenceBatchConfig

    ds = make_dataset("/data/ml-1m/processed", "train",
                      SequenceBatchConfig(batch_size=256, max_len=200, shuffle_buffer=10_000, seed=1))
    for batch in ds.take(1):
        batch["item_ids"]   # int64 [256, 200], left padded with 0
        batch["lengths"]    # int32 [256]
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Union

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import tensorflow as tf

from tfseqrec.checks import is_int
from tfseqrec.data.spec import FeatureSpec, resolve_spec

__all__ = [
    "SequenceBatchConfig",
    "make_dataset",
    "dataset_size",
    "window_bounds",
    "prefix_bounds",
    "random_prefix_bounds",
    "PADDING_MODES",
    "WINDOW_MODES",
]

PADDING_MODES = ("left", "right", "ragged")
WINDOW_MODES = ("latest", "all", "random", "prefixes")

# Features of the input history: truncated and padded together with ``item_ids``.
_SEQUENCE_FEATURES = ("item_ids", "timestamps", "event_types")
TARGET_EVENT_TYPES = "target_event_types"
# Lists aligned with target_ids, returned (ragged) beside them when the records have them.
_TARGET_LISTS = (TARGET_EVENT_TYPES, "target_timestamps")


@dataclasses.dataclass(frozen=True)
class SequenceBatchConfig:
    """How :func:`make_dataset` batches, truncates and pads sequences.

    Attributes:
      batch_size: records per batch (> 0).
      max_len: if set, keep only the latest ``max_len`` items of each history (the last ``max_len``
        of ``item_ids``, and the same positions of ``timestamps`` / ``event_types``).
      padding: ``"left"`` pads at the front so the most recent item is in the last column (what
        SASRec-style models expect); ``"right"`` pads at the end (the last item is at column
        ``length - 1``); ``"ragged"`` returns ``tf.RaggedTensor`` histories without padding.
      pad_to_max_len: dense outputs are ``[batch, max_len]`` when ``max_len`` is set; otherwise (or
        when False) ``[batch, longest history in the batch]``.
      include_timestamps: also return ``timestamps`` (the feature must be in the spec).
      include_event_types: also return ``event_types`` (the feature must be in the spec).
      include_targets: return ``target_ids``; ``None`` means "when the split has targets", i.e.
        ``target_ids`` is a feature of the spec and ``spec.splits[split].num_targets > 0``.
      shuffle_buffer: records in the shuffle buffer; 0 disables shuffling. File order is
        shuffled too when shuffling.
      seed: seed of the shuffles. With a seed, the whole pipeline is deterministic.
      drop_remainder: drop the last, smaller batch (gives a static batch dimension).
      repeat: repeat the data indefinitely (after shuffling, before batching).
      num_parallel_reads: files read in parallel: ``tf.data.AUTOTUNE``, ``None`` (sequentially)
        or a positive int.
      prefetch: add ``prefetch(tf.data.AUTOTUNE)`` at the end.
      bucket_pool_batches: 0 (default) batches records in (shuffled) file order. ``N > 0`` buckets by
        length: records are read ``N`` batches at a time, sorted by history length, cut into ``N``
        batches, and each dense batch is padded only to its longest history rounded up to
        ``bucket_width_multiple`` (at most ``max_len``), so short histories no longer pay for
        ``max_len`` columns; the batches are then shuffled (buffer ``N``) when shuffling. Models whose
        outputs at real positions do not depend on the padding width (left padding, masked keys) give the
        same per-batch results; a batch then holds histories of similar length. With ``windows="all"`` or
        ``"prefixes"`` the pools hold ``N`` batches of windows (not records), so a pass always gives
        ``ceil(windows / batch_size)`` batches.
      bucket_width_multiple: the padded width of a bucketed batch is a multiple of this (fewer distinct
        shapes, so fewer retraces of a compiled training step).
      windows: with ``max_len`` set, ``"latest"`` (default) keeps each history's latest ``max_len`` items;
        ``"all"`` cuts a longer history into several rows (windows) of at most ``max_len`` items, the latest
        first, each older window ending one item after the start of the next, so that with next-item
        training every item but the first is a target exactly once (:func:`window_bounds`). A batch then
        holds ``batch_size`` windows (rows of one history may share a batch); other features are repeated
        per window. ``"random"`` cuts every history at a random end each time it is read (a uniformly drawn
        prefix of at least 2 items, then its latest ``max_len`` items; :func:`random_prefix_bounds`): one row per
        record, a different context for the same items every pass, like the prefix augmentation of GRU4Rec's
        successors and RecBole's one sample per prefix, but with every position of the prefix a target.
        Reproducible with ``seed``. ``"prefixes"`` makes every prefix of at least 2 items a row (its latest
        ``max_len`` items; :func:`prefix_bounds`): RecBole's one training sample per (prefix, next item),
        ``n - 1`` rows for a history of ``n`` items, so long histories weigh more. With next-item targets on
        every position this repeats early targets; it is meant for cloze training (BERT4Rec), where each
        prefix is a different masked-LM example whose last item is the inference task. Rows are shuffled
        with ``shuffle_buffer`` (not only ``16 * batch_size``) so that a history's prefixes spread out.
    """

    batch_size: int = 128
    max_len: Optional[int] = None
    padding: str = "left"
    pad_to_max_len: bool = True
    include_timestamps: bool = False
    include_event_types: bool = False
    include_targets: Optional[bool] = None
    shuffle_buffer: int = 0
    seed: Optional[int] = None
    drop_remainder: bool = False
    repeat: bool = False
    num_parallel_reads: Optional[int] = tf.data.AUTOTUNE
    prefetch: bool = True
    bucket_pool_batches: int = 0
    bucket_width_multiple: int = 8
    windows: str = "latest"

    def __post_init__(self):
        if not is_int(self.batch_size) or self.batch_size <= 0:
            raise ValueError(f"SequenceBatchConfig.batch_size must be a positive int, got {self.batch_size!r}")
        if self.max_len is not None and (not is_int(self.max_len) or self.max_len <= 0):
            raise ValueError(f"SequenceBatchConfig.max_len must be None or a positive int, got {self.max_len!r}")
        if self.windows not in WINDOW_MODES:
            raise ValueError(f"SequenceBatchConfig.windows must be one of {WINDOW_MODES}, got {self.windows!r}")
        if self.padding not in PADDING_MODES:
            raise ValueError(f"SequenceBatchConfig.padding must be one of {PADDING_MODES}, got {self.padding!r}")
        for name in (
            "pad_to_max_len",
            "include_timestamps",
            "include_event_types",
            "drop_remainder",
            "repeat",
            "prefetch",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"SequenceBatchConfig.{name} must be a bool, got {getattr(self, name)!r}")
        if self.include_targets is not None and not isinstance(self.include_targets, bool):
            raise ValueError(
                f"SequenceBatchConfig.include_targets must be None or a bool, got {self.include_targets!r}"
            )
        if not is_int(self.shuffle_buffer) or self.shuffle_buffer < 0:
            raise ValueError(
                f"SequenceBatchConfig.shuffle_buffer must be an int >= 0 (0 = no shuffle), got {self.shuffle_buffer!r}"
            )
        if self.seed is not None and not is_int(self.seed):
            raise ValueError(f"SequenceBatchConfig.seed must be None or an int, got {self.seed!r}")
        for name, lowest in (("bucket_pool_batches", 0), ("bucket_width_multiple", 1)):
            value = getattr(self, name)
            if not is_int(value) or value < lowest:
                raise ValueError(f"SequenceBatchConfig.{name} must be an int >= {lowest}, got {value!r}")
        n = self.num_parallel_reads
        if n is not None and (not is_int(n) or (n <= 0 and n != tf.data.AUTOTUNE)):
            raise ValueError(
                f"SequenceBatchConfig.num_parallel_reads must be None, tf.data.AUTOTUNE or a positive int, got {n!r}"
            )


def dataset_size(spec: Union[FeatureSpec, str], split: str) -> int:
    """Number of records (sequences) in a split, as recorded in the feature spec."""
    spec = resolve_spec(spec)
    if split not in spec.splits:
        spec.split_pattern(split)  # Raises KeyError listing the available splits.
    return spec.splits[split].num_records


def window_bounds(lengths: tf.Tensor, width: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Windows of at most ``width`` items covering histories of ``lengths [B]`` items (``windows="all"``).

    Row ``b`` of length ``n`` gets ``1 + ceil(max(0, n - width) / (width - 1))`` windows ``[start, end)``:
    ``end = n - k * (width - 1)``, ``start = max(0, end - width)`` for ``k = 0, 1, ...``, so window ``k + 1``
    ends just after window ``k``'s first item, and the next-item targets (every window item but its first)
    cover items ``1 .. n - 1`` once each. ``width == 1`` gives the latest item only.

    Returns ``(row [W], start [W], end [W])`` int64, the latest window of each row first.
    """
    lengths = tf.cast(lengths, tf.int64)
    step = max(width - 1, 1)
    extra = tf.maximum(lengths - width, 0)
    counts = 1 + (extra + step - 1) // step if width > 1 else tf.ones_like(lengths)
    row = tf.repeat(tf.range(tf.size(lengths, out_type=tf.int64)), counts)
    k = tf.ragged.range(counts).flat_values
    end = tf.gather(lengths, row) - k * step
    start = tf.maximum(end - width, 0)
    return row, start, end


def prefix_bounds(lengths: tf.Tensor, width: Optional[int]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Every prefix of histories of ``lengths [B]`` items as a row of at most ``width`` items (``windows="prefixes"``).

    Row ``b`` of length ``n >= 2`` gets ``n - 1`` prefixes ending at ``end = 2 .. n`` (a history of 0 or 1 item
    keeps one row, ``end = n``); ``start = max(0, end - width)`` keeps each prefix's latest ``width`` items
    (``width`` None: all of them).

    Returns ``(row [W], start [W], end [W])`` int64, each row's longest prefix first.
    """
    lengths = tf.cast(lengths, tf.int64)
    counts = tf.maximum(lengths - 1, 1)
    row = tf.repeat(tf.range(tf.size(lengths, out_type=tf.int64)), counts)
    k = tf.ragged.range(counts).flat_values
    end = tf.gather(lengths, row) - k
    start = tf.zeros_like(end) if width is None else tf.maximum(end - width, 0)
    return row, start, end


def random_prefix_bounds(
    lengths: tf.Tensor, max_len: Optional[int], seed: Optional[int] = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(start [B], end [B])`` int64 of one random prefix per history of ``lengths [B]`` (``windows="random"``).

    ``end`` is uniform over ``min(n, 2) .. n`` (a prefix with at least one next-item target when ``n >= 2``), and
    ``start = max(0, end - max_len)`` keeps the prefix's latest ``max_len`` items (``max_len`` None: all of them).
    """
    lengths = tf.cast(lengths, tf.int64)
    shortest = tf.minimum(lengths, 2)
    draw = tf.random.uniform(tf.shape(lengths), seed=seed)
    choices = tf.cast(lengths - shortest + 1, tf.float32)
    end = shortest + tf.minimum(tf.cast(draw * choices, tf.int64), lengths - shortest)
    start = tf.zeros_like(end) if max_len is None else tf.maximum(end - max_len, 0)
    return start, end


def _windowed(rt: tf.RaggedTensor, row: tf.Tensor, start: tf.Tensor, end: tf.Tensor) -> tf.RaggedTensor:
    """Rows ``rt[row[i], start[i]:end[i]]`` as a ragged ``[W, None]``."""
    offsets = tf.gather(rt.row_starts(), row)
    index = tf.ragged.range(offsets + start, offsets + end)
    return tf.RaggedTensor.from_row_lengths(tf.gather(rt.values, index.flat_values), end - start)


def _wanted_features(spec: FeatureSpec, split: str, config: SequenceBatchConfig) -> tuple[list[str], bool]:
    """Which list features to parse (besides item_ids), and whether targets are included."""
    if "item_ids" not in spec.features:
        raise ValueError(
            f"the feature spec of {spec.directory or 'this dataset'} has no 'item_ids' feature; "
            f"features: {sorted(spec.features)}"
        )
    extra = []
    for name, wanted in (("timestamps", config.include_timestamps), ("event_types", config.include_event_types)):
        if wanted:
            if name not in spec.features:
                raise ValueError(
                    f"include_{name}=True but {spec.directory or 'this dataset'} has no {name!r} feature; "
                    f"features: {sorted(spec.features)}"
                )
            extra.append(name)
    if config.include_targets is None:
        targets = "target_ids" in spec.features and spec.splits[split].num_targets > 0
    elif config.include_targets:
        if "target_ids" not in spec.features:
            raise ValueError(
                f"include_targets=True but {spec.directory or 'this dataset'} has no 'target_ids' feature; "
                f"features: {sorted(spec.features)}"
            )
        targets = True
    else:
        targets = False
    return extra, targets


def _parse_spec(spec: FeatureSpec, names: list[str]) -> dict:
    features = {}
    for name in names:
        info = spec.features[name]
        dtype = tf.string if info.dtype == "string" else tf.int64
        if info.kind == "scalar":
            features[name] = tf.io.FixedLenFeature([], dtype)
        else:
            features[name] = tf.io.RaggedFeature(dtype=dtype, row_splits_dtype=tf.int64)
    return features


def _pad(rt: tf.RaggedTensor, padding: str, width: Optional[int], value) -> tf.Tensor:
    """Pads a ragged [batch, None] tensor to dense [batch, width] (width None = longest row)."""
    value = tf.cast(value, rt.dtype)
    shape = [None, width]
    if isinstance(width, tf.Tensor):  # a bucketed batch's own width
        shape = tf.stack([rt.nrows(), tf.cast(width, tf.int64)])
    if padding == "right":
        return rt.to_tensor(default_value=value, shape=shape)
    reversed_rows = tf.reverse(rt, axis=[1])
    return tf.reverse(reversed_rows.to_tensor(default_value=value, shape=shape), axis=[1])


def make_dataset(
    spec_or_dir: Union[FeatureSpec, str], split: str, config: SequenceBatchConfig = SequenceBatchConfig()
) -> tf.data.Dataset:
    """Batches of sequences from one split of a preprocessed dataset.

    Args:
      spec_or_dir: a :class:`FeatureSpec`, or the directory holding ``feature_spec.json``.
      split: a split name of the spec (``"train"``, ``"valid"``, ``"test"``, ...).
      config: batching, truncation, padding and shuffling options.

    Returns:
      A dataset of dicts (``B`` = batch size, ``L`` = ``max_len`` when set and
      ``pad_to_max_len``, else the longest history in the batch after truncation):

      * ``item_ids``: int64 ``[B, L]`` padded with ``spec.vocabulary.pad_id``, or a ragged
        int64 ``[B, None]`` when ``padding="ragged"``. Oldest item first.
      * ``lengths``: int32 ``[B]``, real items per row after truncation.
      * ``sequence_id``: string ``[B]`` (when the spec has the feature; it always should).
      * ``timestamps`` / ``event_types``: int64, same shape and padding as ``item_ids``,
        padded with 0 (when requested).
      * ``target_ids``: ragged int64 ``[B, None]`` (when targets are included), with ``target_event_types``
        and ``target_timestamps`` (ragged, aligned) when the records have them.
      * ``target_id``: int64 ``[B]``, when targets are included, the split has targets
        (``num_targets > 0``) and the protocol says ``targets_per_record == 1``; iterating
        raises ``InvalidArgumentError`` if a record then has a different number of targets.

    Raises:
      KeyError: the split is not in the spec (the message lists the available splits).
      FileNotFoundError: no file matches the split's pattern.
      ValueError: a requested feature is not in the spec.
    """
    if not isinstance(config, SequenceBatchConfig):
        raise TypeError(f"config must be a SequenceBatchConfig, got {type(config).__name__}")
    spec = resolve_spec(spec_or_dir)
    files = _split_files(spec, split)
    parser = _BatchParser(spec, split, config)
    ds = _batches(_read_records(files, spec, config), parser, config)
    options = tf.data.Options()
    options.deterministic = _is_deterministic(config)
    ds = ds.with_options(options)
    if config.prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


def _split_files(spec: FeatureSpec, split: str) -> list[str]:
    """The split's TFRecord files, sorted; raises when the split is unknown or has no file."""
    pattern = spec.split_pattern(split)  # KeyError with the available splits.
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {pattern!r} (split {split!r})")
    return files


def _is_deterministic(config: SequenceBatchConfig) -> bool:
    """Whether element order is fixed: with a seed, or without shuffling."""
    return config.seed is not None or config.shuffle_buffer <= 0


class _BatchParser:
    """Parses batches of serialized records of one split into feature dicts, and pads them.

    ``parse_ragged`` keeps the sequence features ragged ``[B, None]`` (cut into windows or to their latest
    ``max_len`` items); ``pad`` / ``pad_to`` make them dense ``[B, width]``; ``sorted_chunks`` and ``pad_bucket``
    serve the length buckets (``bucket_pool_batches``).
    """

    def __init__(self, spec: FeatureSpec, split: str, config: SequenceBatchConfig):
        self.extra, self.with_targets = _wanted_features(spec, split, config)
        self.dense_target = (
            self.with_targets and spec.splits[split].num_targets > 0 and spec.protocol.get("targets_per_record") == 1
        )
        self.names = ["item_ids"] + self.extra
        if "sequence_id" in spec.features:
            self.names.append("sequence_id")
        if self.with_targets:
            self.names.append("target_ids")
            self.names += [name for name in _TARGET_LISTS if name in spec.features]
        self.features = _parse_spec(spec, self.names)
        for name in _SEQUENCE_FEATURES + ("target_ids",):
            if name in self.features and not isinstance(self.features[name], tf.io.RaggedFeature):
                raise ValueError(f"feature {name!r} must be a list feature, the spec says {spec.features[name]}")
        self.config = config
        self.pad_id = spec.vocabulary.pad_id
        self.max_len = config.max_len
        self.windowed = (config.windows == "all" and self.max_len is not None) or config.windows == "prefixes"
        self.bounds = prefix_bounds if config.windows == "prefixes" else window_bounds
        self.width = self.max_len if (self.max_len is not None and config.pad_to_max_len) else None

    def parse_ragged(self, serialized: tf.Tensor) -> dict:
        """Parses a batch of records; sequence features stay ragged (truncated to ``max_len``)."""
        parsed = tf.io.parse_example(serialized, self.features)
        seq, row = self._cut(self._checked_sequences(parsed))
        out = dict(seq)
        out["lengths"] = tf.cast(seq["item_ids"].row_lengths(), tf.int32)
        if "sequence_id" in parsed:
            out["sequence_id"] = parsed["sequence_id"]
        if self.with_targets:
            out.update(self._targets(parsed["target_ids"]))
            out.update({name: parsed[name] for name in _TARGET_LISTS if name in parsed})
        if row is not None:  # one row per window: repeat the per-record features
            out.update(
                {name: tf.gather(value, row) for name, value in out.items() if name not in seq and name != "lengths"}
            )
        return out

    def _checked_sequences(self, parsed: dict) -> dict:
        """The parsed sequence features, asserting that each has as many items as ``item_ids`` per record."""
        lengths = parsed["item_ids"].row_lengths()
        checks = []
        for name in self.extra:
            checks.append(
                tf.debugging.assert_equal(
                    parsed[name].row_lengths(),
                    lengths,
                    message=f"{name} and item_ids have different lengths in some record",
                )
            )
        seq = {name: parsed[name] for name in self.names if name in _SEQUENCE_FEATURES}
        if checks:
            with tf.control_dependencies(checks):
                seq = {name: tf.identity(rt) for name, rt in seq.items()}
        return seq

    def _cut(self, seq: dict) -> tuple[dict, Optional[tf.Tensor]]:
        """Ragged ``[B, None]`` sequences -> their windows (``windows``) or latest ``max_len`` items.

        Returns ``(sequences, row)``: ``row [W]`` is the record of each window when a record gives several
        rows, else None.
        """
        if self.windowed:
            row, start, end = self.bounds(seq["item_ids"].row_lengths(), self.max_len)
            return {name: _windowed(rt, row, start, end) for name, rt in seq.items()}, row
        if self.config.windows == "random":
            start, end = random_prefix_bounds(seq["item_ids"].row_lengths(), self.max_len, self.config.seed)
            rows = tf.range(seq["item_ids"].nrows())
            return {name: _windowed(rt, rows, start, end) for name, rt in seq.items()}, None
        if self.max_len is not None:
            return {name: rt[:, -self.max_len :] for name, rt in seq.items()}, None  # Keep the latest items.
        return seq, None

    def _targets(self, targets: tf.RaggedTensor) -> dict:
        """``target_ids`` ragged ``[B, None]``, and ``target_id [B]`` when the protocol has one target per record."""
        out = {"target_ids": targets}
        if self.dense_target:
            check = tf.debugging.assert_equal(
                targets.row_lengths(),
                tf.ones_like(targets.row_lengths()),
                message="protocol targets_per_record == 1 but a record has another number of targets",
            )
            with tf.control_dependencies([check]):
                out["target_id"] = tf.identity(targets.to_tensor(default_value=self.pad_id, shape=[None, 1])[:, 0])
        return out

    def pad(self, batch: dict) -> dict:
        """Pads the ragged sequence features of a parsed batch to the configured width (see :meth:`pad_to`)."""
        return self.pad_to(batch, self.width)

    def pad_to(self, batch: dict, batch_width) -> dict:
        """Pads the ragged sequence features of a parsed batch to ``[B, batch_width]`` (None: longest row)."""
        if self.config.padding == "ragged":
            return batch
        return {
            name: (
                _pad(value, self.config.padding, batch_width, self.pad_id if name == "item_ids" else 0)
                if name in _SEQUENCE_FEATURES
                else value
            )
            for name, value in batch.items()
        }

    def parse(self, serialized: tf.Tensor) -> dict:
        return self.pad(self.parse_ragged(serialized))

    def sorted_chunks(self, batch: dict) -> dict:
        """A parsed pool of rows -> its batches by length: every feature gets an outer ``[num_batches]`` dim."""
        batch_size = self.config.batch_size
        order = tf.argsort(batch["lengths"], stable=True)
        count = tf.shape(order, out_type=tf.int64)[0]
        full = count // batch_size
        sizes = tf.concat(
            [tf.fill([full], tf.constant(batch_size, tf.int64)), tf.reshape(count - full * batch_size, [1])], axis=0
        )
        sizes = tf.boolean_mask(sizes, sizes > 0)
        return {name: tf.RaggedTensor.from_row_lengths(tf.gather(value, order), sizes) for name, value in batch.items()}

    def pad_bucket(self, batch: dict) -> dict:
        """Pads a bucketed batch to its longest history rounded up to ``bucket_width_multiple`` (<= ``max_len``)."""
        round_to = self.config.bucket_width_multiple
        longest = tf.reduce_max(tf.concat([batch["lengths"], [1]], axis=0))
        bucket_width = -(-longest // round_to) * round_to
        if self.max_len is not None:
            bucket_width = tf.minimum(bucket_width, self.max_len)
        return self.pad_to(batch, bucket_width)


def _read_records(files: list[str], spec: FeatureSpec, config: SequenceBatchConfig) -> tf.data.Dataset:
    """The serialized records of ``files``: file order and records shuffled when shuffling, repeated if asked."""
    shuffle = config.shuffle_buffer > 0
    file_ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle and len(files) > 1:
        file_ds = file_ds.shuffle(len(files), seed=config.seed, reshuffle_each_iteration=True)
    ds = tf.data.TFRecordDataset(
        file_ds,
        compression_type=(spec.compression or "").upper(),
        num_parallel_reads=config.num_parallel_reads if len(files) > 1 else None,
    )
    if shuffle:
        ds = ds.shuffle(config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True)
    if config.repeat:
        ds = ds.repeat()
    return ds


def _window_rows(records: tf.data.Dataset, parser: _BatchParser, config: SequenceBatchConfig) -> tf.data.Dataset:
    """Serialized records -> one parsed row per window, shuffled again (a history's windows spread out)."""
    rows = records.batch(config.batch_size)
    rows = rows.map(
        parser.parse_ragged, num_parallel_calls=tf.data.AUTOTUNE, deterministic=_is_deterministic(config)
    ).unbatch()
    if config.shuffle_buffer > 0:  # prefixes: ~n rows per history, so a wider buffer
        buffer = (
            config.shuffle_buffer
            if config.windows == "prefixes"
            else min(config.shuffle_buffer, 16 * config.batch_size)
        )
        rows = rows.shuffle(buffer, seed=config.seed, reshuffle_each_iteration=True)
    return rows


def _batches(records: tf.data.Dataset, parser: _BatchParser, config: SequenceBatchConfig) -> tf.data.Dataset:
    """Serialized records -> parsed, padded batches (bucketed by length with ``bucket_pool_batches``)."""
    deterministic = _is_deterministic(config)
    if config.bucket_pool_batches:
        return _bucketed_batches(records, parser, config)
    if parser.windowed:  # more rows than records: parse, split into windows, then batch the windows
        ds = _window_rows(records, parser, config).ragged_batch(config.batch_size, drop_remainder=config.drop_remainder)
        return ds.map(parser.pad, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    ds = records.batch(config.batch_size, drop_remainder=config.drop_remainder)
    return ds.map(parser.parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)


def _bucketed_batches(records: tf.data.Dataset, parser: _BatchParser, config: SequenceBatchConfig) -> tf.data.Dataset:
    """Pools of ``bucket_pool_batches`` batches, sorted by length, cut into batches each padded to its own width."""
    pool = config.bucket_pool_batches
    deterministic = _is_deterministic(config)
    if parser.windowed:  # pools of windows, not of records: every pool but the last gives exactly `pool` batches
        ds = _window_rows(records, parser, config).ragged_batch(config.batch_size * pool)
    else:
        ds = records.batch(config.batch_size * pool)
        ds = ds.map(parser.parse_ragged, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    ds = ds.map(parser.sorted_chunks, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic).unbatch()
    if config.drop_remainder:
        ds = ds.filter(lambda b: tf.shape(b["lengths"])[0] == config.batch_size)
    if config.shuffle_buffer > 0:
        ds = ds.shuffle(pool, seed=config.seed, reshuffle_each_iteration=True)
    return ds.map(parser.pad_bucket, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)

"""The preprocessing pipeline: raw logs in, per-user/per-session sequences out (TFRecords + spec + stats).

``run(config, pipeline_args)`` builds and runs it on any Beam runner: ``pipeline_args`` are standard
Beam options passed through unchanged (``--runner=DataflowRunner --project=... --region=...
--temp_location=gs://...``). Without ``--runner`` it runs on the DirectRunner in multi-process mode.
All reads and writes go through Beam's FileSystems, so ``gs://`` inputs and outputs work alike.

Output directory::

    train-SSSSS-of-NNNNN.tfrecord   valid-....tfrecord   test-....tfrecord   (tf.train.Example, see spec.py)
    vocab.tsv            item<TAB>train count; line number = id (0 [PAD], 1 [OOV])
    feature_spec.json    record layout, splits, vocabulary, protocol (read by tfseqrec.data)
    stats.json           row accounting, users, items, length histogram, item popularity
    rejects-SSSSS-of-NNNNN.jsonl   malformed rows: file, line, reason, detail, text
    item_features.tsv    with side features: id<TAB>item<TAB>value ids per feature (space-separated); line = id + 1
    item_feature_<name>.tsv   value<TAB>train count per feature; line number = value id (0 [PAD], 1 [OOV])
    user_features.tsv, user_feature_<name>.tsv   the same for user features (row<TAB>user<TAB>...)
    feature_rejects-SSSSS-of-NNNNN.jsonl   malformed rows of the feature tables
"""

from __future__ import annotations

import datetime
import logging
import os
import platform
from typing import NamedTuple, Optional, Sequence as Seq

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from beam_pipelines import (
    feature_tables,
    feature_transforms as FT,
    readers,
    side_features as side_features_lib,
    stats as stats_lib,
    transforms as T,
)
from beam_pipelines.config import PreprocessConfig
from tfseqrec import __version__, io_utils
from tfseqrec.data.spec import (
    FeatureInfo,
    FeatureSpec,
    SPEC_FILENAME,
    STATS_FILENAME,
    SplitFiles,
    VOCAB_FILENAME,
    VocabularyInfo,
)

log = logging.getLogger(__name__)

OUTPUT_PATTERNS = (
    "train-*",
    "valid-*",
    "test-*",
    "rejects-*",
    "feature_rejects-*",
    "item_features.tsv",
    "item_feature_*.tsv",
    "user_features.tsv",
    "user_feature_*.tsv",
    VOCAB_FILENAME,
    SPEC_FILENAME,
    STATS_FILENAME,
)


def default_pipeline_options(pipeline_args: Seq[str]) -> PipelineOptions:
    """Beam options from ``pipeline_args``, with local defaults when no runner (or the DirectRunner) is named:
    multi-process mode, 2 workers (or fewer cores), and WARNING-level logs from the worker processes."""
    args = list(pipeline_args)
    runner = PipelineOptions(args).view_as(StandardOptions).runner
    if runner in (None, "DirectRunner", "direct"):
        given = " ".join(args)
        defaults = {
            "--direct_running_mode": "multi_processing",
            "--direct_num_workers": str(max(1, min(os.cpu_count() or 1, 2))),
            "--default_sdk_harness_log_level": "WARNING",
        }
        args += [f"{flag}={value}" for flag, value in defaults.items() if flag not in given]
    return PipelineOptions(args)


def prepare_output_dir(output_dir: str, overwrite: bool, inputs: Seq[str] = ()) -> None:
    """Refuses to mix runs: an output directory that already holds our files needs ``overwrite``; and refuses to
    replace a file among ``inputs`` (the run reads it)."""
    existing = [p for pattern in OUTPUT_PATTERNS for p in io_utils.match(io_utils.join(output_dir, pattern))]
    clashes = sorted({_normalized(p) for p in existing} & {_normalized(p) for p in inputs})
    if clashes:
        raise readers.InputError(
            f"input {clashes[0]} is in --output-dir and has the name of an output file, which the run replaces; "
            f"move it or choose another --output-dir"
        )
    if existing and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds preprocessing output ({len(existing)} files, e.g. {existing[0]}); "
            f"pass --overwrite to replace it or choose another --output-dir"
        )
    if existing:
        FileSystems.delete(existing)
    if "://" not in output_dir:
        os.makedirs(output_dir, exist_ok=True)


def _normalized(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def split_names(cfg: PreprocessConfig) -> list[str]:
    """Splits this protocol writes: train always; valid and test unless there is nothing to put there."""
    if cfg.split.protocol == "none":
        return ["train"]
    if cfg.split.protocol == "session" and cfg.split.valid_days == 0:
        return ["train", "test"]
    return ["train", "valid", "test", *cfg.split.cold_splits()]


def build_pipeline(
    p: beam.Pipeline,
    cfg: PreprocessConfig,
    plan: readers.InputPlan,
    tables: tuple[feature_tables.TablePlan, ...] = (),
) -> None:
    """Lays out every step on pipeline ``p`` (see ``beam_pipelines.config`` for the order and rules)."""
    counts = []  # the row accounting of every step, collected into stats.json
    rows, seqs, kcore_rounds = _sequences(p, cfg, plan, counts)
    lengths = seqs | "LengthHistogram" >> T.LengthHistogram()
    users = (
        seqs
        | "UserKeys" >> beam.Map(lambda s: s.user if s.user is not None else s.key)
        | "DistinctUsers" >> beam.Distinct()
        | "CountUsers" >> beam.combiners.Count.Globally()
    )
    event_types = seqs | "EventTypes" >> T.EventTypeVocabulary()

    split = seqs | "Split" >> T.SplitSequences(cfg.split)
    counts.append(split[T.COUNTS])
    eval_pairs = {name: split[name] for name in split_names(cfg)[1:]}
    base = T.read_base_vocabulary(cfg.output.base_vocabulary) if cfg.output.base_vocabulary else None
    vocab = _vocabularies(cfg, split, eval_pairs, event_types, base)
    summaries = _side_features(p, cfg, plan, tables, rows, seqs, split.train, vocab.items, counts)
    suffix = _write_records(cfg, split, eval_pairs, vocab, counts)

    all_counts = counts | "FlattenCounts" >> beam.Flatten() | "Counts" >> T.CollectCounts()
    popularity = vocab.items | "Popularity" >> beam.Map(stats_lib.popularity_summary)
    num_items = vocab.items | "NumItems" >> beam.Map(len)
    side = {
        "counts": beam.pvalue.AsSingleton(all_counts),
        "lengths": beam.pvalue.AsSingleton(lengths),
        "popularity": beam.pvalue.AsSingleton(popularity),
        "num_items": beam.pvalue.AsSingleton(num_items),
        "num_users": beam.pvalue.AsSingleton(users),
        "event_types": beam.pvalue.AsSingleton(event_types),
    }
    if kcore_rounds is not None:
        side["kcore"] = beam.pvalue.AsSingleton(kcore_rounds)
    if summaries is not None:
        side["side_features"] = beam.pvalue.AsList(summaries)
    (
        p
        | "Once" >> beam.Create([None])
        | "WriteSpecAndStats"
        >> beam.Map(
            _write_spec_and_stats,
            cfg=cfg,
            plan=plan,
            tables=tables,
            suffix=suffix,
            base_size=None if base is None else len(base) + 2,
            **side,
        )
    )


def _sequences(p: beam.Pipeline, cfg: PreprocessConfig, plan: readers.InputPlan, counts: list):
    """Read (rejects written), row filters, grouping into sequences, repeats, sessions and k-core.

    Returns ``(rows that passed the filters, sequences, k-core rounds or None)``; appends each step's counts.
    """
    parsed = p | "Read" >> T.ReadInteractions(plan)
    counts.append(parsed[T.COUNTS])
    (
        parsed[T.REJECTS]
        | "RejectsToJson" >> beam.Map(T.reject_to_json)
        | "WriteRejects"
        >> beam.io.WriteToText(io_utils.join(cfg.output.output_dir, "rejects"), file_name_suffix=".jsonl")
    )

    filtered = parsed.rows | "FilterRows" >> T.FilterRows(cfg.filters)
    counts.append(filtered[T.COUNTS])
    seqs = filtered.rows | "Group" >> T.GroupIntoSequences(plan.has_time, plan.has_events)

    if cfg.filters.remove_consecutive_repeats:
        deduped = seqs | "RemoveRepeats" >> T.RemoveConsecutiveRepeats()
        counts.append(deduped[T.COUNTS])
        seqs = deduped.seqs
    if cfg.filters.session_gap_seconds is not None:
        seqs = seqs | "Sessionize" >> T.Sessionize(cfg.filters.session_gap_seconds)

    kcore_rounds = None
    if cfg.filters.kcore_enabled:
        kcore = seqs | "KCore" >> T.IterativeKCore(cfg.filters)
        counts.append(kcore[T.COUNTS])
        seqs, kcore_rounds = kcore["seqs"], kcore["rounds"]
    return filtered.rows, seqs, kcore_rounds


class _Vocabularies(NamedTuple):
    """The item vocabulary and the side inputs that map items and event types to ids."""

    items: beam.PCollection  # one element: the vocabulary (items with their train counts, in id order)
    ids: beam.pvalue.AsSingleton  # item -> id
    train_ids: beam.pvalue.AsSingleton  # item -> id, items of train sessions only (or ``ids``)
    event_ids: beam.pvalue.AsSingleton  # event type -> 1-based id


def _vocabularies(
    cfg: PreprocessConfig, split, eval_pairs: dict, event_types: beam.PCollection, base: Optional[list] = None
) -> _Vocabularies:
    """Builds the item vocabulary (written to ``vocab.tsv``; ``base``: the earlier run's items, which keep their
    ids) and the event type ids."""
    is_session = cfg.split.protocol == "session"
    extra_items = None
    if eval_pairs and not is_session:
        extra_items = [
            eval_pairs[n] | f"{n}Targets" >> beam.Map(lambda pair: pair[1]) for n in eval_pairs
        ] | "EvalTargets" >> beam.Flatten()
    valid_items_known = is_session and cfg.split.test_vocabulary == "train_valid" and "valid" in eval_pairs
    if valid_items_known:  # validation sessions' items join the vocabulary (count 0) so that test keeps them
        extra_items = eval_pairs["valid"] | "ValidSessionItems" >> beam.Map(lambda pair: pair[0])
    vocab = split.train | "Vocabulary" >> T.BuildVocabulary(extra_items, base)
    vocab_ids = beam.pvalue.AsSingleton(vocab | "VocabIds" >> beam.Map(T.vocabulary_to_ids))
    # Items of train sessions only: what validation sessions may keep (test too unless train_valid).
    train_item_ids = (
        beam.pvalue.AsSingleton(vocab | "TrainItemIds" >> beam.Map(T.trained_vocabulary_ids))
        if valid_items_known
        else vocab_ids
    )
    event_ids = beam.pvalue.AsSingleton(
        event_types | "EventIds" >> beam.Map(lambda types: {t: i + 1 for i, t in enumerate(types)})
    )
    vocab_path = io_utils.join(cfg.output.output_dir, VOCAB_FILENAME)
    (
        vocab
        | "VocabText" >> beam.Map(T.vocabulary_file_text)
        | "WriteVocab" >> beam.Map(lambda text: io_utils.write_text(vocab_path, text))
    )
    return _Vocabularies(vocab, vocab_ids, train_item_ids, event_ids)


def _side_features(p, cfg: PreprocessConfig, plan, tables, rows, seqs, train, item_vocab, counts: list):
    """Reads the feature tables (rejects written) and builds the item and user feature tables.

    Returns a PCollection of one summary per entity with features, or None when the run has none.
    """
    log_columns = plan.columns.features
    if not tables and not log_columns:
        return None
    side, out_dir = cfg.side_features, cfg.output.output_dir
    rows_of = {"item": [], "user": []}
    if tables:
        read = p | "ReadFeatureTables" >> FT.ReadFeatureTables(tables)
        counts.append(read[T.COUNTS])
        (
            read[T.REJECTS]
            | "FeatureRejectsToJson" >> beam.Map(T.reject_to_json)
            | "WriteFeatureRejects"
            >> beam.io.WriteToText(io_utils.join(out_dir, "feature_rejects"), file_name_suffix=".jsonl")
        )
        rows_of["item"].append(read.item)
        rows_of["user"].append(read.user)
    if log_columns:
        rows_of["item"].append(
            rows
            | "SideFeatures" >> T.ItemSideFeatures(len(log_columns))
            | "LogFeatureRows" >> beam.FlatMap(FT.interaction_feature_rows, log_columns)
        )
    user_key = "user_id" if cfg.filters.session_gap_seconds is not None else "sequence_id"
    summaries = []
    for entity, key in (("item", "item_ids"), ("user", user_key)):
        sources = FT.feature_sources(tables, entity, log_columns if entity == "item" else ())
        if not sources:
            continue
        index = item_vocab if entity == "item" else seqs | "UserVocabulary" >> FT.UserVocabulary(train)
        built = (
            rows_of[entity]
            | f"{entity}FeatureRows" >> beam.Flatten()
            | f"{entity}FeatureTable"
            >> FT.BuildFeatureTable(entity, sources, index, key, side.max_values, side.min_count, out_dir)
        )
        counts.append(built[T.COUNTS])
        summaries.append(built["summary"])
    return summaries | "FeatureSummaries" >> beam.Flatten()


def _write_records(cfg: PreprocessConfig, split, eval_pairs: dict, vocab: _Vocabularies, counts: list) -> str:
    """Encodes and writes the TFRecords of every split (session splits: unseen items dropped first); returns
    the files' suffix."""
    is_session = cfg.split.protocol == "session"
    suffix = ".tfrecord" + (".gz" if cfg.output.compression == "GZIP" else "")
    compression = CompressionTypes.GZIP if cfg.output.compression == "GZIP" else CompressionTypes.UNCOMPRESSED
    to_encode = {"train": (split.train, False, True, False)}
    for name, pairs in eval_pairs.items():
        if is_session:
            known = vocab.ids if name == "test" else vocab.train_ids
            kept = pairs | f"FilterUnseen_{name}" >> T.FilterEvalSessions(known)
            counts.append(kept[T.COUNTS])
            pairs = kept.pairs
        # (elements, paired, count truncation, with targets)
        to_encode[name] = (pairs, True, is_session, not is_session)
    cold = set(cfg.split.cold_splits())  # their events are counted once, as the new users' (kept/new_user_events)
    for name, (elements, paired, count_truncation, with_targets) in to_encode.items():
        encoded = elements | f"Encode_{name}" >> T.EncodeRecords(
            name,
            cfg.output.max_len,
            paired,
            count_truncation,
            with_targets,
            vocab.ids,
            vocab.event_ids,
            targets_kept=name not in cold,
        )
        counts.append(encoded[T.COUNTS])
        encoded.records | f"Write_{name}" >> beam.io.WriteToTFRecord(
            io_utils.join(cfg.output.output_dir, name),
            file_name_suffix=suffix,
            num_shards=cfg.output.num_shards,
            compression_type=compression,
        )
    return suffix


def _write_spec_and_stats(
    _,
    cfg: PreprocessConfig,
    plan: readers.InputPlan,
    suffix: str,
    counts: dict,
    lengths: dict,
    popularity: dict,
    num_items: int,
    num_users: int,
    event_types: list,
    tables: tuple = (),
    kcore: Optional[dict] = None,
    side_features: Optional[list] = None,
    base_size: Optional[int] = None,
) -> None:
    out_dir = cfg.output.output_dir
    feature_tables_info = side_features_lib.spec_tables(side_features or [], counts)
    protocol = cfg.split.protocol
    splits = {
        name: SplitFiles(
            file_pattern=f"{name}-*{suffix}",
            num_records=counts.get(f"records/{name}", 0),
            num_targets=counts.get(f"kept/{name}_targets", counts.get(f"held_out/{name}_targets", 0)),
        )
        for name in split_names(cfg)
    }
    features = {
        "sequence_id": FeatureInfo("string", "scalar", "user id, or session id"),
        "item_ids": FeatureInfo("int64", "list", "input history, oldest first (vocabulary ids)"),
    }
    if cfg.filters.session_gap_seconds is not None:
        features["user_id"] = FeatureInfo("string", "scalar", "user the session belongs to")
        features["session_index"] = FeatureInfo("int64", "scalar", "0-based session number within the user")
    if plan.has_time:
        features["timestamps"] = FeatureInfo("int64", "list", "event times of item_ids, ms since epoch")
    if plan.has_events:
        features["event_types"] = FeatureInfo("int64", "list", "event type ids of item_ids (1-based)")
    if protocol in ("leave_one_out", "temporal", "cold_start"):
        features["target_ids"] = FeatureInfo("int64", "list", "items to predict (valid/test records)")
        if plan.has_time:
            features["target_timestamps"] = FeatureInfo("int64", "list", "times of target_ids, ms since epoch")
        if plan.has_events:
            features["target_event_types"] = FeatureInfo("int64", "list", "event type ids of target_ids (1-based)")
    protocol_info = stats_lib.protocol_description(cfg)
    spec = FeatureSpec(
        features=features,
        splits=splits,
        vocabulary=VocabularyInfo(
            file=VOCAB_FILENAME,
            size=num_items + 2,
            num_items=num_items,
            base_file=cfg.output.base_vocabulary,
            base_size=base_size,
        ),
        protocol=protocol_info,
        event_types=list(event_types),
        compression=cfg.output.compression,
        time_unit="ms" if plan.has_time else None,
        item_features=feature_tables_info.get("item"),
        user_features=feature_tables_info.get("user"),
    )
    io_utils.write_json(io_utils.join(out_dir, SPEC_FILENAME), spec.to_json())
    stats = stats_lib.assemble_stats(cfg, plan, counts, lengths, popularity, num_items, num_users, kcore)
    if side_features:
        stats["side_features"] = stats_lib.side_feature_stats(side_features, tables, counts)
    stats["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    stats["tfseqrec_version"] = __version__
    stats["python"] = platform.python_version()
    io_utils.write_json(io_utils.join(out_dir, STATS_FILENAME), stats)


def _remove_temp_dirs(output_dir: str) -> None:
    """Beam's file sinks can leave empty ``beam-temp-*`` directories behind; they are not output."""
    leftovers = io_utils.match(io_utils.join(output_dir, "beam-temp-*"))
    if leftovers:
        FileSystems.delete(leftovers)


def run(
    cfg: PreprocessConfig,
    pipeline_args: Seq[str] = (),
    overwrite: bool = False,
    options: Optional[PipelineOptions] = None,
) -> dict:
    """Plans the inputs (failing early on bad ones), runs the pipeline and returns ``stats.json``'s content."""
    plan = readers.plan_inputs(cfg.inputs, cfg.reader)
    if cfg.split.protocol in ("temporal", "session", "cold_start") and not plan.has_time:
        raise readers.InputError(
            f"the {cfg.split.protocol} split needs a time column, and none was found in {plan.files[0]}; "
            f"name it with --time-col"
        )
    if cfg.filters.session_gap_seconds is not None and not plan.has_time:
        raise readers.InputError(f"--session-gap needs a time column; none was found in {plan.files[0]}")
    if cfg.filters.min_rating is not None and not plan.has_rating:
        raise readers.InputError(f"--min-rating needs a rating column; none was found in {plan.files[0]}")
    if cfg.filters.event_types and not plan.has_events:
        raise readers.InputError(f"--event-types needs an event type column; none was found in {plan.files[0]}")
    tables = feature_tables.plan_feature_tables(cfg.side_features, plan.columns.features)
    prepare_output_dir(cfg.output.output_dir, overwrite, plan.files + tuple(f for t in tables for f in t.files))
    options = options or default_pipeline_options(pipeline_args)
    log.info("preprocessing %d file(s) as %s with columns %s", len(plan.files), plan.format, plan.columns)
    with beam.Pipeline(options=options) as p:
        build_pipeline(p, cfg, plan, tables)
    _remove_temp_dirs(cfg.output.output_dir)
    stats_path = io_utils.join(cfg.output.output_dir, STATS_FILENAME)
    return io_utils.read_json(stats_path) if io_utils.exists(stats_path) else {}

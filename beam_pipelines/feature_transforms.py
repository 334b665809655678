"""The side-feature steps as Beam ``PTransform``s: read the tables, then, per entity, build each feature's vocabulary
and the table from item id (user row) to value ids. The rules are those of ``beam_pipelines.side_features``.

Like the item vocabulary, each entity's finished table passes through one combiner (one entry per item or user,
not per row); everything before it is keyed per (feature, id) or per (feature, value).
"""

from __future__ import annotations

from typing import Optional

import apache_beam as beam

from beam_pipelines import feature_tables, side_features as sf
from beam_pipelines.feature_tables import FeatureRow, TablePlan
from beam_pipelines.records import Reject, Sequence
from beam_pipelines.transforms import COUNTS, REJECTS, CountingDoFn, RankByCountFn
from tfseqrec import io_utils
from tfseqrec.ids import FIRST_ITEM_ID


class _ParseTableFn(CountingDoFn):
    def __init__(self, plans: tuple[TablePlan, ...]):
        self.plans = {plan.index: plan for plan in plans}

    def process(self, element):
        index, file_index, path = element
        plan = self.plans[index]
        for row in feature_tables.iter_table_rows(plan, file_index, path, self.counts):
            if isinstance(row, Reject):
                yield beam.pvalue.TaggedOutput(REJECTS, row)
            else:
                yield beam.pvalue.TaggedOutput(plan.entity, row)


class ReadFeatureTables(beam.PTransform):
    """Table files -> ``FeatureRow``s on the outputs ``item`` and ``user``, ``Reject``s and counts."""

    def __init__(self, plans: tuple[TablePlan, ...]):
        super().__init__()
        self.plans = plans

    def expand(self, pbegin):
        files = [(plan.index, f, path) for plan in self.plans for f, path in enumerate(plan.files)]
        return (
            pbegin
            | "ListTableFiles" >> beam.Create(files)
            | "SpreadTableFiles" >> beam.Reshuffle()
            | "ParseTables"
            >> beam.ParDo(_ParseTableFn(self.plans)).with_outputs("item", "user", REJECTS, COUNTS, main="none")
        )


def interaction_feature_rows(pair, names: tuple[str, ...]):
    """``(item, [most frequent value per column])`` -> one ``FeatureRow`` per column with a value."""
    item, values = pair
    for name, value in zip(names, values):
        if value:
            yield FeatureRow(name, item, (value,), (-1, 0, 0, 0))


def user_key(seq: Sequence) -> str:
    """The id user features are keyed by: the user of a session, else the sequence key."""
    return seq.user if seq.user is not None else seq.key


class UserVocabulary(beam.PTransform):
    """Sequences -> one ``[(user, train interactions), ...]`` element, ordered like the item vocabulary.

    Every user of ``seqs`` is in it (count 0 when none of its sequences is in ``train``).
    """

    def __init__(self, train: beam.PCollection):
        super().__init__()
        self.train = train

    def expand(self, seqs):
        every = seqs | "EveryUser" >> beam.Map(lambda s: (user_key(s), 0))
        trained = self.train | "TrainInteractions" >> beam.Map(lambda s: (user_key(s), len(s.items)))
        return (
            (every, trained)
            | "AllUsers" >> beam.Flatten()
            | "SumPerUser" >> beam.CombinePerKey(sum)
            | "OrderUsers" >> beam.CombineGlobally(RankByCountFn())
        )


class _JoinCapFn(CountingDoFn):
    """((feature, id), [(position, values)]) -> (feature, row, kept values); ``value_counts`` out: ((feature,
    value), train count of the id)."""

    def __init__(self, entity: str, max_values: int):
        self.entity, self.max_values = entity, max_values

    def process(self, element, index: dict):
        (name, key), parts = element
        found = index.get(key)
        if found is None:
            self.counts[sf.counter(self.entity, "ids_not_in_vocabulary", name)] += 1
            return
        row, train_count = found
        values, repeated = sf.merge_values(parts)
        kept, dropped = sf.cap_values(values, self.max_values)
        self.counts[sf.counter(self.entity, "values_repeated", name)] += repeated
        if dropped:
            self.counts[sf.counter(self.entity, "ids_truncated", name)] += 1
            self.counts[sf.counter(self.entity, "values_truncated", name)] += dropped
        for value in kept:
            yield beam.pvalue.TaggedOutput("value_counts", ((name, value), train_count))
        yield name, row, kept


class _EncodeFn(CountingDoFn):
    def __init__(self, entity: str):
        self.entity = entity

    def process(self, element, ids: dict):
        name, row, values = element
        encoded, unknown = sf.encode_values(values, ids[name])
        self.counts[sf.counter(self.entity, "values_unknown", name)] += unknown
        yield name, row, encoded


class _FeatureVocabulariesFn(beam.CombineFn):
    """((feature, value), count) pairs -> ``{feature: [(value, count), ...]}`` (``side_features.value_vocabulary``)."""

    def __init__(self, names: tuple[str, ...], min_count: int):
        self.names, self.min_count = names, min_count

    def create_accumulator(self):
        return {}

    def add_input(self, acc, pair):
        (name, value), n = pair
        values = acc.setdefault(name, {})
        values[value] = values.get(value, 0) + n
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for acc in accs:
            for name, values in acc.items():
                merged = out.setdefault(name, {})
                for value, n in values.items():
                    merged[value] = merged.get(value, 0) + n
        return out

    def extract_output(self, acc):
        return {name: sf.value_vocabulary(acc.get(name, {}), self.min_count) for name in self.names}


class _GatherRowsFn(beam.CombineFn):
    """(feature, row, value ids) -> ``{feature: {row: value ids}}``."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, element):
        name, row, ids = element
        acc.setdefault(name, {})[row] = ids
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for acc in accs:
            for name, rows in acc.items():
                out.setdefault(name, {}).update(rows)
        return out

    def extract_output(self, acc):
        return acc


class BuildFeatureTable(beam.PTransform):
    """One entity's ``FeatureRow``s -> vocabulary files, the table file and a summary (outputs ``summary``, counts).

    ``index`` is a one-element PCollection: the entity's vocabulary ``[(id, train count), ...]`` in row order from
    row 2 (the item vocabulary, or ``UserVocabulary``). ``sources`` maps each feature to where it came from;
    ``key_feature`` is the record feature whose value picks a row (``item_ids``; ``sequence_id`` or ``user_id``).
    """

    def __init__(
        self,
        entity: str,
        sources: dict,
        index: beam.PCollection,
        key_feature: str,
        max_values: int,
        min_count: int,
        output_dir: str,
    ):
        super().__init__()
        self.entity, self.sources, self.index, self.key_feature = entity, dict(sources), index, key_feature
        self.max_values, self.min_count, self.output_dir = max_values, min_count, output_dir

    def expand(self, rows):
        entity, names = self.entity, tuple(self.sources)
        index_ids = beam.pvalue.AsSingleton(
            self.index
            | "IndexIds" >> beam.Map(lambda vocab: {k: (i + FIRST_ITEM_ID, n) for i, (k, n) in enumerate(vocab)})
        )
        joined = (
            rows
            | "KeyByFeatureAndId" >> beam.Map(lambda r: ((r.name, r.key), (r.pos, r.values)))
            | "GroupByFeatureAndId" >> beam.GroupByKey()
            | "JoinAndCap"
            >> beam.ParDo(_JoinCapFn(entity, self.max_values), index_ids).with_outputs(
                "value_counts", COUNTS, main="rows"
            )
        )
        vocabularies = (
            joined.value_counts
            | "SumPerValue" >> beam.CombinePerKey(sum)
            | "Vocabularies" >> beam.CombineGlobally(_FeatureVocabulariesFn(names, self.min_count))
        )
        ids = beam.pvalue.AsSingleton(
            vocabularies | "ValueIds" >> beam.Map(lambda vocabs: {name: sf.value_ids(v) for name, v in vocabs.items()})
        )
        encoded = joined.rows | "EncodeValues" >> beam.ParDo(_EncodeFn(entity), ids).with_outputs(COUNTS, main="rows")
        summary = (
            encoded.rows
            | "GatherRows" >> beam.CombineGlobally(_GatherRowsFn())
            | "WriteTable"
            >> beam.Map(
                write_feature_files,
                index=beam.pvalue.AsSingleton(self.index),
                vocabularies=beam.pvalue.AsSingleton(vocabularies),
                entity=entity,
                sources=self.sources,
                key_feature=self.key_feature,
                output_dir=self.output_dir,
            )
        )
        counts = (joined[COUNTS], encoded[COUNTS]) | "FeatureCounts" >> beam.Flatten()
        return {"summary": summary, COUNTS: counts}


def write_feature_files(
    rows: dict,
    index: list,
    vocabularies: dict,
    entity: str,
    sources: dict,
    key_feature: str,
    output_dir: str,
) -> dict:
    """Writes each feature's vocabulary file and the entity's table file; returns the entity's summary."""
    write = io_utils.write_text
    keys = sf.entity_keys(index)
    columns, features = {}, {}
    for name, source in sources.items():
        vocabulary = vocabularies.get(name, [])
        write(io_utils.join(output_dir, sf.vocabulary_filename(entity, name)), sf.vocabulary_text(vocabulary))
        columns[name], table_summary = sf.table_rows(len(keys), rows.get(name, {}))
        features[name] = {"source": source, "num_values": len(vocabulary), **table_summary}
    write(io_utils.join(output_dir, sf.TABLE_FILES[entity]), sf.table_text(entity, keys, columns))
    return {
        "entity": entity,
        "file": sf.TABLE_FILES[entity],
        "key": key_feature,
        "num_rows": len(keys),
        "features": features,
    }


def feature_sources(plans: tuple[TablePlan, ...], entity: str, interaction_cols: Optional[tuple] = ()) -> dict:
    """``{feature: source}`` of one entity, in the order features were named: log columns first, then tables."""
    sources = {name: feature_tables.INTERACTIONS_SOURCE for name in interaction_cols or ()}
    for plan in plans:
        if plan.entity == entity:
            sources.update({name: plan.source for name in plan.fields})
    return sources

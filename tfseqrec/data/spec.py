"""The feature spec: the contract between the preprocessing pipeline and everything that reads its output.

The pipeline writes ``feature_spec.json`` next to the TFRecords. Training, evaluation and serving
read it to learn the record layout, which files hold which split, the vocabulary and the protocol,
so that nothing downstream re-derives them.

Records are ``tf.train.Example`` protos with list features (one record per user or session):

===================  =======  ====================================================================
feature              dtype    meaning
===================  =======  ====================================================================
``sequence_id``      string   user id, or session id (always present, one value)
``user_id``          string   user id when sequences are sessions of known users (optional)
``session_index``    int64    0-based session number within the user (sessionized data only)
``item_ids``         int64    input history, oldest first, vocabulary ids (0 = padding, 1 = OOV)
``timestamps``       int64    event times of ``item_ids`` in milliseconds (if the input had times)
``event_types``      int64    event-type ids of ``item_ids`` (1-based, see ``event_types``; optional)
``target_ids``       int64    items to predict after ``item_ids`` (valid/test splits; empty in train)
``target_timestamps`` int64   times of ``target_ids`` in milliseconds (if times are known)
``target_event_types`` int64  event-type ids of ``target_ids`` (if the input had event types)
===================  =======  ====================================================================

Side features (``item_features`` / ``user_features``, optional; see :class:`SideFeatureTable`) are not in the
records: each feature has a vocabulary file and a column in a table file that maps an item id (or a user) to value
ids; :mod:`tfseqrec.data.side_features` loads them as dense arrays.

Why ``Example`` with list features rather than ``SequenceExample``: one ``tf.io.parse_example``
call with ``tf.io.RaggedFeature`` parses a whole batch into ragged tensors (vectorised), the same
parser serves any split, and TF Serving / TFX tooling handle ``Example`` natively.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from tfseqrec import io_utils
from tfseqrec.ids import OOV_ID, PAD_ID

SPEC_FILENAME = "feature_spec.json"
STATS_FILENAME = "stats.json"
VOCAB_FILENAME = "vocab.tsv"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class FeatureInfo:
    """One feature of the records: dtype is ``int64`` or ``string``; ``kind`` is ``scalar`` or ``list``."""

    dtype: str
    kind: str
    description: str = ""


@dataclasses.dataclass(frozen=True)
class SplitFiles:
    """Where one split's records are: a glob relative to the output directory, and how many there are."""

    file_pattern: str
    num_records: int
    num_targets: int = 0


@dataclasses.dataclass(frozen=True)
class VocabularyInfo:
    """The item vocabulary file: one ``item<TAB>train_count`` line per id, line number = id.

    Line 0 is ``[PAD]`` (id 0), line 1 is ``[OOV]`` (id 1), real items start at id 2, ordered by
    training frequency (descending; ties by item id string). A vocabulary extending an earlier one
    (``tfseqrec preprocess --base-vocabulary``) keeps that one's ``base_size`` ids first (from ``base_file``),
    then the new items.
    """

    file: str
    size: int
    num_items: int
    pad_id: int = PAD_ID
    oov_id: int = OOV_ID
    base_file: Optional[str] = None
    base_size: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class SideFeatureInfo:
    """One side feature: where its values come from, its vocabulary, and its rows' shape in the table.

    ``vocabulary_file`` has ``value<TAB>train count`` lines, line number = value id: 0 ``[PAD]``, 1 ``[OOV]``,
    real values from 2 by train count (the train interactions of the items, or users, that have the value).
    ``vocabulary_size`` counts PAD and OOV (``num_values`` + 2). ``max_values`` is M, the columns of the dense
    table ``[num_rows, M]`` (the longest row); ``multi_valued`` says whether some row holds more than one id.
    ``covered`` / ``missing``: real rows (items, users) with / without a value in the source (a missing row
    holds ``[OOV]``); ``coverage = covered / (covered + missing)``. ``source`` is the table as given to
    ``--item-features`` / ``--user-features``, or ``interactions`` for ``--item-feature-cols``.
    """

    source: str
    field: str
    vocabulary_file: str
    vocabulary_size: int
    num_values: int
    max_values: int
    multi_valued: bool
    covered: int
    missing: int
    coverage: float


@dataclasses.dataclass(frozen=True)
class SideFeatureTable:
    """The side features of one entity (items or users) and the file that maps each row to value ids.

    ``file`` (``item_features.tsv`` / ``user_features.tsv``) is a header line ``id<TAB>item<TAB><feature>...``
    (users: ``row<TAB>user<TAB>...``) and then one line per row, rows 0 .. ``num_rows - 1`` in order: the row
    number, the item (user) id string, and per feature its value ids separated by spaces. Row 0 is ``[PAD]`` (no
    ids), row 1 ``[OOV]`` (``[OOV]``). ``key`` is the record feature that picks a row: ``item_ids`` (item vocabulary
    ids are row numbers: ``num_rows`` = vocabulary size) or ``sequence_id`` / ``user_id`` (strings found in the
    file's second column; an unknown one is row 1).
    """

    file: str
    key: str
    num_rows: int
    features: dict[str, SideFeatureInfo]

    @classmethod
    def from_json(cls, d: Optional[dict], directory: str) -> Optional["SideFeatureTable"]:
        if not d:
            return None
        if "features" not in d:
            raise ValueError(
                f"{directory or 'feature spec'}: its side features predate this version of tfseqrec; "
                f"re-run `tfseqrec preprocess`."
            )
        fields = {f.name for f in dataclasses.fields(SideFeatureInfo)}
        features = {k: SideFeatureInfo(**{f: v[f] for f in fields}) for k, v in d["features"].items()}
        return cls(file=d["file"], key=d["key"], num_rows=d["num_rows"], features=features)


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """Everything a reader needs to know about one preprocessed dataset directory."""

    features: dict[str, FeatureInfo]
    splits: dict[str, SplitFiles]
    vocabulary: VocabularyInfo
    protocol: dict[str, Any]
    event_types: list[str] = dataclasses.field(default_factory=list)
    compression: Optional[str] = None
    record_type: str = "tf.train.Example"
    time_unit: Optional[str] = "ms"
    item_features: Optional[SideFeatureTable] = None
    user_features: Optional[SideFeatureTable] = None
    format_version: int = FORMAT_VERSION
    directory: str = ""

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("directory")
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any], directory: str = "") -> "FeatureSpec":
        if d.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{directory or 'feature spec'}: format_version {d.get('format_version')!r} is not "
                f"{FORMAT_VERSION}; re-run `tfseqrec preprocess` with this version of tfseqrec."
            )
        return cls(
            features={k: FeatureInfo(**v) for k, v in d["features"].items()},
            splits={k: SplitFiles(**v) for k, v in d["splits"].items()},
            vocabulary=VocabularyInfo(**d["vocabulary"]),
            protocol=d["protocol"],
            event_types=list(d.get("event_types", [])),
            compression=d.get("compression"),
            record_type=d.get("record_type", "tf.train.Example"),
            time_unit=d.get("time_unit"),
            item_features=SideFeatureTable.from_json(d.get("item_features"), directory),
            user_features=SideFeatureTable.from_json(d.get("user_features"), directory),
            format_version=d["format_version"],
            directory=directory,
        )

    def split_pattern(self, split: str) -> str:
        """Absolute glob of a split's TFRecord files."""
        if split not in self.splits:
            raise KeyError(
                f"split {split!r} is not in {self.directory or 'this dataset'}; available: {sorted(self.splits)}"
            )
        return io_utils.join(self.directory, self.splits[split].file_pattern)

    @property
    def vocabulary_path(self) -> str:
        return io_utils.join(self.directory, self.vocabulary.file)

    def side_features(self, entity: str) -> SideFeatureTable:
        """The item (``entity="item"``) or user side features; KeyError naming what there is when absent."""
        table = {"item": self.item_features, "user": self.user_features}.get(entity)
        if entity not in ("item", "user"):
            raise KeyError(f"entity {entity!r}: use 'item' or 'user'")
        if table is None:
            raise KeyError(
                f"{self.directory or 'this dataset'} has no {entity} side features; preprocess with "
                f"--{entity}-features FILE" + (" or --item-feature-cols" if entity == "item" else "")
            )
        return table

    @property
    def num_items(self) -> int:
        """Real items in the catalogue (vocabulary size minus padding and OOV)."""
        return self.vocabulary.num_items


def load_feature_spec(directory: str) -> FeatureSpec:
    """Reads ``feature_spec.json`` from a directory written by ``tfseqrec preprocess``."""
    path = io_utils.join(directory, SPEC_FILENAME)
    if not io_utils.exists(path):
        raise FileNotFoundError(f"{path} not found: is {directory!r} an output directory of `tfseqrec preprocess`?")
    return FeatureSpec.from_json(io_utils.read_json(path), directory=directory)


def load_vocabulary(spec: FeatureSpec) -> list[str]:
    """Item id strings, index = integer id (0 = [PAD], 1 = [OOV])."""
    lines = io_utils.read_text(spec.vocabulary_path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.split("\t", 1)[0] for line in lines]


def load_item_counts(spec: FeatureSpec) -> list[int]:
    """Training count per id from ``vocab.tsv`` (0 for ``[PAD]`` and ``[OOV]``), length = vocabulary size."""
    lines = io_utils.read_text(spec.vocabulary_path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    counts = []
    for number, line in enumerate(lines, 1):
        try:
            counts.append(int(line.rsplit("\t", 1)[1]))
        except (IndexError, ValueError):
            raise ValueError(
                f"{spec.vocabulary_path}, line {number}: expected 'item<TAB>count', got {line!r}"
            ) from None
    return counts


def resolve_spec(spec_or_dir) -> FeatureSpec:
    """A ``FeatureSpec`` as given, or loaded from a directory path."""
    if isinstance(spec_or_dir, FeatureSpec):
        return spec_or_dir
    if isinstance(spec_or_dir, (str, bytes)) or hasattr(spec_or_dir, "__fspath__"):
        import os

        return load_feature_spec(os.fsdecode(spec_or_dir))
    raise TypeError(f"expected a FeatureSpec or a directory path, got {type(spec_or_dir).__name__}")

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
===================  =======  ====================================================================

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
    training frequency (descending; ties by item id string).
    """

    file: str
    size: int
    num_items: int
    pad_id: int = PAD_ID
    oov_id: int = OOV_ID


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
    item_features: dict[str, Any] = dataclasses.field(default_factory=dict)
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
            item_features=dict(d.get("item_features", {})),
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

"""Reading what the preprocessing pipeline wrote: the feature spec and a tf.data loader."""

from tfseqrec.data.side_features import (
    load_feature_vocabulary,
    load_item_feature_table,
    load_user_feature_table,
)
from tfseqrec.data.spec import FeatureSpec, SplitFiles, VocabularyInfo, load_feature_spec, load_vocabulary

__all__ = [
    "FeatureSpec",
    "load_feature_vocabulary",
    "load_item_feature_table",
    "load_user_feature_table",
    "SplitFiles",
    "VocabularyInfo",
    "load_feature_spec",
    "load_vocabulary",
    "make_dataset",
    "SequenceBatchConfig",
]


def __getattr__(name):  # Lazy: the loader imports TensorFlow, the spec does not.
    if name in ("make_dataset", "SequenceBatchConfig"):
        from tfseqrec.data import loader

        return getattr(loader, name)
    raise AttributeError(name)

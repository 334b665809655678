"""The side-feature part of the spec and the table loader, on files written by hand (no pipeline)."""

import json

import numpy as np
import pytest

from tfseqrec.data import load_feature_spec, load_feature_vocabulary, load_item_feature_table, load_user_feature_table
from tfseqrec.data.side_features import feature_info, load_feature_table
from tfseqrec.data.spec import FeatureSpec, SideFeatureInfo, SideFeatureTable, VocabularyInfo

GENRES = SideFeatureInfo(
    source="movies.dat",
    field="genres",
    vocabulary_file="item_feature_genres.tsv",
    vocabulary_size=5,
    num_values=3,
    max_values=2,
    multi_valued=True,
    covered=2,
    missing=1,
    coverage=0.666667,
)
AGE = SideFeatureInfo("users.dat", "age", "user_feature_age.tsv", 3, 1, 1, False, 1, 1, 0.5)


def _spec_json(item_features, user_features=None) -> dict:
    spec = FeatureSpec(
        features={},
        splits={},
        vocabulary=VocabularyInfo("vocab.tsv", 5, 3),
        protocol={"split": "none"},
        item_features=item_features,
        user_features=user_features,
    )
    return spec.to_json()


def _dataset(tmp_path, item_rows=None, spec_changes=None):
    items = SideFeatureTable("item_features.tsv", "item_ids", 5, {"genres": GENRES})
    users = SideFeatureTable("user_features.tsv", "sequence_id", 4, {"age": AGE})
    spec = _spec_json(items, users)
    spec.update(spec_changes or {})
    (tmp_path / "feature_spec.json").write_text(json.dumps(spec))
    (tmp_path / "vocab.tsv").write_text("[PAD]\t0\n[OOV]\t0\nm1\t5\nm2\t3\nm3\t0\n")
    (tmp_path / "item_feature_genres.tsv").write_text("[PAD]\t0\n[OOV]\t0\nDrama\t8\nComedy\t5\nNoir\t3\n")
    rows = item_rows or ["0\t[PAD]\t", "1\t[OOV]\t1", "2\tm1\t2 4", "3\tm2\t3", "4\tm3\t1"]
    (tmp_path / "item_features.tsv").write_text("id\titem\tgenres\n" + "\n".join(rows) + "\n")
    (tmp_path / "user_features.tsv").write_text("row\tuser\tage\n0\t[PAD]\t\n1\t[OOV]\t1\n2\tu7\t2\n3\tu1\t1\n")
    (tmp_path / "user_feature_age.tsv").write_text("[PAD]\t0\n[OOV]\t0\n25\t4\n")
    return load_feature_spec(str(tmp_path))


def test_spec_round_trip_with_item_and_user_tables():
    items = SideFeatureTable("item_features.tsv", "item_ids", 5, {"genres": GENRES})
    users = SideFeatureTable("user_features.tsv", "user_id", 4, {"age": AGE})
    d = json.loads(json.dumps(_spec_json(items, users)))
    assert d["item_features"]["features"]["genres"]["vocabulary_file"] == "item_feature_genres.tsv"
    spec = FeatureSpec.from_json(d)
    assert spec.item_features == items and spec.user_features == users
    assert spec.side_features("user") == users
    bare = FeatureSpec.from_json(json.loads(json.dumps(_spec_json(None))) | {"item_features": {}})
    assert bare.item_features is None and bare.user_features is None
    with pytest.raises(KeyError, match="has no user side features; preprocess with --user-features FILE"):
        bare.side_features("user")


def test_spec_with_the_older_item_features_layout_asks_for_a_rerun():
    d = _spec_json(None) | {"item_features": {"file_pattern": "item_features-*.tsv", "columns": ["brand"]}}
    with pytest.raises(ValueError, match="re-run `tfseqrec preprocess`"):
        FeatureSpec.from_json(d, "data/x")


def test_dense_item_table_user_table_and_vocabularies(tmp_path):
    spec = _dataset(tmp_path)
    table = load_item_feature_table(spec, "genres")
    assert table.dtype == np.int64
    np.testing.assert_array_equal(table, [[0, 0], [1, 0], [2, 4], [3, 0], [1, 0]])
    assert load_feature_vocabulary(str(tmp_path), "item", "genres") == ["[PAD]", "[OOV]", "Drama", "Comedy", "Noir"]
    keys, ages = load_user_feature_table(spec, "age")
    assert keys == ["[PAD]", "[OOV]", "u7", "u1"]
    np.testing.assert_array_equal(ages, [[0], [1], [2], [1]])
    assert feature_info(spec, "item", "genres") == GENRES
    with pytest.raises(KeyError, match="no item feature 'brand'; the item features are genres"):
        load_item_feature_table(spec, "brand")


@pytest.mark.parametrize(
    "rows,message",
    [
        (["0\t[PAD]\t", "1\t[OOV]\t1", "2\tm1\t2 4", "3\tm2\t3"], "4 rows, but feature_spec.json says 5"),
        (["0\t[PAD]\t", "1\t[OOV]\t1", "2\tm1\t2 4", "4\tm2\t3", "3\tm3\t1"], "row 3: expected '3<TAB>id"),
        (["0\t[PAD]\t", "1\t[OOV]\t1", "2\tm1\t2 3 4", "3\tm2\t3", "4\tm3\t1"], "at most 2 ids below 5"),
        (["0\t[PAD]\t", "1\t[OOV]\t1", "2\tm1\t2 9", "3\tm2\t3", "4\tm3\t1"], "value ids \\[2, 9\\] do not fit"),
    ],
)
def test_a_table_that_contradicts_the_spec_is_an_error_naming_file_and_row(tmp_path, rows, message):
    spec = _dataset(tmp_path, item_rows=rows)
    with pytest.raises(ValueError, match=message):
        load_feature_table(spec, "item", "genres")


def test_item_table_must_have_a_row_per_vocabulary_id(tmp_path):
    spec = _dataset(tmp_path, spec_changes={"vocabulary": {"file": "vocab.tsv", "size": 6, "num_items": 4}})
    with pytest.raises(ValueError, match="the 'genres' table has 5 rows, the vocabulary 6"):
        load_item_feature_table(spec, "genres")

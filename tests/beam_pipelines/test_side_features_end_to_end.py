"""`tfseqrec preprocess` with item and user feature tables on a tiny log: the tables, vocabularies, spec and
stats.json read back and compared with ids computed by hand.

The log (leave-one-out) gives u1: a b c a, u2: b a b d, u3: a c, so train = u1 [a b], u2 [b a], u3 [a c]:
train counts a 3, b 2, c 1, d 0 (d is only a test target), hence item ids a 2, b 3, c 4, d 5 and V = 6.
A value's count is the train count of the items that have it.
"""

import json

import numpy as np
import pytest

from tests.beam_pipelines.test_end_to_end import T0, _preprocess, _write_log
from tfseqrec.cli import main
from tfseqrec.data import load_feature_spec, load_feature_vocabulary, load_item_feature_table, load_user_feature_table

LOG = ["user_id,item_id,timestamp"] + [
    f"{user},{item},{T0 + k}"
    for k, (user, item) in enumerate(
        [("u1", "a"), ("u1", "b"), ("u1", "c"), ("u1", "a")]
        + [("u2", "b"), ("u2", "a"), ("u2", "b"), ("u2", "d")]
        + [("u3", "a"), ("u3", "c")]
    )
]


def _run(tmp_path, *flags):
    log = _write_log(tmp_path / "log.csv", LOG)
    out = tmp_path / "out"
    stats = _preprocess(log, out, *flags)
    assert stats["items"] == 4 and stats["rows"]["balanced"]
    return out, stats, load_feature_spec(str(out))


def test_json_attribute_map_vocabularies_oov_truncation_and_coverage(tmp_path):
    table = {
        "a": {"brand": "acme", "categories": ["food", "snack", "food"]},
        "b": {"brand": "zeta", "categories": ["toys"]},
        "c": {"brand": None, "categories": [["nested"]]},
        "d": {"brand": "nova", "categories": ["food", "rare1", "rare2", "rare3"]},
        "z": {"brand": "acme"},
    }
    path = tmp_path / "items.json"
    path.write_text(json.dumps(table))
    out, stats, spec = _run(tmp_path, "--item-features", str(path), "--max-feature-values", "3")
    # brand: acme (a: 3) = 2, zeta (b: 2) = 3; nova only on d (count 0) -> OOV; c has none -> [OOV]
    assert load_feature_vocabulary(spec, "item", "brand") == ["[PAD]", "[OOV]", "acme", "zeta"]
    np.testing.assert_array_equal(load_item_feature_table(spec, "brand"), [[0], [1], [2], [3], [1], [1]])
    # categories: a [food snack] (food repeated), b [toys], d capped to [food rare1 rare2] -> [food OOV]
    assert load_feature_vocabulary(spec, "item", "categories") == ["[PAD]", "[OOV]", "food", "snack", "toys"]
    expected = [[0, 0], [1, 0], [2, 3], [4, 0], [1, 0], [2, 1]]
    table_ids = load_item_feature_table(spec, "categories")
    assert table_ids.dtype == np.int64 and table_ids.shape == (6, 2)
    np.testing.assert_array_equal(table_ids, expected)
    assert (out / "item_feature_categories.tsv").read_text() == "[PAD]\t0\n[OOV]\t0\nfood\t3\nsnack\t3\ntoys\t2\n"

    brand, categories = spec.item_features.features["brand"], spec.item_features.features["categories"]
    assert (spec.item_features.file, spec.item_features.key, spec.item_features.num_rows) == (
        "item_features.tsv",
        "item_ids",
        6,
    )
    assert (brand.source, brand.vocabulary_file, brand.vocabulary_size, brand.max_values) == (
        str(path),
        "item_feature_brand.tsv",
        4,
        1,
    )
    assert (brand.multi_valued, brand.covered, brand.missing, brand.coverage) == (False, 3, 1, 0.75)
    assert (categories.num_values, categories.max_values, categories.multi_valued) == (3, 2, True)
    side = stats["side_features"]
    brand_stats = side["item"]["features"]["brand"]
    assert (brand_stats["values_unknown"], brand_stats["ids_not_in_vocabulary"], brand_stats["ids_truncated"]) == (
        1,
        1,
        0,
    )
    counters = {
        k: side["item"]["features"]["categories"][k]
        for k in ("covered", "missing", "values_unknown", "values_repeated", "ids_truncated", "values_truncated")
    }
    assert counters == {
        "covered": 3,
        "missing": 1,
        "values_unknown": 2,
        "values_repeated": 1,
        "ids_truncated": 1,
        "values_truncated": 1,
    }
    assert [(t["rows_read"], t["rejected_by_reason"]) for t in side["tables"]] == [(5, {"bad_value": 1})]
    (reject_file,) = out.glob("feature_rejects-*.jsonl")
    (reject,) = [json.loads(line) for line in reject_file.read_text().splitlines()]
    assert (reject["line"], reject["reason"]) == (3, "bad_value") and "nested" in reject["text"]


def test_movielens_genres_and_user_table(tmp_path):
    movies = tmp_path / "movies.dat"
    lines = [
        "a::Amélie (2001)::Comédie|Romance",
        "b::Toy Story (1995)::Animation|Children's|Comedy",
        "c::Heat (1995)::Action|Crime|Thriller",
        "x::broken",
    ]
    movies.write_bytes("\n".join(lines).encode("latin-1"))
    users = tmp_path / "users.dat"
    users.write_text("u1::F::25\nu2::M::25\nu9::M::56\n")
    out, stats, spec = _run(
        tmp_path,
        *("--item-features", str(movies), "--item-feature-columns", "item,title,genres"),
        *("--item-feature-fields", "genres", "--feature-encoding", "latin-1"),
        *("--user-features", str(users), "--user-feature-columns", "user,gender,age"),
    )
    genres = load_feature_vocabulary(spec, "item", "genres")
    assert genres == ["[PAD]", "[OOV]", "Comédie", "Romance", "Animation", "Children's", "Comedy"] + [
        "Action",
        "Crime",
        "Thriller",
    ]
    table = load_item_feature_table(spec, "genres")
    np.testing.assert_array_equal(table, [[0, 0, 0], [1, 0, 0], [2, 3, 0], [4, 5, 6], [7, 8, 9], [1, 0, 0]])
    assert list(spec.item_features.features) == ["genres"]
    # users u1, u2, u3 have 2 train interactions each: rows 2, 3, 4 by id; u3 has no row, u9 is not in the data
    assert spec.user_features.key == "sequence_id" and spec.user_features.num_rows == 5
    keys, gender = load_user_feature_table(spec, "gender")
    assert keys == ["[PAD]", "[OOV]", "u1", "u2", "u3"]
    np.testing.assert_array_equal(gender, [[0], [1], [2], [3], [1]])
    assert load_feature_vocabulary(spec, "user", "gender") == ["[PAD]", "[OOV]", "F", "M"]
    np.testing.assert_array_equal(load_user_feature_table(spec, "age")[1], [[0], [1], [2], [2], [1]])
    user_stats = stats["side_features"]["user"]["features"]["gender"]
    assert (user_stats["covered"], user_stats["missing"], user_stats["ids_not_in_vocabulary"]) == (2, 1, 1)
    movie_table = stats["side_features"]["tables"][0]
    assert (movie_table["format"], movie_table["rows_read"], movie_table["rejected_by_reason"]) == (
        "movielens",
        4,
        {"wrong_field_count": 1},
    )


def test_csv_table_min_count_and_stats_summary(tmp_path, capsys):
    shop = tmp_path / "shop.csv"
    shop.write_text("item_id,color,tags\na,red,x|y\nb,blue,\nb,,z\nq,green,x\nd,red,x,extra\n")
    out, stats, spec = _run(tmp_path, "--item-features", str(shop), "--feature-min-count", "3")
    # counts: red 3 (a), blue 2 (b), x 3, y 3, z 2 (b): blue and z are below 3 -> OOV
    assert load_feature_vocabulary(spec, "item", "color") == ["[PAD]", "[OOV]", "red"]
    np.testing.assert_array_equal(load_item_feature_table(spec, "color"), [[0], [1], [2], [1], [1], [1]])
    np.testing.assert_array_equal(
        load_item_feature_table(spec, "tags"), [[0, 0], [1, 0], [2, 3], [1, 0], [1, 0], [1, 0]]
    )
    features = stats["side_features"]["item"]["features"]
    assert [(features[n]["covered"], features[n]["values_unknown"]) for n in ("color", "tags")] == [(2, 1), (2, 1)]
    assert stats["side_features"]["tables"][0]["rejected_by_reason"] == {"wrong_field_count": 1}
    capsys.readouterr()
    assert main(["stats", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"item table {shop} (csv): rows read 5, rejects 1 (wrong_field_count 1)" in printed
    assert (
        "item feature color: 1 values, up to 1 per item, covers 2 of 4 items (50.0%); 1 values unknown, "
        "1 table items not in the vocabulary" in printed
    )


def test_feature_options_fail_before_the_run_with_the_file_named(tmp_path, capsys):
    log = _write_log(tmp_path / "log.csv", LOG)
    movies = tmp_path / "movies.dat"
    movies.write_text("a::Heat::Action\n")
    code = main(
        ["preprocess", "--input", str(log), "--output-dir", str(tmp_path / "o"), "--item-features", str(movies)]
    )
    assert code != 0 and not (tmp_path / "o" / "stats.json").exists()
    assert "movies.dat: a MovieLens :: table has no header" in capsys.readouterr().err


def test_loader_errors_name_what_is_there(tmp_path):
    _, _, spec = _run(tmp_path)
    with pytest.raises(KeyError, match="has no item side features; preprocess with --item-features FILE"):
        load_item_feature_table(spec, "genres")


def test_user_features_of_sessions_are_keyed_by_user_id(tmp_path):
    users = tmp_path / "users.csv"
    users.write_text("user_id,age\nu1,25\nu2,31\nu3,25\n")
    _, _, spec = _run(tmp_path, "--user-features", str(users), "--session-gap", "3600", "--split", "none")
    # sessions u1#0, u2#0, u3#0; train interactions u1 4, u2 4, u3 2 -> rows u1, u2 (tie: by id), u3
    assert spec.user_features.key == "user_id" and "user_id" in spec.features
    keys, age = load_user_feature_table(spec, "age")
    assert keys == ["[PAD]", "[OOV]", "u1", "u2", "u3"]
    assert load_feature_vocabulary(spec, "user", "age") == ["[PAD]", "[OOV]", "25", "31"]
    np.testing.assert_array_equal(age, [[0], [1], [2], [3], [2]])


def test_a_table_in_the_output_dir_with_an_output_name_is_never_replaced(tmp_path, capsys):
    log = _write_log(tmp_path / "log.csv", LOG)
    out = tmp_path / "out"
    out.mkdir()
    table = out / "item_features.tsv"
    table.write_text("item_id\tbrand\na\tacme\n")
    args = ["--input", str(log), "--output-dir", str(out), "--item-features", str(table), "--overwrite"]
    assert main(["preprocess", *args]) != 0
    assert "item_features.tsv is in --output-dir" in capsys.readouterr().err
    assert table.read_text() == "item_id\tbrand\na\tacme\n" and sorted(p.name for p in out.iterdir()) == [table.name]

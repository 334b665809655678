"""Side-feature tables: planning (formats, id column, fields) and parsing into rows and rejects, format by format."""

import json
from collections import Counter

import pytest

from beam_pipelines.config import FeatureTablesConfig, SideFeatureConfig
from beam_pipelines.feature_tables import FeatureRow, iter_table_rows, plan_feature_tables
from beam_pipelines.readers import InputError
from beam_pipelines.records import Reject


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return str(path)


def _items(*files, encoding="utf-8", separator="|", **kwargs):
    return SideFeatureConfig(
        items=FeatureTablesConfig("item", files=tuple(files), **kwargs), encoding=encoding, separator=separator
    )


def _parse(plan):
    counts = Counter()
    rows = [row for f, path in enumerate(plan.files) for row in iter_table_rows(plan, f, path, counts)]
    return rows, counts


def _values(rows):
    return [(r.name, r.key, r.values) for r in rows if isinstance(r, FeatureRow)]


def _rejects(rows):
    return [(r.line, r.reason) for r in rows if isinstance(r, Reject)]


def test_json_map_of_fields_values_lists_and_bad_values(tmp_path):
    table = {
        "a": {"brand": "acme", "categories": ["food", "snack"], "price": 3.5},
        "b": {"brand": None, "categories": [], "in_stock": True},
        "c": {"categories": [["nested"]], "brand": 7},
        "": {"brand": "nobody"},
        "d": ["not", "an", "object"],
    }
    path = _write(tmp_path / "attrs.json", json.dumps(table))
    (plan,) = plan_feature_tables(_items(path))
    assert (plan.format, plan.fields, plan.list_feature) == ("json", ("brand", "categories", "price", "in_stock"), None)
    rows, counts = _parse(plan)
    assert _values(rows) == [
        ("brand", "a", ("acme",)),
        ("categories", "a", ("food", "snack")),
        ("price", "a", ("3.5",)),
        ("in_stock", "b", ("true",)),
        ("brand", "c", ("7",)),
    ]
    assert _rejects(rows) == [(3, "bad_value"), (4, "bad_id"), (5, "bad_value")]
    assert counts["table/0/rows_read"] == 5 and counts["table/0/rejected/bad_value"] == 2


def test_json_map_of_plain_lists_is_one_feature_named_after_the_file(tmp_path):
    path = _write(tmp_path / "Beauty_item2attributes.json", '{"4": [1, 2, 3], "83": [4], "9": 5}')
    (plan,) = plan_feature_tables(_items(path))
    assert plan.fields == ("Beauty_item2attributes",)
    rows, _ = _parse(plan)
    assert _values(rows) == [
        ("Beauty_item2attributes", "4", ("1", "2", "3")),
        ("Beauty_item2attributes", "83", ("4",)),
        ("Beauty_item2attributes", "9", ("5",)),
    ]
    # one object among plain values: a map of objects whose other entries are rejected rows
    (mixed,) = plan_feature_tables(_items(_write(tmp_path / "mixed.json", '{"4": [1], "5": {"brand": "x"}}')))
    rows, _ = _parse(mixed)
    assert (
        mixed.fields == ("brand",)
        and _values(rows) == [("brand", "5", ("x",))]
        and _rejects(rows) == [(1, "bad_value")]
    )
    with pytest.raises(InputError, match="a JSON map table is one object"):
        plan_feature_tables(_items(_write(tmp_path / "list.json", "[1, 2]")))


def test_movielens_table_with_named_columns_latin1_and_multi_valued_genres(tmp_path):
    text = (
        "1::Toy Story (1995)::Animation|Children's|Comedy\n"
        "73::Misérables, Les (1995)::Drama|Musical\n"
        "\n"
        "99::no genres::\n"
        "5::broken\n"
    )
    path = _write(tmp_path / "movies.dat", text, encoding="latin-1")
    with pytest.raises(InputError, match="a MovieLens :: table has no header; name its columns"):
        plan_feature_tables(_items(path, encoding="latin-1"))
    cfg = _items(path, encoding="latin-1", columns=("item", "title", "genres"))
    (plan,) = plan_feature_tables(cfg)
    assert (plan.format, plan.id_col, plan.fields) == ("movielens", "item", ("title", "genres"))
    rows, counts = _parse(plan)
    assert _values(rows) == [
        ("title", "1", ("Toy Story (1995)",)),
        ("genres", "1", ("Animation", "Children's", "Comedy")),
        ("title", "73", ("Misérables, Les (1995)",)),
        ("genres", "73", ("Drama", "Musical")),
        ("title", "99", ("no genres",)),
    ]
    assert _rejects(rows) == [(5, "wrong_field_count")] and counts["table/0/rows_read"] == 4
    (utf8,) = plan_feature_tables(_items(path, columns=("item", "title", "genres"), fields=("genres",)))
    rows, _ = _parse(utf8)
    assert _rejects(rows) == [(2, "not_utf8"), (5, "wrong_field_count")]


def test_csv_with_header_detected_id_separator_and_repeated_ids(tmp_path):
    text = 'movieId,title,genres\n1,"Toy Story, The",Animation|Comedy\n2,Heat,\n,No id,Drama\n3,x\n1,again,Drama\n'
    path = _write(tmp_path / "movies.csv", text)
    (plan,) = plan_feature_tables(_items(path, fields=("genres",)))
    assert (plan.id_col, plan.fields, plan.delimiter) == ("movieId", ("genres",), ",")
    rows, _ = _parse(plan)
    assert _values(rows) == [("genres", "1", ("Animation", "Comedy")), ("genres", "1", ("Drama",))]
    assert _rejects(rows) == [(4, "bad_id"), (5, "wrong_field_count")]
    (whole,) = plan_feature_tables(_items(path, fields=("genres",), separator=""))
    assert _values(_parse(whole)[0])[0] == ("genres", "1", ("Animation|Comedy",))


def test_headerless_tables_and_a_header_where_columns_say_none(tmp_path):
    path = _write(tmp_path / "genres.tsv", "1\tAnimation|Children's|Comedy\n3\tThriller\n")
    (plan,) = plan_feature_tables(_items(path, columns=("item", "genres")))
    assert plan.delimiter == "\t"
    assert _values(_parse(plan)[0]) == [
        ("genres", "1", ("Animation", "Children's", "Comedy")),
        ("genres", "3", ("Thriller",)),
    ]
    # a headerless csv: the value separator in the first row does not make it the delimiter
    path = _write(tmp_path / "genres.csv", "1,Animation|Children's|Comedy\n")
    (plan,) = plan_feature_tables(_items(path, columns=("item", "genres")))
    assert plan.delimiter == "," and _values(_parse(plan)[0])[0][2] == ("Animation", "Children's", "Comedy")
    # u.item-like: | is the only delimiter there is
    (plan,) = plan_feature_tables(
        _items(_write(tmp_path / "u.csv", "1|Toy Story|0|1\n"), columns=("item", "t", "x", "y"))
    )
    assert plan.delimiter == "|"
    with_header = _write(tmp_path / "header.tsv", "item\tbrand\na\tacme\n")
    with pytest.raises(InputError, match="looks like a header .* --item-feature-columns says the file has none"):
        plan_feature_tables(_items(with_header, columns=("item", "brand")))


def test_jsonl_table_rows(tmp_path):
    lines = ['{"item_id": "a", "tags": ["x", "y"]}', '{"tags": ["z"]}', "[1]", '{"item_id": 5, "tags": "w"}']
    path = _write(tmp_path / "items.jsonl", "\n".join(lines) + "\n")
    (plan,) = plan_feature_tables(_items(path))
    assert (plan.format, plan.id_col, plan.fields) == ("jsonl", "item_id", ("tags",))
    rows, _ = _parse(plan)
    assert _values(rows) == [("tags", "a", ("x", "y")), ("tags", "5", ("w",))]
    assert _rejects(rows) == [(2, "bad_id"), (3, "bad_json")]


def test_format_without_a_known_extension_is_told_by_the_first_line(tmp_path):
    plans = plan_feature_tables(
        _items(
            _write(tmp_path / "u.genres", "1::Comedy\n"),
            _write(tmp_path / "map.data", '{"1": {"brand": "x"}}'),
            _write(tmp_path / "rows.data", '{"item_id": 1, "colour": "x"}\n{"item_id": 2, "colour": "y"}\n'),
            columns=("item", "genre"),  # for the :: table; JSON tables name their fields
        )
    )
    assert [p.format for p in plans] == ["movielens", "json", "jsonl"]
    (csv_plan,) = plan_feature_tables(_items(_write(tmp_path / "shop.export", "item_id;color\n1;red\n")))
    assert (csv_plan.format, csv_plan.delimiter, csv_plan.fields) == ("csv", ";", ("color",))


def test_field_selection_and_name_clashes_are_errors(tmp_path):
    movies = _write(tmp_path / "movies.csv", "item_id,title,genres\n1,Heat,Action\n")
    brands = _write(tmp_path / "brands.csv", "item_id,brand\n1,acme\n")
    plans = plan_feature_tables(_items(movies, brands, fields=("genres", "brand")))
    assert [(p.index, p.fields) for p in plans] == [(0, ("genres",)), (1, ("brand",))]
    with pytest.raises(InputError, match="--item-feature-fields colour: not a field .* title, genres, brand"):
        plan_feature_tables(_items(movies, brands, fields=("colour",)))
    with pytest.raises(InputError, match="brands.csv keeps none of its fields"):
        plan_feature_tables(_items(movies, brands, fields=("genres",)))
    with pytest.raises(InputError, match="item feature 'brand' comes from both --item-feature-cols and .*brands"):
        plan_feature_tables(_items(brands), interaction_features=("brand",))
    twice = _write(tmp_path / "more.csv", "item_id,genres\n2,Drama\n")
    with pytest.raises(InputError, match="item feature 'genres' comes from both .*movies.csv and .*more.csv"):
        plan_feature_tables(_items(movies, twice))
    with pytest.raises(InputError, match="no item id column found among title, genres"):
        plan_feature_tables(_items(_write(tmp_path / "noid.csv", "title,genres\nHeat,Action\n")))
    with pytest.raises(InputError, match="id column 'sku' .* is not one of item_id, brand"):
        plan_feature_tables(_items(brands, id_col="sku"))


def test_user_tables_and_options_are_checked(tmp_path):
    users = _write(tmp_path / "users.dat", "1::F::1::10::48067\n")
    cfg = SideFeatureConfig(
        users=FeatureTablesConfig("user", (users,), ("gender", "age"), ("user", "gender", "age", "occupation", "zip"))
    )
    (plan,) = plan_feature_tables(cfg)
    assert (plan.entity, plan.id_col, plan.fields) == ("user", "user", ("gender", "age"))
    assert _values(_parse(plan)[0]) == [("gender", "1", ("F",)), ("age", "1", ("1",))]
    with pytest.raises(ValueError, match="no item feature table: add --item-features FILE"):
        FeatureTablesConfig("item", fields=("genres",))
    with pytest.raises(ValueError, match="max_values=0 must be >= 1"):
        SideFeatureConfig(max_values=0)
    with pytest.raises(ValueError, match="not a text encoding"):
        SideFeatureConfig(encoding="klingon")
    with pytest.raises(InputError, match="does not exist"):
        plan_feature_tables(_items(str(tmp_path / "missing.json")))

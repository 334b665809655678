"""The side-feature rules one by one (``beam_pipelines.side_features``), values computed by hand."""

from beam_pipelines import side_features as sf


def test_merge_keeps_table_order_and_counts_repeats():
    parts = [((0, 0, 9, 0), ("c", "a")), ((0, 0, 2, 0), ("a", "b", "a")), ((1, 0, 1, 0), ("d",))]
    assert sf.merge_values(parts) == (("a", "b", "c", "d"), 2)
    assert sf.merge_values([]) == ((), 0)


def test_cap_keeps_the_first_values():
    assert sf.cap_values(("a", "b", "c"), 2) == (("a", "b"), 1)
    assert sf.cap_values(("a",), 2) == (("a",), 0)


def test_value_vocabulary_by_train_count_then_value_with_min_count():
    counts = {"drama": 5, "comedy": 5, "noir": 1, "eval_only": 0, "action": 7}
    assert sf.value_vocabulary(counts, 1) == [("action", 7), ("comedy", 5), ("drama", 5), ("noir", 1)]
    assert sf.value_vocabulary(counts, 5) == [("action", 7), ("comedy", 5), ("drama", 5)]
    vocab = sf.value_vocabulary(counts, 1)
    assert sf.value_ids(vocab) == {"action": 2, "comedy": 3, "drama": 4, "noir": 5}
    assert sf.vocabulary_text(vocab[:2]) == "[PAD]\t0\n[OOV]\t0\naction\t7\ncomedy\t5\n"


def test_encode_maps_unknown_values_to_one_oov():
    ids = {"a": 2, "b": 3}
    assert sf.encode_values(("b", "x", "a", "y"), ids) == ([3, 1, 2], 2)
    assert sf.encode_values(("x",), ids) == ([1], 1)


def test_table_rows_fill_missing_rows_with_oov_and_summarise():
    table, summary = sf.table_rows(6, {2: [4, 5], 3: [2], 5: [1], 9: [3]})
    assert table == [[], [1], [4, 5], [2], [1], [1]]
    assert summary == {"covered": 3, "missing": 1, "coverage": 0.75, "max_values": 2, "multi_valued": True}
    assert sf.table_rows(3, {})[1] == {
        "covered": 0,
        "missing": 1,
        "coverage": 0.0,
        "max_values": 1,
        "multi_valued": False,
    }


def test_table_text_and_file_names():
    keys = sf.entity_keys([("m1", 4), ("m2", 0)])
    assert keys == ["[PAD]", "[OOV]", "m1", "m2"]
    text = sf.table_text("item", keys, {"genres": [[], [1], [2, 3], [1]], "brand": [[], [1], [2], [3]]})
    assert text == "id\titem\tgenres\tbrand\n0\t[PAD]\t\t\n1\t[OOV]\t1\t1\n2\tm1\t2 3\t2\n3\tm2\t1\t3\n"
    assert sf.table_text("user", keys[:2], {"age": [[], [1]]}).startswith("row\tuser\tage\n")
    assert sf.vocabulary_filename("item", "class:token_seq") == "item_feature_class_token_seq.tsv"

"""Full real datasets from ../shared/data: the published preprocessing figures, exactly (slow)."""

import collections
import json
from pathlib import Path

import pytest

from beam_pipelines import preprocess
from beam_pipelines.config import FilterConfig, OutputConfig, PreprocessConfig, ReaderConfig
from tests.conftest import shared_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ml1m(tmp_path_factory):
    out = tmp_path_factory.mktemp("ml1m")
    cfg = PreprocessConfig(
        inputs=(str(shared_file("ml-1m", "ml-1m.seq.tsv")),),
        output=OutputConfig(str(out)),
        reader=ReaderConfig(order_col="seq_pos"),
        filters=FilterConfig(item_min_count=5),
    )
    return out, preprocess.run(cfg)  # default options: DirectRunner, multi-process, 2 workers


def test_ml1m_item_5core_matches_sasrec_bert4rec_figures(ml1m):
    _, stats = ml1m
    assert stats["users"] == 6040
    assert stats["items"] == 3416
    assert stats["interactions"] == 999_611
    assert stats["splits"]["valid"] == {"records": 6040, "targets": 6040}
    assert stats["splits"]["test"] == {"records": 6040, "targets": 6040}
    rows = stats["rows"]
    assert rows["rows_read"] == 1_000_209 and rows["rows_rejected"] == 0
    assert rows["filtered_by_rule"] == {"kcore_item": 1_000_209 - 999_611}
    assert rows["balanced"] and rows["rows_kept"] == 999_611
    assert stats["kcore"]["converged"]


def test_ml1m_records_load_with_the_tf_data_loader(ml1m):
    import tensorflow as tf

    from tfseqrec.data import SequenceBatchConfig, load_feature_spec, load_vocabulary, make_dataset

    out, _ = ml1m
    spec = load_feature_spec(str(out))
    assert spec.vocabulary.size == 3418 and len(load_vocabulary(spec)) == 3418
    ds = make_dataset(spec, "test", SequenceBatchConfig(batch_size=1024, max_len=200, padding="left"))
    users, targets, longest = 0, set(), 0
    for batch in ds:
        users += int(tf.shape(batch["item_ids"])[0])
        assert batch["item_ids"].shape[1] == 200
        longest = max(longest, int(tf.reduce_max(batch["lengths"])))
        targets.update(batch["target_id"].numpy().tolist())
        assert int(tf.reduce_min(batch["target_id"])) >= 2
    assert users == 6040 and longest == 200 and max(targets) <= 3417


def test_ml1m_user_1_sequence_follows_seq_pos(ml1m, tmp_path):
    import tensorflow as tf

    from tfseqrec.data import load_feature_spec, load_vocabulary

    out, _ = ml1m
    spec = load_feature_spec(str(out))
    vocab = load_vocabulary(spec)
    lines = shared_file("ml-1m", "ml-1m.seq.tsv").read_text().splitlines()[1:]
    user1 = [line.split("\t") for line in lines if line.startswith("1\t")]
    expected = [item for _, item, _, _ in sorted(user1, key=lambda f: int(f[3]))]
    for raw in tf.data.TFRecordDataset(sorted(str(p) for p in out.glob("test-*.tfrecord"))):
        example = tf.train.Example.FromString(raw.numpy())
        if example.features.feature["sequence_id"].bytes_list.value[0] == b"1":
            ids = list(example.features.feature["item_ids"].int64_list.value)
            target = example.features.feature["target_ids"].int64_list.value[0]
            assert [vocab[i] for i in ids] + [vocab[target]] == expected
            break
    else:
        pytest.fail("user 1 not found in the test split")


def test_amazon_beauty_figures(tmp_path):
    cfg = PreprocessConfig(
        inputs=(str(shared_file("amazon-beauty", "Beauty.txt")),), output=OutputConfig(str(tmp_path), max_len=50)
    )
    stats = preprocess.run(cfg)
    assert (stats["users"], stats["items"], stats["interactions"]) == (22_363, 12_101, 198_502)
    assert stats["splits"]["test"] == {"records": 22_363, "targets": 22_363}
    assert stats["rows"]["balanced"] and stats["rows"]["rows_read"] == 198_502
    spec = json.loads((tmp_path / "feature_spec.json").read_text())
    assert spec["protocol"]["split"] == "leave_one_out" and spec["protocol"]["max_len"] == 50


# ------------------------------------------------------------------------------------- side features


def _run_cli(*args: str) -> None:
    from tests.conftest import FAST_BEAM
    from tfseqrec.cli import main

    assert main(["preprocess", *args, *FAST_BEAM]) == 0


def test_amazon_beauty_item_attributes(tmp_path):
    """S3-Rec's attribute map: one list of anonymous attribute ids (categories and brand together) per item."""
    from tfseqrec.data import load_feature_spec, load_item_feature_table, load_vocabulary

    attributes = shared_file("amazon-beauty", "Beauty_item2attributes.json")
    out = tmp_path / "beauty"
    beauty = shared_file("amazon-beauty", "Beauty.txt")
    _run_cli("--input", str(beauty), "--output-dir", str(out), "--item-features", str(attributes))
    stats = json.loads((out / "stats.json").read_text())
    feature = stats["side_features"]["item"]["features"]["Beauty_item2attributes"]
    assert (feature["covered"], feature["missing"], feature["coverage"]) == (12_101, 0, 1.0)
    assert (feature["num_values"], feature["max_values"], feature["multi_valued"]) == (637, 6, True)
    assert (feature["values_unknown"], feature["values_truncated"], feature["ids_not_in_vocabulary"]) == (0, 0, 0)
    assert feature["values_repeated"] == 5  # five items list an attribute twice
    assert stats["side_features"]["tables"][0]["rows_read"] == 12_101
    # the table read back: every item's row is its attribute list, in the file's order, without repeats
    spec = load_feature_spec(str(out))
    table = load_item_feature_table(spec, "Beauty_item2attributes")
    values = [line.split("\t")[0] for line in (out / "item_feature_Beauty_item2attributes.tsv").read_text().split("\n")]
    raw = json.loads(attributes.read_text())
    for item_id, item in enumerate(load_vocabulary(spec)[2:], 2):
        expected = list(dict.fromkeys(str(a) for a in raw[item]))
        assert [values[i] for i in table[item_id] if i] == expected


def test_ml1m_movie_genres_and_user_demographics(tmp_path):
    from tfseqrec.data import load_feature_spec, load_feature_vocabulary, load_item_feature_table, load_vocabulary

    movies = shared_file("ml-1m", "original", "movies.dat")
    out = tmp_path / "ml1m"
    _run_cli(
        *("--input", str(shared_file("ml-1m", "ml-1m.seq.tsv")), "--order-col", "seq_pos", "--item-min-count", "5"),
        *("--output-dir", str(out), "--feature-encoding", "latin-1"),
        *("--item-features", str(movies), "--item-feature-columns", "item,title,genres"),
        *("--item-feature-fields", "genres"),
        *("--user-features", str(shared_file("ml-1m", "original", "users.dat"))),
        *("--user-feature-columns", "user,gender,age,occupation,zip", "--user-feature-fields", "gender,age,occupation"),
    )
    stats = json.loads((out / "stats.json").read_text())
    genres = stats["side_features"]["item"]["features"]["genres"]
    assert (genres["covered"], genres["missing"], genres["num_values"], genres["max_values"]) == (3_416, 0, 18, 6)
    assert genres["ids_not_in_vocabulary"] == 3_883 - 3_416  # movies without ratings or dropped by the 5-core
    users = stats["side_features"]["user"]["features"]
    assert [(users[n]["num_values"], users[n]["covered"]) for n in ("gender", "age", "occupation")] == [
        (2, 6_040),
        (7, 6_040),
        (21, 6_040),
    ]
    spec = load_feature_spec(str(out))
    vocab, names = load_vocabulary(spec), load_feature_vocabulary(spec, "item", "genres")
    table = load_item_feature_table(spec, "genres")
    lines = movies.read_text(encoding="latin-1").splitlines()
    expected = {item: genres.split("|") for item, _, genres in (line.split("::") for line in lines)}
    assert all([names[i] for i in table[k] if i] == expected[vocab[k]] for k in range(2, len(vocab)))


def test_taobao_headerless_log_with_columns_and_categories(tmp_path):
    from tfseqrec.data import load_feature_spec, load_feature_vocabulary, load_item_feature_table, load_vocabulary

    folder = shared_file("taobao-userbehavior-sample", "SOURCE.md").parent
    out = tmp_path / "taobao"
    _run_cli(
        *("--input", str(folder / "*.csv"), "--output-dir", str(out)),
        *("--columns", "user,item,category,event,timestamp", "--item-feature-cols", "category"),
    )
    stats = json.loads((out / "stats.json").read_text())
    rows = stats["rows"]
    assert (rows["rows_read"], rows["rows_kept"], rows["rows_rejected"]) == (94_476, 94_475, 1)
    assert rows["rejected_by_reason"] == {"wrong_field_count": 1} and rows["balanced"]
    assert (stats["users"], stats["items"]) == (929, 61_330)
    category = stats["side_features"]["item"]["features"]["category"]
    assert (category["covered"], category["missing"], category["max_values"]) == (61_330, 0, 1)
    # of the 3,071 categories, those only of items never in training (evaluation targets only) map to OOV
    assert (category["num_values"], category["values_unknown"]) == (3_038, 36)
    # each item's row is its most frequent category in the raw files (ties: the smallest), or OOV
    spec = load_feature_spec(str(out))
    vocab, names = load_vocabulary(spec), load_feature_vocabulary(spec, "item", "category")
    table = load_item_feature_table(spec, "category")
    assert table.shape == (61_332, 1)
    seen = collections.defaultdict(collections.Counter)
    for path in sorted(folder.glob("*.csv")):
        for fields in (line.split(",") for line in path.read_text().splitlines()):
            if len(fields) == 5:
                seen[fields[1]][fields[2]] += 1
    most = {item: min(c, key=lambda v: (-c[v], v)) for item, c in seen.items()}
    known = [(vocab[k], names[table[k, 0]]) for k in range(2, len(vocab)) if table[k, 0] != 1]
    assert len(known) == 61_330 - 36 and all(most[item] == name for item, name in known)


def test_ml100k_genre_flags_converted_by_the_documented_command(tmp_path):
    """docs/preprocessing.md: u.item's 19 genre indicator columns -> one genres column, with awk."""
    import subprocess

    from tfseqrec.data import load_feature_spec, load_feature_vocabulary, load_item_feature_table, load_vocabulary

    original = shared_file("ml-100k", "original", "u.item").parent
    genres = tmp_path / "u.item.genres.tsv"
    program = (
        'NR==FNR {if (NF == 2) genre[$2] = $1; next} {g = ""; for (i = 6; i <= NF; i++) '
        'if ($i == 1) g = g (g == "" ? "" : "|") genre[i - 6]; print $1 "\\t" g}'
    )
    docs = (Path(__file__).resolve().parents[2] / "docs" / "preprocessing.md").read_text()
    assert f"awk -F'|' '{program}' u.genre u.item > u.item.genres.tsv" in docs
    with open(genres, "w") as f:
        subprocess.run(["awk", "-F|", program, "u.genre", "u.item"], cwd=original, stdout=f, check=True)
    out = tmp_path / "ml100k"
    _run_cli(
        *("--input", str(original / "u.data"), "--format", "tsv", "--columns", "user,item,rating,timestamp"),
        *("--output-dir", str(out), "--item-features", str(genres), "--item-feature-columns", "item,genres"),
    )
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["rows"]["rows_read"], stats["users"], stats["items"]) == (100_000, 943, 1_682)
    feature = stats["side_features"]["item"]["features"]["genres"]
    assert (feature["covered"], feature["num_values"], feature["max_values"]) == (1_682, 19, 6)
    spec = load_feature_spec(str(out))
    vocab, names = load_vocabulary(spec), load_feature_vocabulary(spec, "item", "genres")
    table = load_item_feature_table(spec, "genres")
    genre_names = [line.split("|")[0] for line in (original / "u.genre").read_text().splitlines() if line]
    for line in (original / "u.item").read_bytes().decode("latin-1").splitlines():
        fields = line.split("|")
        expected = [genre_names[i] for i, flag in enumerate(fields[5:]) if flag == "1"]
        assert [names[i] for i in table[vocab.index(fields[0])] if i] == expected

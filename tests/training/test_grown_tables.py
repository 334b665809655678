"""Incremental updates: a model trained on one slice warm starts on the next slice, whose vocabulary extends the
first (``--base-vocabulary``): the earlier ids keep their rows, the new ids' rows are this model's own, a mask
token moves after the new ids; data that does not extend the vocabulary is refused with the fix."""

import json
from pathlib import Path

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import FAST_BEAM
from tfseqrec.cli import main
from tfseqrec.data.spec import load_feature_spec, load_vocabulary
from tfseqrec.models import build_model
from tfseqrec.training.warm_start import CHECKPOINT, warm_start

TINY = ["model_config.embedding_dim=8", "model_config.max_len=10", "verbose=0"]


def _slices(tmp_path: Path, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = 1_700_000_000
    rows = [[], []]
    for part, items in ((0, 30), (1, 40)):  # the second slice brings items 30-39
        for u in range(60):
            for j in range(8):
                rows[part].append(f"s{part}u{u},item{rng.integers(items)},{t + part * 1000 + j}")
    paths = []
    for part in (0, 1):
        path = tmp_path / f"slice{part}.csv"
        path.write_text("user_id,item_id,timestamp\n" + "\n".join(rows[part]) + "\n")
        paths.append(path)
    return paths


@pytest.mark.parametrize("model_name", ["sasrec", "bert4rec"])
def test_the_second_slice_warm_starts_with_grown_item_tables(tmp_path, model_name):
    first, second = _slices(tmp_path)
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    assert main(["preprocess", "--input", str(first), "--output-dir", str(d1), *FAST_BEAM]) == 0
    assert main(["preprocess", "--input", str(second), "--output-dir", str(d2), "--base-vocabulary", str(d1),
                 *FAST_BEAM]) == 0  # fmt: skip
    run1 = tmp_path / "run1"
    assert main(["train", "--data-dir", str(d1), "--model", model_name, "--epochs", "1", "--output-dir", str(run1),
                 *TINY]) == 0  # fmt: skip
    old = json.loads((run1 / "run.json").read_text())
    earlier = build_model(model_name, old["model_config"], old["num_items"]).build_for_inputs()
    earlier.load_weights(str(run1 / CHECKPOINT)).expect_partial()
    spec = load_feature_spec(str(d2))
    grown = build_model(model_name, old["model_config"], spec.vocabulary.size).build_for_inputs()
    fresh_rows = grown.item_embedding.embeddings.numpy()[old["num_items"] : spec.vocabulary.size]
    record = warm_start(grown, str(run1), spec)
    assert record["grown_item_tables"]["from_ids"] == old["num_items"] < record["grown_item_tables"]["to_ids"]
    before, after = earlier.item_embedding.embeddings.numpy(), grown.item_embedding.embeddings.numpy()
    n_old, n_new = old["num_items"], spec.vocabulary.size
    np.testing.assert_array_equal(after[:n_old], before[:n_old])  # the earlier ids keep their rows
    np.testing.assert_array_equal(after[n_old:n_new], fresh_rows)  # new ids: this model's initialisation
    np.testing.assert_array_equal(after[n_new:], before[n_old:])  # a mask token moves after the new ids
    assert after.shape[0] - n_new == before.shape[0] - n_old
    # the same through the CLI: the warm-started run records the growth
    run2 = tmp_path / "run2"
    assert main(["train", "--data-dir", str(d2), "--model", model_name, "--epochs", "1", "--output-dir", str(run2),
                 f"init_from={run1}", *TINY]) == 0  # fmt: skip
    assert json.loads((run2 / "run.json").read_text())["initialised_from"]["grown_item_tables"]["to_ids"] == n_new


def test_data_that_does_not_extend_the_vocabulary_is_refused(tmp_path, capsys):
    first, second = _slices(tmp_path, seed=1)
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    assert main(["preprocess", "--input", str(first), "--output-dir", str(d1), *FAST_BEAM]) == 0
    assert main(["preprocess", "--input", str(second), "--output-dir", str(d2), *FAST_BEAM]) == 0
    run1 = tmp_path / "run1"
    assert main(["train", "--data-dir", str(d1), "--model", "sasrec", "--epochs", "1", "--output-dir", str(run1),
                 *TINY]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["train", "--data-dir", str(d2), "--model", "sasrec", "--epochs", "1", "--output-dir",
                 str(tmp_path / "run2"), f"init_from={run1}", *TINY]) == 2  # fmt: skip
    assert "--base-vocabulary" in capsys.readouterr().err
    assert tf.io.gfile.exists(str(run1 / "run.json"))


def test_new_ids_start_from_the_rows_of_items_sharing_their_attribute(tmp_path):
    """With item attributes in the data (a category per item), a new item's row is the mean of the earlier rows of
    the items in its category; the earlier rows are untouched."""
    rng = np.random.default_rng(2)
    t = 1_700_000_000
    paths = []
    for part, items in ((0, 30), (1, 40)):
        rows = [
            f"s{part}u{u},item{i},{t + part * 1000 + j},c{i % 4}"
            for u in range(60)
            for j, i in enumerate(rng.integers(items, size=8))
        ]
        path = tmp_path / f"slice{part}.csv"
        path.write_text("user_id,item_id,timestamp,category\n" + "\n".join(rows) + "\n")
        paths.append(path)
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    features = ["--item-feature-cols", "category"]
    assert main(["preprocess", "--input", str(paths[0]), "--output-dir", str(d1), *features, *FAST_BEAM]) == 0
    assert main(["preprocess", "--input", str(paths[1]), "--output-dir", str(d2), "--base-vocabulary", str(d1),
                 *features, *FAST_BEAM]) == 0  # fmt: skip
    run1 = tmp_path / "run1"
    assert main(["train", "--data-dir", str(d1), "--model", "sasrec", "--epochs", "1", "--output-dir", str(run1),
                 *TINY]) == 0  # fmt: skip
    old = json.loads((run1 / "run.json").read_text())
    earlier = build_model("sasrec", old["model_config"], old["num_items"]).build_for_inputs()
    earlier.load_weights(str(run1 / CHECKPOINT)).expect_partial()
    spec = load_feature_spec(str(d2))
    grown = build_model("sasrec", old["model_config"], spec.vocabulary.size).build_for_inputs()
    record = warm_start(grown, str(run1), spec)["grown_item_tables"]
    n_old, n_new = old["num_items"], spec.vocabulary.size
    assert record["new_rows_from_attributes"] == n_new - n_old == 10
    vocab = load_vocabulary(spec)
    before, after = earlier.item_embedding.embeddings.numpy(), grown.item_embedding.embeddings.numpy()
    np.testing.assert_array_equal(after[:n_old], before[:n_old])
    category = {i: int(vocab[i][len("item") :]) % 4 for i in range(2, n_new)}
    for new_id in range(n_old, n_new):
        same = [i for i in range(2, n_old) if category[i] == category[new_id]]
        np.testing.assert_allclose(after[new_id], before[same].mean(axis=0), rtol=1e-6)

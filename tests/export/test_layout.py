"""TF Serving layout: models.config files, versions, no overwrite, no temporary folders left; another
architecture (GRU4Rec with output biases) through the Python API."""

import os

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from tfseqrec.export import contract, exporter
from tfseqrec.export.exporter import ExportConfig, export_model
from tfseqrec.models import build_model
from tests.export.reference import decode, dense, reference_top_k

BRUTE = ExportConfig(variants=("brute_force",), max_k=20, warmup_requests=False)


def parse_config(path) -> dict:
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(path.read_text(), config)
    for entry in config.model_config_list.config:
        if entry.name != "other":  # an entry written by someone else is kept as it was
            assert entry.model_platform == "tensorflow" and entry.model_version_policy.latest.num_versions == 1
    return {e.name: e.base_path for e in config.model_config_list.config}


def test_cli_export_layout_and_models_config(exported):
    base = exported.base
    assert not any(p.exists() for p in exported.deleted)
    for variant, path in exported.paths.items():
        assert f"{variant}: {path}" in exported.cli_output
        assert (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
        assert sorted(os.listdir(path.parent)) == ["1"]  # no temporary folder left behind
    assert f"models.config: {base / 'models.config'}" in exported.cli_output
    assert parse_config(base / "models.config") == {
        "tiny_brute_force": str(base / "tiny_brute_force"),
        "tiny_scann": str(base / "tiny_scann"),
    }
    assert parse_config(base / "models.brute_force.config") == {"tiny_brute_force": str(base / "tiny_brute_force")}


@pytest.fixture(scope="module")
def gru(exported):
    """An untrained GRU4Rec with random output biases: exports must handle biases (and any architecture)."""
    vocab = exported.vocabulary
    model = build_model(
        "gru4rec", {"embedding_dim": 8, "max_len": 12, "output_bias": True}, len(vocab), item_counts=exported.counts
    ).build_for_inputs()
    model.item_bias.embeddings.assign(np.random.default_rng(0).normal(0, 0.1, (len(vocab), 1)).astype("float32"))
    return model


def test_versions_other_entries_and_biases(exported, gru, tmp_path, monkeypatch):
    vocab, counts = exported.vocabulary, exported.counts
    (tmp_path / "models.config").write_text(
        'model_config_list { config { name: "other" base_path: "/models/other" model_platform: "tensorflow" } }\n'
    )
    first = export_model(gru, vocab, counts, str(tmp_path), "gru", config=BRUTE)
    assert first == {"brute_force": str(tmp_path / "gru_brute_force" / "1")}
    assert parse_config(tmp_path / "models.config") == {
        "other": "/models/other",
        "gru_brute_force": str(tmp_path / "gru_brute_force"),
    }
    assert parse_config(tmp_path / "models.brute_force.config") == {
        "gru_brute_force": str(tmp_path / "gru_brute_force")
    }
    with pytest.raises(FileExistsError, match="version 1 already exists"):
        export_model(gru, vocab, counts, str(tmp_path), "gru", version=1, config=BRUTE)

    # The next version follows the largest existing one; a failed save leaves no temporary folder.
    (tmp_path / "gru_brute_force" / "7").mkdir()
    saved_to = []

    def failing_save(obj, path, signatures=None, options=None):
        saved_to.append(os.path.basename(path))
        os.makedirs(os.path.join(path, "variables"))
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(exporter.tf.saved_model, "save", failing_save)
        with pytest.raises(RuntimeError, match="disk full"):
            export_model(gru, vocab, counts, str(tmp_path), "gru", config=BRUTE)
    assert len(saved_to) == 1 and saved_to[0].startswith(".tmp-8-")
    assert sorted(os.listdir(tmp_path / "gru_brute_force")) == ["1", "7"]

    loaded = tf.saved_model.load(first["brute_force"])
    histories = [[vocab[3], vocab[5], "???"], [vocab[i] for i in range(2, 30)]]
    out = loaded.signatures[contract.SERVING_SIGNATURE](history=dense(histories, left_pad=1))
    want_ids, want_scores = reference_top_k(gru, vocab, histories, 10)
    assert decode(out[contract.ITEM_IDS]) == want_ids
    np.testing.assert_allclose(out[contract.SCORES].numpy(), want_scores, rtol=1e-5, atol=1e-6)
    biases = loaded.signatures[contract.ITEM_EMBEDDINGS_SIGNATURE]()[contract.BIASES].numpy()
    np.testing.assert_array_equal(biases, gru.item_biases().numpy()[2:])


def test_bad_arguments_are_refused(exported, gru, tmp_path):
    vocab, counts = exported.vocabulary, exported.counts
    with pytest.raises(ValueError, match="export name"):
        export_model(gru, vocab, counts, str(tmp_path), "a/b", config=BRUTE)
    with pytest.raises(ValueError, match="vocabulary has 5 entries"):
        export_model(gru, vocab[:5], counts[:5], str(tmp_path), "gru", config=BRUTE)
    with pytest.raises(ValueError, match="lists item"):
        export_model(gru, vocab[:-1] + [vocab[2]], counts, str(tmp_path), "gru", config=BRUTE)
    with pytest.raises(ValueError, match="variants"):
        ExportConfig(variants=("faiss",))
    with pytest.raises(ValueError, match="default_k <= max_k"):
        ExportConfig(default_k=20, max_k=10)
    assert not os.listdir(tmp_path)

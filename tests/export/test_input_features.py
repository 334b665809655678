"""Exports serve every record feature a model reads (``input_features``): HRNN with ``session_gap_seconds``
reads ``timestamps`` to cut a history into sessions, so its signatures take them next to ``history``.

One tiny HRNN is trained a few steps by the CLI on a generated log with timestamps and exported by the CLI
(no extra flag); the served top-K equals the in-memory model's top-K computed with the timestamps, which
differs from the top-K without them. Models that read only item ids keep the signatures they always had.
``build_hrnn_export`` is shared with ``tests/serving/test_features_served.py`` (one training per session).
"""

import contextlib
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import generated_dataset
from tests.export.reference import decode
from tfseqrec.export import contract

MAX_LEN = 10
MAX_K = 50
GAP_SECONDS = 3600
HOUR_MS = 3_600_000
_BUILT: dict = {}  # the one training and export of this session (the fixture is imported by tests/serving too)


@dataclasses.dataclass
class HrnnExport:
    model: object  # the trained HRNN, in memory
    vocabulary: list
    counts: list
    base: Path  # --output of `tfseqrec export`
    paths: dict  # variant -> version directory
    cli_output: str


def _train_and_export(root: Path) -> HrnnExport:
    from tfseqrec.cli import main
    from tfseqrec.data.spec import load_item_counts, load_vocabulary
    from tfseqrec.training.trainer import load_trained_model

    data = generated_dataset(root, 150, 100, 4)
    run, base = root / "run", root / "saved_models"
    assert (
        main(
            [
                "train",
                "--data-dir",
                str(data),
                "--model",
                "hrnn",
                "--output-dir",
                str(run),
                "--epochs",
                "1",
                "steps_per_epoch=6",
                "model_config.embedding_dim=16",
                f"model_config.max_len={MAX_LEN}",
                f"model_config.session_gap_seconds={GAP_SECONDS}",
                "batch_size=32",
                "verbose=0",
            ]
        )
        == 0
    )
    model, _, spec = load_trained_model(str(run))
    assert model.input_features == ("item_ids", "timestamps")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["export", str(run), "--output", str(base), "--name", "hrnn", "--max-k", str(MAX_K)]) == 0
    paths = {v: base / f"hrnn_{v}" / "1" for v in contract.VARIANTS}
    return HrnnExport(model, load_vocabulary(spec), load_item_counts(spec), base, paths, out.getvalue())


def build_hrnn_export(tmp_path_factory) -> HrnnExport:
    """The session's HRNN export, trained and exported on the first call (fixtures of both test folders)."""
    if "hrnn" not in _BUILT:
        _BUILT["hrnn"] = _train_and_export(tmp_path_factory.mktemp("hrnn_export"))
    return _BUILT["hrnn"]


@pytest.fixture(scope="session")
def hrnn_export(tmp_path_factory) -> HrnnExport:
    return build_hrnn_export(tmp_path_factory)


# -- requests and the in-memory reference ---------------------------------------------------------------------
def session_histories(vocab, count=16, seed=0):
    """``(histories, timestamps)``: rows of 2..14 items (some longer than max_len) whose times hold a gap of
    several hours (a new session) among gaps of seconds; one row without any gap, one with padding inside."""
    rng = np.random.default_rng(seed)
    histories, times = [], []
    for _ in range(count):
        n = int(rng.integers(2, 15))
        steps = rng.integers(5_000, 120_000, n)  # ms: within a session
        steps[int(rng.integers(1, n))] += int(rng.integers(2, 30)) * HOUR_MS  # one session break
        histories.append([vocab[i] for i in rng.integers(2, len(vocab), n)])
        times.append((1_600_000_000_000 + np.cumsum(steps)).tolist())
    histories.append([vocab[2], vocab[3], vocab[4]])  # one session
    times.append([1_000, 2_000, 3_000])
    histories.append([vocab[5], "", vocab[6], "", vocab[7]])  # "" entries: their times are ignored
    times.append([1_000, 99, 2_000, 7, 2_000 + 5 * HOUR_MS])
    return histories, times


def dense_rows(rows, pad):
    """Rows left-padded with ``pad`` to a common width (the layout a client sends)."""
    width = max(len(r) for r in rows)
    return [[pad] * (width - len(r)) + list(r) for r in rows]


def model_inputs(vocabulary, histories, timestamps=None):
    """``{"item_ids", "timestamps"?}`` int64 ``[B, max_len]`` as the evaluator feeds the model: each row's real
    items (``""`` dropped) and their timestamps, the latest ``max_len``, left-padded with 0."""
    index = {item: i for i, item in enumerate(vocabulary) if i >= 2}
    ids = np.zeros((len(histories), MAX_LEN), np.int64)
    times = np.zeros((len(histories), MAX_LEN), np.int64)
    for r, history in enumerate(histories):
        keep = [c for c, item in enumerate(history) if item != ""][-MAX_LEN:]
        ids[r, MAX_LEN - len(keep) :] = [index.get(history[c], 1) for c in keep]
        if timestamps is not None:
            times[r, MAX_LEN - len(keep) :] = [timestamps[r][c] for c in keep]
    inputs = {"item_ids": tf.constant(ids)}
    return inputs if timestamps is None else {**inputs, "timestamps": tf.constant(times)}


def reference_top_k(model, vocabulary, histories, k, timestamps=None):
    """``(item_ids [B][k], scores [B, k])`` of the in-memory model (``model_inputs``), seen items excluded."""
    inputs = model_inputs(vocabulary, histories, timestamps)
    scores = model.score_all(inputs.pop("item_ids"), **inputs).numpy()
    index = {item: i for i, item in enumerate(vocabulary) if i >= 2}
    excluded = np.zeros(scores.shape, bool)
    excluded[:, :2] = True
    for r, history in enumerate(histories):
        excluded[r, [index.get(item, 1) for item in history if item != ""]] = True
    top_scores, top_ids = tf.math.top_k(np.where(excluded, -np.inf, scores), k=k)
    return [[vocabulary[i] for i in row] for row in top_ids.numpy()], top_scores.numpy()


def _inputs(histories, times):
    return {
        contract.HISTORY: tf.constant(dense_rows(histories, "")),
        "timestamps": tf.constant(dense_rows(times, 0), tf.int64),
    }


@pytest.fixture(scope="module")
def loaded(hrnn_export):
    import scann  # noqa: F401  (registers the Scann ops)

    return {v: tf.saved_model.load(str(p)) for v, p in hrnn_export.paths.items()}


# -- HRNN with sessions ---------------------------------------------------------------------------------------
def test_signatures_take_the_timestamps(hrnn_export, loaded):
    feature = ((None, None), tf.int64)
    for variant, module in loaded.items():
        sigs = module.signatures
        history = ((None, None), tf.string)
        want = {
            contract.SERVING_SIGNATURE: {contract.HISTORY: history, "timestamps": feature},
            contract.RECOMMEND_SIGNATURE: {
                contract.HISTORY: history,
                "timestamps": feature,
                contract.K: ((None,), tf.int32),
                contract.EXCLUDE_SEEN: ((None,), tf.bool),
            },
            contract.ENCODE_SIGNATURE: {contract.HISTORY: history, "timestamps": feature},
            contract.ITEM_EMBEDDINGS_SIGNATURE: {},
        }
        got = {
            name: {n: (tuple(s.shape.as_list()), s.dtype) for n, s in sigs[name].structured_input_signature[1].items()}
            for name in want
        }
        assert got == want, variant
        info = json.loads((hrnn_export.paths[variant] / contract.EXPORT_INFO_FILE).read_text())
        assert info["model"] == "hrnn" and info["history_features"] == {"timestamps": "int64"}


def test_served_top_k_equals_the_in_memory_model_with_timestamps(hrnn_export, loaded):
    model, vocab = hrnn_export.model, hrnn_export.vocabulary
    histories, times = session_histories(vocab)
    want_ids, want_scores = reference_top_k(model, vocab, histories, 10, times)
    without_ids, without_scores = reference_top_k(model, vocab, histories, 10)
    assert want_ids != without_ids  # the sessions change the ranking: the test tells served-without from served-with
    brute = loaded["brute_force"].signatures
    out = brute[contract.SERVING_SIGNATURE](**_inputs(histories, times))
    assert decode(out[contract.ITEM_IDS]) == want_ids
    np.testing.assert_allclose(out[contract.SCORES].numpy(), want_scores, rtol=1e-5, atol=1e-6)
    k = np.array([MAX_K, 3] * (len(histories) // 2), np.int32)
    out = brute[contract.RECOMMEND_SIGNATURE](
        **_inputs(histories, times), k=tf.constant(k), exclude_seen=tf.ones(len(histories), tf.bool)
    )
    want_50, _ = reference_top_k(model, vocab, histories, MAX_K, times)
    assert [row[:n] for row, n in zip(decode(out[contract.ITEM_IDS]), k)] == [row[:n] for row, n in zip(want_50, k)]
    query = brute[contract.ENCODE_SIGNATURE](**_inputs(histories, times))[contract.QUERY].numpy()
    inputs = model_inputs(vocab, histories, times)
    np.testing.assert_allclose(query, model.query(inputs.pop("item_ids"), **inputs).numpy(), rtol=1e-5, atol=1e-6)
    scann = loaded["scann"].signatures[contract.SERVING_SIGNATURE](**_inputs(histories, times))
    overlap = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(decode(scann[contract.ITEM_IDS]), want_ids)])
    assert overlap >= 0.9


def test_timestamps_at_padding_and_left_or_right_padding_do_not_matter(hrnn_export, loaded):
    vocab = hrnn_export.vocabulary
    histories, times = session_histories(vocab, count=4, seed=1)
    serve = loaded["brute_force"].signatures[contract.SERVING_SIGNATURE]
    left = serve(**_inputs(histories, times))
    width = max(len(h) for h in histories)
    right = serve(
        history=tf.constant([h + [""] * (width - len(h)) for h in histories]),
        timestamps=tf.constant([t + [123456] * (width - len(t)) for t in times], tf.int64),
    )
    assert decode(left[contract.ITEM_IDS]) == decode(right[contract.ITEM_IDS])
    np.testing.assert_array_equal(left[contract.SCORES].numpy(), right[contract.SCORES].numpy())


@pytest.mark.parametrize("signature", [contract.SERVING_SIGNATURE, contract.ENCODE_SIGNATURE])
def test_timestamps_of_another_shape_are_refused(hrnn_export, loaded, signature):
    call = loaded["brute_force"].signatures[signature]
    vocab = hrnn_export.vocabulary
    with pytest.raises(tf.errors.InvalidArgumentError, match="timestamps must have the shape of history"):
        call(history=tf.constant([[vocab[2], vocab[3]]]), timestamps=tf.constant([[1, 2, 3]], tf.int64))


def test_warmup_requests_carry_the_timestamps(hrnn_export):
    from tensorflow_serving.apis import prediction_log_pb2

    path = hrnn_export.paths["brute_force"] / "assets.extra" / "tf_serving_warmup_requests"
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    module = tf.saved_model.load(str(hrnn_export.paths["brute_force"]))
    for log in logs:
        request = log.predict_log.request
        inputs = {n: tf.constant(tf.make_ndarray(t)) for n, t in request.inputs.items()}
        assert inputs["timestamps"].shape == inputs[contract.HISTORY].shape
        module.signatures[request.model_spec.signature_name](**inputs)  # runs, as TF Serving replays it


# -- models that read only item ids -----------------------------------------------------------------------------
IDS_ONLY_INPUTS = {
    contract.SERVING_SIGNATURE: {contract.HISTORY: (tf.string, [-1, -1])},
    contract.RECOMMEND_SIGNATURE: {
        contract.HISTORY: (tf.string, [-1, -1]),
        contract.K: (tf.int32, [-1]),
        contract.EXCLUDE_SEEN: (tf.bool, [-1]),
    },
    contract.ENCODE_SIGNATURE: {contract.HISTORY: (tf.string, [-1, -1])},
    contract.ITEM_EMBEDDINGS_SIGNATURE: {},
}
STREAM_INPUTS = {  # what models with a streaming form (SASRec's key-value cache) export besides
    contract.STREAM_START_SIGNATURE: {contract.HISTORY: (tf.string, [-1, -1]), contract.K: (tf.int32, [-1])},
    contract.STREAM_APPEND_SIGNATURE: {
        contract.STATE: (tf.float32, [-1, -1]),
        contract.ITEM: (tf.string, [-1]),
        contract.SEEN: (tf.string, [-1, -1]),
        contract.K: (tf.int32, [-1]),
    },
}


def signature_def_inputs(version_dir) -> dict:
    """Signature name -> {input: (dtype, dims)} from ``saved_model.pb``: what TF Serving validates against."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((Path(version_dir) / "saved_model.pb").read_bytes())
    defs = saved.meta_graphs[0].signature_def
    return {
        name: {n: (tf.as_dtype(i.dtype), [d.size for d in i.tensor_shape.dim]) for n, i in sig.inputs.items()}
        for name, sig in defs.items()
        if not name.startswith("__")
    }


@pytest.mark.parametrize("architecture", ["hrnn", "sasrec"])
def test_ids_only_models_keep_their_signatures(hrnn_export, tmp_path, architecture):
    """HRNN without session_gap_seconds and SASRec read item ids only: the contract's inputs, nothing more."""
    from tensorflow_serving.apis import prediction_log_pb2
    from tfseqrec.export.exporter import ExportConfig, export_model
    from tfseqrec.models import build_model

    vocab, counts = hrnn_export.vocabulary, hrnn_export.counts
    model = build_model(
        architecture, {"embedding_dim": 8, "max_len": MAX_LEN}, len(vocab), item_counts=counts
    ).build_for_inputs()
    assert model.input_features == ("item_ids",)
    paths = export_model(
        model, vocab, counts, str(tmp_path), architecture, config=ExportConfig(variants=("brute_force",), max_k=20)
    )
    expected = {**IDS_ONLY_INPUTS, **(STREAM_INPUTS if model.stream_state_layout() else {})}
    assert (architecture == "sasrec") == bool(model.stream_state_layout())
    for path in paths.values():
        assert signature_def_inputs(path) == expected
        info = json.loads((Path(path) / contract.EXPORT_INFO_FILE).read_text())
        assert info["history_features"] == {}
        logs = [
            prediction_log_pb2.PredictionLog.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(str(Path(path) / "assets.extra" / "tf_serving_warmup_requests"))
        ]
        assert [set(log.predict_log.request.inputs) for log in logs] == [
            {contract.HISTORY},
            {contract.HISTORY, contract.K, contract.EXCLUDE_SEEN},
        ]


def test_the_session_export_signature_defs(hrnn_export):
    feature = (tf.int64, [-1, -1])
    want = {name: dict(inputs) for name, inputs in IDS_ONLY_INPUTS.items()}
    for name in (contract.SERVING_SIGNATURE, contract.RECOMMEND_SIGNATURE, contract.ENCODE_SIGNATURE):
        want[name]["timestamps"] = feature
    for path in hrnn_export.paths.values():
        assert signature_def_inputs(path) == want


# -- models whose features cannot be served ---------------------------------------------------------------------
def test_a_feature_without_a_serving_input_is_refused_before_writing(hrnn_export, tmp_path):
    from tfseqrec.export.exporter import ExportConfig, export_model
    from tfseqrec.models.sasrec import SASRec, SASRecConfig

    class ReadsAge(SASRec):
        input_features = ("item_ids", "user_age")

    class QueryWithoutTimestamps(SASRec):  # reads timestamps, but its query() cannot take them
        input_features = ("item_ids", "timestamps")

        def query(self, item_ids, training=False):
            return super().query(item_ids, training=training)

    vocab, counts = hrnn_export.vocabulary, hrnn_export.counts
    config = SASRecConfig(embedding_dim=8, max_len=MAX_LEN)
    with pytest.raises(ValueError, match="'user_age'.*timestamps"):
        export_model(
            ReadsAge(config, len(vocab), item_counts=counts),
            vocab,
            counts,
            str(tmp_path),
            "odd",
            config=ExportConfig(variants=("brute_force",)),
        )
    with pytest.raises(ValueError, match="query.*'timestamps'"):
        export_model(
            QueryWithoutTimestamps(config, len(vocab), item_counts=counts),
            vocab,
            counts,
            str(tmp_path),
            "odd",
            config=ExportConfig(variants=("brute_force",)),
        )
    assert list(tmp_path.iterdir()) == []

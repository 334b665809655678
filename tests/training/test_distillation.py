"""Knowledge distillation (``distillation: {teacher: RUN_DIR}``): the blended loss by hand, a student learning from
the teacher's soft targets alone, the checks, and an end-to-end CLI run."""

import json

import numpy as np
import pytest

import tfseqrec  # noqa: F401
import tensorflow as tf

from tests.conftest import generated_dataset
from tfseqrec.cli import main
from tests.models.test_contract import _cyclic_batch
from tfseqrec.models import build_model
from tfseqrec.training.config import DistillationConfig, load_train_config
from tfseqrec.training.distillation import attach_teacher

NUM_ITEMS = 14
SMALL = {"embedding_dim": 16, "max_len": 8, "dropout": 0.0}


def _model(name="sasrec", seed=0, **overrides):
    tf.keras.utils.set_random_seed(seed)
    return build_model(name, {**SMALL, **overrides}, NUM_ITEMS).build_for_inputs()


def _log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def test_blended_loss_matches_a_hand_computation():
    teacher, student = _model(seed=1), _model(seed=2)
    ids = _cyclic_batch(batch_size=8)
    hard = float(student.compute_loss({"item_ids": ids}, training=True))  # dropout 0: deterministic
    attach_teacher(student, teacher, DistillationConfig(teacher="t", temperature=3.0, weight=0.25))
    blended = float(student.compute_loss({"item_ids": ids}, training=True))
    history, targets = ids[:, :-1], ids[:, 1:]
    mask = ((history.numpy() != 0) & (targets.numpy() != 0)).reshape(-1)
    t = teacher.scores_for(tf.reshape(teacher.encode(history), [-1, 16])).numpy()
    s = student.scores_for(tf.reshape(student.encode(history), [-1, 16])).numpy()
    t, s = t[mask][:, 2:] / 3.0, s[mask][:, 2:] / 3.0
    log_pt, log_ps = _log_softmax(t), _log_softmax(s)
    kl = (np.exp(log_pt) * (log_pt - log_ps)).sum(axis=1).mean()
    assert blended == pytest.approx(0.75 * hard + 0.25 * 9.0 * kl, rel=1e-4)
    assert float(student.compute_loss({"item_ids": ids}, training=False)) == pytest.approx(hard, rel=1e-6)


def test_a_teacher_identical_to_the_student_adds_nothing():
    student, teacher = _model(seed=3), _model(seed=3)
    ids = _cyclic_batch(batch_size=8)
    attach_teacher(student, teacher, DistillationConfig(teacher="t", weight=1.0))
    assert float(student.compute_loss({"item_ids": ids}, training=True)) == pytest.approx(0.0, abs=1e-5)


def test_a_student_learns_the_cycle_from_soft_targets_alone():
    ids = _cyclic_batch(batch_size=64)
    data = tf.data.Dataset.from_tensors({"item_ids": ids}).repeat(300)
    teacher = _model(seed=4, embedding_dim=32, num_blocks=2)
    teacher.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    teacher.fit(data, epochs=1, verbose=0)
    student = _model("gru4rec", seed=5)
    attach_teacher(student, teacher, DistillationConfig(teacher="t", temperature=1.0, weight=1.0))
    student.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    student.fit(data, epochs=1, verbose=0)
    scores = student.score_all(ids[:, :-1]).numpy()
    scores[:, :2] = -np.inf
    assert (scores.argmax(axis=1) == ids[:, -1].numpy()).mean() >= 0.9


def test_teachers_and_students_that_cannot_be_paired_are_refused():
    student = _model()
    with pytest.raises(ValueError, match=r"scores 20 item ids, the student 14"):
        tf.keras.utils.set_random_seed(0)
        other = build_model("sasrec", SMALL, 20).build_for_inputs()
        attach_teacher(student, other, DistillationConfig(teacher="other"))
    with pytest.raises(ValueError, match=r"'bert4rec', which has no next-item state"):
        attach_teacher(student, _model("bert4rec"), DistillationConfig(teacher="b"))
    with pytest.raises(ValueError, match=r"model 'bert4rec' has its own training loss"):
        attach_teacher(_model("bert4rec"), _model(), DistillationConfig(teacher="s"))


def test_config_values_are_checked():
    with pytest.raises(ValueError, match=r"distillation.temperature=0 must be > 0"):
        DistillationConfig(temperature=0)
    with pytest.raises(ValueError, match=r"distillation.weight=1.5 must be in \(0, 1\]"):
        DistillationConfig(weight=1.5)
    cfg = load_train_config(None, ["distillation.teacher=runs/t", "distillation.temperature=4"], data_dir="d")
    assert cfg.distillation == DistillationConfig(teacher="runs/t", temperature=4.0)
    assert not load_train_config(None, [], data_dir="d").distillation.enabled


def test_cli_trains_a_small_student_from_a_teacher_run(tmp_path):
    data = generated_dataset(tmp_path / "data", 200, 80, 3)
    common = ["--data-dir", str(data), "--epochs", "1", "model_config.max_len=20", "batch_size=64", "verbose=0"]
    teacher = tmp_path / "teacher"
    assert main(["train", "--model", "sasrec", "--output-dir", str(teacher), *common]) == 0
    student = tmp_path / "student"
    overrides = [f"distillation.teacher={teacher}", "model_config.embedding_dim=16", "model_config.num_blocks=1"]
    assert main(["train", "--model", "sasrec", "--output-dir", str(student), *common, *overrides]) == 0
    run = json.loads((student / "run.json").read_text())
    assert run["config"]["distillation"] == {"teacher": str(teacher), "temperature": 2.0, "weight": 0.5}
    assert run["status"] == "finished" and np.isfinite(run["test_metrics"]["NDCG@10"])


def test_a_teacher_of_an_earlier_vocabulary_teaches_over_its_own_items():
    teacher, student = _model(seed=1), build_model("sasrec", SMALL, NUM_ITEMS + 6).build_for_inputs()
    ids = _cyclic_batch(batch_size=8)  # ids < NUM_ITEMS: the earlier items
    hard = float(student.compute_loss({"item_ids": ids}, training=True))
    with pytest.raises(ValueError, match=r"or on an earlier slice that this data extends"):
        attach_teacher(student, teacher, DistillationConfig(teacher="t"))
    attach_teacher(student, teacher, DistillationConfig(teacher="t", temperature=1.0, weight=0.5), grown=True)
    blended = float(student.compute_loss({"item_ids": ids}, training=True))
    history, targets = ids[:, :-1], ids[:, 1:]
    mask = ((history.numpy() != 0) & (targets.numpy() != 0)).reshape(-1)
    t = teacher.scores_for(tf.reshape(teacher.encode(history), [-1, 16])).numpy()[mask][:, 2:]
    s = student.scores_for(tf.reshape(student.encode(history), [-1, 16])).numpy()[mask][:, 2:NUM_ITEMS]
    log_pt, log_ps = _log_softmax(t), _log_softmax(s)  # the student's distribution over the teacher's items
    kl = (np.exp(log_pt) * (log_pt - log_ps)).sum(axis=1).mean()
    assert blended == pytest.approx(0.5 * hard + 0.5 * kl, rel=1e-4)


def test_cli_distils_the_previous_slices_model_while_fine_tuning(tmp_path):
    from tests.training.test_grown_tables import TINY, _slices
    from tests.conftest import FAST_BEAM

    first, second = _slices(tmp_path)
    d1, d2, d3 = tmp_path / "d1", tmp_path / "d2", tmp_path / "d3"
    assert main(["preprocess", "--input", str(first), "--output-dir", str(d1), *FAST_BEAM]) == 0
    assert main(["preprocess", "--input", str(second), "--output-dir", str(d2), "--base-vocabulary", str(d1),
                 *FAST_BEAM]) == 0  # fmt: skip
    assert main(["preprocess", "--input", str(second), "--output-dir", str(d3), *FAST_BEAM]) == 0  # no base
    run1, run2 = tmp_path / "run1", tmp_path / "run2"
    common = ["--model", "sasrec", "--epochs", "1", *TINY]
    assert main(["train", "--data-dir", str(d1), "--output-dir", str(run1), *common]) == 0
    argv = ["train", "--data-dir", str(d2), "--output-dir", str(run2), *common, f"init_from={run1}"]
    assert main(argv + [f"distillation.teacher={run1}"]) == 0
    run = json.loads((run2 / "run.json").read_text())
    assert run["status"] == "finished" and run["config"]["distillation"]["teacher"] == str(run1)
    refused = ["train", "--data-dir", str(d3), "--output-dir", str(tmp_path / "run3"), *common]
    assert main(refused + [f"distillation.teacher={run1}"]) == 2  # d3's ids are not d1's: refused by name

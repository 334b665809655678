"""The study on disk: interrupted trials come back, one coordinator per directory, distinct sampler seeds."""

import os

import optuna
import pytest
from optuna.trial import TrialState

from tfseqrec.tuning.space import ParamSpec, SearchSpace
from tfseqrec.tuning.study import LOCK_FILE, StudyLock, counts, open_study, recover_interrupted


def toy_space(**kwargs):
    return SearchSpace(
        name="toy",
        config=None,
        data_dir="d",
        params=(ParamSpec(key="optimizer.learning_rate", low=1e-4, high=1e-2),),
        **kwargs,
    )


def test_a_killed_trial_is_failed_and_queued_again_with_its_run_dir(tmp_path):
    study = open_study(toy_space(), str(tmp_path))
    done = study.ask()
    done.suggest_float("optimizer.learning_rate", 1e-4, 1e-2)
    study.tell(done, 0.5)
    killed = study.ask()
    lr = killed.suggest_float("optimizer.learning_rate", 1e-4, 1e-2)
    killed.set_user_attr("run_dir", "study/trials/trial_0001")  # then the process dies: the trial stays RUNNING
    assert counts(study) == {"COMPLETE": 1, "RUNNING": 1}

    reopened = open_study(toy_space(), str(tmp_path))
    assert recover_interrupted(reopened) == [1]
    assert counts(reopened) == {"COMPLETE": 1, "FAIL": 1, "WAITING": 1}
    assert reopened.trials[1].user_attrs["interrupted"] is True
    again = reopened.ask()
    assert again.suggest_float("optimizer.learning_rate", 1e-4, 1e-2) == lr
    assert again.user_attrs == {"run_dir": "study/trials/trial_0001", "resumes_trial": 1}
    assert recover_interrupted(reopened) == [2]  # asked but not told: RUNNING again, as after a second kill


def test_one_coordinator_per_study_directory(tmp_path):
    (tmp_path / LOCK_FILE).write_text(str(os.getppid()))  # a live process that is not this one
    with pytest.raises(ValueError, match="being tuned by process"):
        with StudyLock(str(tmp_path)):
            pass
    (tmp_path / LOCK_FILE).write_text("999999999")  # a dead one (a killed run): taken over
    with StudyLock(str(tmp_path)):
        assert (tmp_path / LOCK_FILE).read_text() == str(os.getpid())
    assert not (tmp_path / LOCK_FILE).exists()


def test_workers_and_resumed_studies_draw_different_random_trials(tmp_path):
    first = open_study(toy_space(startup_trials=10), str(tmp_path / "a"), worker=0)
    second = open_study(toy_space(startup_trials=10), str(tmp_path / "b"), worker=1)
    draw = [s.ask().suggest_float("optimizer.learning_rate", 1e-4, 1e-2) for s in (first, second)]
    assert draw[0] != draw[1]
    same = open_study(toy_space(startup_trials=10), str(tmp_path / "c"), worker=0)
    assert same.ask().suggest_float("optimizer.learning_rate", 1e-4, 1e-2) == draw[0]  # seeded: reproducible
    resumed = open_study(toy_space(startup_trials=10), str(tmp_path / "a"), worker=0)
    assert resumed.ask().suggest_float("optimizer.learning_rate", 1e-4, 1e-2) != draw[0]


def test_pruner_kinds(tmp_path):
    from tfseqrec.tuning.space import PrunerConfig
    from tfseqrec.tuning.study import make_pruner

    assert isinstance(make_pruner(toy_space(), 10), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner(toy_space(pruner=PrunerConfig("hyperband")), 10), optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner(toy_space(pruner=PrunerConfig("none")), 10), optuna.pruners.NopPruner)
    assert TrialState.PRUNED.name == "PRUNED"

"""A trial's config, the pruning callback and the metric check."""

import optuna
import pytest

from tfseqrec.tuning.trials import PruningCallback, check_metric, trial_config


def test_trial_config_sets_dotted_keys_quietly_and_resumably(tmp_path):
    base = {"data_dir": "d", "model": "sasrec", "model_config": {"max_len": 20}, "optimizer": {"name": "adam"}}
    cfg = trial_config(
        base, {"optimizer.learning_rate": 0.005, "model_config.dropout": 0.3}, str(tmp_path / "trial_0001")
    )
    assert cfg.optimizer.learning_rate == 0.005 and cfg.optimizer.name == "adam"
    assert cfg.model_config == {"max_len": 20, "dropout": 0.3}
    assert cfg.verbose == 0 and cfg.resume and cfg.output_dir.endswith("trial_0001")
    assert "dropout" not in base["model_config"]  # the base is not modified


def test_a_bad_sampled_value_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="learning_rate"):
        trial_config({"data_dir": "d"}, {"optimizer.learning_rate": -1.0}, str(tmp_path))


class FakeTrial:
    def __init__(self, prune_after: int):
        self.reports, self.prune_after = [], prune_after

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return len(self.reports) >= self.prune_after


def test_pruning_callback_reports_validations_and_prunes():
    trial = FakeTrial(prune_after=2)
    callback = PruningCallback(trial, "NDCG@10")
    callback.on_epoch_end(0, {"loss": 3.0})  # no validation this epoch: nothing reported
    callback.on_epoch_end(1, {"loss": 2.0, "val_NDCG@10": 0.1})
    assert trial.reports == [(2, 0.1)]
    with pytest.raises(optuna.TrialPruned, match="epoch 4"):
        callback.on_epoch_end(3, {"loss": 1.0, "val_NDCG@10": 0.12})
    assert trial.reports == [(2, 0.1), (4, 0.12)]


def test_only_logged_metrics_can_be_tuned_on():
    check_metric("HR@20")
    with pytest.raises(ValueError, match="cannot be tuned on"):
        check_metric("gini@10")

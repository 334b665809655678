"""Training configs: YAML/JSON files, keyword values and dotted overrides, typed and validated."""

import json
from pathlib import Path

import numpy as np
import pytest

from tfseqrec.tasks import LossConfig
from tfseqrec.training.config import OptimizerConfig, load_train_config, parse_overrides


def test_overrides_are_typed_yaml_scalars():
    assert parse_overrides(["a.b=1e-3", "c=true", "d=[1, 5]", "e=sasrec"]) == {
        "a": {"b": 1e-3},
        "c": True,
        "d": [1, 5],
        "e": "sasrec",
    }
    with pytest.raises(ValueError, match="not key=value"):
        parse_overrides(["oops"])


def test_file_then_values_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data_dir: a\nmodel_config: {max_len: 50, loss: {name: bce}}\noptimizer: {learning_rate: 0.01}\n")
    cfg = load_train_config(str(path), ["optimizer.learning_rate=5e-4", "ks=[5, 10]"], epochs=3)
    assert cfg.data_dir == "a" and cfg.epochs == 3 and cfg.ks == (5, 10)
    assert cfg.optimizer == OptimizerConfig(learning_rate=5e-4)
    assert cfg.model_config == {"max_len": 50, "loss": {"name": "bce"}}
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"data_dir": "b", "batch_size": 7}))
    assert load_train_config(str(js)).batch_size == 7


def test_bad_configs_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="no data_dir"):
        load_train_config(None, [])
    with pytest.raises(ValueError, match="TrainConfig has no field.*learning_rat"):
        load_train_config(None, ["data_dir=x", "learning_rat=1"])
    with pytest.raises(ValueError, match="optimizer.name"):
        load_train_config(None, ["data_dir=x", "optimizer.name=sgd"])
    with pytest.raises(ValueError, match="bucket_pool_batches"):
        load_train_config(None, ["data_dir=x", "bucket_pool_batches=-2"])


def test_model_config_builds_typed_nested_loss():
    from tfseqrec.models import build_model

    model = build_model("sasrec", {"max_len": 5, "embedding_dim": 8, "loss": {"name": "gbce", "num_negatives": 4}}, 20)
    assert model.config.loss == LossConfig(name="gbce", num_negatives=4)


def test_warmup_then_linear_decay():
    from tfseqrec.training.schedules import WarmupDecay

    schedule = WarmupDecay(1.0, warmup_steps=4, total_steps=12, decay="linear")
    values = [float(schedule(step)) for step in (0, 3, 4, 8, 12)]
    assert values == pytest.approx([0.25, 1.0, 1.0, 0.5, 0.0])


CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_committed_configs_load_and_build(path):
    from tfseqrec.models import build_model

    from tfseqrec.models.inputs import SideInputs

    cfg = load_train_config(str(path), ["data_dir=unused"])
    features = (cfg.model_config.get("inputs") or {}).get("item_features", ())
    side = SideInputs(  # stand-in tables for the item features a preset names
        tables={f: np.ones((3000, 2), np.int64) for f in features}, vocabulary_sizes={f: 4 for f in features}
    )
    model = build_model(cfg.model, cfg.model_config, 3000, item_counts=[0, 0] + [3] * 2998, side_inputs=side)
    assert model.config.max_len >= 1 and cfg.validation_metric.split("@")[-1].isdigit()
    if "@" in cfg.validation_metric:
        assert int(cfg.validation_metric.split("@")[1]) in cfg.ks  # the metric is computed

"""The committed search spaces (benchmarks/tune/) name real config keys and build valid trial configs."""

import dataclasses

import optuna
import pytest

from tests.conftest import REPO
from tfseqrec.models.registry import get_model_class
from tfseqrec.tuning.space import load_search_space
from tfseqrec.tuning.trials import trial_config

SPACES = sorted((REPO / "benchmarks" / "tune").glob("*.yaml"))


def test_there_are_committed_spaces():
    assert {p.stem for p in SPACES} >= {"sasrec_ml100k", "sasrec_beauty"}


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_space_keys_exist_and_every_corner_builds_a_config(path, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    space = load_search_space(str(path))
    base = space.base_values()
    _, model_config_class = get_model_class(base.get("model", "sasrec"))
    model_fields = {f.name for f in dataclasses.fields(model_config_class)}
    for spec in space.params:
        if spec.key.startswith("model_config."):
            assert spec.key.split(".")[1] in model_fields, spec.key
    for corner in ("low", "high"):
        values = {}
        for spec in space.params:
            if spec.type == "categorical":
                values[spec.key] = spec.choices[0 if corner == "low" else -1]
            else:
                values[spec.key] = getattr(spec, corner)
        params = space.sample(optuna.trial.FixedTrial(values))
        cfg = trial_config(base, params, str(tmp_path / corner))
        model_config_class(**{k: v for k, v in cfg.model_config.items() if k != "loss"})

"""The search space file: parsing, types, conditions and what a trial samples."""

import optuna
import pytest

from tfseqrec.tuning.space import ParamSpec, load_search_space


def write(tmp_path, text):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return str(path)


SPACE = """
name: toy
config: {config}
data_dir: some/data
overrides: [epochs=7, optimizer.name=adam]
trials: 5
params:
  optimizer.learning_rate: {{low: 1.0e-4, high: 1.0e-2, log: true}}
  model_config.num_blocks: {{low: 1, high: 3}}
  model_config.dropout: {{low: 0.0, high: 0.5, step: 0.1}}
  optimizer.name: {{choices: [adam, adamw]}}
  optimizer.weight_decay: {{low: 1.0e-4, high: 0.1, log: true, when: {{optimizer.name: adamw}}}}
  model_config.num_heads: {{choices: [1, 2], when: {{model_config.embedding_dim: [64, 128]}}}}
"""


@pytest.fixture
def space(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("model: sasrec\nmodel_config: {embedding_dim: 64, max_len: 20}\nepochs: 100\n")
    return load_search_space(write(tmp_path, SPACE.format(config=base)))


def test_types_are_inferred_from_the_bounds(space):
    by_key = {p.key: p for p in space.params}
    assert by_key["optimizer.learning_rate"].type == "float" and by_key["optimizer.learning_rate"].log
    assert by_key["model_config.num_blocks"].type == "int"
    assert by_key["model_config.dropout"].type == "float"
    assert by_key["optimizer.name"].type == "categorical"
    assert by_key["optimizer.weight_decay"].when == {"optimizer.name": ["adamw"]}
    assert space.trials == 5 and space.pruner.name == "median" and space.baseline


def test_base_values_merge_file_data_dir_and_overrides(space):
    base = space.base_values()
    assert base["epochs"] == 7 and base["data_dir"] == "some/data"
    assert base["model_config"] == {"embedding_dim": 64, "max_len": 20}
    assert base["optimizer"] == {"name": "adam"}


def test_conditional_key_is_sampled_only_where_its_condition_holds(space):
    adam = space.sample(
        optuna.trial.FixedTrial(
            {
                "optimizer.learning_rate": 1e-3,
                "model_config.num_blocks": 2,
                "model_config.dropout": 0.2,
                "optimizer.name": "adam",
                "model_config.num_heads": 2,
            }
        )
    )
    assert "optimizer.weight_decay" not in adam
    assert adam["model_config.num_heads"] == 2  # the base config's embedding_dim 64 satisfies the condition
    adamw = space.sample(
        optuna.trial.FixedTrial(
            {
                "optimizer.learning_rate": 1e-3,
                "model_config.num_blocks": 2,
                "model_config.dropout": 0.2,
                "optimizer.name": "adamw",
                "optimizer.weight_decay": 0.01,
                "model_config.num_heads": 1,
            }
        )
    )
    assert adamw["optimizer.weight_decay"] == 0.01


def test_samples_stay_in_range_and_on_the_step(space):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3), direction="maximize")
    for _ in range(30):
        trial = study.ask()
        values = space.sample(trial)
        study.tell(trial, 0.0)
        assert 1e-4 <= values["optimizer.learning_rate"] <= 1e-2
        assert values["model_config.num_blocks"] in (1, 2, 3)
        assert round(values["model_config.dropout"] * 10) == pytest.approx(values["model_config.dropout"] * 10)
        assert ("optimizer.weight_decay" in values) == (values["optimizer.name"] == "adamw")


@pytest.mark.parametrize(
    "params, message",
    [
        ("{a: {low: 1, high: 1}}", "must be below"),
        ("{a: {low: 0.0, high: 1.0, log: true}}", "low > 0"),
        ("{a: {low: 1}}", "give low and high"),
        ("{a: {choices: []}}", "choices is empty"),
        ("{a: {choices: [1], low: 0}}", "not both"),
        ("{a: {low: 0, high: 1, typo: 3}}", "unknown keys ['typo']"),
        ("{a: {low: 0, high: 1, when: {b: 1}}, b: {choices: [1, 2]}}", "sampled later"),
        ("{}", "params is empty"),
    ],
)
def test_bad_spaces_are_named(tmp_path, params, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_search_space(write(tmp_path, f"data_dir: d\nparams: {params}\n"))


def test_unknown_top_level_key_and_bad_pruner(tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        load_search_space(write(tmp_path, "data_dir: d\ntrails: 3\nparams: {a: {choices: [1]}}\n"))
    with pytest.raises(ValueError, match="pruner.name"):
        load_search_space(write(tmp_path, "data_dir: d\npruner: asha\nparams: {a: {choices: [1]}}\n"))


def test_explicit_float_type_for_integer_bounds():
    assert ParamSpec(key="x", low=1, high=3, type="float").type == "float"

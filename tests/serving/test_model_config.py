"""models.config parsing: names, relative base paths, version policies and clear errors."""

import os

import pytest

from tfseqrec.serving.model_config import (
    ModelConfigError,
    VersionPolicy,
    parse_model_config,
    read_model_config,
    single_model,
)

CONFIG = """
# two models
model_config_list {
  config { name: "a" base_path: "exports/a" model_platform: "tensorflow" }
  config {
    name: "b"
    base_path: "/abs/b"
    model_version_policy { latest { num_versions: 2 } }
  }
  config { name: "c" base_path: "c" model_version_policy { all {} } }
  config { name: "d" base_path: "d" model_version_policy { specific { versions: 3 versions: 1 } } }
}
"""


def test_parses_entries_and_resolves_relative_paths(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(CONFIG)
    a, b, c, d = read_model_config(str(path))
    assert (a.name, a.base_path, a.policy) == ("a", str(tmp_path / "exports" / "a"), VersionPolicy())
    assert (b.base_path, b.policy.describe()) == ("/abs/b", "latest 2")
    assert c.policy.describe() == "all"
    assert d.policy.versions == (1, 3)


def test_policies_select_versions():
    found = [1, 5, 3, 10]
    assert VersionPolicy().select(found) == [10]
    assert VersionPolicy("latest", 2).select(found) == [5, 10]
    assert VersionPolicy("all").select(found) == [1, 3, 5, 10]
    assert VersionPolicy("specific", versions=(3, 7)).select(found) == [3]


@pytest.mark.parametrize(
    "text, message",
    [
        ("model_config_list { config { name: 'a' base_path: 'x' } ", "not a valid text-format"),
        ("model_config_list { config { base_path: 'x' } }", "`name` is missing"),
        ("model_config_list { config { name: 'a' } }", "`base_path` is missing"),
        (
            "model_config_list { config { name: 'a' base_path: 'x' } config { name: 'a' base_path: 'y' } }",
            "listed twice",
        ),
        ("model_config_list { config { name: 'a' base_path: 'x' model_platform: 'pytorch' } }", "pytorch"),
        (
            "model_config_list { config { name: 'a' base_path: 'x' "
            "model_version_policy { latest { num_versions: 0 } } } }",
            "num_versions",
        ),
        ("model_config_list { }", "lists no models"),
        ("", "expected `model_config_list"),
    ],
)
def test_errors_name_the_file_and_the_problem(text, message):
    with pytest.raises(ModelConfigError) as e:
        parse_model_config(text, source="/x/models.config")
    assert "/x/models.config" in str(e.value) and message in str(e.value)


def test_missing_file_and_single_model(tmp_path):
    with pytest.raises(ModelConfigError, match="cannot read model config"):
        read_model_config(str(tmp_path / "nope.config"))
    (entry,) = single_model("m", "rel/dir")
    assert entry.base_path == os.path.abspath("rel/dir")
    with pytest.raises(ModelConfigError):
        single_model("a/b", "x")

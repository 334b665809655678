"""README.md: a short product page whose links resolve and whose extension recipe runs as printed."""

import json
import re
import sys

import pytest
import yaml

from tests.conftest import REPO, generated_dataset
from tfseqrec.cli import main

README = (REPO / "README.md").read_text()


def _blocks(language: str, after: str) -> list[str]:
    section = README.split(after, 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def test_readme_is_a_short_page_whose_relative_links_exist():
    assert len(README.splitlines()) <= 200
    links = re.findall(r"\]\((?!https?:|#)([^)#]+)", README)
    assert links and [link for link in links if not (REPO / link).exists()] == []


def test_the_extension_recipe_trains_as_printed(tmp_path, monkeypatch):
    models, losses = _blocks("python", "## Extending")
    (config_text,) = _blocks("yaml", "## Extending")
    package = tmp_path / "my_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "my_models.py").write_text(models)
    (package / "my_losses.py").write_text(losses)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = yaml.safe_load(config_text)
    assert config["plugins"] == ["my_package.my_models", "my_package.my_losses"]
    config_file = tmp_path / "config.yaml"
    config_file.write_text(config_text)
    data = generated_dataset(tmp_path / "data", 200, 80, 3)
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                str(config_file),
                "--data-dir",
                str(data),
                "--output-dir",
                str(run),
                "epochs=2",
                "verbose=0",
                "model_config.embedding_dim=16",
                "model_config.max_len=20",
            ]
        )
        == 0
    )
    summary = json.loads((run / "run.json").read_text())
    assert summary["status"] == "finished" and summary["model"] == "mean_pool"
    assert summary["model_config"]["loss"] == pytest.approx(
        {**summary["model_config"]["loss"], "name": "hinge", "margin": 0.5, "num_negatives": 64}
    )
    assert 0.0 <= summary["test_metrics"]["NDCG@10"] <= 1.0
    for module in ("my_package.my_models", "my_package.my_losses", "my_package"):
        sys.modules.pop(module, None)

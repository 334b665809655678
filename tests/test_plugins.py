"""Models and losses from outside ``tfseqrec``: a config's ``plugins:`` list, entry points, and the errors."""

import csv
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, generated_dataset
from tfseqrec.models import available_models, get_model_class, import_plugins
from tfseqrec.models import registry as model_registry
from tfseqrec.tasks import LossConfig, available_losses, get_loss_class
from tfseqrec.tasks import registry as loss_registry

TFSEQREC = str(Path(sys.executable).parent / "tfseqrec")  # the console script of this environment


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generated_dataset(tmp_path_factory.mktemp("plugin_data"), 200, 120, 3)


def _cli(*args: str) -> subprocess.CompletedProcess:
    """``tfseqrec ARGS`` in a fresh interpreter: only the config's plugins can register the toy model and loss."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # where tests.plugins.toy_plugin is importable from
    return subprocess.run([TFSEQREC, *args], env=env, capture_output=True, text=True, timeout=300)


def test_cli_trains_and_evaluates_a_plugin_model_with_a_plugin_loss(dataset, tmp_path):
    run = tmp_path / "run"
    config = tmp_path / "toy.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        data_dir: {dataset}
        plugins: [tests.plugins.toy_plugin]
        model: toy_last_item
        model_config:
          embedding_dim: 16
          max_len: 20
          dropout: 0.0
          loss: {{name: toy_hinge, margin: 0.5, num_negatives: 8, negatives_per: position}}
        optimizer: {{learning_rate: 0.01}}
        epochs: 4
        batch_size: 32
        verbose: 0
        output_dir: {run}
        """)
    )
    trained = _cli("train", "--config", str(config))
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "toy_last_item: test HR@10" in trained.stdout
    summary = json.loads((run / "run.json").read_text())
    assert summary["status"] == "finished" and summary["model"] == "toy_last_item" and summary["epochs_run"] == 4
    assert summary["config"]["plugins"] == ["tests.plugins.toy_plugin"]
    assert summary["model_config"]["loss"]["name"] == "toy_hinge" and summary["model_config"]["loss"]["margin"] == 0.5
    with open(run / "history.csv", newline="") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert len(losses) == 4 and losses[-1] < 0.6 * losses[0], losses
    assert (run / "checkpoints").is_dir() and (run / "test" / "metrics.json").exists()
    # a fresh process rebuilds the run from run.json, importing its plugins again
    evaluated = _cli("evaluate", str(run), "--output-dir", str(tmp_path / "again"))
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())["summary"]
    assert again["NDCG@10"] == pytest.approx(summary["test_metrics"]["NDCG@10"], abs=1e-9)


def _registered_in_sources(package: str, decorator: str) -> set:
    """Names registered by ``@decorator("name"`` lines in the package's modules."""
    pattern = re.compile(rf'^@{decorator}\("(\w+)"', re.MULTILINE)
    return {name for path in (REPO / package).glob("*.py") for name in pattern.findall(path.read_text())}


def test_a_fresh_process_finds_every_builtin_registration_without_a_list():
    models = _registered_in_sources("tfseqrec/models", "register")
    losses = _registered_in_sources("tfseqrec/tasks", "register_loss")
    assert {"sasrec", "hrnn"} <= models and {"full_ce", "gbce", "in_batch"} <= losses
    code = (
        "import json; from tfseqrec.models import available_models; from tfseqrec.tasks import available_losses; "
        "print(json.dumps([available_models(), available_losses()]))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    found_models, found_losses = json.loads(found.stdout.strip().splitlines()[-1])
    assert models <= set(found_models) and losses <= set(found_losses)


def test_a_missing_plugin_module_is_named(dataset, tmp_path):
    with pytest.raises(ValueError, match=r"plugins: cannot import 'no_such_plugin_module'.*PYTHONPATH"):
        import_plugins(["no_such_plugin_module"])
    from tfseqrec.training.config import load_train_config

    with pytest.raises(ValueError, match="plugins='tests.plugins.toy_plugin': give a list"):
        load_train_config(None, [f"data_dir={dataset}", "plugins=tests.plugins.toy_plugin"])
    assert load_train_config(None, [f"data_dir={dataset}", "plugins=[a.b]"]).plugins == ("a.b",)


def _install_dist(root: Path, entry_points: str, module: str, source: str) -> None:
    """A distribution in ``root`` as pip leaves one: ``<name>.dist-info`` with entry points, and its module."""
    dist_info = root / "toy_plugin_dist-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin-dist\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def isolated_registries(monkeypatch):
    """Registrations made in the test are dropped afterwards."""
    get_model_class("sasrec"), get_loss_class("full_ce")  # the built-ins are in the registries copied below
    monkeypatch.setattr(model_registry, "_REGISTRY", dict(model_registry._REGISTRY))
    monkeypatch.setattr(loss_registry, "_REGISTRY", dict(loss_registry._REGISTRY))


def test_entry_points_register_a_model_and_a_loss(tmp_path, monkeypatch, isolated_registries):
    _install_dist(
        tmp_path,
        """\
        [tfseqrec.models]
        ep_last_item = ep_toy_module:EntryPointModel
        [tfseqrec.losses]
        ep_hinge = ep_toy_module
        """,
        "ep_toy_module",
        """\
        from tfseqrec.models import register
        from tfseqrec.tasks import register_loss
        from tests.plugins.toy_plugin import Hinge, HingeConfig, LastItemConfig, LastItemModel

        EntryPointModel = register("ep_last_item", LastItemConfig)(type("EntryPointModel", (LastItemModel,), {}))
        register_loss("ep_hinge", HingeConfig)(type("EntryPointHinge", (Hinge,), {}))
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "ep_toy_module" not in sys.modules
    model_class, config_class = get_model_class("ep_last_item")  # loaded on first lookup
    assert model_class.__name__ == "EntryPointModel" and model_class.registry_name == "ep_last_item"
    assert "ep_toy_module" in sys.modules and "ep_last_item" in available_models()
    config = LossConfig(name="ep_hinge", margin=0.2, num_negatives=4)
    assert get_loss_class("ep_hinge").__name__ == "EntryPointHinge" and config.margin == 0.2
    assert "ep_hinge" in available_losses()


def test_broken_entry_points_are_named(tmp_path, monkeypatch, isolated_registries):
    _install_dist(
        tmp_path,
        """\
        [tfseqrec.models]
        ep_broken = ep_broken_module:Missing
        [tfseqrec.losses]
        ep_silent = ep_broken_module
        """,
        "ep_broken_module",
        "VALUE = 1\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        ValueError,
        match=r"entry point ep_broken = ep_broken_module:Missing \(group "
        r"tfseqrec.models\) failed to load: AttributeError",
    ):
        get_model_class("ep_broken")
    with pytest.raises(
        ValueError,
        match=r"entry point ep_silent = ep_broken_module \(group tfseqrec.losses\) "
        r"registered no loss named 'ep_silent'",
    ):
        LossConfig(name="ep_silent")
    assert get_model_class("sasrec")[0].registry_name == "sasrec"  # other names are not affected

"""scripts/dependencies.py: the package layers import only downwards, and docs/dependencies.svg is current."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "dependencies.py"


def _load():
    spec = importlib.util.spec_from_file_location("dependencies_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_module_imports_a_higher_layer():
    edges, upward = _load().layer_edges()
    assert upward == []
    assert ("training", "evaluation") in edges and ("serving", "export") in edges


def test_layers_are_assigned_by_longest_prefix():
    deps = _load()
    assert deps.layer_of("tfseqrec.ids") == "core"
    assert deps.layer_of("tfseqrec.host.machine") == "core"
    assert deps.layer_of("tfseqrec.synthetic") == "data"
    assert deps.layer_of("tfseqrec.models.sasrec") == "models"
    assert deps.layer_of("beam_pipelines.options") == "beam_pipelines"
    assert deps.layer_of("tensorflow") is None


def test_an_upward_import_is_reported(tmp_path, monkeypatch):
    deps = _load()
    package = tmp_path / "tfseqrec" / "data"
    package.mkdir(parents=True)
    (package / "bad.py").write_text("def f():\n    from tfseqrec.serving import Client\n")
    monkeypatch.setattr(deps, "REPO", tmp_path)
    monkeypatch.setattr(deps, "PACKAGES", ("tfseqrec",))
    edges, upward = deps.layer_edges()
    assert edges == {("data", "serving"): 1}
    assert upward == ["tfseqrec/data/bad.py:2: data imports tfseqrec.serving.Client (serving, a higher layer)"]
    assert 'stroke="red"' in deps.render_svg(edges)


def test_committed_picture_is_current():
    assert _load().main(["--check"]) == 0, "run: python scripts/dependencies.py"

"""One tiny trained SASRec, exported once through the CLI; the dataset and run are deleted afterwards, so every
test that uses it also proves that exports are self-contained.

The ``exported`` fixture is registered in ``tests/conftest.py`` so that ``tests/export`` and ``tests/serving``
share one session-scoped training and export. Tests must treat ``Exported.base`` as read-only (export into
their own ``tmp_path`` to write versions).
"""

import contextlib
import dataclasses
import io
import shutil
from pathlib import Path

import pytest

import tfseqrec  # noqa: F401

FAST = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
MAX_K = 50


@dataclasses.dataclass
class Exported:
    model: object  # the trained model, in memory (loaded before the run was deleted)
    vocabulary: list
    counts: list
    base: Path  # --output of `tfseqrec export`
    paths: dict  # variant -> version directory
    cli_output: str
    deleted: tuple  # dataset and run directories, removed after the export


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> Exported:
    from tfseqrec.cli import main
    from tfseqrec.data.spec import load_item_counts, load_vocabulary
    from tfseqrec.training.trainer import load_trained_model

    root = tmp_path_factory.mktemp("export")
    log, data, run, base = root / "log.csv", root / "data", root / "run", root / "saved_models"
    assert main(["generate", "--output", str(log), "--num-users", "200", "--num-items", "100", "--seed", "1"]) == 0
    assert main(["preprocess", "--input", str(log), "--output-dir", str(data), *FAST]) == 0
    assert (
        main(
            [
                "train",
                "--data-dir",
                str(data),
                "--model",
                "sasrec",
                "--output-dir",
                str(run),
                "--epochs",
                "2",
                "model_config.embedding_dim=16",
                "model_config.max_len=10",
                "verbose=0",
                "batch_size=64",
            ]
        )
        == 0
    )
    model, _, spec = load_trained_model(str(run))
    vocabulary, counts = load_vocabulary(spec), load_item_counts(spec)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["export", str(run), "--output", str(base), "--name", "tiny", "--max-k", str(MAX_K)]) == 0
    shutil.rmtree(data)
    shutil.rmtree(run)
    paths = {v: base / f"tiny_{v}" / "1" for v in ("brute_force", "scann")}
    return Exported(model, vocabulary, counts, base, paths, out.getvalue(), (data, run))

import os
from pathlib import Path

import pytest

import tfseqrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TFSEQREC_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data; the calling test is skipped when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


FAST_BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def generated_dataset(root: Path, num_users: int, num_items: int, seed: int, *preprocess_args: str) -> Path:
    """A generated interaction log under ``root``, preprocessed by the CLI into ``root/data`` (returned)."""
    from tfseqrec.cli import main

    log = root / "log.csv"
    assert (
        main(
            [
                "generate",
                "--output",
                str(log),
                "--num-users",
                str(num_users),
                "--num-items",
                str(num_items),
                "--seed",
                str(seed),
            ]
        )
        == 0
    )
    assert (
        main(["preprocess", "--input", str(log), "--output-dir", str(root / "data"), *preprocess_args, *FAST_BEAM]) == 0
    )
    return root / "data"


# The tiny trained and exported SASRec shared by tests/export and tests/serving (one training per session).
from tests.export.trained import exported  # noqa: E402,F401

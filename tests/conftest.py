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


# The tiny trained and exported SASRec shared by tests/export and tests/serving (one training per session).
from tests.export.trained import exported  # noqa: E402,F401

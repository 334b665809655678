#!/usr/bin/env bash
# Builds benchmarks/peers/.venv-recbole: a virtualenv with RecBole 1.2.1 and a CPU torch, separate from the
# package's own .venv (RecBole is not a dependency of tfseqrec). Idempotent: a step whose result is already
# there is skipped. Prints what it did.
#
#   bash benchmarks/peers/setup_recbole.sh            # PYTHON=python3.11 by default
#   TORCH_WHEEL=/path/to/torch.whl bash benchmarks/peers/setup_recbole.sh
#
# Pins (what is known to work here): torch 2.13.0 (CPU wheel on disk, else the registry), recbole 1.2.1,
# numpy<2 (RecBole 1.2.1 and its pinned dependencies predate numpy 2),
# pandas<3, setuptools<81 (ray, imported by recbole.quick_start, needs pkg_resources).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${RECBOLE_VENV:-$HERE/.venv-recbole}"
PYTHON="${PYTHON:-python3.11}"
TORCH_VERSION="2.13.0"
TORCH_WHEEL="${TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}"
RECBOLE_VERSION="1.2.1"
PINS=("numpy<2" "pandas<3" "setuptools<81")
NICE=(nice -n 15)

say() { echo "[setup_recbole] $*"; }

if [[ -x "$VENV/bin/python" ]]; then
  say "virtualenv $VENV exists: kept"
else
  say "creating virtualenv $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
  "${NICE[@]}" "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
PY="$VENV/bin/python"
PIP=("${NICE[@]}" "$PY" -m pip install --quiet)

installed_version() {  # prints the installed version of a distribution, or nothing
  "$PY" - "$1" <<'PYEOF' 2>/dev/null || true
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
PYEOF
}

have_torch="$(installed_version torch)"
if [[ "$have_torch" == "$TORCH_VERSION"* ]]; then
  say "torch $have_torch already installed: skipped"
elif [[ -f "$TORCH_WHEEL" ]]; then
  say "installing torch from the wheel on disk: $TORCH_WHEEL"
  "${PIP[@]}" "$TORCH_WHEEL" "numpy<2"
else
  say "no wheel at $TORCH_WHEEL: installing torch==$TORCH_VERSION from the package registry"
  "${PIP[@]}" "torch==$TORCH_VERSION" "numpy<2"
fi

have_recbole="$(installed_version recbole)"
if [[ "$have_recbole" == "$RECBOLE_VERSION" ]] && "$PY" - <<'PYEOF' 2>/dev/null
import numpy, pandas, pkg_resources  # noqa: F401
assert numpy.__version__.startswith("1."), numpy.__version__
assert int(pandas.__version__.split(".")[0]) < 3, pandas.__version__
PYEOF
then
  say "recbole $have_recbole with numpy<2, pandas<3, pkg_resources already installed: skipped"
else
  say "installing recbole==$RECBOLE_VERSION ${PINS[*]}"
  # The torch already installed satisfies recbole's torch requirement, so pip keeps it.
  "${PIP[@]}" "recbole==$RECBOLE_VERSION" "${PINS[@]}"
fi

say "checking the imports"
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 PYTHONWARNINGS="ignore::UserWarning" "${NICE[@]}" "$PY" - <<'PYEOF'
import numpy, pandas, torch
import recbole
from recbole.quick_start import run_recbole  # noqa: F401  (imports ray and the model zoo)
from recbole.model.sequential_recommender import SASRec, GRU4Rec, BERT4Rec  # noqa: F401
torch.autograd.set_detect_anomaly(False)  # RecBole 1.2.1's sine.py switches it on at import
print(f"[setup_recbole] ok: recbole {recbole.__version__}, torch {torch.__version__}, numpy {numpy.__version__}, "
      f"pandas {pandas.__version__}")
PYEOF
say "done: $PY"

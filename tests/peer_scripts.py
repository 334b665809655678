"""Loads the scripts of benchmarks/ and benchmarks/peers/ (not packages) as modules, for their tests."""

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
PEERS = BENCHMARKS / "peers"


def _load(module_name: str, path: Path):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the class is being made
    spec.loader.exec_module(module)
    return module


def load_peer_script(name: str):
    """``benchmarks/peers/<name>.py`` as a fresh module (its sibling imports resolve through its own sys.path)."""
    return _load(f"peers_{name}", PEERS / f"{name}.py")


def load_benchmark_script(name: str):
    """``benchmarks/<name>.py`` as a fresh module."""
    return _load(name, BENCHMARKS / f"{name}.py")

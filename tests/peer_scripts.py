"""Loads the scripts of benchmarks/peers/ (not a package) as modules, for their tests."""
import importlib.util
from pathlib import Path

PEERS = Path(__file__).resolve().parents[1] / "benchmarks" / "peers"


def load_peer_script(name: str):
    """``benchmarks/peers/<name>.py`` as a fresh module (its sibling imports resolve through its own sys.path)."""
    spec = importlib.util.spec_from_file_location(f"peers_{name}", PEERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

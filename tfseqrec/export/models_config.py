"""Writes TF Serving's ``models.config`` (a ``ModelServerConfig`` in text protobuf format).

After an export, ``<export_base>`` holds two files:

* ``models.config``: every exported model (all variants), for tfseqrec's server or a TF Serving built
  with the ScaNN ops;
* ``models.brute_force.config``: the ``brute_force`` models only, for a stock ``tensorflow_model_server``
  (``--model_config_file=models.brute_force.config``).

Entries of other models already in a file are kept; an entry with the same name is replaced. Each entry
serves the latest version of ``base_path`` (the absolute directory holding the integer version folders).
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

MODELS_CONFIG = "models.config"
BRUTE_FORCE_CONFIG = "models.brute_force.config"
HEADER = (
    "# TF Serving model config (text protobuf), written by `tfseqrec export`.\n"
    "# tensorflow_model_server --model_config_file=<this file> serves every entry.\n"
)


def read_models_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    """The parsed file, or an empty config when it does not exist."""
    config = model_server_config_pb2.ModelServerConfig()
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            try:
                text_format.Parse(f.read(), config)
            except text_format.ParseError as e:
                raise ValueError(f"{path} is not a valid TF Serving model config ({e}); fix or remove it") from None
    return config


def update_models_config(path: str, models: Mapping[str, str]) -> str:
    """Adds or replaces ``name -> base_path`` entries of the file at ``path`` (created if missing); returns it."""
    config = read_models_config(path)
    entries = config.model_config_list.config
    for name, base_path in models.items():
        kept = [e for e in entries if e.name != name]
        del entries[:]
        entries.extend(kept)
        entry = entries.add()
        entry.name = name
        entry.base_path = os.path.abspath(base_path)
        entry.model_platform = "tensorflow"
        entry.model_version_policy.latest.num_versions = 1
    text = HEADER + text_format.MessageToString(config)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)  # readers never see a half-written file
    return path


def update_export_configs(export_base: str, models: Mapping[str, str], variants: Iterable[str]) -> dict[str, str]:
    """Updates ``models.config`` with every ``served name -> base_path`` and ``models.brute_force.config`` with
    the brute-force ones (``variants`` is parallel to ``models``); returns ``{"all": path, "brute_force": path}``
    (the latter only when a brute-force model was exported)."""
    pairs = list(zip(models.items(), variants))
    written = {"all": update_models_config(os.path.join(export_base, MODELS_CONFIG), dict(models))}
    brute = {name: path for (name, path), variant in pairs if variant == "brute_force"}
    if brute:
        written["brute_force"] = update_models_config(os.path.join(export_base, BRUTE_FORCE_CONFIG), brute)
    return written

"""Reads TF Serving's ``models.config`` (a text-format ``ModelServerConfig``) into typed entries.

Only what our server acts on is kept: each model's name, base path and version policy. A relative
``base_path`` is resolved against the config file's directory, so a config next to its exports
(``saved_models/models.config`` with ``base_path: "sasrec_ml1m_brute_force"``) works from any working dir.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

LATEST, ALL, SPECIFIC = "latest", "all", "specific"


class ModelConfigError(ValueError):
    """A ``models.config`` that cannot be read or asks for something this server cannot do."""


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which integer version directories of a model to serve (TF Serving's ``ServableVersionPolicy``).

    ``kind`` is ``"latest"`` (the ``num_versions`` highest versions), ``"all"``, or ``"specific"``
    (exactly ``versions``).
    """

    kind: str = LATEST
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def __post_init__(self):
        if self.kind not in (LATEST, ALL, SPECIFIC):
            raise ValueError(f"version policy kind must be latest, all or specific, got {self.kind!r}")
        if self.kind == LATEST and self.num_versions < 1:
            raise ValueError(f"latest {{ num_versions }} must be >= 1, got {self.num_versions}")
        if self.kind == SPECIFIC and not self.versions:
            raise ValueError("specific { versions } must list at least one version")

    def select(self, versions: list[int]) -> list[int]:
        """The versions, among the loadable ``versions`` found on disk, that this policy serves (ascending)."""
        found = sorted(set(versions))
        if self.kind == ALL:
            return found
        if self.kind == LATEST:
            return found[-self.num_versions :]
        wanted = set(self.versions)
        return [v for v in found if v in wanted]

    def describe(self) -> str:
        if self.kind == LATEST:
            return f"latest {self.num_versions}"
        if self.kind == ALL:
            return "all"
        return "specific " + ",".join(map(str, self.versions))


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One served model: ``base_path`` holds its integer version directories."""

    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy()


def _resolve(base_path: str, config_dir: str) -> str:
    if "://" in base_path or os.path.isabs(base_path):
        return base_path
    if "://" in config_dir:
        return config_dir.rstrip("/") + "/" + base_path
    return os.path.normpath(os.path.join(config_dir, base_path))


def parse_model_config(text: str, source: str = "<models.config>", config_dir: str = ".") -> list[ModelEntry]:
    """Parses the text of a ``ModelServerConfig``; ``source`` names the file in error messages."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ModelConfigError(f"{source}: not a valid text-format ModelServerConfig: {e}") from None
    if config.WhichOneof("config") != "model_config_list":
        raise ModelConfigError(
            f"{source}: expected `model_config_list {{ config {{ ... }} }}`; custom_model_config is not supported"
        )
    entries, seen = [], set()
    for i, model in enumerate(config.model_config_list.config):
        where = f"{source}: config #{i + 1}" + (f" ({model.name!r})" if model.name else "")
        if not model.name:
            raise ModelConfigError(f"{where}: `name` is missing")
        if "/" in model.name or ":" in model.name:
            raise ModelConfigError(f"{where}: model names cannot contain '/' or ':' (they appear in REST URLs)")
        if model.name in seen:
            raise ModelConfigError(f"{where}: model name {model.name!r} is listed twice")
        seen.add(model.name)
        if not model.base_path:
            raise ModelConfigError(f"{where}: `base_path` is missing")
        if model.model_platform not in ("", "tensorflow"):
            raise ModelConfigError(
                f'{where}: model_platform {model.model_platform!r} is not supported; use "tensorflow"'
            )
        entries.append(ModelEntry(model.name, _resolve(model.base_path, config_dir), _policy(model, where)))
    if not entries:
        raise ModelConfigError(
            f"{source}: lists no models; add `model_config_list {{ config {{ name: ... base_path: ... }}}} }}}}`"
        )
    return entries


def _policy(model, where: str) -> VersionPolicy:
    if not model.HasField("model_version_policy"):
        return VersionPolicy()  # TF Serving's default: the latest version
    policy = model.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    try:
        if kind == "all":
            return VersionPolicy(ALL)
        if kind == "specific":
            return VersionPolicy(SPECIFIC, versions=tuple(sorted(set(policy.specific.versions))))
        return VersionPolicy(LATEST, num_versions=policy.latest.num_versions if kind == "latest" else 1)
    except ValueError as e:
        raise ModelConfigError(f"{where}: model_version_policy: {e}") from None


def read_model_config(path: str) -> list[ModelEntry]:
    """Reads ``path`` (a local file or a ``gs://``-style URL readable by ``tf.io.gfile``)."""
    try:
        if "://" in path:
            import tensorflow as tf

            text = tf.io.gfile.GFile(path).read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ModelConfigError(f"cannot read model config {path}: {e}") from None
    config_dir = os.path.dirname(os.path.abspath(path)) if "://" not in path else path.rsplit("/", 1)[0]
    return parse_model_config(text, source=path, config_dir=config_dir)


def single_model(name: str, base_path: str, policy: Optional[VersionPolicy] = None) -> list[ModelEntry]:
    """The entries for ``--model-name NAME --model-dir DIR`` (no config file)."""
    if not name or "/" in name or ":" in name:
        raise ModelConfigError(f"model name {name!r} must be non-empty without '/' or ':'")
    return [
        ModelEntry(name, base_path if "://" in base_path else os.path.abspath(base_path), policy or VersionPolicy())
    ]

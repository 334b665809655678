"""Filesystem helpers over Beam's FileSystems API, so local paths, gs:// and s3:// work alike."""

from __future__ import annotations

import io
import json
import posixpath
from typing import Any


def join(base: str, *parts: str) -> str:
    """Joins path parts for local paths and URLs (gs://bucket/dir) alike."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(base, *parts)


def read_text(path: str) -> str:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path, compression_type="uncompressed") as f:
        return f.read().decode("utf-8")


def write_text(path: str, text: str) -> None:
    """Writes a whole file. On object stores the write is atomic on close."""
    from apache_beam.io.filesystems import FileSystems

    parent = posixpath.dirname(path) if "://" in path else None
    if parent is None:
        import os

        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with FileSystems.create(path) as f:
        f.write(text.encode("utf-8"))


def read_json(path: str) -> Any:
    return json.loads(read_text(path))


def write_json(path: str, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def exists(path: str) -> bool:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(path)


def match(pattern: str) -> list[str]:
    """Sorted list of files matching a glob (empty when nothing matches)."""
    from apache_beam.io.filesystems import FileSystems

    result = FileSystems.match([pattern])[0]
    return sorted(m.path for m in result.metadata_list)


def open_binary(path: str) -> io.BufferedIOBase:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type="uncompressed")

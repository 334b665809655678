"""Exports for serving: SavedModels in TF Serving's layout with a brute-force and a ScaNN top-K variant.

``contract`` (signature, input and output names) is light to import; the rest loads TensorFlow on first use::

    from tfseqrec.export import ExportConfig, export_run
    paths = export_run("runs/sasrec", "saved_models", name="sasrec_ml1m")  # {variant: version dir}
"""

from __future__ import annotations

import importlib

_LAZY = {
    "ExportConfig": "tfseqrec.export.exporter",
    "export_model": "tfseqrec.export.exporter",
    "export_run": "tfseqrec.export.exporter",
    "served_name": "tfseqrec.export.exporter",
    "ScannConfig": "tfseqrec.export.indexes",
    "ServingModule": "tfseqrec.export.serving_module",
    "update_models_config": "tfseqrec.export.models_config",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfseqrec.export' has no attribute {name!r}")

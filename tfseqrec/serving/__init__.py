"""``tfseqrec serve``: TF Serving's gRPC and REST APIs for our SavedModel exports, plus a client.

Public API (imported lazily, so ``import tfseqrec.serving`` stays light)::

    from tfseqrec.serving import Server, ServerConfig, Client, ServingError
    with Server(ServerConfig(model_config_file="saved_models/models.config", grpc_port=0, rest_port=0)) as s:
        Client(f"localhost:{s.grpc_port}", "sasrec").recommend([["item_1", "item_2"]], k=10)

Modules: ``model_config`` (models.config), ``manager`` (versions, polling, swaps), ``servable`` (one loaded
version), ``batching``, ``predict`` (request checks), ``tensors`` (TensorProto <-> numpy), ``grpc_service``,
``rest`` + ``rest_json``, ``responses`` (status/metadata), ``server``, ``client``, ``errors``.
"""

from __future__ import annotations

_EXPORTS = {
    "Server": "tfseqrec.serving.server",
    "ServerConfig": "tfseqrec.serving.server",
    "Client": "tfseqrec.serving.client",
    "ServingError": "tfseqrec.serving.errors",
    "ModelEntry": "tfseqrec.serving.model_config",
    "VersionPolicy": "tfseqrec.serving.model_config",
    "read_model_config": "tfseqrec.serving.model_config",
    "ModelConfigError": "tfseqrec.serving.model_config",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tfseqrec.serving' has no attribute {name!r}")

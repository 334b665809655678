"""Runs a SavedModel's signatures the way TF Serving does: one ``Session`` per loaded version, each signature a
callable on the tensor names of its ``SignatureDef``.

TF Serving loads the ``serve`` MetaGraph into a C++ session (running ``__saved_model_init_op``: lookup tables,
ScaNN's searcher) and feeds / fetches the tensors its SignatureDef names; nothing of the Python object graph is
used. Doing the same here keeps our server honest about the contract (a signature that only works through
``tf.saved_model.load``'s Python wrappers would fail in TF Serving too) and is much lighter per call than a
restored ``ConcreteFunction``: ``Session.make_callable`` binds feeds and fetches once, so a request costs one C++
``RunCallable`` with numpy in and out (no tensor wrapping, no structured-signature matching).

Threads (``SessionOptions``): by default ``intra_op_threads=1, inter_op_threads=-1``: every op of a call runs in
the calling thread, with no hand-off to a pool and no pool threads spinning while they wait for work, so
concurrent requests (gRPC threads, merged batches) run side by side. Against TensorFlow's default pools (0, 0:
as large as the machine) it served a 1,000,000-item ScaNN export about 1.5x the requests/s of one client at half
the server CPU per request, and as many with 16 clients (``benchmarks/serving_revisions.py``, 2 cores). Big
single ops gain from the pools: brute force over a million items serves more with 0, 0. TensorFlow keeps one
intra-op pool per process, sized by its first use: the server sets it before anything else runs
(``server.set_tensorflow_threads``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2

Arrays = dict[str, np.ndarray]
SERVE_TAG = "serve"


@dataclasses.dataclass(frozen=True)
class SessionOptions:
    """``intra_op_threads``: threads one op may use (0 = TensorFlow's default, one per core);
    ``inter_op_threads``: ops of one call run at once (-1 = all in the caller's thread, 0 = TensorFlow's
    default) (TF Serving's ``--tensorflow_intra_op_parallelism`` / ``_inter_op_``)."""

    intra_op_threads: int = 1
    inter_op_threads: int = -1

    def __post_init__(self):
        if self.intra_op_threads < 0:
            raise ValueError(f"intra_op_threads must be >= 0 (0 = TensorFlow's default), got {self.intra_op_threads}")
        if self.inter_op_threads < -1:
            raise ValueError(
                f"inter_op_threads must be >= -1 (-1 = the caller's thread, 0 = TensorFlow's default), "
                f"got {self.inter_op_threads}"
            )

    def config(self) -> tf.compat.v1.ConfigProto:
        config = tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=self.intra_op_threads,
            inter_op_parallelism_threads=self.inter_op_threads,
            allow_soft_placement=True,  # ops without a GPU kernel (lookups, ScaNN) stay on the CPU
        )
        config.gpu_options.allow_growth = True  # several versions share one GPU
        # No Grappler pass over the whole MetaGraph: the signatures' functions are optimised when instantiated,
        # and a pass over the top-level graph (which holds the vocabulary and tables as constants) made loading
        # a 1,000,000-item export several times slower and larger, for no faster call.
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        return config


class SignatureRunner:
    """A SavedModel loaded into its own session; ``callable(signature_def)`` runs one signature on numpy."""

    def __init__(self, path: str, options: SessionOptions = SessionOptions()):
        """Loads the ``serve`` MetaGraph of ``path`` and runs its init op; raises ``tf.errors.OpError`` (and
        others, for corrupt files) when it cannot."""
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph, config=options.config())
        tf_log = logging.getLogger("tensorflow")
        level = tf_log.level
        tf_log.setLevel(logging.ERROR)  # the v1 loader's deprecation notice: this is TF Serving's way on purpose
        try:
            self.meta_graph = tf.compat.v1.saved_model.loader.load(self.session, [SERVE_TAG], path)
        except BaseException:
            self.session.close()
            raise
        finally:
            tf_log.setLevel(level)

    def callable(self, signature_def) -> Callable[[Mapping[str, np.ndarray]], Arrays]:
        """``run(inputs) -> outputs`` for a ``SignatureDef``: ``inputs`` maps its input keys to numpy arrays of
        the right dtype (strings: object arrays of bytes); the outputs come back as numpy, keyed like its
        outputs."""
        input_keys: Sequence[str] = sorted(signature_def.inputs)
        output_keys: Sequence[str] = sorted(signature_def.outputs)
        feeds = [signature_def.inputs[k].name for k in input_keys]
        fetches = [signature_def.outputs[k].name for k in output_keys]
        # Session.make_callable with feeds is Session.run underneath; a callable made from CallableOptions is one
        # TF_SessionRunCallable (what tf-keras' backend functions use), bound once.
        make = getattr(self.session, "_make_callable_from_options", None)
        if make is not None:
            fn = make(config_pb2.CallableOptions(feed=feeds, fetch=fetches))
        else:
            fn = self.session.make_callable(fetches, feeds)

        def run(inputs: Mapping[str, np.ndarray]) -> Arrays:
            values = fn(*(inputs[k] for k in input_keys))
            return dict(zip(output_keys, values))

        return run

    def close(self) -> None:
        self.session.close()

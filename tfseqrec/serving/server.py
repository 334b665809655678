"""The model server: a ModelManager behind TF Serving's gRPC and REST APIs.

Threads: gRPC handlers run on a pool of ``grpc_threads``; REST runs one thread per connection; one poller
thread loads new versions; batches run in the request threads themselves (see ``batching``), and by default so
do their TensorFlow ops (``inter_op_threads=-1``, ``session_runner``). ``stop(grace)``
stops accepting, lets in-flight requests finish (up to ``grace`` s), then stops the poller and unloads
every version. TensorFlow places the models on a GPU when one is visible; the device is logged at start.

Ports: ``0`` asks the OS for a free port (read ``grpc_port`` / ``rest_port`` after ``start()``); ``None``
disables that API.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from concurrent import futures
from typing import Optional

from tfseqrec.serving.batching import BatchingOptions
from tfseqrec.serving.model_config import ModelEntry, read_model_config
from tfseqrec.serving.predict import Limits
from tfseqrec.serving.session_runner import SessionOptions
from tfseqrec.serving.user_state import UserStateOptions

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """Everything ``tfseqrec serve`` takes. Give ``model_config_file`` or ``models`` (not both)."""

    model_config_file: Optional[str] = None
    models: tuple[ModelEntry, ...] = ()
    host: str = "127.0.0.1"
    grpc_port: Optional[int] = 8500
    rest_port: Optional[int] = 8501
    poll_seconds: float = 2.0  # 0 disables polling (versions found at start are served)
    max_batch_size: int = 64
    batch_timeout_micros: int = 500
    num_batch_threads: int = 1
    max_request_bytes: int = 16 << 20
    max_history: int = 2048
    max_k: int = 1000
    max_batch_rows: int = 1024
    grpc_threads: int = 32
    intra_op_threads: int = 1  # threads one op may use; 0 = TensorFlow's default (session_runner.SessionOptions)
    inter_op_threads: int = -1  # ops of one call at once; -1 = the request's own thread, 0 = TensorFlow's default
    unload_grace_seconds: float = 30.0
    wait_for_models: bool = True  # start() returns once the versions on disk are loaded
    monitoring: bool = True  # Prometheus metrics on the REST port at monitoring_path
    monitoring_path: str = "/monitoring/prometheus/metrics"
    request_log: Optional[str] = None  # JSON-lines log of a sample of served rows (tfseqrec monitor reads it)
    request_log_sample_rate: float = 0.01
    request_log_max_bytes: int = 64 << 20
    user_state: bool = True  # keep users' states for the append / reset signatures of streamable exports
    user_state_max_users: int = 100_000
    user_state_max_bytes: int = 1 << 30
    user_state_ttl_seconds: float = 3600.0

    def __post_init__(self):
        if (self.model_config_file is None) == (not self.models):
            raise ValueError("give exactly one of model_config_file (a models.config) and models")
        if self.grpc_port is None and self.rest_port is None:
            raise ValueError("both gRPC and REST are disabled; enable at least one port")
        for name in ("grpc_port", "rest_port"):
            port = getattr(self, name)
            if port is not None and not 0 <= port <= 65535:
                raise ValueError(f"{name} must be in [0, 65535] (0 = any free port) or None, got {port}")
        if self.poll_seconds < 0:
            raise ValueError(f"poll_seconds must be >= 0, got {self.poll_seconds}")
        if self.max_request_bytes < 1024:
            raise ValueError(f"max_request_bytes must be >= 1024, got {self.max_request_bytes}")
        if self.grpc_threads < 1:
            raise ValueError(f"grpc_threads must be >= 1, got {self.grpc_threads}")
        if not self.monitoring_path.startswith("/") or self.monitoring_path.startswith("/v1/"):
            raise ValueError(f"monitoring_path={self.monitoring_path!r} must start with / and not with /v1/")
        if not 0 < self.request_log_sample_rate <= 1:
            raise ValueError(f"request_log_sample_rate must be in (0, 1], got {self.request_log_sample_rate}")
        if self.request_log_max_bytes < 1024:
            raise ValueError(f"request_log_max_bytes must be >= 1024, got {self.request_log_max_bytes}")
        self.batching(), self.limits(), self.user_state_options(), self.session()  # validate them now

    def batching(self) -> BatchingOptions:
        return BatchingOptions(self.max_batch_size, self.batch_timeout_micros, self.num_batch_threads)

    def session(self) -> SessionOptions:
        return SessionOptions(self.intra_op_threads, self.inter_op_threads)

    def limits(self) -> Limits:
        return Limits(self.max_history, self.max_k, self.max_batch_rows)

    def user_state_options(self) -> Optional[UserStateOptions]:
        if not self.user_state:
            return None
        return UserStateOptions(
            self.user_state_max_users, self.user_state_max_bytes, self.user_state_ttl_seconds, self.max_history
        )

    def model_entries(self) -> list[ModelEntry]:
        return list(self.models) if self.models else read_model_config(self.model_config_file)


def _grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def set_tensorflow_threads(intra_op: int, inter_op: int) -> None:
    """Sizes TensorFlow's thread pools (0 = leave TensorFlow's default). Only possible before TensorFlow has run
    anything in this process; otherwise the pools stay as they are and a warning says so."""
    import tensorflow as tf

    threading_config = tf.config.threading
    for value, getter, setter, name in (
        (
            intra_op,
            threading_config.get_intra_op_parallelism_threads,
            threading_config.set_intra_op_parallelism_threads,
            "intra-op",
        ),
        (
            inter_op,
            threading_config.get_inter_op_parallelism_threads,
            threading_config.set_inter_op_parallelism_threads,
            "inter-op",
        ),
    ):
        if value and getter() != value:
            try:
                setter(value)
            except RuntimeError:
                log.warning(
                    "TensorFlow already ran in this process: its %s thread pool keeps %s threads (asked for %d)",
                    name,
                    getter() or "the default number of",
                    value,
                )


def serving_device() -> str:
    """The device TensorFlow places the models on: the first GPU when visible, else the CPU."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name if gpus else "CPU"


class Server:
    """``with Server(config) as server: ...`` or ``start()`` / ``wait()`` / ``stop(grace)``."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.manager = None
        self.grpc_port: Optional[int] = None
        self.rest_port: Optional[int] = None
        self.device: Optional[str] = None
        self._grpc = None
        self._rest = None
        self._stopped = threading.Event()
        self.stopping = threading.Event()  # set once stop() has begun: no new gRPC calls are accepted
        self._stop_lock = threading.Lock()
        self.metrics = None  # monitoring.ServingMetrics once started with monitoring
        self.request_log = None

    def start(self) -> "Server":
        import grpc

        from tfseqrec.serving.grpc_service import add_services
        from tfseqrec.serving.manager import ModelManager
        from tfseqrec.serving.monitoring import Monitor, RequestLog, ServingMetrics
        from tfseqrec.serving.rest import RestApp, RestServer

        cfg = self.config
        entries = cfg.model_entries()
        # Before anything else runs TensorFlow: its first use sizes the process-wide intra-op pool, which the
        # models' sessions share.
        set_tensorflow_threads(cfg.intra_op_threads, max(cfg.inter_op_threads, 0))
        self.device = serving_device()
        log.info("TensorFlow serves on %s", self.device)
        if cfg.monitoring:
            self.metrics = ServingMetrics([entry.name for entry in entries])
        if cfg.request_log:
            self.request_log = RequestLog(cfg.request_log, cfg.request_log_sample_rate, cfg.request_log_max_bytes)
        monitor = Monitor(self.metrics, self.request_log)
        self.manager = ModelManager(
            entries,
            cfg.batching(),
            cfg.poll_seconds,
            cfg.unload_grace_seconds,
            metrics=self.metrics,
            user_state=cfg.user_state_options(),
            session=cfg.session(),
        )
        self.manager.start(wait=cfg.wait_for_models)
        try:
            if cfg.grpc_port is not None:
                self._grpc = grpc.server(
                    futures.ThreadPoolExecutor(max_workers=cfg.grpc_threads, thread_name_prefix="tfseqrec-grpc"),
                    options=[
                        ("grpc.max_receive_message_length", cfg.max_request_bytes),
                        ("grpc.max_send_message_length", -1),
                        ("grpc.so_reuseport", 0),
                    ],
                )
                add_services(self._grpc, self.manager, cfg.limits(), monitor)
                address = _grpc_address(cfg.host, cfg.grpc_port)
                try:
                    self.grpc_port = self._grpc.add_insecure_port(address)
                except RuntimeError as e:
                    raise OSError(f"cannot listen for gRPC on {address}: {e}") from None
                if not self.grpc_port:
                    raise OSError(f"cannot listen for gRPC on {address} (port in use?)")
                self._grpc.start()
            if cfg.rest_port is not None:
                self._rest = RestServer(
                    RestApp(self.manager, cfg.limits(), cfg.max_request_bytes, monitor, cfg.monitoring_path),
                    cfg.host,
                    cfg.rest_port,
                )
                self.rest_port = self._rest.port
                self._rest.start()
        except BaseException:
            self.stop(0)
            raise
        log.debug("serving %s", self.describe())
        return self

    def describe(self) -> str:
        """Where the server listens and which model versions are live."""
        parts = []
        if self.grpc_port is not None:
            parts.append(f"gRPC on {_grpc_address(self.config.host, self.grpc_port)}")
        if self.rest_port is not None:
            parts.append(f"REST on http://{_grpc_address(self.config.host, self.rest_port)}")
        lines = [", ".join(parts) or "not listening"]
        if self.manager is not None:
            for name in self.manager.model_names:
                try:
                    states = ", ".join(
                        f"v{s.version} {s.state}" + (f" ({s.error_message})" if s.error_code != "OK" else "")
                        for s in self.manager.status(name)
                    )
                except Exception:  # noqa: BLE001  (no versions found yet)
                    states = "no versions found yet"
                lines.append(f"  model {name}: {states}")
        return "\n".join(lines)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Blocks until ``stop()`` finished (True) or ``timeout`` ran out (False)."""
        return self._stopped.wait(timeout)

    def stop(self, grace: Optional[float] = 5.0) -> None:
        """Stops accepting, finishes in-flight requests (up to ``grace`` s), unloads the models."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            grpc_done = self._grpc.stop(grace) if self._grpc is not None else None
            self.stopping.set()
            if self._rest is not None:
                self._rest.stop(grace)
            if grpc_done is not None:
                grpc_done.wait((grace or 0) + 5)
            if self.manager is not None:
                self.manager.stop(grace)
            if self.request_log is not None:
                self.request_log.close()
            self._stopped.set()
            log.info("server stopped")

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

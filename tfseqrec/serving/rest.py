"""TF Serving's REST API on a threaded stdlib HTTP server (one thread per connection, HTTP/1.1 keep-alive).

Routes::

    POST /v1/models/<name>[/versions/<v>]:predict     {"signature_name"?, "instances" | "inputs"}
    GET  /v1/models/<name>[/versions/<v>]             {"model_version_status": [...]}
    GET  /v1/models/<name>[/versions/<v>]/metadata    {"model_spec": ..., "metadata": {"signature_def": ...}}
    GET  /healthz                                     200 while the process serves
    GET  /readyz                                      200 once every model has an available version, else 503
    GET  /monitoring/prometheus/metrics               Prometheus metrics (``monitoring.py``), when enabled

Errors answer ``{"error": "message"}`` with TF Serving's HTTP mapping of the status code (400 for a bad
request, 404 for an unknown model, version or path, 503 while unavailable, ...). Bodies above
``max_request_bytes`` (by ``Content-Length``) are refused with 400 before being read. A handler never lets an
exception escape: unexpected ones answer 500 and are logged.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from tfseqrec.serving import predict as checks
from tfseqrec.serving import rest_json
from tfseqrec.serving.errors import ServingError, invalid, not_found
from tfseqrec.serving.manager import ModelManager
from tfseqrec.serving.monitoring import METRICS_PATH, Monitor, RequestLabels
from tfseqrec.serving.responses import metadata_json, metadata_response, status_json, status_response

log = logging.getLogger(__name__)
_MODEL = r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
_PREDICT = re.compile(_MODEL + r":(?P<method>predict|classify|regress)", re.IGNORECASE)
_STATUS = re.compile(_MODEL + r"(?P<metadata>/metadata)?/?", re.IGNORECASE)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() waits for in-flight requests itself; idle keep-alive threads just die
    allow_reuse_address = True

    def __init__(self, address, handler, app: "RestApp"):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, handler)


class Raw:
    """A response body that is not JSON (the metrics text)."""

    def __init__(self, body: bytes, content_type: str):
        self.body, self.content_type = body, content_type


class RestApp:
    """The routes and their logic, independent of the socket plumbing (``RestServer``)."""

    def __init__(
        self,
        manager: ModelManager,
        limits: checks.Limits,
        max_request_bytes: int,
        monitor: Monitor = Monitor(),
        metrics_path: str = METRICS_PATH,
    ):
        self.manager, self.limits, self.max_request_bytes = manager, limits, max_request_bytes
        self.monitor, self.metrics_path = monitor, metrics_path
        self._inflight = 0
        self._cond = threading.Condition()
        self.stopping = False

    def enter(self) -> bool:
        with self._cond:
            if self.stopping:
                return False
            self._inflight += 1
            return True

    def leave(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    def drain(self, timeout: Optional[float]) -> bool:
        with self._cond:
            self.stopping = True
            return self._cond.wait_for(lambda: self._inflight == 0, timeout)

    # -- routes -----------------------------------------------------------------------------------------
    def get(self, path: str) -> tuple[int, Any]:
        if path == "/healthz":
            return 200, {"status": "alive"}
        if path == "/readyz":
            models = {n: self.manager.live_versions(n) for n in self.manager.model_names}
            ready = self.manager.ready()
            return (200 if ready else 503), {"ready": ready, "models": models}
        if path == self.metrics_path and self.monitor.metrics is not None:
            return 200, Raw(*self.monitor.metrics.exposition())
        m = _STATUS.fullmatch(path)
        if not m:
            if _PREDICT.fullmatch(path):
                raise ServingError("INVALID_ARGUMENT", f"{path} takes POST, not GET")
            raise not_found(f"no route for GET {path}; see /v1/models/<name>[/versions/<v>][/metadata]")
        name, version = _name_version(m)
        if m.group("metadata"):
            return 200, metadata_json(metadata_response(self.manager, name, version))
        return 200, status_json(status_response(self.manager, name, version))

    def post(self, path: str, body: bytes, labels: Optional[RequestLabels] = None) -> tuple[int, Any]:
        """Answers a POST; ``labels`` (when given) learn the model, version and signature of a Predict."""
        labels = labels or RequestLabels("REST")
        m = _PREDICT.fullmatch(path)
        if not m:
            if _STATUS.fullmatch(path) or path in ("/healthz", "/readyz"):
                raise invalid(f"{path} takes GET, not POST")
            raise not_found(f"no route for POST {path}; see /v1/models/<name>[/versions/<v>]:predict")
        if m.group("method").lower() != "predict":
            raise ServingError(
                "UNIMPLEMENTED", f":{m.group('method')} is not supported by tfseqrec serve; use :predict"
            )
        name, version = _name_version(m)
        labels.model = name
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise invalid(f"malformed JSON in the request body: {e}") from None
        with self.manager.hold(name, version) as servable:
            labels.version = str(servable.version)
            limits = self.limits.for_model(servable.export_info)

            def resolve(signature_name):
                sig = checks.resolve_signature(servable, signature_name)
                labels.signature = sig.name
                return sig

            sig, arrays, fmt = rest_json.parse_predict_body(request, resolve, limits)
            outputs = checks.run(servable, sig, arrays, limits)
        self.monitor.served(labels, arrays)
        return 200, rest_json.format_outputs(outputs, fmt)


def _name_version(m: re.Match) -> tuple[str, Optional[int]]:
    if m.group("label"):
        raise ServingError("UNIMPLEMENTED", "version labels are not supported; use /versions/<number>")
    version = m.group("version")
    return urllib.parse.unquote(m.group("name")), (int(version) if version is not None else None)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tfseqrec-serve"
    disable_nagle_algorithm = True  # small responses on keep-alive connections must not wait for delayed ACKs
    timeout = 60  # idle keep-alive connections close after this many seconds

    def log_message(self, fmt, *args):  # route http.server's access log to logging at DEBUG
        log.debug("%s %s", self.address_string(), fmt % args)

    def do_GET(self):
        self._handle(post=False)

    def do_POST(self):
        self._handle(post=True)

    def _handle(self, post: bool) -> None:
        app: RestApp = self.server.app
        if not app.enter():
            self.close_connection = True
            self._send(503, {"error": "the server is shutting down"})
            return
        try:
            timing, labels, code = None, RequestLabels("REST"), "OK"
            start = time.perf_counter()
            try:
                path = urllib.parse.urlsplit(self.path).path
                if post:
                    body = self._read_body(app.max_request_bytes)
                    if body is None:
                        return
                    start = time.perf_counter()
                    status, payload = app.post(path, body, labels)
                    timing = checks.server_timing(time.perf_counter() - start)
                else:
                    status, payload = app.get(path)
            except ServingError as e:
                status, payload, code = e.http_status, {"error": e.message}, e.code
            except Exception as e:  # noqa: BLE001  (never kill the handler thread)
                log.exception("REST %s %s failed", self.command, self.path)
                status, payload, code = 500, {"error": f"internal error: {type(e).__name__}: {e}"}, "INTERNAL"
            if labels.model:  # a Predict route
                app.monitor.request_done(labels, code, time.perf_counter() - start)
            self._send(status, payload, timing)
        finally:
            app.leave()

    def _read_body(self, limit: int) -> Optional[bytes]:
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            self._send(
                411 if self.headers.get("Transfer-Encoding") else 400,
                {"error": "send the request body with a Content-Length header"},
            )
            return None
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            self._send(400, {"error": f"invalid Content-Length {length!r}"})
            return None
        if n > limit:
            self.close_connection = True  # the unread body must not be parsed as the next request
            self._send(
                400,
                {
                    "error": f"request body of {n} bytes is over this server's limit of {limit} "
                    "bytes (max_request_bytes); send fewer rows per request"
                },
            )
            return None
        return self.rfile.read(n)

    def _send(self, status: int, payload: Any, timing: Optional[str] = None) -> None:
        content_type = "application/json"
        try:
            if isinstance(payload, Raw):
                data, content_type = payload.body, payload.content_type
            else:
                data = json.dumps(payload).encode("utf-8")
        except (TypeError, ValueError) as e:
            status, data = 500, json.dumps({"error": f"cannot encode the response: {e}"}).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if timing is not None:
                self.send_header("Server-Timing", timing)  # JSON parsing, checks, batching and the model call
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True


class RestServer:
    """Serves ``RestApp`` on ``host:port`` (0 = an ephemeral port; read ``port`` after construction)."""

    def __init__(self, app: RestApp, host: str, port: int):
        self.app = app
        try:
            self._httpd = _Server((host, port), _Handler, app)
        except OSError as e:
            raise OSError(f"cannot listen for REST on {host}:{port}: {e}") from None
        self.port: int = self._httpd.server_address[1]
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="tfseqrec-rest", daemon=True
        )
        self._thread.start()

    def stop(self, grace: Optional[float]) -> bool:
        """Stops accepting, lets in-flight requests finish (up to ``grace`` s), closes the socket."""
        self._httpd.shutdown()
        drained = self.app.drain(grace)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        return drained

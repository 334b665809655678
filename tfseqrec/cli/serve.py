"""`tfseqrec serve`: serve exports over TF Serving's gRPC and REST APIs (see tfseqrec.serving)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tfseqrec.cli.common import Formatter

EPILOG = """\
Serve every model of a TF Serving models.config (text-format ModelServerConfig), or one export directory:

  tfseqrec serve --model-config saved_models/models.config
  tfseqrec serve --model-dir saved_models/sasrec_ml1m_brute_force --model-name sasrec --rest-port -1

A base path holds integer version directories (<base>/<version>/saved_model.pb); new versions are picked
up every --poll-seconds, warmed up and swapped in without failing requests; directories starting with '.'
(exports in progress) are ignored. Port 0 picks a free port; -1 disables that API.

  curl -d '{"instances": [["item_1", "item_2"]]}' http://127.0.0.1:8501/v1/models/sasrec:predict
  python -c 'from tfseqrec.serving import Client
  print(Client("127.0.0.1:8500", "sasrec").recommend([["item_1", "item_2"]], k=5))'

Streamable models (GRU4Rec) also answer `append` (user, item, k -> top-K; the server keeps each user's state,
so one event costs one model step) and `reset` (user) through Predict, like any signature:

  curl -d '{"signature_name": "append", "instances": [{"user": "u1", "item": "item_7", "k": 10}]}' \
      http://127.0.0.1:8501/v1/models/gru4rec:predict

Prometheus metrics (requests and errors by model, version, signature and code, latency and batch-size
histograms, model loads) are on the REST port at /monitoring/prometheus/metrics. --request-log writes a
sample of the served histories for `tfseqrec monitor` (drift from the training data).

Stop with Ctrl-C or SIGTERM: in-flight requests finish (up to --grace-seconds), then the server exits.
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "serve",
        formatter_class=Formatter,
        epilog=EPILOG,
        help="serve exported models over TF Serving's gRPC and REST APIs",
        description="Serve SavedModel exports with TF Serving's gRPC and REST APIs.",
    )
    src = p.add_argument_group("models (give --model-config, or --model-dir with --model-name)")
    src.add_argument("--model-config", metavar="FILE", help="TF Serving models.config (text-format ModelServerConfig)")
    src.add_argument("--model-dir", metavar="DIR", help="base path of one model (holds <version>/ directories)")
    src.add_argument("--model-name", metavar="NAME", help="name of the --model-dir model in request URLs/specs")
    net = p.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all interfaces)")
    net.add_argument(
        "--grpc-port", type=int, metavar="PORT", default=8500, help="gRPC port (0 = any free port, -1 = off)"
    )
    net.add_argument(
        "--rest-port", type=int, metavar="PORT", default=8501, help="REST port (0 = any free port, -1 = off)"
    )
    net.add_argument("--grpc-threads", type=int, metavar="N", default=32, help="gRPC handler threads")
    net.add_argument(
        "--max-request-bytes",
        type=int,
        metavar="N",
        default=16 << 20,
        help="largest request body (REST) or message (gRPC)",
    )
    t = p.add_argument_group("TensorFlow threads")
    t.add_argument(
        "--intra-op-threads",
        type=int,
        metavar="N",
        default=1,
        help="threads one op may use (1: with --inter-op-threads -1 every op runs in the request's own thread, "
        "the lowest latency and CPU per request; 0 = TensorFlow's default, one per core: for a few large ops, "
        "e.g. brute force over millions of items)",
    )
    t.add_argument(
        "--inter-op-threads",
        type=int,
        metavar="N",
        default=-1,
        help="ops of one call run at once (-1 = all in the request's own thread, no hand-off to a pool; "
        "0 = TensorFlow's default)",
    )
    b = p.add_argument_group("batching and limits")
    b.add_argument("--max-batch-size", type=int, metavar="N", default=64, help="most rows merged into one model call")
    b.add_argument(
        "--batch-timeout-micros",
        type=int,
        metavar="N",
        default=500,
        help="how long a batch may wait for more requests under load (an idle server never waits)",
    )
    b.add_argument(
        "--num-batch-threads",
        type=int,
        metavar="N",
        default=1,
        help="batches of one signature that may run at once",
    )
    b.add_argument(
        "--max-history",
        type=int,
        metavar="N",
        default=2048,
        help="most items per history row (a model exported with a longer max_len takes up to its max_len)",
    )
    b.add_argument("--max-k", type=int, metavar="N", default=1000, help="largest k a request may ask for")
    b.add_argument("--max-batch-rows", type=int, metavar="N", default=1024, help="most rows per request")
    v = p.add_argument_group("versions")
    v.add_argument(
        "--poll-seconds", type=float, metavar="S", default=2.0, help="how often to look for new versions (0 = never)"
    )
    v.add_argument(
        "--grace-seconds",
        type=float,
        metavar="S",
        default=10.0,
        help="on shutdown or unload, how long in-flight requests may take to finish",
    )
    u = p.add_argument_group("user state (append / reset of streamable models, e.g. GRU4Rec)")
    u.add_argument("--no-user-state", action="store_true", help="keep no per-user state (append is refused)")
    u.add_argument("--user-state-max-users", type=int, metavar="N", default=100_000, help="users kept (LRU)")
    u.add_argument("--user-state-max-mb", type=float, metavar="MB", default=1024.0, help="memory of the kept states")
    u.add_argument(
        "--user-state-ttl-seconds", type=float, metavar="S", default=3600.0, help="idle users are forgotten after this"
    )
    m = p.add_argument_group("monitoring")
    m.add_argument(
        "--monitoring-path",
        metavar="PATH",
        default="/monitoring/prometheus/metrics",
        help="where the REST port serves Prometheus metrics",
    )
    m.add_argument("--no-monitoring", action="store_true", help="do not serve Prometheus metrics")
    m.add_argument(
        "--request-log", metavar="FILE", help="write a sample of the served rows here, as JSON lines (off by default)"
    )
    m.add_argument(
        "--request-log-sample-rate",
        type=float,
        metavar="P",
        default=0.01,
        help="share of requests written to --request-log",
    )
    m.add_argument(
        "--request-log-max-mb",
        type=float,
        metavar="MB",
        default=64.0,
        help="size at which --request-log moves to FILE.1 and starts again (at most twice this on disk)",
    )
    return p


def build_config(args: argparse.Namespace):
    """The ServerConfig for ``args``; ValueError with a clear message on bad combinations."""
    from tfseqrec.serving.model_config import single_model
    from tfseqrec.serving.server import ServerConfig

    if bool(args.model_config) == bool(args.model_dir):
        raise ValueError("give either --model-config FILE or --model-dir DIR (with --model-name NAME)")
    if args.model_dir and not args.model_name:
        raise ValueError("--model-dir needs --model-name (the name clients call)")
    if args.model_config and args.model_name:
        raise ValueError("--model-name goes with --model-dir; a models.config names its models itself")
    return ServerConfig(
        model_config_file=args.model_config,
        models=tuple(single_model(args.model_name, args.model_dir)) if args.model_dir else (),
        host=args.host,
        grpc_port=None if args.grpc_port < 0 else args.grpc_port,
        rest_port=None if args.rest_port < 0 else args.rest_port,
        poll_seconds=args.poll_seconds,
        max_batch_size=args.max_batch_size,
        batch_timeout_micros=args.batch_timeout_micros,
        num_batch_threads=args.num_batch_threads,
        max_request_bytes=args.max_request_bytes,
        max_history=args.max_history,
        max_k=args.max_k,
        max_batch_rows=args.max_batch_rows,
        grpc_threads=args.grpc_threads,
        intra_op_threads=args.intra_op_threads,
        inter_op_threads=args.inter_op_threads,
        unload_grace_seconds=args.grace_seconds,
        monitoring=not args.no_monitoring,
        monitoring_path=args.monitoring_path,
        request_log=args.request_log,
        request_log_sample_rate=args.request_log_sample_rate,
        request_log_max_bytes=int(args.request_log_max_mb * (1 << 20)),
        user_state=not args.no_user_state,
        user_state_max_users=args.user_state_max_users,
        user_state_max_bytes=int(args.user_state_max_mb * (1 << 20)),
        user_state_ttl_seconds=args.user_state_ttl_seconds,
    )


def run_serve(args: argparse.Namespace) -> int:
    import logging

    from tfseqrec.serving.server import Server

    config = build_config(args)
    logging.getLogger("tfseqrec.serving").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: stop.set())
    try:
        server = Server(config).start()
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"tfseqrec serve on {server.device}: {server.describe()}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        print("stopping: finishing in-flight requests ...", flush=True)
        server.stop(args.grace_seconds)
        print("stopped", flush=True)
    return 0

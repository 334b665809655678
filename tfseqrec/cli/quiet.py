"""Quiet command-line runs: library logs stay hidden unless ``tfseqrec -v`` asks for them.

TensorFlow, Beam, absl and ScaNN print INFO and WARNING lines that say nothing about the user's run (CUDA probing,
oneDNN notices, ``tf.function`` retracing, Beam worker start-up, ScaNN's k-means). :func:`configure`, called
before TensorFlow or Beam is imported, hides them where each comes from; errors and our own messages still show:

* Python ``logging``: below ERROR only our packages' records (``tfseqrec``, ``beam_pipelines``) are printed;
* Python ``warnings``: those attributed to code outside our packages are ignored;
* TensorFlow's C++ logs: ``TF_CPP_MIN_LOG_LEVEL=3`` (TensorFlow's real errors surface as Python exceptions);
* Beam's worker processes: ``--default_sdk_harness_log_level=ERROR`` (:func:`beam_args`);
* what native code (ScaNN's absl logs) and child processes (a Beam worker's import-time logs) write to the
  stderr file descriptor: :func:`filtered_stderr` passes it through a filter process that drops the INFO and
  WARNING lines of the Python-logging, absl and TensorFlow log formats and forwards every other line.

Run as a script (``python quiet.py``), this module is that filter: stdin -> stdout, line by line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import warnings
from typing import BinaryIO, Iterator, Sequence

OWN_PACKAGES = ("tfseqrec", "beam_pipelines")
LIBRARY_LOGGERS = ("tensorflow", "absl", "apache_beam")
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
BEAM_LOG_LEVEL_FLAG = "--default_sdk_harness_log_level"

# One INFO/WARNING (or DEBUG) log line of a library, in the formats that reach stderr outside Python's logging.
LIBRARY_NOISE = re.compile(
    rb"(?:DEBUG|INFO|WARNING):[\w.-]+:"  # Python logging's default format (Beam workers)
    rb"|[DIW]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] "  # absl / glog C++ logs (ScaNN)
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] "  # TensorFlow's C++ logs
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\s*$"
)

_TF_LOG_LEVEL_AT_START = os.environ.get("TF_CPP_MIN_LOG_LEVEL")


def configure(verbose: bool) -> None:
    """Python logging, warnings and TensorFlow's C++ log level for a quiet (or, with ``verbose``, a full) run."""
    logging.basicConfig(format=LOG_FORMAT)
    logging.getLogger().setLevel(logging.INFO if verbose else logging.ERROR)
    for name in OWN_PACKAGES:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.ERROR)
    if verbose:
        _restore_env("TF_CPP_MIN_LOG_LEVEL", _TF_LOG_LEVEL_AT_START)
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        own = "|".join(OWN_PACKAGES)
        warnings.filterwarnings("ignore", module=rf"(?!(?:{own})(?:\.|$))")


def _restore_env(name: str, value) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def beam_args(args: Sequence[str], verbose: bool) -> list[str]:
    """``args`` plus ERROR-level logs from the local DirectRunner's worker processes, unless verbose or the caller
    set a level (a remote runner's workers log to their service, not to this terminal)."""
    args = list(args)
    runners = [a.split("=", 1)[1] for a in args if a.startswith("--runner=")]
    local = not runners or runners[-1] in ("DirectRunner", "direct")
    if local and not verbose and not any(a.startswith(BEAM_LOG_LEVEL_FLAG) for a in args):
        args.append(f"{BEAM_LOG_LEVEL_FLAG}=ERROR")
    return args


def is_library_noise(line: bytes) -> bool:
    """Whether ``line`` is a library's INFO/WARNING log line (see :data:`LIBRARY_NOISE`)."""
    return LIBRARY_NOISE.match(line) is not None


# The following lines of a multi-line log record: a protocol buffer in text format (TensorFlow's distributed
# runtime logs its SessionOptions so): indented lines, closing braces, ``field {`` and ``field: value``.
NOISE_CONTINUATION = re.compile(rb"\s|\}\s*$|[a-z_]+ \{\s*$|[a-z_]+: \S+\s*$")


def filter_lines(source: BinaryIO, sink: BinaryIO) -> None:
    """Copies ``source`` to ``sink`` line by line without the library noise lines (and the continuation lines of a
    multi-line noise record); flushes every line."""
    in_noise = False
    for line in iter(source.readline, b""):
        in_noise = is_library_noise(line) or (in_noise and NOISE_CONTINUATION.match(line) is not None)
        if not in_noise:
            sink.write(line)
            sink.flush()


@contextlib.contextmanager
def filtered_stderr(enabled: bool = True) -> Iterator[None]:
    """Routes the stderr file descriptor (fd 2) through the noise filter inside the block.

    Native code and child processes write there; the filter runs in its own process, so what they write still
    comes out when this process dies. Python's ``sys.stderr``, when it is the process's real stderr, keeps
    writing to the terminal directly (progress bars still see a terminal); the block's end waits for the
    filter to forward what it has read.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    try:
        flt = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__)], stdin=subprocess.PIPE, stdout=terminal
        )
    except OSError:  # no filter process: a noisy run is better than none
        flt = None
    if flt is None:
        os.close(terminal)
        yield
        return
    os.dup2(flt.stdin.fileno(), 2)
    flt.stdin.close()
    python_stderr = direct = sys.stderr
    if sys.stderr is sys.__stderr__:
        direct = sys.stderr = open(
            os.dup(terminal), "w", buffering=1, encoding=python_stderr.encoding, errors=python_stderr.errors
        )
    try:
        yield
    finally:
        if direct is not python_stderr:
            if sys.stderr is direct:
                sys.stderr = python_stderr
            direct.close()
        python_stderr.flush()
        os.dup2(terminal, 2)
        os.close(terminal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            flt.wait(timeout=10)  # longer only while a child process still holds the pipe


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the command; the filter drains until EOF
    filter_lines(sys.stdin.buffer, sys.stdout.buffer)

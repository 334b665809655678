"""Quiet command-line runs: library INFO/WARNING logs hidden by default, shown with ``tfseqrec -v``.

The CLI runs in subprocesses here: what it prints on a terminal (TensorFlow's C++ logs, Beam's worker processes)
only shows in a fresh process.
"""

import io
import os
import subprocess
import sys
import textwrap

import pytest

from tfseqrec import synthetic
from tfseqrec.cli import quiet
from tfseqrec.cli.quiet import is_library_noise

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBRARY_MARKERS = ("WARNING", "INFO", "absl", "apitools")


@pytest.mark.parametrize(
    "line",
    [
        b"WARNING:root:apitools not found, and bigquery client libraries are not available.\n",
        b"INFO:__main__:Logging handler created.\n",
        b"WARNING:apache_beam.options.pipeline_options:Discarding unparseable args: ['--pipeline_type_check']\n",
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        b"I0000 00:00:1796567515.167914    6022 partitioner_factory_base.cc:58] Size of sampled dataset: 829\n",
        b"W0000 00:00:1796567515.168494    6022 gmm_utils.cc:1026] Could not normalize centroid.\n",
        b"2026-12-06 14:30:36.542379: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.\n",
        b"2026-12-06 14:30:38.935073: W tensorflow/core/framework/op_kernel.cc:1] a warning\n",
    ],
)
def test_library_info_and_warning_lines_are_noise(line):
    assert is_library_noise(line)


@pytest.mark.parametrize(
    "line",
    [
        b"ERROR:root:a worker failed\n",
        b"E0000 00:00:1796567515.181228    6022 gmm_utils.cc:73] a native error\n",
        b"F0000 00:00:1796567515.181228    6022 check.cc:1] Check failed: x\n",
        b"2026-12-06 14:30:39.303121: E external/local_xla/xla/stream_executor/cuda/cuda_platform.cc:51] cuInit\n",
        b"Traceback (most recent call last):\n",
        b"error: the input is empty\n",
        b"WARNING tfseqrec.training: our own warning\n",
        b"done in 1.0 s\n",
    ],
)
def test_errors_tracebacks_and_our_messages_are_not_noise(line):
    assert not is_library_noise(line)


def test_filter_lines_keeps_everything_else_in_order():
    text = (
        b"INFO:__main__:Logging handler created.\n"
        b"Traceback (most recent call last):\n"
        b"W0000 00:00:1.5    7 a.cc:1] noise\n"
        b"ValueError: bad\n"
        b"no newline at the end"
    )
    sink = io.BytesIO()
    quiet.filter_lines(io.BytesIO(text), sink)
    assert sink.getvalue() == b"Traceback (most recent call last):\nValueError: bad\nno newline at the end"


def test_a_multi_line_noise_record_is_dropped_whole():
    text = (
        b"I0000 00:00:1.5    7 eager_service_impl.cc:355] SessionOptions: device_count {\n"
        b'  key: "CPU"\n'
        b"}\n"
        b"gpu_options {\n"
        b"}\n"
        b"allow_soft_placement: true\n"
        b"sasrec: test HR@10 0.76\n"
        b"  indented, but after our own line\n"
        b"error: bad input\n"
    )
    sink = io.BytesIO()
    quiet.filter_lines(io.BytesIO(text), sink)
    assert sink.getvalue() == b"sasrec: test HR@10 0.76\n  indented, but after our own line\nerror: bad input\n"


def test_beam_args_quiet_the_local_workers_only():
    level = "--default_sdk_harness_log_level=ERROR"
    assert quiet.beam_args(["--direct_num_workers=1"], verbose=False) == ["--direct_num_workers=1", level]
    assert quiet.beam_args([], verbose=True) == []
    assert quiet.beam_args(["--default_sdk_harness_log_level=DEBUG"], verbose=False) == [
        "--default_sdk_harness_log_level=DEBUG"
    ]
    assert quiet.beam_args(["--runner=DataflowRunner"], verbose=False) == ["--runner=DataflowRunner"]


def test_configure_keeps_our_logs_warnings_and_every_error():
    script = textwrap.dedent("""
        import logging, os, warnings
        from tfseqrec.cli import quiet
        quiet.configure(verbose=False)
        logging.getLogger("tensorflow").warning("tensorflow warning")
        logging.warning("root warning")
        logging.getLogger("apache_beam").error("beam error")
        logging.getLogger("tfseqrec.training").warning("our warning")
        logging.getLogger("tfseqrec.training").info("our info")
        for module in ("somelib", "tfseqrec.fake"):
            exec("import warnings; warnings.warn('warning from ' + __name__)", {"__name__": module})
        print("TF_CPP_MIN_LOG_LEVEL", os.environ["TF_CPP_MIN_LOG_LEVEL"])
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "TF_CPP_MIN_LOG_LEVEL 3\n"
    err = done.stderr.splitlines()
    assert err[:2] == ["ERROR apache_beam: beam error", "WARNING tfseqrec.training: our warning"]
    assert "warning from tfseqrec.fake" in done.stderr and "somelib" not in done.stderr and len(err) == 3


def test_native_code_and_child_processes_are_filtered_but_errors_pass():
    script = textwrap.dedent("""
        import os, subprocess, sys
        from tfseqrec.cli import quiet
        with quiet.filtered_stderr():
            child = "import os; os.write(2, b'INFO:__main__:noise\\\\nE0000 00:00:1.0 1 a.cc:1] child error\\\\n')"
            subprocess.run([sys.executable, "-c", child], check=True)
            os.write(2, b"W0000 00:00:1.0 1 b.cc:2] native noise\\n")
            os.write(2, b"native line of our own\\n")
            print("python stderr", file=sys.stderr)
        os.write(2, b"INFO:after:the filter is gone\\n")
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.decode().splitlines()
    assert sorted(lines) == sorted(
        [
            "E0000 00:00:1.0 1 a.cc:1] child error",
            "native line of our own",
            "python stderr",
            "INFO:after:the filter is gone",
        ]
    )


def _run_cli(verbose, *commands):
    """Runs ``main(command)`` for each command in one fresh process; returns its stdout + stderr."""
    calls = "\n".join(f"assert main({['-v'] * verbose + list(c)!r}) == 0" for c in commands)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0")  # TensorFlow's default, whatever the caller's shell set
    done = subprocess.run(
        [sys.executable, "-c", f"from tfseqrec.cli import main\n{calls}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def _library_lines(output):
    return [
        line
        for line in output.splitlines()
        if any(marker in line for marker in LIBRARY_MARKERS) or is_library_noise(line.encode() + b"\n")
    ]


@pytest.fixture(scope="module")
def tiny_log(tmp_path_factory):
    log = tmp_path_factory.mktemp("quiet") / "log.csv"
    synthetic.write_csv(synthetic.SyntheticConfig(num_users=60, num_items=100), str(log))
    return log


@pytest.mark.parametrize("verbose", [False, True])
def test_preprocess_and_evaluate_print_library_logs_only_when_verbose(tiny_log, tmp_path, verbose):
    """Beam's multi-process DirectRunner (worker processes), then TensorFlow (C++ logs, AutoGraph, retracing)."""
    data = str(tmp_path / "data")
    printed = _run_cli(
        verbose,
        [
            "preprocess",
            "--input",
            str(tiny_log),
            "--output-dir",
            data,
            "--direct_running_mode=multi_processing",
            "--direct_num_workers=1",
        ],
        ["evaluate", "--data-dir", data, "--baseline", "transitions"],
    )
    assert "rows read" in printed and "done in" in printed and '"NDCG@10"' in printed
    noise = _library_lines(printed)
    if verbose:
        assert any("apitools" in line for line in noise) and any("tensorflow" in line for line in noise), noise
    else:
        assert noise == []

"""`tfseqrec serve`: help, argument checks, and a real process that serves and exits cleanly on SIGTERM."""

import os
import re
import signal
import subprocess
import sys

import pytest

from tests.serving.conftest import http, make_model_dir, wait_for
from tfseqrec.cli import main


def test_help_lists_the_options_with_defaults(capsys):
    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "usage: tfseqrec serve" in text and "(default: 8500)" in text
    for flag in (
        "--model-config",
        "--model-dir",
        "--model-name",
        "--poll-seconds",
        "--max-batch-size",
        "--batch-timeout-micros",
        "--rest-port",
        "--intra-op-threads",
        "SIGTERM",
    ):
        assert flag in text


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "either --model-config"),
        (["--model-dir", "x"], "needs --model-name"),
        (["--model-config", "a", "--model-dir", "b", "--model-name", "m"], "either --model-config"),
    ],
)
def test_bad_argument_combinations(args, message, capsys):
    assert main(["serve", *args]) == 2
    assert message in capsys.readouterr().err


def test_missing_config_file_is_a_clear_error(tmp_path, capsys):
    assert main(["serve", "--model-config", str(tmp_path / "none.config"), "--grpc-port", "0", "--rest-port", "0"]) == 2
    assert "cannot read model config" in capsys.readouterr().err


def test_serve_process_answers_and_exits_cleanly_on_sigterm(exports, tmp_path):
    base = make_model_dir(tmp_path, "m", {1: exports["a"]})
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tfseqrec.cli",
            "serve",
            "--model-dir",
            base,
            "--model-name",
            "m",
            "--grpc-port",
            "0",
            "--rest-port",
            "0",
            "--poll-seconds",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines = []
    try:

        def rest_port():
            line = proc.stdout.readline()
            lines.append(line)
            m = re.search(r"REST on http://127\.0\.0\.1:(\d+)", line)
            return int(m.group(1)) if m else (proc.poll() is not None and -1)

        port = wait_for(rest_port, timeout=120, interval=0, what="the server to start")
        assert port > 0, "".join(lines)
        assert http(port, "GET", "/readyz")[0] == 200
        assert http(port, "POST", "/v1/models/m:predict", {"instances": [["item_1"]]})[0] == 200
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        out = proc.stdout.read()  # not communicate(): it would skip what readline() already buffered
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    assert "model m: v1 AVAILABLE" in text and "stopped" in text

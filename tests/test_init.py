"""Importing tfseqrec picks Keras 2 for TFRS, and refuses a TensorFlow already bound to Keras 3."""

import os
import subprocess
import sys


def _python(code: str, **env):
    environ = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=300)


def test_import_sets_legacy_keras_before_tensorflow():
    out = _python(
        "import os, tfseqrec, sys; assert 'tensorflow' not in sys.modules; "
        "print(os.environ['TF_USE_LEGACY_KERAS']); import tensorflow as tf; print(tf.keras.__name__)"
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[0] == "1" and lines[1].startswith("tf_keras")


def test_tensorflow_imported_first_with_keras_3_is_refused():
    out = _python("import tensorflow as tf; tf.keras.layers; import tfseqrec")
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "uses Keras 3 as tf.keras" in out.stderr
    assert "Import tfseqrec before tensorflow" in out.stderr


def test_explicit_keras_3_setting_is_refused():
    out = _python("import tfseqrec", TF_USE_LEGACY_KERAS="0")
    assert out.returncode != 0 and "needs Keras 2 (tf-keras)" in out.stderr

"""tfseqrec: neural sequential recommendation on TensorFlow Recommenders.

TFRS 0.7.7 needs Keras 2 (``tf-keras``). TensorFlow picks the Keras version when it is first
imported, so this module sets ``TF_USE_LEGACY_KERAS=1`` before anything imports TensorFlow, and
refuses to go on when TensorFlow was already imported with Keras 3 as ``tf.keras``.

Importing ``tfseqrec`` does not import TensorFlow itself: Beam workers that only preprocess
data stay light.
"""

import os
import sys

__version__ = "0.1.0"

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def _check_keras_version() -> None:
    """Raises ImportError if TensorFlow was imported earlier with Keras 3 as ``tf.keras``."""
    if os.environ.get("TF_USE_LEGACY_KERAS") not in ("1", "true", "True"):
        raise ImportError(
            "tfseqrec needs Keras 2 (tf-keras) for TensorFlow Recommenders, but TF_USE_LEGACY_KERAS is "
            f"set to {os.environ['TF_USE_LEGACY_KERAS']!r}. Unset it or set TF_USE_LEGACY_KERAS=1."
        )
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    keras_module = getattr(getattr(tf, "keras", None), "__name__", "")
    if keras_module and not keras_module.startswith("tf_keras"):
        raise ImportError(
            "TensorFlow was imported before tfseqrec and uses Keras 3 as tf.keras "
            f"({keras_module}); TensorFlow Recommenders needs Keras 2. Import tfseqrec before "
            "tensorflow, or set TF_USE_LEGACY_KERAS=1 in the environment before starting Python."
        )


_check_keras_version()

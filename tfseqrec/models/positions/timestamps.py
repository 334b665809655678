"""The record feature that time-aware position encodings read.

A model whose encoding ``reads_timestamps`` lists ``timestamps`` in its ``encoder_features`` (so the trainer, the
evaluator and exports pass them, see ``tfseqrec.models.base``); they reach ``encode`` as ``features["timestamps"]``
``[B, L]`` like ``item_ids`` (int ms in the records; any unit works for the built-in kinds).
"""

from tfseqrec.models.inputs import TIMESTAMPS

__all__ = ["TIMESTAMPS"]

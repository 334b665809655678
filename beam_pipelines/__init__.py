"""Apache Beam pipelines that turn raw interaction logs into per-user / per-session sequences.

``beam_pipelines.preprocess`` is the entry point (``tfseqrec preprocess`` on the command line).
Readers and per-row parsing live in ``readers``; each step is a named ``PTransform`` in
``transforms``; the steps that work on one sequence at a time are plain functions in
``sequence_ops`` so that the pure-Python reference (``tests/beam_pipelines/reference.py``) can be compared with them.
Side features (item and user tables) are read by ``feature_tables``, follow the rules of ``side_features`` and run
as the ``PTransform``s of ``feature_transforms``.
"""

"""Hyperparameter search over any training config key with Optuna (``tfseqrec tune``).

``space`` reads the search space, ``trials`` trains one sampled config and reports its validation curve to the
pruner, ``study`` runs the resumable, parallel study on disk, ``report`` writes the report, plots and the best
config as a preset.
"""

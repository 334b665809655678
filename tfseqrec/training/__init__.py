"""Training with ``model.fit``: typed configs, schedules, full-ranking validation callbacks, the trainer."""

from tfseqrec.training.config import OptimizerConfig, TrainConfig, load_train_config, parse_overrides

__all__ = ["OptimizerConfig", "TrainConfig", "load_train_config", "parse_overrides", "train"]


def train(cfg: TrainConfig, model=None, callbacks=()) -> dict:
    """See :func:`tfseqrec.training.trainer.train` (imported lazily: it imports TensorFlow)."""
    from tfseqrec.training.trainer import train as _train

    return _train(cfg, model, callbacks)

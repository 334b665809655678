"""Sequential recommenders on one contract (``base.SequentialRecommender``) and their registry."""

from tfseqrec.plugins import import_plugins
from tfseqrec.models.registry import available_models, config_from_dict, get_model_class, register

__all__ = ["available_models", "config_from_dict", "get_model_class", "import_plugins", "register", "build_model"]


def build_model(name: str, config: dict | None, num_items: int, item_counts=None):
    """A model by registry name, from a plain dict of config values (unknown keys are an error)."""
    model_class, config_class = get_model_class(name)
    return model_class(config_from_dict(config_class, config or {}), num_items, item_counts=item_counts)

"""Sequential recommenders on one contract (``base.SequentialRecommender``) and their registry."""

from tfseqrec.plugins import import_plugins
from tfseqrec.models.registry import available_models, config_from_dict, get_model_class, register

__all__ = ["available_models", "config_from_dict", "get_model_class", "import_plugins", "register", "build_model"]


def build_model(name: str, config: dict | None, num_items: int, item_counts=None, spec=None, side_inputs=None):
    """A model by registry name, from a plain dict of config values (unknown keys are an error).

    ``spec``: the dataset's ``FeatureSpec`` (or directory); the side-feature tables that ``inputs`` names are read
    from it (``tfseqrec.models.inputs``). ``side_inputs``: those tables given directly (``SideInputs``). Without
    either, a config naming side features is an error.
    """
    from tfseqrec.models.inputs import side_inputs_from_spec

    model_class, config_class = get_model_class(name)
    model_config = config_from_dict(config_class, config or {})
    if spec is not None:
        side_inputs = side_inputs_from_spec(spec, model_config.inputs)
    return model_class(model_config, num_items, item_counts=item_counts, side_inputs=side_inputs)

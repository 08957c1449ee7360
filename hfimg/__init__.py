"""hfimg: classic deep image generation and restoration, as Hugging Face Hub models."""

from hfimg.models import *  # noqa: F403  (registers every family)
from hfimg.models import __all__ as _model_names
from hfimg.registry import create_model, list_models, load, model_names

__version__ = "0.1.0"
__all__ = [*_model_names, "create_model", "list_models", "load", "model_names", "__version__"]

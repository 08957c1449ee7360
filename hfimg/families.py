"""The table of model families: each family class registers itself under a name with `@register_model("name")`.

Kept apart from hfimg.registry (which loads and builds models by name) so that the model files import this small
module and the registry imports the models, and no import runs in a circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hfimg.hub import HubModel

FAMILIES: dict[str, type[HubModel]] = {}  # name (config.json's model_type) -> class


def register_model(name: str):
    """Class decorator: register a HubModel subclass under `name` (also stored as `model_type` in config.json)."""

    def decorator(cls: type[HubModel]) -> type[HubModel]:
        if name in FAMILIES:
            raise ValueError(f"model name {name!r} is registered twice ({FAMILIES[name].__name__}, {cls.__name__}).")
        cls.model_type = name
        FAMILIES[name] = cls
        return cls

    return decorator

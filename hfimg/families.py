"""The table of model families: each family class registers itself under a name with `@register_model("name")`,
with the facts about it that the rest of the package reads, declared once beside the class: a tiny configuration
(for tests and quick checks) and, for a family train.py trains, the objective that trains it and its optimizer /
loss / EMA defaults.

Kept apart from hfimg.registry (which loads and builds models by name) so that the model files import this small
module and the registry imports the models, and no import runs in a circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hfimg.hub import HubModel

FAMILIES: dict[str, type[HubModel]] = {}  # name (config.json's model_type) -> class


def register_model(
    name: str, *, tiny: dict[str, Any], objective: str | None = None, training: dict[str, Any] | None = None
):
    """Class decorator: register a HubModel subclass under `name` (also stored as `model_type` in config.json).

    Args:
        name: the registry name.
        tiny: `__init__` kwargs of a small model of the family (thousands of parameters, seconds to train a few
            steps): what the tests, the training smoke runs and the benchmarks' quick modes build.
        objective: the name of the objective train.py trains the family with (`hfimg.training`: "gan", "vae",
            "inpaint", "denoise"); None = not trained by train.py.
        training: with an objective, the family's optimizer, loss, EMA and memory-format defaults
            (`hfimg.training.config.FamilyDefaults` fields; None or {} = the general defaults).
    """
    if training is not None and objective is None:
        raise ValueError(f"model {name!r}: training defaults are for a family with an objective.")

    def decorator(cls: type[HubModel]) -> type[HubModel]:
        if name in FAMILIES:
            raise ValueError(f"model name {name!r} is registered twice ({FAMILIES[name].__name__}, {cls.__name__}).")
        cls.model_type = name
        cls.tiny_config = dict(tiny)
        cls.objective = objective
        cls.training_defaults = None if objective is None else dict(training or {})
        FAMILIES[name] = cls
        return cls

    return decorator

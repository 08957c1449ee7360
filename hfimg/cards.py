"""The one place a model card is written: Hub metadata from the model's class, the caller's fields, a template.

Every card of the project goes through `model_card`: the card `save_pretrained` writes (`HubModel
.generate_model_card`), the card of a train.py run (`hfimg.training.card`), the classifier's card
(scripts/train_classifier.py) and the shipped models' cards (scripts/make_model_cards.py). The class gives what
is true of every model of it (library_name, license, pipeline_tag, tags, as declared on the class for
`PyTorchModelHubMixin`); the caller adds what is true of one trained model (its name, datasets, measured
numbers, extra tags); the template gives the prose.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

if TYPE_CHECKING:  # hfimg.hub imports this module: the class is only needed for the annotations
    from hfimg.hub import HubModel


def card_data(
    model: HubModel,
    *,
    model_name: str | None = None,
    datasets: Iterable[str] = (),
    eval_results: list[EvalResult] | None = None,
    tags: Iterable[str] = (),
) -> ModelCardData:
    """The card metadata of `model`: its class's, merged with what the caller adds.

    Args:
        model: the model; its class gives library_name, license, pipeline_tag and tags.
        model_name: the model's name in the model-index. Only written with `eval_results`: the model-index is the one
            place the Hub reads it from, and a bare `model_name` key would be an unknown field in the header.
        datasets: Hub dataset ids the model was trained on (none: no `datasets` key).
        eval_results: measured numbers for the model-index (none: no model-index).
        tags: tags added to the class's; the union is sorted, so the header does not depend on who added which.
    """
    data, _ = model.card_defaults()  # the class's metadata, a copy of it
    data.tags = sorted({*(data.tags or ()), *tags})
    data.datasets = list(datasets) or None
    if eval_results:
        data.model_name = model_name
        data.eval_results = eval_results
    return data


def model_card(
    model: HubModel,
    *,
    template: str | Path | None = None,
    model_name: str | None = None,
    datasets: Iterable[str] = (),
    eval_results: list[EvalResult] | None = None,
    tags: Iterable[str] = (),
    **fields: Any,
) -> ModelCard:
    """The Hub card of `model`: `card_data(...)` as its YAML header, the rest rendered from a Jinja template.

    Args:
        model: the model the card describes.
        template: a template file (a Path), a template text (a str), or None for the class's template
            (`hfimg.hub.MODEL_CARD_TEMPLATE` unless a class sets its own).
        model_name, datasets, eval_results, tags: see `card_data`. `model_name` is also a template field (the
            heading of the class template), "hfimg <model_type>" when not given.
        **fields: the template's other fields. `class_name` defaults to the model's class name, and the class's
            `repo_url`, `paper_url` and `docs_url` are there for the class template, as the Hub mixin passes them.
    """
    _, defaults = model.card_defaults()
    data = card_data(model, model_name=model_name, datasets=datasets, eval_results=eval_results, tags=tags)
    fields = {
        "repo_url": defaults["repo_url"],
        "paper_url": defaults["paper_url"],
        "docs_url": defaults["docs_url"],
        "class_name": type(model).__name__,
        "model_name": model_name or f"hfimg {model.model_type}",
        **fields,
    }
    if isinstance(template, Path):
        return ModelCard.from_template(data, template_path=str(template), **fields)
    return ModelCard.from_template(data, template_str=defaults["template"] if template is None else template, **fields)

"""The Hub base class every hfimg model subclasses.

`HubModel` is `nn.Module` + `huggingface_hub.PyTorchModelHubMixin` with the project's card metadata, plus three
things the mixin does not do for us:

* `config.json` also records `model_type` (the registry name), so `hfimg.load` can rebuild the right class from
  any folder or Hub repo;
* loading is `strict=True` by default and a config whose shapes do not match the weights fails with a message
  that says so (the mixin's default silently ignores missing keys);
* weights are safetensors only: a repo that only has a pickled `pytorch_model.bin` is refused, because unpickling
  a file from the internet can run arbitrary code;
* weights holding NaN or infinite values (what a diverged training run leaves) are refused, naming the tensor:
  such a model loads and runs, and every image it makes is black or noise.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import safetensors
import safetensors.torch
import torch
from huggingface_hub import ModelCard, ModelCardData, PyTorchModelHubMixin, constants
from torch import nn

from hfimg import runtime
from hfimg.cards import model_card
from hfimg.cores import CoreSpec
from hfimg.imaging import limit

T = TypeVar("T", bound="HubModel")

REPO_URL = "https://github.com/hfimg/hfimg"

MODEL_CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ model_name | default("hfimg model", true) }}

A `{{ class_name | default("hfimg", true) }}` model from [hfimg]({{ repo_url }}), saved with `save_pretrained`.

```python
import hfimg

model = hfimg.load("{{ repo_id | default("path/to/this/folder", true) }}")
```

{{ description | default("", true) }}
"""


class HubModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="hfimg",
    license="mit",
    repo_url=REPO_URL,
    tags=["hfimg", "image"],
    model_card_template=MODEL_CARD_TEMPLATE,
):
    """Base class: an `nn.Module` that saves to and loads from Hub-format folders.

    Subclasses set `model_type` (their registry name) and keep `__init__` kwargs plain JSON types so that
    `config.json` round-trips exactly.
    """

    model_type: str = ""
    # Set by `hfimg.families.register_model`: a tiny config of the family, the objective train.py trains it with and
    # its training defaults (both None when train.py does not train it).
    tiny_config: typing.ClassVar[dict[str, Any]] = {}
    objective: typing.ClassVar[str | None] = None
    training_defaults: typing.ClassVar[dict[str, Any] | None] = None
    backend: str | None = None  # inference backend of the image-level methods; None = $HFIMG_BACKEND or "auto"

    def init_kwargs(self) -> dict[str, Any]:
        """The `__init__` kwargs the model was built with (as the Hub mixin records them): the same kwargs build the
        same network."""
        return dict(self._hub_mixin_config or {})

    @classmethod
    def init_defaults(cls) -> dict[str, Any]:
        """The defaults of the class's `__init__` kwargs: what a config saved before a setting existed was built
        with."""
        return {
            name: parameter.default
            for name, parameter in inspect.signature(cls.__init__).parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }

    def config_dict(self) -> dict[str, Any]:
        """The model's config as written to config.json: its `__init__` kwargs and `model_type`."""
        return {**self.init_kwargs(), "model_type": self.model_type}

    def _save_pretrained(self, save_directory: Path) -> None:
        safetensors.torch.save_model(self, str(save_directory / constants.SAFETENSORS_SINGLE_FILE))
        # Written here (not by the mixin afterwards) so that `model_type` is part of config.json.
        (save_directory / constants.CONFIG_NAME).write_text(json.dumps(self.config_dict(), sort_keys=True, indent=2))

    # --- inference backends (hfimg.runtime) ---------------------------------------------------------------------

    def core(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The family's heavy tensor function, with the input rules of `core_spec`; what ONNX export writes."""
        raise NotImplementedError(f"{type(self).__name__} defines no core")

    def core_spec(self) -> CoreSpec:
        """Names, example inputs and dynamic axes of `core`."""
        raise NotImplementedError(f"{type(self).__name__} defines no core_spec")

    def run_core(self, *inputs: torch.Tensor) -> torch.Tensor:
        """`core(*inputs)`, on the chosen backend inside the image-level methods, eager fp32 elsewhere."""
        return runtime.run_core(self, *inputs)

    def set_backend(self, backend: str) -> None:
        """Run this model's image-level methods on `backend`: "auto", "fp32", "fp32-cl", "bf16" or "onnxruntime"."""
        self.backend = runtime.check_backend(backend)

    def card_defaults(self) -> tuple[ModelCardData, dict[str, str | None]]:
        """What the class declares for its cards, as the Hub mixin collected it from the class keywords: the card
        metadata (a copy: the class's own object is shared by every instance) and the template fields (the class
        template, repo_url, paper_url, docs_url)."""
        info = self._hub_mixin_info
        fields = {"template": info.model_card_template, "repo_url": info.repo_url}
        fields |= {"paper_url": info.paper_url, "docs_url": info.docs_url}
        return ModelCardData(**info.model_card_data.to_dict()), fields

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """The class's card (what `save_pretrained` writes as README.md), by the project's one card writer.

        `kwargs` are `hfimg.cards.model_card`'s: card fields and template fields. `args` is unused; the mixin's
        signature takes it.
        """
        return model_card(self, **kwargs)

    @classmethod
    def from_pretrained(cls: type[T], pretrained_model_name_or_path: str | Path, *, strict: bool = True, **kwargs):
        """Load from a local folder or a Hub repo id. Strict by default: every weight must match the config."""
        path = Path(pretrained_model_name_or_path)
        if not path.is_dir():
            return super().from_pretrained(pretrained_model_name_or_path, strict=strict, **kwargs)
        check_weights_file(path)
        config_file = path / constants.CONFIG_NAME
        if config_file.is_file():  # a folder is untrusted input too: check its config before anything is built
            config = read_config(config_file)
            check_config(cls, {**config, **{k: v for k, v in kwargs.items() if k in config}}, str(config_file))
        # The mixin prints "Loading weights from local directory" to stdout for every local folder, which ends up in
        # the output of scripts and CLI commands that print results; nothing else prints there.
        with contextlib.redirect_stdout(io.StringIO()):
            return super().from_pretrained(pretrained_model_name_or_path, strict=strict, **kwargs)

    @classmethod
    def _load_as_safetensor(cls, model: T, model_file: str, map_location: str, strict: bool) -> T:
        try:
            safetensors.torch.load_model(model, model_file, strict=strict, device=map_location)
        except safetensors.SafetensorError as err:  # truncated, empty or not safetensors at all
            raise ValueError(
                f"{model_file} is not a readable safetensors file ({err}); it is probably truncated or corrupt. "
                f"Download it again, or re-save the model with save_pretrained."
            ) from None
        except RuntimeError as err:
            raise ValueError(
                f"The weights in {model_file} do not fit the {cls.__name__} built from config.json "
                f"({model._hub_mixin_config}). The config and the weights come from different models; "
                f"re-save the model with save_pretrained or fix config.json.\nDetails: {err}"
            ) from None
        bad = non_finite_tensor(model.state_dict())
        if bad is not None:
            raise ValueError(
                f"{model_file}: {bad}, so every output of the model would be broken (a training run that diverged "
                f"leaves such weights). Use an earlier checkpoint of the run (checkpoint-<step>/model) or retrain."
            )
        model.eval()
        return model

    @classmethod
    def _load_as_pickle(cls, model: T, model_file: str, map_location: str, strict: bool) -> T:
        raise ValueError(unsafe_pickle_message(model_file))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def non_finite_tensor(tensors: Mapping[str, torch.Tensor]) -> str | None:
    """Which floating-point tensor holds NaN or infinite values, as "the tensor 'name' holds N NaN or infinite
    values (of M)", or None when every one is finite. One pass over the tensors, one sync on a GPU."""
    named = [(name, tensor) for name, tensor in tensors.items() if tensor.is_floating_point()]
    if not named:
        return None
    finite = torch.stack([torch.isfinite(tensor).all() for _, tensor in named])
    if finite.all():
        return None
    name, tensor = named[int((~finite).nonzero()[0])]
    bad = int((~torch.isfinite(tensor)).sum())
    return f"the tensor {name!r} holds {bad:,} NaN or infinite values (of {tensor.numel():,})"


def unsafe_pickle_message(where: str | Path) -> str:
    return (
        f"{where}: hfimg loads weights from safetensors only (model.safetensors). This model has only a pickled "
        f"PyTorch file, and unpickling can run arbitrary code. If you trust it, load it with torch.load yourself, "
        f"then save_pretrained it to get a safetensors copy."
    )


def check_weights_file(folder: Path) -> None:
    """Raise a clear error when `folder` has no safetensors weights."""
    if (folder / constants.SAFETENSORS_SINGLE_FILE).is_file():
        return
    if (folder / constants.PYTORCH_WEIGHTS_NAME).is_file():
        raise ValueError(unsafe_pickle_message(folder / constants.PYTORCH_WEIGHTS_NAME))
    raise FileNotFoundError(
        f"{folder} has no {constants.SAFETENSORS_SINGLE_FILE}; a hfimg model folder holds config.json and "
        f"model.safetensors, as written by save_pretrained."
    )


# Above this many parameters a config is refused before the model is built (`hfimg.imaging.LIMITS`).
MAX_PARAMETERS_ENV = "HFIMG_MAX_PARAMETERS"
# No size or count in an hfimg config comes near this; a larger one would make even the shape-only build loop for ages.
MAX_CONFIG_INT = 65_536
# An hfimg config.json is a few hundred bytes; a larger one is not read (it is untrusted input).
MAX_CONFIG_JSON_BYTES = 100_000


def read_config(config_file: Path) -> dict[str, Any]:
    """A config.json as a dict, or a ValueError that names the file and what is wrong with it."""
    try:
        with open(config_file, "rb") as file:
            text = file.read(MAX_CONFIG_JSON_BYTES + 1)
        if len(text) > MAX_CONFIG_JSON_BYTES:
            raise ValueError(f"larger than {MAX_CONFIG_JSON_BYTES:,} bytes, which no hfimg config comes near")
        config = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as err:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"{config_file}: not a readable JSON config ({err}).") from None
    except RecursionError:  # json's parser recurses once per level of nesting
        raise ValueError(f"{config_file}: not a readable JSON config (nested too deeply).") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_file}: a config must be a JSON object, got {type(config).__name__}.")
    return config


def check_config(cls: type[HubModel], config: dict[str, Any], where: str) -> None:
    """Validate a model config (a downloaded config.json is untrusted input) before any tensor is allocated.

    Each value must have the type the class's `__init__` annotates (an int is not a str, a bool not an int), and the
    model it describes must build on PyTorch's "meta" device (shapes only, no memory) with at most
    HFIMG_MAX_PARAMETERS parameters; a config that fails either is refused with a message naming the key or the size.
    """
    hints = typing.get_type_hints(cls.__init__)
    for key, value in config.items():
        if key == "model_type":
            continue
        if key not in hints:
            raise ValueError(
                f"{where}: unknown key {key!r} for {cls.__name__}; it takes {sorted(set(hints) - {'return'})}."
            )
        check_int_size(cls, key, value, where)
        if not _has_type(value, hints[key]):
            raise ValueError(
                f"{where}: {key} = {value!r} has the wrong type for {cls.__name__} "
                f"(expected {_type_name(hints[key])})."
            )
    kwargs = {key: value for key, value in config.items() if key != "model_type"}
    try:
        check_parameter_count(cls, kwargs, where)
    except TooLarge:
        raise
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: the config does not describe a valid {cls.__name__}: {err}") from None


class TooLarge(ValueError):
    """Model settings that describe a model above the size limits."""


def check_int_size(cls: type[HubModel], key: str, value: Any, where: str) -> None:
    """Refuse an int setting above MAX_CONFIG_INT: even the shape-only build of such a model would not end."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CONFIG_INT:
        shown = str(value) if len(str(value)) <= 20 else f"{str(value)[:12]}... ({len(str(value))} digits)"
        raise TooLarge(
            f"{where}: {key} = {shown} is out of range for {cls.__name__} (sizes and counts in a config are at "
            f"most {MAX_CONFIG_INT:,}); use a smaller value."
        )


def check_parameter_count(cls: type[HubModel], kwargs: dict[str, Any], where: str) -> int:
    """The parameters of `cls(**kwargs)`, counted on PyTorch's "meta" device (shapes only, no memory); a TooLarge
    error above HFIMG_MAX_PARAMETERS. A value the class refuses raises its own ValueError or TypeError."""
    for key, value in kwargs.items():
        check_int_size(cls, key, value, where)
    try:
        with torch.device("meta"):
            parameters = sum(p.numel() for p in cls(**kwargs).parameters())
    except (RuntimeError, OverflowError, MemoryError) as err:  # sizes beyond what PyTorch can describe
        raise TooLarge(f"{where}: these settings describe an impossibly large {cls.__name__} ({err}).") from None
    cap = limit(MAX_PARAMETERS_ENV)
    if parameters > cap:
        raise TooLarge(
            f"{where}: these settings describe a {cls.__name__} with {parameters:,} parameters, above the limit of "
            f"{cap:,} ({4 * parameters / 1e9:.1f} GB of weights). Use smaller settings, or if you mean it, raise the "
            f"limit with the environment variable {MAX_PARAMETERS_ENV}={parameters}."
        )
    return parameters


def _has_type(value: Any, annotation: Any) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, arg) for arg in args)
    if annotation is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_has_type(item, args[0]) for item in value) if args else True
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        try:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        except OverflowError:  # an integer too large for a float
            return False
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True  # an annotation this check does not know: the class's own checks decide


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")

"""Models by name: `load` / `create_model` / `list_models` over the one registry of model families.

train.py, app.py and the tests all build models through here, so a new family registered with
`@register_model("name")` (hfimg.families, re-exported here) is picked up everywhere at once. The families register
themselves when hfimg.models is imported, which this module does first; they import only hfimg.families, never
this module, so the imports run one way.
"""

from __future__ import annotations

import difflib
import reprlib
from pathlib import Path

from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)

import hfimg.models  # noqa: F401  (importing the families registers them)
from hfimg.families import FAMILIES, register_model  # noqa: F401  (re-exported: where a new family looks first)
from hfimg.hub import HubModel, check_config, check_weights_file, read_config, unsafe_pickle_message
from hfimg.offline import hub_reachable

# Pretrained models shipped inside the package, as Hub-format folders: hfimg/pretrained/<name>/.
BUNDLED_DIR = Path(__file__).parent / "pretrained"
BUNDLED_ORG = "hfimg"


def model_names() -> list[str]:
    """Names accepted by `create_model` (model families, not pretrained ids)."""
    return sorted(FAMILIES)


def model_class(name: str) -> type[HubModel]:
    # A name that is no string (a list in a hostile config.json) is unknown too, not an "unhashable type".
    if not isinstance(name, str) or name not in FAMILIES:
        raise ValueError(f"unknown model {reprlib.repr(name)}; choose one of: {', '.join(sorted(FAMILIES))}.")
    return FAMILIES[name]


def create_model(name: str, **kwargs) -> HubModel:
    """Build a fresh (untrained) model of family `name`, e.g. `create_model("dcgan", resolution=32, channels=1)`."""
    return model_class(name)(**kwargs)


def list_models() -> list[str]:
    """Ids of the pretrained models bundled with the package, loadable offline with `hfimg.load`."""
    if not BUNDLED_DIR.is_dir():
        return []
    folders = [folder for folder in BUNDLED_DIR.iterdir() if (folder / constants.CONFIG_NAME).is_file()]
    return sorted(f"{BUNDLED_ORG}/{folder.name}" for folder in folders)


def class_phrase(model: object) -> str:
    """The model's class with its article, for messages: "a ConvVAE", "an InpaintCNN"."""
    name = type(model).__name__
    return f"{'an' if name[:1] in 'AEIOU' else 'a'} {name}"


def local_folder(id_or_path: str | Path) -> Path | None:
    """The folder on this machine that `load` reads for this id: a bundled model's folder, or a local folder;
    None for anything else (a Hub repo id, or nothing)."""
    name = str(id_or_path)
    bundled = BUNDLED_DIR / name.removeprefix(f"{BUNDLED_ORG}/")
    if name.startswith(f"{BUNDLED_ORG}/") and (bundled / constants.CONFIG_NAME).is_file():
        return bundled
    path = Path(id_or_path).expanduser()
    return path if path.is_dir() else None


def load(id_or_path: str | Path, **kwargs) -> HubModel:
    """Load a pretrained model: a bundled id first (offline), else a local folder, else a Hub repo id.

    Example:
        >>> import hfimg
        >>> generator = hfimg.load("hfimg/dcgan-fashion-mnist")  # doctest: +SKIP
        >>> images = generator.generate(16, seed=0)  # doctest: +SKIP
    """
    name = str(id_or_path)
    folder = local_folder(id_or_path)
    if folder is not None:
        return _load_folder(folder, **kwargs)
    path = Path(id_or_path).expanduser()
    if path.exists() or name.count("/") != 1 or name.startswith((".", "/", "~")):
        raise FileNotFoundError(
            f"{name!r} is neither a bundled model ({', '.join(list_models()) or 'none installed'}), "
            f"nor a model folder, nor a Hub repo id of the form 'org/name'."
        )
    return _load_hub(name, **kwargs)


def _load_folder(folder: Path, **kwargs) -> HubModel:
    check_weights_file(folder)
    cls = _class_of(folder / constants.CONFIG_NAME)
    return cls.from_pretrained(folder, **kwargs)  # which checks the folder's config (`check_config`)


def _load_hub(repo_id: str, **kwargs) -> HubModel:
    hub_kwargs = {k: kwargs[k] for k in ("revision", "cache_dir", "token", "force_download") if k in kwargs}
    if not hub_reachable():
        hub_kwargs["local_files_only"] = True  # the cache only, without the retries
        kwargs["local_files_only"] = True
    try:
        config_file = Path(hf_hub_download(repo_id, constants.CONFIG_NAME, **hub_kwargs))
        cls = _class_of(config_file)
        check_config(cls, read_config(config_file), str(config_file))  # before the mixin builds the model
        try:
            hf_hub_download(repo_id, constants.SAFETENSORS_SINGLE_FILE, **hub_kwargs)
        except EntryNotFoundError:
            raise ValueError(unsafe_pickle_message(f"{repo_id} (on the Hub)")) from None
        return cls.from_pretrained(repo_id, **kwargs)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as err:
        if suggestion := _did_you_mean(repo_id):  # a typo of a bundled id, not a reason to go online
            raise FileNotFoundError(suggestion) from None
        raise OSError(
            f"{repo_id!r} is not a bundled model (bundled: {', '.join(list_models()) or 'none'}) and it is not in the "
            f"local Hub cache, and the Hugging Face Hub cannot be reached (offline, or HF_HUB_OFFLINE=1 is set). "
            f"Connect and retry, or pass a local folder written by save_pretrained. ({type(err).__name__})"
        ) from None
    except RepositoryNotFoundError:
        msg = _did_you_mean(repo_id) or (
            f"{repo_id!r}: no such model repo on the Hub (or it is private: log in with `hf auth login`)."
        )
        raise OSError(msg) from None
    except HfHubHTTPError as err:
        raise OSError(f"{repo_id!r}: the Hub answered with an error: {err}") from None


def _did_you_mean(name: str) -> str | None:
    """A message naming the bundled ids closest to `name` when it looks like a typo of one; else None."""
    close = difflib.get_close_matches(name, list_models(), n=3, cutoff=0.85)
    if not close:
        return None
    return f"{name!r} is not a bundled model; did you mean {' or '.join(repr(c) for c in close)}?"


def _class_of(config_file: Path) -> type[HubModel]:
    """The registered class a config.json names by its `model_type`."""
    model_type = read_config(config_file).get("model_type")
    if model_type is None:
        raise ValueError(
            f"{config_file} has no 'model_type'; it was not written by hfimg. Load it with the model class "
            f"directly, e.g. hfimg.DCGANGenerator.from_pretrained(...)."
        )
    try:
        return model_class(model_type)
    except ValueError as err:
        raise ValueError(f"{config_file}: model_type: {err}") from None

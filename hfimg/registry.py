"""The one registry of model families, and `load` / `create_model` / `list_models`.

train.py, app.py and the tests all build models through here, so a new family registered with
`@register_model("name")` is picked up everywhere at once.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)
from huggingface_hub.utils import get_session

from hfimg.hub import HubModel, check_config, check_weights_file, read_config, unsafe_pickle_message

_REGISTRY: dict[str, type[HubModel]] = {}

# Pretrained models shipped inside the package, as Hub-format folders: hfimg/pretrained/<name>/.
BUNDLED_DIR = Path(__file__).parent / "pretrained"
BUNDLED_ORG = "hfimg"


def register_model(name: str):
    """Class decorator: register a HubModel subclass under `name` (also stored as `model_type` in config.json)."""

    def decorator(cls: type[HubModel]) -> type[HubModel]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice ({_REGISTRY[name].__name__}, {cls.__name__}).")
        cls.model_type = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def model_names() -> list[str]:
    """Names accepted by `create_model` (model families, not pretrained ids)."""
    _import_families()
    return sorted(_REGISTRY)


def model_class(name: str) -> type[HubModel]:
    _import_families()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}.")
    return _REGISTRY[name]


def create_model(name: str, **kwargs) -> HubModel:
    """Build a fresh (untrained) model of family `name`, e.g. `create_model("dcgan", resolution=32, channels=1)`."""
    return model_class(name)(**kwargs)


def list_models() -> list[str]:
    """Ids of the pretrained models bundled with the package, loadable offline with `hfimg.load`."""
    if not BUNDLED_DIR.is_dir():
        return []
    folders = [folder for folder in BUNDLED_DIR.iterdir() if (folder / constants.CONFIG_NAME).is_file()]
    return sorted(f"{BUNDLED_ORG}/{folder.name}" for folder in folders)


def load(id_or_path: str | Path, **kwargs) -> HubModel:
    """Load a pretrained model: a bundled id first (offline), else a local folder, else a Hub repo id.

    Example:
        >>> import hfimg
        >>> generator = hfimg.load("hfimg/dcgan-fashion-mnist")  # doctest: +SKIP
        >>> images = generator.generate(16, seed=0)  # doctest: +SKIP
    """
    name = str(id_or_path)
    bundled = BUNDLED_DIR / name.removeprefix(f"{BUNDLED_ORG}/")
    if name.startswith(f"{BUNDLED_ORG}/") and (bundled / constants.CONFIG_NAME).is_file():
        return _load_folder(bundled, **kwargs)
    path = Path(id_or_path).expanduser()
    if path.is_dir():
        return _load_folder(path, **kwargs)
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


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face Hub answers at all, asked once with a short timeout.

    huggingface_hub retries a request that cannot connect five times with growing waits (~25 s in all) before it
    falls back to the local cache; one quick request first lets an offline machine get its answer at once.
    """
    if constants.HF_HUB_OFFLINE:
        return False
    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)  # any answer, even an error status, is an answer
    except Exception:  # DNS failure, refused connection, timeout, proxy error: not reachable now
        return False
    return True


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
        raise OSError(
            f"{repo_id!r} is not a bundled model (bundled: {', '.join(list_models()) or 'none'}) and it is not in the "
            f"local Hub cache, and the Hugging Face Hub cannot be reached (offline, or HF_HUB_OFFLINE=1 is set). "
            f"Connect and retry, or pass a local folder written by save_pretrained. ({type(err).__name__})"
        ) from None
    except RepositoryNotFoundError:
        msg = f"{repo_id!r}: no such model repo on the Hub (or it is private: log in with `hf auth login`)."
        raise OSError(msg) from None
    except HfHubHTTPError as err:
        raise OSError(f"{repo_id!r}: the Hub answered with an error: {err}") from None


def _class_of(config_file: Path) -> type[HubModel]:
    """The registered class a config.json names by its `model_type`."""
    model_type = read_config(config_file).get("model_type")
    if model_type is None:
        raise ValueError(
            f"{config_file} has no 'model_type'; it was not written by hfimg. Load it with the model class "
            f"directly, e.g. hfimg.DCGANGenerator.from_pretrained(...)."
        )
    return model_class(model_type)


def _import_families() -> None:
    # Importing the families runs their @register_model decorators.
    import hfimg.models  # noqa: F401

"""Restoration (denoising) methods by name: the photo denoiser, latent searches, BM3D and non-local means alike.

`load_restorer(name_or_model_id)` gives a `Restorer` for a restore method of the catalogue (`hfimg.catalogue`,
task "restore") or for any model that restores, called as `restorer(image, options) -> image` whatever it is inside
(the task call of `hfimg.tasks`). The demo, the `hfimg restore` command and benchmarks/bench_denoising.py run
methods only through here.

Example:
    >>> from PIL import Image
    >>> flat = Image.new("L", (32, 32), 100)
    >>> load_restorer("nl-means").name
    'scikit-image non-local means'
    >>> load_restorer("nl-means")(flat).getpixel((5, 5))
    100
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from hfimg.catalogue import MethodSpec, resolve_method
from hfimg.hub import HubModel
from hfimg.imaging import ImageInput, open_working
from hfimg.tasks import RestoreOptions, Restores


class Restorer:
    """One restore method, ready to run: a catalogue entry with its model loaded, or any model that restores.

    Called as `restorer(image, options)`: image a PIL image, path, uint8 array or tensor. Returns a PIL image of the
    input's size and mode (L, RGB or RGBA; other modes as RGB, 16-bit grey as L).
    """

    def __init__(self, spec: MethodSpec, model: HubModel | None = None, settings: Mapping[str, Any] | None = None):
        self.settings = spec.checked_settings(model, settings, Restores)
        self.spec = spec
        self.model = model

    @property
    def name(self) -> str:
        return self.spec.name

    def __call__(self, image: ImageInput, options: RestoreOptions | None = None) -> Image.Image:
        options = options or RestoreOptions()
        if self.model is not None:
            return self.model.restore(image, options=options)
        return self.spec.denoise(open_working(image), options.sigma, **self.settings)


def load_restorer(
    name_or_model: str | Path, model: HubModel | None = None, settings: Mapping[str, Any] | None = None
) -> Restorer:
    """A `Restorer` for a catalogued restore method (by name or id: its default model is loaded, unless `model` is
    given) or for a model that restores (bundled id, folder or Hub repo id, as `hfimg.load` takes)."""
    spec, model = resolve_method(name_or_model, "restore", model)
    return Restorer(spec, model, settings)

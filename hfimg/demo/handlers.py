"""The demo's event handlers: gradio values in, images out, every visitor mistake a message that says what to do.

Importable and testable without serving anything: `Handlers(load_models(ids))` holds the loaded models, and
app.py wires its methods to the layout. Inpainting goes through the one task interface (`hfimg.inpainting`):
the methods offered are the registry's, so a registered method appears here with no edit.
"""

from __future__ import annotations

import functools
import logging
import math
import random
from collections.abc import Callable, Mapping
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image

from hfimg.catalogue import method_spec, method_specs
from hfimg.degrade import gaussian_noise
from hfimg.demo.editor import editor_to_image_and_hole
from hfimg.demo.files import hole_image, public_message, quiet
from hfimg.demo.limits import (
    CLASSICAL_RESTORE_MAX_PIXELS,
    ENSEMBLE_MAX_PIXELS,
    MAX_FRAMES,
    MAX_IMAGES,
    MAX_SEARCH_STEPS,
    MAX_SEED,
)
from hfimg.demo.slots import GENERATORS, LoadedModel, class_choices
from hfimg.hub import HubModel
from hfimg.imaging import HIGH_BIT_DEPTH_MODES, convert_mode, images_to_grid, load_mask, pil_to_tensor, tensor_to_pil
from hfimg.inpainting import GARMENT_MAX_SIDE, Inpainter, is_garment_image
from hfimg.restoration import Restorer
from hfimg.tasks import InpaintOptions, RestoreOptions

logger = logging.getLogger("hfimg.app")

METHODS = [spec.name for spec in method_specs("inpaint")]  # the inpainting methods, in the catalogue's order
# Methods trained on 28x28 grey Fashion-MNIST garments only: on a colour photo they return a grey or black blob, so
# the demo offers them only for small grey images (`is_garment_image`).
GARMENT_METHODS = tuple(spec.name for spec in method_specs("inpaint", "garments"))
# The Restore tab's methods: the photo ones (the garment latent searches are for 28x28 Fashion-MNIST images).
RESTORE_METHODS = [spec.name for spec in method_specs("restore", "photos")]

NOISE_SEED = 0  # the added noise is the same for the same image and sigma


def methods_for(image: Image.Image | None) -> tuple[list[str], str]:
    """The inpainting methods that fit `image`, and a line saying which are off and why ('' when none is off)."""
    if image is None or is_garment_image(image):
        return list(METHODS), ""
    offered = [name for name in METHODS if name not in GARMENT_METHODS]
    return offered, (
        f"{', '.join(GARMENT_METHODS)}: off for this {image.width}x{image.height} image. They know only small grey "
        f"Fashion-MNIST garments and would fill a photo's hole with a grey blob; upload a grey garment image of at "
        f"most {GARMENT_MAX_SIDE} px (like the shirt example) to try them."
    )


def user_errors(handler: Callable) -> Callable:
    """Show a handler's ValueError/TypeError (bad input, with what to do) as a gr.Error, not a bare 'Error'; log it
    as one line. Anything else is a bug: a short message for the visitor, the traceback in the log."""

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error as err:  # already a message for the user (gr.Error is a ValueError)
            raise quiet(err) from None
        except (ValueError, TypeError, OSError, Image.DecompressionBombError) as err:
            # OSError: an upload that only fails when its pixels are read (a truncated JPEG decodes lazily).
            raise quiet(gr.Error(public_message(str(err)))) from None
        except Exception as err:  # a bug, not the input: a short message for the visitor, the traceback in the log
            logger.exception("internal error in %s", handler.__name__)
            raise gr.Error(
                f"Internal error ({type(err).__name__}); it has been logged. Try another input.",
                print_exception=False,  # logged above, once
            ) from None

    return wrapper


def check_seed(seed: float | None, name: str = "seed") -> int:
    if seed is None:
        raise gr.Error(f"Enter a {name} (a whole number from 0 to {MAX_SEED}), or click Random.")
    return int(np.clip(round(seed), 0, MAX_SEED))


def check_search_steps(steps: float | None) -> int | None:
    """The Search steps value: a whole number from 1 to MAX_SEARCH_STEPS (None = the method's default). Outside that
    it is refused, not clipped: 0 steps would return the search's random start as if searched."""
    if steps is None:
        return None
    if not (isinstance(steps, (int, float)) and math.isfinite(steps) and 1 <= round(steps) <= MAX_SEARCH_STEPS):
        raise gr.Error(f"Search steps must be a whole number from 1 to {MAX_SEARCH_STEPS}, got {steps!r}.")
    return round(steps)


def check_label(label: int | None) -> int:
    if label is None or label < 0:
        raise gr.Error("This GAN is class-conditional: choose the class of the image (Class), then click Inpaint.")
    return int(label)


class Handlers:
    """The demo's event handlers, bound to the loaded models. User mistakes come back as gr.Error with what to do."""

    def __init__(self, models: Mapping[str, LoadedModel]):
        self.models = models

    def _generator(self, generator: str) -> HubModel:
        if generator not in GENERATORS:
            raise gr.Error(f"Unknown generator {generator!r}; choose one of {', '.join(GENERATORS)}.")
        return self.models[GENERATORS[generator]].require()

    @user_errors
    def generate(self, generator: str, number: float, seed: float | None, label: int | None = -1) -> Image.Image:
        """A grid of `number` images from the GAN or the VAE; the same seed gives the same grid."""
        model = self._generator(generator)
        number = int(np.clip(number or 1, 1, MAX_IMAGES))
        seed = check_seed(seed)
        if class_choices(model) and label is not None and label >= 0:
            images = model.generate(number, seed=seed, labels=[int(label)] * number)
        else:
            images = model.generate(number, seed=seed)
        return images_to_grid(images)

    @user_errors
    def interpolate(
        self, generator: str, seed_a: float | None, seed_b: float | None, frames: float, label: int | None = -1
    ) -> Image.Image:
        """A strip of images along the latent path from the image of `seed_a` to the image of `seed_b`."""
        model = self._generator(generator)
        frames = int(np.clip(frames or 2, 2, MAX_FRAMES))
        label = int(label) if class_choices(model) and label is not None and label >= 0 else None
        images = model.interpolate(
            check_seed(seed_a, "first seed"), check_seed(seed_b, "second seed"), frames, label=label
        )
        return images_to_grid(images, columns=len(images))

    @staticmethod
    def random_seed() -> int:
        return random.randint(0, MAX_SEED)

    @user_errors
    def inpaint(
        self,
        editor: dict[str, Any] | None,
        method: str,
        iterations: float = 6,
        latent_steps: float = 100,
        label: int | None = 0,
        mask: Image.Image | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008  (gradio's way of asking for a progress bar)
    ) -> tuple[Image.Image, tuple[Image.Image, Image.Image], list[tuple[Image.Image, str]]]:
        """Fill the painted part of the image, and the white part of the uploaded `mask`, with the chosen method.

        Returns:
            The result, the (before, after) pair, and the image after each pass (InpaintRCNN; else empty).
        """
        if not editor or editor.get("background") is None:
            raise gr.Error("Upload an image first (or click an example), then paint over the part to fill.")
        if method not in METHODS:
            raise gr.Error(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
        image, hole = editor_to_image_and_hole(editor["background"], editor.get("layers") or [])
        if mask is not None:
            hole |= load_mask(mask, image.size)  # white = fill; a size mismatch is a ValueError that says so
        if not hole.any():
            raise gr.Error(
                "No mask: paint over the part of the image to fill with the brush (or upload a mask: white = fill), "
                "then click Inpaint."
            )
        offered, why_not = methods_for(image)
        if method not in offered:
            raise gr.Error(why_not, title="Method off for this image")

        inpainter = self._inpainter(method)
        options = InpaintOptions()  # a one-pass network takes none
        if inpainter.spec.steps_kind == "passes":  # a recurrent network: its passes, each shown
            options = InpaintOptions(steps=int(np.clip(iterations or 1, 1, 32)), keep_passes=True)
        elif inpainter.spec.steps_kind == "search":  # a latent search: its steps, the class, a progress bar

            def report(step: int, total: int, loss: float) -> None:
                progress((step + 1, total), desc=f"latent search, masked loss {loss:.3f}")

            label = check_label(label) if class_choices(inpainter.model) else None
            options = InpaintOptions(steps=check_search_steps(latent_steps), label=label, progress=report)

        # The library's own placement rule (hfimg.inpainting.Inpainter), as the CLI and the API apply it: a photo
        # longer than WORK_MAX_SIDE is filled in a crop around the mask, which the visitor is told.
        filled = inpainter(image, hole_image(hole), options)
        if (note := filled.region_note()) is not None:
            gr.Info(f"{inpainter.name} {note}.")
        passes = [(frame, f"pass {i + 1}/{len(filled.passes)}") for i, frame in enumerate(filled.passes)]
        return filled.image, (image, filled.image), passes

    def _inpainter(self, method: str) -> Inpainter:
        """The method's Inpainter, with its slot's model (a gr.Error if that model is not loaded)."""
        spec = method_spec(method, "inpaint")
        if spec.key is None:
            return Inpainter(spec)
        return Inpainter(spec, self.models[spec.key].require())

    def method_controls(self, method: str) -> tuple[gr.Slider, gr.Slider, gr.Dropdown, gr.Gallery]:
        """Show the controls the chosen method takes: passes and the passes gallery (a recurrent network), search
        steps (a latent search) and the class (a class-conditional generator)."""
        spec = method_spec(method, "inpaint") if method else None
        kind = spec.steps_kind if spec is not None else None
        model = self.models[spec.key].model if spec is not None and spec.key is not None else None
        return (
            gr.Slider(visible=kind == "passes"),
            gr.Slider(visible=kind == "search"),
            gr.Dropdown(visible=kind == "search" and bool(class_choices(model))),
            gr.Gallery(visible=kind == "passes", label=passes_caption(method, model)),
        )

    @staticmethod
    def offer_methods(payload: dict[str, Any] | None, method: str) -> tuple[gr.Radio, str]:
        """The methods that fit the editor's image (the current one kept if it does) and why the others are off.
        Takes the editor's raw payload (the event has preprocess=False): only the uploaded file's header is read."""
        background = (payload or {}).get("background") or {}
        try:
            image = Image.open(background["path"]) if background.get("path") else None
        except (OSError, ValueError, Image.DecompressionBombError):
            image = None  # the Inpaint click reports an unreadable upload
        offered, why_not = methods_for(image)
        return gr.Radio(choices=offered, value=method if method in offered else offered[0]), why_not

    @user_errors
    def restore(
        self, image: Image.Image | None, sigma: float = 0, ensemble: bool = False, method: str = RESTORE_METHODS[0]
    ) -> tuple[Image.Image, Image.Image, tuple[Image.Image, Image.Image]]:
        """Optionally add Gaussian noise of `sigma` (0-255 scale), then restore it at full size with `method` (a
        photo restore method of the catalogue; each estimates the noise level itself). With `ensemble`, a network
        averages over the 8 flips and rotations (images up to ENSEMBLE_MAX_PIXELS).

        Returns:
            The image the method was given (with the noise), the restored image, and the (before, after) pair.
        """
        if image is None:
            raise gr.Error("Upload an image first (or click an example).")
        spec = method_spec(method, "restore") if method else None
        if spec is None or method not in RESTORE_METHODS:
            raise gr.Error(f"Unknown restore method {method!r}; choose one of {', '.join(RESTORE_METHODS)}.")
        pixels = image.width * image.height
        if spec.denoise is not None and pixels > CLASSICAL_RESTORE_MAX_PIXELS:
            raise gr.Error(
                f"{spec.name} is slow on a CPU, so the demo runs it on images up to "
                f"{CLASSICAL_RESTORE_MAX_PIXELS / 1e6:g} megapixels; this image is {image.width}x{image.height}. "
                f"Crop it, or run `hfimg restore {spec.id}` on the command line, which takes any size."
            )
        if ensemble and spec.denoise is None and pixels > ENSEMBLE_MAX_PIXELS:
            raise gr.Error(
                f"The self-ensemble runs the model 8 times, so the demo offers it up to "
                f"{ENSEMBLE_MAX_PIXELS / 1e6:g} megapixels; this image is {image.width}x{image.height}. Untick it, "
                f"or run `hfimg restore --ensemble` on the command line, which takes any size."
            )
        model = self.models[spec.key].require() if spec.key is not None else None
        if image.mode in HIGH_BIT_DEPTH_MODES:
            image = convert_mode(image, "L")  # scaled to 8 bits as the models' API does, not clipped to white
        if image.mode not in ("L", "RGB"):
            gr.Warning(f"The image was converted from mode {image.mode} to RGB.")
            image = image.convert("RGB")
        if ensemble and spec.denoise is not None:
            gr.Warning(f"The self-ensemble is for the network; {spec.name} ran once.")
        noisy = image
        if sigma and sigma > 0:
            channels = 1 if image.mode == "L" else 3
            generator = torch.Generator().manual_seed(NOISE_SEED)
            noisy = tensor_to_pil(gaussian_noise(pil_to_tensor(image, channels), float(sigma), generator=generator))
        restored = Restorer(spec, model)(noisy, RestoreOptions(ensemble=ensemble))  # it estimates the level
        return noisy, restored, (noisy, restored)


def passes_caption(method: str, model: object | None) -> str:
    """The passes gallery's caption: what the chosen recurrent model's passes show (its schedule's words)."""
    seen = getattr(model, "passes_seen", None)
    return f"{method} passes: {seen}" if seen else f"{method} passes"

"""hfimg demo: generate, inpaint and restore images with classic deep models, on a CPU, offline.

    python app.py                                  # http://127.0.0.1:7860
    python app.py --gan path/to/folder --inpaint-cnn org/name   # any model replaced

Each model is a bundled id (hfimg/...), a folder written by `save_pretrained`, or a Hub repo id; the environment
variables HFIMG_GAN, HFIMG_VAE, HFIMG_INPAINT_CNN, HFIMG_INPAINT_RCNN and HFIMG_DENOISE set them too (flags win).
A model that cannot be loaded is reported in its tab instead of stopping the app. Host and port follow gradio's
own GRADIO_SERVER_NAME / GRADIO_SERVER_PORT. Importing this module builds `demo` without serving it.

The networks run on hfimg's default inference backend ("auto": bf16 + channels_last where the CPU has native bf16
and the model keeps its fp32 output, else fp32); `--backend fp32|bf16|onnxruntime` or HFIMG_BACKEND picks another.
Each model's backend is prepared at start (an onnxruntime export, the bf16 check), not at the first request.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import io
import json
import logging
import os
import random
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import gradio.utils as gradio_utils
import numpy as np
import torch
from huggingface_hub import ModelCard, constants, try_to_load_from_cache
from PIL import Image

import hfimg
from hfimg import runtime
from hfimg.degrade import gaussian_noise
from hfimg.demo import (
    editor_to_image_and_hole,
    fit_within,
    inpaint_around_hole,
    is_garment_image,
    telea_inpaint,
)
from hfimg.hub import HubModel
from hfimg.imaging import (
    HIGH_BIT_DEPTH_MODES,
    convert_mode,
    images_to_grid,
    load_mask,
    open_image,
    pil_to_tensor,
    tensor_to_pil,
    upright,
)
from hfimg.models.classifier import FASHION_MNIST_LABELS
from hfimg.registry import BUNDLED_DIR, BUNDLED_ORG

logger = logging.getLogger("hfimg.app")

# --- constants --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One model the demo uses: where its id comes from and what kind of model it must be."""

    title: str
    env: str  # environment variable that overrides the default id
    default: str
    model_types: tuple[str, ...]  # registry names the loaded model may have
    task: str  # what the demo uses it for (the Models tab)


SLOTS: dict[str, Slot] = {
    "gan": Slot(
        "DCGAN generator", "HFIMG_GAN", "hfimg/dcgan-fashion-mnist", ("dcgan",), "generation, inpainting prior"
    ),
    "vae": Slot("Convolutional VAE", "HFIMG_VAE", "hfimg/vae-fashion-mnist", ("vae",), "generation, inpainting prior"),
    "inpaint_cnn": Slot("InpaintCNN", "HFIMG_INPAINT_CNN", "hfimg/inpaint-cnn-photos", ("inpaint-cnn",), "inpainting"),
    "inpaint_rcnn": Slot(
        "InpaintRCNN", "HFIMG_INPAINT_RCNN", "hfimg/inpaint-rcnn-photos", ("inpaint-rcnn",), "inpainting"
    ),
    "inpaint_fashion": Slot(
        "InpaintCNN (Fashion-MNIST)",
        "HFIMG_INPAINT_FASHION",
        "hfimg/inpaint-cnn-fashion-mnist",
        ("inpaint-cnn",),
        "inpainting of garment images",
    ),
    "denoise": Slot(
        "Denoiser", "HFIMG_DENOISE", "hfimg/denoise-cnn-photos", ("denoise-cnn", "denoise-unet"), "denoising"
    ),
}
GENERATORS = {"GAN": "gan", "VAE": "vae"}
METHODS = {  # inpainting method shown in the UI -> model slot (None: no model needed)
    "InpaintCNN": "inpaint_cnn",
    "InpaintRCNN": "inpaint_rcnn",
    "OpenCV Telea": None,
    "InpaintCNN (Fashion-MNIST)": "inpaint_fashion",
    "GAN latent search": "gan",
    "VAE latent search": "vae",
}
# Methods trained on 28x28 grey Fashion-MNIST garments only: on a colour photo they return a grey or black blob, so
# the demo offers them only for small grey images (`is_garment_image`).
GARMENT_METHODS = ("InpaintCNN (Fashion-MNIST)", "GAN latent search", "VAE latent search")

MAX_UPLOAD_MB = 10  # uploads above this are refused by gradio before they reach a handler
MAX_PIXELS = 16_000_000  # larger images are refused with a message (checked from the file header, not decoded)
INPAINT_MAX_SIDE = 512  # the networks see at most this (the crop around the mask is resized, never the photo)
RESTORE_MAX_SIDE = 512  # larger images are scaled down for the denoiser, with a notice
MAX_IMAGES = 64
MAX_FRAMES = 16
MAX_SEED = 2**31 - 1
NOISE_SEED = 0  # the added noise is the same for the same image and sigma
CONCURRENCY = 2  # requests computed at once, over all tabs together (2 CPU cores); the rest wait in the queue
SHARED_QUEUE = {"concurrency_limit": CONCURRENCY, "concurrency_id": "models"}  # one limit for every model event
QUEUE_SIZE = 32  # requests waiting beyond this are turned away with "queue full"
# gradio's "auto" brush is 25 px whatever the image (a quarter of a 256 px photo's height in three strokes); 10 px
# suits the demo's photos (256-512 px), and the editor's size slider changes it.
BRUSH_SIZE = 10
BRUSH_COLOUR = "#39ff14"  # bright green: visible on photos and on dark Fashion-MNIST-like images
EXAMPLES_DIR = Path(__file__).parent / "examples"

CSS = """
.pixelated img { image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }
"""
LAUNCH_OPTIONS: dict[str, Any] = {"max_file_size": f"{MAX_UPLOAD_MB}mb", "css": CSS, "theme": gr.themes.Soft()}


# --- model loading ----------------------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A slot's model, or why it could not be loaded."""

    slot: Slot
    id: str
    model: HubModel | None = None
    error: str | None = None

    def require(self) -> HubModel:
        """The model, or a gr.Error that says why it is not available."""
        if self.model is None:
            raise gr.Error(f"{self.slot.title} is not available: {self.error}", title="Model not loaded")
        return self.model


def model_ids(
    env: Mapping[str, str] = os.environ, overrides: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """The id of each slot's model: a CLI flag (`overrides`) wins over the environment, which wins over the default."""
    overrides = overrides or {}
    return {name: overrides.get(name) or env.get(slot.env) or slot.default for name, slot in SLOTS.items()}


def load_model(slot: Slot, model_id: str) -> LoadedModel:
    """Load one slot's model; a failure is kept as a message for the UI, never raised."""
    loaded = LoadedModel(slot, model_id)
    try:
        model = hfimg.load(model_id)
        if model.model_type not in slot.model_types:
            needed = " or ".join(repr(name) for name in slot.model_types)
            raise ValueError(f"{model_id!r} is a {model.model_type!r} model; this slot needs {needed}.")
        loaded.model = model.eval()
    except Exception as err:  # any failure (missing, offline, corrupt, wrong kind) becomes a notice in the UI
        loaded.error = f"{type(err).__name__}: {err}"
        logger.warning("%s (%s) not loaded: %s", slot.title, model_id, loaded.error)
        return loaded
    try:
        runtime.engine(model)  # the onnxruntime export or the bf16 check happens now, not in a visitor's request
    except Exception as err:  # e.g. onnxruntime missing: the model still works on the exact path
        logger.warning("%s: backend %r not available (%s); using fp32.", slot.title, model.backend, err)
        model.set_backend("fp32")
    return loaded


def load_models(ids: Mapping[str, str]) -> dict[str, LoadedModel]:
    """Load every slot's model once. One after the other: huggingface_hub's shared HTTP session is not safe to use
    from several threads while it retries (one thread's retry closes it for the others)."""
    return {name: load_model(slot, ids[name]) for name, slot in SLOTS.items()}


def model_card(loaded: LoadedModel) -> tuple[ModelCard, Path | None]:
    """A loaded model's card (README.md, found where `hfimg.load` found the model: bundled folder, local folder or
    Hub cache) and its folder; the card generated from the config (and no folder) if there is none."""
    model_id = loaded.id
    bundled = BUNDLED_DIR / model_id.removeprefix(f"{BUNDLED_ORG}/")
    if model_id.startswith(f"{BUNDLED_ORG}/") and bundled.is_dir():
        path = bundled / constants.REPOCARD_NAME
    elif Path(model_id).expanduser().is_dir():
        path = Path(model_id).expanduser() / constants.REPOCARD_NAME
    else:
        cached = try_to_load_from_cache(model_id, constants.REPOCARD_NAME)
        path = Path(cached) if isinstance(cached, str) else None
    if path is not None and path.is_file():
        return ModelCard(path.read_text(), ignore_metadata_errors=True), path.parent
    return loaded.model.generate_model_card(), None


def model_card_text(loaded: LoadedModel) -> str:
    """The body of a loaded model's card, without its metadata header, its images embedded and its headings
    demoted."""
    card, folder = model_card(loaded)
    text = card.text.strip()
    return demote_headings(inline_images(text, folder) if folder is not None else text)


def headline_figures(loaded: LoadedModel, limit: int = 3) -> str:
    """The first `limit` results of the card's model-index (e.g. 'PSNR (dB), sigma 25: 32.8'); '' if it has none."""
    results = model_card(loaded)[0].data.eval_results or []
    return "; ".join(f"{r.metric_name}: {r.metric_value:.4g}" for r in results[:limit])


def inline_images(markdown: str, folder: Path) -> str:
    """Embed the card's own PNGs (`![alt](file.png)`, relative to its folder) as data URIs: the page that shows the
    card is not served from the model folder, so relative links would show as broken images."""

    def embed(match: re.Match) -> str:
        file = folder / match.group(2)
        if not file.is_file() or file.suffix.lower() != ".png":
            return match.group(0)
        return f"![{match.group(1)}](data:image/png;base64,{base64.b64encode(file.read_bytes()).decode()})"

    return re.sub(r"!\[([^\]]*)\]\(([^)\s:]+)\)", embed, markdown)


def demote_headings(markdown: str) -> str:
    """Push every heading one level down (# -> ##), outside code blocks, so a card sits under its slot's heading."""
    lines, in_code = [], False
    for line in markdown.splitlines():
        in_code ^= line.startswith("```")
        lines.append("#" + line if line.startswith("#") and not in_code else line)
    return "\n".join(lines)


def models_table(models: Mapping[str, LoadedModel]) -> str:
    """The Models tab's summary: one row per slot (id, task, class, size, headline figures from its card)."""
    rows = ["| Model | Id | Task | Class | Parameters | Headline figures |", "|---|---|---|---|---|---|"]
    for loaded in models.values():
        slot = loaded.slot
        if loaded.model is None:
            rows.append(f"| {slot.title} | `{loaded.id}` | {slot.task} | not available | | {loaded.error} |")
            continue
        model = loaded.model
        rows.append(
            f"| {slot.title} | `{loaded.id}` | {slot.task} | `{type(model).__name__}` | "
            f"{model.num_parameters():,} | {headline_figures(loaded)} |"
        )
    return "\n".join(rows)


def model_details(loaded: LoadedModel) -> str:
    """One model's card (or why it is not available), shown folded under the Models tab's table."""
    if loaded.model is None:
        return f"`{loaded.id}` is not available: {loaded.error}"
    config = json.dumps(loaded.model._hub_mixin_config or {}, sort_keys=True)
    return f"Config: `{config}`\n\n{model_card_text(loaded)}"


def availability_note(models: Mapping[str, LoadedModel], names: list[str]) -> str:
    """A line for a tab listing which of its models could not be loaded (empty when all are there)."""
    missing = [models[name] for name in names if models[name].model is None]
    return "\n".join(f"⚠️ **{m.slot.title}** (`{m.id}`) is not available: {m.error}" for m in missing)


def methods_for(image: Image.Image | None) -> tuple[list[str], str]:
    """The inpainting methods that fit `image`, and a line saying which are off and why ('' when none is off)."""
    if image is None or is_garment_image(image):
        return list(METHODS), ""
    offered = [name for name in METHODS if name not in GARMENT_METHODS]
    return offered, (
        f"{', '.join(GARMENT_METHODS)}: off for this {image.width}x{image.height} image. They know only small grey "
        f"Fashion-MNIST garments and would fill a photo's hole with a grey blob; upload a grey garment image of at "
        f"most 128 px (like the shirt example) to try them."
    )


def class_choices(model: HubModel | None) -> list[tuple[str, int]]:
    """(name, index) of each class of a class-conditional generator; [] for an unconditional one.

    Ten classes are named after Fashion-MNIST's, the data set of the demo's generators; others are numbered.
    """
    num_classes = getattr(model, "num_classes", 0)
    names = FASHION_MNIST_LABELS if num_classes == len(FASHION_MNIST_LABELS) else [str(i) for i in range(num_classes)]
    return [(name, i) for i, name in enumerate(names)]


# --- uploads ----------------------------------------------------------------------------------------------------


def check_upload(source: str | bytes | None) -> None:
    """Refuse an upload that is not an image or has more than MAX_PIXELS, reading only the file header."""
    if source is None:
        return
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise gr.Error(
            f"The upload is not an image that can be read ({err}). Upload a PNG, JPEG or WEBP file."
        ) from None
    if width * height > MAX_PIXELS:
        raise gr.Error(
            f"The image is {width}x{height} ({width * height / 1e6:.0f} megapixels); this demo takes up to "
            f"{MAX_PIXELS / 1e6:.0f} megapixels. Scale it down and upload it again."
        )


def normalised_upload(path: str) -> str:
    """The upload as the models' API reads it: upright by its EXIF orientation, and 8 bits per channel.

    gradio decodes uploads with PIL's own conversions, which clip 16-bit images to white and ignore EXIF rotation;
    an upload that needs either is rewritten here, once, as an 8-bit PNG beside it (hfimg's `open_image` and
    `convert_mode` do the work, so the demo reads every file as `model.inpaint(path, ...)` would). Others pass as
    they are.
    """
    with Image.open(path) as image:
        if image.mode not in HIGH_BIT_DEPTH_MODES and upright(image) is image:  # 8-bit and upright already
            return path
    image = open_image(path)
    if image.mode in HIGH_BIT_DEPTH_MODES:
        image = convert_mode(image, "L")
    fixed = str(Path(path).with_suffix("")) + "-upright-8bit.png"
    image.save(fixed, format="PNG", compress_level=1)
    return fixed


def decode_errors(preprocess: Callable) -> Callable:
    """Turn a failure to decode an upload (truncated file, odd format) into a message instead of a bare 'Error'."""

    @functools.wraps(preprocess)
    def wrapper(self, payload):
        try:
            return preprocess(self, payload)
        except gr.Error as err:  # already a message for the user (gr.Error is a ValueError)
            raise quiet(err) from None
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            message = f"The upload could not be decoded ({err}). Upload a PNG, JPEG or WEBP file."
            raise quiet(gr.Error(message)) from None

    return wrapper


class CheckedImage(gr.Image):
    """gr.Image that checks an upload (readable, not too large) before gradio decodes it."""

    is_template = True  # drawn by gr.Image's own frontend

    @decode_errors
    def preprocess(self, payload):
        check_upload(payload.path if payload is not None else None)
        if payload is not None and payload.path:
            payload.path = normalised_upload(payload.path)
        return super().preprocess(payload)


class CheckedImageEditor(gr.ImageEditor):
    """gr.ImageEditor that checks the uploaded background (readable, not too large) before gradio decodes it."""

    is_template = True  # drawn by gr.ImageEditor's own frontend

    @decode_errors
    def preprocess(self, payload):
        if payload is not None and payload.id is None and payload.background is not None:
            check_upload(payload.background.path)
            if payload.background.path:
                payload.background.path = normalised_upload(payload.background.path)
        return super().preprocess(payload)


# --- results ---------------------------------------------------------------------------------------------------


def save_png_to_cache(image: Image.Image) -> str:
    """Write `image` as a PNG into gradio's file cache and return its path; the file appears only once complete.

    gradio's own saving of a returned PIL image rewrites the cached file in place, named by its content, so two
    requests with the same result at the same moment (two people on one example) can be served a half-written
    file. Here the PNG is written under a temporary name and renamed into place (atomic), as gradio does for files.
    """
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # lossless still; 3x faster than the default level 6
    data = buffer.getvalue()
    folder = Path(gradio_utils.get_upload_folder()) / hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "image.png"
    if not path.exists():
        handle, staging = tempfile.mkstemp(dir=folder, prefix=".image.png.")
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(staging, path)
    return str(path)


def png_outputs(handler: Callable) -> Callable:
    """Wrap a handler so that every PIL image it returns (also inside tuples and lists) goes out as a PNG file."""

    def convert(value: Any) -> Any:
        if isinstance(value, Image.Image):
            return save_png_to_cache(value)
        if isinstance(value, (tuple, list)):
            return type(value)(convert(item) for item in value)
        return value

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        return convert(handler(*args, **kwargs))

    return wrapper


# --- handlers ---------------------------------------------------------------------------------------------------


def quiet(error: gr.Error) -> gr.Error:
    """`error` logged as one line; gradio, which prints a traceback for every error by default, prints none.

    A visitor's mistake (no mask, wrong file) is not a fault of the server: a traceback per mistake would bury the
    real faults in the console."""
    error.print_exception = False
    logger.info("user error: %s", " ".join(str(error.message).split()))
    return error


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
            raise quiet(gr.Error(str(err))) from None
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


def check_label(label: int | None) -> int:
    if label is None or label < 0:
        raise gr.Error("This GAN is class-conditional: choose the class of the image (Class), then click Inpaint.")
    return int(label)


def hole_image(hole: np.ndarray) -> Image.Image:
    """bool (H, W) hole -> the white-on-black mask image the models take."""
    return Image.fromarray(hole.astype(np.uint8) * 255)


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

        steps: list[tuple[Image.Image, str]] = []  # InpaintRCNN's image after each pass
        placement = {"max_side": INPAINT_MAX_SIDE}  # what part of the image `fill` gets, at what size
        slot = METHODS[method]
        if slot is None:
            fill = telea_inpaint
        elif slot in ("inpaint_cnn", "inpaint_fashion"):
            model = self.models[slot].require()

            def fill(crop: Image.Image, crop_hole: np.ndarray) -> Image.Image:
                return model.inpaint(crop, hole_image(crop_hole))

        elif slot == "inpaint_rcnn":
            model = self.models[slot].require()
            passes = int(np.clip(iterations or 1, 1, 32))

            def fill(crop: Image.Image, crop_hole: np.ndarray) -> Image.Image:
                filled, frames = model.inpaint(crop, hole_image(crop_hole), iterations=passes, return_steps=True)
                steps.extend((frame, f"pass {i + 1}/{passes}") for i, frame in enumerate(frames))
                return filled

        else:
            model = self.models[slot].require()
            total = int(np.clip(latent_steps or 1, 1, 1000))
            class_label = check_label(label) if class_choices(model) else None

            def report(step: int, loss: float) -> None:
                progress((step + 1, total), desc=f"latent search, masked loss {loss:.3f}")

            def fill(crop: Image.Image, crop_hole: np.ndarray) -> Image.Image:
                return model.inpaint(crop, hole_image(crop_hole), steps=total, callback=report, label=class_label)

            # A generator knows whole images at its own resolution: it gets the whole image, resized to that.
            placement = {"work_size": (model.resolution, model.resolution), "whole_image": True}
        result = inpaint_around_hole(image, hole, fill, **placement)
        return result, (image, result), steps

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
        self, image: Image.Image | None, sigma: float = 0
    ) -> tuple[Image.Image, Image.Image, tuple[Image.Image, Image.Image]]:
        """Optionally add Gaussian noise of `sigma` (0-255 scale), then denoise (the model estimates the level).

        Returns:
            The image the model was given (with the noise), the restored image, and the (before, after) pair.
        """
        if image is None:
            raise gr.Error("Upload an image first (or click an example).")
        model = self.models["denoise"].require()
        if image.mode in HIGH_BIT_DEPTH_MODES:
            image = convert_mode(image, "L")  # scaled to 8 bits as the models' API does, not clipped to white
        if image.mode not in ("L", "RGB"):
            gr.Warning(f"The image was converted from mode {image.mode} to RGB.")
            image = image.convert("RGB")
        if max(image.size) > RESTORE_MAX_SIDE:
            original = image.size
            image = fit_within(image, RESTORE_MAX_SIDE)
            gr.Warning(
                f"The {original[0]}x{original[1]} image was scaled to {image.width}x{image.height} to keep the "
                f"demo fast on a CPU; `hfimg restore` on the command line works at full size."
            )
        noisy = image
        if sigma and sigma > 0:
            channels = 1 if image.mode == "L" else 3
            generator = torch.Generator().manual_seed(NOISE_SEED)
            noisy = tensor_to_pil(gaussian_noise(pil_to_tensor(image, channels), float(sigma), generator=generator))
        restored = model.restore(noisy)
        return noisy, restored, (noisy, restored)


# --- the interface ----------------------------------------------------------------------------------------------


def example_file(name: str) -> str:
    return str(EXAMPLES_DIR / name)


def build_demo(models: Mapping[str, LoadedModel]) -> gr.Blocks:
    """The whole app as a gr.Blocks, with its queue set up; `demo.launch(**LAUNCH_OPTIONS)` serves it."""
    handlers = Handlers(models)
    gan_classes = class_choices(models["gan"].model)  # [] unless the GAN is class-conditional

    with gr.Blocks(title="hfimg demo", analytics_enabled=False) as demo:  # no calls home
        gr.Markdown(
            "# hfimg: classic deep image generation and restoration\n"
            "DCGAN and VAE generators, gated-convolution inpainters and a U-Net denoiser, all running on your CPU."
        )
        with gr.Tabs():
            with gr.Tab("Generate"):
                gr.Markdown(availability_note(models, ["gan", "vae"]))
                with gr.Row():
                    with gr.Column(scale=1):
                        generator = gr.Radio(list(GENERATORS), value="GAN", label="Generator")
                        gen_label = gr.Dropdown(
                            [("all classes in turn", -1), *gan_classes],
                            value=-1,
                            label="Class",
                            visible=bool(gan_classes),
                        )
                        number = gr.Slider(1, MAX_IMAGES, value=16, step=1, label="Number of images")
                        with gr.Row():
                            seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, scale=3)
                            random_button = gr.Button("Random", scale=1, min_width=80)
                        generate_button = gr.Button("Generate", variant="primary")
                    grid = gr.Image(label="Samples", format="png", elem_classes="pixelated", height=420)
                gr.Markdown("### Latent interpolation\nThe images along the path between the codes of two seeds.")
                with gr.Row():
                    seed_a = gr.Number(0, label="From seed", precision=0, minimum=0, maximum=MAX_SEED)
                    seed_b = gr.Number(1, label="To seed", precision=0, minimum=0, maximum=MAX_SEED)
                    frames = gr.Slider(2, MAX_FRAMES, value=8, step=1, label="Frames")
                    interpolate_button = gr.Button("Interpolate", variant="primary")
                strip = gr.Image(label="Interpolation", format="png", elem_classes="pixelated", height=160)

            with gr.Tab("Inpaint"):
                gr.Markdown(availability_note(models, [slot for slot in METHODS.values() if slot]))
                with gr.Row():
                    with gr.Column():
                        editor = CheckedImageEditor(
                            label="Image: paint over what to fill",
                            type="numpy",
                            image_mode="RGBA",  # the painted layer's alpha is the mask
                            sources=["upload", "clipboard"],
                            brush=gr.Brush(colors=[BRUSH_COLOUR], color_mode="fixed", default_size=BRUSH_SIZE),
                            eraser=gr.Eraser(default_size=BRUSH_SIZE),
                            layers=False,
                            transforms=(),
                            format="png",
                            height=480,
                            elem_id="editor",
                        )
                        with gr.Accordion("Or upload a mask (white = fill)", open=False):
                            mask_upload = CheckedImage(
                                label="Mask: white = fill, black = keep; the image's size",
                                type="pil", image_mode=None, sources=["upload", "clipboard"], height=200,
                                elem_id="mask-upload",
                            )  # fmt: skip
                        gr.Markdown(
                            f"PNG, JPEG or WEBP, up to {MAX_UPLOAD_MB} MB and {MAX_PIXELS / 1e6:.0f} megapixels. "
                            f"Large photos keep their size: only the area around the mask is processed, at most "
                            f"{INPAINT_MAX_SIDE} px wide for the networks. Pixels outside the mask come back "
                            f"unchanged."
                        )
                        method = gr.Radio(
                            list(METHODS), value="InpaintCNN", label="Method", elem_id="method",
                            info=f"{', '.join(GARMENT_METHODS)}: for small grey garment images (Fashion-MNIST) only.",
                        )  # fmt: skip
                        methods_note = gr.Markdown(elem_id="methods-note")
                        iterations = gr.Slider(1, 16, value=6, step=1, label="Passes (InpaintRCNN)", visible=False)
                        latent_steps = gr.Slider(10, 500, value=100, step=10, label="Search steps", visible=False)
                        inpaint_label = gr.Dropdown(
                            [("none", -1), *gan_classes],
                            value=0 if gan_classes else -1,
                            label="Class (GAN)",
                            visible=False,
                        )
                        inpaint_button = gr.Button("Inpaint", variant="primary", elem_id="inpaint-button")
                    with gr.Column():
                        result = gr.Image(label="Result", format="png", height=400, elem_id="inpaint-result")
                        before_after = gr.ImageSlider(label="Before / after", type="pil", format="png", height=400)
                        passes_gallery = gr.Gallery(
                            label="InpaintRCNN passes: the hole closes from its border inwards",
                            format="png", columns=4, height="auto", visible=False,
                        )  # fmt: skip
                inpaint_inputs = [editor, method, iterations, latent_steps, inpaint_label, mask_upload]
                inpaint_outputs = [result, before_after, passes_gallery]
                gr.Examples(
                    [
                        [example_file("coffee.png"), None, "InpaintCNN"],
                        [example_file("astronaut.png"), example_file("astronaut_mask.png"), "InpaintRCNN"],
                        [example_file("chelsea.png"), example_file("chelsea_mask.png"), "OpenCV Telea"],
                        [example_file("shirt.png"), example_file("shirt_mask.png"), "GAN latent search"],
                    ],
                    inputs=[editor, mask_upload, method],
                    label="Examples: pick one, paint over what to fill (or keep the example's mask), click Inpaint",
                )

            with gr.Tab("Restore"):
                gr.Markdown(availability_note(models, ["denoise"]))
                with gr.Row():
                    with gr.Column():
                        photo = CheckedImage(
                            label="Image", type="pil", image_mode=None, sources=["upload", "clipboard"]
                        )
                        sigma = gr.Slider(0, 75, value=25, step=1, label="Add Gaussian noise (sigma, 0-255 scale)")
                        restore_button = gr.Button("Restore", variant="primary")
                        gr.Examples(
                            [[example_file("chelsea.png"), 25], [example_file("coffee.png"), 50]],
                            inputs=[photo, sigma],
                        )
                    with gr.Column():
                        noisy = gr.Image(label="Input to the model", format="png")
                        restored = gr.Image(label="Restored", format="png")
                        restore_slider = gr.ImageSlider(label="Before / after", type="pil", format="png")

            with gr.Tab("Models"):
                gr.Markdown(models_table(models))
                for loaded in models.values():
                    with gr.Accordion(f"{loaded.slot.title}: {loaded.id}", open=False):
                        gr.Markdown(model_details(loaded))

        generate_button.click(
            png_outputs(handlers.generate),
            [generator, number, seed, gen_label],
            grid,
            api_name="generate",
            **SHARED_QUEUE,
        )
        interpolate_button.click(
            png_outputs(handlers.interpolate),
            [generator, seed_a, seed_b, frames, gen_label],
            strip,
            api_name="interpolate",
            **SHARED_QUEUE,
        )
        random_button.click(handlers.random_seed, None, seed, api_name="random_seed", queue=False)
        generator.change(
            lambda g: gr.Dropdown(visible=g == "GAN" and bool(gan_classes)), generator, gen_label,
            queue=False, api_visibility="private",
        )  # fmt: skip
        method.change(
            lambda m: (
                gr.Slider(visible=m == "InpaintRCNN"),
                gr.Slider(visible=METHODS.get(m) in ("gan", "vae")),
                gr.Dropdown(visible=METHODS.get(m) == "gan" and bool(gan_classes)),
                gr.Gallery(visible=m == "InpaintRCNN"),
            ),
            method, [iterations, latent_steps, inpaint_label, passes_gallery], queue=False, api_visibility="private",
        )  # fmt: skip
        inpaint_button.click(
            png_outputs(handlers.inpaint), inpaint_inputs, inpaint_outputs, api_name="inpaint", **SHARED_QUEUE
        )
        # The methods that fit the image are worked out from the editor's value on each Inpaint click, beside the
        # inpainting itself (a .then would not run after a refused method), and reset on clear; not on upload: an
        # upload event that reads the editor makes gradio's editor re-add its image and fire upload again, in a loop.
        inpaint_button.click(
            handlers.offer_methods, [editor, method], [method, methods_note],
            preprocess=False, queue=False, show_progress="hidden", api_visibility="private",
        )  # fmt: skip
        editor.clear(
            lambda m: (gr.Radio(choices=list(METHODS), value=m), ""), method, [method, methods_note],
            queue=False, show_progress="hidden", api_visibility="private",
        )  # fmt: skip
        # A new image or mask: clear the last result (and its error badge, if any).
        gr.on(
            [editor.upload, editor.clear, mask_upload.upload, mask_upload.clear], lambda: (None, None, []), None,
            inpaint_outputs, queue=False, show_progress="hidden", api_visibility="private",
        )  # fmt: skip
        photo.upload(lambda: (None, None, None), None, [noisy, restored, restore_slider], queue=False,
                     show_progress="hidden", api_visibility="private")  # fmt: skip
        restore_button.click(
            png_outputs(handlers.restore),
            [photo, sigma],
            [noisy, restored, restore_slider],
            api_name="restore",
            **SHARED_QUEUE,
        )

    demo.queue(max_size=QUEUE_SIZE)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the hfimg demo (host/port: GRADIO_SERVER_NAME/_PORT).")
    for name, slot in SLOTS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            help=f"{slot.title}: bundled id, model folder or Hub repo id (default: ${slot.env} or {slot.default}).",
        )
    parser.add_argument(
        "--backend",
        choices=runtime.BACKENDS,
        help=f"How the networks run (default: ${runtime.BACKEND_ENV} or auto; fp32 = exact, see hfimg.runtime).",
    )
    return parser.parse_args(argv)


# --- start: load the models once and build the app; serve it when run as a script --------------------------------

if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s: %(message)s")
    ARGS = parse_args()
    if ARGS.backend:
        os.environ[runtime.BACKEND_ENV] = ARGS.backend  # every model's default backend
    MODEL_IDS = model_ids(overrides=vars(ARGS))  # flags win over the environment
else:
    MODEL_IDS = model_ids()
MODELS = load_models(MODEL_IDS)
demo = build_demo(MODELS)

if __name__ == "__main__":
    demo.launch(**LAUNCH_OPTIONS)  # host and port: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else 127.0.0.1:7860

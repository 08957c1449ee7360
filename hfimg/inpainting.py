"""Inpainting methods by name: networks, latent searches and classical algorithms, all run the same way.

`load_inpainter(name_or_model_id)` gives an `Inpainter` for an inpainting method of the catalogue
(`hfimg.catalogue`, task "inpaint": a model id or a classical `fill`, and the images it is made for) or for any
model that inpaints, called as `inpainter(image, mask, options) -> InpaintResult` whatever it is inside (the task
call of `hfimg.tasks`). The demo, the `hfimg inpaint` command and benchmarks/bench_inpainting.py run methods only
through here.

Also here: the one placement rule every entry point (the API, the CLI, folder runs, the demo) shares, in
`Inpainter.__call__`: an image whose longer side is at most `WORK_MAX_SIDE` (or the caller's `max_side`) is
filled whole at its own size; a larger one only in a crop around the hole, scaled down to that side when larger
(`inpaint_around_hole`, the filled pixels pasted back), and the result says which region it worked on. Generators
are shown the whole image at their own size. And which images the Fashion-MNIST methods fit (`is_garment_image`).

Example:
    >>> import numpy as np
    >>> from PIL import Image
    >>> image, mask = Image.new("RGB", (64, 48), (30, 120, 200)), Image.new("L", (64, 48))
    >>> mask.paste(255, (20, 10, 40, 30))
    >>> load_inpainter("pull-push").name
    'pull-push interpolation'
    >>> load_inpainter("pull-push")(image, mask).image.getpixel((30, 20))
    (30, 120, 200)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from hfimg.catalogue import MethodSpec, resolve_method
from hfimg.hub import HubModel
from hfimg.imaging import ImageInput, load_mask, open_working, read_hole, refuse_full_hole
from hfimg.tasks import InpaintOptions, InpaintResult, Inpaints, Placement

# The longest side a method works at: larger photos are filled in a crop around the hole, scaled down to this. The
# photo networks were trained on 128 px crops of photos at most 1024 px long, shrunk by 0.5-1: at this size a hole's
# texture is at about the scale they learned, and a CNN pass stays well under a second on a CPU.
WORK_MAX_SIDE = 512
GARMENT_MAX_SIDE = 128  # Fashion-MNIST is 28x28; the demo's garment example is 112x112
GREY_TOLERANCE = 8  # R, G and B may differ this much (0-255) in a grey image saved as colour (JPEG noise)


class Inpainter:
    """One inpainting method, ready to run: a registry entry with its model loaded, or any model that inpaints.

    Called as `inpainter(image, mask, options)`: image a PIL image, path, uint8 array or tensor; mask the same size,
    white (>= 128) = fill. Returns an `InpaintResult`; the known pixels are the input's, bit for bit. An image
    longer than `max_side` is filled in a crop around the hole (see the module docstring); None = always whole.
    """

    def __init__(
        self,
        spec: MethodSpec,
        model: HubModel | None = None,
        settings: Mapping[str, Any] | None = None,
        max_side: int | None = WORK_MAX_SIDE,
    ):
        if max_side is not None and max_side < 16:
            raise ValueError(f"max_side must be at least 16 px (or None: the whole image), got {max_side}.")
        self.settings = spec.checked_settings(model, settings, Inpaints)
        self.spec = spec
        self.model = model
        self.max_side = max_side

    @property
    def name(self) -> str:
        return self.spec.name

    def __call__(self, image: ImageInput, mask: ImageInput, options: InpaintOptions | None = None) -> InpaintResult:
        options = options or InpaintOptions()
        # One rule for every method, here: a mask over the whole image is refused. Left to the methods, the classical
        # ones returned the input unchanged or one flat colour, and a latent search a sample unrelated to the input.
        hole = read_hole(mask)
        refuse_full_hole(hole)
        placement = self.placement(self.max_side)
        if placement.whole_image or self.max_side is None:
            return self._fill(image, hole, options)
        picture = open_working(image)
        if max(picture.size) <= self.max_side:  # small enough: filled whole, at its own size
            return self._fill(image if self.model is not None else picture, hole, options)
        load_mask(hole, picture.size)  # a mask of another size is refused here, as the method would refuse it
        passes: list[Image.Image] = []

        def fill(crop: Image.Image, crop_hole: np.ndarray) -> Image.Image:
            filled = self._fill(crop, crop_hole, options)
            passes.extend(filled.passes)
            return filled.image

        result = inpaint_around_hole(picture, hole, fill, max_side=self.max_side)
        box, work_size = work_region(hole, max_side=self.max_side)  # what inpaint_around_hole cut, and its size
        return InpaintResult(result, passes, region=box, work_size=work_size)

    def _fill(self, image: ImageInput, hole: np.ndarray, options: InpaintOptions) -> InpaintResult:
        """The method itself on the image it is given, whole."""
        if self.model is not None:
            return self.model.inpaint(image, hole, options=options)  # the mask read once; the model checks its size
        picture = open_working(image)
        return InpaintResult(self.spec.fill(picture, load_mask(hole, picture.size), **self.settings))

    def placement(self, max_side: int | None = None) -> Placement:
        """How it wants a large photo: a crop around the hole of at most `max_side` px, or the whole image at the
        model's own size."""
        if self.model is not None:
            return self.model.inpaint_placement(max_side)
        return Placement(max_side=max_side)


def load_inpainter(
    name_or_model: str | Path,
    model: HubModel | None = None,
    settings: Mapping[str, Any] | None = None,
    max_side: int | None = WORK_MAX_SIDE,
) -> Inpainter:
    """An `Inpainter` for a registered method (by name or id: its default model is loaded, unless `model` is given)
    or for a model that inpaints (bundled id, folder or Hub repo id, as `hfimg.load` takes); `max_side` as in
    `Inpainter`."""
    spec, model = resolve_method(name_or_model, "inpaint", model)
    return Inpainter(spec, model, settings, max_side)


def is_garment_image(image: Image.Image) -> bool:
    """Whether `image` is what the Fashion-MNIST models know: small (longer side <= GARMENT_MAX_SIDE) and grey.

    Only the header is read for a large image (its size rules it out); a small one is decoded to check its colours.
    """
    if max(image.size) > GARMENT_MAX_SIDE:
        return False
    if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return True
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)  # (H, W, 3)
    return int(np.abs(rgb - rgb.mean(axis=-1, keepdims=True)).max()) <= GREY_TOLERANCE


# --- a method on a large photo ----------------------------------------------------------------------------------

# Fills the hole of an image: (image, hole (H, W) bool, True = fill) -> image of the same size.
FillFn = Callable[[Image.Image, np.ndarray], Image.Image]


def hole_box(hole: np.ndarray, margin: float = 0.5, min_margin: int = 16) -> tuple[int, int, int, int]:
    """Bounding box (left, top, right, bottom) of the hole, grown by context on every side, clipped to the image.

    Args:
        hole: (H, W) bool, with at least one True pixel.
        margin: context to add on each side, as a fraction of the hole box's longer side.
        min_margin: at least this many pixels of context on each side.
    """
    rows, cols = np.nonzero(hole)
    if rows.size == 0:
        raise ValueError("the hole is empty: there is nothing to fill.")
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    pad = max(min_margin, round(margin * max(bottom - top, right - left)))
    height, width = hole.shape
    return max(0, left - pad), max(0, top - pad), min(width, right + pad), min(height, bottom + pad)


def fit_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """A (width, height) scaled down (aspect kept) so that its longer side is at most `max_side`; unchanged if it
    fits."""
    scale = max_side / max(size)
    if scale >= 1:
        return size
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def fit_within(image: Image.Image, max_side: int) -> Image.Image:
    """`image` scaled down (aspect kept) so that its longer side is at most `max_side`; unchanged if it fits."""
    size = fit_size(image.size, max_side)
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def _resize_hole(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # Bilinear then "> 0": any source hole pixel under a target pixel makes it a hole, so thin strokes survive
    # downscaling (a nearest-neighbour resize would drop them).
    scaled = Image.fromarray(hole.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(scaled) > 0


def work_region(
    hole: np.ndarray,
    *,
    max_side: int | None = None,
    work_size: tuple[int, int] | None = None,
    whole_image: bool = False,
    margin: float = 0.5,
) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """The (left, top, right, bottom) box `inpaint_around_hole` cuts for a hole (arguments as there) and the
    (width, height) it gives the method: the box's own size unless `work_size` is given or it is longer than
    `max_side`."""
    height, width = hole.shape
    box = (0, 0, width, height) if whole_image else hole_box(hole, margin)
    size = (box[2] - box[0], box[3] - box[1])
    if work_size is not None:
        return box, work_size
    return box, size if max_side is None else fit_size(size, max_side)


def inpaint_around_hole(
    image: Image.Image,
    hole: np.ndarray,
    fill: FillFn,
    *,
    max_side: int | None = None,
    work_size: tuple[int, int] | None = None,
    whole_image: bool = False,
    margin: float = 0.5,
) -> Image.Image:
    """Fill the hole of a photo of any size with `fill`, touching no pixel outside the hole.

    The region around the hole (the hole's box plus `margin` of context; the whole image with `whole_image`) is
    cut out. If it is larger than `max_side`, or `work_size` is given (models with a fixed input size), only that
    crop is resized for `fill`, and the result is resized back. Then the hole pixels of the result are pasted into
    a copy of the image. `max_side`, `work_size` and `whole_image` are a `Placement`'s fields
    (`Inpainter.placement`).

    Args:
        image: the photo (L, RGB or RGBA).
        hole: (H, W) bool, True = fill.
        fill: the inpainter, called as fill(crop, crop_hole) and returning an image of the crop's size.
        max_side: largest side `fill` is given (aspect kept); None = any size.
        work_size: exact (width, height) `fill` is given (e.g. a GAN's resolution); overrides `max_side`.
        whole_image: give `fill` the whole image, not a crop (models of whole objects, e.g. Fashion-MNIST).
        margin: context around the hole, as a fraction of the hole box's longer side.

    Returns:
        A new image, the same size and mode as `image`; pixels outside the hole are the input's own.
    """
    if hole.shape != (image.height, image.width):
        raise ValueError(f"hole shape {hole.shape} does not match image size {image.width}x{image.height}.")
    if not hole.any():
        return image.copy()
    box, size = work_region(hole, max_side=max_side, work_size=work_size, whole_image=whole_image, margin=margin)
    left, top, right, bottom = box
    crop, crop_hole = image.crop(box), hole[top:bottom, left:right]
    if size == crop.size:
        filled = fill(crop, crop_hole)
    else:
        filled = fill(crop.resize(size, Image.Resampling.LANCZOS), _resize_hole(crop_hole, size))
        filled = filled.resize(crop.size, Image.Resampling.BICUBIC)
    if filled.size != crop.size:
        raise ValueError(f"the inpainter returned a {filled.size} image for a {crop.size} input.")

    out = np.array(image)
    region = out[top:bottom, left:right]  # a view: writing to it writes to `out`
    region[crop_hole] = np.asarray(filled.convert(image.mode))[crop_hole]
    return Image.fromarray(out)  # (H, W) -> L, (H, W, 3) -> RGB, (H, W, 4) -> RGBA

"""The image logic behind the Gradio demo (app.py), free of gradio so that it can be tested and reused.

* `editor_to_image_and_hole`: what a `gr.ImageEditor` sends (background + painted layers) -> image and hole;
* `inpaint_around_hole`: run any inpainter on a large photo by cropping around the hole (with some context),
  resizing only that crop to the model's working size when needed, and pasting the filled hole pixels back, so
  the photo is never shrunk and every pixel outside the hole comes back bit-identical;
* `telea_inpaint`: the classical OpenCV baseline (Telea, 2004) to compare the networks with;
* `fit_within`: scale an image down to a maximum side, for the models that cost too much at full size;
* `is_garment_image`: whether an image is in the domain of the Fashion-MNIST models (small and grey), so the demo
  offers those models only where they give something better than a grey blob.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from hfimg.imaging import load_mask

GARMENT_MAX_SIDE = 128  # Fashion-MNIST is 28x28; the demo's garment example is 112x112
GREY_TOLERANCE = 8  # R, G and B may differ this much (0-255) in a grey image saved as colour (JPEG noise)

# Fills the hole of an image: (image, hole (H, W) bool, True = fill) -> image of the same size.
FillFn = Callable[[Image.Image, np.ndarray], Image.Image]


def editor_to_image_and_hole(background: np.ndarray, layers: list[np.ndarray]) -> tuple[Image.Image, np.ndarray]:
    """Turn an image editor's value into a PIL image and a bool hole mask (True = pixel to fill).

    Args:
        background: (H, W, 4) uint8 RGBA (or (H, W, 3) RGB / (H, W) grey) uploaded image.
        layers: painted layers, each (H, W, 4) RGBA: the brush strokes are where a layer is not transparent.
            A layer with no transparency at all is read as a mask image instead: white (>= 128) = hole, so API
            callers can send a plain black-and-white mask as the layer.

    Returns:
        The image (RGB, or RGBA when the upload has real transparency) and the hole (H, W) bool, the union of all
        layers.
    """
    if background.dtype != np.uint8 or background.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 (H, W[, C]) image, got {background.dtype} of shape {background.shape}.")
    image = Image.fromarray(background)
    if image.mode == "RGBA" and np.all(background[..., 3] == 255):
        image = image.convert("RGB")  # the editor adds an opaque alpha channel to every upload
    height, width = background.shape[:2]
    hole = np.zeros((height, width), dtype=bool)
    for layer in layers:
        if layer.shape[:2] != (height, width):
            raise ValueError(
                f"the mask layer is {layer.shape[1]}x{layer.shape[0]} but the image is {width}x{height}; "
                f"paint the mask on the uploaded image (or send a mask of the same size)."
            )
        hole |= _layer_hole(layer)
    return image, hole


def _layer_hole(layer: np.ndarray) -> np.ndarray:
    # The API's mask rule (`load_mask`): painted strokes by their alpha, a plain mask by its luminance, 0/1 masks.
    return load_mask(layer, (layer.shape[1], layer.shape[0]))


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


def fit_within(image: Image.Image, max_side: int) -> Image.Image:
    """`image` scaled down (aspect kept) so that its longer side is at most `max_side`; unchanged if it fits."""
    scale = max_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _resize_hole(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # Bilinear then "> 0": any source hole pixel under a target pixel makes it a hole, so thin strokes survive
    # downscaling (a nearest-neighbour resize would drop them).
    scaled = Image.fromarray(hole.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(scaled) > 0


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
    a copy of the image.

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
    box = (0, 0, image.width, image.height) if whole_image else hole_box(hole, margin)
    left, top, right, bottom = box
    crop, crop_hole = image.crop(box), hole[top:bottom, left:right]

    size = work_size
    if size is None and max_side is not None and max(crop.size) > max_side:
        size = fit_within(crop, max_side).size
    if size is None or size == crop.size:
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


def telea_inpaint(image: Image.Image, hole: np.ndarray, radius: int = 5) -> Image.Image:
    """Classical inpainting by fast marching (Telea, 2004, `cv2.INPAINT_TELEA`); no learning, a baseline.

    Args:
        image: L, RGB or RGBA image (the alpha channel is kept as it is).
        hole: (H, W) bool, True = fill.
        radius: neighbourhood (pixels) each filled pixel is estimated from.

    Returns:
        The filled image, same size and mode.
    """
    import cv2  # the app extra; imported here so that the rest of hfimg works without OpenCV

    colour = image.convert("L" if image.mode == "L" else "RGB")
    # OpenCV takes 8-bit 1- or 3-channel images and a uint8 mask, non-zero = fill; the channel order does not
    # matter to this algorithm, so RGB is passed as it is.
    filled = cv2.inpaint(np.asarray(colour), hole.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    result = Image.fromarray(filled)
    if image.mode == "RGBA":
        result.putalpha(image.getchannel("A"))
    return result

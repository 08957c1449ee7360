"""The image editor's value as the models take it (the uploaded image and the painted hole), and a mask as a layer the
editor shows. Free of gradio, so the rules can be used and tested without it."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageColor

from hfimg.imaging import ImageInput, load_mask, read_hole


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


def mask_layer(mask: ImageInput, colour: str) -> Image.Image:
    """A mask (white = fill) as an image editor layer: `colour` where the hole is, transparent elsewhere.

    So the editor shows a mask that came with the image as if it had been painted with the brush (the visitor sees
    it, can paint more or erase some), and `editor_to_image_and_hole` reads the hole back from the layer's alpha.
    """
    hole = read_hole(mask)
    layer = np.zeros((*hole.shape, 4), dtype=np.uint8)
    layer[hole] = (*ImageColor.getrgb(colour)[:3], 255)
    return Image.fromarray(layer, "RGBA")

"""Write the demo's example images: small photos from scikit-image's data (public domain / CC0, see README.md),
a drawn garment, and for each a mask (white = the part to fill, black = keep), for the CLI and the API.

    python examples/make_examples.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image, ImageDraw

HERE = Path(__file__).parent
MAX_SIDE = 256


def photo(name: str) -> Image.Image:
    image = Image.fromarray(getattr(skimage.data, name)())
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return image


def shirt() -> Image.Image:
    """A T-shirt in the style of Fashion-MNIST: light grey garment on black, 112x112 (4x the 28x28 originals)."""
    image = Image.new("L", (112, 112), 0)
    draw = ImageDraw.Draw(image)
    body = [(36, 18), (48, 14), (56, 22), (64, 14), (76, 18), (100, 36), (90, 50), (80, 42), (80, 100), (32, 100),
            (32, 42), (22, 50), (12, 36)]  # fmt: skip
    draw.polygon(body, fill=170)
    draw.line([(48, 14), (56, 22), (64, 14)], fill=220, width=3)  # collar
    texture = np.random.default_rng(0).normal(0, 6, (112, 112))
    array = np.asarray(image, dtype=np.float64)
    return Image.fromarray(np.where(array > 0, np.clip(array + texture, 0, 255), 0).astype(np.uint8))


def mask(size: tuple[int, int], strokes: list[list[tuple[int, int]]], width: int) -> Image.Image:
    image = Image.new("L", size, 0)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line(stroke, fill=255, width=width, joint="curve")
    return image


def main() -> None:
    examples = {
        "coffee": (photo("coffee"), [[(140, 100), (165, 130)]], 14),
        "astronaut": (photo("astronaut"), [[(72, 185), (98, 195)]], 16),
        "chelsea": (photo("chelsea"), [[(60, 40), (90, 60)], [(180, 120), (200, 150)]], 10),
        "shirt": (shirt(), [[(70, 60), (70, 85)]], 14),
    }
    for name, (image, strokes, width) in examples.items():
        image.save(HERE / f"{name}.png", optimize=True)
        mask(image.size, strokes, width).save(HERE / f"{name}_mask.png", optimize=True)


if __name__ == "__main__":
    main()

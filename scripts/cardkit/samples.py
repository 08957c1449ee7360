"""The image a shipped model's card shows: samples of a generator, before/after of a restoration model."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from hfimg.data import ImageStream
from hfimg.degrade import gaussian_noise
from hfimg.imaging import images_to_grid, pil_to_tensor, tensor_to_pil
from hfimg.masks import random_mask
from scripts.cardkit.shipped import FASHION_MNIST_SIZE


def sample_image(
    model: torch.nn.Module, kind: str, photos_dir: Path, fashion_corpus: str = "fashion_mnist"
) -> tuple[Image.Image, str]:
    """A small image showing the model at work, and its caption.

    Args:
        model: the shipped model.
        kind: its benchmark ("generation", "inpainting", "denoising" or "prior").
        photos_dir: the photo corpus, whose validation photos the photo models are shown on.
        fashion_corpus: the corpus (anything `hfimg.data` opens) whose first test images the Fashion-MNIST
            inpainter is shown on.
    """
    if kind == "generation":
        samples = model.generate(64, seed=0)
        grid = images_to_grid(samples, columns=8)
        grid = grid.resize((grid.width * 2, grid.height * 2), Image.Resampling.NEAREST)
        return grid, f"64 samples, `generate(64, seed=0)`, shown at twice their {samples[0].width} px."
    if kind == "prior":
        tiles = []
        images = fashion_test_images(fashion_corpus, 4)
        cases = itertools.product(((0.2, 0.3), (0.4, 0.5)), ("strokes", "boxes"))  # one per row
        for i, (image, (hole_range, mask_kind)) in enumerate(zip(images, cases, strict=True)):
            hole = random_mask(image.height, image.width, hole_range=hole_range, kind=mask_kind, seed=i)
            tiles += inpainting_tiles(model, image, hole)
        # A grey frame around each tile: the grid's black gaps would vanish against the black backgrounds.
        grid = images_to_grid([ImageOps.expand(tile, border=1, fill=128) for tile in tiles], columns=3)
        grid = grid.resize((grid.width * 4, grid.height * 4), Image.Resampling.NEAREST)
        return grid, (
            f"The first 4 Fashion-MNIST test images (never seen in training), {FASHION_MNIST_SIZE} px, shown at 4 "
            "times their size in grey frames. Rows: brush-stroke and box holes of 20-30% of the pixels, then of "
            "40-50%. Columns: the input with its hole in white, this model's result, the original."
        )
    crops = photo_crops(photos_dir, size=192, count=2)
    tiles = []
    if kind == "inpainting":
        for i, (crop, hole_range) in enumerate(zip(crops, ((0.2, 0.3), (0.4, 0.5)), strict=True)):
            tiles += inpainting_tiles(model, crop, random_mask(crop.height, crop.width, hole_range=hole_range, seed=i))
        caption = (
            "Validation photos (never seen in training), 192 px crops at their own scale. Columns: the input with its "
            "hole in white (20-30% and 40-50% of the pixels), this model's result, the original."
        )
    else:
        for i, crop in enumerate(crops):
            clean = pil_to_tensor(crop, 3)
            noisy = gaussian_noise(clean, 25, generator=torch.Generator().manual_seed(i))
            with torch.inference_mode():
                denoised = model(noisy.to(model.device)).clamp(-1, 1).cpu()
            tiles += [tensor_to_pil(noisy.clamp(-1, 1)), tensor_to_pil(denoised), crop]
        caption = (
            "Validation photos (never seen in training), 192 px crops at their own scale. Columns: with Gaussian "
            "noise of sigma 25, this model's result, the original."
        )
    return images_to_grid(tiles, columns=3), caption


def inpainting_tiles(model: torch.nn.Module, image: Image.Image, hole: np.ndarray) -> list[Image.Image]:
    """[the image with its hole (bool (H, W)) in white, the model's result, the image]."""
    shown = np.asarray(image).copy()
    shown[hole] = 255
    return [Image.fromarray(shown), model.inpaint(image, Image.fromarray(hole)), image]


def fashion_test_images(corpus: str, count: int) -> list[Image.Image]:
    """The first `count` test images of a Fashion-MNIST-like corpus, grey, resized as the models' training did."""
    stream = ImageStream(
        corpus, resolution=FASHION_MNIST_SIZE, channels=1, split="test", shuffle_buffer=0, repeat=False
    )
    images = [tensor_to_pil(sample["image"]) for sample in itertools.islice(stream, count)]
    if len(images) < count:
        raise ValueError(f"corpus {corpus!r} has {len(images)} test images, {count} needed for the sample image.")
    return images


def photo_crops(photos_dir: Path, size: int, count: int) -> list[Image.Image]:
    """Centre crops (RGB, `size` px, at the photo's scale) of the first `count` validation photos."""
    paths = sorted((photos_dir / "validation").glob("*.png"))[:count]
    if len(paths) < count:
        raise FileNotFoundError(
            f"{photos_dir / 'validation'} holds {len(paths)} photos, {count} needed; build the photo corpus with "
            "`python scripts/build_photo_corpus.py --output data/photos` (or pass --photos)."
        )
    crops = []
    for path in paths:
        with Image.open(path) as opened:
            photo = opened.convert("RGB")
        if min(photo.size) < size:  # enlarged until the crop fits, as the benchmarks do
            photo = ImageOps.cover(photo, (size, size), method=Image.Resampling.BICUBIC)
        left, top = (photo.width - size) // 2, (photo.height - size) // 2
        crops.append(photo.crop((left, top, left + size, top + size)))
    return crops

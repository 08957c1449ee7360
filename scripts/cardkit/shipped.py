"""The models shipped inside the package, as `hfimg.catalogue.BUNDLED` lists them, and where each is measured."""

from __future__ import annotations

from hfimg.catalogue import BUNDLED, BundledModel
from hfimg.constants import FASHION_MNIST_HUB_ID

FASHION_MNIST_SIZE = 32  # the Fashion-MNIST models' resolution
PHOTO_DATASET = "hfimg-photos"  # the local photo corpus of scripts/build_photo_corpus.py (not a Hub dataset)
# What the benchmarks measure on, as (dataset type, name, split) of a model-index entry.
FASHION_MNIST_TEST = (FASHION_MNIST_HUB_ID, "Fashion-MNIST", "test")
PHOTO_VALIDATION = (PHOTO_DATASET, "hfimg photo corpus, validation photos", "validation")

# Each carded model by its bundled folder's name.
SHIPPED: dict[str, BundledModel] = {model.name: model for model in BUNDLED}
# A benchmark's model-index task: (type, name).
TASKS = {
    "generation": ("unconditional-image-generation", "Unconditional image generation"),
    "inpainting": ("image-inpainting", "Image inpainting"),
    "denoising": ("image-denoising", "Image denoising"),
    "prior": ("image-inpainting", "Image inpainting"),
}

"""The models shipped inside the package: what each is benchmarked by and trained on, and where it is measured."""

from __future__ import annotations

from dataclasses import dataclass

FASHION_MNIST = "zalando-datasets/fashion_mnist"
FASHION_MNIST_SIZE = 32  # the Fashion-MNIST models' resolution
PHOTO_DATASET = "hfimg-photos"  # the local photo corpus of scripts/build_photo_corpus.py (not a Hub dataset)
# What the benchmarks measure on, as (dataset type, name, split) of a model-index entry.
FASHION_MNIST_TEST = (FASHION_MNIST, "Fashion-MNIST", "test")
PHOTO_VALIDATION = (PHOTO_DATASET, "hfimg photo corpus, validation photos", "validation")


@dataclass(frozen=True)
class Shipped:
    """A model shipped inside the package: what it is benchmarked by and trained on."""

    benchmark: str  # "generation", "inpainting", "denoising" or "prior": the benchmark JSON holding its numbers
    datasets: tuple[str, ...]  # Hub dataset ids for the card metadata
    extra_tags: tuple[str, ...]
    trained_on: str  # for the README's table of models


SHIPPED = {
    "dcgan-fashion-mnist": Shipped("generation", (FASHION_MNIST,), ("fashion-mnist",), "Fashion-MNIST train"),
    "vae-fashion-mnist": Shipped("generation", (FASHION_MNIST,), ("fashion-mnist",), "Fashion-MNIST train"),
    "inpaint-cnn-photos": Shipped("inpainting", (), ("photos",), "the photo corpus, 128 then 256 px crops"),
    "inpaint-rcnn-photos": Shipped("inpainting", (), ("photos",), "the photo corpus, 128 then 256 px crops"),
    "denoise-cnn-photos": Shipped("denoising", (), ("photos", "awgn"), "the photo corpus, sigma 0-55"),
    "inpaint-cnn-fashion-mnist": Shipped("prior", (FASHION_MNIST,), ("fashion-mnist",), "Fashion-MNIST train"),
}
# A benchmark's model-index task: (type, name).
TASKS = {
    "generation": ("unconditional-image-generation", "Unconditional image generation"),
    "inpainting": ("image-inpainting", "Image inpainting"),
    "denoising": ("image-denoising", "Image denoising"),
    "prior": ("image-inpainting", "Image inpainting"),
}

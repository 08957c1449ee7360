"""How the generation benchmarks judge a generator's samples against Fashion-MNIST's test split: the judges (three
classifiers of different architectures), the real and generated image sets at the native 28 px, and `measure`
(FID under each judge, class shares, a classifier two-sample test). Shared by bench_generation and
bench_gan_recipes, so neither benchmark imports the other.
"""

from __future__ import annotations

import time
from itertools import islice

import cv2
import numpy as np
import torch
from PIL import Image

from hfimg import metrics

JUDGES = ["hfimg/fashion-mnist-classifier", "hfimg/fashion-mnist-judge-deep", "hfimg/fashion-mnist-judge-wide"]
TEST_SPLIT_SIZE = 10_000
NATIVE = 28  # Fashion-MNIST's own image size
SHARE_RANGE = (0.05, 0.15)  # target share of every class in a generator's samples


def real_images(split: str, count: int) -> list[np.ndarray]:
    """The first `count` Fashion-MNIST images of `split`, uint8 (28, 28)."""
    from hfimg.data import open_corpus  # datasets is only needed when real images are read

    images = [
        np.asarray(row["image"].convert("L")) for row in islice(open_corpus("fashion_mnist", split=split), count)
    ]
    if len(images) < count:
        raise ValueError(f"the Fashion-MNIST {split} split has only {len(images)} images, fewer than {count}.")
    return images


def blurred(images: list[np.ndarray]) -> list[np.ndarray]:
    """3x3 Gaussian blur of sigma 1 (OpenCV, borders reflected) of each uint8 image."""
    return [cv2.GaussianBlur(image, (3, 3), sigmaX=1.0, sigmaY=1.0) for image in images]


def to_native(image: Image.Image | np.ndarray) -> np.ndarray:
    """An image as a uint8 (28, 28) array; other sizes scaled with PIL bicubic."""
    image = image if isinstance(image, Image.Image) else Image.fromarray(image)
    if image.size != (NATIVE, NATIVE):
        image = image.resize((NATIVE, NATIVE), Image.Resampling.BICUBIC)
    return np.asarray(image.convert("L"))


def round_trip(images: list[np.ndarray], size: int = 32) -> list[np.ndarray]:
    """Each image enlarged to `size` px and back to 28 px (PIL bicubic both ways)."""
    return [to_native(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC)) for image in images]


def samples(model: torch.nn.Module, count: int, batch_size: int = 500) -> list[np.ndarray]:
    """`count` samples of a generator as uint8 (28, 28) arrays; batch i uses seed i, so a run is reproducible."""
    images = []
    for seed, start in enumerate(range(0, count, batch_size)):
        images += [to_native(image) for image in model.generate(min(batch_size, count - start), seed=seed)]
    return images


def as_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 (28, 28) arrays -> one (N, 1, 28, 28) tensor in [-1, 1]: each judge prepares it its own way."""
    return torch.from_numpy(np.stack(images)).float()[:, None] / 127.5 - 1.0


def measure(test: torch.Tensor, images: torch.Tensor, judges: dict, c2st_steps: int) -> dict:
    """Every figure of one set against the test images."""
    extractors = {name: metrics.FeatureExtractor(judge) for name, judge in judges.items()}
    first, last = next(iter(extractors.values())), list(extractors.values())[-1]
    kid = metrics.kid(test, images, features=first)
    fidelity = metrics.precision_recall(test, images, features=last)
    started = time.perf_counter()
    accuracy = metrics.two_sample_accuracy(test, images, steps=c2st_steps)
    return {
        "fid": metrics.fid(test, images, features=first),
        "kid": kid.mean,
        "kid_std": kid.std,
        "judges": {name: metrics.fid(test, images, features=extractor) for name, extractor in extractors.items()},
        "precision": fidelity.precision,
        "recall": fidelity.recall,
        "two_sample_accuracy": accuracy,
        "two_sample_seconds": time.perf_counter() - started,
        "class_shares": metrics.class_histogram(images, classifier=next(iter(judges.values()))),
    }

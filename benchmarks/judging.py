"""How the generation benchmarks judge a generator's samples against Fashion-MNIST's test split: the judges (three
classifiers of different architectures, trained without flips), the real and generated image sets at the native
28 px, and a `Panel` that measures a set (FID under each judge, class shares, a classifier two-sample test) with the
test images' features computed once. Shared by bench_generation and bench_gan_recipes, so neither benchmark
imports the other.

A judge must see the data set's geometry: Fashion-MNIST's shoes and bags mostly point one way, so a mirrored copy
of the training images is not Fashion-MNIST. `Panel.check` measures that copy beside the training images themselves
and refuses every judge that does not put it at least `MIRROR_FACTOR` times further from the test images.
"""

from __future__ import annotations

import statistics
import time
from itertools import islice

import cv2
import numpy as np
import torch
from PIL import Image

from hfimg import catalogue, metrics

JUDGES = list(catalogue.JUDGES)
TEST_SPLIT_SIZE = 10_000
TRAIN_SPLIT_SIZE = 60_000
NATIVE = 28  # Fashion-MNIST's own image size
SHARE_RANGE = (0.05, 0.15)  # target share of every class in a generator's samples
# A judge is used only if the mirrored training images are at least this many times further (FID) from the test
# images than the training images themselves: a judge that cannot see a whole data set mirrored cannot see a
# generator that mirrors it.
MIRROR_FACTOR = 10.0
# The training stream's augmentations that a Fashion-MNIST recipe could turn on ({name: ImageStream settings}), and
# how much further (FID, any judge) an augmented copy of the training images may be from the test images than the
# training images themselves before it counts as changing the data set (`augmentation_check`).
AUGMENTATIONS = {
    "flips (--random_flip)": {"flip": True},
    "quarter turns (--random_rotate)": {"rotate": True},
    "colour jitter 0.05 (--color_jitter 0.05)": {"jitter": 0.05},
}
AUGMENTATION_FACTOR = 2.0


def real_images(split: str, count: int, start: int = 0) -> list[np.ndarray]:
    """`count` Fashion-MNIST images of `split` from index `start` on, uint8 (28, 28)."""
    from hfimg.data import open_corpus  # datasets is only needed when real images are read

    rows = islice(open_corpus("fashion_mnist", split=split), start, start + count)
    images = [np.asarray(row["image"].convert("L")) for row in rows]
    if len(images) < count:
        raise ValueError(
            f"the Fashion-MNIST {split} split has only {start + len(images)} images, fewer than {start + count}."
        )
    return images


def augmented_images(
    count: int, settings: dict, split: str = "train", source: str = "fashion_mnist"
) -> list[np.ndarray]:
    """The first `count` images of `split` as the training stream gives them with `settings` (ImageStream keyword
    arguments: its own augmentation code, at the native 28 px, unshuffled), uint8 (28, 28)."""
    from hfimg.data import ImageStream  # datasets is only needed when real images are read

    stream = ImageStream(
        source, resolution=NATIVE, channels=1, split=split, shuffle_buffer=0, repeat=False, **settings
    )
    images = [((sample["image"][0] + 1) * 127.5).round().byte().numpy() for sample in islice(stream, count)]
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


def add_panel_arguments(parser) -> None:
    """The `Panel` flags both generation benchmarks take: two-sample tests per set and the judges' mirror check."""
    parser.add_argument(
        "--two_sample_seeds",
        type=int,
        default=3,
        help="Two-sample tests per set (median and range reported).",
    )
    parser.add_argument(
        "--mirror_factor",
        type=float,
        default=MIRROR_FACTOR,
        help="A judge is used only if the mirrored training images are this many times further from the test images "
        "than the training images themselves (FID); 0 keeps every judge (tests on images without an orientation).",
    )


def mirrored(images: list[np.ndarray]) -> list[np.ndarray]:
    """Each uint8 image flipped left to right."""
    return [np.ascontiguousarray(image[:, ::-1]) for image in images]


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


class Panel:
    """The judges, and the test images' features under each, computed once for every set the panel measures.

    Args:
        judges: {judge id: Fashion-MNIST classifier}, in report order: the first gives KID and class shares, the
            last precision / recall.
        test: the test images, (N, 1, 28, 28) in [-1, 1] (`as_tensor`).
        two_sample_steps: training steps of each two-sample-test network.
        two_sample_seeds: how many two-sample tests (fresh networks, splits and batch orders) a set gets: their
            median is the figure and their range its spread.
        mirror_factor: what `check` asks of a judge (see MIRROR_FACTOR).
    """

    def __init__(
        self,
        judges: dict,
        test: torch.Tensor,
        two_sample_steps: int,
        two_sample_seeds: int = 3,
        mirror_factor: float = MIRROR_FACTOR,
    ):
        self.judges = dict(judges)
        self.mirror_factor = mirror_factor
        self.test = test
        self.two_sample_steps = two_sample_steps
        self.two_sample_seeds = two_sample_seeds
        self.reference = {
            name: metrics.extract_features(test, features=metrics.FeatureExtractor(judge))
            for name, judge in self.judges.items()
        }
        self.refused: dict[str, str] = {}  # judge id -> why it is not used

    def fids(self, images: torch.Tensor) -> dict[str, float]:
        """FID of a set under each judge, against as many test images as the set has (learning-curve points)."""
        count = len(images)
        return {
            name: metrics.fid(metrics.Features(reference.values[:count], reference.network), images)
            for name, reference in self.reference.items()
        }

    def check(self, floor: torch.Tensor, mirror: torch.Tensor) -> dict[str, dict[str, float]]:
        """Measure the training images and their mirror images under every judge; drop each judge that does not put
        the mirrored set `mirror_factor` times further than the training images. Returns {judge: {"floor": FID,
        "mirrored": FID, "needed": mirror_factor, "used": 1.0 or 0.0}}; prints each judge it drops and raises when
        no judge is left."""
        found = {}
        floor_fids, mirror_fids = self.fids(floor), self.fids(mirror)
        for name in self.judges:
            floor_fid, mirror_fid = floor_fids[name], mirror_fids[name]
            ratio = mirror_fid / max(floor_fid, 1e-6)
            used = ratio >= self.mirror_factor
            found[name] = {
                "floor": floor_fid,
                "mirrored": mirror_fid,
                "needed": self.mirror_factor,
                "used": float(used),
            }
            if not used:
                self.refused[name] = (
                    f"puts the mirrored training images only {ratio:.1f}x as far as the "
                    f"training images (FID {mirror_fid:.2f} vs {floor_fid:.2f}; {self.mirror_factor:g}x needed)"
                )
        for name, why in self.refused.items():
            self.judges.pop(name, None)
            self.reference.pop(name, None)
            print(f"not used: {name} {why}", flush=True)
        if not self.judges:
            raise RuntimeError(
                "no judge sees a mirrored Fashion-MNIST: " + "; ".join(f"{n} {why}" for n, why in self.refused.items())
            )
        return found

    def measure(self, images: torch.Tensor) -> dict:
        """Every figure of one set against the test images."""
        own = {
            name: metrics.extract_features(images, features=reference.network)
            for name, reference in self.reference.items()
        }
        first, last = next(iter(self.reference)), list(self.reference)[-1]
        kid = metrics.kid(self.reference[first], own[first])
        fidelity = metrics.precision_recall(self.reference[last], own[last])
        started = time.perf_counter()
        accuracies = [
            metrics.two_sample_accuracy(self.test, images, steps=self.two_sample_steps, seed=seed)
            for seed in range(self.two_sample_seeds)
        ]
        fids = {name: metrics.fid(self.reference[name], own[name]) for name in self.reference}
        return {
            "fid": fids[first],
            "kid": kid.mean,
            "kid_std": kid.std,
            "judges": fids,
            "precision": fidelity.precision,
            "recall": fidelity.recall,
            "two_sample_accuracy": statistics.median(accuracies),
            "two_sample_seconds": (time.perf_counter() - started) / len(accuracies),
            "two_sample_runs": accuracies,
            "class_shares": metrics.class_histogram(images, classifier=self.judges[first]),
        }


def augmentation_check(panel: Panel, count: int, source: str = "fashion_mnist") -> dict[str, dict]:
    """For each of AUGMENTATIONS: the FID under each judge of `count` augmented training images, beside that of the
    same images unaugmented, and whether the augmentation keeps the data set (at most AUGMENTATION_FACTOR times as
    far under every judge). {name: {"judges": {judge: [plain FID, augmented FID]}, "keeps": bool}}."""
    plain = panel.fids(as_tensor(augmented_images(count, {}, source=source)))
    found = {}
    for name, settings in AUGMENTATIONS.items():
        augmented = panel.fids(as_tensor(augmented_images(count, settings, source=source)))
        ratios = [augmented[judge] / max(plain[judge], 1e-6) for judge in plain]
        found[name] = {
            "judges": {judge: [plain[judge], augmented[judge]] for judge in plain},
            "keeps": max(ratios) <= AUGMENTATION_FACTOR,
        }
    return found

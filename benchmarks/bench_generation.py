"""Sample quality of the Fashion-MNIST generators: domain FID / KID next to two references, and class shares.

    python -m benchmarks.bench_generation [--models hfimg/dcgan-fashion-mnist hfimg/vae-fashion-mnist]
        [--num_samples 10000] [--json benchmarks/results/generation.json]

Every set is compared with the first N images of the Fashion-MNIST test split (N = --num_samples, at most the
10,000 of the split), through the penultimate layer of the bundled Fashion-MNIST classifier
(`hfimg.metrics`, features="classifier"; Inception knows little about 28-pixel clothing and its weights cannot be
downloaded here). Measured in the same run, with the same features and the same N, since FID depends on both:

* each generator: N samples (`model.generate`, seeds 0, 1, 2, ... per batch);
* floor: the first N images of the train split: what a perfect generator (one that draws new images from the
  data distribution) would score;
* blurred test: the test images themselves, blurred with a 3x3 Gaussian of sigma 1 (OpenCV): samples below this
  are closer to the real images than slightly blurred real images are.

Real images (28x28) are enlarged to 32x32 as the generators' training images were (`FashionClassifier.prepare`:
PIL bicubic); the blur is applied at 28x28, before that. Class shares: the share of each set the classifier puts
in each of the 10 classes (the target for a generator: every class between 5% and 15%; the classifier's own
confusions, mostly among the upper-body classes, show in the test split's row).
"""

from __future__ import annotations

import argparse
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks.common import command_line, load_model, machine, publish
from hfimg import metrics
from hfimg.data import open_corpus

DEFAULT_MODELS = ["hfimg/dcgan-fashion-mnist", "hfimg/vae-fashion-mnist"]
TEST_SPLIT_SIZE = 10_000
SHARE_RANGE = (0.05, 0.15)  # target share of every class in a generator's samples


def real_images(split: str, count: int) -> list[np.ndarray]:
    """The first `count` Fashion-MNIST images of `split`, uint8 (28, 28)."""
    images = [
        np.asarray(row["image"].convert("L")) for row in islice(open_corpus("fashion_mnist", split=split), count)
    ]
    if len(images) < count:
        raise ValueError(f"the Fashion-MNIST {split} split has only {len(images)} images, fewer than {count}.")
    return images


def blurred(images: list[np.ndarray]) -> list[np.ndarray]:
    """3x3 Gaussian blur of sigma 1 (OpenCV, borders reflected) of each uint8 image."""
    return [cv2.GaussianBlur(image, (3, 3), sigmaX=1.0, sigmaY=1.0) for image in images]


def as_batch(images: list, classifier: torch.nn.Module, batch_size: int = 500) -> torch.Tensor:
    """Images -> one (N, 1, 32, 32) tensor in [-1, 1], preprocessed once as the classifier would (bicubic to 32 px).

    Done once per set, so that the FID, KID and class-share passes do not resize the same images again.
    """
    return torch.cat([classifier.prepare(images[i : i + batch_size]).cpu() for i in range(0, len(images), batch_size)])


def samples(model: torch.nn.Module, count: int, batch_size: int = 500) -> list:
    """`count` PIL samples of a generator; batch i uses seed i, so a run is reproducible."""
    images = []
    for seed, start in enumerate(range(0, count, batch_size)):
        images += model.generate(min(batch_size, count - start), seed=seed)
    return images


def measure(test: torch.Tensor, images: torch.Tensor) -> dict:
    """FID, KID and class shares of `images` against the test images (classifier features)."""
    kid = metrics.kid(test, images, features="classifier")
    return {
        "fid": metrics.fid(test, images, features="classifier"),
        "kid": kid.mean,
        "kid_std": kid.std,
        "class_shares": metrics.class_histogram(images),
    }


def markdown(report: dict) -> str:
    """The report as markdown tables: distances, then class shares."""
    rows = report["results"]
    lines = [
        f"Machine: {report['machine']}",
        "",
        f"{report['num_samples']:,} images per set against the first {report['num_samples']:,} test images; "
        f"features: {report['features']}.",
        "",
        "| set | FID | KID x 10^3 | smallest class share | largest class share |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        shares = row["class_shares"]
        lines.append(
            f"| {row['name']} | {row['fid']:.3f} | {row['kid'] * 1e3:.2f} ± {row['kid_std'] * 1e3:.2f} | "
            f"{min(shares):.1%} | {max(shares):.1%} |"
        )
    labels = report["labels"]
    lines += [
        "",
        "Class shares (target for generators: every class in "
        f"{SHARE_RANGE[0]:.0%}-{SHARE_RANGE[1]:.0%}; the test split shows the classifier's own bias):",
        "",
        "| set | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
        f"| test split | {' | '.join(f'{share:.1%}' for share in report['test_class_shares'])} |",
    ]
    lines += [f"| {row['name']} | {' | '.join(f'{s:.1%}' for s in row['class_shares'])} |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models", nargs="+", default=DEFAULT_MODELS, help="Generators: bundled ids, model folders or Hub ids."
    )
    parser.add_argument(
        "--num_samples",
        type=int,
        default=TEST_SPLIT_SIZE,
        help="Images per set (samples, train and test images); lower it for a quick run.",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    if not 2 <= args.num_samples <= TEST_SPLIT_SIZE:
        parser.error(f"--num_samples must be in 2..{TEST_SPLIT_SIZE} (the test split's size), got {args.num_samples}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    classifier = metrics.load_classifier()
    test_images = real_images("test", args.num_samples)
    test = as_batch(test_images, classifier)
    # name -> (kind, images); kind is "floor", "blurred" (the two references) or "model"
    sets = {
        "floor: train images": ("floor", as_batch(real_images("train", args.num_samples), classifier)),
        "blurred test images (3x3, sigma 1)": ("blurred", as_batch(blurred(test_images), classifier)),
    }
    generators = {}
    for model_id in args.models:
        model = load_model(model_id)
        if not hasattr(model, "generate"):
            raise ValueError(f"{model_id!r} is a {type(model).__name__}, not a generator (it has no generate()).")
        generators[model_id] = {"class_name": type(model).__name__, "parameters": model.num_parameters()}
        sets[model_id] = ("model", as_batch(samples(model, args.num_samples), classifier))

    results = []
    for name, (kind, images) in sets.items():
        row = {"name": name, "kind": kind, **generators.get(name, {}), **measure(test, images)}
        if kind == "model":
            row["shares_in_target"] = all(SHARE_RANGE[0] <= s <= SHARE_RANGE[1] for s in row["class_shares"])
        results.append(row)
    report = {
        "benchmark": "generation",
        "machine": machine(),
        "command": command_line("benchmarks.bench_generation", argv),
        "dataset": "zalando-datasets/fashion_mnist",
        "split": "test",
        "num_samples": args.num_samples,
        "features": f"penultimate layer of {metrics.CLASSIFIER_ID} ({classifier.num_features}-d)",
        "labels": list(classifier.labels),
        "test_class_shares": metrics.class_histogram(test),
        "results": results,
    }
    return publish(report, markdown(report), args.json)


if __name__ == "__main__":
    main()

"""A quality floor under every bundled model, so that a worse model cannot ship silently.

Each floor is measured on the examples the repository ships (or on images made here) and set from the committed
benchmark results with a margin: a model must keep a set share of the advantage its published figures claim over a
classical method measured beside it in the same test. A model that returns its input, its own starting fill, or
samples of one class fails here.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hfimg
from hfimg import metrics
from hfimg.catalogue import method_spec
from hfimg.inpainting import load_inpainter
from hfimg.masks import random_mask

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benchmarks package lives at the repository root
from benchmarks.bench_denoising import classical_method, model_method  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
EXAMPLES = ROOT / "examples"
PHOTOS = ("astronaut", "chelsea", "coffee")
SIGMA = 25


def report(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def psnr_of(report_rows: list[dict], method_prefix: str, **where) -> float:
    rows = [
        r for r in report_rows if r["method"].startswith(method_prefix) and all(r[k] == v for k, v in where.items())
    ]
    assert rows, f"no committed result for {method_prefix} {where}"
    return statistics.fmean(row["psnr"] for row in rows)


def unit_psnr(result: np.ndarray, truth: np.ndarray) -> float:
    """PSNR of float images on the [0, 1] scale, the result clipped to it (as it would be saved)."""
    return float(10 * np.log10(1 / max(np.mean((np.clip(result, 0, 1) - truth) ** 2), 1e-12)))


def noisy_copy(image: Image.Image, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo as float64 in [0, 1] and a copy with white Gaussian noise of SIGMA grey levels (unclipped)."""
    clean = np.asarray(image.convert("RGB"), dtype=np.float64) / 255
    return clean, clean + np.random.default_rng(seed).normal(0, SIGMA / 255, clean.shape)


def test_the_denoiser_keeps_its_lead_over_non_local_means_on_the_examples():
    rows = report("denoising")["results"]
    published = psnr_of(rows, "DenoiseUNet (hfimg/denoise-cnn-photos)", sigma=SIGMA) - psnr_of(
        rows, "scikit-image non-local means", sigma=SIGMA
    )
    denoise = model_method(hfimg.load("hfimg/denoise-cnn-photos"))
    nl_means = classical_method(method_spec("nl-means", "restore"))  # as the benchmark runs it
    gains, leads = [], []
    for seed, name in enumerate(PHOTOS):
        clean, noisy = noisy_copy(Image.open(EXAMPLES / f"{name}.png"), seed)
        network = unit_psnr(denoise(noisy, SIGMA), clean)  # the network run as the benchmark runs it
        gains.append(network - unit_psnr(noisy, clean))
        leads.append(network - unit_psnr(nl_means(noisy, SIGMA), clean))
    assert min(gains) > 6.0  # dB over its input: a denoiser that returns its input gains 0
    # The example photos are not the validation photos: there the lead is about 40% of the published one (2.07 of
    # 5.10 dB for the weights shipped on 2026-12-06, 2.05 for those before them). A floor in proportion to the
    # published lead follows the figure a retrained model publishes; a model 1 dB worse on these photos fails it.
    assert statistics.fmean(leads) > 0.3 * published, f"lead over non-local means {leads}, published {published:.2f}"


def example(name: str, seed: int) -> tuple[Image.Image, np.ndarray]:
    """An example photo and a random hole of 10-30% (strokes and boxes, as the benchmark's masks)."""
    image = Image.open(EXAMPLES / f"{name}.png").convert("RGB")
    return image, random_mask(image.height, image.width, hole_range=(0.1, 0.3), seed=seed)


def hole_psnr(result: Image.Image, truth: Image.Image, hole: np.ndarray) -> float:
    """PSNR over the hole's pixels only."""
    return unit_psnr(*(np.asarray(x, dtype=np.float64)[hole] / 255 for x in (result, truth)))


@pytest.mark.parametrize("model_id", ["hfimg/inpaint-cnn-photos", "hfimg/inpaint-rcnn-photos"])
def test_each_photo_inpainter_beats_a_flat_fill_and_keeps_to_its_start(model_id):
    """Over the example photos with random holes: 1.5 dB (in the hole) above the mean colour of the known pixels, and
    not below the classical fill it starts from by more than the committed benchmark's margin between the two (with
    0.5 dB to spare)."""
    inpainter = load_inpainter(model_id)
    start = load_inpainter(inpainter.model.starting_fill)  # the registered classical method it starts from
    rows = report("inpainting")["results"]
    name = next(m["name"] for m in report("inpainting")["methods"] if m["model"] == model_id)
    published = statistics.fmean(
        psnr_of(rows, name, bucket=b) - psnr_of(rows, start.name, bucket=b) for b in {r["bucket"] for r in rows}
    )
    own, flat, start_fill = [], [], []
    for seed, photo in enumerate(PHOTOS * 2):
        image, hole = example(photo, seed)
        pixels = np.asarray(image)
        mean_fill = pixels.copy()
        mean_fill[hole] = pixels[~hole].mean(axis=0).round().astype(np.uint8)
        own.append(hole_psnr(inpainter(image, hole).image, image, hole))
        flat.append(hole_psnr(Image.fromarray(mean_fill), image, hole))
        start_fill.append(hole_psnr(start(image, hole).image, image, hole))
    assert statistics.fmean(own) > statistics.fmean(flat) + 1.5  # dB in the hole; the bundled ones give ~3
    assert statistics.fmean(own) > statistics.fmean(start_fill) + min(published, 0.0) - 0.5


@pytest.fixture(scope="module")
def garments() -> list[Image.Image]:
    """256 garments drawn by the bundled DCGAN: Fashion-MNIST-like images made here (no corpus in the tests)."""
    return hfimg.load("hfimg/dcgan-fashion-mnist").generate(256, seed=123)


@pytest.mark.parametrize("model_id", ["hfimg/dcgan-fashion-mnist", "hfimg/vae-fashion-mnist"])
def test_each_generator_draws_every_class(model_id):
    """Class shares of 1,000 samples under the bundled classifier: each class at least half its smallest committed
    share, none above 1.5x its largest (a generator of one class, or of noise, fails)."""
    rows = report("generation")["results"]
    committed = next(row["class_shares"] for row in rows if row["kind"] == "model" and row["name"] == model_id)
    shares = metrics.class_histogram(hfimg.load(model_id).generate(1000, seed=7))
    assert min(shares) >= 0.5 * min(committed), shares
    assert max(shares) <= 1.5 * max(committed), shares


def test_the_fashion_inpainter_beats_a_flat_fill_on_garments(garments):
    inpainter = load_inpainter("hfimg/inpaint-cnn-fashion-mnist")
    rng = np.random.default_rng(0)
    own, flat = [], []
    for garment in garments[:64]:
        hole = np.zeros((garment.height, garment.width), dtype=bool)
        top, left = rng.integers(4, 14, 2)
        hole[top : top + 10, left : left + 10] = True
        pixels = np.asarray(garment)
        mean_fill = pixels.copy()
        mean_fill[hole] = round(pixels[~hole].mean())
        own.append(hole_psnr(inpainter(garment, hole).image, garment, hole))
        flat.append(hole_psnr(Image.fromarray(mean_fill), garment, hole))
    assert statistics.fmean(own) > statistics.fmean(flat) + 3.0

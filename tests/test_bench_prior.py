"""benchmarks.bench_prior on a tiny corpus with tiny untrained models: report, metrics, kept pixels, resuming."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

import hfimg
from hfimg import ConvVAE, DCGANGenerator
from hfimg.masks import HOLE_BUCKETS
from hfimg.models.classifier import FASHION_MNIST_LABELS, FashionClassifier
from hfimg.models.inpaint_cnn import InpaintCNN

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package lives at the repository root
from benchmarks import bench_prior  # noqa: E402
from benchmarks.common import bucket_label  # noqa: E402
from hfimg.classical import navier_stokes_pixels, telea_pixels  # noqa: E402

IMAGES = 8


def garments(count: int, seed: int = 0) -> np.ndarray:
    """(count, 28, 28) uint8: bright rectangles of random size and place on black, like Fashion-MNIST's layout."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    for image in images:
        top, left = rng.integers(1, 10, 2)
        height, width = rng.integers(10, 18, 2)
        image[top : top + height, left : left + width] = rng.integers(120, 256)
    return images


def garment_corpus(path: Path, count: int) -> Path:
    """Write `count` garments labelled with Fashion-MNIST's classes as a parquet file (test.parquet: a test split)."""
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=FASHION_MNIST_LABELS)})
    images = [Image.fromarray(image) for image in garments(count)]
    datasets.Dataset.from_dict(
        {"image": images, "label": [i % 10 for i in range(count)]}, features=features
    ).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """A test-split parquet corpus of garments and tiny untrained GAN, VAE and InpaintCNN folders."""
    folder = tmp_path_factory.mktemp("bench_prior")
    corpus = garment_corpus(folder / "test.parquet", IMAGES)
    torch.manual_seed(0)
    models = {
        # One prior trained on framed 28-in-32 px images (it frames the 28 px test images), one on images enlarged
        # to 32 px (it searches at 32 px and its result is resized back): the two forms `hfimg.prior` takes.
        "gan": DCGANGenerator(resolution=32, channels=1, latent_dim=8, base_channels=4, padding=2),
        "vae": ConvVAE(resolution=32, channels=1, latent_dim=8, base_channels=4),
        "cnn": InpaintCNN(channels=1, base_channels=4, depth=2, dilations=[1, 2]),
    }
    for name, model in models.items():
        model.save_pretrained(folder / name)
    return {"folder": folder, "corpus": str(corpus), **{name: str(folder / name) for name in models}}


def test_main_reports_every_method_and_resumes_from_its_cache(setup, capsys):
    folder = setup["folder"]
    argv = [
        "--images", str(IMAGES), "--batch", "5", "--time_images", "2", "--threads", "1",
        "--corpus", setup["corpus"], "--gan", setup["gan"], "--vae", setup["vae"], "--models", setup["cnn"],
        "--cache", str(folder / "cache"), "--json", str(folder / "prior.json"),
    ]  # fmt: skip
    report = bench_prior.main(argv)
    text = capsys.readouterr().out
    assert json.loads((folder / "prior.json").read_text()) == report

    names = [method["name"] for method in report["methods"]]
    assert [method["kind"] for method in report["methods"]] == [
        "prior",
        "prior",
        "classical",
        "classical",
        "classical",
        "feed-forward",
    ]
    assert setup["gan"] in names[0] and setup["vae"] in names[1] and setup["cnn"] in names[5]
    assert bench_prior.PULL_PUSH in names
    # One row per (method or damaged input, bucket, kind); the run itself refuses any change to a known pixel.
    keys = [(row["method"], row["bucket"], row["kind"]) for row in report["results"]]
    buckets = [bucket_label(bucket) for bucket in HOLE_BUCKETS]
    expected = {
        (name, b, k) for name in [*names, bench_prior.DAMAGED] for b in buckets for k in bench_prior.MASK_KINDS
    }
    assert len(keys) == len(expected) and set(keys) == expected
    for row in report["results"]:
        assert 0 < row["hole_l1"] <= 1 and -1 <= row["ssim"] <= 1
        assert 0 <= row["class_agreement"] <= 1 and 0 <= row["accuracy"] <= 1
        assert 0 < row["psnr"] <= bench_prior.PSNR_CAP
    damaged = {(row["bucket"], row["kind"]): row for row in report["results"] if row["method"] == bench_prior.DAMAGED}
    telea = [row for row in report["results"] if row["method"] == bench_prior.TELEA]
    assert all(row["psnr"] > damaged[row["bucket"], row["kind"]]["psnr"] for row in telea)  # it fills something
    assert set(report["timing"]["single_ms"]) == set(names)
    assert all(value > 0 for value in report["timing"]["single_ms"].values())
    assert 0 <= report["classifier_accuracy"] <= 1

    assert report["settings"]["size"] == 28 and "test images at 28x28" in text  # the data set's own size
    for heading in ["Machine: ", "| holes | masks | method |", "by hole ratio", "Class agreement", "single call"]:
        assert heading in text
    assert f"| {names[0]} - {bench_prior.TELEA} |" in text and f"| {names[1]} - {bench_prior.TELEA} |" in text
    assert text.count("**") > 0

    # Every chunk is in the cache now: a second run reads it and gives the same quality figures.
    again = bench_prior.main(argv)
    quality = ("psnr", "ssim", "hole_l1", "class_agreement", "ms_batched")
    assert [[row[key] for key in quality] for row in again["results"]] == [
        [row[key] for key in quality] for row in report["results"]
    ]
    with pytest.raises(ValueError, match="holds results for"):
        bench_prior.main([*argv, "--seed", "1"])

    # The VAE shipped again under the same folder (other weights): its chunks are not read back, the others' are.
    vae = hfimg.load(setup["vae"])
    with torch.no_grad():
        next(vae.parameters()).add_(0.5)
    vae.save_pretrained(setup["vae"])
    retrained = bench_prior.main(argv)
    rows = {(row["method"], row["bucket"], row["kind"]): row["psnr"] for row in retrained["results"]}
    before = {(row["method"], row["bucket"], row["kind"]): row["psnr"] for row in report["results"]}
    assert all(rows[key] == before[key] for key in rows if key[0] != names[1])  # read from the cache
    assert any(rows[key] != before[key] for key in rows if key[0] == names[1])  # measured again

    # The inpainter's config.json written again (other bytes, the same weights): its chunks, keyed by the config too,
    # are computed again, in a folder of their own; nothing else is.
    cached = {path.name for path in (folder / "cache").iterdir()}
    config = Path(setup["cnn"]) / "config.json"
    config.write_text(json.dumps(json.loads(config.read_text()), indent=4))
    bench_prior.main(argv)
    assert len({path.name for path in (folder / "cache").iterdir()} - cached) == 1


def test_run_scores_a_perfect_fill_and_refuses_a_method_that_changes_known_pixels():
    originals = garments(4, seed=1)
    masks = bench_prior.make_masks(len(originals), seed=0)
    classifier = FashionClassifier(base_channels=4).eval()
    perfect = {"perfect": lambda damaged, holes: originals.copy()}
    labels = np.arange(len(originals))
    rows = bench_prior.run(perfect, originals, labels, masks, classifier, batch=len(originals))
    for row in rows:
        if row["method"] == "perfect":
            assert row["hole_l1"] == 0 and row["psnr"] == bench_prior.PSNR_CAP and row["ssim"] == pytest.approx(1)
            assert row["class_agreement"] == 1
            correct = classifier.predict(torch.from_numpy(originals).float()[:, None] / 127.5 - 1) == labels
            of_kind = torch.from_numpy(
                bench_prior.mask_kinds(len(originals)) == bench_prior.MASK_KINDS.index(row["kind"])
            )
            assert row["accuracy"] == pytest.approx(float(correct[of_kind].float().mean()))
        else:
            assert row["hole_l1"] > 0
    brighter = {"brighter": lambda damaged, holes: np.minimum(damaged.astype(int) + 1, 255).astype(np.uint8)}
    with pytest.raises(RuntimeError, match="changed pixels outside the hole"):
        bench_prior.run(brighter, originals, labels, masks, classifier, batch=len(originals))


def test_every_method_keeps_the_known_pixels(setup):
    originals = garments(3, seed=2)
    holes = bench_prior.make_masks(len(originals), seed=0)[bucket_label(HOLE_BUCKETS[-1])]
    damaged = np.where(holes, 0, originals).astype(np.uint8)
    methods = [
        bench_prior.prior_method(DCGANGenerator.from_pretrained(setup["gan"])),
        bench_prior.prior_method(ConvVAE.from_pretrained(setup["vae"])),
        bench_prior.one_by_one(telea_pixels),
        bench_prior.one_by_one(navier_stokes_pixels),
        bench_prior.feed_forward_method(InpaintCNN.from_pretrained(setup["cnn"])),
    ]
    for method in methods:
        restored = method(damaged, holes)
        assert restored.dtype == np.uint8 and restored.shape == damaged.shape
        assert np.array_equal(restored[~holes], damaged[~holes])
        assert not np.array_equal(restored[holes], damaged[holes])

"""Bundled models load offline and run; their cards are Hub model cards; the card script and the benchmarks behind it.

The first tests adapt to whatever is bundled (`hfimg.list_models()`); the last ones build tiny models, runs,
photos, a Fashion-MNIST-like test split and benchmark results in a temp folder and run `scripts/make_model_cards.py`
on them.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import socket
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image

import hfimg
from hfimg.registry import BUNDLED_DIR, BUNDLED_ORG
from hfimg.training.card import write_model_card

ROOT = Path(__file__).resolve().parent.parent
CARDS_DIR = ROOT / "model_cards"
sys.path.insert(0, str(ROOT))  # the benchmarks package lives at the repository root, next to hfimg

from test_bench_prior import garment_corpus  # noqa: E402  (its tiny Fashion-MNIST-like test split)
from tiny import bundled_models  # noqa: E402

from benchmarks import bench_denoising, bench_generation, bench_inpainting, bench_prior, judging  # noqa: E402
from scripts.cardkit.readme import README_TABLE  # noqa: E402
from scripts.cardkit.results import TELEA, better_where  # noqa: E402
from scripts.cardkit.samples import fashion_test_images  # noqa: E402
from scripts.cardkit.shipped import TASKS  # noqa: E402


def load_script():
    spec = importlib.util.spec_from_file_location("make_model_cards", ROOT / "scripts" / "make_model_cards.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


cards = load_script()
BUNDLED = hfimg.list_models()
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args[1:] or kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --- what is bundled -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", BUNDLED)
def test_bundled_model_loads_offline_and_runs(model_id, no_network):
    model = hfimg.load(model_id)
    rng = np.random.default_rng(0)
    if hasattr(model, "generate"):
        images = model.generate(2, seed=0)
        size = model.resolution - 2 * model.padding  # a model trained on framed images cuts the frame off
        assert [image.size for image in images] == [(size, size)] * 2
        assert np.asarray(images[0]).std() > 0  # not a blank image
    elif hasattr(model, "inpaint"):
        image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        hole = np.zeros((40, 48), dtype=bool)
        hole[10:25, 12:30] = True
        result = np.asarray(model.inpaint(image, Image.fromarray(hole)))
        assert result.shape == image.shape
        np.testing.assert_array_equal(result[~hole], image[~hole])
    elif hasattr(model, "restore"):
        image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        assert model.restore(Image.fromarray(image)).size == (48, 40)
    elif hasattr(model, "classify"):
        labels = model.classify([Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8))])
        assert len(labels) == 1 and labels[0] in model.labels
    else:
        pytest.fail(f"{model_id} ({type(model).__name__}) has none of generate/inpaint/restore/classify to run.")


@pytest.mark.parametrize("model_id", BUNDLED)
def test_bundled_model_card_is_a_hub_model_card(model_id):
    name = model_id.removeprefix(f"{BUNDLED_ORG}/")
    folder = BUNDLED_DIR / name
    card = ModelCard.load(folder / "README.md")
    model = hfimg.load(model_id)
    assert card.data.library_name == "hfimg"
    assert card.data.license
    assert card.data.pipeline_tag == model.generate_model_card().data.pipeline_tag
    for link in IMAGE_LINK.findall(card.text):
        assert (folder / link).is_file(), f"{model_id}: the card shows {link}, which is not in {folder}"
    if name in cards.SHIPPED:
        assert card.data.model_name == model_id
        assert card.data.eval_results, f"{model_id}: the card has no model-index results"
        assert all(math.isfinite(result.metric_value) for result in card.data.eval_results)


def test_card_sources_are_the_bundled_readmes():
    sources = sorted(CARDS_DIR.glob("*.md"))
    for source in sources:
        folder = BUNDLED_DIR / source.stem
        assert (folder / "README.md").is_file(), f"{source} has no bundled model folder {folder} with a README.md"
        assert (folder / "README.md").read_bytes() == source.read_bytes(), (
            f"{folder}/README.md differs from {source}; run `python scripts/make_model_cards.py`."
        )
        for link in IMAGE_LINK.findall(source.read_text()):
            assert (CARDS_DIR / link).read_bytes() == (folder / link).read_bytes(), f"{link} differs in {folder}"
    for name in cards.SHIPPED:
        if (BUNDLED_DIR / name / "config.json").is_file():
            assert CARDS_DIR / f"{name}.md" in sources, f"{name} is bundled but model_cards/{name}.md is missing"


def test_every_shipped_model_has_a_card_template():
    templates = {path.stem for path in (CARDS_DIR / "templates").glob("*.md")}
    assert templates == set(cards.SHIPPED)


# --- the card script, end to end on tiny models --------------------------------------------------------------------

TINY = bundled_models()  # name -> (registry name, kwargs): a tiny stand-in for each bundled model
SETTINGS = {
    "adv_weight": 0.0,
    "ssim_weight": 0.0,
    "sigma_min": 0.0,
    "sigma_max": 55.0,
    "max_train_steps": 3,
    "train_batch_size": 4,
    "resolution": 32,
}


def make_photos(folder: Path) -> Path:
    """Two smooth random validation photos and the corpus's provenance.json."""
    rng = np.random.default_rng(0)
    (folder / "validation").mkdir(parents=True)
    photos = []
    for i, size in enumerate(((240, 200), (200, 220))):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize(size, Image.Resampling.BICUBIC).save(folder / "validation" / f"p{i}.png")
        photos.append({"name": f"p{i}", "source": "testpkg 1.0", "author": f"Author {i}", "license": "CC0",
                       "license_source": "test", "split": "validation", "original_file": "x", "width": size[0],
                       "height": size[1]})  # fmt: skip
    photos.append(dict(photos[0], name="t0", split="train", license="`CC-BY <https://example.org/by>`_"))
    (folder / "provenance.json").write_text(json.dumps({"max_side": 1024, "photos": photos}))
    return folder


def make_run(runs: Path, pretrained: Path, name: str, seed: int) -> None:
    """A tiny model as train.py leaves it (weights, config, card), copied into the bundled-models folder."""
    family, kwargs = TINY[name]
    torch.manual_seed(seed)
    model = hfimg.create_model(family, **kwargs)
    model.save_pretrained(runs / name)
    write_model_card(
        model,
        runs / name,
        dataset="fashion_mnist" if "fashion" in name else "data/photos/train",
        summary={"steps": "3 optimizer steps (12 images)"},
        command=f"python train.py --model {family} --output_dir runs/{name}",
        metrics={"loss": 0.5},
        preview_file=None,
        preview_legend="",
        settings={**SETTINGS, "model": family},
    )
    (pretrained / name).mkdir(parents=True)
    for file in ("config.json", "model.safetensors"):
        shutil.copyfile(runs / name / file, pretrained / name / file)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Runs, bundled copies, photos, a garment test split and the four benchmark JSON files, as the pipeline leaves
    them."""
    root = tmp_path_factory.mktemp("cards")
    runs, pretrained, results = root / "runs", root / "pretrained", root / "results"
    photos = make_photos(root / "photos")
    (root / "fashion").mkdir()
    fashion = garment_corpus(root / "fashion" / "test.parquet", 4)  # 4 images: the sample image shows 4
    for seed, name in enumerate(TINY):
        make_run(runs, pretrained, name, seed)
    shutil.copytree(CARDS_DIR / "templates", root / "model_cards" / "templates")

    rng = np.random.default_rng(1)
    real = {split: [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(16)] for split in ("train", "test")}
    original = bench_generation.real_images, judging.augmented_images
    bench_generation.real_images = lambda split, count: real[split][:count]  # no Fashion-MNIST in the tests
    judging.augmented_images = lambda count, settings, split="train", source="": real[split][:count]
    try:
        generators = [str(pretrained / "dcgan-fashion-mnist"), str(pretrained / "vae-fashion-mnist")]
        bench_generation.main(
            [
                "--models",
                *generators,
                "--num_samples",
                "16",
                "--two_sample_steps",
                "20",
                "--mirror_factor",
                "0",  # random test images have no orientation a judge could see
                "--json",
                str(results / "generation.json"),
            ]
        )
    finally:
        bench_generation.real_images, judging.augmented_images = original
    crops = ["--photos", str(photos / "validation"), "--size", "32", "--per_photo", "2"]
    inpainters = [str(pretrained / "inpaint-cnn-photos"), str(pretrained / "inpaint-rcnn-photos")]
    bench_inpainting.main(
        ["--models", *inpainters, *crops, "--masks", "1", "--json", str(results / "inpainting.json")]
    )
    denoiser = str(pretrained / "denoise-cnn-photos")
    bench_denoising.main(["--models", denoiser, *crops, "--sigmas", "25", "--json", str(results / "denoising.json")])
    bench_prior.main(
        [
            "--images", "2", "--batch", "2", "--time_images", "1", "--corpus", str(fashion),
            "--gan", generators[0], "--vae", generators[1], "--models", str(pretrained / "inpaint-cnn-fashion-mnist"),
            "--json", str(results / "prior.json"),
        ]
    )  # fmt: skip
    return root


def run_script(root: Path, *extra: str) -> list[Path]:
    args = cards.parse_args(
        [
            "--runs_dir", str(root / "runs"), "--results_dir", str(root / "results"), "--photos", str(root / "photos"),
            "--pretrained_dir", str(root / "pretrained"), "--cards_dir", str(root / "model_cards"),
            "--fashion_corpus", str(root / "fashion" / "test.parquet"), *extra,
        ]
    )  # fmt: skip
    return cards.main(args)


def test_benchmarks_write_the_json_the_cards_read(workspace):
    inpainting = json.loads((workspace / "results" / "inpainting.json").read_text())
    methods = [method["name"] for method in inpainting["methods"]]
    assert {"OpenCV Telea", "OpenCV Navier-Stokes", "scikit-image biharmonic"} <= set(methods)
    assert len(inpainting["results"]) == len(methods) * 4  # every method in every hole bucket
    assert inpainting["settings"]["crops"] == 4  # 2 photos, 2 crops each
    denoising = json.loads((workspace / "results" / "denoising.json").read_text())
    noisy = next(row for row in denoising["results"] if row["method"] == "noisy input")
    bm3d = next(row for row in denoising["results"] if row["method"].startswith("BM3D"))
    assert bm3d["psnr"] > noisy["psnr"] + 3  # BM3D really denoised the smooth photos
    generation = json.loads((workspace / "results" / "generation.json").read_text())
    assert [row["kind"] for row in generation["results"]] == [
        "floor",
        "mirrored",
        "round trip",
        "blurred",
        "model",
        "model",
    ]
    assert all(set(row["judges"]) == set(bench_generation.JUDGES) for row in generation["results"])
    assert all(0 <= row["precision"] <= 1 and 0 <= row["two_sample_accuracy"] <= 1 for row in generation["results"])
    assert all(abs(sum(row["class_shares"]) - 1) < 1e-9 for row in generation["results"])
    prior = json.loads((workspace / "results" / "prior.json").read_text())
    assert prior["benchmark"] == "prior"
    kinds = [method["kind"] for method in prior["methods"]]
    assert kinds == ["prior"] * 2 + ["classical"] * 3 + ["feed-forward"]
    assert set(prior["timing"]["single_ms"]) == {method["name"] for method in prior["methods"]}


def test_cards_hold_the_measured_numbers_and_the_training_command(workspace):
    written = run_script(workspace)
    assert [path.stem for path in written] == list(cards.SHIPPED)
    results = {kind: json.loads((workspace / "results" / f"{kind}.json").read_text()) for kind in TASKS}
    for name in cards.SHIPPED:
        source = workspace / "model_cards" / f"{name}.md"
        folder = workspace / "pretrained" / name
        assert (folder / "README.md").read_bytes() == source.read_bytes()
        card = ModelCard.load(source)
        assert card.data.library_name == "hfimg" and card.data.license == "mit" and card.data.pipeline_tag
        assert card.data.model_name == f"hfimg/{name}"
        assert f"python train.py --model {TINY[name][0]} --output_dir runs/{name}" in card.text
        assert "## Intended use" in card.text and "## Limitations" in card.text
        (image,) = IMAGE_LINK.findall(card.text)
        assert Image.open(folder / image).size == Image.open(workspace / "model_cards" / image).size
        values = {(r.dataset_config, r.metric_type): r.metric_value for r in card.data.eval_results}
        kind = cards.SHIPPED[name].benchmark
        if kind == "generation":
            row = next(r for r in results[kind]["results"] if r["name"].endswith(name))
            assert values[None, "fid"] == pytest.approx(row["fid"], rel=1e-4)
            assert card.data.datasets == ["zalando-datasets/fashion_mnist"]
        elif kind == "inpainting":
            row = next(r for r in results[kind]["results"] if name in r["method"] and r["bucket"] == "40%-50%")
            assert values["holes-40-50", "psnr"] == pytest.approx(row["psnr"], rel=1e-4)
            assert values["holes-40-50", "l1"] == pytest.approx(row["hole_l1"], rel=1e-4)
            assert "Author 1" in card.text and "[CC-BY](https://example.org/by)" in card.text  # provenance
            # Detail and edges beside the classical method with the most of each, from the same run.
            classical = [r for r in results[kind]["results"] if r["bucket"] == "40%-50%" and "(" not in r["method"]]
            most = max(classical, key=lambda r: r["detail"])
            assert f"| {row['detail']:.2f} ({most['detail']:.2f}, {most['method']}) |" in card.text
        elif kind == "prior":
            rows = [r for r in results[kind]["results"] if name in r["method"] and r["bucket"] == "40%-50%"]
            assert [r["kind"] for r in rows] == ["strokes", "boxes"]
            for metric_type, field in (("psnr", "psnr"), ("l1", "hole_l1"), ("class_agreement", "class_agreement")):
                mean = statistics.fmean(r[field] for r in rows)  # the card averages the two mask kinds
                assert values["holes-40-50", metric_type] == pytest.approx(mean, rel=1e-4, abs=1e-9)
            assert card.data.datasets == ["zalando-datasets/fashion_mnist"]
            assert "Fashion-MNIST" in card.text and "pull-push" in card.text  # data provenance, the coarse fill
        else:
            row = next(r for r in results[kind]["results"] if name in r["method"])
            assert values["sigma-25", "psnr"] == pytest.approx(row["psnr"], rel=1e-4)


def test_fashion_mnist_inpainter_card_shows_test_images_and_says_where_it_is_better(workspace):
    name = "inpaint-cnn-fashion-mnist"
    run_script(workspace, "--models", name)
    text = ModelCard.load(workspace / "model_cards" / f"{name}.md").text
    # The image: 4 rows of 32 px tiles [input with its hole white, result, original] in 1 px frames, 2 px apart,
    # shown at 4x.
    grid = np.asarray(Image.open(workspace / "model_cards" / f"{name}.png"))
    step = 4 * (1 + 32 + 1 + 2)
    assert grid.shape == (4 * step - 8, 3 * step - 8)
    first = np.asarray(fashion_test_images(str(workspace / "fashion" / "test.parquet"), 1)[0])
    shown, result, original = (grid[4 : 4 + 128 : 4, c * step + 4 : c * step + 4 + 128 : 4] for c in range(3))
    np.testing.assert_array_equal(original, first)  # the corpus's first test image
    known = shown != 255
    assert 0 < (~known).sum() and np.array_equal(result[known], original[known])

    report = json.loads((workspace / "results" / "prior.json").read_text())
    mine = next(m["name"] for m in report["methods"] if m["kind"] == "feed-forward" and m["model"].endswith(name))

    def psnr(method: str, bucket: str) -> float:
        return statistics.fmean(r["psnr"] for r in report["results"] if (r["method"], r["bucket"]) == (method, bucket))

    buckets = list(dict.fromkeys(row["bucket"] for row in report["results"]))
    gains = {bucket: psnr(mine, bucket) - psnr(TELEA, bucket) for bucket in buckets}
    assert f"- {TELEA}: PSNR {better_where(gains, 2, ' dB')};" in text
    for method in report["methods"]:
        assert f"{report['timing']['single_ms'][method['name']]:,.1f} |" in text  # each method's time for one image


def test_better_where_says_which_is_better_in_which_bucket():
    assert better_where({"a": 1.25, "b": 0.5}, 2, " dB") == "better in every bucket (+0.50 to +1.25 dB)"
    assert better_where({"a": 0.1, "b": -0.2, "c": 0.0, "d": -0.2, "e": -1e-17}, 1) == (
        "better at a holes (+0.1); worse at b, d holes (-0.2); level at c, e holes"
    )


def test_cards_regenerate_identically_without_the_runs(workspace, tmp_path):
    run_script(workspace)
    before = {path.name: path.read_bytes() for path in (workspace / "model_cards").glob("*.*")}
    # The runs are gone (not committed): the training sections come from the cards written before.
    run_script(workspace, "--runs_dir", str(tmp_path / "no-runs"))
    after = {path.name: path.read_bytes() for path in (workspace / "model_cards").glob("*.*")}
    assert after == before


def test_weights_that_are_not_the_runs_are_refused(workspace, tmp_path):
    other = tmp_path / "other-run"
    shutil.copytree(workspace / "runs" / "denoise-cnn-photos", other)
    family, kwargs = TINY["denoise-cnn-photos"]
    torch.manual_seed(99)
    hfimg.create_model(family, **kwargs).save_pretrained(other)  # keeps the README, replaces the weights
    with pytest.raises(ValueError, match="is not the model of the run"):
        run_script(workspace, "--models", "denoise-cnn-photos", "--run", f"denoise-cnn-photos={other}")


def test_missing_benchmark_results_are_named(workspace, tmp_path):
    shutil.copytree(workspace / "results", tmp_path / "results")
    report = json.loads((tmp_path / "results" / "denoising.json").read_text())
    report["methods"] = [method for method in report["methods"] if method["model"] is None]
    (tmp_path / "results" / "denoising.json").write_text(json.dumps(report))
    with pytest.raises(ValueError, match="has no results for denoise-cnn-photos"):
        run_script(workspace, "--models", "denoise-cnn-photos", "--results_dir", str(tmp_path / "results"))


def test_the_readme_table_of_models_is_written_from_the_benchmark_results(workspace, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# intro\n\n{README_TABLE[0]}\nold table\n{README_TABLE[1]}\n\n## after\n")
    run_script(workspace, "--readme", str(readme))
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# intro") and text.endswith("## after\n")
    for name in cards.SHIPPED:
        assert f"| `hfimg/{name}` |" in text
    generation = json.loads((workspace / "results" / "generation.json").read_text())
    row = next(r for r in generation["results"] if r["name"].endswith("dcgan-fashion-mnist"))
    judges = " / ".join(f"{row['judges'][judge]:.2f}" for judge in generation["judges"])
    assert f"FID {judges} under three judges" in text
    inpainting = json.loads((workspace / "results" / "inpainting.json").read_text())
    rows = [r for r in inpainting["results"] if r["method"].endswith("inpaint-cnn-photos)")]
    detail = " / ".join(f"{r['detail']:.2f}" for r in rows)
    assert f"detail {detail}, edge F1 " in text
    readme.write_text("no markers here\n")
    with pytest.raises(ValueError, match="models table"):
        run_script(workspace, "--readme", str(readme))

"""Restore methods by name (the catalogue's task "restore"): BM3D and non-local means beside the networks, from the
library, the command line, the demo and the benchmark alike."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hfimg
from hfimg import catalogue, classical
from hfimg.catalogue import MethodSpec, default_models, method_spec, method_specs
from hfimg.cli import build_parser, main
from hfimg.imaging import images_to_grid
from hfimg.metrics import psnr
from hfimg.restoration import Restorer, load_restorer
from hfimg.tasks import RestoreOptions

ROOT = Path(__file__).resolve().parents[1]
SIGMA = 25


def smooth_photo(size: int = 40, mode: str = "RGB") -> Image.Image:
    """A smooth colour image: gradients and a soft blob, what a denoiser must keep while the noise goes."""
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
    blob = np.exp(-((xs - 0.6) ** 2 + (ys - 0.4) ** 2) * 12)
    rgb = np.stack([0.2 + 0.6 * xs, 0.3 + 0.5 * ys, 0.25 + 0.5 * blob], axis=-1)
    image = Image.fromarray((rgb * 255).round().astype(np.uint8))
    return image.convert(mode) if mode != "RGB" else image


def noisy_version(image: Image.Image, sigma: float = SIGMA, seed: int = 0) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    noise = np.random.default_rng(seed).normal(0, sigma, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise + 0.5, 0, 255).astype(np.uint8))


def gain(clean: Image.Image, noisy: Image.Image, restored: Image.Image) -> float:
    """dB the method gained over its noisy input, against the clean image."""
    return psnr(restored, clean) - psnr(noisy, clean)


@pytest.mark.parametrize("method", ["bm3d", "nl-means"])
@pytest.mark.parametrize("sigma", [None, SIGMA])  # estimated, or told
def test_classical_denoisers_remove_most_of_the_noise(method, sigma):
    clean = smooth_photo()
    noisy = noisy_version(clean)
    restored = load_restorer(method)(noisy, RestoreOptions(sigma=sigma))
    assert restored.size == clean.size and restored.mode == "RGB"
    assert gain(clean, noisy, restored) > 6  # a smooth image: most of the noise goes


def test_classical_denoisers_keep_grey_grey_and_the_alpha_channel():
    clean = smooth_photo(mode="L")
    noisy = noisy_version(clean)
    restored = classical.nl_means(noisy)
    assert restored.mode == "L" and gain(clean, noisy, restored) > 6
    rgba = noisy_version(smooth_photo()).convert("RGBA")
    alpha = Image.fromarray(np.tile(np.arange(40, dtype=np.uint8) * 6, (40, 1)))
    rgba.putalpha(alpha)
    out = classical.bm3d(rgba, SIGMA)
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out.getchannel("A")), np.asarray(alpha))


def test_the_level_told_is_the_level_used():
    noisy = noisy_version(smooth_photo())
    gentle, strong = (np.asarray(classical.bm3d(noisy, s), dtype=np.float64) for s in (2, 60))
    flat = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    assert flat(strong) < 0.2 * flat(gentle)  # told 2 grey levels it leaves the noise; told 60 it smooths it away
    assert flat(gentle) <= flat(np.asarray(noisy, dtype=np.float64))
    with pytest.raises(ValueError, match="from 0 to 255"):
        classical.bm3d(noisy, 400)


def test_load_restorer_by_id_name_model_and_folder(tmp_path):
    assert load_restorer("BM3D (bm3d, CBM3D)").spec.id == "bm3d" and load_restorer("NL-MEANS").model is None
    hfimg.create_model("denoise-cnn", channels=1, features=4, depth=3).save_pretrained(tmp_path / "bm3d")
    assert load_restorer(tmp_path / "bm3d").model is not None  # a folder wins over a method of the same name
    hfimg.create_model("inpaint-cnn", channels=1, base_channels=4, depth=2).save_pretrained(tmp_path / "inpainter")
    with pytest.raises(TypeError, match="InpaintCNN, which cannot restore"):
        load_restorer(tmp_path / "inpainter")
    with pytest.raises(ValueError, match="classical method: it takes no model"):
        Restorer(method_spec("bm3d", "restore"), hfimg.load(tmp_path / "bm3d"))
    with pytest.raises(ValueError, match="no setting radius"):
        load_restorer("nl-means", settings={"radius": 3})
    with pytest.raises(ValueError, match="takes a 'denoise-cnn' or 'denoise-unet' model"):
        Restorer(method_spec("denoise-cnn", "restore"), hfimg.create_model("dcgan", resolution=32, channels=1))


def test_a_learned_restorer_is_the_models_own_task_call(tmp_path):
    model = hfimg.create_model("denoise-cnn", channels=3, features=8, depth=3).eval()
    noisy = noisy_version(smooth_photo(24))
    restorer = load_restorer("denoise-cnn", model=model)
    ours = restorer(noisy, RestoreOptions(ensemble=True))
    assert np.array_equal(np.asarray(ours), np.asarray(model.restore(noisy, ensemble=True)))
    assert not np.array_equal(np.asarray(ours), np.asarray(noisy))


def test_the_catalogue_tags_every_method_by_task_and_refuses_mixed_entries():
    for task in catalogue.TASKS:
        ids = [spec.id for spec in method_specs(task)]
        assert ids and len(ids) == len(set(ids))
    assert {"bm3d", "nl-means", "denoise-cnn"} <= {spec.id for spec in method_specs("restore", "photos")}
    assert method_spec("vae", "generate").task == "generate" and method_spec("vae", "restore").task == "restore"
    assert method_spec("bm3d", "inpaint") is None
    assert default_models("generate") == [method_spec("dcgan", "generate").model, method_spec("vae", "generate").model]
    with pytest.raises(ValueError, match="registered twice"):
        catalogue.register_method(MethodSpec("bm3d", "x", "a clash by name", task="restore", denoise=classical.bm3d))
    with pytest.raises(ValueError, match="a denoise function is for restore methods"):
        catalogue.register_method(MethodSpec("Odd", "odd", "a fill", model="x/y", denoise=classical.bm3d))
    with pytest.raises(ValueError, match="model id or a classical denoise, exactly one"):
        catalogue.register_method(MethodSpec("Neither", "neither", "nothing", task="restore"))
    with pytest.raises(ValueError, match="task 'paint'"):
        catalogue.register_method(MethodSpec("Paint", "paint", "no such task", task="paint", model="x/y"))


def test_cli_restore_by_method_name_writes_what_the_library_gives(tmp_path, capsys):
    noisy = noisy_version(smooth_photo(32))
    noisy.save(tmp_path / "in.png")
    assert main(["restore", "bm3d", str(tmp_path / "in.png"), "--sigma", "20", "-o", str(tmp_path / "out.png")]) == 0
    written = np.asarray(Image.open(tmp_path / "out.png"), dtype=np.int16)
    expected = np.asarray(load_restorer("bm3d")(noisy, RestoreOptions(sigma=20)), dtype=np.int16)
    assert np.abs(written - expected).max() <= 1  # BM3D's own float sums are not bit-stable between runs
    assert np.abs(written - np.asarray(noisy, dtype=np.int16)).mean() > 5  # not the input back
    (tmp_path / "folder").mkdir()
    noisy.save(tmp_path / "folder" / "a.png")
    assert main(["restore", "nl-means", str(tmp_path / "folder"), "-o", str(tmp_path / "done")]) == 0
    expected = np.asarray(load_restorer("nl-means")(noisy))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "done" / "a.png")), expected)
    # The folder run passes the level it was told (60 smooths far more than the estimate of about 25).
    assert main(["restore", "nl-means", str(tmp_path / "folder"), "--sigma", "60", "-o", str(tmp_path / "told")]) == 0
    told = np.asarray(load_restorer("nl-means")(noisy, RestoreOptions(sigma=60)))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "told" / "a.png")), told)
    assert not np.array_equal(told, expected)
    for level, says in (("300", "out of range"), ("loud", "is not a number")):
        with pytest.raises(SystemExit):
            main(["restore", "bm3d", str(tmp_path / "in.png"), "--sigma", level])
        assert says in capsys.readouterr().err


def test_cli_folder_restore_by_latent_search_takes_its_steps(tmp_path):
    generator = tmp_path / "gan"
    hfimg.create_model("dcgan", resolution=32, channels=1, latent_dim=8, base_channels=4).save_pretrained(generator)
    (tmp_path / "folder").mkdir()
    noisy = noisy_version(smooth_photo(32, mode="L"))
    noisy.save(tmp_path / "folder" / "a.png")
    assert (
        main(["restore", str(generator), str(tmp_path / "folder"), "--steps", "2", "-o", str(tmp_path / "out")]) == 0
    )
    two = np.asarray(load_restorer(generator)(noisy, RestoreOptions(steps=2)))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "a.png")), two)
    assert not np.array_equal(two, np.asarray(load_restorer(generator)(noisy, RestoreOptions(steps=4))))


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_non_local_means_is_scikit_images_documented_setup(mode):
    from skimage.restoration import denoise_nl_means

    noisy = noisy_version(smooth_photo(24, mode=mode))
    pixels = np.asarray(noisy, dtype=np.float64) / 255
    level = 25 / 255
    expected = denoise_nl_means(
        pixels, h=0.6 * level, sigma=level, fast_mode=False, patch_size=5, patch_distance=6,
        channel_axis=-1 if mode == "RGB" else None,
    )  # fmt: skip
    np.testing.assert_allclose(classical.nl_means_array(pixels, 25), expected, rtol=0, atol=1e-12)
    assert np.array_equal(classical.nl_means_array(pixels, 0), pixels)  # told no noise: nothing to remove
    gentle, strong = (classical.nl_means_array(pixels, s) for s in (2, 60))
    flat = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    assert flat(strong) < 0.5 * flat(gentle)  # told 2 grey levels it leaves the noise; told 60 it smooths it


def test_cli_list_shows_each_task_with_its_methods(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    headings = [out.index(f"{task} methods (hfimg {task} METHOD") for task in catalogue.TASKS]
    assert headings == sorted(headings)
    restore_part = out[headings[1] : headings[2]]
    assert "bm3d" in restore_part and "nl-means" in restore_part and "telea" not in restore_part
    assert "dcgan" in out[headings[2] :]
    telea, bm3d = method_spec("telea", "inpaint"), method_spec("bm3d", "restore")
    lines = out.splitlines()
    assert f"  {'telea':<20} {telea.name}: {telea.summary}" in lines  # no model: nothing after the summary
    assert f"  {'denoise-cnn':<20} " in out and f" [{method_spec('denoise-cnn', 'restore').model}]" in out
    assert f"  {'bm3d':<20} {bm3d.name}: {bm3d.summary}" in lines


def test_cli_generate_by_method_name_is_the_default_model(tmp_path):
    assert main(["generate", "dcgan", "--num", "4", "--seed", "3", "-o", str(tmp_path / "grid.png")]) == 0
    model = hfimg.load(method_spec("dcgan", "generate").model)
    expected = images_to_grid(model.generate(4, seed=3))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "grid.png")), np.asarray(expected))


def test_a_registered_restore_method_reaches_the_cli_the_benchmark_and_the_demo(tmp_path, monkeypatch):
    # One catalogue entry and nothing else: the command line, the benchmark and the demo's Restore tab run it.
    def halve(image: Image.Image, sigma: float | None = None) -> Image.Image:
        return Image.fromarray((np.asarray(image) // 2).astype(np.uint8))

    halve.on_array = lambda noisy, sigma: noisy / 2
    spec = MethodSpec("Halver", "halve", "halves every pixel", task="restore", denoise=halve)
    monkeypatch.setattr(catalogue, "_METHODS", [*catalogue._METHODS, spec])
    smooth_photo(16).save(tmp_path / "in.png")
    assert main(["restore", "halve", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), np.asarray(smooth_photo(16)) // 2)

    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_denoising import classical_method

    assert np.array_equal(classical_method(spec)(np.ones((2, 2, 3)), 10), np.full((2, 2, 3), 0.5))

    monkeypatch.setattr("hfimg.demo.handlers.RESTORE_METHODS", [s.name for s in method_specs("restore", "photos")])
    from hfimg.demo.handlers import Handlers

    given, restored, _ = Handlers({}).restore(smooth_photo(16), 0, False, "Halver")
    assert np.array_equal(np.asarray(restored), np.asarray(smooth_photo(16)) // 2)


@pytest.mark.parametrize("method", ["bm3d", "nl-means"])
def test_a_noiseless_flat_image_comes_back_unchanged_and_quietly(method):
    flat = Image.new("RGB", (20, 20), (10, 200, 30))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero warning from a level estimated as 0
        restored = load_restorer(method)(flat)
    assert np.array_equal(np.asarray(restored), np.asarray(flat))


def test_the_noise_level_flag_takes_0_to_255_inclusive_and_nothing_outside(capsys):
    parser = build_parser()
    for level, value in (("0", 0.0), ("0.5", 0.5), ("255", 255.0), ("254.5", 254.5)):
        assert parser.parse_args(["restore", "bm3d", "in.png", "--sigma", level]).sigma == value
    for level in ("-0.5", "255.5", "256"):
        with pytest.raises(SystemExit):
            parser.parse_args(["restore", "bm3d", "in.png", "--sigma", level])
        assert "out of range; the noise level is in grey levels, 0-255" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_the_noise_level_bm3d_is_given_is_the_images(mode):
    for sigma in (10, 30):
        noisy = noisy_version(smooth_photo(64, mode=mode), sigma=sigma)
        level = classical._noise_level(np.asarray(noisy, dtype=np.float64) / 255)
        assert abs(level - sigma) < 0.15 * sigma, (mode, sigma, level)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_bm3d_array_is_the_bm3d_package_told_the_level_on_its_scale(mode):
    """Grey images go to BM3D, colour ones to CBM3D, each told sigma in the [0, 1] units of the pixels; a level of 1
    grey level or less is still denoised (only 0 is "no noise")."""
    import bm3d

    noisy = np.asarray(noisy_version(smooth_photo(32, mode=mode)), dtype=np.float64) / 255  # (H, W) or (H, W, 3)
    reference = bm3d.bm3d_rgb if mode == "RGB" else bm3d.bm3d
    for sigma in (20, 0.5):
        result = classical.bm3d_array(noisy, sigma)
        assert result.shape == noisy.shape
        # BM3D computes in float32 and is not bit-stable between calls (about 1e-6); 256 for 255 moves it by 1e-2
        np.testing.assert_allclose(result, reference(noisy, sigma_psd=sigma / 255), rtol=0, atol=1e-5)
        assert np.abs(result - noisy).max() > 1e-4  # really denoised, even at half a grey level
    assert np.array_equal(classical.bm3d_array(noisy, 0), noisy)


def test_bm3d_without_its_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # `import bm3d` now raises ImportError
    with pytest.raises(ImportError) as missing:
        classical.bm3d_array(np.zeros((8, 8)), 10)
    assert str(missing.value) == "BM3D needs the bm3d package: pip install bm3d (or pip install 'hfimg[metrics]')."


def test_cli_restore_takes_backend_for_a_model_and_ignores_it_for_a_classical_method(tmp_path, monkeypatch):
    noisy = noisy_version(smooth_photo(16))
    noisy.save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert main(["restore", "nl-means", str(tmp_path / "in.png"), "--backend", "fp32", "-o", str(out)]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(load_restorer("nl-means")(noisy)))
    hfimg.create_model("denoise-cnn", channels=3, features=4, depth=3).save_pretrained(tmp_path / "model")
    asked = []
    monkeypatch.setattr(hfimg.hub.HubModel, "set_backend", lambda model, backend: asked.append(backend))
    model = str(tmp_path / "model")
    assert main(["restore", model, str(tmp_path / "in.png"), "--backend", "fp32", "-o", str(out)]) == 0
    assert asked == ["fp32"]

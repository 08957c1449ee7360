"""The inpainting task interface (hfimg.tasks, hfimg.inpainting, hfimg.classical): every method, learned or
classical, called one way and picked by name by the demo, the CLI and the benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny import method_kwargs, tiny_model

import hfimg
from hfimg import catalogue, classical
from hfimg.catalogue import MethodSpec, method_spec, method_specs
from hfimg.cli import main
from hfimg.inpainting import Inpainter, inpaint_around_hole, load_inpainter
from hfimg.tasks import InpaintOptions, InpaintResult, RestoreOptions

ROOT = Path(__file__).resolve().parents[1]


def tiny(spec: MethodSpec):
    """A tiny untrained model of the kind `spec` takes (grey for the garment methods)."""
    family, kwargs = method_kwargs(spec)
    return tiny_model(family, **kwargs)


def picture(grey: bool) -> tuple[Image.Image, np.ndarray]:
    """A 32x32 smooth image (grey or colour) with a white square, and the hole over that square."""
    y, x = np.mgrid[0:32, 0:32]
    rgb = np.stack([x * 7, y * 7, (x + y) * 3], axis=-1).astype(np.uint8)
    hole = np.zeros((32, 32), dtype=bool)
    hole[10:20, 12:22] = True
    rgb[hole] = 255  # what the methods must replace
    return Image.fromarray(rgb).convert("L" if grey else "RGB"), hole


def mask_of(hole: np.ndarray) -> Image.Image:
    return Image.fromarray(hole.astype(np.uint8) * 255)


@pytest.mark.parametrize("spec", method_specs("inpaint"), ids=lambda spec: spec.id)
def test_every_registered_method_fills_only_the_hole(spec):
    image, hole = picture(grey=spec.domain == "garments")
    inpainter = Inpainter(spec, tiny(spec) if spec.model is not None else None)
    result = inpainter(image, mask_of(hole), InpaintOptions(steps=2))
    out, given = np.asarray(result.image), np.asarray(image)
    assert result.image.size == image.size and result.image.mode == image.mode
    assert np.array_equal(out[~hole], given[~hole])
    assert np.abs(out[hole].astype(int) - given[hole]).mean() > 5  # the white square is gone


@pytest.mark.parametrize("spec", method_specs("inpaint"), ids=lambda spec: spec.id)
def test_a_mask_over_the_whole_image_is_refused_by_every_method(spec, tmp_path, capsys):
    # Telea and Navier-Stokes returned the input unchanged, pull-push one flat colour, biharmonic a numpy error, and
    # the latent searches a sample unrelated to the input.
    image, _ = picture(grey=spec.domain == "garments")
    inpainter = Inpainter(spec, tiny(spec) if spec.model is not None else None)
    full = np.ones((32, 32), dtype=bool)
    for mask in (mask_of(full), full, np.full((32, 32), 255, dtype=np.uint8)):
        with pytest.raises(ValueError, match="mask: the mask covers the whole image, so no pixel is left to fill it"):
            inpainter(image, mask, InpaintOptions(steps=2))
    image.save(tmp_path / "image.png")
    mask_of(full).save(tmp_path / "mask.png")
    name = spec.id
    if spec.model is not None:  # a learned method: the CLI is given a tiny model of its kind
        tiny(spec).save_pretrained(tmp_path / "model")
        name = str(tmp_path / "model")
    assert main(["inpaint", name, str(tmp_path / "image.png"), str(tmp_path / "mask.png"), "--steps", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the mask covers the whole image" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["inpaint-cnn", "inpaint-rcnn", "dcgan", "vae"])
def test_the_task_call_is_the_model_s_own_inpaint(name):
    spec = next(spec for spec in method_specs("inpaint") if name in spec.model_types)
    model = tiny(spec)
    image, hole = picture(grey=spec.domain == "garments")
    got = Inpainter(spec, model)(image, mask_of(hole), InpaintOptions(steps=3, seed=5)).image
    if name == "inpaint-cnn":
        want = model.inpaint(image, mask_of(hole))
    elif name == "inpaint-rcnn":
        want = model.inpaint(image, mask_of(hole), iterations=3)
    else:
        want = model.inpaint(image, mask_of(hole), steps=3, seed=5)
    assert np.array_equal(np.asarray(got), np.asarray(want))


def test_passes_and_progress_come_back_through_the_options():
    rcnn_spec, gan_spec = method_spec("inpaint-rcnn", "inpaint"), method_spec("GAN latent search", "inpaint")
    image, hole = picture(grey=False)
    result = Inpainter(rcnn_spec, tiny(rcnn_spec))(image, mask_of(hole), InpaintOptions(steps=4, keep_passes=True))
    assert len(result.passes) == 4 and np.array_equal(np.asarray(result.passes[-1]), np.asarray(result.image))
    assert Inpainter(rcnn_spec, tiny(rcnn_spec))(image, mask_of(hole)).passes == []  # only when asked
    calls = []
    grey, hole = picture(grey=True)
    options = InpaintOptions(steps=6, progress=lambda step, total, loss: calls.append((step, total, loss)))
    Inpainter(gan_spec, tiny(gan_spec))(grey, mask_of(hole), options)
    assert [(step, total) for step, total, _ in calls] == [(step, 6) for step in range(6)]
    assert all(np.isfinite(loss) for _, _, loss in calls)


def test_restore_with_options_passes_the_noise_level():
    model = hfimg.create_model("denoise-unet", channels=3, widths=[4, 8], blocks=1).eval()
    image, _ = picture(grey=False)
    told = model.restore(image, options=RestoreOptions(sigma=40))
    assert np.array_equal(np.asarray(told), np.asarray(model.restore(image, sigma=40)))
    assert np.array_equal(np.asarray(model.restore(image, options=RestoreOptions())), np.asarray(model.restore(image)))


def test_one_method_per_task_gives_with_options_what_it_gives_with_its_own_arguments():
    rcnn_spec, gan_spec = method_spec("inpaint-rcnn", "inpaint"), method_spec("GAN latent search", "inpaint")
    rcnn, gan = tiny(rcnn_spec).eval(), tiny(gan_spec).eval()
    image, hole = picture(grey=False)
    plain, steps = rcnn.inpaint(image, mask_of(hole), iterations=3, return_steps=True)
    result = rcnn.inpaint(image, mask_of(hole), options=InpaintOptions(steps=3, keep_passes=True))
    assert isinstance(result, InpaintResult) and np.array_equal(np.asarray(result.image), np.asarray(plain))
    assert [np.asarray(p).tobytes() for p in result.passes] == [np.asarray(p).tobytes() for p in steps]
    assert rcnn.inpaint(image, mask_of(hole), options=InpaintOptions(steps=3)).passes == []
    grey, hole = picture(grey=True)
    searched = gan.inpaint(grey, mask_of(hole), options=InpaintOptions(steps=3, seed=5)).image
    assert np.array_equal(np.asarray(searched), np.asarray(gan.inpaint(grey, mask_of(hole), steps=3, seed=5)))
    # The same question answered twice is refused, naming what to move.
    with pytest.raises(TypeError, match="give iterations in `options` or without `options`, not both"):
        rcnn.inpaint(image, mask_of(hole), iterations=2, options=InpaintOptions())
    with pytest.raises(TypeError, match="give steps, seed in `options`"):
        gan.inpaint(grey, mask_of(hole), steps=3, seed=1, options=InpaintOptions())
    denoiser = hfimg.create_model("denoise-unet", channels=3, widths=[4, 8], blocks=1)
    with pytest.raises(TypeError, match="give sigma in `options`"):
        denoiser.restore(image, sigma=20, options=RestoreOptions())


def test_methods_are_picked_by_name_or_id_and_a_model_that_cannot_inpaint_is_refused(tmp_path):
    assert load_inpainter("TELEA").name == "OpenCV Telea" and load_inpainter("OpenCV Telea").model is None
    hfimg.create_model("denoise-cnn", channels=1, features=4, depth=3).save_pretrained(tmp_path / "denoiser")
    with pytest.raises(TypeError, match="DenoiseCNN, which cannot inpaint"):
        load_inpainter(tmp_path / "denoiser")
    tiny_model("inpaint-cnn").save_pretrained(tmp_path / "telea")
    assert load_inpainter(tmp_path / "telea").model is not None  # a folder wins over a method of the same name
    with pytest.raises(ValueError, match="no setting size"):
        load_inpainter("telea", settings={"size": 3})
    with pytest.raises(ValueError, match="registered twice"):
        catalogue.register_method(MethodSpec("Another Telea", "telea", "a clash", fill=classical.telea))
    with pytest.raises(ValueError, match="exactly one"):
        catalogue.register_method(MethodSpec("Nothing", "nothing", "neither a model nor a fill"))


def test_settings_reach_the_classical_method():
    image, hole = picture(grey=False)
    hole[:] = False
    hole[4:28, 14:16] = True  # a thin stroke: the radius changes which known pixels each filled one averages
    near, far = (load_inpainter("telea", settings={"radius": r})(image, mask_of(hole)).image for r in (1, 9))
    assert not np.array_equal(np.asarray(near), np.asarray(far))


@pytest.mark.parametrize(
    "fill",
    [
        classical.telea,
        classical.navier_stokes,
        classical.biharmonic,
        classical.pull_push,
        classical.pull_push_texture,
        classical.blend,
    ],
)
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_classical_methods_keep_mode_alpha_and_known_pixels(fill, mode):
    image = Image.new(mode, (16, 16), {"L": 120, "RGB": (100, 150, 200), "RGBA": (100, 150, 200, 77)}[mode])
    hole = np.zeros((16, 16), bool)
    hole[5:9, 5:9] = True
    result = fill(image, hole)
    assert result.mode == mode and result.size == image.size
    values = np.asarray(result).astype(int)
    assert (np.abs(values - np.asarray(image)) <= 3).all()  # a flat area stays flat, alpha untouched
    with pytest.raises(ValueError, match="does not match image size 16x16"):
        fill(image, hole[:8])


def test_a_registered_method_reaches_the_cli_the_benchmark_and_the_demo(tmp_path, monkeypatch, capsys):
    # One registry entry and nothing else: the command line, the benchmark and the demo all offer it.
    spec = MethodSpec("Flat grey", "flat-grey", "fills the hole with mid-grey", fill=classical.on_colour(flat_grey))
    monkeypatch.setattr(catalogue, "_METHODS", [*catalogue._METHODS, spec])
    image, hole = picture(grey=False)
    image.save(tmp_path / "in.png")
    mask_of(hole).save(tmp_path / "mask.png")
    assert (
        main(
            [
                "inpaint",
                "flat-grey",
                str(tmp_path / "in.png"),
                str(tmp_path / "mask.png"),
                "-o",
                str(tmp_path / "out.png"),
            ]
        )
        == 0
    )
    assert (np.asarray(Image.open(tmp_path / "out.png"))[hole] == 128).all()
    assert main(["list"]) == 0 and "flat-grey" in capsys.readouterr().out

    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_inpainting import registered_methods

    methods, described = registered_methods(["telea"], baselines=True, radius=3)
    assert "Flat grey" in methods and {"name": "Flat grey", "model": None, "parameters": None} in described

    # The demo reads the registry when it starts: a process that registers the method first, then builds the demo.
    code = (
        "import numpy as np; from hfimg import catalogue, classical; from tests.test_inpainting import flat_grey; "
        "catalogue.register_method(catalogue.MethodSpec('Flat grey', 'flat-grey', 'grey', "
        "fill=classical.on_colour(flat_grey))); "
        "from hfimg.demo.handlers import METHODS, Handlers; assert 'Flat grey' in METHODS; "
        "rgba = np.zeros((32, 32, 4), np.uint8); rgba[..., 3] = 255; layer = np.zeros_like(rgba); "
        "layer[8:12, 8:12, 3] = 255; "
        "result, _, _ = Handlers({}).inpaint({'background': rgba, 'layers': [layer]}, 'Flat grey'); "
        "print(np.asarray(result)[9, 9].tolist())"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}  # tests import tiny.py
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[128, 128, 128]"


def flat_grey(pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """A classical method for the tests: mid-grey in the hole."""
    out = pixels.copy()
    out[hole] = 128
    return out


# --- a method on a large photo (inpaint_around_hole) -------------------------------------------------------------


# Mean absolute error (grey levels) each classical fill may make in the hole of a smooth image: about 1.5x what it
# makes (biharmonic 0.9, pull-push 2.2, blend 2.1, Navier-Stokes 4.0, Telea 6.5); a flat fill with the mean colour
# makes 14.9.
SMOOTH_FILL_ERROR = {
    "telea": 9.0,
    "navier-stokes": 6.0,
    "biharmonic": 1.5,
    "pull-push": 3.5,
    "pull-push-texture": 3.5,
    "blend": 3.2,
}


def test_every_classical_method_is_judged_in_the_registry_on_a_smooth_truth():
    assert set(SMOOTH_FILL_ERROR) == {spec.id for spec in method_specs("inpaint") if spec.fill is not None}


@pytest.mark.parametrize("method", sorted(SMOOTH_FILL_ERROR))
def test_classical_fills_come_close_to_a_smooth_truth(method):
    """A colour gradient with a low-frequency wave, its hole blacked out: the fill must be near the truth, not merely
    different from the input (returning the black hole, or a flat colour, fails)."""
    y, x = np.mgrid[0:96, 0:128]
    truth = (
        np.stack([x * 200 / 127 + 20, y * 150 / 95 + 50, 120 + 60 * np.sin(x / 30.0) * np.cos(y / 25.0)], axis=-1)
        .round()
        .astype(np.uint8)
    )
    hole = np.zeros((96, 128), dtype=bool)
    hole[30:60, 40:80] = True
    damaged = truth.copy()
    damaged[hole] = 0
    filled = np.asarray(load_inpainter(method)(Image.fromarray(damaged), hole).image, dtype=np.float64)
    assert np.abs(filled - truth)[hole].mean() < SMOOTH_FILL_ERROR[method]
    assert np.array_equal(filled[~hole], truth[~hole])


def test_large_photo_is_cropped_around_the_hole_not_shrunk():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8)
    hole = np.zeros((1500, 2000), dtype=bool)
    hole[700:760, 1200:1300] = True
    calls = []

    def fill(crop: Image.Image, crop_hole: np.ndarray) -> Image.Image:
        calls.append((crop.size, int(crop_hole.sum())))
        return Image.new(crop.mode, crop.size, (0, 0, 255))

    result = np.asarray(inpaint_around_hole(Image.fromarray(pixels), hole, fill, max_side=512))
    ((crop_size, crop_hole_pixels),) = calls
    assert crop_size == (200, 160)  # the 100x60 hole plus 50 px of context on each side
    assert crop_hole_pixels == 6000
    assert result.shape == pixels.shape
    assert np.array_equal(result[~hole], pixels[~hole])
    assert (result[hole] == (0, 0, 255)).all()


def test_only_the_crop_is_resized_to_the_working_size():
    pixels = np.full((1200, 1600, 3), 200, dtype=np.uint8)
    hole = np.zeros((1200, 1600), dtype=bool)
    hole[100:1100, 300:301] = True  # a long 1-pixel line: must survive the downscale
    seen = []

    def fill(crop: Image.Image, crop_hole: np.ndarray) -> Image.Image:
        seen.append((crop.size, crop_hole.any()))
        return Image.new("RGB", crop.size, (10, 20, 30))

    result = np.asarray(inpaint_around_hole(Image.fromarray(pixels), hole, fill, max_side=256))
    ((size, has_hole),) = seen
    assert max(size) == 256 and has_hole
    assert np.array_equal(result[~hole], pixels[~hole])
    assert (np.abs(result[hole].astype(int) - (10, 20, 30)) <= 2).all()  # resized back into place


def test_empty_hole_returns_the_image_unchanged():
    image = Image.new("RGB", (20, 10), (1, 2, 3))
    result = inpaint_around_hole(image, np.zeros((10, 20), bool), lambda *_: pytest.fail("fill must not run"))
    assert np.array_equal(np.asarray(result), np.asarray(image))


def test_telea_keeps_alpha():
    image = Image.new("RGBA", (16, 16), (100, 150, 200, 77))
    hole = np.zeros((16, 16), bool)
    hole[5:9, 5:9] = True
    result = classical.telea(image, hole)
    assert result.mode == "RGBA" and np.array_equal(np.asarray(result.getchannel("A")), np.full((16, 16), 77))
    assert (np.abs(np.asarray(result)[..., :3].astype(int) - (100, 150, 200)) <= 3).all()  # a flat area stays flat


def test_classical_methods_read_images_as_the_models_do(tmp_path):
    # 16-bit grey: scaled to 8 bits (not clipped to white), filled as L; a palette image: filled as RGB.
    values = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60).astype(np.uint16)  # 0 .. 61,380
    Image.fromarray(values).save(tmp_path / "deep.png")
    _, hole = picture(grey=True)
    result = load_inpainter("telea")(tmp_path / "deep.png", mask_of(hole)).image
    assert Image.open(tmp_path / "deep.png").mode.startswith("I") and result.mode == "L"
    assert np.asarray(result)[~hole].max() < 255 and np.asarray(result)[~hole].min() == 0  # scaled, not clipped
    palette = Image.new("RGB", (32, 32), (10, 200, 30)).convert("P")
    assert load_inpainter("pull-push")(palette, mask_of(hole)).image.mode == "RGB"


def test_registry_and_inpainter_refuse_what_would_run_the_wrong_thing():
    with pytest.raises(ValueError, match="registered twice"):  # names are looked up case-insensitively
        catalogue.register_method(MethodSpec("open cv TELEA", "TELEA", "a clash by case", fill=classical.telea))
    cnn_spec = method_spec("inpaint-cnn", "inpaint")
    with pytest.raises(ValueError, match="takes no model"):
        Inpainter(method_spec("telea", "inpaint"), tiny(cnn_spec))
    with pytest.raises(ValueError, match="takes a 'inpaint-rcnn' model, not a 'inpaint-cnn' one"):
        Inpainter(method_spec("inpaint-rcnn", "inpaint"), tiny(cnn_spec))


def test_the_blend_is_the_average_of_its_three_fills_each_the_registered_method():
    """`blend_fills` stacks pull-push, Navier-Stokes and the textured fill, each what its registered method returns
    (8-bit rounding apart), and the classical method "blend" is their average."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:40, 0:56]
    pixels = np.clip(np.stack([x * 4, y * 5, 128 + 0 * x], -1) + rng.integers(0, 30, (40, 56, 3)), 0, 255)
    pixels = pixels.astype(np.uint8)
    hole = np.zeros((40, 56), dtype=bool)
    hole[10:28, 15:40] = True
    damaged = pixels.copy()
    damaged[hole] = 0
    tensor = torch.from_numpy(damaged).permute(2, 0, 1)[None].float() / 127.5 - 1
    fills = classical.blend_fills(tensor, torch.from_numpy(hole)[None, None].float())  # (1, 3, 3, H, W)
    assert fills.shape == (1, len(classical.BLEND_FILLS), 3, 40, 56) and not fills.requires_grad
    as_pixels = ((fills[0] + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()  # (K, H, W, 3)
    for got, method in zip(as_pixels, classical.BLEND_FILLS, strict=True):
        expected = np.asarray(load_inpainter(method)(Image.fromarray(damaged), hole).image, dtype=np.float64)
        assert np.abs(got - expected).max() <= 1, method
    assert not np.allclose(as_pixels[0], as_pixels[1], atol=5)  # three different fills, not one three times
    blended = np.asarray(load_inpainter("blend")(Image.fromarray(damaged), hole).image, dtype=np.float64)
    assert np.abs(blended - as_pixels.mean(0)).max() <= 1


def test_the_benchmark_runs_a_recurrent_model_with_fewer_passes_too(tmp_path):
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_inpainting import registered_methods

    folder = tmp_path / "rcnn"
    tiny_model("inpaint-rcnn", seed=0, iterations=3).save_pretrained(folder)
    methods, described = registered_methods([str(folder)], baselines=False, radius=3, fewer_passes=True)
    name = f"InpaintRCNN ({folder})"
    assert [entry["name"] for entry in described if entry["model"]] == [name, f"{name}, 1 pass", f"{name}, 2 passes"]
    image, hole = picture(grey=False)
    rgb, inpainter = np.asarray(image), load_inpainter(str(folder))
    for passes, method in ((None, name), (1, f"{name}, 1 pass"), (2, f"{name}, 2 passes")):
        expected = inpainter(image, mask_of(hole), InpaintOptions(steps=passes)).image
        assert np.array_equal(methods[method](rgb, hole), np.asarray(expected))
    assert not np.array_equal(methods[f"{name}, 1 pass"](rgb, hole), methods[name](rgb, hole))
    plain, _ = registered_methods([str(folder)], baselines=False, radius=3)
    assert [key for key in plain if key.startswith("InpaintRCNN")] == [name]

"""The Gradio demo (app.py), driven through gradio_client against the app launched in this process, with tiny random
models saved to a temporary folder (the bundled models are not needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file, save_file
from tiny import slot_models, tiny_model

import hfimg
from hfimg.catalogue import method_specs
from hfimg.demo.editor import editor_to_image_and_hole, mask_layer
from hfimg.models.classifier import FASHION_MNIST_LABELS
from hfimg.restoration import load_restorer
from hfimg.tasks import RestoreOptions

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from hfimg.demo.cards import inline_images, model_card  # noqa: E402  (gradio, like gradio_client: the app extra)
from hfimg.demo.handlers import check_search_steps  # noqa: E402
from hfimg.demo.slots import class_choices, load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # app.py lives at the top of the repo, outside the package

TINY_MODELS = slot_models()  # slot -> (registry name, kwargs): a few thousand parameters each
ENV_VARS = {
    "gan": "HFIMG_GAN",
    "vae": "HFIMG_VAE",
    "inpaint_cnn": "HFIMG_INPAINT_CNN",
    "inpaint_rcnn": "HFIMG_INPAINT_RCNN",
    "inpaint_fashion": "HFIMG_INPAINT_FASHION",
    "denoise": "HFIMG_DENOISE",
}


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    dirs = {}
    for slot, (name, kwargs) in TINY_MODELS.items():
        dirs[slot] = str(root / slot)
        hfimg.create_model(name, **kwargs).save_pretrained(dirs[slot])
    return dirs


@pytest.fixture(scope="module")
def app(model_dirs):
    # The environment points every slot at a tiny model while app.py is imported (it loads its models on import).
    with pytest.MonkeyPatch.context() as env:
        for slot, path in model_dirs.items():
            env.setenv(ENV_VARS[slot], path)
        import app as app_module
    return app_module


@pytest.fixture(scope="module")
def client(app, model_dirs):
    demo = app.build_demo(app.load_models(model_dirs))
    demo.launch(prevent_thread_lock=True, quiet=True, **app.LAUNCH_OPTIONS)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def photo(tmp_path: Path, size: tuple[int, int] = (96, 64), grey: bool = False) -> tuple[Path, np.ndarray]:
    """A smooth colour photo with a red square where the mask goes (`grey`: a grey one with a white square, as
    the Fashion-MNIST models know, saved as RGB); returns its path and pixels."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    pixels[20:40, 30:50] = (255, 0, 0)
    if grey:
        pixels = np.repeat(pixels[..., :1] // 2, 3, axis=-1)
        pixels[20:40, 30:50] = 255
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


def stroke_layer(tmp_path: Path, size: tuple[int, int] = (96, 64)) -> tuple[Path, np.ndarray]:
    """A painted layer as the editor sends it: transparent, with an opaque stroke over the red square."""
    layer = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    layer[18:42, 28:52] = (57, 255, 20, 255)
    path = tmp_path / "layer.png"
    Image.fromarray(layer).save(path)
    return path, layer[..., 3] > 0


def editor_value(background: Path, *layers: Path) -> dict:
    return {
        "background": handle_file(str(background)),
        "layers": [handle_file(str(p)) for p in layers],
        "composite": None,
    }


# --- the API through gradio_client --------------------------------------------------------------------------------


def test_one_concurrency_limit_for_every_model_event(app, model_dirs):
    demo = app.build_demo(app.load_models(model_dirs))
    events = {fn.api_name: fn for fn in demo.fns.values()}
    heavy = [events[name] for name in ("generate", "interpolate", "inpaint", "restore")]
    assert {(fn.concurrency_id, fn.concurrency_limit) for fn in heavy} == {("models", app.CONCURRENCY)}
    assert demo._queue.max_size == app.QUEUE_SIZE


def test_api_names(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/generate", "/interpolate", "/inpaint", "/restore", "/random_seed"} <= names


def test_the_class_is_documented_as_the_int_it_takes(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("/generate", "/interpolate", "/inpaint"):
        (label,) = [p for p in endpoints[name]["parameters"] if p["parameter_name"] == "label"]
        assert label["python_type"]["type"] == "int" and label["parameter_default"] == -1
    # The int works, and so does its text (what the API documented before, and then refused).
    by_int = Image.open(client.predict("GAN", 1, 3, -1, api_name="/generate"))
    by_text = Image.open(client.predict("GAN", 1, 3, "-1", api_name="/generate"))
    assert np.array_equal(np.asarray(by_int), np.asarray(by_text))
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("GAN", 1, 3, 7, api_name="/generate")  # this GAN has no classes


@pytest.mark.parametrize("generator", ["GAN", "VAE"])
def test_generate_grid_and_seed(client, generator):
    first = client.predict(generator, 4, 7, -1, api_name="/generate")
    again = client.predict(generator, 4, 7, -1, api_name="/generate")
    other = client.predict(generator, 4, 8, -1, api_name="/generate")
    grid = Image.open(first)
    assert grid.format == "PNG"
    assert grid.size == (2 * 32 + 2, 2 * 32 + 2)  # 2x2 grid of 32x32 images, 2 px apart
    assert np.array_equal(np.asarray(grid), np.asarray(Image.open(again)))
    assert not np.array_equal(np.asarray(grid), np.asarray(Image.open(other)))


@pytest.mark.parametrize("generator", ["GAN", "VAE"])
def test_interpolate_ends_are_the_seeds_images(client, generator):
    strip = np.asarray(Image.open(client.predict(generator, 3, 5, 4, -1, api_name="/interpolate")).convert("L"))
    assert strip.shape == (32, 4 * 32 + 3 * 2)
    first = np.asarray(Image.open(client.predict(generator, 1, 3, -1, api_name="/generate")).convert("L"))
    last = np.asarray(Image.open(client.predict(generator, 1, 5, -1, api_name="/generate")).convert("L"))
    assert np.abs(strip[:, :32].astype(int) - first).max() <= 1
    assert np.abs(strip[:, -32:].astype(int) - last).max() <= 1


def test_random_seed(client):
    seeds = {client.predict(api_name="/random_seed") for _ in range(3)}
    assert all(isinstance(s, (int, float)) and 0 <= s < 2**31 for s in seeds) and len(seeds) > 1


DEMO_METHODS = [  # the demo's methods before the registry added the other classical ones
    "InpaintCNN",
    "InpaintRCNN",
    "OpenCV Telea",
    "InpaintCNN (Fashion-MNIST)",
    "GAN latent search",
    "VAE latent search",
]


def test_the_demo_offers_its_methods():
    registered = [spec.name for spec in method_specs("inpaint")]
    assert set(DEMO_METHODS) <= set(registered)  # none of the demo's methods went missing from the registry
    assert registered[0] == "InpaintCNN"  # the default method comes first


@pytest.mark.parametrize("method", [spec.name for spec in method_specs("inpaint")])  # every one, as it comes
def test_inpaint_changes_only_the_hole(client, app, tmp_path, method):
    background, pixels = photo(tmp_path, grey=method in app.GARMENT_METHODS)  # each method on an image it fits
    layer, hole = stroke_layer(tmp_path)
    result_path, (before, after), passes = client.predict(
        editor_value(background, layer), method, 3, 10, -1, api_name="/inpaint"
    )
    result = np.asarray(Image.open(result_path))
    assert Image.open(result_path).format == "PNG"
    assert result.shape == pixels.shape
    assert np.array_equal(result[~hole], pixels[~hole])  # every unmasked pixel bit-identical
    assert np.abs(result[hole].astype(int) - pixels[hole]).mean() > 5  # the red square is gone
    assert np.array_equal(np.asarray(Image.open(before).convert("RGB")), pixels)
    assert np.array_equal(np.asarray(Image.open(after).convert("RGB")), result)
    assert len(passes) == (3 if method == "InpaintRCNN" else 0)


@pytest.mark.parametrize("method", ["InpaintCNN", "InpaintRCNN", "OpenCV Telea"])
def test_the_demo_and_the_cli_give_one_answer_on_a_large_photo(client, model_dirs, tmp_path, capsys, method):
    """A 741x500 photo: the demo fills the same crop around the mask as `hfimg inpaint`, pixel for pixel, and both
    say which region they worked on."""
    from hfimg.cli import main

    background, pixels = photo(tmp_path, size=(741, 500))
    mask = np.zeros(pixels.shape[:2], dtype=np.uint8)
    mask[300:420, 500:700] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    layer = np.zeros((*pixels.shape[:2], 4), dtype=np.uint8)
    layer[mask > 0] = (57, 255, 20, 255)
    Image.fromarray(layer).save(tmp_path / "layer.png")
    result_path, _, _ = client.predict(
        editor_value(background, tmp_path / "layer.png"), method, 3, 10, -1, api_name="/inpaint"
    )
    spec = {"InpaintCNN": model_dirs["inpaint_cnn"], "InpaintRCNN": model_dirs["inpaint_rcnn"]}.get(method, "telea")
    args = [str(background), str(tmp_path / "mask.png"), "-o", str(tmp_path / "cli.png")]
    assert main(["inpaint", spec, *args, *(["--steps", "3"] if method == "InpaintRCNN" else [])]) == 0
    assert "region around the mask" in capsys.readouterr().out
    demo, cli = np.asarray(Image.open(result_path)), np.asarray(Image.open(tmp_path / "cli.png"))
    assert demo.shape == cli.shape == pixels.shape
    assert np.array_equal(demo, cli)
    assert np.array_equal(demo[mask == 0], pixels[mask == 0]) and not np.array_equal(demo, pixels)
    # The whole image at its own size (--max_side 0) is another answer: the rule is what makes them agree.
    if method == "InpaintCNN":
        assert main(["inpaint", spec, *args[:2], "-o", str(tmp_path / "whole.png"), "--max_side", "0"]) == 0
        assert not np.array_equal(np.asarray(Image.open(tmp_path / "whole.png")), cli)


def test_inpaint_with_an_uploaded_mask(client, tmp_path):
    background, pixels = photo(tmp_path)
    layer, stroke = stroke_layer(tmp_path)
    mask = np.zeros(pixels.shape[:2], dtype=np.uint8)
    mask[5:12, 60:90] = 255  # away from the painted stroke
    Image.fromarray(mask).save(tmp_path / "mask.png")
    uploaded = handle_file(str(tmp_path / "mask.png"))
    result_path, _, _ = client.predict(
        editor_value(background), "OpenCV Telea", 3, 10, -1, uploaded, api_name="/inpaint"
    )
    changed = np.any(np.asarray(Image.open(result_path)) != pixels, axis=-1)
    assert changed.any() and not changed[mask == 0].any()  # the uploaded mask alone says what to fill
    result_path, _, _ = client.predict(
        editor_value(background, layer), "OpenCV Telea", 3, 10, -1, uploaded, api_name="/inpaint"
    )
    changed = np.any(np.asarray(Image.open(result_path)) != pixels, axis=-1)
    assert changed[stroke].any() and changed[mask > 0].any()  # painted and uploaded: both filled
    assert not changed[(mask == 0) & ~stroke].any()


def test_uploaded_mask_of_another_size_is_refused(client, tmp_path):
    background, _ = photo(tmp_path)
    Image.new("L", (50, 50), 255).save(tmp_path / "small-mask.png")
    with pytest.raises(AppError, match="does not match image size 96x64"):
        client.predict(
            editor_value(background), "InpaintCNN", 3, 10, -1, handle_file(str(tmp_path / "small-mask.png")),
            api_name="/inpaint",
        )  # fmt: skip


@pytest.mark.parametrize("method", ["OpenCV Telea", "pull-push interpolation", "GAN latent search"])
def test_a_mask_over_the_whole_image_is_refused(client, app, tmp_path, method):
    background, _ = photo(tmp_path, grey=method in app.GARMENT_METHODS)
    layer = np.zeros((64, 96, 4), dtype=np.uint8)
    layer[...] = (57, 255, 20, 255)  # painted all over with the brush
    Image.fromarray(layer).save(tmp_path / "all.png")
    with pytest.raises(AppError, match="the mask covers the whole image"):
        client.predict(editor_value(background, tmp_path / "all.png"), method, 3, 10, -1, api_name="/inpaint")


def test_latent_search_steps_out_of_range_are_refused_not_clipped(app, client, model_dirs, tmp_path):
    background, pixels = photo(tmp_path, grey=True)
    layer, hole = stroke_layer(tmp_path)
    handlers = app.Handlers(app.load_models(model_dirs))
    editor = {"background": pixels, "layers": [np.dstack([hole, hole, hole, hole]).astype(np.uint8) * 255]}
    for steps in (0, 501, float("nan")):  # 0 steps returned the search's random start as if searched
        with pytest.raises(app.gr.Error, match="Search steps must be a whole number from 1 to 500, got"):
            handlers.inpaint(editor, "GAN latent search", 3, steps, -1)
    assert handlers.inpaint(editor, "GAN latent search", 3, 1, -1)[0].size == (96, 64)
    assert check_search_steps(500) == 500 and check_search_steps(499.6) == 500  # the slider's end is taken
    with pytest.raises(AppError, match="greater than maximum value 500"):  # the API: the slider's own bounds
        client.predict(editor_value(background, layer), "GAN latent search", 3, 501, -1, api_name="/inpaint")


@pytest.mark.parametrize("method", ["InpaintCNN (Fashion-MNIST)", "GAN latent search", "VAE latent search"])
def test_garment_methods_are_refused_for_a_colour_photo(client, tmp_path, method):
    background, _ = photo(tmp_path)
    layer, _ = stroke_layer(tmp_path)
    with pytest.raises(AppError, match="off for this 96x64 image.*grey garment"):
        client.predict(editor_value(background, layer), method, 3, 10, -1, api_name="/inpaint")


def test_methods_offered_follow_the_image(app, tmp_path):
    colour, _ = photo(tmp_path)
    radio, note = app.Handlers.offer_methods({"background": {"path": str(colour)}}, "GAN latent search")
    photo_methods = {
        "InpaintCNN", "InpaintRCNN", "OpenCV Telea", "OpenCV Navier-Stokes", "scikit-image biharmonic",
        "pull-push interpolation", "pull-push + texture transfer", "blend of fills",
    }  # fmt: skip
    assert radio.choices and {name for name, _ in radio.choices} == photo_methods
    assert radio.value == "InpaintCNN" and "GAN latent search" in note and "96x64" in note
    radio, note = app.Handlers.offer_methods({"background": {"path": str(colour)}}, "OpenCV Telea")
    assert radio.value == "OpenCV Telea"  # a method that fits is kept
    shirt = {"background": {"path": str(ROOT / "examples" / "shirt.png")}}
    radio, note = app.Handlers.offer_methods(shirt, "GAN latent search")
    assert {name for name, _ in radio.choices} == set(app.METHODS) and radio.value == "GAN latent search"
    assert note == ""
    radio, note = app.Handlers.offer_methods(None, "VAE latent search")  # the editor was cleared
    assert {name for name, _ in radio.choices} == set(app.METHODS) and note == ""


def test_user_error_is_one_log_line_without_traceback(app, model_dirs, caplog):
    handlers = app.Handlers(app.load_models(model_dirs))
    with caplog.at_level("INFO", logger="hfimg.app"), pytest.raises(app.gr.Error) as error:
        handlers.inpaint(None, "InpaintCNN")
    assert error.value.print_exception is False  # gradio prints no traceback for it
    lines = [r.getMessage() for r in caplog.records if r.name == "hfimg.app"]
    assert len(lines) == 1 and lines[0].startswith("user error: Upload an image first") and "\n" not in lines[0]


def test_inpaint_accepts_a_black_and_white_mask_as_layer(client):
    # The example files: a photo and a white-on-black mask, as an API caller would send them.
    photo_path, mask_path = ROOT / "examples" / "coffee.png", ROOT / "examples" / "coffee_mask.png"
    result_path, _, _ = client.predict(
        editor_value(photo_path, mask_path), "OpenCV Telea", 3, 10, -1, api_name="/inpaint"
    )
    pixels, result = np.asarray(Image.open(photo_path).convert("RGB")), np.asarray(Image.open(result_path))
    hole = np.asarray(Image.open(mask_path)) >= 128
    assert hole.any() and not hole.all()
    assert np.array_equal(result[~hole], pixels[~hole])
    assert not np.array_equal(result[hole], pixels[hole])


@pytest.mark.parametrize("sigma", [0, 30])
def test_restore(client, model_dirs, tmp_path, sigma):
    background, pixels = photo(tmp_path)
    noisy_path, restored_path, (before, after) = client.predict(
        handle_file(str(background)), sigma, api_name="/restore"
    )
    noisy, restored = np.asarray(Image.open(noisy_path)), np.asarray(Image.open(restored_path))
    assert noisy.shape == restored.shape == pixels.shape
    assert np.array_equal(noisy, pixels) == (sigma == 0)
    if sigma:
        assert 15 < np.std(noisy.astype(int) - pixels) < 45  # about sigma, less what clipping at 0/255 removes
    assert np.array_equal(np.asarray(Image.open(after)), restored)
    # What reached the model: the noisy image it shows, not the clean upload.
    model = hfimg.load(model_dirs["denoise"])
    assert np.array_equal(restored, np.asarray(model.restore(Image.open(noisy_path))))
    if sigma:
        assert not np.array_equal(restored, np.asarray(model.restore(Image.open(background).convert("RGB"))))


def test_restore_gives_the_photo_back_at_full_size_and_as_the_library_does(client, model_dirs, tmp_path):
    """The demo denoises at the photo's own size (it used to scale 741x500 down to 512x345), with and without the
    self-ensemble, and gives what the library call gives for the same noisy image."""
    background, pixels = photo(tmp_path, size=(741, 500))
    model = hfimg.load(model_dirs["denoise"])
    for ensemble in (False, True):
        noisy_path, restored_path, _ = client.predict(handle_file(str(background)), 0, ensemble, api_name="/restore")
        noisy, restored = Image.open(noisy_path), np.asarray(Image.open(restored_path))
        assert restored.shape == pixels.shape  # (500, 741, 3)
        expected = np.asarray(model.restore(noisy, options=RestoreOptions(ensemble=ensemble)))
        assert np.array_equal(restored, expected)
    assert not np.array_equal(restored, np.asarray(model.restore(noisy)))  # the ensemble changed the answer


def test_the_ensemble_is_refused_above_its_cap_before_any_work(client, app, tmp_path):
    side = int(app.ENSEMBLE_MAX_PIXELS**0.5) + 1
    big = tmp_path / "big.png"
    Image.new("RGB", (side, side), (90, 120, 150)).save(big)
    with pytest.raises(AppError, match="self-ensemble runs the model 8 times"):
        client.predict(handle_file(str(big)), 0, True, api_name="/restore")


@pytest.mark.parametrize("method", ["BM3D (bm3d, CBM3D)", "scikit-image non-local means"])
def test_restore_runs_the_classical_methods_by_name_as_the_library_does(client, app, tmp_path, method):
    assert method in app.RESTORE_METHODS  # offered in the Restore tab, from the catalogue
    background, pixels = photo(tmp_path)
    noisy_path, restored_path, _ = client.predict(handle_file(str(background)), 30, False, method, api_name="/restore")
    noisy, restored = Image.open(noisy_path), np.asarray(Image.open(restored_path), dtype=np.int16)
    expected = np.asarray(load_restorer(method)(noisy), dtype=np.int16)  # what the method gives for what it was given
    assert np.abs(restored - expected).max() <= 1  # BM3D's float sums are not bit-stable from run to run
    assert np.abs(restored - pixels).mean() < 0.5 * np.abs(np.asarray(noisy, dtype=np.int16) - pixels).mean()


def test_a_classical_restore_method_is_refused_above_its_cap_and_an_unknown_one_by_name(client, app, tmp_path):
    side = int(app.CLASSICAL_RESTORE_MAX_PIXELS**0.5) + 1
    big = tmp_path / "big.png"
    Image.new("RGB", (side, side), (90, 120, 150)).save(big)
    with pytest.raises(AppError, match="hfimg restore bm3d"):
        client.predict(handle_file(str(big)), 0, False, "BM3D (bm3d, CBM3D)", api_name="/restore")
    with pytest.raises(ValueError, match="Unknown restore method"):  # gr.Error is a ValueError
        app.Handlers({}).restore(Image.new("RGB", (8, 8)), 0, False, "GAN latent search")


# --- bad input comes back as a message, not a crash ---------------------------------------------------------------


def test_inpaint_without_image(client):
    with pytest.raises(AppError, match="Upload an image"):
        client.predict(None, "InpaintCNN", 3, 10, -1, api_name="/inpaint")


def test_inpaint_without_mask(client, tmp_path):
    background, _ = photo(tmp_path)
    with pytest.raises(AppError, match="paint over"):
        client.predict(editor_value(background), "InpaintCNN", 3, 10, -1, api_name="/inpaint")


def test_corrupt_upload(client, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    with pytest.raises(AppError, match="PNG, JPEG or WEBP"):
        client.predict(handle_file(str(broken)), 0, api_name="/restore")
    layer, _ = stroke_layer(tmp_path)
    with pytest.raises(AppError, match="PNG, JPEG or WEBP"):
        client.predict(editor_value(broken, layer), "InpaintCNN", 3, 10, -1, api_name="/inpaint")


def test_the_editors_new_upload_is_checked_from_its_header(app, tmp_path):
    from types import SimpleNamespace

    import gradio as gr

    from hfimg.demo.files import checked_editor

    side = int(app.MAX_PIXELS**0.5) + 1
    huge = tmp_path / "huge.png"
    Image.new("L", (side, side)).save(huge)
    with pytest.raises(gr.Error, match="megapixels"):
        checked_editor(SimpleNamespace(id=None, background=SimpleNamespace(path=str(huge))))
    known = SimpleNamespace(id="already-checked", background=SimpleNamespace(path=str(huge)))
    assert checked_editor(known) is known  # an edit of an upload checked before is not read again


def test_too_many_pixels(client, app, tmp_path):
    side = int(app.MAX_PIXELS**0.5) + 1
    huge = tmp_path / "huge.png"
    Image.new("L", (side, side)).save(huge)  # a few KB of PNG, but too many pixels
    with pytest.raises(AppError, match="megapixels"):
        client.predict(handle_file(str(huge)), 0, api_name="/restore")


def test_upload_above_the_size_limit(client, app, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(app.MAX_UPLOAD_MB * 2**20 + 1))
    with pytest.raises((ValueError, AppError), match="maximum file size"):
        client.predict(handle_file(str(big)), 0, api_name="/restore")


def test_sixteen_bit_image_is_scaled_not_clipped(client, tmp_path):
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((32, 32), 40000, dtype=np.uint16)).save(deep)  # 40000 / 257 = grey 156, not white
    noisy, _, _ = client.predict(handle_file(str(deep)), 0, api_name="/restore")
    assert abs(np.asarray(Image.open(noisy).convert("L"), dtype=float).mean() - 156) < 2
    layer, _ = stroke_layer(tmp_path, size=(32, 32))
    result, _, _ = client.predict(editor_value(deep, layer), "OpenCV Telea", 3, 10, -1, api_name="/inpaint")
    assert abs(np.asarray(Image.open(result).convert("L"), dtype=float).mean() - 156) < 2


def test_exif_rotated_upload_is_inpainted_upright(client, tmp_path):
    photo = Image.new("RGB", (40, 24), (200, 60, 60))
    photo.paste((20, 20, 220), (0, 0, 20, 24))  # left half blue, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated by 90 degrees clockwise: 24 wide, 40 tall
    path = tmp_path / "phone.jpg"
    photo.save(path, exif=exif, quality=95)
    layer = np.zeros((40, 24, 4), dtype=np.uint8)  # drawn on the photo as it is shown: 24 wide, 40 tall
    layer[10:20, 5:15] = (57, 255, 20, 255)
    Image.fromarray(layer).save(tmp_path / "layer.png")
    layer = tmp_path / "layer.png"
    result, _, _ = client.predict(editor_value(path, layer), "OpenCV Telea", 3, 10, -1, api_name="/inpaint")
    assert Image.open(result).size == (24, 40)


def test_truncated_jpeg_gets_a_message(client, tmp_path):
    whole = tmp_path / "whole.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(whole)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:600])
    with pytest.raises(AppError, match="truncated|decoded|read"):
        client.predict(handle_file(str(cut)), 0, api_name="/restore")


def test_unknown_generator(client):
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("diffusion", 4, 0, -1, api_name="/generate")


# --- model loading, cards, unavailable models ---------------------------------------------------------------------


def test_model_ids_flags_win_over_environment(app):
    ids = app.model_ids(env={"HFIMG_GAN": "env/gan", "HFIMG_VAE": "env/vae"}, overrides={"gan": "flag/gan"})
    assert ids["gan"] == "flag/gan"
    assert ids["vae"] == "env/vae"
    assert ids["denoise"] == app.SLOTS["denoise"].default
    args = app.parse_args(["--inpaint-rcnn", "some/folder"])
    assert app.model_ids(env={}, overrides=vars(args))["inpaint_rcnn"] == "some/folder"


def test_unavailable_model_is_reported_not_raised(app, model_dirs, tmp_path):
    ids = {**model_dirs, "gan": str(tmp_path / "missing"), "vae": model_dirs["denoise"]}  # missing; wrong kind
    models = app.load_models(ids)
    assert models["gan"].model is None and "missing" in models["gan"].error
    assert models["vae"].model is None and "denoise-cnn" in models["vae"].error
    table = app.models_table(models)
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    assert "not available" in rows["DCGAN generator"] and "missing" in rows["DCGAN generator"]
    assert "not available" in rows["Convolutional VAE"]
    assert model_dirs["inpaint_cnn"] in rows["InpaintCNN"] and "`InpaintCNN`" in rows["InpaintCNN"]
    assert "not available" in app.model_details(models["gan"])
    assert "Config:" in app.model_details(models["inpaint_cnn"])
    handlers = app.Handlers(models)
    with pytest.raises(app.gr.Error, match="not available"):
        handlers.generate("GAN", 4, 0)
    app.build_demo(models)  # the UI still builds, with the notices in place


def test_a_model_with_weights_that_are_not_finite_is_reported_not_loaded(app, model_dirs, tmp_path):
    folder = tmp_path / "broken-denoiser"
    shutil.copytree(model_dirs["denoise"], folder)
    weights = load_file(folder / "model.safetensors")
    weights["body.0.weight"].view(-1)[0] = float("nan")  # what a diverged training run saves
    save_file(weights, folder / "model.safetensors")
    loaded = load_model(app.SLOTS["denoise"], str(folder))
    assert loaded.model is None and "the tensor 'body.0.weight' holds 1 NaN or infinite values" in loaded.error


def test_conditional_gan_class(app, model_dirs, tmp_path):
    path = tmp_path / "cgan"
    hfimg.create_model(
        "dcgan", resolution=32, channels=1, latent_dim=8, base_channels=4, num_classes=10
    ).save_pretrained(path)
    handlers = app.Handlers(app.load_models({**model_dirs, "gan": str(path)}))
    assert class_choices(handlers.models["gan"].model) == [(n, i) for i, n in enumerate(FASHION_MNIST_LABELS)]
    three = hfimg.create_model("dcgan", resolution=32, channels=1, latent_dim=8, base_channels=4, num_classes=3)
    assert class_choices(three) == [("0", 0), ("1", 1), ("2", 2)]  # not Fashion-MNIST's ten: numbered
    assert class_choices(handlers.models["vae"].model) == class_choices(None) == []  # no num_classes: none
    by_class = [np.asarray(handlers.generate("GAN", 2, 0, label)) for label in (1, 2)]
    assert not np.array_equal(*by_class)
    assert handlers.interpolate("GAN", 0, 1, 3, 4).size == (3 * 32 + 2 * 2, 32)
    # Inpainting with it needs the class: none chosen is a message; a chosen one fills the hole.
    garment = np.full((32, 32, 4), 255, dtype=np.uint8)
    garment[..., :3] = 90
    layer = np.zeros_like(garment)
    layer[8:20, 8:20] = 255
    editor = {"background": garment, "layers": [layer]}
    for label in (None, -1):
        with pytest.raises(app.gr.Error, match="This GAN is class-conditional: choose the class of the image"):
            handlers.inpaint(editor, "GAN latent search", 3, 5, label)
    filled = handlers.inpaint(editor, "GAN latent search", 3, 5, 0)[0]
    assert filled.size == (32, 32)


def test_import_does_not_launch_a_server(model_dirs):
    """`import app` (what a Space or a notebook does) must return without serving. The test waits for one of two
    signals, whichever comes first on a busy machine: the child's answer after its import, or the demo's port
    accepting connections (a launched server, which would block the import forever)."""
    import socket

    port = 7931
    env = {
        **os.environ,
        **{ENV_VARS[slot]: path for slot, path in model_dirs.items()},
        "GRADIO_SERVER_PORT": str(port),
    }
    code = "import app; print('running' if app.demo.is_running else 'idle', flush=True)"
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        while child.poll() is None:
            with socket.socket() as probe:
                serving = probe.connect_ex(("127.0.0.1", port)) == 0
            assert not serving, "importing app.py launched a server"
            try:
                child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        out, err = child.communicate()
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert out.strip().endswith("idle")


# --- the editor's value (hfimg.demo.editor) -----------------------------------------------------------------------


def test_editor_value_with_transparency_and_stroke():
    background = np.zeros((8, 8, 4), dtype=np.uint8)
    background[..., 3] = 255
    image, hole = editor_to_image_and_hole(background, [])
    assert image.mode == "RGB" and not hole.any()  # opaque upload -> RGB, nothing painted
    background[0, 0, 3] = 0
    layer = np.zeros((8, 8, 4), dtype=np.uint8)
    layer[2:4, 2:4, 3] = 30  # a faint anti-aliased stroke edge still counts
    image, hole = editor_to_image_and_hole(background, [layer])
    assert image.mode == "RGBA" and hole.sum() == 4
    with pytest.raises(ValueError, match="does not match|is 4x4"):
        editor_to_image_and_hole(background, [layer[:4, :4]])


def test_the_editor_reads_grey_uploads_joins_layers_and_refuses_what_is_no_image():
    grey = np.full((3, 5), 80, dtype=np.uint8)  # (H, W): a grey upload as gradio gives it
    first, second = (np.zeros((3, 5, 4), dtype=np.uint8) for _ in range(2))
    first[0, 0, 3], second[2, 4, 3] = 255, 255
    image, hole = editor_to_image_and_hole(grey, [first, second])
    assert image.mode == "L" and image.size == (5, 3)
    assert hole.sum() == 2 and hole[0, 0] and hole[2, 4]  # the union of the layers, not the last one
    with pytest.raises(ValueError, match=r"^the mask layer is 4x2 but the image is 5x3; paint the mask on"):
        editor_to_image_and_hole(grey, [np.zeros((2, 4, 4), dtype=np.uint8)])
    with pytest.raises(ValueError, match=r"^the mask layer is 2x4 but the image is 5x3; paint the mask on"):
        editor_to_image_and_hole(grey, [np.zeros((4, 2, 4), dtype=np.uint8)])  # its sides named the right way
    for bad in (grey.astype(np.float32), np.zeros((2, 3, 4, 1), dtype=np.uint8)):
        with pytest.raises(ValueError, match=r"^expected a uint8 \(H, W\[, C\]\) image, got "):
            editor_to_image_and_hole(bad, [])


def test_a_slot_given_the_wrong_kind_of_model_says_which_kinds_and_logs_it(tmp_path, caplog):
    from hfimg.demo.slots import SLOTS

    folder = tmp_path / "vae"
    tiny_model("vae").save_pretrained(folder)
    with caplog.at_level("WARNING", logger="hfimg.app"):
        loaded = load_model(SLOTS["denoise"], str(folder))
    assert loaded.model is None
    expected = f"ValueError: '{folder}' is a 'vae' model; this slot needs 'denoise-cnn' or 'denoise-unet'."
    assert loaded.error == expected
    assert caplog.messages == [f"Denoiser ({folder}) not loaded: {expected}"]
    import gradio as gr

    with pytest.raises(gr.Error) as raised:
        loaded.require()
    assert (
        raised.value.title == "Model not loaded" and raised.value.message == f"Denoiser is not available: {expected}"
    )


def test_a_slot_whose_backend_fails_falls_back_to_fp32_and_logs_why(tmp_path, caplog, monkeypatch):
    from hfimg import runtime
    from hfimg.demo.slots import SLOTS

    folder = tmp_path / "denoiser"
    model = tiny_model("denoise-cnn")
    model.save_pretrained(folder)

    def no_engine(model):
        raise RuntimeError("no onnxruntime here")

    monkeypatch.setattr(runtime, "engine", no_engine)
    monkeypatch.setenv("HFIMG_BACKEND", "onnxruntime")
    with caplog.at_level("WARNING", logger="hfimg.app"):
        loaded = load_model(SLOTS["denoise"], str(folder))
    assert loaded.model is not None and loaded.model.backend == "fp32"
    assert caplog.messages == ["Denoiser: backend 'onnxruntime' not available (no onnxruntime here); using fp32."]
    # A setting that is no backend at all fails in the real engine too; the slot still loads, and says why.
    monkeypatch.undo()
    monkeypatch.setenv("HFIMG_BACKEND", "tpu")
    caplog.clear()
    with caplog.at_level("WARNING", logger="hfimg.app"):
        loaded = load_model(SLOTS["denoise"], str(folder))
    assert loaded.model is not None and loaded.model.backend == "fp32"
    assert caplog.messages == [
        "Denoiser: backend 'tpu' not available (HFIMG_BACKEND='tpu' is not a backend; set it to one of: "
        f"{', '.join(runtime.BACKENDS)}.); using fp32."
    ]


def test_the_garment_methods_are_named_when_a_photo_turns_them_off():
    from hfimg.demo.handlers import GARMENT_METHODS, methods_for

    offered, why = methods_for(Image.new("RGB", (300, 200)))
    assert len(GARMENT_METHODS) >= 2 and not set(GARMENT_METHODS) & set(offered)
    assert why.startswith(f"{GARMENT_METHODS[0]}, {GARMENT_METHODS[1]}") and "off for this 300x200 image" in why


def test_the_hole_becomes_a_white_on_black_grey_mask():
    from hfimg.demo.files import hole_image

    mask = hole_image(np.array([[True, False]]))
    assert mask.mode == "L" and np.array_equal(np.asarray(mask), [[255, 0]])


def test_a_mask_given_to_the_editor_as_a_layer_reads_back_as_its_hole():
    mask = Image.open(ROOT / "examples" / "shirt_mask.png")
    hole = np.asarray(mask) >= 128
    layer = np.asarray(mask_layer(mask, "#39ff14"))
    assert layer.shape == (*hole.shape, 4)
    assert (layer[hole] == (0x39, 0xFF, 0x14, 255)).all() and (layer[~hole, 3] == 0).all()  # the brush, on the hole
    background = np.full((*hole.shape, 4), 255, dtype=np.uint8)
    assert (editor_to_image_and_hole(background, [layer])[1] == hole).all()  # as if painted there


def test_model_cards_show_their_own_images(app, tmp_path):
    # The Models tab is not served from the model folder: the card's relative PNG links become data URIs.
    Image.new("L", (4, 4), 200).save(tmp_path / "samples.png")
    card = "# Card\n\n![samples](samples.png)\n\n![elsewhere](https://example.org/x.png)\n\n![missing](gone.png)\n"
    text = inline_images(card, tmp_path)
    assert "![samples](data:image/png;base64," in text
    assert "![elsewhere](https://example.org/x.png)" in text and "![missing](gone.png)" in text


def test_backend_is_prepared_at_load_and_falls_back_to_fp32(app, model_dirs, tmp_path, monkeypatch):
    from hfimg import runtime

    monkeypatch.setenv("HFIMG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(runtime.BACKEND_ENV, "onnxruntime")
    loaded = load_model(app.SLOTS["denoise"], model_dirs["denoise"])
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1  # exported at start, not in a request

    def no_onnxruntime(*args, **kwargs):
        raise ImportError("no onnxruntime here")

    monkeypatch.setattr(runtime, "OnnxEngine", no_onnxruntime)
    monkeypatch.setenv("HFIMG_CACHE", str(tmp_path / "other-cache"))
    loaded = load_model(app.SLOTS["denoise"], model_dirs["denoise"])
    assert loaded.model is not None and loaded.error is None
    assert runtime.resolve_backend(loaded.model) == "fp32"
    assert app.parse_args(["--backend", "bf16"]).backend == "bf16"


def test_internal_error_is_a_short_message_and_a_log_entry(app, model_dirs, caplog, monkeypatch):
    handlers = app.Handlers(app.load_models(model_dirs))

    def broken(image, **options):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(handlers.models["denoise"].model, "restore", broken)
    with pytest.raises(app.gr.Error, match=r"Internal error \(RuntimeError\)"):
        handlers.restore(Image.new("RGB", (16, 16)), 0)
    assert "something inside broke" in caplog.text


def test_models_table_quotes_the_bundled_cards_figures(app, model_dirs):
    ids = {**model_dirs, "denoise": "hfimg/denoise-cnn-photos"}
    loaded = load_model(app.SLOTS["denoise"], ids["denoise"])
    results = model_card(loaded)[0].data.eval_results
    assert results  # the bundled card carries its benchmark figures
    row = app.models_table({"denoise": loaded}).splitlines()[2]
    assert f"{results[0].metric_name}: {results[0].metric_value:.4g}" in row


def test_method_controls_follow_the_method(app, model_dirs):
    handlers = app.Handlers(app.load_models(model_dirs))
    passes, search, label, gallery = handlers.method_controls("InpaintRCNN")
    assert passes.visible and gallery.visible and not search.visible and not label.visible
    passes, search, label, gallery = handlers.method_controls("VAE latent search")
    assert search.visible and not passes.visible and not label.visible  # the tiny VAE has no classes
    assert not any(control.visible for control in handlers.method_controls(None))  # a cleared radio
    assert not any(control.visible for control in handlers.method_controls("OpenCV Telea"))


def test_the_passes_gallery_says_what_the_loaded_recurrent_models_passes_show(app, model_dirs, tmp_path):
    captions = {}
    for schedule in ("rings", "refine"):
        folder = tmp_path / schedule
        tiny_model("inpaint-rcnn", schedule=schedule).save_pretrained(folder)
        handlers = app.Handlers(app.load_models({**model_dirs, "inpaint_rcnn": str(folder)}))
        captions[schedule] = handlers.method_controls("InpaintRCNN")[3].label
    assert captions["rings"] == "InpaintRCNN passes: the hole closes from its border inwards"
    assert captions["refine"] == "InpaintRCNN passes: the first pass fills the whole hole, each later one corrects it"
    from hfimg.demo.handlers import passes_caption

    assert passes_caption("InpaintRCNN", None) == "InpaintRCNN passes"  # its slot empty: no words on its passes


def test_a_class_conditional_generators_search_shows_the_class(app, model_dirs, tmp_path):
    conditional = tmp_path / "conditional-gan"
    kwargs = {"resolution": 32, "channels": 1, "latent_dim": 8, "base_channels": 4, "num_classes": 3}
    hfimg.create_model("dcgan", **kwargs).save_pretrained(conditional)
    handlers = app.Handlers(app.load_models({**model_dirs, "gan": str(conditional)}))
    passes, search, label, gallery = handlers.method_controls("GAN latent search")
    assert search.visible and label.visible and not passes.visible and not gallery.visible
    passes, search, label, gallery = handlers.method_controls("InpaintRCNN")
    assert not label.visible  # the class is for a search only


def test_an_unreadable_upload_is_named_by_its_file_name_not_the_servers_temporary_path(tmp_path, monkeypatch):
    import gradio as gr

    from hfimg.demo.files import check_upload, public_message

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    upload = tmp_path / "0f3a9c" / "holiday.png"
    upload.parent.mkdir()
    upload.write_bytes(b"not an image")
    with pytest.raises(gr.Error) as refused:
        check_upload(str(upload))
    assert "holiday.png" in refused.value.message and str(tmp_path) not in refused.value.message
    assert public_message(f"cannot open '{tmp_path}/x/y.png'.") == "cannot open 'y.png'."
    assert public_message("cannot open '/home/me/y.png'.") == "cannot open '/home/me/y.png'."  # not a server path


def test_the_slots_are_built_from_the_catalogues_learned_methods():
    from hfimg.demo import slots

    built = slots._slots()
    assert built == slots.SLOTS
    assert list(built) == ["gan", "vae", "inpaint_cnn", "inpaint_rcnn", "inpaint_fashion", "denoise"]
    assert built["gan"] == slots.Slot(
        "DCGAN generator", "HFIMG_GAN", "hfimg/dcgan-fashion-mnist", ("dcgan",), "generation, inpainting prior"
    )
    assert built["inpaint_cnn"] == slots.Slot(
        "InpaintCNN", "HFIMG_INPAINT_CNN", "hfimg/inpaint-cnn-photos", ("inpaint-cnn",), "inpainting"
    )
    assert built["inpaint_fashion"].task == "inpainting of garment images"
    assert built["denoise"] == slots.Slot(
        "Denoiser", "HFIMG_DENOISE", "hfimg/denoise-cnn-photos", ("denoise-cnn", "denoise-unet"), "denoising"
    )


def test_a_cards_headings_go_one_level_down_outside_code():
    from hfimg.demo.cards import demote_headings

    card = "# Title\n\ntext\n```bash\n# a comment, not a heading\n```\n## Part\n#hashtag"
    assert demote_headings(card) == ("## Title\n\ntext\n```bash\n# a comment, not a heading\n```\n### Part\n##hashtag")


def test_the_models_tab_shows_each_card_its_config_and_the_missing_ones(app, tmp_path):
    from hfimg.demo.cards import model_card_text, model_details, models_table
    from hfimg.demo.slots import LoadedModel

    folder = tmp_path / "denoiser"
    model = hfimg.create_model("denoise-cnn", channels=1, features=4, depth=3)
    model.save_pretrained(folder)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# My denoiser\n\n![look](look.png)\n")
    Image.new("L", (2, 2)).save(folder / "look.png")
    loaded = LoadedModel(app.SLOTS["denoise"], str(folder), model=model)
    text = model_card_text(loaded)
    assert text.startswith("## My denoiser") and "![look](data:image/png;base64," in text
    details = model_details(loaded)
    assert details.startswith('Config: `{"channels": 1, "depth": 3, "features": 4}`\n\n## My denoiser')
    missing = LoadedModel(app.SLOTS["gan"], "nobody/nothing", error="OSError: not found")
    assert model_details(missing) == "`nobody/nothing` is not available: OSError: not found"
    table = models_table({"denoise": loaded, "gan": missing}).splitlines()
    assert table[:2] == ["| Model | Id | Task | Class | Parameters | Headline figures |", "|---|---|---|---|---|---|"]
    assert table[2].startswith(f"| Denoiser | `{folder}` | denoising | `DenoiseCNN` | {model.num_parameters():,} |")
    assert table[3] == (
        "| DCGAN generator | `nobody/nothing` | generation, inpainting prior | not available | | OSError: not found |"
    )


def test_a_hub_models_card_is_read_from_the_hub_cache(app):
    from huggingface_hub import constants

    from hfimg.demo.cards import headline_figures, model_card
    from hfimg.demo.slots import LoadedModel

    name = f"denoiser-{uuid.uuid4().hex[:8]}"  # a repo of its own: the cache outlives one test
    repo = Path(constants.HF_HUB_CACHE) / f"models--someone--{name}"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    (snapshot / "README.md").write_text(
        "---\nmodel-index:\n- name: d\n  results:\n  - task: {type: image-denoising}\n"
        "    dataset: {type: x, name: x}\n    metrics:\n    - {type: psnr, name: PSNR a, value: 31.234}\n"
        "    - {type: psnr, name: PSNR b, value: 29.5}\n    - {type: ssim, name: SSIM c, value: 0.9}\n"
        "    - {type: ssim, name: SSIM d, value: 0.8}\n---\n# From the cache\n"
    )
    model = hfimg.create_model("denoise-cnn", channels=1, features=4, depth=3)
    loaded = LoadedModel(app.SLOTS["denoise"], f"someone/{name}", model=model)
    card, folder = model_card(loaded)
    assert folder == snapshot and card.text.strip() == "# From the cache"
    assert headline_figures(loaded) == "PSNR a: 31.23; PSNR b: 29.5; SSIM c: 0.9"  # the first three
    # The card is parsed once, and again when the file changes.
    assert model_card(loaded)[0] is card
    readme = snapshot / "README.md"
    readme.write_text(readme.read_text().replace("# From the cache", "# Changed"))
    os.utime(readme, ns=(readme.stat().st_atime_ns, readme.stat().st_mtime_ns + 10**9))
    assert model_card(loaded)[0].text.strip() == "# Changed"
    nowhere = LoadedModel(app.SLOTS["denoise"], "someone/else", model=model)
    assert model_card(nowhere)[1] is None  # not cached: the card the model writes from its config


def test_a_tab_names_each_model_it_could_not_load_and_nothing_else(app, model_dirs):
    from hfimg.demo.slots import LoadedModel, availability_note

    gan = LoadedModel(app.SLOTS["gan"], "a/gan", error="OSError: gone")
    vae = LoadedModel(app.SLOTS["vae"], "a/vae", error="ValueError: broken")
    loaded = LoadedModel(app.SLOTS["denoise"], "a/denoiser", model=hfimg.create_model("denoise-cnn", depth=3))
    models = {"gan": gan, "vae": vae, "denoise": loaded}
    assert availability_note(models, ["denoise"]) == ""
    assert availability_note(models, ["gan", "vae", "denoise"]) == (
        "⚠️ **DCGAN generator** (`a/gan`) is not available: OSError: gone\n"
        "⚠️ **Convolutional VAE** (`a/vae`) is not available: ValueError: broken"
    )


def test_a_path_under_gradios_own_temporary_folder_is_cut_to_its_file_name(tmp_path, monkeypatch):
    from hfimg.demo.files import public_message

    uploads = tmp_path / "gradio-uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    # The system's temporary folder elsewhere, so that only GRADIO_TEMP_DIR can cover the upload's path.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "system-temporary"))
    inside = uploads.resolve() / "0a1b2c" / "holiday.png"
    assert public_message(f"image: '{inside}' is not readable") == "image: 'holiday.png' is not readable"
    system = tmp_path.resolve() / "system-temporary" / "0d4e5f" / "scan.png"
    assert public_message(f"image: '{system}' is not readable") == "image: 'scan.png' is not readable"
    mine = tmp_path.resolve() / "not-a-temporary-folder" / "mine.png"  # under neither: kept whole
    assert public_message(f"see {mine}") == f"see {mine}"


def test_every_image_a_handler_returns_goes_out_as_a_png_file_also_inside_tuples_and_lists():
    from hfimg.demo.files import png_outputs

    first, second = Image.new("RGB", (4, 3), (10, 20, 30)), Image.new("L", (2, 2), 200)
    out = png_outputs(lambda: (first, [second, "text"], 7))()
    assert isinstance(out, tuple) and isinstance(out[1], list) and out[1][1] == "text" and out[2] == 7
    assert np.array_equal(np.asarray(Image.open(out[0])), np.asarray(first))
    assert np.array_equal(np.asarray(Image.open(out[1][0])), np.asarray(second))
    assert Image.open(out[0]).format == "PNG"


def test_seed_and_generator_refusals_say_what_to_do(app, model_dirs):
    from hfimg.demo.handlers import MAX_SEED, check_label, check_seed

    assert check_seed(-5) == 0 and check_seed(2.6) == 3 and check_seed(10**12) == MAX_SEED
    whole = rf"^'?Enter a seed \(a whole number from 0 to {MAX_SEED}\), or click Random\.'?$"  # gr.Error quotes it
    with pytest.raises(app.gr.Error, match=whole):
        check_seed(None)
    with pytest.raises(app.gr.Error, match=r"^'?Enter a seed B \(a whole number"):
        check_seed(None, "seed B")
    handlers = app.Handlers(app.load_models(model_dirs))
    with pytest.raises(app.gr.Error, match=r"^[\"']?Unknown generator 'diffusion'; choose one of GAN, VAE\.[\"']?$"):
        handlers.generate("diffusion", 4, 0)
    label = r"^'?This GAN is class-conditional: choose the class of the image \(Class\), then click Inpaint\.'?$"
    for missing in (None, -1):
        with pytest.raises(app.gr.Error, match=label):
            check_label(missing)
    assert check_label(3) == 3


def test_an_unreadable_upload_still_offers_every_method(app, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    radio, note = app.Handlers.offer_methods({"background": {"path": str(broken)}}, "OpenCV Telea")
    assert list(radio.choices) == [(name, name) for name in app.METHODS] or radio.choices == app.METHODS
    assert radio.value == "OpenCV Telea" and note == ""


def test_a_mask_layer_takes_the_colours_rgb_and_is_opaque_where_the_hole_is():
    mask = np.zeros((4, 5), dtype=np.uint8)
    mask[1:3, 2:4] = 255
    for colour in ("#39ff14", "#ff000080"):  # a colour with an alpha of its own too: the layer is opaque anyway
        layer = np.asarray(mask_layer(Image.fromarray(mask), colour))
        rgb = (57, 255, 20) if colour == "#39ff14" else (255, 0, 0)
        assert (layer[1:3, 2:4] == (*rgb, 255)).all() and (layer[mask == 0] == 0).all()


def test_an_upload_that_needs_fixing_is_rewritten_as_an_upright_8_bit_png_beside_it(tmp_path):
    from hfimg.demo.files import normalised_upload

    fine = tmp_path / "fine.png"
    Image.new("RGB", (6, 4), (10, 20, 30)).save(fine)
    assert normalised_upload(str(fine)) == str(fine)  # 8-bit and upright: used as it is
    deep = tmp_path / "deep.tif"
    Image.fromarray(np.full((4, 6), 40000, dtype=np.uint16)).save(deep)  # 16 bits: gradio would clip it to white
    fixed = normalised_upload(str(deep))
    assert fixed == str(tmp_path / "deep-upright-8bit.png")  # beside the upload, named for what was done
    with Image.open(fixed) as image:
        assert image.format == "PNG" and image.mode == "L" and image.getpixel((0, 0)) == round(40000 / 65535 * 255)


def test_a_result_png_goes_into_a_cache_folder_made_on_demand_under_one_name(tmp_path, monkeypatch):
    import hashlib

    from hfimg.demo import files

    root = tmp_path / "not" / "made" / "yet"
    monkeypatch.setattr(files.gradio_utils, "get_upload_folder", lambda: str(root))
    image = Image.new("RGB", (5, 3), (200, 100, 50))
    path = Path(files.save_png_to_cache(image))
    assert path.name == "image.png" and path.parent.parent == root  # a download is called image.png
    assert path.parent.name == hashlib.sha256(path.read_bytes()).hexdigest()  # named by its content
    with Image.open(path) as written:
        assert written.format == "PNG" and np.array_equal(np.asarray(written), np.asarray(image))
    assert files.save_png_to_cache(image) == str(path) and [p.name for p in path.parent.iterdir()] == ["image.png"]


def test_an_upload_is_refused_above_the_pixel_limit_not_at_it_whether_a_file_or_bytes(tmp_path, monkeypatch):
    import io

    import gradio as gr

    from hfimg.demo import files

    def png(width: int, height: int) -> bytes:
        buffer = io.BytesIO()
        Image.new("L", (width, height)).save(buffer, format="PNG")
        return buffer.getvalue()

    # Sizes on a half megapixel, where the message's rounding shows a wrong unit (1.5 rounds to 2, 1.4999 to 1).
    cases = [  # (limit, width, height, message or None = taken)
        (1_500_000, 1500, 1000, None),  # at the limit: taken
        (1_500_000, 1501, 1000, "The image is 1501x1000 (2 megapixels); this demo takes up to 2 megapixels."),
        (1_000_000, 1500, 1000, "The image is 1500x1000 (2 megapixels); this demo takes up to 1 megapixels."),
    ]
    for limit, width, height, message in cases:
        monkeypatch.setattr(files, "MAX_PIXELS", limit)
        data = png(width, height)
        (tmp_path / "up.png").write_bytes(data)
        for source in (str(tmp_path / "up.png"), data):
            if message is None:
                assert files.check_upload(source) is None
                continue
            with pytest.raises(gr.Error) as error:
                files.check_upload(source)
            assert error.value.message == message + " Scale it down and upload it again."
    with pytest.raises(gr.Error) as error:
        files.check_upload(b"not an image")
    assert error.value.message.startswith("The upload is not an image that can be read (")
    assert error.value.message.endswith("). Upload a PNG, JPEG or WEBP file.")

"""The demo in a real browser: Debian's chromium driven by playwright uploads a photo, paints a stroke on the image
editor's canvas with the mouse (or uploads a mask), switches methods, clicks Inpaint and checks the result image that
comes back; and an error, then the recovery after it.

Needs `apt-get install chromium` (playwright's own browser download is not used).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hfimg

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.browser
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # app.py lives at the top of the repo, outside the package

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Each wait below is for a signal of the page itself (the upload prompt, the canvas, the result image, a toast); this
# ceiling only ends a wait that would never end. Chromium draws the editor with software WebGL, which on a 2-core
# machine busy with other work can take minutes: 90 s was measured too short there.
READY = 600_000  # ms
TINY_MODELS = {  # slot -> (registry name, kwargs)
    "gan": ("dcgan", {"resolution": 32, "channels": 1, "latent_dim": 8, "base_channels": 4}),
    "vae": ("vae", {"resolution": 32, "channels": 1, "latent_dim": 4, "base_channels": 4}),
    "inpaint_cnn": ("inpaint-cnn", {"channels": 3, "base_channels": 4, "depth": 2, "dilations": [1, 2]}),
    "inpaint_rcnn": ("inpaint-rcnn", {"channels": 3, "base_channels": 4, "iterations": 3, "depth": 2}),
    "inpaint_fashion": ("inpaint-cnn", {"channels": 1, "base_channels": 4, "depth": 2, "dilations": [1, 2]}),
    "denoise": ("denoise-cnn", {"channels": 3, "features": 4, "depth": 3}),
}


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    ids = {}
    for slot, (name, kwargs) in TINY_MODELS.items():
        ids[slot] = str(root / slot)
        hfimg.create_model(name, **kwargs).save_pretrained(ids[slot])
    with pytest.MonkeyPatch.context() as env:  # app.py loads the models named by the environment on import
        for slot, path in ids.items():
            env.setenv("HFIMG_" + slot.upper(), path)
        import app

    demo = app.build_demo(app.load_models(ids))
    demo.launch(prevent_thread_lock=True, quiet=True, **app.LAUNCH_OPTIONS)
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def page():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1000})
        finally:
            browser.close()


def open_inpaint_tab(page, url: str):
    """Open the demo's Inpaint tab and wait until the image editor takes a file; returns its upload prompt.

    The editor shows its prompt before its drawing canvas exists, and a file given before the canvas is lost: the
    canvas (two of them, drawn by PixiJS) is the signal that the editor is ready."""
    page.goto(url)
    page.get_by_role("tab", name="Inpaint").click()
    prompt = page.locator("#editor").get_by_text("Upload an image")
    prompt.wait_for(state="visible", timeout=READY)
    page.locator("#editor canvas").first.wait_for(state="attached", timeout=READY)
    return prompt


def test_paint_a_stroke_and_inpaint(demo_url, page, tmp_path):
    photo = np.asarray(Image.open(ROOT / "examples" / "coffee.png").convert("RGB"))
    upload = tmp_path / "upload.png"
    Image.fromarray(photo).save(upload)

    prompt = open_inpaint_tab(page, demo_url)
    page.locator("#editor input[type=file]").set_input_files(str(upload))
    prompt.wait_for(state="hidden", timeout=READY)  # the photo is on the canvas
    canvas = page.locator("#editor canvas").first
    canvas.wait_for(state="visible", timeout=READY)

    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + box["width"] * 0.1, y + box["height"] * 0.05, steps=4)  # each step is slow: keep few
    page.mouse.up()

    filled = inpaint_and_fetch(page, tmp_path / "inpaint.png")
    assert filled.shape == photo.shape  # the photo's own size, not the canvas's
    changed = np.any(filled != photo, axis=-1)
    assert 0 < changed.mean() < 0.2  # the painted stroke was filled, the rest is untouched


def test_inpaint_without_an_image_shows_what_to_do(demo_url, page):
    page.goto(demo_url)
    page.get_by_role("tab", name="Inpaint").click()
    page.locator("#inpaint-button").click()
    page.get_by_text("Upload an image first").first.wait_for(state="visible", timeout=READY)  # a toast, no trace
    assert page.get_by_text("Traceback").count() == 0


def inpaint_and_fetch(page, screenshot: Path) -> np.ndarray:
    """Click Inpaint, wait for the result image (a screenshot of the page is kept for a failure) and fetch it."""
    page.locator("#inpaint-button").click()
    result = page.locator("#inpaint-result img")
    try:
        result.wait_for(state="visible", timeout=READY)
    finally:
        page.screenshot(path=str(screenshot), full_page=True)
        print(f"screenshot: {screenshot}")
    response = page.request.get(result.get_attribute("src"))
    assert response.ok
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


def test_error_then_mask_upload_method_switch_and_recovery(demo_url, page, tmp_path):
    photo = np.asarray(Image.open(ROOT / "examples" / "chelsea.png").convert("RGB"))
    Image.fromarray(photo).save(tmp_path / "upload.png")
    mask = np.zeros(photo.shape[:2], dtype=np.uint8)
    mask[60:90, 100:150] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    prompt = open_inpaint_tab(page, demo_url)

    # An error: Inpaint before any upload. The result panel shows gradio's error badge...
    page.locator("#inpaint-button").click()
    page.get_by_text("Upload an image first").first.wait_for(state="visible", timeout=READY)
    badge = page.locator("#inpaint-result .error")
    badge.first.wait_for(state="visible", timeout=READY)

    # ... until a new image comes: the badge goes.
    page.locator("#editor input[type=file]").set_input_files(str(tmp_path / "upload.png"))
    prompt.wait_for(state="hidden", timeout=READY)
    badge.first.wait_for(state="hidden", timeout=READY)

    # A mask uploaded instead of painted.
    page.get_by_text("Or upload a mask").click()
    mask_input = page.locator("#mask-upload input[type=file]")
    mask_input.wait_for(state="attached", timeout=READY)
    mask_input.set_input_files(str(tmp_path / "mask.png"))
    page.locator("#mask-upload img").first.wait_for(state="visible", timeout=READY)  # the mask is in place

    # A garment method on a photo is refused with the reason, and taken off the list for this image.
    method = page.locator("#method")
    method.get_by_label("GAN latent search").check()
    page.locator("#inpaint-button").click()
    page.locator("#methods-note").get_by_text("off for this 256x170 image").wait_for(state="visible", timeout=READY)
    assert method.get_by_label("GAN latent search").count() == 0
    assert method.get_by_label("InpaintCNN", exact=True).is_checked()

    # A method switch, and the recovery: the result comes back and the badge goes.
    method.get_by_label("OpenCV Telea").check()
    filled = inpaint_and_fetch(page, tmp_path / "recovered.png")
    assert badge.count() == 0
    changed = np.any(filled != photo, axis=-1)
    assert changed[mask > 0].mean() > 0.5 and not changed[mask == 0].any()  # Telea filled the uploaded mask only

"""The demo in a real browser: Debian's chromium driven by playwright uploads a photo, paints a stroke on the image
editor's canvas with the mouse, clicks Inpaint and checks the result image that comes back.

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


def test_paint_a_stroke_and_inpaint(demo_url, page, tmp_path):
    photo = np.asarray(Image.open(ROOT / "examples" / "coffee.png").convert("RGB"))
    upload = tmp_path / "upload.png"
    Image.fromarray(photo).save(upload)

    page.goto(demo_url)
    page.get_by_role("tab", name="Inpaint").click()
    prompt = page.locator("#editor").get_by_text("Upload an image")
    prompt.wait_for(state="visible", timeout=READY)  # the editor is ready for a file
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

    page.locator("#inpaint-button").click()
    result = page.locator("#inpaint-result img")
    try:
        result.wait_for(state="visible", timeout=READY)
    finally:
        page.screenshot(path=str(tmp_path / "inpaint.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'inpaint.png'}")

    response = page.request.get(result.get_attribute("src"))
    assert response.ok
    filled = np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))
    assert filled.shape == photo.shape  # the photo's own size, not the canvas's
    changed = np.any(filled != photo, axis=-1)
    assert 0 < changed.mean() < 0.2  # the painted stroke was filled, the rest is untouched


def test_inpaint_without_an_image_shows_what_to_do(demo_url, page):
    page.goto(demo_url)
    page.get_by_role("tab", name="Inpaint").click()
    page.locator("#inpaint-button").click()
    page.get_by_text("Upload an image first").first.wait_for(state="visible", timeout=READY)  # a toast, no trace
    assert page.get_by_text("Traceback").count() == 0

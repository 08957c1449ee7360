"""The demo in a real browser: Debian's chromium driven by playwright uploads a photo, paints a stroke on the image
editor's canvas with the mouse (or uploads a mask), switches methods, clicks Inpaint and checks the result image that
comes back; and an error, then the recovery after it.

And the demo as people look at it, measured in the page: the Models table's words and numbers whole at desktop width,
a small garment result enlarged with square pixels, an example's mask shown in the editor, the before/after slider
showing the whole image, and the editor's toolbar clear of its label on a phone. Each of these keeps a screenshot in
$HFIMG_TEST_ARTIFACTS (else the test's tmp_path), whose path it prints.

Needs `apt-get install chromium` (playwright's own browser download is not used).
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny import slot_models

import hfimg
from hfimg.demo.slots import SLOTS
from hfimg.registry import local_folder

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
TINY_MODELS = slot_models()  # slot -> (registry name, kwargs): a few thousand parameters each


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    ids = {}
    for slot, (name, kwargs) in TINY_MODELS.items():
        ids[slot] = str(root / slot)
        hfimg.create_model(name, **kwargs).save_pretrained(ids[slot])
        # The bundled model's card (and its images) beside the tiny weights: the Models tab then shows the real
        # headline figures, whose length is what squeezes the table's other columns.
        for file in local_folder(SLOTS[slot].default).iterdir():
            if file.suffix in (".md", ".png"):
                shutil.copy(file, ids[slot])
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


# --- the demo as people look at it: measured in the page, each with a screenshot kept --------------------------------

PHONE = {"width": 390, "height": 844}  # a phone's CSS viewport (iPhone 12 to 15)
GARMENT_SIDE = 64  # a small garment image: the Fashion-MNIST methods take up to GARMENT_MAX_SIDE (128) px
BRUSH_RGB = (0x39, 0xFF, 0x14)  # app.BRUSH_COLOUR, the colour an example's mask is shown in


@pytest.fixture
def artefacts(tmp_path) -> Path:
    """Where the screenshots go: $HFIMG_TEST_ARTIFACTS when set (kept after the run), else the test's tmp_path."""
    folder = Path(os.environ.get("HFIMG_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def keep_screenshot(target, path: Path, **options) -> Path:
    """Screenshot a page or an element to `path` (taken before the assertions, so a failure keeps what it saw)."""
    target.screenshot(path=str(path), **options)
    print(f"screenshot: {path}")
    return path


def wait_until_loaded(page, image) -> None:
    """Wait until an <img> is visible and decoded: its natural size is known only then."""
    image.wait_for(state="visible", timeout=READY)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=READY)


# Every line break inside a table cell that falls inside a word: between two characters with no space between them
# and none of the characters a line may break after ('-', '/'). Found by the position of each character on the page,
# so it measures what the visitor sees, whatever the CSS that caused it.
MID_WORD_BREAKS = """table => {
    const breaks = [];
    for (const cell of table.querySelectorAll("th, td")) {
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        let previous = null, space = false;
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (let i = 0; i < node.data.length; i++) {
                const char = node.data[i];
                if (/\\s/.test(char)) { space = true; continue; }
                const range = document.createRange();
                range.setStart(node, i);
                range.setEnd(node, i + 1);
                const rect = range.getBoundingClientRect();
                if (rect.width === 0 && rect.height === 0) continue;
                const newLine = previous && rect.top > previous.top + previous.height / 2;
                if (newLine && !space && !"-/".includes(previous.char))
                    breaks.push(`${cell.innerText.trim()}: broken between '${previous.char}' and '${char}'`);
                previous = {char, top: rect.top, height: rect.height};
                space = false;
            }
        }
    }
    return breaks;
}"""


def test_models_table_keeps_words_and_numbers_whole_at_desktop_width(demo_url, page, artefacts):
    page.goto(demo_url)
    page.get_by_role("tab", name="Models").click()
    table = page.locator("#models-table table")
    table.wait_for(state="visible", timeout=READY)
    keep_screenshot(table, artefacts / "models-table-1280.png")

    assert "PSNR" in table.inner_text()  # the real cards' headline figures are there: the table is at its widest
    assert table.evaluate(MID_WORD_BREAKS) == []
    # Kept whole without running off the page: the table ends inside its component, the page does not scroll sideways.
    right = "t => t.getBoundingClientRect().right - t.closest('#models-table').getBoundingClientRect().right"
    assert table.evaluate(right) <= 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


# Where an <img> shows its picture, and how: the rectangle the picture fills inside the element's box as its
# object-fit places it (centred: object-position's default, checked), its natural size, its image-rendering, and the
# part of the page that shows it (the component's box, cut by every ancestor between them that clips its overflow).
SHOWN = """(img, component) => {
    const box = img.getBoundingClientRect(), style = getComputedStyle(img);
    const [w, h] = [img.naturalWidth, img.naturalHeight];
    let [sx, sy] = [box.width / w, box.height / h];
    const fit = style.objectFit;
    if (fit === "contain") sx = sy = Math.min(sx, sy);
    else if (fit === "cover") sx = sy = Math.max(sx, sy);
    else if (fit === "scale-down") sx = sy = Math.min(1, sx, sy);
    else if (fit === "none") sx = sy = 1;
    const [width, height] = [w * sx, h * sy];
    const left = box.x + (box.width - width) / 2, top = box.y + (box.height - height) / 2;
    const outer = component.getBoundingClientRect();
    let view = {left: outer.left, top: outer.top, right: outer.right, bottom: outer.bottom};
    for (let e = img.parentElement; e && e !== component; e = e.parentElement) {
        const s = getComputedStyle(e);
        if (s.overflowX === "visible" && s.overflowY === "visible") continue;
        const r = e.getBoundingClientRect();
        view = {left: Math.max(view.left, r.left), top: Math.max(view.top, r.top),
                right: Math.min(view.right, r.right), bottom: Math.min(view.bottom, r.bottom)};
    }
    return {natural: [w, h], rendering: style.imageRendering, position: style.objectPosition,
            shown: {left, top, right: left + width, bottom: top + height, width, height},
            view, component: [outer.width, outer.height]};
}"""


def shown(image, component) -> dict:
    """SHOWN for an <img> locator inside a component's locator."""
    geometry = image.evaluate(SHOWN, component.element_handle())
    assert geometry["position"] == "50% 50%"  # SHOWN centres the picture in its box, as this default does
    return geometry


def inpaint_a_small_garment(page, url: str, folder: Path, method: str):
    """Upload a GARMENT_SIDE px grey garment and a mask, inpaint it with `method` and wait for the result image and
    the before/after slider's images to load; returns the result panel and the slider (locators)."""
    shirt = Image.open(ROOT / "examples" / "shirt.png").resize((GARMENT_SIDE, GARMENT_SIDE), Image.Resampling.LANCZOS)
    shirt.save(folder / "garment.png")
    mask = np.zeros((GARMENT_SIDE, GARMENT_SIDE), dtype=np.uint8)
    mask[30:44, 28:36] = 255
    Image.fromarray(mask).save(folder / "garment_mask.png")

    prompt = open_inpaint_tab(page, url)
    page.locator("#editor input[type=file]").set_input_files(str(folder / "garment.png"))
    prompt.wait_for(state="hidden", timeout=READY)
    page.get_by_text("Or upload a mask").click()
    mask_input = page.locator("#mask-upload input[type=file]")
    mask_input.wait_for(state="attached", timeout=READY)
    mask_input.set_input_files(str(folder / "garment_mask.png"))
    page.locator("#mask-upload img").first.wait_for(state="visible", timeout=READY)
    page.locator("#method").get_by_label(method, exact=True).check()
    page.locator("#inpaint-button").click()

    result, slider = page.locator("#inpaint-result"), page.locator("#before-after")
    wait_until_loaded(page, result.locator("img"))
    for image in slider.locator("img").all():
        wait_until_loaded(page, image)
    return result, slider


def test_a_small_garment_result_fills_its_panel_in_square_pixels(demo_url, page, tmp_path, artefacts):
    result, slider = inpaint_a_small_garment(page, demo_url, tmp_path, "InpaintCNN (Fashion-MNIST)")
    result.scroll_into_view_if_needed()
    keep_screenshot(result, artefacts / "small-garment-result.png")
    keep_screenshot(slider, artefacts / "small-garment-before-after.png")

    panels = [(result, result.locator("img")), *((slider, image) for image in slider.locator("img").all())]
    for panel, image in panels:
        geometry = shown(image, panel)
        assert geometry["natural"] == [GARMENT_SIDE, GARMENT_SIDE]
        # Enlarged (a 64 px image at its own size is a stamp in a 400 px panel)...
        assert geometry["shown"]["width"] >= 4 * GARMENT_SIDE, geometry
        # ... to the panel's full height or width, whichever is reached first...
        width, height = geometry["component"]
        assert max(geometry["shown"]["width"] / width, geometry["shown"]["height"] / height) > 0.9, geometry
        # ... with nearest-neighbour scaling: each pixel a sharp square, not a blur.
        assert geometry["rendering"] == "pixelated", geometry


def test_a_small_generated_image_fills_its_panel_in_square_pixels(demo_url, page, artefacts):
    page.goto(demo_url)
    number = page.get_by_label("number input for Number of images")  # the slider's number box
    number.wait_for(state="visible", timeout=READY)
    number.fill("1")
    number.press("Enter")
    page.get_by_role("button", name="Generate", exact=True).click()
    grid = page.locator("#samples")
    image = grid.locator("img")
    wait_until_loaded(page, image)
    keep_screenshot(grid, artefacts / "small-generated-image.png")

    geometry = shown(image, grid)
    resolution = TINY_MODELS["gan"][1]["resolution"]
    assert geometry["natural"] == [resolution, resolution]  # one image: no padding around it
    width, height = geometry["component"]
    assert geometry["shown"]["width"] >= 4 * resolution, geometry
    assert max(geometry["shown"]["width"] / width, geometry["shown"]["height"] / height) > 0.9, geometry
    assert geometry["rendering"] == "pixelated", geometry


def test_before_after_slider_shows_the_whole_result(demo_url, page, tmp_path, artefacts):
    _, slider = inpaint_a_small_garment(page, demo_url, tmp_path, "OpenCV Telea")
    slider.scroll_into_view_if_needed()
    keep_screenshot(slider, artefacts / "before-after-slider.png")

    images = slider.locator("img").all()
    assert len(images) == 2  # before and after
    for image in images:
        geometry = shown(image, slider)
        picture, view = geometry["shown"], geometry["view"]
        assert geometry["natural"] == [GARMENT_SIDE, GARMENT_SIDE]
        assert picture["width"] / picture["height"] == pytest.approx(1, rel=0.01), geometry  # the result's shape
        # All of it inside the part of the page that shows it (1 px for sub-pixel layout), none cut off...
        assert picture["left"] >= view["left"] - 1 and picture["right"] <= view["right"] + 1, geometry
        assert picture["top"] >= view["top"] - 1 and picture["bottom"] <= view["bottom"] + 1, geometry
        # ... and not shrunk out of sight to get there: it reaches the component's height or width.
        width, height = geometry["component"]
        assert max(picture["width"] / width, picture["height"] / height) > 0.9, geometry


def brush_shape(editor) -> tuple[int, int, int]:
    """What the editor's screenshot shows in the brush's colour (an example's mask, as the editor shows it): how many
    pixels, and the width and height of the box around them. Its toolbars are left out: their colour button shows the
    brush's colour too."""
    pixels = np.asarray(Image.open(io.BytesIO(editor.screenshot())).convert("RGB"), dtype=np.int16)
    brush = np.abs(pixels - np.array(BRUSH_RGB)).max(axis=-1) <= 40
    origin = editor.bounding_box()
    for toolbar in editor.locator(".toolbar-wrap, .top-panel").all():
        if (box := toolbar.bounding_box()) is not None:
            left, top = int(box["x"] - origin["x"]), int(box["y"] - origin["y"])
            brush[max(top, 0) : top + int(box["height"]) + 2, max(left, 0) : left + int(box["width"]) + 2] = False
    rows, columns = np.nonzero(brush)
    if rows.size == 0:
        return 0, 0, 0
    return rows.size, int(np.ptp(columns)) + 1, int(np.ptp(rows)) + 1


def test_an_examples_mask_is_shown_in_the_editor(demo_url, page, artefacts):
    mask = np.asarray(Image.open(ROOT / "examples" / "shirt_mask.png").convert("L")) >= 128
    rows, columns = np.nonzero(mask)
    prompt = open_inpaint_tab(page, demo_url)
    page.locator("#inpaint-examples").get_by_text("GAN latent search").click()  # the shirt and its mask
    prompt.wait_for(state="hidden", timeout=READY)
    editor = page.locator("#editor")
    zoom = editor.locator(".zoom-number")
    zoom.wait_for(state="visible", timeout=READY)

    def mask_on_screen() -> tuple[tuple[int, int, int], tuple[float, float, float]]:
        """The brush-coloured pixels (count, width, height) and the mask's, scaled by the editor's zoom."""
        scale = float(zoom.inner_text().strip().rstrip("%")) / 100  # image pixels -> screen pixels
        wanted = (mask.sum() * scale**2, (np.ptp(columns) + 1) * scale, (np.ptp(rows) + 1) * scale)
        return brush_shape(editor), wanted

    def matches(found: tuple[int, int, int], wanted: tuple[float, float, float]) -> bool:
        # The mask's area and its box, in the brush's colour (a little off at its anti-aliased edges).
        return 0.7 * wanted[0] < found[0] < 1.3 * wanted[0] and all(
            abs(side - want) <= 0.1 * want + 3 for side, want in zip(found[1:], wanted[1:], strict=True)
        )

    # The mask arrives on the canvas after the image (drawn by WebGL: nothing in the page says when), and the editor
    # re-adds both a few times as it settles; so it is looked at until it shows the mask, up to the READY ceiling.
    # The shirt is grey on black: nothing else on the canvas has the brush's colour.
    deadline = time.monotonic() + READY / 1000
    while not matches(*(seen := mask_on_screen())) and time.monotonic() < deadline:
        page.wait_for_timeout(500)  # a poll's interval, not a wait for something
    keep_screenshot(editor, artefacts / "example-mask-in-editor.png")
    assert matches(*seen), seen


def test_editor_toolbar_clears_its_label_on_a_phone(demo_url, page, artefacts):
    phone = page.context.browser.new_page(viewport=PHONE)
    try:
        prompt = open_inpaint_tab(phone, demo_url)
        phone.locator("#editor input[type=file]").set_input_files(str(ROOT / "examples" / "coffee.png"))
        prompt.wait_for(state="hidden", timeout=READY)
        editor = phone.locator("#editor")
        label, toolbar = editor.locator("label").first, editor.locator(".top-panel")
        toolbar.wait_for(state="visible", timeout=READY)
        keep_screenshot(editor, artefacts / "editor-on-a-phone.png")

        a, b = label.bounding_box(), toolbar.bounding_box()
        assert a["width"] > 0 and b["width"] > 0 and a["height"] > 0 and b["height"] > 0
        apart = (
            a["x"] + a["width"] <= b["x"]
            or b["x"] + b["width"] <= a["x"]
            or a["y"] + a["height"] <= b["y"]
            or b["y"] + b["height"] <= a["y"]
        )
        assert apart, (a, b)
    finally:
        phone.close()

"""hfimg demo: generate, inpaint and restore images with classic deep models, on a CPU, offline.

    python app.py                                  # http://127.0.0.1:7860
    python app.py --gan path/to/folder --inpaint-cnn org/name   # any model replaced

Each model is a bundled id (hfimg/...), a folder written by `save_pretrained`, or a Hub repo id; each slot's
environment variable (HFIMG_GAN, HFIMG_VAE, HFIMG_INPAINT_CNN, ..., HFIMG_DENOISE: `python app.py --help` lists
them) sets it too (flags win). The inpainting and restore methods are those of hfimg.catalogue.
A model that cannot be loaded is reported in its tab instead of stopping the app. Host and port follow gradio's
own GRADIO_SERVER_NAME / GRADIO_SERVER_PORT. Importing this module builds `demo` without serving it.

The networks run on hfimg's default inference backend ("auto": bf16 + channels_last where the CPU has native bf16,
else fp32 in channels_last, if the model keeps its fp32 output, else fp32); `--backend fp32|fp32-cl|bf16|onnxruntime`
or HFIMG_BACKEND picks another.
Each model's backend is prepared at start (an onnxruntime export, the bf16 check), not at the first request.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gradio as gr

from hfimg import runtime
from hfimg.catalogue import method_spec
from hfimg.demo.cards import model_details, models_table
from hfimg.demo.editor import mask_layer
from hfimg.demo.files import checked_editor, checked_image, decode_errors, png_outputs
from hfimg.demo.handlers import GARMENT_METHODS, METHODS, RESTORE_METHODS, Handlers, passes_caption
from hfimg.demo.limits import (
    CLASSICAL_RESTORE_MAX_PIXELS,
    ENSEMBLE_MAX_PIXELS,
    MAX_FRAMES,
    MAX_IMAGES,
    MAX_PIXELS,
    MAX_SEARCH_STEPS,
    MAX_SEED,
    MAX_UPLOAD_MB,
)
from hfimg.demo.slots import (
    GENERATORS,
    INPAINT_SLOTS,
    SLOTS,
    LoadedModel,
    availability_note,
    class_choices,
    load_models,
    model_ids,
)
from hfimg.inpainting import WORK_MAX_SIDE

CONCURRENCY = 2  # requests computed at once, over all tabs together (2 CPU cores); the rest wait in the queue
SHARED_QUEUE = {"concurrency_limit": CONCURRENCY, "concurrency_id": "models"}  # one limit for every model event
QUEUE_SIZE = 32  # requests waiting beyond this are turned away with "queue full"
# gradio's "auto" brush is 25 px whatever the image (a quarter of a 256 px photo's height in three strokes); 10 px
# suits the demo's photos (256-512 px), and the editor's size slider changes it.
BRUSH_SIZE = 10
BRUSH_COLOUR = "#39ff14"  # bright green: visible on photos and on dark Fashion-MNIST-like images
# The editor's blank canvas, which takes each upload's size. gradio sizes a layer given with the image (an example's
# mask) by everything on the canvas, the blank one's leftovers included: at the default 800x800 it places the mask of
# a 112 px image in the middle of an 800 px layer, out of sight; a canvas smaller than any example keeps it in place.
EDITOR_CANVAS = (16, 16)
EXAMPLES_DIR = Path(__file__).parent / "examples"

# .pixelated: small images (28-64 px garments, 32 px samples) enlarged to fill their panel, each pixel a sharp square
# (gradio shows an image at most at its own size, and smooths what it enlarges); given to the panels of results too,
# where the pixels the models filled in are what is judged. Its height (the panel's) also keeps gr.ImageSlider, which
# sizes its images by their width up to 500 px, from cutting off the bottom of a square image in a 400 px panel.
# #models-table: gradio's prose lets a table break words anywhere, which at 1280 px squeezed the columns beside the
# long headline figures until "Parameters" and "Convolutional" broke mid-word; words and numbers now stay whole.
# #editor: its zoom / undo / clear toolbar sits at the top right, on the label's line, which it covers where the
# editor is narrower than the two (~250 px of label, ~180 px of toolbar): below ~1000 px of window, as two columns or
# stacked on a phone. There the toolbar moves to the bottom right. (A @media rule: gradio drops @container from css.)
CSS = """
.pixelated img { image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }
#models-table th, #models-table td { overflow-wrap: normal; word-break: normal; }
@media (max-width: 1000px) { #editor .top-panel { top: auto; bottom: var(--block-label-margin); } }
"""
LAUNCH_OPTIONS: dict[str, Any] = {"max_file_size": f"{MAX_UPLOAD_MB}mb", "css": CSS, "theme": gr.themes.Soft()}


class CheckedImage(gr.Image):
    """gr.Image that checks an upload (readable, not too large) before gradio decodes it."""

    is_template = True  # drawn by gr.Image's own frontend

    @decode_errors
    def preprocess(self, payload):
        return super().preprocess(checked_image(payload))


class CheckedImageEditor(gr.ImageEditor):
    """gr.ImageEditor that checks the uploaded background (readable, not too large) before gradio decodes it."""

    is_template = True  # drawn by gr.ImageEditor's own frontend

    @decode_errors
    def preprocess(self, payload):
        return super().preprocess(checked_editor(payload))


class ClassDropdown(gr.Dropdown):
    """gr.Dropdown of a generator's classes, whose values are ints (-1 = none / every class in turn).

    gradio documents every dropdown value as a string (here '-1') and then refuses the string, which is not one of
    the int choices. The API documents an int here, and a choice sent as its text ('-1', '3') is read as that int.
    """

    is_template = True  # drawn by gr.Dropdown's own frontend

    def api_info(self) -> dict[str, Any]:
        choices = ", ".join(f"{value} = {name}" for name, value in self.choices)
        return {"type": "integer", "description": f"the class: {choices}"}

    def preprocess(self, payload):
        if isinstance(payload, str) and payload.strip().lstrip("-").isdigit():
            payload = int(payload)
        return super().preprocess(payload)


# --- the layout and its wiring (handlers, uploads, model slots and cards live in hfimg.demo) -----------------------


def example_file(name: str) -> str:
    return str(EXAMPLES_DIR / name)


def inpaint_name(method_id: str) -> str:
    """The name the demo shows for an inpainting method of the catalogue, e.g. "telea" -> "OpenCV Telea"."""
    return method_spec(method_id, "inpaint").name


def editor_example(image: str, mask: str | None = None) -> str | dict[str, Any]:
    """An Inpaint example as the image editor's value: the image, with its mask (if any) as a layer painted in the
    brush's colour. Picking the example then shows the mask where the visitor paints, to keep, extend or erase; a
    mask given to the upload box instead would sit unseen in its folded accordion."""
    if mask is None:
        return example_file(image)
    layer = mask_layer(example_file(mask), BRUSH_COLOUR)
    return {"background": example_file(image), "layers": [layer], "composite": None}


def build_demo(models: Mapping[str, LoadedModel]) -> gr.Blocks:
    """The whole app as a gr.Blocks, with its queue set up; `demo.launch(**LAUNCH_OPTIONS)` serves it."""
    handlers = Handlers(models)
    gan_classes = class_choices(models["gan"].model)  # [] unless the GAN is class-conditional

    with gr.Blocks(title="hfimg demo", analytics_enabled=False) as demo:  # no calls home
        gr.Markdown(
            "# hfimg: classic deep image generation and restoration\n"
            "DCGAN and VAE generators, gated-convolution inpainters and a U-Net denoiser, all running on your CPU."
        )
        with gr.Tabs():
            with gr.Tab("Generate"):
                gr.Markdown(availability_note(models, ["gan", "vae"]))
                with gr.Row():
                    with gr.Column(scale=1):
                        generator = gr.Radio(list(GENERATORS), value="GAN", label="Generator")
                        gen_label = ClassDropdown(
                            [("all classes in turn", -1), *gan_classes],
                            value=-1,
                            label="Class",
                            visible=bool(gan_classes),
                        )
                        number = gr.Slider(1, MAX_IMAGES, value=16, step=1, label="Number of images")
                        with gr.Row():
                            seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, scale=3)
                            random_button = gr.Button("Random", scale=1, min_width=80)
                        generate_button = gr.Button("Generate", variant="primary")
                    grid = gr.Image(
                        label="Samples", format="png", elem_classes="pixelated", height=420, elem_id="samples"
                    )
                gr.Markdown("### Latent interpolation\nThe images along the path between the codes of two seeds.")
                with gr.Row():
                    seed_a = gr.Number(0, label="From seed", precision=0, minimum=0, maximum=MAX_SEED)
                    seed_b = gr.Number(1, label="To seed", precision=0, minimum=0, maximum=MAX_SEED)
                    frames = gr.Slider(2, MAX_FRAMES, value=8, step=1, label="Frames")
                    interpolate_button = gr.Button("Interpolate", variant="primary")
                strip = gr.Image(label="Interpolation", format="png", elem_classes="pixelated", height=160)

            with gr.Tab("Inpaint"):
                gr.Markdown(availability_note(models, INPAINT_SLOTS))
                with gr.Row():
                    with gr.Column():
                        editor = CheckedImageEditor(
                            label="Image: paint over what to fill",
                            type="numpy",
                            image_mode="RGBA",  # the painted layer's alpha is the mask
                            sources=["upload", "clipboard"],
                            brush=gr.Brush(colors=[BRUSH_COLOUR], color_mode="fixed", default_size=BRUSH_SIZE),
                            eraser=gr.Eraser(default_size=BRUSH_SIZE),
                            layers=False,
                            transforms=(),
                            format="png",
                            height=480,
                            canvas_size=EDITOR_CANVAS,
                            elem_id="editor",
                        )
                        with gr.Accordion("Or upload a mask (white = fill)", open=False):
                            mask_upload = CheckedImage(
                                label="Mask: white = fill, black = keep; the image's size",
                                type="pil", image_mode=None, sources=["upload", "clipboard"], height=200,
                                elem_id="mask-upload",
                            )  # fmt: skip
                        gr.Markdown(
                            f"PNG, JPEG or WEBP, up to {MAX_UPLOAD_MB} MB and {MAX_PIXELS / 1e6:.0f} megapixels. "
                            f"Large photos keep their size: one longer than {WORK_MAX_SIDE} px is filled only in "
                            f"the area around the mask, scaled to at most {WORK_MAX_SIDE} px (as `hfimg inpaint` "
                            f"does; a message says which area). Pixels outside the mask come back unchanged."
                        )
                        method = gr.Radio(
                            list(METHODS), value="InpaintCNN", label="Method", elem_id="method",
                            info=f"{', '.join(GARMENT_METHODS)}: for small grey garment images (Fashion-MNIST) only.",
                        )  # fmt: skip
                        methods_note = gr.Markdown(elem_id="methods-note")
                        iterations = gr.Slider(1, 16, value=6, step=1, label="Passes (InpaintRCNN)", visible=False)
                        latent_steps = gr.Slider(
                            10, MAX_SEARCH_STEPS, value=100, step=10, label="Search steps", visible=False
                        )
                        inpaint_label = ClassDropdown(
                            [("none", -1), *gan_classes],
                            value=0 if gan_classes else -1,
                            label="Class (GAN)",
                            visible=False,
                        )
                        inpaint_button = gr.Button("Inpaint", variant="primary", elem_id="inpaint-button")
                    with gr.Column():
                        result = gr.Image(
                            label="Result", format="png", height=400, elem_id="inpaint-result",
                            elem_classes="pixelated",
                        )  # fmt: skip
                        before_after = gr.ImageSlider(
                            label="Before / after", type="pil", format="png", height=400, elem_id="before-after",
                            elem_classes="pixelated",
                        )  # fmt: skip
                        recurrent = models[method_spec("InpaintRCNN", "inpaint").key].model
                        passes_gallery = gr.Gallery(
                            label=passes_caption("InpaintRCNN", recurrent),
                            format="png", columns=4, height="auto", visible=False,
                        )  # fmt: skip
                inpaint_inputs = [editor, method, iterations, latent_steps, inpaint_label, mask_upload]
                inpaint_outputs = [result, before_after, passes_gallery]
                inpaint_examples = gr.Examples(
                    [
                        [editor_example("coffee.png"), inpaint_name("inpaint-cnn")],
                        [editor_example("astronaut.png", "astronaut_mask.png"), inpaint_name("inpaint-rcnn")],
                        [editor_example("chelsea.png", "chelsea_mask.png"), inpaint_name("telea")],
                        [editor_example("shirt.png", "shirt_mask.png"), inpaint_name("gan")],
                    ],
                    inputs=[editor, method],
                    label="Examples: pick one, paint over what to fill (or keep the example's mask), click Inpaint",
                    elem_id="inpaint-examples",
                )

            with gr.Tab("Restore"):
                gr.Markdown(availability_note(models, ["denoise"]))
                with gr.Row():
                    with gr.Column():
                        photo = CheckedImage(
                            label="Image", type="pil", image_mode=None, sources=["upload", "clipboard"]
                        )
                        sigma = gr.Slider(0, 75, value=25, step=1, label="Add Gaussian noise (sigma, 0-255 scale)")
                        restore_method = gr.Radio(
                            RESTORE_METHODS,
                            value=RESTORE_METHODS[0],
                            label=f"Method (the classical ones up to {CLASSICAL_RESTORE_MAX_PIXELS / 1e6:g} MP here)",
                        )
                        ensemble = gr.Checkbox(
                            False,
                            label=f"Self-ensemble: average over 8 flips and rotations (8x slower; images up to "
                            f"{ENSEMBLE_MAX_PIXELS / 1e6:g} MP here)",
                        )
                        restore_button = gr.Button("Restore", variant="primary")
                        gr.Examples(
                            [[example_file("chelsea.png"), 25, False], [example_file("coffee.png"), 50, False]],
                            inputs=[photo, sigma, ensemble],
                        )
                    with gr.Column():
                        noisy = gr.Image(label="Input to the model", format="png")
                        restored = gr.Image(label="Restored", format="png")
                        restore_slider = gr.ImageSlider(label="Before / after", type="pil", format="png")

            with gr.Tab("Models"):
                gr.Markdown(models_table(models), elem_id="models-table")
                for loaded in models.values():
                    with gr.Accordion(f"{loaded.slot.title}: {loaded.id}", open=False):
                        gr.Markdown(model_details(loaded))

        generate_button.click(
            png_outputs(handlers.generate),
            [generator, number, seed, gen_label],
            grid,
            api_name="generate",
            **SHARED_QUEUE,
        )
        interpolate_button.click(
            png_outputs(handlers.interpolate),
            [generator, seed_a, seed_b, frames, gen_label],
            strip,
            api_name="interpolate",
            **SHARED_QUEUE,
        )
        random_button.click(handlers.random_seed, None, seed, api_name="random_seed", queue=False)
        generator.change(
            lambda g: gr.Dropdown(visible=g == "GAN" and bool(gan_classes)), generator, gen_label,
            queue=False, api_visibility="private",
        )  # fmt: skip
        method.change(
            handlers.method_controls, method, [iterations, latent_steps, inpaint_label, passes_gallery],
            queue=False, api_visibility="private",
        )  # fmt: skip
        inpaint_button.click(
            png_outputs(handlers.inpaint), inpaint_inputs, inpaint_outputs, api_name="inpaint", **SHARED_QUEUE
        )
        # The methods that fit the image are worked out from the editor's value on each Inpaint click, beside the
        # inpainting itself (a .then would not run after a refused method), and reset on clear; not on upload: an
        # upload event that reads the editor makes gradio's editor re-add its image and fire upload again, in a loop.
        inpaint_button.click(
            handlers.offer_methods, [editor, method], [method, methods_note],
            preprocess=False, queue=False, show_progress="hidden", api_visibility="private",
        )  # fmt: skip
        editor.clear(
            lambda m: (gr.Radio(choices=list(METHODS), value=m), ""), method, [method, methods_note],
            queue=False, show_progress="hidden", api_visibility="private",
        )  # fmt: skip
        # An example brings its mask in the editor's layer: a mask uploaded before was for another image.
        inpaint_examples.dataset.click(
            lambda: None, None, mask_upload, queue=False, show_progress="hidden", api_visibility="private"
        )
        # A new image or mask: clear the last result (and its error badge, if any).
        gr.on(
            [editor.upload, editor.clear, mask_upload.upload, mask_upload.clear], lambda: (None, None, []), None,
            inpaint_outputs, queue=False, show_progress="hidden", api_visibility="private",
        )  # fmt: skip
        photo.upload(lambda: (None, None, None), None, [noisy, restored, restore_slider], queue=False,
                     show_progress="hidden", api_visibility="private")  # fmt: skip
        restore_button.click(
            png_outputs(handlers.restore),
            [photo, sigma, ensemble, restore_method],
            [noisy, restored, restore_slider],
            api_name="restore",
            **SHARED_QUEUE,
        )

    demo.queue(max_size=QUEUE_SIZE)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the hfimg demo (host/port: GRADIO_SERVER_NAME/_PORT).")
    for name, slot in SLOTS.items():  # one flag per model slot, e.g. --inpaint-cnn
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            help=f"{slot.title}: bundled id, model folder or Hub repo id (default: ${slot.env} or {slot.default}).",
        )
    parser.add_argument(
        "--backend",
        choices=runtime.BACKENDS,
        help=f"How the networks run (default: ${runtime.BACKEND_ENV} or auto; fp32 = exact, see hfimg.runtime).",
    )
    return parser.parse_args(argv)


# --- start: load the models once and build the app; serve it when run as a script --------------------------------

if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s: %(message)s")
    ARGS = parse_args()
    if ARGS.backend:
        os.environ[runtime.BACKEND_ENV] = ARGS.backend  # every model's default backend
    MODEL_IDS = model_ids(overrides=vars(ARGS))  # flags win over the environment
else:
    MODEL_IDS = model_ids()
MODELS = load_models(MODEL_IDS)
demo = build_demo(MODELS)

if __name__ == "__main__":
    demo.launch(**LAUNCH_OPTIONS)  # host and port: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else 127.0.0.1:7860

"""The Gradio demo's logic, importable and testable without serving anything; app.py is its layout and wiring.

* `slots`: which model each slot loads (flag, environment variable, default) and the loaded models;
* `handlers`: the event handlers (gradio values in, images out, every visitor mistake a message);
* `files`: uploads checked before gradio decodes them, results written as PNG files;
* `editor`: the image editor's value as an image and a hole, and a mask as a layer it shows (free of gradio);
* `cards`: the Models tab's table and cards;
* `limits`: what a visitor may send and ask for.

The image logic the demo shares with the rest of hfimg lives in `hfimg.catalogue` (its methods),
`hfimg.inpainting` (the crop around the hole), `hfimg.restoration` and `hfimg.classical`.
"""

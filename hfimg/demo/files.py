"""The demo's files: the uploads it takes and the result images it serves, between gradio and the models.

* `checked_image` / `checked_editor` (with `decode_errors`): what app.py's upload components do before gradio
  decodes an upload: refuse an unreadable or oversized one (from its header) and read it as hfimg's API does
  (upright by EXIF, 8 bits). The component classes themselves stay in app.py: gradio writes a type stub (.pyi)
  beside the file that defines a component class, which an installed package must not need;
* `png_outputs`: a handler's PIL results written as PNG files into gradio's cache, each complete before it is served;
* `quiet`: a visitor's mistake logged as one line, not a traceback;
* `public_message`: an error's text without the server's temporary paths (an upload is named by its file name).
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import gradio.utils as gradio_utils
import numpy as np
from PIL import Image

from hfimg.demo.limits import MAX_PIXELS
from hfimg.imaging import HIGH_BIT_DEPTH_MODES, convert_mode, open_image, upright

logger = logging.getLogger("hfimg.app")


def _temporary_folders() -> list[str]:
    """Where gradio keeps uploads on this server: its GRADIO_TEMP_DIR, else the system's temporary folder."""
    folders = [os.environ.get("GRADIO_TEMP_DIR", ""), tempfile.gettempdir()]
    return [str(Path(folder).resolve()) for folder in folders if folder]


def public_message(text: str) -> str:
    """`text` with every path under the server's temporary folders cut to its file name: a visitor sees which file
    was wrong ('x.png'), not how the server stores uploads."""
    for folder in _temporary_folders():
        text = re.sub(re.escape(folder) + r"/[^'\"\s]*", lambda found: Path(found.group()).name, text)
    return text


def check_upload(source: str | bytes | None) -> None:
    """Refuse an upload that is not an image or has more than MAX_PIXELS, reading only the file header."""
    if source is None:
        return
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise gr.Error(
            f"The upload is not an image that can be read ({public_message(str(err))}). Upload a PNG, JPEG or WEBP "
            "file."
        ) from None
    if width * height > MAX_PIXELS:
        raise gr.Error(
            f"The image is {width}x{height} ({width * height / 1e6:.0f} megapixels); this demo takes up to "
            f"{MAX_PIXELS / 1e6:.0f} megapixels. Scale it down and upload it again."
        )


def normalised_upload(path: str) -> str:
    """The upload as the models' API reads it: upright by its EXIF orientation, and 8 bits per channel.

    gradio decodes uploads with PIL's own conversions, which clip 16-bit images to white and ignore EXIF rotation;
    an upload that needs either is rewritten here, once, as an 8-bit PNG beside it (hfimg's `open_image` and
    `convert_mode` do the work, so the demo reads every file as `model.inpaint(path, ...)` would). Others pass as
    they are.
    """
    with Image.open(path) as image:
        if image.mode not in HIGH_BIT_DEPTH_MODES and upright(image) is image:  # 8-bit and upright already
            return path
    image = open_image(path)
    if image.mode in HIGH_BIT_DEPTH_MODES:
        image = convert_mode(image, "L")
    fixed = str(Path(path).with_suffix("")) + "-upright-8bit.png"
    image.save(fixed, format="PNG", compress_level=1)
    return fixed


def decode_errors(preprocess: Callable) -> Callable:
    """Turn a failure to decode an upload (truncated file, odd format) into a message instead of a bare 'Error'."""

    @functools.wraps(preprocess)
    def wrapper(self, payload):
        try:
            return preprocess(self, payload)
        except gr.Error as err:  # already a message for the user (gr.Error is a ValueError)
            raise quiet(err) from None
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            message = f"The upload could not be decoded ({public_message(str(err))}). Upload a PNG, JPEG or WEBP file."
            raise quiet(gr.Error(message)) from None

    return wrapper


def checked_image(payload: Any) -> Any:
    """A `gr.Image` upload checked (readable, not too large) and normalised (`normalised_upload`), before gradio
    decodes it; for the `preprocess` of app.py's CheckedImage."""
    check_upload(payload.path if payload is not None else None)
    if payload is not None and payload.path:
        payload.path = normalised_upload(payload.path)
    return payload


def checked_editor(payload: Any) -> Any:
    """The same for a `gr.ImageEditor`'s uploaded background (a new upload: no id yet)."""
    if payload is not None and payload.id is None and payload.background is not None:
        check_upload(payload.background.path)
        if payload.background.path:
            payload.background.path = normalised_upload(payload.background.path)
    return payload


def quiet(error: gr.Error) -> gr.Error:
    """`error` logged as one line; gradio, which prints a traceback for every error by default, prints none.

    A visitor's mistake (no mask, wrong file) is not a fault of the server: a traceback per mistake would bury the
    real faults in the console."""
    error.print_exception = False
    logger.info("user error: %s", " ".join(str(error.message).split()))
    return error


def hole_image(hole: np.ndarray) -> Image.Image:
    """bool (H, W) hole -> the white-on-black mask image the models take."""
    return Image.fromarray(hole.astype(np.uint8) * 255)


def save_png_to_cache(image: Image.Image) -> str:
    """Write `image` as a PNG into gradio's file cache and return its path; the file appears only once complete.

    gradio's own saving of a returned PIL image rewrites the cached file in place, named by its content, so two
    requests with the same result at the same moment (two people on one example) can be served a half-written
    file. Here the PNG is written under a temporary name and renamed into place (atomic), as gradio does for files.
    """
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # lossless still; 3x faster than the default level 6
    data = buffer.getvalue()
    folder = Path(gradio_utils.get_upload_folder()) / hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "image.png"
    if not path.exists():
        handle, staging = tempfile.mkstemp(dir=folder, prefix=".image.png.")
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(staging, path)
    return str(path)


def png_outputs(handler: Callable) -> Callable:
    """Wrap a handler so that every PIL image it returns (also inside tuples and lists) goes out as a PNG file."""

    def convert(value: Any) -> Any:
        if isinstance(value, Image.Image):
            return save_png_to_cache(value)
        if isinstance(value, (tuple, list)):
            return type(value)(convert(item) for item in value)
        return value

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        return convert(handler(*args, **kwargs))

    return wrapper

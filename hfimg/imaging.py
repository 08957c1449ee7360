"""Image and mask conversion shared by every model's PIL-level API.

Conventions used across hfimg:

* network tensors are float, (B, C, H, W), scaled to [-1, 1];
* a mask is white (>= 128) where pixels are to be filled, as in diffusers and IOPaint; as a tensor it is
  (B, 1, H, W) float with 1 = hole, 0 = known;
* images come in as PIL images, file paths, numpy arrays (H, W) / (H, W, C) uint8, or tensors (C, H, W) /
  (1, C, H, W) in [-1, 1]; results go out as PIL images in the input's own mode, so every unmasked pixel can be
  copied back bit-identical.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

ImageInput = Image.Image | np.ndarray | torch.Tensor | str | Path

# Modes returned as they came in; anything else (P, CMYK, I;16, LA, ...) is converted to the model's mode.
_KEPT_MODES = ("L", "RGB", "RGBA")
# 16-bit and 32-bit integer and float modes: read by their values, since PIL's own conversion clips them at 255.
HIGH_BIT_DEPTH_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def network_mode(channels: int) -> str:
    """PIL mode a network with `channels` input channels works in."""
    if channels not in (1, 3):
        raise ValueError(f"hfimg models take 1 (grey) or 3 (RGB) channels, got channels={channels}.")
    return "L" if channels == 1 else "RGB"


# Limits on what one call may ask for, each overridable by its environment variable (an int). A bigger request is
# refused with a message that names the variable, before any memory is allocated.
LIMITS = {
    # 40 megapixels: a full-frame camera photo; the networks need ~130 bytes per pixel (5 GB at this size).
    "HFIMG_MAX_PIXELS": 40_000_000,
    "HFIMG_MAX_IMAGES": 1024,  # images per generate / interpolate call (64x64 RGB: 50 MB of activations per 64)
    "HFIMG_MAX_ITERATIONS": 64,  # passes of the recurrent inpainter (each one is a full pass of its network)
    # Gradient steps of a latent search (GAN / VAE prior): 100 steps take ~0.5 s for the bundled 32 px models on one
    # core, so the cap is about a minute per image at the default 4 restarts.
    "HFIMG_MAX_SEARCH_STEPS": 10_000,
    # Codes a latent search optimises at once per image: each keeps its activations for the backward pass (~0.3 MB
    # for a 32 px DCGAN, ~16x that at 128 px), so 64 stay within a few hundred MB where 10**6 took 24 GB.
    "HFIMG_MAX_RESTARTS": 64,
    "HFIMG_MAX_PARAMETERS": 200_000_000,  # of a model described by a config.json: 800 MB of fp32 weights
}


_PACKAGE_DIR = str(Path(__file__).parent)


def warn_user(message: str) -> None:
    """A UserWarning shown at the first caller outside hfimg: the user's own line, however deep the call went."""
    frame, level = sys._getframe(1), 2  # stacklevel 2 = the caller of this function
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def limit(name: str) -> int:
    """The limit `name` of `LIMITS`: its environment variable when set to a positive int, else the default."""
    value = os.environ.get(name, "").strip()
    if not value:
        return LIMITS[name]
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: set it to a positive whole number (default {LIMITS[name]:,}).")
    return int(value)


def check_count(
    value: int, name: str, minimum: int = 1, cap_name: str = "HFIMG_MAX_IMAGES", unit: str = "images per call"
) -> int:
    """A count (`num_images`, `steps`, `iterations`): an int (a numpy one too) from `minimum` up to the limit
    `cap_name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int of at least {minimum}, got {value!r}.")
    value = int(value)
    if value > (cap := limit(cap_name)):
        raise ValueError(
            f"{name}={value:,} is above the limit of {cap:,} {unit}; ask for less, or raise the limit with the "
            f"environment variable {cap_name}={value}."
        )
    return value


def check_pixels(width: int, height: int, name: str = "image") -> None:
    """Refuse an image larger than HFIMG_MAX_PIXELS, saying how to allow it."""
    cap = limit("HFIMG_MAX_PIXELS")
    if width * height > cap:
        raise ValueError(
            f"{name}: {width}x{height} is {width * height / 1e6:.1f} megapixels, above the limit of {cap / 1e6:.1f} "
            f"(about 130 bytes of memory per pixel in the networks). Scale the image down, or raise the limit with "
            f"the environment variable HFIMG_MAX_PIXELS={width * height}."
        )


def working_mode(image: Image.Image, mode: str) -> Image.Image:
    """`image` as the methods work on it: L, RGB and RGBA as they are (a result comes back in that mode), any other
    mode converted to `mode` ("L" or "RGB") by `convert_mode` (16-bit and float scaled, transparency on white)."""
    return image if image.mode in _KEPT_MODES else convert_mode(image, mode)


def open_image(image: ImageInput, *, name: str = "image") -> Image.Image:
    """Return `image` as a PIL image, upright, or raise a ValueError/TypeError that says what was wrong.

    Files and PIL images are turned upright by their EXIF orientation (a phone photo is stored sideways with a tag
    that says so), so the image and a mask drawn on it as it is shown have the same size. Images above
    HFIMG_MAX_PIXELS are refused from the file's header, before they are decoded (decompression bombs included).
    """
    if isinstance(image, Image.Image):
        check_pixels(*image.size, name=name)
        return upright(image)
    if isinstance(image, (str, Path)):
        # PIL refuses files above 2 x MAX_IMAGE_PIXELS as decompression bombs: keep that check at least as loose as
        # ours, so that raising HFIMG_MAX_PIXELS is enough.
        Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, limit("HFIMG_MAX_PIXELS"))
        try:
            with Image.open(image) as opened:
                check_pixels(*opened.size, name=name)
                opened.load()
                return upright(opened)
        except FileNotFoundError:
            raise FileNotFoundError(f"{name}: no such file {str(image)!r}.") from None
        except Image.DecompressionBombError as err:  # PIL's own header check, at twice its MAX_IMAGE_PIXELS
            raise ValueError(
                f"{name}: {str(image)!r} is refused: {err} If it is a real image, scale it down, or raise the limit "
                f"with the environment variable HFIMG_MAX_PIXELS."
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise ValueError(f"{name}: {str(image)!r} is not a readable image ({err}).") from None
    if isinstance(image, torch.Tensor):
        check_pixels(image.shape[-1], image.shape[-2] if image.ndim >= 2 else 1, name=name)
        return tensor_to_pil(image)
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise ValueError(f"{name}: expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {image.shape}.")
        check_pixels(image.shape[1], image.shape[0], name=name)
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255  # a boolean mask: True = white
        if image.dtype != np.uint8:
            raise ValueError(f"{name}: expected a uint8 array (0-255), got dtype {image.dtype}.")
        return Image.fromarray(image)
    raise TypeError(
        f"{name}: expected a PIL image, a file path, a uint8 numpy array or a tensor in [-1, 1], "
        f"got {type(image).__name__}."
    )


def open_working(image: ImageInput) -> Image.Image:
    """An image as the classical methods take it: upright, within the pixel limit; no channel count to follow,
    so 16-bit and float grey stays grey and other modes (P, LA, CMYK, ...) become RGB."""
    picture = open_image(image)
    return working_mode(picture, "L" if picture.mode in HIGH_BIT_DEPTH_MODES else "RGB")


def upright(image: Image.Image) -> Image.Image:
    """`image` turned as its EXIF orientation tag says (the same image when it has no tag or the tag says 1)."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except (OSError, SyntaxError, ValueError):  # unreadable EXIF: the pixels are still good
        return image
    return ImageOps.exif_transpose(image) if orientation != 1 else image


def convert_mode(image: Image.Image, mode: str) -> Image.Image:
    """Convert any PIL image to "L" or "RGB", the modes the networks work in.

    Transparent images are composited over white (the colour under transparent pixels is arbitrary, often black).
    16-bit and 32-bit grey images are scaled to 8 bits: PIL's own `convert("L")` clips them at 255, which turns
    almost every 16-bit image white.
    """
    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', got {mode!r}.")
    if image.mode in HIGH_BIT_DEPTH_MODES:
        array = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or array.max(initial=0) > 255:
            array = array / 257.0  # 0..65535 -> 0..255
        elif image.mode == "F" and array.max(initial=0) <= 1.0:
            array = array * 255.0  # float images in [0, 1]
        image = Image.fromarray(np.clip(array.round(), 0, 255).astype(np.uint8), mode="L")
    elif image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, (255, 255, 255))
        image.paste(rgba, mask=rgba.getchannel("A"))
    if image.mode != mode:
        # CMYK, YCbCr, P, 1, ... go through RGB; RGB -> L uses the ITU-R 601-2 luma weights.
        image = image.convert("RGB") if image.mode not in ("L", "RGB") else image
        image = image.convert(mode)
    return image


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    """(C, H, W) or (1, C, H, W) tensor in [-1, 1] -> PIL image (L for 1 channel, RGB for 3)."""
    if tensor.ndim == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {tensor.shape[0]}; pass the images one by one.")
        tensor = tensor[0]
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
        raise ValueError(f"expected a (C, H, W) tensor with C in (1, 3), got shape {tuple(tensor.shape)}.")
    array = ((tensor.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    array = array.permute(1, 2, 0).numpy()  # (H, W, C)
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def batch_to_pils(batch: torch.Tensor) -> list[Image.Image]:
    """(B, C, H, W) tensor in [-1, 1] -> B PIL images, as `tensor_to_pil` gives each, converted in one pass."""
    if batch.ndim != 4 or batch.shape[1] not in (1, 3):
        raise ValueError(f"expected a (B, C, H, W) tensor with C in (1, 3), got shape {tuple(batch.shape)}.")
    arrays = ((batch.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    arrays = arrays.permute(0, 2, 3, 1).numpy()  # (B, H, W, C)
    return [Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array) for array in arrays]


def pil_to_tensor(image: Image.Image, channels: int) -> torch.Tensor:
    """PIL image -> (1, C, H, W) float tensor in [-1, 1], converted to the model's mode."""
    array = np.asarray(image.convert(network_mode(channels)), dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    # Contiguous NCHW: the permuted view of the (H, W, C) array has channels-last strides with a batch stride of C,
    # which oneDNN's layout choice does not take for channels-last: the networks ran 2x slower on it.
    return (torch.from_numpy(array).permute(2, 0, 1)[None] / 127.5 - 1.0).contiguous()


def images_to_grid(images: list[Image.Image], columns: int | None = None, padding: int = 2) -> Image.Image:
    """Tile equally-sized images into one grid image (row-major), with `padding` pixels between them."""
    if not images:
        raise ValueError("images_to_grid needs at least one image.")
    columns = columns or int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / columns))
    width, height = images[0].size
    grid = Image.new(images[0].mode, (columns * (width + padding) - padding, rows * (height + padding) - padding))
    for i, image in enumerate(images):
        grid.paste(image, ((i % columns) * (width + padding), (i // columns) * (height + padding)))
    return grid


def load_mask(mask: ImageInput, size: tuple[int, int]) -> np.ndarray:
    """Return the hole as a bool (H, W) array (True = fill), read by `read_hole`'s rule, checking it matches the
    image `size` (W, H)."""
    return _checked(read_hole(mask), size)


def read_hole(mask: ImageInput) -> np.ndarray:
    """Return the hole of a mask as a bool (H, W) array (True = fill), whatever image it is for.

    The rule, for every kind of input:

    * tensors: >= 0.5 is hole (float masks in [0, 1]);
    * images and uint8 arrays: white (>= 128) is hole, read from the luminance; the alpha channel is read instead
      only when it carries the mask, i.e. when it is not the same everywhere (a painted layer: the strokes are the
      pixels that are not fully transparent, so that anti-aliased stroke edges are filled too). A fully opaque RGBA
      mask (white strokes on black, as most editors save one) is read by its luminance, not taken as all hole;
    * a mask whose values are only 0 and 1 (a numpy habit) is read as 1 = hole, with a warning: save masks as 0 and
      255 to be unambiguous; a 16-bit or float mask with values within [0, 1] is cut at 0.5, as tensors are;
    * boolean arrays: True is hole.
    """
    if isinstance(mask, np.ndarray) and mask.dtype == bool and mask.ndim == 2:  # already a hole (`Inpainter` reads
        check_pixels(mask.shape[1], mask.shape[0], name="mask")  # a mask once and passes this on)
        return mask
    if isinstance(mask, torch.Tensor):
        array = mask.detach().cpu()
        while array.ndim > 2 and array.shape[0] == 1:
            array = array[0]
        if array.ndim != 2:
            raise ValueError(f"mask: expected an (H, W) or (1, 1, H, W) tensor, got shape {tuple(mask.shape)}.")
        hole = (array.float() >= 0.5).numpy()
    else:
        pil = open_image(mask, name="mask")
        if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
            rgba = pil.convert("RGBA") if pil.mode not in ("RGBA", "LA") else pil
            alpha = np.asarray(rgba.getchannel("A"))
            if alpha.min() != alpha.max():  # the alpha is the mask: the painted strokes are not transparent
                return alpha > 0
            if alpha.max() == 0:  # a fully transparent layer: nothing painted, whatever colour lies under it
                return np.zeros(alpha.shape, dtype=bool)
            pil = rgba.convert("RGB") if rgba.mode == "RGBA" else rgba.convert("L")
        if pil.mode in HIGH_BIT_DEPTH_MODES:  # by the values it holds
            grey = np.asarray(pil, dtype=np.float64)
            top = grey.max(initial=0)
            scale = 1 if top <= 1 else 255 if top <= 255 else 65535  # 0/1, 8-bit values, or the full 16-bit range
        else:
            grey = np.asarray(convert_mode(pil, "L"))
            top, scale = grey.max(initial=0), 255
        if scale == 1 or (top == 1 and pil.mode in ("L", "P")):
            if top == 1 and set(np.unique(grey)) <= {0, 1}:  # not all black, nor a float mask with values between
                warn_user(
                    "mask: its values are only 0 and 1; reading 1 as hole. Save masks as 0 (keep) and 255 (fill)."
                )
            hole = grey >= 0.5
        else:
            hole = grey >= scale / 2
    return hole


def _checked(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (hole.shape[1], hole.shape[0]) != tuple(size):
        raise ValueError(
            f"mask size {hole.shape[1]}x{hole.shape[0]} does not match image size {size[0]}x{size[1]}; "
            f"resize the mask to the image (nearest neighbour keeps it binary)."
        )
    return hole


def refuse_full_hole(hole: np.ndarray) -> None:
    """A ValueError for a hole over the whole image: no pixel is left to fill it from, so any result would be a
    guess unrelated to the input (a flat colour, the input unchanged, or a sample of a generator)."""
    if hole.all():
        raise ValueError(
            "mask: the mask covers the whole image, so no pixel is left to fill it from. Paint only the part to "
            "replace (white = fill, black = keep)."
        )


def check_hole(hole: np.ndarray, *, generative: bool = False) -> bool:
    """Whether there is anything to fill. An empty hole: False, with a warning (the image comes back as it is).
    A hole over the whole image leaves nothing to fill it from: a ValueError for the inpainters (their result would
    be a flat guess); for a generative prior (`generative=True`) a warning, since it still draws an image of its
    domain, unrelated to the input."""
    if not hole.any():
        warn_user("mask: the mask is empty (no white pixel), so nothing is filled: the image comes back as is.")
        return False
    if hole.all():
        if not generative:
            refuse_full_hole(hole)
        warn_user(
            "mask: the mask covers the whole image: the result is a sample of the prior, unrelated to the input."
        )
    return True


@dataclass
class PreparedImage:
    """An input image made ready for a network, remembering how to give the result back in the input's form."""

    original: Image.Image  # in the mode that is returned (L, RGB or RGBA)
    tensor: torch.Tensor  # (1, C, H, W) in [-1, 1]

    @classmethod
    def from_input(cls, image: ImageInput, channels: int) -> PreparedImage:
        pil = open_image(image)
        if isinstance(image, torch.Tensor) and pil.mode != network_mode(channels):
            raise ValueError(
                f"image has {1 if pil.mode == 'L' else 3} channels but this model takes {channels}; "
                f"pass a {channels}-channel tensor or a PIL image (PIL images are converted)."
            )
        pil = working_mode(pil, network_mode(channels))
        return cls(original=pil, tensor=pil_to_tensor(pil, channels))

    @property
    def size(self) -> tuple[int, int]:
        return self.original.size

    def to_output(self, result: torch.Tensor, hole: np.ndarray | None = None) -> Image.Image:
        """Network output (1, C, H, W) in [-1, 1] -> PIL in the input's mode.

        With `hole` given, only hole pixels come from `result`; every other pixel is copied from the input
        unchanged (compared in uint8, so bit-identical).
        """
        generated = tensor_to_pil(result)
        if self.original.mode == "RGBA":
            generated = generated.convert("RGB")
            generated.putalpha(self.original.getchannel("A"))
        else:
            generated = generated.convert(self.original.mode)
        if hole is None:
            return generated
        out = np.array(generated)
        known = ~hole if out.ndim == 2 else ~hole[..., None]  # (H, W) or (H, W, 1), broadcast over the channels
        np.copyto(out, np.asarray(self.original), where=known)  # a third of the time of boolean indexing at 512 px
        return Image.fromarray(out, mode=self.original.mode)


def pad_to(image: Image.Image, size: int) -> Image.Image:
    """`image` in the middle of a black size x size canvas; shrunk first (PIL's thumbnail, aspect kept: bicubic
    after a box reduction to within 3x of the size, which is faster than bicubic alone and looks the same) if it does
    not fit. Fashion-MNIST's 28 px images in a 32 px frame: a 2 px black border, every original pixel unchanged."""
    if max(image.size) > size:
        image = image.copy()
        image.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    canvas = Image.new(image.mode, (size, size))
    canvas.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return canvas


def prepare_inpainting(
    image: ImageInput, mask: ImageInput, channels: int, device: torch.device
) -> tuple[PreparedImage, np.ndarray, torch.Tensor]:
    """Turn a user's image and mask into an inpainter's inputs.

    Returns:
        The prepared image (it writes the result back in the input's mode), the hole as a bool (H, W) array, and
        the mask as a (1, 1, H, W) float tensor on `device`.
    """
    prepared = PreparedImage.from_input(image, channels)
    hole = load_mask(mask, prepared.size)
    mask_tensor = torch.from_numpy(hole).to(device=device, dtype=torch.float32)[None, None]
    return prepared, hole, mask_tensor

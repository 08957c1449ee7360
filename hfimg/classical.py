"""Classical methods, no learning: the baselines every network here is measured against.

Inpainting: each is `fill(image, hole, **settings) -> image`: an L, RGB or RGBA PIL image and an (H, W) bool hole
(True = fill) in, an image of the same size and mode out, every pixel outside the hole unchanged and an alpha channel
kept as it is; the `*_pixels` functions do the same on uint8 arrays.

Denoising: each is `denoise(image, sigma=None, **settings) -> image` (same modes, alpha kept; `sigma` the noise level
on the 0-255 scale, estimated from the image when None); the `*_array` functions work on float images in [0, 1]
(noise unclipped), as benchmarks/bench_denoising.py feeds them.

`hfimg.catalogue` registers them as methods by name, beside the networks, so the demo, `hfimg inpaint` / `hfimg
restore` and the benchmarks run them as they run a model.

Example:
    >>> import numpy as np
    >>> from PIL import Image
    >>> image, hole = Image.new("RGB", (16, 16), (200, 10, 10)), np.zeros((16, 16), dtype=bool)
    >>> hole[4:8, 4:8] = True
    >>> pull_push(image, hole).getpixel((5, 5))
    (200, 10, 10)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from hfimg.degrade import estimate_noise_level
from hfimg.layers import pull_push_fill
from hfimg.texture import contextual_residual_aggregation

# (colour pixels (H, W) or (H, W, 3) uint8, hole (H, W) bool, **settings) -> filled pixels of the same shape, uint8
PixelFill = Callable[..., np.ndarray]
# The methods' common signature (see the module docstring): fill(image, hole, **settings) -> image.
Fill = Callable[..., Image.Image]
# (noisy float image (H, W) or (H, W, 3) in [0, 1], unclipped; sigma in grey levels or None; **settings) -> (H, W[, 3])
ArrayDenoise = Callable[..., np.ndarray]
# The denoisers' common signature: denoise(image, sigma=None, **settings) -> image.
Denoise = Callable[..., Image.Image]

OPENCV_RADIUS = 3  # neighbourhood (px) OpenCV estimates each filled pixel from, as in its documentation's example


def on_colour(fill: PixelFill) -> Fill:
    """`fill` on an image's colour pixels, as a `Fill`: L stays L, RGB(A) is filled as RGB, alpha is kept, and the
    known pixels are copied back (float round trips must not move one)."""

    def method(image: Image.Image, hole: np.ndarray, **settings) -> Image.Image:
        if hole.shape != (image.height, image.width):
            raise ValueError(f"hole shape {hole.shape} does not match image size {image.width}x{image.height}.")
        colour = np.asarray(image.convert("L" if image.mode == "L" else "RGB"))
        filled = fill(colour, hole, **settings).copy()
        filled[~hole] = colour[~hole]
        result = Image.fromarray(filled)
        if image.mode == "RGBA":
            result.putalpha(image.getchannel("A"))
        return result

    method.__name__ = method.__qualname__ = fill.__name__.removesuffix("_pixels")
    method.__doc__ = fill.__doc__
    return method


def _opencv(flag_name: str, pixels: np.ndarray, hole: np.ndarray, radius: int) -> np.ndarray:
    import cv2  # imported here: importing hfimg stays fast, and OpenCV loads only for the methods that use it

    # 8-bit 1- or 3-channel images and a uint8 mask, non-zero = fill; these algorithms work per channel, so the
    # channel order (RGB here, BGR in OpenCV's habits) does not matter.
    return cv2.inpaint(pixels, hole.astype(np.uint8) * 255, radius, getattr(cv2, flag_name))


def telea_pixels(pixels: np.ndarray, hole: np.ndarray, radius: int = OPENCV_RADIUS) -> np.ndarray:
    """OpenCV's fast-marching inpainting (Telea, 2004, `cv2.INPAINT_TELEA`): the hole is filled from its border
    inwards, each pixel a weighted average of the known ones within `radius` px."""
    return _opencv("INPAINT_TELEA", pixels, hole, radius)


def navier_stokes_pixels(pixels: np.ndarray, hole: np.ndarray, radius: int = OPENCV_RADIUS) -> np.ndarray:
    """OpenCV's fluid-dynamics inpainting (Bertalmio et al., 2001, `cv2.INPAINT_NS`): isophotes are continued into
    the hole, from the known pixels within `radius` px."""
    return _opencv("INPAINT_NS", pixels, hole, radius)


def biharmonic_pixels(pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpainting (`skimage.restoration.inpaint_biharmonic`): the smoothest surface
    through the known pixels, on floats in [0, 1] rounded back to 8 bits."""
    from skimage.restoration import inpaint_biharmonic  # an extra ("train", "metrics")

    filled = inpaint_biharmonic(pixels / 255.0, hole, channel_axis=-1 if pixels.ndim == 3 else None)
    return np.clip(filled * 255.0 + 0.5, 0, 255).astype(np.uint8)


def on_tensors(
    pixels: np.ndarray, hole: np.ndarray, fill: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> np.ndarray:
    """Run a tensor fill, (1, C, H, W) in [-1, 1] (the networks' range) and (1, 1, H, W) hole -> (1, C, H, W), on
    uint8 pixels (H, W) or (H, W, 3) and an (H, W) bool hole; returns uint8 pixels of the same shape."""
    x = torch.from_numpy(np.array(pixels, dtype=np.float32)) / 127.5 - 1  # a copy: PIL's arrays are read-only
    x = (x[None] if x.ndim == 2 else x.permute(2, 0, 1))[None]  # (1, C, H, W)
    filled = fill(x, torch.from_numpy(hole)[None, None].float())[0].permute(1, 2, 0).numpy()  # (H, W, C)
    result = np.clip((filled + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return result[..., 0] if pixels.ndim == 2 else result


def pull_push_pixels(pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Pull-push interpolation (`hfimg.layers.pull_push_fill`) alone, the networks' own starting fill: the average of
    the nearest known pixels, blended across scales."""
    return on_tensors(pixels, hole, pull_push_fill)


def pull_push_texture_pixels(pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Pull-push interpolation, then the known region's fine detail copied into the hole by contextual residual
    aggregation (`hfimg.texture`, after HiFill, Yi et al., 2020)."""
    return on_tensors(pixels, hole, lambda x, hole: contextual_residual_aggregation(pull_push_fill(x, hole), hole))


# --- the blend: three fills that go wrong in different ways, averaged ------------------------------------------------

# The fills the blend averages, in the order `blend_fills` stacks them (and a blending network's weights follow).
BLEND_FILLS = ("pull-push", "navier-stokes", "pull-push-texture")


def navier_stokes_fill(image: torch.Tensor, hole: torch.Tensor, radius: int = OPENCV_RADIUS) -> torch.Tensor:
    """`navier_stokes_pixels` on tensors: image (B, C, H, W) in [-1, 1] (C = 1 or 3), hole (B, 1, H, W), 1 = hole
    -> (B, C, H, W) float32, the known pixels as given. Rounded to 8 bits, as OpenCV works; no gradient."""
    channels = image.shape[1]
    pixels = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    is_hole = hole.detach()[:, 0] > 0.5  # (B, H, W)
    filled = []
    for one, one_hole in zip(pixels.cpu().numpy(), is_hole.cpu().numpy(), strict=True):  # (H, W, C), (H, W)
        out = navier_stokes_pixels(np.ascontiguousarray(one[..., 0] if channels == 1 else one), one_hole, radius)
        filled.append(torch.from_numpy(out.reshape(one.shape)))
    result = torch.stack(filled).permute(0, 3, 1, 2).to(image.device, torch.float32) / 127.5 - 1  # (B, C, H, W)
    return torch.where(is_hole[:, None], result, image.float())


def blend_fills(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """The fills of `BLEND_FILLS` for one batch: image (B, C, H, W) in [-1, 1] (the hole's values ignored), hole
    (B, 1, H, W), 1 = hole -> (B, K, C, H, W) float32, K = len(BLEND_FILLS); no gradient (they are inputs).

    Pull-push averages the nearest known pixels across scales (too flat at edges), Navier-Stokes continues the
    border's isophotes inwards (sharp, but it smears them across wide holes), texture transfer adds detail copied
    from elsewhere in the photo (right in kind, wrong in place): their errors are far from equal, which is why their
    average beats each of them (benchmarks/bench_inpainting.py) and why a network that weighs them pixel by pixel
    has something to learn.
    """
    with torch.no_grad():
        image = image.float() * (1 - hole.float())
        # One after the other. OpenCV's Navier-Stokes (one thread, about 57 ms at 512 px) run on a side thread beside
        # the torch fills measured no faster on 2 cores (80-94 ms against 80): torch's threads then wait for the one
        # that shares its core with OpenCV.
        smooth = pull_push_fill(image, hole.float())
        textured = contextual_residual_aggregation(smooth, hole.float())
        return torch.stack([smooth, navier_stokes_fill(image, hole), textured], dim=1)


def blend_pixels(pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The average of pull-push, OpenCV Navier-Stokes and pull-push + texture transfer (`blend_fills`): the fill the
    photo inpainters start from, before their networks weigh the three pixel by pixel."""
    return on_tensors(pixels, hole, lambda x, hole: blend_fills(x, hole).mean(dim=1))


telea = on_colour(telea_pixels)
navier_stokes = on_colour(navier_stokes_pixels)
biharmonic = on_colour(biharmonic_pixels)
pull_push = on_colour(pull_push_pixels)
pull_push_texture = on_colour(pull_push_texture_pixels)
blend = on_colour(blend_pixels)


# --- denoising ------------------------------------------------------------------------------------------------------


def bm3d_array(noisy: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """BM3D (Dabov et al., 2007; the `bm3d` package, CBM3D for colour): similar patches stacked and shrunk together
    in a 3-D transform domain, the strongest classical denoiser of white Gaussian noise. Told `sigma` (grey levels),
    or the level `estimate_noise_level` reads from the image."""
    try:
        import bm3d  # an extra ("metrics"): a large, slow-to-import package only this method needs
    except ImportError:
        raise ImportError("BM3D needs the bm3d package: pip install bm3d (or pip install 'hfimg[metrics]').") from None
    sigma = _noise_level(noisy) if sigma is None else sigma
    if sigma <= 0:  # no noise to remove (BM3D's shrinkage would divide by zero)
        return np.array(noisy, dtype=np.float64)
    if noisy.ndim == 3:
        return bm3d.bm3d_rgb(noisy, sigma_psd=sigma / 255)
    return bm3d.bm3d(noisy, sigma_psd=sigma / 255)


def nl_means_array(noisy: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Non-local means (Buades et al., 2005) as scikit-image's documentation sets it up: the original algorithm
    (`fast_mode=False`), 5x5 patches searched 6 px around, filter strength h = 0.6 sigma. `sigma` in grey levels;
    None = scikit-image's own estimate (`estimate_sigma`)."""
    from skimage.restoration import denoise_nl_means, estimate_sigma  # an extra ("app", "train", "metrics")

    axis = -1 if noisy.ndim == 3 else None
    if sigma is None:
        with warnings.catch_warnings():  # a flat image has no wavelet detail at all: numpy warns of an empty mean
            warnings.simplefilter("ignore", RuntimeWarning)
            level = float(estimate_sigma(noisy, channel_axis=axis, average_sigmas=True))
    else:
        level = sigma / 255
    if not math.isfinite(level) or level <= 0:  # no noise to remove (h = 0 would divide by zero)
        return np.array(noisy, dtype=np.float64)
    return denoise_nl_means(
        noisy, h=0.6 * level, sigma=level, fast_mode=False, patch_size=5, patch_distance=6, channel_axis=axis
    )


def _noise_level(noisy: np.ndarray) -> float:
    """Grey levels of white Gaussian noise in a float image in [0, 1] (Donoho's estimator, `hfimg.degrade`)."""
    x = torch.from_numpy(np.asarray(noisy, dtype=np.float32) * 2 - 1)  # [-1, 1], the networks' range
    x = (x[None] if x.ndim == 2 else x.permute(2, 0, 1))[None]  # (1, C, H, W)
    return float(estimate_noise_level(x)[0])


def on_image(denoise: ArrayDenoise) -> Denoise:
    """`denoise` on an image's colour pixels, as a `Denoise`: L stays L, RGB(A) is denoised as RGB, alpha is kept;
    `denoise` itself stays reachable as its `on_array` attribute."""

    def method(image: Image.Image, sigma: float | None = None, **settings) -> Image.Image:
        if sigma is not None and not (isinstance(sigma, (int, float)) and 0 <= sigma <= 255):
            raise ValueError(f"sigma is the noise level in grey levels, from 0 to 255; got {sigma!r}.")
        colour = np.asarray(image.convert("L" if image.mode == "L" else "RGB"), dtype=np.float64) / 255
        result = Image.fromarray(np.clip(denoise(colour, sigma, **settings) * 255 + 0.5, 0, 255).astype(np.uint8))
        if image.mode == "RGBA":
            result.putalpha(image.getchannel("A"))
        return result

    method.__name__ = method.__qualname__ = denoise.__name__.removesuffix("_array")
    method.__doc__ = denoise.__doc__
    method.on_array = denoise  # the float form, for benchmarks that keep the noise unclipped
    return method


bm3d = on_image(bm3d_array)
nl_means = on_image(nl_means_array)

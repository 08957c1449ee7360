"""Synthetic damage for training and testing restoration models, on (B, C, H, W) tensors in [-1, 1].

Each function returns a new tensor and leaves its input untouched. Random ones take an optional
`torch.Generator`, so a test set of damaged images can be regenerated exactly.

Example:
    >>> clean = torch.zeros(2, 3, 32, 32)
    >>> noisy = gaussian_noise(clean, sigma=25, generator=torch.Generator().manual_seed(0))
    >>> round(float(noisy.std() * 127.5))
    25
"""

from __future__ import annotations

import io
import math

import torch
import torch.nn.functional as F
from PIL import Image

from hfimg.imaging import pil_to_tensor, tensor_to_pil

_LEVEL = 2 / 255  # one grey level of the 0-255 scale, in [-1, 1] units


def _check_batch(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected a (B, C, H, W) tensor with C in (1, 3), got shape {tuple(x.shape)}.")


def gaussian_noise(
    x: torch.Tensor, sigma: float | torch.Tensor, generator: torch.Generator | None = None, *, clip: bool = False
) -> torch.Tensor:
    """Add white Gaussian noise of standard deviation `sigma` grey levels (0-255 scale, e.g. 15, 25, 50).

    Args:
        x: (B, C, H, W) images in [-1, 1].
        sigma: one noise level, or a (B,) tensor of levels, one per image (blind-denoising training).
        generator: random generator for reproducible noise.
        clip: clamp the result to [-1, 1] like a saved 8-bit image; off by default, as in the AWGN benchmarks.

    Returns:
        (B, C, H, W) noisy images.
    """
    _check_batch(x)
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if (sigma < 0).any():
        raise ValueError(f"sigma must be >= 0 grey levels, got {sigma.tolist()}.")
    if sigma.ndim == 1:
        if sigma.shape[0] != x.shape[0]:
            raise ValueError(f"got {sigma.shape[0]} sigmas for a batch of {x.shape[0]} images.")
        sigma = sigma.view(-1, 1, 1, 1)  # (B, 1, 1, 1)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    noisy = x + noise * sigma * _LEVEL
    return noisy.clamp(-1, 1) if clip else noisy


def estimate_noise_level(x: torch.Tensor) -> torch.Tensor:
    """Estimate the level of white Gaussian noise in each image, in grey levels (0-255 scale): (B, C, H, W) -> (B,).

    Donoho's wavelet estimator (the one scikit-image's `estimate_sigma` uses): the finest diagonal Haar detail,
    `(a - b - c + d) / 2` over each 2 x 2 block, is noise of the same sigma plus the image's few sharp corners, so
    its median absolute value / 0.6745 measures the noise and ignores most of the image. Clean photos read a few
    grey levels (their own texture). Written here because it is a few tensor ops; pywavelets would add a dependency
    and a trip through numpy.
    """
    _check_batch(x)
    height, width = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    if height == 0 or width == 0:
        raise ValueError(f"need an image of at least 2 x 2 pixels to estimate its noise, got {tuple(x.shape[-2:])}.")
    x = x[..., :height, :width].float()
    diagonal = (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2
    return diagonal.flatten(1).abs().median(dim=1).values / 0.6745 / _LEVEL


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of standard deviation `sigma` pixels (0 = unchanged), reflecting at the borders.

    Written with a separable conv2d because torchvision (which has one) is not a dependency.
    """
    _check_batch(x)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0 pixels, got {sigma}.")
    if sigma == 0:
        return x.clone()
    radius = min(math.ceil(3 * sigma), min(x.shape[-2:]) - 1)  # reflect padding needs radius < size
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    padded = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    # Depthwise: each channel blurred on its own, rows then columns.
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Round-trip every image through a real JPEG encoder (PIL / libjpeg) at `quality` (1-95).

    The result holds genuine JPEG artifacts (8x8 blocks, ringing, chroma subsampling), quantised to 8 bits.
    """
    _check_batch(x)
    if not 1 <= quality <= 95:
        raise ValueError(f"quality must be in 1..95 (PIL's useful range), got {quality}.")
    channels = x.shape[1]
    out = []
    for image in x:
        buffer = io.BytesIO()
        tensor_to_pil(image).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        out.append(pil_to_tensor(Image.open(buffer), channels))
    return torch.cat(out).to(dtype=x.dtype, device=x.device)

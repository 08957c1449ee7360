"""What the latent-variable generators (DCGANGenerator, ConvVAE) share: their sizes, seeded latent draws, the path
between two codes, and the black frame of training images that were padded rather than resized.

Example:
    >>> check_resolution(64)
    4
    >>> slerp(torch.ones(4), -torch.ones(4).roll(1), torch.linspace(0, 1, 3)).shape
    torch.Size([3, 4])
"""

from __future__ import annotations

import math
import operator

import torch

RESOLUTIONS = (32, 64, 128)  # image sizes of the generators and the DCGAN discriminator
# The seeds torch.Generator.manual_seed takes (a negative one counts modulo 2**64); a larger one ended in PyTorch's
# "Overflow when unpacking long long".
MIN_SEED, MAX_SEED = -(2**63), 2**64 - 1


def check_resolution(resolution: int) -> int:
    """Return the number of 2x up/down-sampling stages between 4x4 and `resolution`, or raise."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}.")
    return int(math.log2(resolution)) - 2  # 32 -> 3, 64 -> 4, 128 -> 5


def check_padding(padding: int, resolution: int) -> int:
    """Return `padding` (the black frame of the training images, px per side), or raise if it leaves no image."""
    if not 0 <= padding < resolution // 4:
        raise ValueError(f"padding must be in 0..{resolution // 4 - 1} px for {resolution} px images, got {padding}.")
    return padding


def unframe(images: torch.Tensor, padding: int) -> torch.Tensor:
    """(B, C, R, R) -> (B, C, R - 2 * padding, R - 2 * padding): the training images' frame cut off."""
    if padding == 0:
        return images
    return images[..., padding:-padding, padding:-padding]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latent codes a and b (each (D,)) at fractions t (T,) -> (T, D).

    Gaussian codes live near a sphere of radius sqrt(D); a straight line between two of them passes through
    lower-norm codes the generator rarely saw, so the middle frames look washed out. The arc does not.
    """
    omega = torch.arccos((a / a.norm() * b / b.norm()).sum().clamp(-1.0, 1.0))
    if omega.abs() < 1e-6:  # (almost) the same direction: the straight line is the arc
        return torch.lerp(a[None], b[None], t[:, None])
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def check_seed(seed: int, name: str = "seed") -> int:
    """`seed` as an int, or a ValueError that says which seeds there are."""
    try:
        value = operator.index(seed)  # an int or a numpy integer; not a float, whose fraction would be dropped
    except TypeError:
        value = None
    if value is None or isinstance(seed, bool) or not MIN_SEED <= value <= MAX_SEED:
        shown = f"a {value.bit_length()}-bit number" if value is not None and value.bit_length() > 128 else repr(seed)
        raise ValueError(f"{name} must be a whole number from 0 to 2**64 - 1, got {shown}; pick a smaller seed.")
    return value


def latent_generator(seed: int | None) -> torch.Generator:
    """A CPU random generator of its own, so seeding never touches (or depends on) the global RNG."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()  # fresh entropy for this generator only
    else:
        generator.manual_seed(check_seed(seed))
    return generator

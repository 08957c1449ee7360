"""Image-to-image networks on images of any size: overlapping tiles, and the eight-fold geometric self-ensemble.

A fully convolutional network can take a whole photo at once, but its activations grow with the photo: a 12-megapixel
photo through the DenoiseUNet needs several GB. `tiled` runs it over overlapping tiles instead, so the memory beyond
the image itself is bounded by one tile. Each tile's output is weighted by a window that is 1 in its middle; at every
edge it shares with a neighbour, its outer `halo` pixels count for (almost) nothing, being the ones that saw least
context, and the next `blend` pixels cross-fade linearly into the neighbour (edges on the image's border keep weight
1). No seam can be seen: on the shipped DenoiseUNet the result is within 0.03 of a grey level of the whole-image
result (tested to within one).

`self_ensemble` averages a network's outputs over the 8 flips and 90-degree rotations of its input (each undone on
the output): the "x8" geometric self-ensemble of the super-resolution and denoising papers (EDSR, DRUNet), usually a
few tenths of a dB for 8 times the work.

Example:
    >>> import torch
    >>> double = lambda x: 2 * x
    >>> x = torch.rand(1, 3, 70, 50)
    >>> torch.allclose(tiled(double, x, tile=32, halo=4, blend=8), double(x))
    True
    >>> torch.allclose(self_ensemble(double, x), double(x))
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from hfimg.layers import pad_to_multiple

ImageFunction = Callable[[torch.Tensor], torch.Tensor]  # (B, C, H, W) -> (B, C', H, W), any H and W

DEFAULT_TILE = 1024  # pixels per side: the overlap costs ~40% more work; one tile's activations a few hundred MB
DEFAULT_HALO = 64  # pixels at a tile's inner edges that are context only (weight ~0): the DenoiseUNet's outputs
# there differ from the whole-image result by grey levels (mirror padding stands in for the unseen neighbours); 64 px
# in brings the difference under 0.01 of a grey level
DEFAULT_BLEND = 32  # pixels over which the weight then ramps up to 1


def tile_layout(length: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int]]:
    """How to cut one axis of `length` px (a multiple of `multiple`) into as few tiles of at most `tile` px as cover
    it with every neighbour overlapping by at least `overlap` px: the tile size then shrunk to what that many tiles
    need, so no work goes to overlap beyond it, and the starts spread evenly.

    Sizes and starts are multiples of `multiple`: a network that halves its resolution k times computes a tile's
    middle exactly as it computes that part of the whole image only where the tile starts on its 2**k grid.

    Returns:
        (size, starts): the tiles' size and where each starts; one tile of `length` when it fits in `tile`.
    """
    if length <= tile:
        return length, [0]
    reach = overlap + multiple  # what rounding the starts to the grid can cost an overlap
    count = math.ceil((length - reach) / (tile - reach))  # tiles needed: each new one adds at most tile - reach
    size = min(tile, -(-math.ceil((length + (count - 1) * reach) / count) // multiple) * multiple)
    starts = [(i * (length - size) // (count - 1)) // multiple * multiple for i in range(count)]
    starts[-1] = length - size  # flush with the end (a multiple: both are)
    return size, starts


def _window(length: int, start: int, total: int, halo: int, blend: int) -> torch.Tensor:
    """(length,) weights of a tile covering [start, start + length) of an axis of `total` pixels.

    At an edge inside the image: `halo` px of (almost) zero weight, then a linear ramp over `blend` px up to 1; an
    edge on the image's border keeps weight 1 up to it. Never exactly 0, so a pixel that only one tile's halo
    covers (it cannot happen with `tile_starts`' overlap) would still get a value.
    """
    edge = torch.cat([torch.full((halo,), 1e-6), (torch.arange(blend, dtype=torch.float32) + 1) / (blend + 1)])
    edge = edge[:length]  # (n,) from the cut edge inwards
    weight = torch.ones(length)
    if start > 0:
        weight[: edge.numel()] = edge
    if start + length < total:
        weight[length - edge.numel() :] = torch.minimum(weight[length - edge.numel() :], edge.flip(0))
    return weight


def tiled(
    fn: ImageFunction,
    x: torch.Tensor,
    tile: int = DEFAULT_TILE,
    halo: int = DEFAULT_HALO,
    blend: int = DEFAULT_BLEND,
    multiple: int = 1,
) -> torch.Tensor:
    """`fn(x)` computed over overlapping `tile` x `tile` tiles of `x`, blended; `fn(x)` itself when `x` fits one tile.

    Neighbouring tiles overlap by `2 * halo + blend` pixels: each one's outer `halo` px at a shared edge is context
    only, and the two blend linearly over the `blend` px between. For a network that pads its input to a `multiple`
    (by mirroring, `hfimg.layers.pad_to_multiple`), the image is padded so once, before it is cut: a tile on the
    image's border then sees the same padding as the whole image would, and no tile needs its own.

    Args:
        fn: an image-to-image function that keeps the height and width (a fully convolutional network).
        x: (B, C, H, W) input, any H and W.
        tile: side of a tile in pixels.
        halo: context-only pixels at each shared edge.
        blend: pixels over which neighbours are cross-faded.
        multiple: the size multiple `fn` pads its input to; `tile` must be one of its multiples.

    Returns:
        (B, C', H, W), in `x`'s dtype and on its device. Memory beyond `x` and the result: one tile's work.
    """
    if x.ndim != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}.")
    overlap = 2 * halo + blend
    if halo < 0 or blend < 1 or overlap > tile // 2:
        raise ValueError(
            f"need halo >= 0, blend >= 1 and 2 * halo + blend <= half the tile ({tile} px); "
            f"got halo {halo}, blend {blend}."
        )
    if tile % multiple:
        raise ValueError(f"tile must be a multiple of {multiple} pixels, got {tile}.")
    height, width = x.shape[-2:]
    x = pad_to_multiple(x, multiple)  # (B, C, H', W'): cut below, cropped back to (H, W) at the end
    if max(x.shape[-2:]) <= tile:
        return fn(x)[..., :height, :width]
    return _blend_tiles(fn, x, tile, halo, blend, multiple)[..., :height, :width]


def _blend_tiles(fn: ImageFunction, x: torch.Tensor, tile: int, halo: int, blend: int, multiple: int) -> torch.Tensor:
    """`tiled`'s work on an input already padded: each tile's output weighted by its window, summed, normalised."""
    overlap = 2 * halo + blend
    height, width = x.shape[-2:]
    tile_h, tops = tile_layout(height, tile, overlap, multiple)
    tile_w, lefts = tile_layout(width, tile, overlap, multiple)
    out: torch.Tensor | None = None  # (B, C', H, W): the weighted sum, allocated once fn tells C'
    total = torch.zeros(1, 1, height, width, device=x.device)  # (1, 1, H, W): the sum of the weights
    for top in tops:
        for left in lefts:
            piece = fn(x[..., top : top + tile_h, left : left + tile_w]).float()  # (B, C', tile_h, tile_w)
            h, w = piece.shape[-2:]
            rows, cols = _window(h, top, height, halo, blend), _window(w, left, width, halo, blend)
            weight = torch.outer(rows, cols).to(x.device)  # (h, w)
            if out is None:
                out = torch.zeros(x.shape[0], piece.shape[1], height, width, device=x.device)
            out[..., top : top + h, left : left + w] += piece * weight
            total[..., top : top + h, left : left + w] += weight
    assert out is not None  # at least one tile ran
    return (out / total).to(x.dtype)


def self_ensemble(fn: ImageFunction, x: torch.Tensor) -> torch.Tensor:
    """The mean of `fn` over the 8 flips and 90-degree rotations of `x`, each undone on its output.

    Args:
        fn: an image-to-image function that keeps the height and width (turned inputs are W x H).
        x: (B, C, H, W).

    Returns:
        (B, C', H, W): the average of the 8 un-turned outputs, in float32 accumulation.
    """
    total: torch.Tensor | None = None
    for flip in (False, True):
        flipped = x.flip(-1) if flip else x
        for turns in range(4):
            y = fn(torch.rot90(flipped, turns, dims=(-2, -1))).float()
            y = torch.rot90(y, -turns, dims=(-2, -1))
            y = y.flip(-1) if flip else y
            total = y if total is None else total + y
    assert total is not None
    return (total / 8).to(x.dtype)


def restore_tiled(
    fn: ImageFunction, x: torch.Tensor, ensemble: bool = False, multiple: int = 1, tile: int = DEFAULT_TILE
) -> torch.Tensor:
    """An image restorer's whole-image call: `fn` (or its self-ensemble) over the tiles of `x` (B, C, H, W), padded
    to `multiple` first (see `tiled`)."""
    return tiled((lambda part: self_ensemble(fn, part)) if ensemble else fn, x, tile=tile, multiple=multiple)

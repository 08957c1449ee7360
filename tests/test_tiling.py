"""Whole photos at any size: overlapping tiles that leave no seam, and the eight-fold self-ensemble."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import hfimg
from hfimg.cli import main
from hfimg.imaging import pil_to_tensor, tensor_to_pil
from hfimg.tasks import RestoreOptions
from hfimg.tiling import DEFAULT_TILE, restore_tiled, self_ensemble, tile_layout, tiled


def smooth_photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: smooth gradients and a few edges, with sigma-20 noise on top."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(float)
    base = np.stack([120 + 80 * np.sin(x / 37), 100 + 60 * np.cos(y / 23), 90 + 0.1 * (x - y)], axis=-1)
    base[(x // 97 + y // 61) % 2 == 0] += 40  # sharp edges a tile's border can cross
    noisy = base + rng.normal(0, 20, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


@pytest.mark.parametrize(
    ("length", "tile", "overlap", "multiple"),
    [
        (10, 32, 8, 1),
        (100, 32, 8, 1),
        (1000, 256, 160, 1),
        (257, 256, 1, 1),
        (3008, 1024, 160, 16),
        (4000, 1024, 160, 16),
    ],
)
def test_tiles_cover_every_pixel_with_the_overlap_asked(length, tile, overlap, multiple):
    size, starts = tile_layout(length, tile, overlap, multiple)
    assert size <= tile and size % multiple == 0 or size == length
    assert starts[0] == 0 and starts[-1] + size == length
    assert all(start % multiple == 0 for start in starts)  # on the network's grid
    for before, after in zip(starts, starts[1:], strict=False):
        assert 0 < after - before <= size - overlap  # neighbours share at least `overlap` pixels
    if len(starts) > 1:  # as few tiles as cover the axis, shrunk so the work is near the pixels themselves
        count = len(starts)
        assert (count - 1) * tile - (count - 2) * overlap < length + count * multiple
        assert size * count <= length + (count - 1) * (overlap + 2 * multiple)


@pytest.mark.parametrize("size", [(1, 3, 70, 50), (2, 1, 33, 200), (1, 3, 300, 17), (1, 3, 32, 32)])
def test_a_pixelwise_function_is_unchanged_by_tiling(size):
    x = torch.rand(size, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(tiled(lambda t: t * 2 - 1, x, tile=32, halo=4, blend=8), x * 2 - 1, atol=1e-6)


def test_no_tile_is_larger_than_asked():
    seen: list[tuple[int, int]] = []

    def spy(t: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(t.shape[-2:]))
        return t

    tiled(spy, torch.zeros(1, 3, 500, 700), tile=128, halo=16, blend=16)
    assert len(seen) > 1 and max(max(shape) for shape in seen) <= 128  # memory is bounded by one tile


def test_bad_tiling_settings_are_refused():
    with pytest.raises(ValueError, match="half the tile"):
        tiled(lambda t: t, torch.zeros(1, 1, 300, 300), tile=64, halo=16, blend=8)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        tiled(lambda t: t, torch.zeros(3, 300, 300))


def test_the_shipped_denoiser_leaves_no_seam():
    """A photo larger than one tile, denoised in tiles, equals the whole-image result to within one grey level."""
    model = hfimg.load("hfimg/denoise-cnn-photos").eval()
    model.set_backend("fp32")
    image = smooth_photo(DEFAULT_TILE + 100, 300)
    x = pil_to_tensor(image, 3)
    with torch.inference_mode():
        whole = np.asarray(tensor_to_pil(model(x, 20.0).clamp(-1, 1)), dtype=int)
    tiles = np.asarray(model.restore(image, sigma=20.0), dtype=int)
    assert tiles.shape == whole.shape
    assert np.abs(tiles - whole).max() <= 1
    # ... and tiling really happened on this size: with too little context at the cut, the seam shows.
    with torch.inference_mode():
        naive = tiled(lambda t: model(t, 20.0), x, tile=256, halo=0, blend=1).clamp(-1, 1)
    assert np.abs(np.asarray(tensor_to_pil(naive), dtype=int) - whole).max() > 1


def test_self_ensemble_averages_the_eight_turns():
    x = torch.rand(1, 2, 12, 9, generator=torch.Generator().manual_seed(1))
    inputs: list[torch.Tensor] = []

    def shift_right(t: torch.Tensor) -> torch.Tensor:  # not equivariant: each turn gives another answer
        inputs.append(t)
        return torch.roll(t, 1, dims=-1)

    result = self_ensemble(shift_right, x)
    assert len(inputs) == 8
    assert len({tuple(t.flatten().tolist()) for t in inputs}) == 8  # eight different views of the image
    expected = (torch.roll(x, 1, -1) + torch.roll(x, -1, -1) + torch.roll(x, 1, -2) + torch.roll(x, -1, -2)) / 4
    assert torch.allclose(result, expected, atol=1e-6)  # a shift, turned and turned back, goes each of 4 ways
    assert torch.allclose(self_ensemble(lambda t: 3 * t, x), 3 * x)


@pytest.mark.parametrize(
    ("family", "kwargs", "sigma"),
    [("denoise-unet", {"widths": [8, 16], "blocks": 1}, (20.0,)), ("denoise-cnn", {"features": 8, "depth": 4}, ())],
)
def test_ensemble_reaches_the_denoisers_through_the_task_call(family, kwargs, sigma):
    model = hfimg.create_model(family, channels=3, **kwargs)
    model.set_backend("fp32")
    image = smooth_photo(64, 48)
    with torch.inference_mode():
        ensembled = restore_tiled(lambda t: model.eval()(t, *sigma), pil_to_tensor(image, 3), ensemble=True)
    expected = np.asarray(tensor_to_pil(ensembled.clamp(-1, 1)))
    assert np.array_equal(
        np.asarray(model.restore(image, options=RestoreOptions(sigma=20.0, ensemble=True))), expected
    )
    assert not np.array_equal(np.asarray(model.restore(image, options=RestoreOptions(sigma=20.0))), expected)


def test_cli_restores_at_full_size_and_takes_ensemble(tmp_path):
    model = hfimg.create_model("denoise-unet", channels=3, widths=[8, 16], blocks=1)
    model.save_pretrained(tmp_path / "model")
    image = smooth_photo(741, 500)  # the size a user's photo came back shrunk from
    image.save(tmp_path / "in.png")
    for flags, ensemble in (([], False), (["--ensemble"], True)):
        out = tmp_path / f"out-{ensemble}.png"
        command = ["restore", str(tmp_path / "model"), str(tmp_path / "in.png"), "-o", str(out), *flags]
        assert main([*command, "--backend", "fp32"]) == 0
        loaded = hfimg.load(str(tmp_path / "model"))
        loaded.set_backend("fp32")
        expected = loaded.restore(image, ensemble=ensemble)
        assert Image.open(out).size == (741, 500)
        assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected))

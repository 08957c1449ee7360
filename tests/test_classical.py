"""The classical fills' tensor and array forms, held to the libraries they wrap (OpenCV, scikit-image)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.restoration import inpaint_biharmonic

from hfimg import classical


def stripes(height: int = 24, width: int = 32, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Hard black-and-white stripes with some colour noise: edges a fill must continue, extremes it can overshoot."""
    rng = np.random.default_rng(seed)
    bands = (np.arange(width) // 4 % 2 * 255)[None, :].repeat(height, axis=0)
    pixels = np.clip(bands[..., None] + rng.integers(-20, 21, (height, width, channels)), 0, 255).astype(np.uint8)
    return pixels[..., 0] if channels == 1 else pixels


def square_hole(height: int = 24, width: int = 32, top: int = 8, left: int = 10, side: int = 8) -> np.ndarray:
    hole = np.zeros((height, width), dtype=bool)
    hole[top : top + side, left : left + side] = True
    return hole


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (H, W) or (H, W, C) -> (C, H, W) in [-1, 1]."""
    x = torch.from_numpy(pixels.astype(np.float32)) / 127.5 - 1
    return x[None] if x.ndim == 2 else x.permute(2, 0, 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_the_tensor_navier_stokes_is_opencv_on_each_image_of_the_batch(channels):
    images = [stripes(channels=channels, seed=s) for s in (0, 1)]
    holes = [square_hole(), square_hole(top=2, left=20, side=6)]  # a different hole per image
    batch = torch.stack([to_tensor(p) for p in images])  # (2, C, H, W)
    hole = torch.from_numpy(np.stack(holes))[:, None].float()  # (2, 1, H, W)
    filled = classical.navier_stokes_fill(batch, hole, radius=5)
    assert filled.shape == batch.shape and filled.dtype == torch.float32
    for i, (pixels, one_hole) in enumerate(zip(images, holes, strict=True)):
        expected = classical.navier_stokes_pixels(pixels, one_hole, radius=5)
        inside = torch.from_numpy(one_hole)
        assert torch.equal(filled[i][:, inside], to_tensor(expected)[:, inside])
        assert torch.equal(filled[i][:, ~inside], batch[i][:, ~inside])


def test_the_tensor_navier_stokes_takes_its_radius_clamps_its_input_and_reads_the_hole_above_half():
    pixels = stripes(seed=2)
    hole = square_hole()
    x = to_tensor(pixels)[None]
    near, far = (classical.navier_stokes_fill(x, torch.from_numpy(hole)[None, None].float(), r) for r in (1, 9))
    assert not torch.equal(near, far)
    # Values beyond [-1, 1] (a network's output) are clamped as OpenCV's 8 bits would hold them.
    wild = x * 1.4
    clamped = classical.navier_stokes_fill(wild.clamp(-1, 1), torch.from_numpy(hole)[None, None].float())
    assert torch.equal(classical.navier_stokes_fill(wild, torch.from_numpy(hole)[None, None].float())[:, :, hole],
                       clamped[:, :, hole])  # fmt: skip
    # A soft hole: 1 is a hole, 0.5 is not (it is kept as given).
    soft = torch.from_numpy(hole)[None, None].float() * 0.5
    assert torch.equal(classical.navier_stokes_fill(x, soft), x)


def test_the_blend_ignores_what_the_hole_holds():
    x = to_tensor(stripes(seed=3))[None]
    hole = torch.from_numpy(square_hole())[None, None].float()
    garbage = torch.where(hole.bool(), torch.rand(x.shape) * 2 - 1, x)
    assert torch.equal(classical.blend_fills(x, hole), classical.blend_fills(garbage, hole))


@pytest.mark.parametrize("channels", [1, 3])
def test_biharmonic_is_scikit_images_rounded_to_8_bits(channels):
    pixels = stripes(channels=channels, seed=4)
    pixels[:, :12] = 0  # a black field the hole lies in: its fill is 0, kept 0
    hole = square_hole(left=2, side=10)
    raw = inpaint_biharmonic(pixels / 255.0, hole, channel_axis=-1 if channels == 3 else None)
    expected = np.clip(np.floor(raw * 255.0 + 0.5), 0, 255).astype(np.uint8)
    assert np.array_equal(classical.biharmonic_pixels(pixels, hole), expected)
    assert (expected[hole] == 0).any() and len(np.unique(expected[hole])) > 10


def test_a_float_denoiser_becomes_an_image_method_that_keeps_mode_alpha_and_level():
    seen = []

    def brighten_array(noisy: np.ndarray, sigma: float | None, amount: float = 0.1) -> np.ndarray:
        """Adds `amount`, records what it was given."""
        seen.append((noisy.shape, noisy.dtype, float(noisy.min()), float(noisy.max()), sigma))
        return noisy + amount

    brighten = classical.on_image(brighten_array)
    assert brighten.__name__ == "brighten" and brighten.__doc__ == brighten_array.__doc__
    assert brighten.on_array is brighten_array
    grey = Image.fromarray(np.array([[0, 127], [200, 255]], dtype=np.uint8))
    out = brighten(grey, 12.5, amount=0.2)
    assert out.mode == "L" and seen[-1] == ((2, 2), np.float64, 0.0, 1.0, 12.5)  # [0, 1] floats, told the level
    # + 0.2 * 255 = 51 grey levels, rounded half up, clipped at white.
    assert np.array_equal(np.asarray(out), [[51, 178], [251, 255]])
    rgba = Image.fromarray(np.dstack([np.full((2, 2, 3), 10, np.uint8), np.array([[0, 80], [160, 255]], np.uint8)]))
    out = brighten(rgba)
    assert out.mode == "RGBA" and seen[-1][0] == (2, 2, 3) and seen[-1][4] is None
    assert np.array_equal(np.asarray(out)[..., 3], [[0, 80], [160, 255]])
    assert np.array_equal(np.asarray(out)[..., :3], np.full((2, 2, 3), 36))
    assert brighten(grey.convert("P")).mode == "RGB"
    assert np.array_equal(np.asarray(brighten(grey, 0)), np.asarray(brighten(grey, 255)))  # both ends allowed
    for bad in (-1, 256, "25"):
        with pytest.raises(ValueError, match=f"from 0 to 255; got {bad!r}"):
            brighten(grey, bad)


def test_a_tensor_fills_values_beyond_the_range_come_back_clipped_to_8_bits():
    pixels = stripes(seed=5)
    hole = square_hole()
    seen = []

    def wild(x: torch.Tensor, hole_tensor: torch.Tensor) -> torch.Tensor:
        seen.append((x.dtype, x.shape, float(x.min()), float(x.max()), hole_tensor.shape))
        return torch.where(hole_tensor.bool(), torch.full_like(x, 3.0), torch.full_like(x, -3.0))

    out = classical.on_tensors(pixels, hole, wild)
    assert seen == [(torch.float32, (1, 3, 24, 32), -1.0, 1.0, (1, 1, 24, 32))]
    assert out.dtype == np.uint8 and out.shape == pixels.shape
    assert (out[hole] == 255).all() and (out[~hole] == 0).all()
    grey = classical.on_tensors(pixels[..., 0], hole, lambda x, h: x * 0 - 1)  # exactly black: 0, not 1
    assert grey.shape == (24, 32) and (grey == 0).all()


def test_a_float_denoisers_result_below_black_stays_black():
    darken = classical.on_image(lambda noisy, sigma: noisy - 0.3)
    grey = Image.fromarray(np.array([[0, 50], [100, 255]], dtype=np.uint8))
    assert np.array_equal(np.asarray(darken(grey)), [[0, 0], [24, 179]])  # clipped at 0, not wrapped round


def test_a_colour_fill_takes_grey_as_grey_a_palette_as_rgb_and_says_when_the_hole_does_not_fit():
    seen = []

    def mark_pixels(pixels: np.ndarray, hole: np.ndarray, value: int = 7) -> np.ndarray:
        """Marks the hole."""
        assert hole.dtype == bool and hole.shape == pixels.shape[:2]  # the hole itself, not None
        seen.append(pixels.shape)
        out = pixels.copy()
        out[hole] = value
        return out

    fill = classical.on_colour(mark_pixels)
    assert fill.__name__ == "mark" and fill.__doc__ == "Marks the hole."  # what `hfimg list` and errors show
    hole = np.zeros((2, 3), dtype=bool)
    hole[0, 0] = True
    out = fill(Image.new("L", (3, 2), 200), hole)
    assert out.mode == "L" and seen[-1] == (2, 3) and np.array_equal(np.asarray(out), [[7, 200, 200], [200] * 3])
    palette = Image.new("P", (3, 2))
    palette.putpalette([10, 20, 30] + [0] * 765)
    out = fill(palette, hole)
    assert out.mode == "RGB" and seen[-1] == (2, 3, 3)
    assert out.getpixel((0, 0)) == (7, 7, 7) and out.getpixel((1, 0)) == (10, 20, 30)  # colours, not indices
    out = fill(Image.new("LA", (3, 2), (90, 128)), hole)  # grey with alpha: filled as RGB, like every other mode
    assert out.mode == "RGB" and seen[-1] == (2, 3, 3) and out.getpixel((2, 1)) == (90, 90, 90)
    assert np.asarray(fill(Image.new("L", (3, 2), 200), hole, value=9))[0, 0] == 9  # settings reach the fill
    rgba = Image.new("RGBA", (3, 2), (10, 20, 30, 0))
    rgba.putalpha(Image.fromarray(np.array([[0, 50, 100], [150, 200, 255]], dtype=np.uint8)))
    out = fill(rgba, hole)
    assert out.mode == "RGBA" and out.getpixel((0, 0)) == (7, 7, 7, 0) and out.getpixel((2, 1)) == (10, 20, 30, 255)
    with pytest.raises(ValueError, match=r"hole shape \(3, 2\) does not match image size 3x2\."):
        fill(Image.new("L", (3, 2)), np.zeros((3, 2), dtype=bool))

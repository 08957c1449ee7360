"""Texture transfer by contextual residual aggregation (hfimg.texture) and its registered inpainting method."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from hfimg.inpainting import load_inpainter
from hfimg.layers import pull_push_fill
from hfimg.texture import MAX_ENERGY_GAIN, contextual_residual_aggregation


def noisy(batch: int, channels: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """(B, C, H, W) uniform noise in [-1, 1]: detail everywhere, so every candidate has a residual to give."""
    return torch.rand(batch, channels, height, width, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def box_hole(batch: int, height: int, width: int, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    hole = torch.zeros(batch, 1, height, width)
    hole[..., top:bottom, left:right] = 1
    return hole


def periodic_texture_with_strokes() -> tuple[torch.Tensor, torch.Tensor]:
    """A 96x96 checkerboard of 3 px cells with a little noise, (1, 3, 96, 96) in [-1, 1], and a hole of three
    3 px wide strokes (1, 1, 96, 96)."""
    y, x = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    board = 0.8 * (((x // 3 + y // 3) % 2) * 2 - 1)
    noise = 0.05 * torch.randn(96, 96, generator=torch.Generator().manual_seed(0))
    truth = (board + noise).clamp(-1, 1).expand(1, 3, 96, 96).contiguous()
    hole = torch.zeros(1, 1, 96, 96)
    hole[..., 20:23, 10:86] = hole[..., 50:53, 10:86] = hole[..., 10:86, 70:73] = 1
    return truth, hole


def gradient_energy(image: torch.Tensor, region: torch.Tensor) -> float:
    """Mean squared forward difference (x and y) of `image` (B, C, H, W) over `region` (B, 1, H, W)."""
    dx, dy = image[..., 1:, 1:] - image[..., 1:, :-1], image[..., 1:, 1:] - image[..., :-1, 1:]
    inside = region[..., 1:, 1:].bool().expand_as(dx)
    return float((dx.square() + dy.square())[inside].mean())


@pytest.mark.parametrize(
    ("batch", "channels", "height", "width"), [(1, 3, 64, 64), (2, 3, 37, 53), (3, 1, 101, 20), (1, 4, 5, 7)]
)
def test_any_size_keeps_shape_and_known_pixels_exactly(batch, channels, height, width):
    image = noisy(batch, channels, height, width)
    hole = box_hole(batch, height, width, height // 3, height // 3 + 3, width // 4, width // 4 + 4)
    out = contextual_residual_aggregation(image, hole)
    assert out.shape == image.shape and out.dtype == image.dtype and torch.isfinite(out).all()
    known = ~hole.bool().expand_as(image)
    assert torch.equal(out[known], image[known])
    if min(height, width) >= 20:  # room for candidates around the hole: detail is added inside it
        assert not torch.equal(out[~known], image[~known])


def test_one_pixel_hole_border_holes_and_no_hole():
    image = noisy(2, 3, 48, 40)
    one_pixel = torch.zeros(2, 1, 48, 40)
    one_pixel[0, 0, 17, 23] = 1
    out = contextual_residual_aggregation(image, one_pixel)
    known = one_pixel.expand_as(image) == 0
    assert torch.equal(out[known], image[known])
    assert out[0, :, 17, 23].ne(image[0, :, 17, 23]).any()  # the lone pixel got detail
    assert torch.equal(out[1], image[1])  # the batch's second image has no hole: untouched
    assert torch.equal(contextual_residual_aggregation(image, torch.zeros(2, 1, 48, 40)), image)  # all known

    corners = box_hole(2, 48, 40, 0, 10, 0, 12) + box_hole(2, 48, 40, 40, 48, 30, 40)  # touching every border
    out = contextual_residual_aggregation(image, corners)
    known = corners.expand_as(image) == 0
    assert torch.isfinite(out).all() and torch.equal(out[known], image[known]) and not torch.equal(out, image)
    everything = torch.ones(2, 1, 48, 40)  # no known patch to copy from: the fill comes back
    assert torch.equal(contextual_residual_aggregation(image, everything), image)


def test_settings_are_checked():
    image, hole = noisy(1, 3, 16, 16), box_hole(1, 16, 16, 4, 8, 4, 8)
    for bad in ({"patch": 2}, {"paste": 0}, {"temperature": 0.0}, {"top_k": 0}, {"low_side": 0}):
        with pytest.raises(ValueError, match="expected"):
            contextual_residual_aggregation(image, hole, **bad)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        contextual_residual_aggregation(image, hole[:, :, :8])


def test_gradients_reach_the_input():
    image = noisy(2, 3, 40, 40).requires_grad_()
    hole = box_hole(2, 40, 40, 10, 20, 12, 22)
    contextual_residual_aggregation(image, hole, paste=3).square().sum().backward()
    known_rows = image.grad[..., 30:, :]  # known pixels far from the hole feed it only as copied residual
    assert torch.isfinite(image.grad).all() and known_rows.abs().sum() > 0


def test_bf16_autocast_runs_and_matches_float32():
    image, hole = noisy(2, 3, 64, 48), box_hole(2, 64, 48, 20, 30, 10, 26)
    reference = contextual_residual_aggregation(image, hole)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = contextual_residual_aggregation(image, hole)
    assert mixed.dtype == torch.float32 and torch.allclose(mixed, reference, atol=1e-5)
    halved = contextual_residual_aggregation(image.bfloat16(), hole.bfloat16())  # a bf16 image stays bf16
    assert halved.dtype == torch.bfloat16 and (halved.float() - reference).abs().max() < 0.05


def test_periodic_texture_is_restored_where_pull_push_blurs():
    truth, hole = periodic_texture_with_strokes()
    smooth = pull_push_fill(truth * (1 - hole), hole)
    textured = contextual_residual_aggregation(smooth, hole)
    inside = hole.bool().expand_as(truth)
    error = {name: float((fill - truth)[inside].square().mean()) for name, fill in (("pp", smooth), ("tx", textured))}
    assert error["tx"] < error["pp"] / 4  # the checkerboard's phase is found from the known pixels around strokes
    assert gradient_energy(textured, hole) > 4 * gradient_energy(smooth, hole)
    assert gradient_energy(textured, hole) > 0.7 * gradient_energy(truth, hole)


def test_registered_method_adds_detail_through_the_inpainter():
    truth, hole = periodic_texture_with_strokes()
    pixels = ((truth[0].permute(1, 2, 0) + 1) * 127.5).round().to(torch.uint8).numpy()  # (96, 96, 3)
    mask = Image.fromarray(hole[0, 0].numpy().astype(np.uint8) * 255)
    inpainter = load_inpainter("pull-push-texture")
    assert inpainter.name == "pull-push + texture transfer" and inpainter.spec.fill is not None
    textured = np.asarray(inpainter(Image.fromarray(pixels), mask).image).astype(float)
    smooth = np.asarray(load_inpainter("pull-push")(Image.fromarray(pixels), mask).image).astype(float)
    inside = hole[0, 0].numpy().astype(bool)
    assert np.array_equal(textured[~inside], pixels[~inside])
    assert np.abs(textured - pixels)[inside].mean() < np.abs(smooth - pixels)[inside].mean() / 2


@pytest.mark.parametrize("paste", [1, 3])
def test_keep_energy_copies_the_grain_of_one_patch_where_averaging_thins_it(paste):
    # Uniform noise: every candidate block is unrelated to the others, so a weighted mean of 8 of them keeps about
    # 1/8 of their energy (less again where paste > 1 overlaps pastes), while one copied block keeps all of its own.
    image, hole = noisy(1, 3, 96, 96, seed=4), box_hole(1, 96, 96, 30, 60, 24, 72)
    smooth = pull_push_fill(image * (1 - hole), hole)
    inside = hole.bool().expand_as(image)

    def added_energy(**settings) -> float:
        out = contextual_residual_aggregation(smooth, hole, **settings)
        assert torch.equal(out[~inside], smooth[~inside])  # known pixels kept exactly, whatever the setting
        return float((out - smooth)[inside].square().mean())

    one = added_energy(top_k=1)
    averaged = added_energy(top_k=8, temperature=10.0, paste=paste)  # near-equal weights
    kept = added_energy(top_k=8, temperature=10.0, paste=paste, keep_energy=True)
    assert averaged < 0.3 * one
    # One block's energy, unless that takes more than the capped gain (paste 3 averages up to 9 x 8 blocks).
    expected = min(one, MAX_ENERGY_GAIN**2 * averaged)
    assert 0.8 * expected < kept < 1.25 * expected
    # A share in between gives back that share of the lost energy, block by block, so in total too (below the cap);
    # 0 is the plain mean, and a share outside 0-1 is refused.
    if paste == 1:
        half = added_energy(top_k=8, temperature=10.0, paste=paste, keep_energy=0.5)
        assert abs(half - (averaged + kept) / 2) < 0.01 * kept
    assert added_energy(top_k=8, temperature=10.0, paste=paste, keep_energy=0.0) == averaged
    with pytest.raises(ValueError, match="share of the lost energy given back, 0 to 1; got 1.5"):
        contextual_residual_aggregation(smooth, hole, keep_energy=1.5)
    # The gain is capped: no pasted block is scaled up more than MAX_ENERGY_GAIN times the plain average's.
    settings = {"top_k": 8, "temperature": 10.0, "paste": paste}
    plain = contextual_residual_aggregation(smooth, hole, **settings) - smooth
    scaled = contextual_residual_aggregation(smooth, hole, keep_energy=True, **settings) - smooth
    assert (scaled.abs() <= MAX_ENERGY_GAIN * plain.abs() + 1e-6).all()
    # Gradients reach the known pixels the detail is copied from, and stay finite where a block has no residual to
    # scale (a flat half of the image, the hole in it).
    source = smooth.clone().requires_grad_()
    contextual_residual_aggregation(source, hole, keep_energy=True, paste=paste).square().sum().backward()
    assert torch.isfinite(source.grad).all() and source.grad[~inside].abs().sum() > 0
    half_flat = image.clone()
    half_flat[..., :, 48:] = 0.2
    flat_hole = box_hole(1, 96, 96, 30, 60, 60, 90)
    source = half_flat.requires_grad_()
    out = contextual_residual_aggregation(source, flat_hole, keep_energy=True, paste=paste)
    out.square().sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(source.grad).all()


@pytest.mark.parametrize("channels", [1, 3])
def test_each_hole_block_gets_one_known_blocks_residual_when_one_candidate_is_kept(channels):
    # With a single candidate per target, every block wholly inside the hole must receive exactly the residual (the
    # image minus its low-pass) of one s x s block of the known region: a mix-up of the block layout in the gather
    # or the paste back would give pixels that no real block has.
    image = noisy(1, channels, 48, 36, seed=5)
    hole = box_hole(1, 48, 36, 12, 36, 6, 30)  # on the 3 px block grid
    scale = math.ceil(48 / 16)  # low_side 16 -> s = 3 px blocks
    out = contextual_residual_aggregation(image, hole, low_side=16, top_k=1)
    low = torch.nn.functional.avg_pool2d(image, scale)
    residual = image - torch.nn.functional.interpolate(low, scale_factor=scale, mode="bilinear", align_corners=False)
    blocks = residual[0].unfold(1, scale, scale).unfold(2, scale, scale)  # (C, h, w, s, s)
    known_blocks = {
        tuple(blocks[:, y, x].flatten().tolist())
        for y in range(blocks.shape[1])
        for x in range(blocks.shape[2])
        if not hole[0, 0, y * scale : (y + 1) * scale, x * scale : (x + 1) * scale].any()
    }
    added = (out - image)[0].unfold(1, scale, scale).unfold(2, scale, scale)  # (C, h, w, s, s)
    inside = [(y, x) for y in range(12 // scale, 36 // scale) for x in range(6 // scale, 30 // scale)]
    for y, x in inside:
        copied = added[:, y, x].flatten()
        assert any(torch.allclose(copied, torch.tensor(block), atol=1e-6) for block in known_blocks), (y, x)

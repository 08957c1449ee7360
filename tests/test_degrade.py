"""Degradations: noise level and its estimate, blur, real JPEG round trips, dropped pixels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hfimg.degrade import blur, estimate_noise_level, gaussian_noise, jpeg


def smooth_images(batch: int = 2, channels: int = 3, size: int = 32) -> torch.Tensor:
    """Gradients in [-0.8, 0.8]: smooth, away from the clipping range."""
    ramp = torch.linspace(-0.8, 0.8, size)
    image = (ramp[None, :] + ramp[:, None]) / 2  # (H, W)
    return image.expand(batch, channels, size, size).clone()


@pytest.mark.parametrize("sigma", [5, 25, 50])
def test_noise_has_the_requested_std(sigma):
    clean = torch.zeros(2, 3, 128, 128)
    noisy = gaussian_noise(clean, sigma, generator=torch.Generator().manual_seed(0))
    assert float((noisy - clean).std() * 127.5) == pytest.approx(sigma, rel=0.02)
    assert float((noisy - clean).mean() * 127.5) == pytest.approx(0, abs=0.5)


def test_noise_per_image_sigma_reproducibility_and_clip():
    clean = torch.zeros(2, 1, 128, 128)
    noisy = gaussian_noise(clean, torch.tensor([10.0, 40.0]), generator=torch.Generator().manual_seed(1))
    stds = (noisy.std(dim=(1, 2, 3)) * 127.5).tolist()
    assert stds == pytest.approx([10, 40], rel=0.03)
    again = gaussian_noise(clean, torch.tensor([10.0, 40.0]), generator=torch.Generator().manual_seed(1))
    assert torch.equal(noisy, again)
    assert torch.equal(gaussian_noise(clean, 0), clean)
    clipped = gaussian_noise(torch.full((1, 1, 16, 16), 0.99), 50, clip=True)
    assert clipped.max() <= 1 and clipped.min() >= -1
    with pytest.raises(ValueError, match="sigmas for a batch"):
        gaussian_noise(clean, torch.tensor([1.0, 2.0, 3.0]))


def test_blur_smooths_noise_keeps_constants_and_size():
    flat = torch.full((1, 3, 20, 24), 0.3)
    assert torch.allclose(blur(flat, 2.0), flat, atol=1e-6)
    noise = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    blurred = blur(noise, 1.5)
    assert blurred.shape == noise.shape
    assert blurred.std() < noise.std() / 3  # white noise loses most of its variance
    assert float(blurred.mean()) == pytest.approx(float(noise.mean()), abs=0.02)
    assert torch.equal(blur(noise, 0), noise)
    assert blur(torch.rand(1, 1, 4, 4), 5.0).shape == (1, 1, 4, 4)  # kernel wider than the image


def test_jpeg_changes_the_image_but_keeps_its_size():
    images = smooth_images() + 0.1 * torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    images = images.clamp(-1, 1)
    low, high = jpeg(images, 5), jpeg(images, 95)
    assert low.shape == images.shape and low.dtype == images.dtype
    assert low.min() >= -1 and low.max() <= 1
    assert not torch.allclose(low, images, atol=2 / 255)
    assert (low - images).abs().mean() > (high - images).abs().mean()  # lower quality, more damage
    grey = jpeg(smooth_images(channels=1), 30)
    assert grey.shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="quality"):
        jpeg(images, 0)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="B, C, H, W"):
        blur(torch.zeros(3, 8, 8), 1.0)


@pytest.mark.parametrize("sigma", [5, 15, 25, 50])
def test_noise_level_estimate_is_close_on_a_smooth_image(sigma):
    # A smooth image (a few bilinearly enlarged random values) with noise of a known level.
    generator = torch.Generator().manual_seed(0)
    smooth = F.interpolate(torch.rand(2, 3, 6, 6, generator=generator) * 2 - 1, size=(96, 80), mode="bilinear")
    noisy = gaussian_noise(smooth, sigma, generator=generator)
    estimate = estimate_noise_level(noisy)
    assert estimate.shape == (2,)
    assert torch.allclose(estimate, torch.full((2,), float(sigma)), rtol=0.1)
    assert float(estimate_noise_level(smooth).max()) < 1.0  # a clean smooth image reads (almost) no noise


def test_noise_level_estimate_needs_two_pixels():
    with pytest.raises(ValueError, match="at least 2 x 2"):
        estimate_noise_level(torch.zeros(1, 1, 1, 5))

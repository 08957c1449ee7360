"""DenoiseUNet: any image size, the noise level told or estimated, the PIL API, bf16. Registry-wide checks
(gradients, save/load, ONNX) are in test_models.py and test_runtime.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hfimg.degrade import estimate_noise_level, gaussian_noise
from hfimg.models import DenoiseUNet


def tiny(channels: int = 3) -> DenoiseUNet:
    torch.manual_seed(0)
    model = DenoiseUNet(channels=channels, widths=[8, 16, 16], blocks=1).eval()
    with torch.no_grad():  # an untrained tail predicts almost nothing; make the noise estimate matter
        model.tail.weight.normal_(std=0.3)
    return model


def noisy_batch(height: int, width: int, sigma: float = 25) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    clean = torch.nn.functional.interpolate(torch.rand(2, 3, 4, 4, generator=generator) * 2 - 1, size=(height, width))
    return gaussian_noise(clean, sigma, generator=generator)


@pytest.mark.parametrize(("height", "width"), [(37, 29), (8, 8), (3, 5)])
def test_any_size_comes_back_at_its_size(height, width):
    noisy = noisy_batch(height, width)
    with torch.no_grad():
        assert tiny()(noisy, 25.0).shape == noisy.shape


def test_the_level_is_an_input_and_is_estimated_when_not_given():
    model, noisy = tiny(), noisy_batch(40, 48)
    with torch.no_grad():
        told_low, told_high = model(noisy, 5.0), model(noisy, 50.0)
        assert (told_low - told_high).abs().max() > 1e-3  # the noise map reaches the output
        per_image = model(noisy, torch.tensor([5.0, 50.0]))
        torch.testing.assert_close(per_image[0], told_low[0])
        torch.testing.assert_close(per_image[1], told_high[1])
        torch.testing.assert_close(model(noisy), model(noisy, estimate_noise_level(noisy)))
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        model(noisy, -1.0)
    with pytest.raises(ValueError, match=r"expected a \(B, 3, H, W\) tensor"):
        model(noisy[:, :1])


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_restore_keeps_size_and_mode(mode):
    model = tiny(channels=1 if mode == "L" else 3)
    array = np.random.default_rng(0).integers(0, 256, (21, 34, len(mode)), dtype=np.uint8)
    image = Image.fromarray(array[..., 0] if mode == "L" else array, mode=mode)
    restored = model.restore(image)
    assert restored.size == image.size and restored.mode == mode
    assert model.restore(image, sigma=15).size == image.size


def test_bf16_autocast_stays_close_to_fp32():
    model, noisy = tiny(), noisy_batch(32, 32)
    with torch.no_grad():
        reference = model(noisy, 25.0)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast = model(noisy, 25.0)
    assert torch.isfinite(fast).all()
    assert (fast.float() - reference).abs().max() < 0.05


def test_a_tiny_unet_learns_to_denoise():
    torch.manual_seed(0)
    model = DenoiseUNet(channels=1, widths=[8, 16], blocks=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    clean = torch.nn.functional.interpolate(torch.rand(8, 1, 4, 4, generator=generator) * 2 - 1, size=(24, 24))
    noisy = gaussian_noise(clean, 25, generator=generator)
    with torch.no_grad():
        before = float((model(noisy, 25.0) - clean).square().mean())
    for _ in range(150):
        optimizer.zero_grad()
        loss = (model(noisy, 25.0) - clean).square().mean()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.3 * before

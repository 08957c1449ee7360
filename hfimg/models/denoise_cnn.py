"""DenoiseCNN: a residual denoiser in the style of DnCNN (Zhang et al., 2017).

The network predicts the noise (the residual) and subtracts it from the input, which is easier to learn than the
clean image itself. Fully convolutional, so any image size works.
"""

from __future__ import annotations

import torch
from PIL import Image
from torch import nn

from hfimg.hub import HubModel
from hfimg.imaging import ImageInput, PreparedImage, network_mode
from hfimg.registry import register_model
from hfimg.runtime import CoreSpec, example_images, fast_inference


@register_model("denoise-cnn")
class DenoiseCNN(
    HubModel,
    tags=["image-denoising", "image-restoration", "dncnn"],
    pipeline_tag="image-to-image",
):
    """Residual CNN denoiser: `depth` 3x3 conv layers of `features` channels, batch norm in the middle ones.

    Args:
        channels: 1 (grey) or 3 (RGB).
        features: channels of the hidden layers.
        depth: number of conv layers (DnCNN uses 17).

    Example:
        >>> model = DenoiseCNN(channels=3, features=32, depth=8)
        >>> clean = model.restore(Image.new("RGB", (40, 30)))
        >>> clean.size
        (40, 30)
    """

    def __init__(self, channels: int = 3, features: int = 64, depth: int = 17):
        super().__init__()
        network_mode(channels)  # validates channels
        if not 3 <= depth <= 200:
            raise ValueError(f"depth must be from 3 (first, middle and last layer) to 200, got {depth}.")
        self.channels = channels
        layers: list[nn.Module] = [nn.Conv2d(channels, features, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(features, features, 3, padding=1, bias=False), nn.BatchNorm2d(features)]
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(features, channels, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def predict_noise(self, noisy: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) noisy image in [-1, 1] -> (B, C, H, W) estimated noise (same scale)."""
        if noisy.ndim != 4 or noisy.shape[1] != self.channels:
            raise ValueError(f"expected a (B, {self.channels}, H, W) tensor, got shape {tuple(noisy.shape)}.")
        return self.body(noisy)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) noisy image in [-1, 1] -> (B, C, H, W) denoised image."""
        if noisy.ndim != 4 or noisy.shape[1] != self.channels:
            raise ValueError(f"expected a (B, {self.channels}, H, W) tensor, got shape {tuple(noisy.shape)}.")
        return self.run_core(noisy)

    def core(self, noisy: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) noisy image in [-1, 1], any H and W -> (B, C, H, W) denoised image (not clamped)."""
        return noisy - self.body(noisy)

    def core_spec(self) -> CoreSpec:
        clean = example_images(2, self.channels, 48, 64)
        noisy = clean + 25 / 127.5 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
        return CoreSpec(
            inputs={"noisy": noisy},
            output="denoised",
            dynamic={"noisy": {0: "batch", 2: "height", 3: "width"}},
            description=(
                "noisy: (B, C, H, W) float32, any H and W, the image scaled to [-1, 1] (pixel / 127.5 - 1). "
                "denoised: (B, C, H, W) float32; clamp to [-1, 1] and scale back ((x + 1) * 127.5, rounded)."
            ),
        )

    @fast_inference
    def restore(self, image: ImageInput) -> Image.Image:
        """Denoise one image; returns a PIL image of the same size and mode."""
        prepared = PreparedImage.from_input(image, self.channels)
        was_training = self.training
        self.eval()
        result = self(prepared.tensor.to(self.device)).clamp(-1, 1)
        self.train(was_training)
        return prepared.to_output(result)

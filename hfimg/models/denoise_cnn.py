"""The CNN denoisers: DenoiseCNN (a flat DnCNN stack) and DenoiseUNet (a multi-scale U-Net told the noise level).

Both predict the noise (the residual) and subtract it from the input, which is easier to learn than the clean image
itself, and both are fully convolutional, so any image size works.

* `DenoiseCNN` (DnCNN, Zhang et al., 2017): `depth` 3x3 convolutions at full resolution. Its receptive field is
  2 * depth + 1 pixels, too small to average the noise away over a smooth area the way BM3D's block matching does.
* `DenoiseUNet` (the FFDNet / DRUNet lineage: Zhang et al., 2018 and 2021): the image is folded into 2 x 2 pixel
  blocks (pixel unshuffle) and a noise-level map is added as an input channel; residual blocks then work at 1/2,
  1/4, 1/8, ... of the resolution, so a few layers see far, and the cost per pixel stays small. Told the noise
  level (or estimating it from the image when it is not given), one network serves every level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from hfimg.cores import CoreSpec, example_images
from hfimg.degrade import estimate_noise_level
from hfimg.families import register_model
from hfimg.hub import HubModel
from hfimg.imaging import ImageInput, PreparedImage, network_mode
from hfimg.layers import pad_to_multiple
from hfimg.runtime import fast_inference
from hfimg.tasks import RestoreOptions, refuse_beside_options
from hfimg.tiling import ImageFunction, restore_tiled

_LEVEL = 2 / 255  # one grey level of the 0-255 scale, in [-1, 1] units


@register_model(
    "denoise-cnn",
    tiny={"channels": 3, "features": 4, "depth": 3},
    objective="denoise",
    # bf16 on CPU in channels_last: a training step of 16 x 40 px crops (features 32, depth 10) took 24.0 ms against
    # 33.2 ms in the default layout (fp32: 73.7 ms), 1.38x; the Trainer loop 32.8 against 41.4 ms (2 cores,
    # `benchmarks/bench_train.py --precisions`, 2026-12-02).
    training={"channels_last_bf16": True},
)
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

    multiple = 1  # any size works as it is: no padding

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
    def restore(
        self, image: ImageInput, ensemble: bool = False, *, options: RestoreOptions | None = None
    ) -> Image.Image:
        """Denoise one image of any size (in overlapping tiles when large, `hfimg.tiling`); with `ensemble`, the
        average over the 8 flips and rotations (8x the time). Returns a PIL image of the same size and mode.

        `options` (`hfimg.tasks`) instead of `ensemble`: blind, so of them only `ensemble` applies.
        """
        refuse_beside_options(options, ensemble=ensemble)
        ensemble = options.ensemble if options is not None else ensemble
        return _restore(self, PreparedImage.from_input(image, self.channels), self, ensemble)


class ResidualBlock(nn.Module):
    """`x + conv(relu(conv(x)))`, 3x3 convolutions without bias or normalisation, as in DRUNet."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register_model("denoise-unet", tiny={"channels": 3, "widths": [8, 16, 16], "blocks": 1}, objective="denoise")
class DenoiseUNet(
    HubModel,
    tags=["image-denoising", "image-restoration", "drunet", "ffdnet"],
    pipeline_tag="image-to-image",
):
    """Multi-scale residual U-Net denoiser with a noise-level input.

    Shapes, for a noisy (B, C, H, W) image (padded by mirroring to a multiple of `multiple`, cropped back after) and
    widths w_0 ... w_n:

    * in: pixel unshuffle to (B, 4C, H/2, W/2), plus the noise-level map (B, 1, H/2, W/2) = sigma / 255 everywhere;
      a 3x3 conv to w_0;
    * encoder level i = 0 .. n-1: `blocks` residual blocks at w_i, then a 2x2 stride-2 conv to w_{i+1};
    * bottleneck: `blocks` residual blocks at w_n, at 1/2**(n+1) of the resolution;
    * decoder level i = n-1 .. 0: a 2x2 stride-2 transposed conv back to w_i, plus the encoder's features at that
      level (skip connection, added), then `blocks` residual blocks;
    * out: a 3x3 conv to 4C and a pixel shuffle to (B, C, H, W): the estimated noise, subtracted from the input.

    Args:
        channels: 1 (grey) or 3 (RGB).
        widths: channels at 1/2, 1/4, ... of the resolution; each entry adds a level.
        blocks: residual blocks per level on each side and in the bottleneck.

    Example:
        >>> model = DenoiseUNet(channels=3, widths=[8, 16], blocks=1)
        >>> model.restore(Image.new("RGB", (40, 30))).size
        (40, 30)
    """

    takes_noise_level = True  # `forward(noisy, sigma)`: the training objective tells it the level it added

    def __init__(self, channels: int = 3, widths: list[int] = [32, 64, 128], blocks: int = 1):  # noqa: B006
        super().__init__()
        network_mode(channels)  # validates channels
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be a non-empty list of positive channel counts, got {widths}.")
        if blocks < 1:
            raise ValueError(f"blocks must be at least 1, got {blocks}.")
        self.channels = channels
        self.multiple = 2 ** len(widths)  # the unshuffle, then len(widths) - 1 halvings
        self.head = nn.Conv2d(4 * channels + 1, widths[0], 3, padding=1)
        self.encoder = nn.ModuleList(nn.Sequential(*(ResidualBlock(w) for _ in range(blocks))) for w in widths[:-1])
        self.down = nn.ModuleList(
            nn.Conv2d(a, b, 2, stride=2, bias=False) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.bottleneck = nn.Sequential(*(ResidualBlock(widths[-1]) for _ in range(blocks)))
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(b, a, 2, stride=2, bias=False) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.decoder = nn.ModuleList(nn.Sequential(*(ResidualBlock(w) for _ in range(blocks))) for w in widths[:-1])
        self.tail = nn.Conv2d(widths[0], 4 * channels, 3, padding=1)

    def forward(self, noisy: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """Denoise a batch.

        Args:
            noisy: (B, C, H, W) in [-1, 1] (unclipped noise is fine), any H and W.
            sigma: the noise level in grey levels (0-255 scale): one number, a (B,) tensor, or None to estimate it
                from each image (`hfimg.degrade.estimate_noise_level`).

        Returns:
            (B, C, H, W) denoised images, not clamped.
        """
        if noisy.ndim != 4 or noisy.shape[1] != self.channels:
            raise ValueError(f"expected a (B, {self.channels}, H, W) tensor, got shape {tuple(noisy.shape)}.")
        if sigma is None:
            sigma = estimate_noise_level(noisy)
        sigma = torch.as_tensor(sigma, dtype=noisy.dtype, device=noisy.device)
        if (sigma < 0).any():
            raise ValueError(f"sigma must be >= 0 grey levels, got {sigma.tolist()}.")
        level = (sigma.reshape(-1, 1, 1, 1) / 255).expand(noisy.shape[0], 1, 1, 1)  # (B, 1, 1, 1), [0, 1] scale
        height, width = noisy.shape[-2:]
        denoised = self.run_core(pad_to_multiple(noisy, self.multiple), level.contiguous())
        return denoised[..., :height, :width]

    def core(self, noisy: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """noisy (B, C, H, W) in [-1, 1], H and W multiples of `multiple`; level (B, 1, 1, 1) = sigma / 255 ->
        (B, C, H, W) denoised image (not clamped)."""
        x = F.pixel_unshuffle(noisy, 2)  # (B, 4C, H/2, W/2)
        x = self.head(torch.cat([x, level.expand(-1, 1, *x.shape[-2:])], dim=1))  # (B, w_0, H/2, W/2)
        skips = []
        for blocks, down in zip(self.encoder, self.down, strict=True):
            x = blocks(x)
            skips.append(x)
            x = down(x)  # half the size, next width
        x = self.bottleneck(x)
        for blocks, up, skip in zip(reversed(self.decoder), reversed(self.up), reversed(skips), strict=True):
            x = blocks(up(x) + skip)
        return noisy - F.pixel_shuffle(self.tail(x), 2)  # (B, C, H, W)

    def core_spec(self) -> CoreSpec:
        clean = example_images(2, self.channels, 2 * self.multiple, 3 * self.multiple)
        noisy = clean + 25 * _LEVEL * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
        return CoreSpec(
            inputs={"noisy": noisy, "level": torch.full((2, 1, 1, 1), 25 / 255)},
            output="denoised",
            dynamic={"noisy": {0: "batch", 2: "height", 3: "width"}, "level": {0: "batch"}},
            multiple=self.multiple,
            description=(
                "noisy: (B, C, H, W) float32 scaled to [-1, 1] (pixel / 127.5 - 1), H and W multiples of "
                f"{self.multiple} (pad the bottom and right by mirroring, crop the result); level: (B, 1, 1, 1) "
                "float32, the noise's standard deviation in grey levels / 255. denoised: (B, C, H, W) float32; clamp "
                "to [-1, 1] and scale back ((x + 1) * 127.5, rounded)."
            ),
        )

    @fast_inference
    def restore(
        self,
        image: ImageInput,
        sigma: float | None = None,
        ensemble: bool = False,
        *,
        options: RestoreOptions | None = None,
    ) -> Image.Image:
        """Denoise one image of any size (in overlapping tiles when large, `hfimg.tiling`).

        Args:
            image: a PIL image, a path or a (1, C, H, W) tensor in [-1, 1].
            sigma: the noise level in grey levels; None = estimated once from the whole image (so every tile of a
                large photo is told the same level).
            ensemble: average over the 8 flips and rotations of the image (8x the time).
            options: the task's options (`hfimg.tasks`) instead of the two above: `options.sigma` and
                `options.ensemble`.

        Returns:
            A PIL image of the same size and mode.
        """
        refuse_beside_options(options, sigma=sigma is not None, ensemble=ensemble)
        if options is not None:
            sigma, ensemble = options.sigma, options.ensemble
        prepared = PreparedImage.from_input(image, self.channels)
        if sigma is None:
            sigma = float(estimate_noise_level(prepared.tensor)[0])
        return _restore(self, prepared, lambda noisy: self(noisy, sigma), ensemble)


def _restore(model: nn.Module, prepared: PreparedImage, denoise: ImageFunction, ensemble: bool) -> Image.Image:
    """`denoise` ((1, C, H, W) noisy -> denoised, in [-1, 1]) over the tiles of the image, in eval mode; the result
    clamped and given back in the input's size and mode."""
    was_training = model.training
    model.eval()
    noisy = prepared.tensor.to(model.device)
    result = restore_tiled(denoise, noisy, ensemble=ensemble, multiple=model.multiple).clamp(-1, 1)
    model.train(was_training)
    return prepared.to_output(result)

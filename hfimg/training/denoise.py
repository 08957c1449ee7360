"""Denoising objective (DenoiseCNN, DenoiseUNet): L2 (or L1) on the noise residual, over a range of noise levels.

Each image gets white Gaussian noise of its own sigma, drawn uniformly from [--sigma_min, --sigma_max] grey levels
(0-255 scale; DnCNN-B's blind range is 0-55), via `hfimg.degrade.gaussian_noise`. The network is scored on the
residual it removes, `noisy - model(noisy)`, against the noise that was added: the DnCNN loss. A model that takes
the noise level (`takes_noise_level`, DenoiseUNet) is told each image's sigma, as FFDNet and DRUNet train. With
`--sigma_weighting inverse` each image's loss is weighted by (25 / max(sigma, 5))**2: a plain mean is steered by the
high levels, whose squared errors are several times larger, and under-trains the low ones.
"""

from __future__ import annotations

import torch

from hfimg.degrade import gaussian_noise
from hfimg.hub import HubModel
from hfimg.training.objective import ApplyLoss, Objective, pixel_loss


class DenoiseObjective(Objective):
    """Trains a residual denoiser `model(noisy) -> denoised`."""

    name = "denoise"

    def preview_sigma(self) -> float:
        """Noise level of the previews: 25 (the usual benchmark level) when in the trained range, else its middle."""
        low, high = self.config.denoise.sigma_min, self.config.denoise.sigma_max
        return 25.0 if low <= 25.0 <= high else (low + high) / 2

    def training_step(self, batch: dict[str, torch.Tensor], step: int, apply: ApplyLoss) -> dict | None:
        clean = batch["image"]  # (B, C, H, W)
        low, high = self.config.denoise.sigma_min, self.config.denoise.sigma_max
        sigma = low + (high - low) * torch.rand(clean.shape[0], device=clean.device)  # (B,) grey levels
        noisy = gaussian_noise(clean, sigma)
        told = getattr(self.model, "takes_noise_level", False)
        denoised = self.net(noisy, sigma) if told else self.net(noisy)  # (B, C, H, W)
        residual = noisy - denoised  # the noise the network removes
        per_image = pixel_loss(residual, noisy - clean, self.config.loss).flatten(1).mean(dim=1)  # (B,)
        if self.config.denoise.sigma_weighting == "inverse":
            per_image = per_image * (25.0 / sigma.clamp(min=5.0)) ** 2  # each level's error relative to it
        loss = per_image.mean()
        if not apply(loss, self.optimizer):
            return None
        return {"loss": loss.detach()}

    @torch.no_grad()
    def preview(self, model: HubModel, images: torch.Tensor | None, generator: torch.Generator) -> list[torch.Tensor]:
        noisy = gaussian_noise(images.cpu(), self.preview_sigma(), generator=generator).to(images.device)
        return [noisy, model(noisy), images]

    @classmethod
    def preview_legend(cls) -> str:
        return (
            "Row 1: images with Gaussian noise (sigma 25, or the middle of the trained range); row 2: denoised; "
            "row 3: clean."
        )

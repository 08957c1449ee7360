"""VAE objective: reconstruction (L1 or L2) + beta * KL(q(z|x) || N(0, I)), with beta warmed up from 0.

Both terms are per pixel value: the reconstruction error is averaged over pixels, the KL (summed over the latent
dimensions, as in the ELBO) is divided by the number of pixel values. That is the ELBO up to a constant factor, so
`--kl_weight 1` keeps its balance, and the logged loss does not grow with the resolution. A KL warm-up
(`--kl_warmup_steps`) lets the decoder learn to use the code before the KL term pulls the codes together, which
avoids posterior collapse early in training.
"""

from __future__ import annotations

import torch

from hfimg.hub import HubModel
from hfimg.training.objective import ApplyLoss, Objective, pixel_loss


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per sample, summed over the latent dimensions: (B, D) -> (B,)."""
    mean, logvar = mean.float(), logvar.float()
    return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)


class VAEObjective(Objective):
    """Trains a `ConvVAE`."""

    families = ("vae",)
    defaults = {**Objective.defaults, "learning_rate": 1e-3, "loss": "l2"}
    # Not in channels_last for bf16 on CPU: measured slower, 12.0 against 8.7 ms per step of 32 x 32 px grey
    # (`benchmarks/bench_train.py --precisions`, 2 cores, 2026-12-02).

    def kl_weight(self, step: int) -> float:
        """beta at optimizer step `step`: ramps linearly from 0 to --kl_weight over --kl_warmup_steps."""
        warmup = self.args.kl_warmup_steps
        return self.args.kl_weight * (min(1.0, step / warmup) if warmup > 0 else 1.0)

    def training_step(self, batch: dict[str, torch.Tensor], step: int, apply: ApplyLoss) -> dict | None:
        images = batch["image"]  # (B, C, R, R)
        reconstruction, mean, logvar = self.net(images)  # (B, C, R, R), (B, D), (B, D)
        recon = pixel_loss(reconstruction, images, self.args.loss).mean()
        kl = kl_to_standard_normal(mean, logvar).mean() / images[0].numel()
        beta = self.kl_weight(step)
        loss = recon + beta * kl
        if not apply(loss, self.optimizer):
            return None
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach(), "beta": torch.tensor(beta)}

    @torch.no_grad()
    def preview(self, model: HubModel, images: torch.Tensor | None, generator: torch.Generator) -> list[torch.Tensor]:
        reconstruction, _, _ = model(images)  # eval mode: decoded from the mean code
        z = torch.randn(2 * len(images), model.latent_dim, generator=generator).to(model.device)
        samples = model.decode(z)
        return [images, reconstruction, *samples.split(len(images))]

    @classmethod
    def preview_legend(cls) -> str:
        return "Row 1: real images; row 2: their reconstructions; rows 3-4: samples decoded from random codes."

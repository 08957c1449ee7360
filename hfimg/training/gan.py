"""GAN objective (DCGAN): alternating discriminator and generator steps on logits.

Each step: (1) the discriminator learns to tell a real batch from a generated one (`BCEWithLogitsLoss`, or the hinge
loss); (2) the generator learns to make the discriminator call its images real (the non-saturating loss of
Goodfellow et al., or hinge), through the discriminator as it now is. Adam(2e-4, betas (0.5, 0.999)) for both, as
in the DCGAN paper; the Trainer keeps an EMA of the generator (decay 0.999), which is what is sampled and saved.
"""

from __future__ import annotations

import torch
from accelerate import Accelerator

from hfimg.hub import HubModel
from hfimg.registry import create_model
from hfimg.training.config import TrainingConfig
from hfimg.training.objective import (
    ApplyLoss,
    Objective,
    adam,
    discriminator_loss,
    frozen,
    generator_loss,
)


class GANObjective(Objective):
    """Trains a `DCGANGenerator` against a `DCGANDiscriminator` built to match it."""

    name = "gan"
    uses_preview_images = False

    def __init__(self, model: HubModel, config: TrainingConfig):
        super().__init__(model, config)
        generator = model.init_kwargs()
        self.discriminator = create_model(
            "dcgan-discriminator",
            resolution=generator["resolution"],
            channels=generator["channels"],
            base_channels=config.adversarial.disc_base_channels or generator["base_channels"],
            num_classes=generator["num_classes"],
            norm=config.adversarial.disc_norm,
        )
        self.d_optimizer = adam(self.discriminator, config)
        self.d_net = self.discriminator  # wrapped by `prepare`
        self.conditional = generator["num_classes"] > 0

    @property
    def networks(self) -> list[torch.nn.Module]:
        return [self.net, self.d_net]

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.optimizer, self.d_optimizer]

    def prepare(self, accelerator: Accelerator) -> None:
        self.net, self.d_net, self.optimizer, self.d_optimizer = accelerator.prepare(
            self.model, self.discriminator, self.optimizer, self.d_optimizer
        )
        # The generator step calls the discriminator unwrapped (no DDP hooks, parameters frozen): it must not
        # produce discriminator gradients, and under DDP a wrapped call would expect them.
        self.d_plain = accelerator.unwrap_model(self.d_net)

    def extra_models(self) -> dict[str, HubModel]:
        return {"discriminator": self.discriminator}

    def training_step(self, batch: dict[str, torch.Tensor], step: int, apply: ApplyLoss) -> dict | None:
        real = batch["image"]  # (B, C, R, R)
        labels = self._labels(batch["label"])
        z = torch.randn(real.shape[0], self.model.latent_dim, device=real.device)  # (B, latent_dim)
        fake = self.net(z, labels)  # (B, C, R, R)

        # (1) Discriminator: real -> real, generated -> fake. `detach` keeps this loss out of the generator.
        real_logits = self.d_net(real, labels)  # (B,)
        fake_logits = self.d_net(fake.detach(), labels)  # (B,)
        d_loss = discriminator_loss(real_logits, fake_logits, self.config.adversarial.gan_loss)
        if not apply(d_loss, self.d_optimizer):
            return None

        # (2) Generator: make the (just updated) discriminator call the same generated batch real.
        with frozen(self.d_plain):
            g_loss = generator_loss(self.d_plain(fake, labels), self.config.adversarial.gan_loss)
        if not apply(g_loss, self.optimizer):
            return None
        return {
            "loss_d": d_loss.detach(),
            "loss_g": g_loss.detach(),
            "d_real": torch.sigmoid(real_logits.detach().float()).mean(),  # D's belief that real images are real
            "d_fake": torch.sigmoid(fake_logits.detach().float()).mean(),  # ... and that generated ones are
        }

    def _labels(self, labels: torch.Tensor) -> torch.Tensor | None:
        # The Trainer has checked that a conditional model gets a labelled dataset.
        return labels if self.conditional else None

    @torch.no_grad()
    def preview(self, model: HubModel, images: torch.Tensor | None, generator: torch.Generator) -> list[torch.Tensor]:
        columns = self.config.num_preview
        z = torch.randn(4 * columns, model.latent_dim, generator=generator).to(model.device)
        labels = None
        if model.num_classes > 0:
            labels = (torch.arange(4 * columns) % model.num_classes).to(model.device)
        samples = model(z, labels)
        return list(samples.split(columns))

    @classmethod
    def preview_legend(cls) -> str:
        return "Samples of the (EMA) generator from fixed latent codes (classes 0, 1, 2, ... in turn if conditional)."

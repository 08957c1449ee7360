"""What every family's objective has in common: the networks it trains, their optimizers, and small loss helpers.

An objective knows how one model family learns (its losses, which optimizer takes which loss, what a preview shows);
the `Trainer` owns everything else (the loop, accelerate, checkpoints, EMA, logging). Subclasses live one per
family in this package: gan.py, vae.py, inpaint.py, denoise.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import ClassVar

import torch
from accelerate import Accelerator
from torch import nn
from torch.nn import functional as F

from hfimg.hub import HubModel
from hfimg.latent import RESOLUTIONS  # the sizes DCGANDiscriminator takes
from hfimg.registry import create_model
from hfimg.training.config import ConfigError, TrainingConfig

# Applies one loss to one optimizer (backward + step), skipping non-finite losses; returns False when it skipped.
# Given to `Objective.training_step` by the Trainer, so every family steps, accumulates and skips alike.
ApplyLoss = Callable[[torch.Tensor, torch.optim.Optimizer], bool]


class Objective:
    """Base class: one trained network (`model`) with one Adam optimizer; subclasses add losses and more networks.

    Args:
        model: the network to train (unwrapped; `prepare` wraps it for the accelerator).
        config: the run's settings, resolved (`hfimg.training.config.resolve`: family defaults filled in).
    """

    # The name a family gives to be trained by this objective (`register_model(..., objective=NAME)`); the
    # family's optimizer, loss and EMA defaults are its own (`config.family_defaults`).
    name: ClassVar[str] = ""
    uses_preview_images = True  # whether previews show real images (a GAN's show samples only)

    def __init__(self, model: HubModel, config: TrainingConfig):
        self.model = model
        self.config = config
        self.net: nn.Module = model  # what is called in training: the accelerator-wrapped model after `prepare`
        self.optimizer = adam(model, config)

    # An adversarial term trained alongside (inpainters, VAE with --adv_weight); its discriminator is saved too.
    adversarial: AdversarialTerm | None = None

    @property
    def networks(self) -> list[nn.Module]:
        """The trained (wrapped) networks, for `accelerator.accumulate`."""
        return [self.net] if self.adversarial is None else [self.net, self.adversarial.net]

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        """Every optimizer this objective steps (the model's, then any discriminator's), for the LR schedule."""
        return [self.optimizer] + ([] if self.adversarial is None else [self.adversarial.optimizer])

    def prepare(self, accelerator: Accelerator) -> None:
        """Wrap networks and optimizers for the accelerator (DDP, mixed precision, device placement)."""
        self.net, self.optimizer = accelerator.prepare(self.model, self.optimizer)
        if self.adversarial is not None:
            self.adversarial.prepare(accelerator)

    def extra_models(self) -> dict[str, HubModel]:
        """Networks saved next to the final model, by sub-folder name (e.g. a GAN's discriminator)."""
        return {} if self.adversarial is None else {"discriminator": self.adversarial.discriminator}

    def training_step(self, batch: dict[str, torch.Tensor], step: int, apply: ApplyLoss) -> dict | None:
        """Compute the losses of one micro-batch and apply them.

        Args:
            batch: {"image": (B, C, R, R) in [-1, 1], "label": (B,) long, -1 = no label}, on the device.
            step: optimizer steps done so far (for schedules such as the KL warm-up).
            apply: backward + optimizer step of one loss (see `ApplyLoss`).

        Returns:
            Detached scalar tensors to log, by name; None when a loss was not finite and the step was skipped.
        """
        raise NotImplementedError

    def finish(self, model: HubModel) -> None:
        """Last changes to the model that is about to be saved (the EMA one if there is one), after the last step;
        on the main process only. Nothing by default."""

    @torch.no_grad()
    def preview(self, model: HubModel, images: torch.Tensor | None, generator: torch.Generator) -> list[torch.Tensor]:
        """Rows of a preview grid, each (N, C, R, R) in [-1, 1], made with `model` (the one that will be saved).

        Args:
            model: the saved model (the EMA one if there is one), in eval mode.
            images: N fixed real images (N, C, R, R) on the model's device, or None if `uses_preview_images` is
                False.
            generator: a seeded CPU generator, so each preview uses the same noise, masks and codes.
        """
        raise NotImplementedError

    @classmethod
    def preview_legend(cls) -> str:
        """What the rows of a preview grid show, for the model card."""
        raise NotImplementedError


def adam(module: nn.Module, config: TrainingConfig) -> torch.optim.Adam:
    """Adam over `module`'s parameters with the run's learning rate, betas and weight decay."""
    return torch.optim.Adam(
        module.parameters(),
        lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2),
        weight_decay=config.adam_weight_decay,
    )


def pixel_loss(prediction: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Elementwise L1 or L2 (squared) error, not reduced; computed in float32 (also under autocast)."""
    difference = prediction.float() - target.float()
    if kind == "l1":
        return difference.abs()
    if kind == "l2":
        return difference.square()
    raise ValueError(f"loss must be 'l1' or 'l2', got {kind!r}.")


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Turn off `requires_grad` on `module`'s parameters inside the block.

    Used when a loss goes through a network that this loss must not train (a discriminator during the generator
    step): its parameters then get no gradient at all, instead of gradients that pile up with its own ones
    during gradient accumulation.
    """
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical Sobel derivatives of each channel: (B, C, H, W) -> (B, 2C, H, W), replicate padding."""
    kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device, dtype=x.dtype) / 8
    kernels = torch.stack([kernel, kernel.T])[:, None].repeat(x.shape[1], 1, 1, 1)  # (2C, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels, groups=x.shape[1])


# The texture loss's fixed random network: (out channels, stride) of each 3x3 conv + ReLU, and the seed its weights
# are drawn from (the same network in every run and on every rank, so it is not saved with a checkpoint).
TEXTURE_LAYERS = ((32, 1), (64, 2), (128, 2))
TEXTURE_SEED = 0


class RandomTextureFeatures(nn.Module):
    """A small CNN with fixed random weights whose Gram matrices describe texture.

    Gram matrices of the features of random, untrained convolutions are a known good texture statistic (Ustyuzhaninov
    et al. 2017, "What does it take to generate natural textures?"): they need no downloaded network, which this
    package does not use. Weights: Kaiming-normal from `TEXTURE_SEED`, biases zero, frozen.
    """

    def __init__(self, channels: int):
        super().__init__()
        generator = torch.Generator().manual_seed(TEXTURE_SEED)
        layers, width = [], channels
        for out, stride in TEXTURE_LAYERS:
            conv = nn.Conv2d(width, out, 3, stride=stride, padding=1, padding_mode="reflect")
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / (width * 9)) ** 0.5)
                conv.bias.zero_()
            layers.append(conv)
            width = out
        self.convs = nn.ModuleList(layers)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, H, W) in [-1, 1] -> the features after each conv + ReLU, (B, C_l, H_l, W_l)."""
        features = []
        for conv in self.convs:
            x = F.relu(conv(x))
            features.append(x)
        return features


def gram(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) Gram matrices, divided by C * H * W so that layers of every size weigh alike."""
    b, c, h, w = features.shape
    flat = features.float().reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def texture_loss(network: RandomTextureFeatures, result: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The L1 distance between the Gram matrices of `result`'s and `target`'s features relative to the size of the
    target's, averaged over the layers: 0 for the same image, 1 for a blank one, larger the further apart their local
    statistics (a blurred fill of a textured region scores high). Relative, so that one weight suits every layer
    and image (raw Gram entries span orders of magnitude)."""
    terms = []
    for a, b in zip(network(result), network(target), strict=True):
        wanted = gram(b)
        terms.append((gram(a) - wanted).abs().sum() / wanted.abs().sum().clamp_min(1e-12))
    return torch.stack(terms).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """GAN discriminator loss on logits: "bce" (real -> 1, fake -> 0) or "hinge"."""
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def generator_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """GAN generator loss on logits: non-saturating BCE (fake -> 1) or hinge (-mean logit)."""
    fake_logits = fake_logits.float()
    if kind == "hinge":
        return -fake_logits.mean()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class AdversarialTerm:
    """A DCGAN discriminator trained alongside a model as one more loss term (inpainters' composites, a VAE's
    reconstructions and samples): `discriminator_step` teaches it real from generated images, `generator_loss`
    is the term the model adds to its own loss (through the discriminator, frozen).

    Args:
        config: the run's settings: the resolution (32, 64 or 128: the discriminator's sizes), the `adversarial`
            section (disc_base_channels default 32, disc_norm, gan_loss) and the optimizer settings.
        channels: the images' channels.
    """

    def __init__(self, config: TrainingConfig, channels: int):
        if config.resolution not in RESOLUTIONS:
            raise ConfigError(
                f"--adv_weight needs --resolution in {RESOLUTIONS} (the discriminator's sizes), "
                f"got {config.resolution}."
            )
        self.kind = config.adversarial.gan_loss
        self.discriminator = create_model(
            "dcgan-discriminator",
            resolution=config.resolution,
            channels=channels,
            base_channels=config.adversarial.disc_base_channels or 32,
            norm=config.adversarial.disc_norm,
        )
        self.optimizer = adam(self.discriminator, config)
        self.net: nn.Module = self.discriminator  # wrapped by `prepare`
        self.plain: nn.Module = self.discriminator

    def prepare(self, accelerator: Accelerator) -> None:
        self.net, self.optimizer = accelerator.prepare(self.discriminator, self.optimizer)
        # The model's step calls the discriminator unwrapped (no DDP hooks, parameters frozen): it must not
        # produce discriminator gradients, and under DDP a wrapped call would expect them.
        self.plain = accelerator.unwrap_model(self.net)

    def discriminator_step(
        self, real: torch.Tensor, fakes: list[torch.Tensor], apply: ApplyLoss, hole: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """One discriminator step: `real` images against each batch of `fakes` (detached here); the mean loss, or
        None when it was not finite and the step was skipped. Whole images are judged: `hole` is not used (it is
        for `PatchAdversarialTerm`)."""
        real_logits = self.net(real)
        loss = torch.stack([discriminator_loss(real_logits, self.net(fake.detach()), self.kind) for fake in fakes])
        loss = loss.mean()
        return loss if apply(loss, self.optimizer) else None

    def generator_loss(
        self, fake: torch.Tensor, hole: torch.Tensor | None = None, real: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The model's adversarial loss on generated images (gradients flow to `fake` only); `hole` and `real` are
        not used here (they are for `PatchAdversarialTerm`)."""
        with frozen(self.plain):
            return generator_loss(self.plain(fake), self.kind)


class PatchAdversarialTerm(AdversarialTerm):
    """A PatchGAN discriminator that judges the patches of a composite that overlap the hole (LaMa's recipe, Suvorov
    et al., 2022): patches of real images and patches of the composite that lie wholly in the known region are
    "real", patches over the hole "fake"; the inpainter is scored on the hole's patches only, plus feature matching
    (L1 between the discriminator's activations on the composite and on the real image, over the hole), which
    steadies the adversarial gradient. Non-saturating logistic loss.

    Args:
        config: the run's settings: disc_base_channels (default 32), the inpainters' feature_matching_weight and
            the optimizer settings.
        channels: the images' channels.
    """

    def __init__(self, config: TrainingConfig, channels: int):
        self.kind = "bce"
        self.feature_matching_weight = config.inpaint.feature_matching_weight
        self.discriminator = create_model(
            "patch-discriminator", channels=channels, base_channels=config.adversarial.disc_base_channels or 32
        )
        self.optimizer = adam(self.discriminator, config)
        self.net = self.discriminator
        self.plain = self.discriminator

    def discriminator_step(
        self, real: torch.Tensor, fakes: list[torch.Tensor], apply: ApplyLoss, hole: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """One step: `real` images (B, C, H, W) against composites `fakes` whose hole (B, 1, H, W) is `hole`."""
        real_logits = self.net(real).float()  # (B, 1, H/8, W/8)
        loss = F.softplus(-real_logits).mean()
        for fake in fakes:
            fake_logits = self.net(fake.detach()).float()
            fake_cells = _cells(hole, fake_logits)  # 1 = the patch overlaps the hole
            loss = loss + (fake_cells * F.softplus(fake_logits) + (1 - fake_cells) * F.softplus(-fake_logits)).mean()
        return loss if apply(loss, self.optimizer) else None

    def generator_loss(
        self, fake: torch.Tensor, hole: torch.Tensor | None = None, real: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Adversarial loss over the hole's patches, plus feature matching against `real` when given."""
        with frozen(self.plain):
            logits, fake_features = self.plain.features(fake)
            cells = _cells(hole, logits)
            loss = (cells * F.softplus(-logits.float())).sum() / cells.sum().clamp(min=1)
            if real is not None and self.feature_matching_weight > 0:
                with torch.no_grad():
                    _, real_features = self.plain.features(real)
                matching = [
                    (_cells(hole, f) * (f.float() - r.float()).abs()).mean()
                    for f, r in zip(fake_features, real_features, strict=True)
                ]
                loss = loss + self.feature_matching_weight * torch.stack(matching).mean()
        return loss


def _cells(hole: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The hole (B, 1, H, W) brought to the grid of `like` (B, *, h, w): 1 where a cell overlaps the hole."""
    return F.adaptive_max_pool2d(hole.float(), like.shape[-2:])

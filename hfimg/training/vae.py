"""VAE objective: reconstruction (L1 or L2) + beta * KL(q(z|x) || N(0, I)), with beta warmed up from 0.

Both terms are per pixel value: the reconstruction error is averaged over pixels, the KL (summed over the latent
dimensions, as in the ELBO) is divided by the number of pixel values. That is the ELBO up to a constant factor, so
`--kl_weight 1` keeps its balance, and the logged loss does not grow with the resolution. A KL warm-up
(`--kl_warmup_steps`) lets the decoder learn to use the code before the KL term pulls the codes together, which
avoids posterior collapse early in training.

Two additions against blur, both optional:

* `--adv_weight`: an adversarial term on the reconstructions (a DCGAN discriminator trained alongside, saved in
  `discriminator/`; VAE-GAN, Larsen et al. 2016): a pixel loss alone rewards the mean of the images a code could
  stand for, which is a blurred image; the discriminator does not accept blur.
* a model built with `prior_components` K > 0 gets, after the last step, a K-component Gaussian mixture fitted
  (scikit-learn, full covariances) to the mean codes of `PRIOR_FIT_IMAGES` training images, which `generate`
  then samples from instead of N(0, I).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import numpy as np
import torch

from hfimg.data import ImageStream
from hfimg.hub import HubModel
from hfimg.training.config import TrainingConfig
from hfimg.training.objective import AdversarialTerm, ApplyLoss, Objective, pixel_loss

PRIOR_FIT_IMAGES = 20_000  # training images whose codes the sampling mixture is fitted to


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per sample, summed over the latent dimensions: (B, D) -> (B,)."""
    mean, logvar = mean.float(), logvar.float()
    return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)


class VAEObjective(Objective):
    """Trains a `ConvVAE`."""

    name = "vae"
    # Not in channels_last for bf16 on CPU: measured slower, 12.0 against 8.7 ms per step of 32 x 32 px grey
    # (`benchmarks/bench_train.py --precisions`, 2 cores, 2026-12-02).

    def __init__(self, model: HubModel, config: TrainingConfig):
        super().__init__(model, config)
        self.adversarial = AdversarialTerm(config, model.channels) if config.adversarial.adv_weight > 0 else None

    def kl_weight(self, step: int) -> float:
        """beta at optimizer step `step`: ramps linearly from 0 to --kl_weight over --kl_warmup_steps."""
        warmup = self.config.vae.kl_warmup_steps
        return self.config.vae.kl_weight * (min(1.0, step / warmup) if warmup > 0 else 1.0)

    def training_step(self, batch: dict[str, torch.Tensor], step: int, apply: ApplyLoss) -> dict | None:
        images = batch["image"]  # (B, C, R, R)
        reconstruction, mean, logvar = self.net(images)  # (B, C, R, R), (B, D), (B, D)
        recon = pixel_loss(reconstruction, images, self.config.loss).mean()
        kl = kl_to_standard_normal(mean, logvar).mean() / images[0].numel()
        beta = self.kl_weight(step)
        loss = recon + beta * kl
        logs = {"recon": recon.detach(), "kl": kl.detach(), "beta": torch.tensor(beta)}
        if self.adversarial is not None:
            d_loss = self.adversarial.discriminator_step(images, [reconstruction], apply)
            if d_loss is None:
                return None
            adv = self.adversarial.generator_loss(reconstruction)
            loss = loss + self.config.adversarial.adv_weight * adv
            logs |= {"adv": adv.detach(), "loss_d": d_loss.detach()}
        if not apply(loss, self.optimizer):
            return None
        return {"loss": loss.detach(), **logs}

    def finish(self, model: HubModel) -> None:
        """Fit the sampling mixture of a model built with `prior_components` to the codes of training images."""
        if getattr(model, "prior_components", 0):
            config = self.config
            stream = ImageStream(
                config.dataset,
                resolution=config.resolution,
                channels=model.channels,
                split=config.split,
                image_column=config.image_column,
                shuffle_buffer=0,
                repeat=False,
                crop=config.crop,
            )
            fit_mixture_prior(model, stream, PRIOR_FIT_IMAGES)

    @torch.no_grad()
    def preview(self, model: HubModel, images: torch.Tensor | None, generator: torch.Generator) -> list[torch.Tensor]:
        reconstruction, _, _ = model(images)  # eval mode: decoded from the mean code
        z = torch.randn(2 * len(images), model.latent_dim, generator=generator).to(model.device)
        samples = model.decode(z)
        return [images, reconstruction, *samples.split(len(images))]

    @classmethod
    def preview_legend(cls) -> str:
        return "Row 1: real images; row 2: their reconstructions; rows 3-4: samples decoded from random codes."


@torch.no_grad()
def fit_mixture_prior(
    model: HubModel, samples: Iterable[dict], count: int, seed: int = 0, per_class: bool = False
) -> None:
    """Fit `model`'s sampling mixture (`ConvVAE(prior_components=K)`) to the mean codes of the first `count` of
    `samples` (`ImageStream` items: "image" a (C, R, R) tensor in [-1, 1] prepared as in training, "label" an int
    where the corpus has classes), and install it with `set_prior`.

    per_class: fit K / (number of classes) Gaussians to each class's codes and weigh each class by its share of the
        fitted images. One mixture over all codes gives each class the mass its codes happen to cover: classes whose
        codes overlap (Fashion-MNIST's coats, pullovers and shirts) trade mass between them, and the samples' class
        shares drift from the data's. Fitted class by class, every class is sampled as often as it occurs.
    """
    from sklearn.mixture import GaussianMixture  # maintained EM with full covariances and k-means starts

    was_training = model.training
    model.eval()
    samples = islice(samples, count)
    codes, labels = [], []  # (b, D) mean codes and (b,) labels, 500 images at a time
    while chunk := list(islice(samples, 500)):
        codes.append(model.encode(torch.stack([s["image"] for s in chunk]).to(model.device))[0].double().cpu())
        labels += [s.get("label") for s in chunk]
    model.train(was_training)
    codes_all = torch.cat(codes).numpy()
    k = model.prior_components
    groups = {None: np.ones(len(labels), dtype=bool)}  # one mixture over every code, or one per class
    if per_class:
        if any(label is None for label in labels):
            raise ValueError("per_class needs a corpus with class labels; this one has none (fit without per_class).")
        classes = sorted(set(labels))
        if k % len(classes):
            raise ValueError(
                f"per_class splits the {k} components evenly over the corpus's {len(classes)} classes: "
                f"build the model with prior_components a multiple of {len(classes)}."
            )
        groups = {label: np.asarray(labels) == label for label in classes}
    weights, means, covariances = [], [], []
    for label, chosen in groups.items():
        mine, components = codes_all[chosen], k // len(groups)
        if len(mine) < components:
            which = "the fit" if label is None else f"class {label}"
            raise ValueError(f"{which} has {len(mine)} images, fewer than its {components} Gaussians.")
        mixture = GaussianMixture(components, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(mine)
        weights.append(torch.from_numpy(mixture.weights_) * len(mine) / len(labels))  # the group's share of codes
        means.append(torch.from_numpy(mixture.means_))
        covariances.append(torch.from_numpy(mixture.covariances_))
    model.set_prior(*(torch.cat(parts).float() for parts in (weights, means, covariances)))

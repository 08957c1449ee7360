"""ConvVAE: a convolutional variational autoencoder (Kingma & Welling, 2014).

The encoder maps an image to the mean and log-variance of a Gaussian over latent codes; the decoder maps a code
back to an image in [-1, 1]. Trained on reconstruction + KL(q(z|x) || N(0, I)), its decoder is a generator like
DCGAN's, so `generate` samples z ~ N(0, I), and `inpaint` / `restore` search its latent space (see `hfimg.prior`),
starting from the encoder's guess.

Example:
    >>> from PIL import Image
    >>> vae = ConvVAE(resolution=32, channels=1, latent_dim=8, base_channels=8)
    >>> mean, logvar = vae.encode(torch.zeros(2, 1, 32, 32))
    >>> mean.shape, vae.decode(mean).shape
    (torch.Size([2, 8]), torch.Size([2, 1, 32, 32]))
    >>> vae.reconstruct(Image.new("L", (32, 32))).size
    (32, 32)
    >>> len(vae.generate(3, seed=0))
    3
"""

from __future__ import annotations

import math
import warnings

import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from hfimg.cores import CoreSpec
from hfimg.families import register_model
from hfimg.hub import HubModel
from hfimg.imaging import ImageInput, PreparedImage, batch_to_pils, check_count, network_mode
from hfimg.latent import check_padding, check_resolution, latent_generator, slerp, unframe
from hfimg.prior import LatentPrior
from hfimg.runtime import fast_inference


def norm(channels: int) -> nn.GroupNorm:
    """GroupNorm rather than BatchNorm: an image's code must not depend on the batch it is encoded in (a single
    image at inpainting time, train vs eval mode)."""
    return nn.GroupNorm(math.gcd(channels, 8), channels)


@register_model("vae", tiny={"resolution": 32, "channels": 1, "latent_dim": 4, "base_channels": 4}, objective="vae")
class ConvVAE(
    LatentPrior,  # inpaint / restore by latent search (hfimg.prior)
    HubModel,
    tags=["vae", "variational-autoencoder", "unconditional-image-generation"],
    pipeline_tag="unconditional-image-generation",
):
    """Convolutional VAE: image (B, C, R, R) <-> code (B, latent_dim).

    Encoder: strided 4x4 convs halve the size down to 4x4 while the channels go base, 2x base, 4x base, ... (capped
    at 8x), then a linear layer gives mean and log-variance. The decoder mirrors it with transposed convs and ends
    in tanh.

    Args:
        resolution: image size, 32, 64 or 128.
        channels: 1 (grey) or 3 (RGB).
        latent_dim: size of the code z.
        base_channels: channels of the first encoder conv.
        padding: width of the black frame the training images were given (`train.py --crop pad`), cut off by
            `generate` and `interpolate` (2 for Fashion-MNIST's 28 px images trained at 32 px); `reconstruct`
            frames an image of that smaller size the same way.
        prior_components: 0 samples codes from N(0, I), the prior the KL term pulls towards. K > 0 samples them
            from a mixture of K full-covariance Gaussians fitted after training to the codes of training images
            (`set_prior`; ex-post density estimation, Ghosh et al. 2020): the codes a VAE actually uses do not
            fill N(0, I), and draws from its empty regions decode to blurred in-between garments. Until fitted,
            the mixture is K copies of N(0, I).
    """

    num_classes = 0  # unconditional; read by hfimg.prior

    def __init__(
        self,
        resolution: int = 32,
        channels: int = 1,
        latent_dim: int = 32,
        base_channels: int = 32,
        padding: int = 0,
        prior_components: int = 0,
    ):
        super().__init__()
        stages = check_resolution(resolution)
        network_mode(channels)  # validates channels
        self.padding = check_padding(padding, resolution)
        if prior_components < 0:
            raise ValueError(f"prior_components must be >= 0 (0 = N(0, I)), got {prior_components}.")
        self.prior_components = prior_components
        if prior_components:  # mixture weights (K,), means (K, D), Cholesky factors of the covariances (K, D, D)
            self.register_buffer("prior_weights", torch.full((prior_components,), 1.0 / prior_components))
            self.register_buffer("prior_means", torch.zeros(prior_components, latent_dim))
            self.register_buffer("prior_scale_tril", torch.eye(latent_dim).repeat(prior_components, 1, 1))
        if latent_dim < 1 or base_channels < 1:
            raise ValueError(
                f"latent_dim and base_channels must be positive, got latent_dim={latent_dim}, "
                f"base_channels={base_channels}."
            )
        self.resolution = resolution
        self.channels = channels
        self.latent_dim = latent_dim
        widths = [base_channels * min(2**i, 8) for i in range(stages)]  # full resolution -> 4x4
        self.bottleneck = (widths[-1], 4, 4)

        # (B, C, R, R) -> (B, widths[-1], 4, 4)
        encoder: list[nn.Module] = []
        for c_in, c_out in zip([channels, *widths[:-1]], widths, strict=True):
            encoder += [nn.Conv2d(c_in, c_out, 4, 2, 1), norm(c_out), nn.SiLU()]
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        self.to_moments = nn.Linear(widths[-1] * 16, 2 * latent_dim)  # -> (B, 2 * latent_dim): mean, logvar

        # (B, latent_dim) -> (B, widths[-1], 4, 4) -> ... -> (B, C, R, R)
        self.from_latent = nn.Linear(latent_dim, widths[-1] * 16)
        decoder: list[nn.Module] = [nn.SiLU()]
        reversed_widths = widths[::-1]
        for c_in, c_out in zip(reversed_widths[:-1], reversed_widths[1:], strict=True):
            decoder += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), norm(c_out), nn.SiLU()]
        decoder += [nn.ConvTranspose2d(reversed_widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, R, R) in [-1, 1] -> (mean, logvar), each (B, latent_dim)."""
        expected = (self.channels, self.resolution, self.resolution)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}.")
        mean, logvar = self.to_moments(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> images (B, C, R, R) in [-1, 1]."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}.")
        return self.run_core(z)

    def core(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder: z (B, latent_dim) -> images (B, C, R, R) in [-1, 1]; what generation runs."""
        return self.decoder(self.from_latent(z).view(-1, *self.bottleneck))

    def core_spec(self) -> CoreSpec:
        z = torch.randn(8, self.latent_dim, generator=torch.Generator().manual_seed(0))
        description = (
            f"The decoder. z: (B, {self.latent_dim}) float32 codes drawn from N(0, I). images: (B, {self.channels}, "
            f"{self.resolution}, {self.resolution}) float32 in [-1, 1]; pixel = (x + 1) * 127.5, rounded."
        )
        return CoreSpec({"z": z}, "images", {"z": {0: "batch"}}, description=description)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, C, R, R) -> (reconstruction (B, C, R, R), mean, logvar).

        In training mode the code is sampled with the reparameterisation z = mean + std * eps (so gradients flow to
        mean and logvar); in eval mode z = mean, so a reconstruction is deterministic.
        """
        mean, logvar = self.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if self.training else mean
        return self.decode(z), mean, logvar

    # --- sampling and reconstruction ------------------------------------------------------------------------------

    @torch.no_grad()
    def sample_latents(self, num: int, seed: int | None = None) -> torch.Tensor:
        """`num` codes from the prior (N(0, I), or the fitted mixture), (num, latent_dim) on the CPU; the same seed
        gives the same codes."""
        generator = latent_generator(seed)
        noise = torch.randn(num, self.latent_dim, generator=generator)  # (num, D)
        if not self.prior_components:
            return noise
        component = torch.multinomial(self.prior_weights.cpu(), num, replacement=True, generator=generator)  # (num,)
        scale = self.prior_scale_tril.cpu()[component]  # (num, D, D)
        return self.prior_means.cpu()[component] + (scale @ noise[:, :, None])[:, :, 0]

    @torch.no_grad()
    def set_prior(self, weights: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor) -> None:
        """Install a fitted Gaussian mixture as the sampling prior: weights (K,) summing to 1, means (K, D) and
        covariances (K, D, D), symmetric positive definite (a Cholesky factor is kept)."""
        k, d = self.prior_components, self.latent_dim
        if k == 0:
            raise ValueError("this ConvVAE samples from N(0, I) (prior_components=0); build it with prior_components.")
        if weights.shape != (k,) or means.shape != (k, d) or covariances.shape != (k, d, d):
            raise ValueError(
                f"expected weights ({k},), means ({k}, {d}) and covariances ({k}, {d}, {d}), got "
                f"{tuple(weights.shape)}, {tuple(means.shape)} and {tuple(covariances.shape)}."
            )
        self.prior_weights.copy_(weights / weights.sum())
        self.prior_means.copy_(means)
        self.prior_scale_tril.copy_(torch.linalg.cholesky(covariances.double()).float())

    def sample(self, num: int, seed: int | None = None) -> torch.Tensor:
        """Decode `num` codes from the prior: images (num, C, R, R) in [-1, 1]; the same seed gives the same images."""
        check_count(num, "num")
        return self._decode_in_eval(self.sample_latents(num, seed))

    @fast_inference
    def interpolate(self, seed_a: int, seed_b: int, steps: int = 8, label: int | None = None) -> list[Image.Image]:
        """Images along the spherical path from the code of `seed_a` to the code of `seed_b` (both ends included).

        Args:
            seed_a: seed of the first image (the same image as `generate(1, seed=seed_a)[0]`).
            seed_b: seed of the last image.
            steps: number of images, at least 2.
            label: must stay None: the VAE is unconditional (the argument matches DCGANGenerator.interpolate).
        """
        check_count(steps, "steps (the two ends and the frames between)", minimum=2)
        if label is not None:
            raise ValueError("ConvVAE is unconditional: leave label=None.")
        z_a, z_b = (self.sample_latents(1, seed)[0] for seed in (seed_a, seed_b))
        t = torch.linspace(0, 1, steps)
        # N(0, I) codes lie near a sphere, so the arc; a mixture's codes do not, so the straight line.
        path = torch.lerp(z_a[None], z_b[None], t[:, None]) if self.prior_components else slerp(z_a, z_b, t)
        images = self._decode_in_eval(path)  # (steps, C, R, R)
        return batch_to_pils(unframe(images, self.padding))

    def _decode_in_eval(self, z: torch.Tensor) -> torch.Tensor:
        """Decode codes (N, latent_dim) in eval mode, leaving the model's mode as it was."""
        was_training = self.training
        self.eval()
        images = self.decode(z.to(self.device))
        self.train(was_training)
        return images

    @fast_inference
    def generate(self, num_images: int, seed: int | None = None) -> list[Image.Image]:
        """`num_images` samples as PIL images (mode L or RGB); the same seed gives the same images."""
        return batch_to_pils(unframe(self.sample(num_images, seed), self.padding))

    @torch.no_grad()
    def reconstruct(self, image: ImageInput) -> Image.Image:
        """Encode and decode one image (eval mode, z = mean); returns a PIL image of the input's size and mode.

        An image of the training data's own size (resolution - 2 * padding) is framed as in training; one of
        another size is resized to the model's resolution and the result back, with a warning.
        """
        prepared = PreparedImage.from_input(image, self.channels)
        x = prepared.tensor.to(self.device)
        size = (self.resolution, self.resolution)
        native = self.resolution - 2 * self.padding
        if self.padding and x.shape[-2:] == (native, native):
            x = F.pad(x, (self.padding,) * 4, value=-1.0)
        elif x.shape[-2:] != size:
            warnings.warn(
                f"{type(self).__name__} works at {size[0]}x{size[1]}; the {prepared.size[0]}x{prepared.size[1]} image "
                f"is resized to that and back.",
                stacklevel=2,
            )
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        was_training = self.training
        self.eval()
        recon = self.decode(self.encode(x)[0])
        self.train(was_training)
        height, width = prepared.tensor.shape[-2:]
        if self.padding and (height, width) == (native, native):
            return prepared.to_output(unframe(recon, self.padding).clamp(-1, 1))
        recon = F.interpolate(recon, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
        return prepared.to_output(recon.clamp(-1, 1))

    # --- what hfimg.prior needs -----------------------------------------------------------------------------------

    def decode_latent(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (N, latent_dim) -> images (N, C, R, R); differentiable in z. `labels` is unused (unconditional)."""
        return self.decode(z)

    def initial_latents(
        self,
        target: torch.Tensor,
        known: torch.Tensor,
        num: int,
        generator: torch.Generator,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Starting codes for the latent search: the encoder's mean for the masked image, plus `num - 1` draws
        from the encoder's posterior around it.

        Args:
            target: (1, C, R, R) image in [-1, 1]; hole pixels hold anything.
            known: (1, 1, R, R) weights, 1 = known pixel, 0 = hole (fractions where a resize blurred the edge).
            num: number of codes.
            generator: random generator for the extra draws.

        Returns:
            (num, latent_dim) codes.
        """
        # The encoder never saw holes: fill them with the mean colour of the known pixels, a neutral guess.
        weight = known.sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)
        fill = (target * known).sum(dim=(2, 3), keepdim=True) / weight  # (1, C, 1, 1)
        filled = target * known + fill * (1 - known)
        mean, logvar = self.encode(filled)  # (1, latent_dim) each
        noise = torch.randn(num, self.latent_dim, generator=generator).to(mean.device)
        noise[0] = 0  # the first start is the mean itself
        return mean + noise * torch.exp(0.5 * logvar)

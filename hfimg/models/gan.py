"""DCGAN (Radford et al., 2016): a transposed-convolution generator and a convolutional discriminator.

The generator maps a latent code z ~ N(0, I) to an image; the discriminator scores images as real or generated and
returns logits, to be trained with `BCEWithLogitsLoss` (numerically safe, also under autocast). Both take an
optional class label (`num_classes > 0`): the generator concatenates a label embedding to z, the discriminator adds
a projection term (Miyato & Koyama, 2018).

The generator can also restore images: `inpaint` and `restore` search its latent space for the code whose image
best matches the known pixels (see `hfimg.prior`).

Example:
    >>> generator = DCGANGenerator(resolution=32, channels=1, base_channels=16)
    >>> images = generator.generate(4, seed=0)
    >>> len(images), images[0].size, images[0].mode
    (4, (32, 32), 'L')
    >>> frames = generator.interpolate(seed_a=0, seed_b=1, steps=5)
    >>> len(frames)
    5
"""

from __future__ import annotations

import torch
from PIL import Image
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from hfimg.cores import CoreSpec, example_images
from hfimg.families import register_model
from hfimg.hub import HubModel
from hfimg.imaging import batch_to_pils, check_count, network_mode
from hfimg.latent import check_padding, check_resolution, latent_generator, slerp, unframe
from hfimg.prior import LatentPrior
from hfimg.runtime import fast_inference

DISCRIMINATOR_NORMS = ("spectral", "batch")
LABEL_EMBEDDING_DIM = 32  # size of the label embedding the conditional generator concatenates to z


def stage_channels(base_channels: int, stages: int) -> list[int]:
    """Feature channels from the 4x4 end to the full-resolution end: base * 2^k, capped at 8 * base.

    The cap keeps the 128x128 models from having 16 * base channels at 4x4 (the DCGAN paper stops at 8x).
    """
    return [base_channels * min(2 ** (stages - 1 - i), 8) for i in range(stages)]


def dcgan_init(module: nn.Module) -> None:
    """DCGAN paper initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@register_model(
    "dcgan",
    tiny={"resolution": 32, "channels": 1, "latent_dim": 8, "base_channels": 4},
    objective="gan",
    # Adam(2e-4, betas (0.5, 0.999)) as in the DCGAN paper, and an EMA of the generator; the pixel loss is unused.
    # bf16 on CPU in channels_last (generator and discriminator): a training step of 32 x 32 px grey (base 32) took
    # 17.1-18.2 ms against 19.2-20.1 ms in the default layout in three quiet runs (fp32: 27.9 ms), 1.05-1.17x, and as
    # long in a run on a busy machine; the Trainer loop (with the EMA) 21.6 against 25.1 ms (2 cores,
    # `benchmarks/bench_train.py --precisions`, 2026-12-02).
    training={"learning_rate": 2e-4, "adam_beta1": 0.5, "loss": "l1", "ema_decay": 0.999, "channels_last_bf16": True},
)
class DCGANGenerator(
    LatentPrior,  # inpaint / restore by latent search (hfimg.prior)
    HubModel,
    tags=["dcgan", "gan", "unconditional-image-generation"],
    pipeline_tag="unconditional-image-generation",
):
    """DCGAN generator: z (B, latent_dim) -> image (B, channels, resolution, resolution) in [-1, 1].

    A linear-free stack: a 4x4 transposed conv lifts z to a 4x4 map (8 * base channels; 4 * base at 32x32), then
    each stage doubles the size (ConvTranspose 4x4 stride 2 + BatchNorm + ReLU) and halves the channels; the last
    stage outputs `channels` through tanh. At 64x64 with base_channels=64 this is the network of the DCGAN paper
    (3.6M parameters).

    Args:
        resolution: output size, 32, 64 or 128.
        channels: 1 (grey) or 3 (RGB).
        latent_dim: size of z.
        base_channels: channels of the last hidden stage; earlier stages have 2x, 4x, 8x as many.
        num_classes: 0 for an unconditional model; otherwise labels 0..num_classes-1 select the class.
        padding: width of the black frame the training images were given (`train.py --crop pad`), cut off by
            `generate` and `interpolate`: 2 for Fashion-MNIST's 28 px images trained at 32 px, which then come out
            at 28 px, pixel for pixel like the data.
    """

    def __init__(
        self,
        resolution: int = 64,
        channels: int = 3,
        latent_dim: int = 100,
        base_channels: int = 64,
        num_classes: int = 0,
        padding: int = 0,
    ):
        super().__init__()
        stages = check_resolution(resolution)
        network_mode(channels)  # validates channels
        self.padding = check_padding(padding, resolution)
        if latent_dim < 1 or base_channels < 1 or num_classes < 0:
            raise ValueError(
                f"latent_dim and base_channels must be positive and num_classes >= 0, got latent_dim={latent_dim}, "
                f"base_channels={base_channels}, num_classes={num_classes}."
            )
        self.resolution = resolution
        self.channels = channels
        self.latent_dim = latent_dim
        self.num_classes = num_classes

        self.label_embedding = nn.Embedding(num_classes, LABEL_EMBEDDING_DIM) if num_classes > 0 else None
        in_dim = latent_dim + (LABEL_EMBEDDING_DIM if num_classes > 0 else 0)
        widths = stage_channels(base_channels, stages)
        # (B, in_dim, 1, 1) -> (B, widths[0], 4, 4)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        # Each stage: (B, c_in, s, s) -> (B, c_out, 2s, 2s)
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        # (B, widths[-1], R/2, R/2) -> (B, channels, R, R)
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, latent_dim), labels (B,) long or None -> images (B, channels, resolution, resolution) in [-1, 1]."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}.")
        if self.label_embedding is None:
            if labels is not None:
                raise ValueError("this generator is unconditional (num_classes=0): call it without labels.")
            return self.run_core(z)
        return self.run_core(z, self._check_labels(labels, z.shape[0]))

    def core(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, latent_dim) (and labels (B,) long for a conditional model) -> images (B, C, R, R) in [-1, 1]."""
        if self.label_embedding is not None:
            z = torch.cat([z, self.label_embedding(labels)], dim=1)  # (B, latent_dim + embedding)
        return self.net(z[:, :, None, None])

    def core_spec(self) -> CoreSpec:
        inputs = {"z": torch.randn(8, self.latent_dim, generator=torch.Generator().manual_seed(0))}
        dynamic = {"z": {0: "batch"}}
        description = f"z: (B, {self.latent_dim}) float32 codes drawn from N(0, I)"
        if self.num_classes:
            inputs["labels"] = torch.arange(8) % self.num_classes
            dynamic["labels"] = {0: "batch"}
            description += f"; labels: (B,) int64 classes 0..{self.num_classes - 1}"
        description += (
            f". images: (B, {self.channels}, {self.resolution}, {self.resolution}) float32 in [-1, 1]; pixel = "
            "(x + 1) * 127.5, rounded."
        )
        return CoreSpec(inputs, "images", dynamic, description=description)

    def _check_labels(self, labels: torch.Tensor | None, batch: int) -> torch.Tensor:
        if labels is None:
            raise ValueError(f"this generator is class-conditional (num_classes={self.num_classes}): pass labels.")
        if labels.shape != (batch,) or labels.dtype != torch.long:
            raise ValueError(
                f"labels must be a long tensor of shape ({batch},), got {labels.dtype} of shape {tuple(labels.shape)}."
            )
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must be in 0..{self.num_classes - 1}, got {labels.tolist()}.")
        return labels

    # --- sampling -----------------------------------------------------------------------------------------------

    def sample_latents(self, num: int, seed: int | None = None) -> torch.Tensor:
        """`num` codes z ~ N(0, I), (num, latent_dim) on the model's device; the same seed gives the same codes."""
        z = torch.randn(num, self.latent_dim, generator=latent_generator(seed))
        return z.to(self.device)

    def _labels_for(self, num: int, labels: list[int] | None) -> torch.Tensor | None:
        """Labels for a batch of `num` images: the given list, or (conditional model) classes 0, 1, ... in turn."""
        if self.num_classes == 0:
            if labels is not None:
                raise ValueError("this generator is unconditional (num_classes=0): leave labels=None.")
            return None
        if labels is None:
            labels = [i % self.num_classes for i in range(num)]
        if len(labels) != num:
            raise ValueError(f"got {len(labels)} labels for {num} images; give one label per image.")
        return self._check_labels(torch.tensor(labels, dtype=torch.long), num).to(self.device)

    def _decode_images(self, z: torch.Tensor, labels: torch.Tensor | None) -> list[Image.Image]:
        was_training = self.training
        self.eval()  # batch-norm running statistics: an image does not depend on the rest of the batch
        images = self(z, labels)
        self.train(was_training)
        return batch_to_pils(unframe(images, self.padding))

    @fast_inference
    def generate(self, num_images: int, seed: int | None = None, labels: list[int] | None = None) -> list[Image.Image]:
        """Generate `num_images` PIL images; the same seed (and labels) gives the same images.

        Args:
            num_images: how many images.
            seed: seed of the latent codes; None draws fresh ones.
            labels: one class per image for a conditional model (default: classes 0, 1, 2, ... in turn).

        Returns:
            PIL images of size resolution - 2 * padding square, mode L or RGB.
        """
        check_count(num_images, "num_images")
        return self._decode_images(self.sample_latents(num_images, seed), self._labels_for(num_images, labels))

    @fast_inference
    def interpolate(self, seed_a: int, seed_b: int, steps: int = 8, label: int | None = None) -> list[Image.Image]:
        """Images along the spherical path from the code of `seed_a` to the code of `seed_b` (both ends included).

        Args:
            seed_a: seed of the first image (the same image as `generate(1, seed=seed_a)[0]`).
            seed_b: seed of the last image.
            steps: number of images, at least 2.
            label: the class of every frame, for a conditional model (default 0).
        """
        check_count(steps, "steps (the two ends and the frames between)", minimum=2)
        z = slerp(self.sample_latents(1, seed_a)[0], self.sample_latents(1, seed_b)[0], torch.linspace(0, 1, steps))
        labels = None if self.num_classes == 0 else [label or 0] * steps
        return self._decode_images(z.to(self.device), self._labels_for(steps, labels))

    # --- what hfimg.prior needs -----------------------------------------------------------------------------------

    def decode_latent(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (N, latent_dim) -> images (N, C, R, R); differentiable in z."""
        return self(z, labels)

    def initial_latents(
        self,
        target: torch.Tensor,
        known: torch.Tensor,
        num: int,
        generator: torch.Generator,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Starting codes for the latent search: `num` draws from the prior N(0, I).

        `target` and `known` are not used: the restarts and the search itself do the fitting.
        """
        return torch.randn(num, self.latent_dim, generator=generator).to(self.device)


@register_model("dcgan-discriminator", tiny={"resolution": 32, "channels": 3, "base_channels": 8, "num_classes": 3})
class DCGANDiscriminator(
    HubModel,
    tags=["dcgan", "gan", "discriminator"],
    pipeline_tag="image-classification",
):
    """DCGAN discriminator: image (B, channels, R, R) -> real/fake logit (B,).

    Mirror of the generator: strided 4x4 convs halve the size and double the channels (capped at 8 * base) down to
    4x4, then a 4x4 conv gives one logit. LeakyReLU(0.2) throughout.

    `norm="spectral"` (the default) puts spectral normalisation on every layer: it bounds the discriminator's
    Lipschitz constant, which keeps its gradients to the generator useful (Miyato et al., 2018), and a score does
    not depend on what else is in the batch, so train and eval mode give the same logits and data-parallel ranks
    need no synchronised statistics. `norm="batch"` is the paper's discriminator: BatchNorm after every conv but
    the first (real and generated batches are scored in separate calls, so each is normalised by its own
    statistics, as in the PyTorch DCGAN example).

    With `num_classes > 0` a projection term is added: logit += <embed(label), pooled features>.

    Args:
        resolution: input size, 32, 64 or 128.
        channels: 1 (grey) or 3 (RGB).
        base_channels: channels of the first conv; later ones have 2x, 4x, 8x as many.
        num_classes: 0 for an unconditional model; otherwise the number of classes of the labels.
        norm: "spectral" or "batch" (see above).

    Example:
        >>> discriminator = DCGANDiscriminator(resolution=32, channels=1, base_channels=8)
        >>> discriminator(torch.zeros(5, 1, 32, 32)).shape
        torch.Size([5])
    """

    def __init__(
        self,
        resolution: int = 64,
        channels: int = 3,
        base_channels: int = 64,
        num_classes: int = 0,
        norm: str = "spectral",
    ):
        super().__init__()
        stages = check_resolution(resolution)
        network_mode(channels)  # validates channels
        if base_channels < 1 or num_classes < 0:
            raise ValueError(
                f"base_channels must be positive and num_classes >= 0, got base_channels={base_channels}, "
                f"num_classes={num_classes}."
            )
        if norm not in DISCRIMINATOR_NORMS:
            raise ValueError(f"norm must be one of {DISCRIMINATOR_NORMS}, got {norm!r}.")
        self.resolution = resolution
        self.channels = channels
        self.num_classes = num_classes

        widths = stage_channels(base_channels, stages)[::-1]  # full resolution -> 4x4
        # (B, C, R, R) -> (B, widths[0], R/2, R/2) -> ... -> (B, widths[-1], 4, 4)
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip([channels, *widths[:-1]], widths, strict=True)):
            if norm == "batch" and i > 0:  # the paper leaves the first layer unnormalised
                layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out)]
            else:
                layers += [nn.Conv2d(c_in, c_out, 4, 2, 1)]
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(widths[-1], 1, 4, 1, 0)  # (B, widths[-1], 4, 4) -> (B, 1, 1, 1)
        self.label_embedding = nn.Embedding(num_classes, widths[-1]) if num_classes > 0 else None
        self.apply(dcgan_init)
        if norm == "spectral":
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.Embedding)):
                    spectral_norm(module)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """images (B, C, R, R) in [-1, 1], labels (B,) long or None -> logits (B,) (no sigmoid)."""
        expected = (self.channels, self.resolution, self.resolution)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            shape = ", ".join(map(str, expected))
            raise ValueError(f"images must have shape (B, {shape}), got {tuple(images.shape)}.")
        if self.label_embedding is None:
            if labels is not None:
                raise ValueError("this discriminator is unconditional (num_classes=0): call it without labels.")
            return self.run_core(images)
        if labels is None or labels.shape != (images.shape[0],) or labels.dtype != torch.long:
            got = None if labels is None else f"{labels.dtype} of shape {tuple(labels.shape)}"
            raise ValueError(
                f"this discriminator is class-conditional (num_classes={self.num_classes}): pass labels as a long "
                f"tensor of shape ({images.shape[0]},), got {got}."
            )
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"labels must be in 0..{self.num_classes - 1}, got {labels.tolist()}.")
        return self.run_core(images, labels)

    def core(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """images (B, C, R, R) in [-1, 1] (and labels (B,) long for a conditional model) -> logits (B,)."""
        features = self.features(images)  # (B, F, 4, 4)
        logits = self.head(features).flatten()  # (B,)
        if self.label_embedding is None:
            return logits
        pooled = features.sum(dim=(2, 3))  # (B, F)
        return logits + (self.label_embedding(labels) * pooled).sum(dim=1)  # the projection term

    def core_spec(self) -> CoreSpec:
        inputs = {"images": example_images(4, self.channels, self.resolution, self.resolution)}
        dynamic = {"images": {0: "batch"}}
        size = f"(B, {self.channels}, {self.resolution}, {self.resolution})"
        description = f"images: {size} float32 in [-1, 1]"
        if self.num_classes:
            inputs["labels"] = torch.arange(4) % self.num_classes
            dynamic["labels"] = {0: "batch"}
            description += f"; labels: (B,) int64 classes 0..{self.num_classes - 1}"
        description += ". logits: (B,) float32, > 0 = judged real."
        return CoreSpec(inputs, "logits", dynamic, description=description)


@register_model("patch-discriminator", tiny={"channels": 3, "base_channels": 8})
class PatchDiscriminator(
    HubModel,
    tags=["gan", "discriminator", "patchgan"],
    pipeline_tag="image-classification",
):
    """PatchGAN discriminator (Isola et al., 2017; the one LaMa trains its inpainter with): image (B, C, H, W), any
    size that is a multiple of 8 -> a map of real/fake logits (B, 1, H/8, W/8), one per overlapping patch.

    Scoring patches instead of whole images lets an inpainter's adversarial loss point at the hole: only the patches
    that overlap it are generated. Three 4x4 stride-2 convs (widths w, 2w, 4w, LeakyReLU 0.2) and a 3x3 conv to one
    logit, spectral norm on every layer. `features` also returns the activations after each stride-2 conv, for
    feature matching.

    Args:
        channels: 1 (grey) or 3 (RGB).
        base_channels: width w of the first conv.

    Example:
        >>> PatchDiscriminator(channels=3, base_channels=8)(torch.zeros(2, 3, 64, 48)).shape
        torch.Size([2, 1, 8, 6])
    """

    def __init__(self, channels: int = 3, base_channels: int = 32):
        super().__init__()
        network_mode(channels)  # validates channels
        if base_channels < 1:
            raise ValueError(f"base_channels must be positive, got {base_channels}.")
        self.channels = channels
        widths = [base_channels, 2 * base_channels, 4 * base_channels]
        self.stages = nn.ModuleList(
            nn.Sequential(spectral_norm(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True))
            for c_in, c_out in zip([channels, *widths[:-1]], widths, strict=True)
        )
        self.head = spectral_norm(nn.Conv2d(widths[-1], 1, 3, 1, 1))

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """images (B, C, H, W) in [-1, 1] -> (logits (B, 1, H/8, W/8), [(B, w, H/2, W/2), (B, 2w, H/4, W/4),
        (B, 4w, H/8, W/8)])."""
        if images.ndim != 4 or images.shape[1] != self.channels or images.shape[-1] % 8 or images.shape[-2] % 8:
            raise ValueError(
                f"images must have shape (B, {self.channels}, H, W) with H and W multiples of 8, got "
                f"{tuple(images.shape)}."
            )
        activations = []
        x = images
        for stage in self.stages:
            x = stage(x)
            activations.append(x)
        return self.head(x), activations

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) in [-1, 1] -> logits (B, 1, H/8, W/8), > 0 = judged real."""
        return self.features(images)[0]

    def core(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)[0]

    def core_spec(self) -> CoreSpec:
        inputs = {"images": example_images(2, self.channels, 64, 64)}
        description = "images: (B, C, H, W) float32 in [-1, 1], H and W multiples of 8. logits: (B, 1, H/8, W/8)."
        return CoreSpec(inputs, "logits", {"images": {0: "batch", 2: "height", 3: "width"}}, 8, description)

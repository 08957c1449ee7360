"""Image restoration with a trained generator as the prior: gradient descent in its latent space.

A generator G (the DCGAN generator, or the VAE's decoder) only makes images that look like its training data. To
fill a hole, look for the code z whose image G(z) agrees with the pixels we do know (semantic inpainting, Yeh et
al., 2017):

    minimise over z:   masked_loss(G(z), image, known)  +  prior_weight * 0.5 * mean(z ** 2)

The second term is the Gaussian negative log-density of z (up to a constant, divided by the latent size): it keeps
z where the generator was trained, so G(z) stays a plausible image. A batch of `restarts` codes is optimised at
once with Adam (or SGD) -- z <- z - lr * grad -- and the one with the lowest masked loss wins. G(z) then fills the
hole; a feathered correction removes the seam (`blend_feather`), and every known pixel is copied back unchanged.

`restore` is the same search with every pixel "known": it returns G(z) itself, the closest image the generator can
make to a noisy or degraded input, which drops what the generator cannot represent (noise, scratches, JPEG blocks).

The models only need to provide (see `LatentModel`): `channels`, `resolution`, `latent_dim`, `num_classes`,
`decode_latent(z, labels)` and `initial_latents(target, known, num, generator, labels)`. `DCGANGenerator` starts
from random draws of N(0, I); `ConvVAE` starts from its encoder's guess for the masked image. Both classes inherit
`LatentPrior`, whose methods are `model.inpaint(image, mask)`, `model.restore(image)` and the inpainting task call
(`hfimg.tasks`). `inpaint_tensors` restores a whole batch of tensors at once (each image as if alone, only faster),
for benchmarks and training scripts.

Example:
    >>> from PIL import Image
    >>> from hfimg import DCGANGenerator
    >>> generator = DCGANGenerator(resolution=32, channels=1, base_channels=8)
    >>> image, mask = Image.new("L", (32, 32), 128), Image.new("L", (32, 32))
    >>> mask.paste(255, (8, 8, 24, 24))  # white = the hole to fill
    >>> filled = generator.inpaint(image, mask, steps=20)
    >>> filled.size, filled.getpixel((0, 0))
    ((32, 32), 128)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Protocol

import torch
from PIL import Image
from torch.nn import functional as F

from hfimg.imaging import ImageInput, PreparedImage, check_count, check_hole, load_mask
from hfimg.latent import check_seed, latent_generator
from hfimg.tasks import InpaintOptions, InpaintResult, Placement, RestoreOptions, refuse_beside_options

LOSSES = ("l1", "l2")
OPTIMIZERS = ("adam", "sgd")
BLENDS = ("feather", "none")
# Defaults measured on 32x32 Fashion-MNIST models (hole error of a 12x12 and a half-image hole): the error barely
# moves between 50 and 200 steps, and 100 steps keep a DCGAN (base_channels 64) at ~0.4 s on 2 CPU cores. Adam with
# lr 0.03-0.3 converges alike. The data term is a mean over pixels, so its gradient in z is small: plain SGD needs a
# far larger step than Adam, which normalises the gradient's scale away (SGD diverged at 100). A prior weight of
# 0.1 already pulled the VAE's fills towards the average garment; 0.01 costs nothing measurable.
DEFAULT_LR = {"adam": 0.1, "sgd": 20.0}
DEFAULT_STEPS = 100
DEFAULT_RESTARTS = 4
DEFAULT_PRIOR_WEIGHT = 0.01


class LatentModel(Protocol):
    """What a model needs to be used as a prior: a differentiable decoder from codes to images, and a first guess."""

    channels: int
    resolution: int
    latent_dim: int
    num_classes: int
    training: bool

    def decode_latent(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, latent_dim) -> (N, channels, resolution, resolution) in [-1, 1]."""

    def initial_latents(
        self,
        target: torch.Tensor,
        known: torch.Tensor,
        num: int,
        generator: torch.Generator,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(num, latent_dim) starting codes for the (1, C, R, R) target whose known pixels are weighted by known."""

    def eval(self) -> LatentModel: ...

    def train(self, mode: bool = True) -> LatentModel: ...

    def parameters(self): ...


class LatentPrior:
    """Restoration by latent search, as methods of a generator: `DCGANGenerator` and `ConvVAE` inherit this.

    The class needs what `LatentModel` lists (a decoder and a first guess); everything else is here.
    """

    def inpaint(
        self: LatentModel,
        image: ImageInput,
        mask: ImageInput,
        *,
        label: int | None = None,
        steps: int = DEFAULT_STEPS,
        lr: float | None = None,
        restarts: int = DEFAULT_RESTARTS,
        loss: str = "l1",
        prior_weight: float = DEFAULT_PRIOR_WEIGHT,
        optimizer: str = "adam",
        seed: int = 0,
        blend: str = "feather",
        callback: Callable[[int, float], None] | None = None,
        options: InpaintOptions | None = None,
    ) -> Image.Image | InpaintResult:
        """Fill the hole of `image` with the generator's image that best matches the known pixels.

        Args:
            image: PIL image, path, uint8 array or tensor in [-1, 1]; any size (see below).
            mask: same size as the image; white (>= 128) = hole to fill.
            label: the class, for a class-conditional generator (required there, refused otherwise).
            steps: gradient steps, at least 1 and at most HFIMG_MAX_SEARCH_STEPS (`hfimg.imaging.LIMITS`).
            lr: step size; None picks DEFAULT_LR for the optimizer.
            restarts: codes optimised together from different starts, the best one kept; at most
                HFIMG_MAX_RESTARTS.
            loss: "l1" or "l2", the distance between G(z) and the known pixels.
            prior_weight: weight of the Gaussian prior 0.5 * mean(z^2); 0 turns it off.
            optimizer: "adam" or "sgd" (with momentum 0.9).
            seed: seed of the starting codes; the same seed gives the same result.
            blend: "feather" smooths the colour step at the hole's edge (`blend_feather`); "none" pastes G(z) as is.
            callback: called as callback(step, loss) at every step (0 .. steps-1) with the masked loss of the best
                code at that step, before its update; e.g. for a progress bar.
            options: the task's options (`hfimg.tasks`) instead of label, steps, seed and callback; the result then
                comes as an `InpaintResult`.

        Returns:
            A PIL image of the input's size and mode; every pixel outside the hole is the input's, bit for bit.

        An image whose size is not the model's resolution is resized into it for the search (the prior only knows its
        own domain; a warning says so) and the fill is resized back, so only the hole gets the lower-resolution
        content. An empty mask returns the input unchanged and a mask over the whole image gives a sample of the
        prior, each with a warning.
        """
        if options is not None:
            label, steps, seed, callback = _from_options(options, label, steps, seed, callback)
        check_options(loss=loss, optimizer=optimizer, blend=blend, steps=steps, restarts=restarts, lr=lr, seed=seed)
        prepared = PreparedImage.from_input(image, self.channels)
        hole = load_mask(mask, prepared.size)
        if not check_hole(hole, generative=True):
            result = prepared.original.copy()
        else:
            filled = inpaint_tensors(
                self, prepared.tensor, torch.from_numpy(hole).float()[None, None], label=label, steps=steps, lr=lr,
                restarts=restarts, loss=loss, prior_weight=prior_weight, optimizer=optimizer, seed=seed, blend=blend,
                callback=callback,
            )  # fmt: skip
            result = prepared.to_output(filled, hole)
        return result if options is None else InpaintResult(result)

    def restore(
        self: LatentModel,
        image: ImageInput,
        *,
        label: int | None = None,
        steps: int = DEFAULT_STEPS,
        lr: float | None = None,
        restarts: int = DEFAULT_RESTARTS,
        loss: str = "l1",
        prior_weight: float = DEFAULT_PRIOR_WEIGHT,
        optimizer: str = "adam",
        seed: int = 0,
        callback: Callable[[int, float], None] | None = None,
        options: RestoreOptions | None = None,
    ) -> Image.Image:
        """Project a noisy or degraded image onto the generator: return G(z) for the z that best fits every pixel.

        What the generator cannot make (noise, scratches, compression blocks) is left out, but so is any detail it
        cannot make; "l1" is robust to sparse damage (salt-and-pepper, scratches), "l2" suits Gaussian noise.
        Arguments as in `inpaint`, without mask and blend; `options` (`hfimg.tasks`) instead of label, steps, seed and
        callback. Returns a PIL image of the input's size and mode; an image of another size than the model's
        resolution is resized into it and the result back (with a warning).
        """
        if options is not None:
            label, steps, seed, callback = _from_options(options, label, steps, seed, callback)
        check_options(loss=loss, optimizer=optimizer, blend="none", steps=steps, restarts=restarts, lr=lr, seed=seed)
        prepared = PreparedImage.from_input(image, self.channels)
        device = next(self.parameters()).device
        x = prepared.tensor.to(device)
        known = torch.ones_like(x[:, :1])
        fitted = fit_latents(
            self, x, known, label=label, steps=steps, lr=lr, restarts=restarts, loss=loss,
            prior_weight=prior_weight, optimizer=optimizer, seed=seed, callback=callback,
        )  # fmt: skip
        return prepared.to_output(fitted.clamp(-1, 1))

    def inpaint_placement(self, max_side: int | None = None) -> Placement:
        """A generator knows whole images at its own resolution: it is shown the whole image, resized to that."""
        return Placement(whole_image=True, work_size=(self.resolution, self.resolution))


def _from_options(
    options: InpaintOptions | RestoreOptions,
    label: int | None,
    steps: int,
    seed: int,
    callback: Callable[[int, float], None] | None,
) -> tuple[int | None, int, int, Callable[[int, float], None] | None]:
    """The search's label, steps, seed and callback from the task options, refusing any also given by keyword; the
    options' progress(step, total, loss) becomes the search's callback(step, loss)."""
    refuse_beside_options(
        options, label=label is not None, steps=steps != DEFAULT_STEPS, seed=seed != 0, callback=callback is not None
    )
    steps = options.steps_or(DEFAULT_STEPS)
    progress = options.progress
    callback = None if progress is None else (lambda step, loss: progress(step, steps, loss))
    return options.label, steps, options.seed, callback


def inpaint_tensors(
    model: LatentModel,
    images: torch.Tensor,
    masks: torch.Tensor,
    *,
    label: int | None = None,
    steps: int = DEFAULT_STEPS,
    lr: float | None = None,
    restarts: int = DEFAULT_RESTARTS,
    loss: str = "l1",
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    optimizer: str = "adam",
    seed: int = 0,
    blend: str = "feather",
    callback: Callable[[int, float], None] | None = None,
) -> torch.Tensor:
    """`inpaint` for a batch of tensors: every image searched at once, each exactly as `inpaint` would alone.

    Each image gets its own `restarts` codes, started as a call with that image alone would start them, and its
    own best code; the codes do not interact (the objective is a sum over codes, the optimizers work element-wise,
    the models run in eval mode), so a batch matches single calls up to float rounding, only faster.

    Args:
        model: a DCGANGenerator or ConvVAE (anything following `LatentModel`).
        images: (N, C, H, W) in [-1, 1] with the model's channels, any H, W (resized for the search, with a
            warning, as in `inpaint`).
        masks: (N, 1, H, W) or (1, 1, H, W) for all images; 1 (>= 0.5) = hole, as everywhere in hfimg.
        label, steps, lr, restarts, loss, prior_weight, optimizer, seed, blend: as in `inpaint`.
        callback: called as callback(step, loss) at every step with the mean over the images of each image's
            best masked loss at that step.

    Returns:
        (N, C, H, W) in [-1, 1] on the images' device; pixels outside each hole are the input's, exactly, and an
        image with an empty mask is returned unchanged.

    Example:
        >>> from hfimg import DCGANGenerator
        >>> generator = DCGANGenerator(resolution=32, channels=1, base_channels=8)
        >>> images, masks = torch.zeros(8, 1, 32, 32), torch.zeros(8, 1, 32, 32)
        >>> masks[:, :, 8:24, 8:24] = 1
        >>> inpaint_tensors(generator, images, masks, steps=20).shape
        torch.Size([8, 1, 32, 32])
    """
    check_options(loss=loss, optimizer=optimizer, blend=blend, steps=steps, restarts=restarts, lr=lr, seed=seed)
    if images.ndim != 4 or images.shape[1] != model.channels:
        raise ValueError(
            f"images: expected a (N, {model.channels}, H, W) tensor in [-1, 1] for this model, got shape "
            f"{tuple(images.shape)}."
        )
    count, _, height, width = images.shape
    if masks.ndim != 4 or masks.shape[1:] != (1, height, width) or masks.shape[0] not in (1, count):
        raise ValueError(
            f"masks: expected shape ({count}, 1, {height}, {width}) (or one mask for all images, (1, 1, {height}, "
            f"{width})), 1 = hole, got {tuple(masks.shape)}."
        )
    hole = (masks >= 0.5).expand(count, -1, -1, -1)  # (N, 1, H, W) bool
    todo = hole.flatten(1).any(dim=1)  # images with something to fill
    result = images.clone()
    if not todo.any():
        return result
    device = next(model.parameters()).device
    x = images[todo].to(device)
    known = (~hole[todo]).to(device, x.dtype)  # (n, 1, H, W), 1 = known
    fitted = fit_latents(
        model, x, known, label=label, steps=steps, lr=lr, restarts=restarts, loss=loss,
        prior_weight=prior_weight, optimizer=optimizer, seed=seed, callback=callback,
    )  # fmt: skip
    if blend == "feather":
        fitted = blend_feather(fitted, x, known)
    result[todo] = torch.where(hole[todo], fitted.clamp(-1, 1).to(result), images[todo])
    return result


def check_options(
    *, loss: str, optimizer: str, blend: str, steps: int, restarts: int, lr: float | None, seed: int
) -> None:
    """Refuse, before any work, what a search cannot do or cannot do within the limits (`hfimg.imaging.LIMITS`):
    at least one step (none would return the random start as if searched), bounded steps and restarts."""
    choices_of = {"loss": (loss, LOSSES), "optimizer": (optimizer, OPTIMIZERS), "blend": (blend, BLENDS)}
    for name, (value, choices) in choices_of.items():
        if value not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {value!r}.")
    check_count(steps, "steps", cap_name="HFIMG_MAX_SEARCH_STEPS", unit="gradient steps of a latent search")
    check_count(restarts, "restarts", cap_name="HFIMG_MAX_RESTARTS", unit="codes searched at once per image")
    try:
        lr_ok = lr is None or (not isinstance(lr, bool) and math.isfinite(lr) and lr > 0)
    except TypeError:  # not a number
        lr_ok = False
    if not lr_ok:
        raise ValueError(f"lr must be a positive finite number (or None for the default), got {lr!r}.")
    check_seed(seed)


def fit_latents(
    model: LatentModel,
    x: torch.Tensor,
    known: torch.Tensor,
    *,
    label: int | None,
    steps: int,
    lr: float | None,
    restarts: int,
    loss: str,
    prior_weight: float,
    optimizer: str,
    seed: int,
    callback: Callable[[int, float], None] | None,
) -> torch.Tensor:
    """The latent search itself, for a batch: returns G(z*) of each image resized to x's size, (N, C, H, W).

    Args:
        x: (N, C, H, W) images in [-1, 1], any H, W.
        known: (N, 1, H, W), 1 where x is known, 0 in the hole.
        callback: called as callback(step, loss) with the mean over the images of each image's best masked loss.
        The rest: as in `inpaint`; every image gets the `restarts` starting codes a call with it alone would get.
    """
    count, size = x.shape[0], (model.resolution, model.resolution)
    target, weight = x, known
    padding = getattr(model, "padding", 0)  # the black frame of the model's training images
    framed = padding > 0 and x.shape[-2:] == (size[0] - 2 * padding, size[1] - 2 * padding)
    if framed:  # an image like the data: framed as in training, the frame a known black
        target = F.pad(x, (padding,) * 4, value=-1.0)
        weight = F.pad(known, (padding,) * 4, value=1.0)
    elif x.shape[-2:] != size:
        warnings.warn(
            f"{type(model).__name__} knows only {size[0]}x{size[1]} images like its training data; the "
            f"{x.shape[-1]}x{x.shape[-2]} image is resized to {size[0]}x{size[1]} for the search and the result back.",
            stacklevel=3,
        )
        # Resize the known pixels alone, renormalised by the resized mask, so hole pixels never bleed into the
        # target; `weight` becomes the fraction of each low-resolution pixel that was known.
        weight = resize(known, size)
        target = resize(x * known, size) / weight.clamp_min(1e-6)
    labels = class_labels(model, label, count * restarts, x.device)
    # Code k of image i is row i * restarts + k; each row is compared with its own image.
    targets, weights = target.repeat_interleave(restarts, dim=0), weight.repeat_interleave(restarts, dim=0)

    was_training = model.training
    model.eval()  # batch norm uses its running statistics: the codes do not influence each other
    try:
        with torch.no_grad():
            # One freshly seeded generator per image, so an image's starts do not depend on the rest of the batch.
            starts = [
                model.initial_latents(
                    target[i : i + 1], weight[i : i + 1], restarts, latent_generator(seed),
                    None if labels is None else labels[:restarts],
                )
                for i in range(count)
            ]  # fmt: skip
            z = torch.cat(starts).detach().clone()  # (N * restarts, latent_dim)
        z.requires_grad_(True)
        lr = DEFAULT_LR[optimizer] if lr is None else lr
        opt = torch.optim.Adam([z], lr=lr) if optimizer == "adam" else torch.optim.SGD([z], lr=lr, momentum=0.9)
        for step in range(steps):
            data = masked_loss(model.decode_latent(z, labels), targets, weights, loss)  # (N * restarts,)
            # A sum, so each code's gradient is its own; both optimizers then update every element on its own.
            objective = (data + prior_weight * 0.5 * z.pow(2).mean(dim=1)).sum()
            # Gradient for z only: the model's own parameters and their .grad are left alone.
            (z.grad,) = torch.autograd.grad(objective, z)
            opt.step()
            if callback is not None:
                callback(step, data.detach().view(count, restarts).min(dim=1).values.mean().item())
        with torch.no_grad():
            images = model.decode_latent(z, labels)  # (N * restarts, C, R, R)
            best = masked_loss(images, targets, weights, loss).view(count, restarts).argmin(dim=1)  # (N,)
            fitted = images.view(count, restarts, *images.shape[1:])[torch.arange(count), best]  # (N, C, R, R)
    finally:
        model.train(was_training)
    if framed:
        return fitted[..., padding:-padding, padding:-padding]
    if fitted.shape[-2:] != x.shape[-2:]:
        fitted = resize(fitted, x.shape[-2:])
    return fitted


def class_labels(model: LatentModel, label: int | None, num: int, device: torch.device) -> torch.Tensor | None:
    """(num,) labels for a conditional model, None for an unconditional one; checks `label` fits the model."""
    num_classes = getattr(model, "num_classes", 0)
    if num_classes == 0:
        if label is not None:
            raise ValueError(f"{type(model).__name__} is unconditional (num_classes=0): leave label=None.")
        return None
    if label is None or not 0 <= label < num_classes:
        raise ValueError(
            f"{type(model).__name__} is class-conditional: pass label in 0..{num_classes - 1}, got {label!r}."
        )
    return torch.full((num,), label, dtype=torch.long, device=device)


def masked_loss(images: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean L1 or L2 distance over the known pixels, one value per image.

    Args:
        images: (N, C, R, R) candidates.
        target: (N, C, R, R) images to match, or (1, C, R, R) for all; only pixels with weight > 0 count.
        weight: (N, 1, R, R) or (1, 1, R, R) in [0, 1], 1 = known.

    Returns:
        (N,) losses; 0 where nothing is known.
    """
    diff = images - target
    distance = diff.abs() if loss == "l1" else diff.pow(2)
    total = weight.sum(dim=(1, 2, 3)) * images.shape[1]  # (N,) or (1,)
    return (distance * weight).sum(dim=(1, 2, 3)) / total.clamp_min(1e-6)


def resize(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, *size), bilinear with antialiasing (so downscaling averages, not skips, pixels)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)


def blend_feather(fitted: torch.Tensor, x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Remove the seam between a fill and its surroundings.

    G(z) rarely matches the known pixels exactly at the hole's edge (a slightly different brightness is the
    typical case), which shows as a step. The residual x - G(z) is measured on the known pixels next to the
    hole, carried into the hole by normalised convolution (a Gaussian average over known pixels only), and added
    to G(z) with a weight that is 1 at the edge and fades to 0 a few pixels in. A cheap stand-in for Poisson
    blending, written here because it is a few tensor ops and needs no extra dependency.

    Args:
        fitted: (N, C, H, W) generator output at the images' size.
        x: (N, C, H, W) the images; only known pixels are read.
        known: (N, 1, H, W), 1 = known.

    Returns:
        (N, C, H, W): fitted with the correction in and near the hole (pixels outside it are replaced by the
        input's anyway).
    """
    sigma = max(1.0, min(x.shape[-2:]) / 24)  # ~1.3 px at 32x32, ~5 px at 128x128
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    residual = (x - fitted) * known
    spread = gaussian_blur(residual, kernel)  # (N, C, H, W)
    coverage = gaussian_blur(known, kernel)  # (N, 1, H, W): how much known area is near each pixel
    correction = spread / coverage.clamp_min(1e-6)
    # A pixel just inside a straight edge has coverage kernel[radius + 1:].sum(); scale that to weight 1.
    edge = kernel[radius + 1 :].sum()
    fade = (coverage / edge).clamp(0, 1)
    return fitted + fade * correction


def gaussian_blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Separable blur of (N, C, H, W) by the 1-D `kernel`, zero padding (what normalised convolution needs)."""
    channels, radius = x.shape[1], kernel.numel() // 2
    horizontal = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    vertical = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    x = F.conv2d(x, horizontal, padding=(0, radius), groups=channels)
    return F.conv2d(x, vertical, padding=(radius, 0), groups=channels)


# The functions' names from before they became LatentPrior's methods: prior.inpaint(model, image, mask, ...).
inpaint = LatentPrior.inpaint
restore = LatentPrior.restore

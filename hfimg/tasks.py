"""The task interfaces: what every method of a task takes and gives, whatever it is inside.

Generate: `generate(num_images, seed, labels)` (DCGANGenerator, ConvVAE). Restore: `restore(image, options=...)`
(the denoisers, and the generators' latent search). Inpaint: a network (InpaintCNN, InpaintRCNN), a generator's
latent search (DCGANGenerator, ConvVAE) and a classical algorithm (Telea, biharmonic, pull-push) all inpaint
through one call, `inpaint(image, mask, options=...) -> InpaintResult`, with one options type. Each model has one
public method per task: called without options (`model.inpaint(image, mask)`) it takes its own keyword arguments and
returns the image; called with options it returns what the task returns (`InpaintResult` for inpainting, with the
passes when asked). Each method honours
the options that mean something to it (a recurrent network's passes, a latent search's steps, label and seed) and
ignores the rest, so a caller never asks what kind of method it holds. `hfimg.inpainting` keeps the inpainting
methods by name; the demo, the `hfimg` command and the benchmarks use only that.

This module imports no model (the models import it), so it can sit under everything.

Example:
    >>> options = InpaintOptions(steps=4, keep_passes=True)
    >>> options.steps_or(6), InpaintOptions().steps_or(6)
    (4, 6)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from PIL import Image

# Called at each step of an iterating method as progress(step, total, loss): step 0 .. total - 1, the loss of that
# step (a latent search's masked loss), e.g. for a progress bar.
Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class InpaintOptions:
    """How to inpaint, for every method; a method ignores what does not apply to it (a CNN takes none of these).

    Attributes:
        steps: passes of a recurrent network, or gradient steps of a latent search; None = the method's default.
        label: the class to fill with, for a class-conditional generator (required there, refused otherwise).
        seed: seed of a latent search's starting codes; the same seed gives the same result.
        keep_passes: also return the image after each pass (the recurrent network; others return none).
        progress: called at each step of a method that iterates (see `Progress`).
    """

    steps: int | None = None
    label: int | None = None
    seed: int = 0
    keep_passes: bool = False
    progress: Progress | None = None

    def steps_or(self, default: int) -> int:
        """`steps`, or `default` when the caller left it to the method."""
        return default if self.steps is None else self.steps


@dataclass
class InpaintResult:
    """The filled image (the input's size and mode, known pixels unchanged) and, if asked, one image per pass."""

    image: Image.Image
    passes: list[Image.Image] = field(default_factory=list)
    # The (left, top, right, bottom) box the method worked on when it was not the whole image (a crop around the
    # hole of a large photo), and the (width, height) that crop was given to the method at; None when whole.
    region: tuple[int, int, int, int] | None = None
    work_size: tuple[int, int] | None = None

    def region_note(self) -> str | None:
        """One sentence on the region worked on, for a user; None when it was the whole image."""
        if self.region is None:
            return None
        left, top, right, bottom = self.region
        note = f"worked on the {right - left}x{bottom - top} region around the mask (from x={left}, y={top})"
        if self.work_size is not None and self.work_size != (right - left, bottom - top):
            note += f", scaled to {self.work_size[0]}x{self.work_size[1]} for the method"
        return note + "; every pixel outside the mask is the input's"


@dataclass(frozen=True)
class Placement:
    """What part of a large photo a method is shown, and at what size (`hfimg.inpainting.inpaint_around_hole`).

    Attributes:
        whole_image: the whole image (models of whole objects, e.g. Fashion-MNIST); else a crop around the hole.
        work_size: the exact (width, height) the method works at (a generator's resolution); None = any size.
        max_side: the crop is scaled down to this longer side, if larger; None = full size.
    """

    whole_image: bool = False
    work_size: tuple[int, int] | None = None
    max_side: int | None = None


@dataclass(frozen=True)
class RestoreOptions:
    """How to restore (denoise), for every method; a method ignores what does not apply to it.

    Attributes:
        sigma: the noise level (0-255 scale) when known; None = the method estimates it or needs none.
        steps: gradient steps of a latent search; None = its default.
        label: the class, for a class-conditional generator.
        seed: seed of a latent search's starting codes.
        progress: called at each step of a method that iterates (see `Progress`).
        ensemble: a network denoiser averages its outputs over the 8 flips and rotations of the image (8x the
            time, a few tenths of a dB; `hfimg.tiling.self_ensemble`).
    """

    sigma: float | None = None
    steps: int | None = None
    label: int | None = None
    seed: int = 0
    progress: Progress | None = None
    ensemble: bool = False

    def steps_or(self, default: int) -> int:
        """`steps`, or `default` when the caller left it to the method."""
        return default if self.steps is None else self.steps


@runtime_checkable
class Generates(Protocol):
    """What a generator offers: `num_images` samples, the same for the same seed (one per label if given), and the
    images along the latent path between the codes of two seeds."""

    def generate(self, num_images: int, seed: int | None = None, labels: list[int] | None = None) -> list: ...

    def interpolate(self, seed_a: int, seed_b: int, steps: int = 8, label: int | None = None) -> list: ...


@runtime_checkable
class Restores(Protocol):
    """What a model offers to be a restoration (denoising) method: the one task call."""

    def restore(self, image, *, options: RestoreOptions) -> Image.Image: ...


@runtime_checkable
class Inpaints(Protocol):
    """What a model offers to be an inpainting method: the one task call, and how it wants to see a large image."""

    def inpaint(self, image, mask, *, options: InpaintOptions) -> InpaintResult: ...

    def inpaint_placement(self, max_side: int | None) -> Placement: ...


def refuse_beside_options(options: InpaintOptions | RestoreOptions | None, **given: bool) -> None:
    """Refuse a method's own keyword arguments given beside `options` (`given`: name -> whether it was set): the
    options say how to run, and two answers to one question would leave one of them silently unused.

    Raises:
        TypeError: naming the arguments to move into the options.
    """
    both = [name for name, was_set in given.items() if was_set]
    if options is not None and both:
        raise TypeError(f"give {', '.join(both)} in `options` or without `options`, not both.")

"""InpaintRCNN: a recurrent inpainter that fills the hole from its border inwards, one ring per pass.

"RCNN" here means recurrent CNN (one block applied again and again to its own output), not the region-based
R-CNN object detectors.

In the spirit of RFR-Net (Li et al., 2020, "Recurrent Feature Reasoning for Image Inpainting"): ONE refinement block
(a gated U-Net, the same network `InpaintCNN` uses) is applied T times with shared weights. Each pass sees the image
as the previous passes left it and the hole that is still open, predicts an image, and keeps only its prediction for
the outer ring of the hole, the pixels it can see best. The next pass starts from that smaller hole, so the
difficult centre of a large hole is predicted last, from an image that is already mostly filled in. As in
`InpaintCNN`, each pass starts from the still-open hole filled by smooth interpolation (`pull_push_fill`) and
predicts a correction to it (`coarse_fill=True`).

The fill rule (`fill_schedule`), exactly. Let d(p) be the chessboard distance from hole pixel p to the nearest known
pixel of the input (1 for a hole pixel touching a known one), and D the largest d in the image. With T passes, pass
t = 0..T-1 accepts the hole pixels with

    floor(t * D / T) < d(p) <= floor((t + 1) * D / T),

that is, the part of the still-open hole within floor((t + 1) * D / T) - floor(t * D / T) pixels of the pixels known
so far (the known region grown by that many 3x3 dilations), and the last pass accepts whatever is left (including a
hole with no known pixel at all). A hole of any size thus closes in T rings of about D / T pixels each, and the
per-pass images show it closing. A pass whose ring is empty in every
image of the batch (a thin hole, many passes) changes nothing and is skipped, except the last, which always runs.

`schedule="refine"` is the other recurrence: the first pass fills the whole hole (as `InpaintCNN` does) and every
later pass predicts the whole hole again from the image the pass before left, told only where the original hole
was, so it can revise what was filled rather than add a ring next to it. The hole is closed after one pass; the
per-pass images show it being reworked.
"""

from __future__ import annotations

from typing import Literal, overload

import torch
from PIL import Image

from hfimg.classical import BLEND_FILLS, blend_fills
from hfimg.cores import CoreSpec
from hfimg.families import register_model
from hfimg.hub import HubModel
from hfimg.imaging import ImageInput, check_count, check_hole, network_mode, prepare_inpainting
from hfimg.layers import (
    GatedUNet,
    blend_pass,
    check_detail_transfer,
    check_image_and_mask,
    copy_photo_detail,
    inpainting_core_spec,
    inpainting_pass,
    onnx_refusal,
    pad_to_multiple,
    quiet_last_layer,
)
from hfimg.runtime import fast_inference
from hfimg.tasks import InpaintOptions, InpaintResult, Placement, refuse_beside_options


def grow(region: torch.Tensor) -> torch.Tensor:
    """Binary dilation by one pixel in chessboard distance (a 3x3 square): (B, 1, H, W) bool -> same.

    Written with shifted ORs, separably (rows, then columns): on a CPU this is ~70x faster than the equivalent
    `max_pool2d(region.float(), 3, stride=1, padding=1)`, and `hole_distance` runs it once per pixel of hole depth.
    """
    rows = region.clone()
    rows[..., 1:, :] |= region[..., :-1, :]
    rows[..., :-1, :] |= region[..., 1:, :]
    grown = rows.clone()
    grown[..., 1:] |= rows[..., :-1]
    grown[..., :-1] |= rows[..., 1:]
    return grown


def hole_distance(hole: torch.Tensor) -> torch.Tensor:
    """Chessboard distance from each hole pixel to the nearest known pixel.

    Args:
        hole: (B, 1, H, W) float, 1 = hole.

    Returns:
        (B, 1, H, W) float: 0 on known pixels, 1, 2, ... in the hole, inf in an image that has no known pixel.
    """
    # Grows the known region one pixel at a time until it stops changing; each hole pixel counts the steps before it
    # is reached. This stays on the tensor's device (a library transform, e.g. scipy's, would need a round trip to
    # numpy per image) and costs about D + 1 cheap steps for a hole D pixels deep.
    reached = hole < 0.5  # (B, 1, H, W) bool, the known pixels
    distance = torch.zeros_like(hole)
    while True:
        grown = grow(reached)
        if torch.equal(grown, reached):
            break
        distance += ~reached
        reached = grown
    return distance.masked_fill(~reached, float("inf"))


SCHEDULES = ("rings", "refine")  # how the passes share the hole (see the module docstring)
# What a viewer of the per-pass images sees happen, by schedule (the demo's caption of its passes gallery).
PASSES_SEEN = {
    "rings": "the hole closes from its border inwards",
    "refine": "the first pass fills the whole hole, each later one corrects it",
}


# An L1 loss, as Liu et al. (2018) train inpainters (L2 blurs the fill more).
@register_model(
    "inpaint-rcnn",
    tiny={"channels": 3, "base_channels": 4, "depth": 2, "iterations": 3, "dilations": [1]},
    objective="inpaint",
    training={"loss": "l1"},
)
class InpaintRCNN(
    HubModel,
    tags=["image-inpainting", "gated-convolution", "recurrent", "rfr-net"],
    pipeline_tag="image-to-image",
):
    """Recurrent inpainter: one shared gated U-Net applied `iterations` times to a shrinking hole.

    Args:
        channels: 1 (grey) or 3 (RGB).
        base_channels: width of the block at 1/2 resolution; deeper levels double it, up to 4x.
        iterations: passes T (default for `forward` / `inpaint`, which can ask for another T).
        depth: halvings of the resolution inside the block; inputs are padded to a multiple of 2**depth.
        dilations: dilation of each gated conv at the block's bottleneck (see `InpaintCNN`).
        coarse_fill: each pass corrects the pull-push fill of the still-open hole (True) or predicts the pixels from
            the zeroed hole (False); see `InpaintCNN`.
        fourier_blocks: global blocks at the block's bottleneck (see `InpaintCNN`).
        gates: how the block's convolutions gate their features (see `InpaintCNN`).
        blend: each pass starts from the three classical fills of the still-open hole and weighs them (see
            `InpaintCNN`); needs OpenCV.
        schedule: "rings" (each pass fills the next ring of the hole, from the border inwards) or "refine" (each
            pass predicts the whole hole again, from the previous pass's result); see the module docstring.
        detail_transfer: after the last pass, copy the known region's fine detail onto the fill (see `InpaintCNN`).
        detail_energy: with `detail_transfer`, the share (0-1) of the copied detail's energy lost to averaging that
            is given back (see `InpaintCNN`).

    Example:
        >>> model = InpaintRCNN(channels=1, base_channels=8, iterations=4)
        >>> mask = Image.new("L", (33, 20))
        >>> mask.paste(255, (5, 5, 25, 15))
        >>> result, steps = model.inpaint(Image.new("L", (33, 20), 90), mask, return_steps=True)
        >>> len(steps), result.size
        (4, (33, 20))
    """

    def __init__(
        self,
        channels: int = 3,
        base_channels: int = 32,
        iterations: int = 6,
        depth: int = 4,
        dilations: list[int] = [1, 2, 4, 8],  # noqa: B006  (never mutated; a list so config.json round-trips)
        coarse_fill: bool = True,
        fourier_blocks: int = 0,
        gates: str = "sigmoid",
        blend: bool = False,
        schedule: str = "rings",
        detail_transfer: bool = False,
        detail_energy: float | bool = 0.0,  # bool: configs saved when it was an on/off switch (True = 1)
    ) -> None:
        super().__init__()
        network_mode(channels)  # validates channels
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}.")
        self.schedule = schedule
        self.channels = channels
        self.iterations = self._check_iterations(iterations)
        self.depth = depth
        if blend and not coarse_fill:
            raise ValueError("blend=True starts from its own fills: it needs coarse_fill=True.")
        self.blend = blend
        check_detail_transfer(detail_transfer, detail_energy)
        self.detail_transfer = detail_transfer
        self.detail_energy = detail_energy
        # Input per pass: the current image (C; with blend, K fills of it, K * C), the hole still open (1) and the
        # original hole (1), so the block can tell pixels filled by earlier passes from pixels known from the start;
        # out: the image (C), after K weight logits with blend.
        k = len(BLEND_FILLS) if blend else 0
        self.block = GatedUNet(
            max(k, 1) * channels + 2, k + channels, base_channels, depth, list(dilations), fourier_blocks, gates=gates
        )
        self.coarse_fill = coarse_fill
        if coarse_fill:  # each pass starts from about its fill (exactly the fills' average with blend)
            quiet_last_layer(self.block, silent_outputs=k)

    def start_from_feed_forward(self, model: HubModel) -> None:
        """Take a trained InpaintCNN's network as the recurrent block, to fine-tune from (train.py --init_weights).

        The CNN's network sees (image, hole); the block sees (image, still-open hole, original hole): the CNN's
        weights for the hole go to the still-open hole and the original hole's weights start at zero, so before
        fine-tuning each pass is the CNN filling the still-open hole, ring by ring.

        Raises:
            ValueError: `model` is not an InpaintCNN of the same channels, widths, depth, dilations and blocks.
        """
        theirs, mine = model.config_dict(), self.config_dict()
        defaults = InpaintRCNN.init_defaults()  # for configs saved before a setting existed
        shared = ("channels", "base_channels", "depth", "dilations", "coarse_fill", "fourier_blocks", "gates", "blend")
        different = [k for k in shared if theirs.get(k, defaults[k]) != mine.get(k, defaults[k])]
        if model.model_type != "inpaint-cnn" or different:
            raise ValueError(
                f"a feed-forward start needs an inpaint-cnn with the same {', '.join(different) or 'settings'}; "
                f"got a {model.model_type!r} with { ({key: theirs.get(key) for key in different}) }"
            )
        weights = dict(model.net.state_dict())
        stem = weights["stem.conv.weight"]  # (2 * w_0, C + 1 (K * C + 1 with blend), 5, 5): image(s), then the hole
        weights["stem.conv.weight"] = torch.cat([stem, torch.zeros_like(stem[:, :1])], dim=1)  # + original hole
        self.block.load_state_dict(weights)

    @staticmethod
    def _check_iterations(iterations: int) -> int:
        unit = "passes (each is a full pass of the network)"
        return check_count(iterations, "iterations", cap_name="HFIMG_MAX_ITERATIONS", unit=unit)

    @property
    def passes_seen(self) -> str:
        """What the images after each pass show, in a few words (its schedule's)."""
        return PASSES_SEEN[self.schedule]

    def fill_schedule(self, mask: torch.Tensor, iterations: int | None = None) -> list[torch.Tensor]:
        """The hole still open after each pass (the rule in the module docstring); depends on the mask only.

        Args:
            mask: (B, 1, H, W), 1 (>= 0.5) = hole.
            iterations: passes T; None = the model's `iterations`.

        Returns:
            T masks (B, 1, H, W) of 0./1., each inside the one before; the last is all zeros (with "refine", every
            one: the first pass closes the hole).
        """
        passes = self._check_iterations(self.iterations if iterations is None else iterations)
        dtype = mask.dtype if mask.is_floating_point() else torch.float32
        if self.schedule == "refine":
            return [torch.zeros_like(mask, dtype=dtype) for _ in range(passes)]
        distance = hole_distance((mask >= 0.5).to(dtype))
        deepest = distance.nan_to_num(posinf=0).amax(dim=(1, 2, 3), keepdim=True)  # D, (B, 1, 1, 1)
        thresholds = [torch.div(deepest * t, passes, rounding_mode="floor") for t in range(1, passes)]
        return [*((distance > threshold).to(dtype) for threshold in thresholds), torch.zeros_like(distance)]

    @property
    def starting_fill(self) -> str | None:
        """The registered classical method (`hfimg.inpainting`) whose fill the network starts from and corrects;
        None when it predicts the pixels themselves. Benchmarks show what the network adds over it."""
        if not self.coarse_fill:
            return None
        return "blend" if self.blend else "pull-push"

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, iterations: int | None = None, return_steps: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Fill the hole in T passes of the shared block.

        Args:
            image: (B, C, H, W) in [-1, 1], any H and W; pixels in the hole are ignored (zeroed here).
            mask: (B, 1, H, W), 1 = hole.
            iterations: passes T; None = the model's `iterations`.
            return_steps: also return the image after each pass.

        Returns:
            (B, C, H, W) prediction in [-1, 1]: in the hole, what the passes filled in; elsewhere the last pass's
            reconstruction of the known pixels (not composited, like `InpaintCNN`: the caller keeps the known
            pixels). With `return_steps`, also a list of T images (B, C, H, W), the image after each pass: known
            pixels as given, accepted rings filled, the still-open hole zero (use `fill_schedule` for its masks).
            With `detail_transfer`, the output (and the last pass's image) is the known pixels outside the hole and
            the fill with the photo's detail copied onto it inside.
        """
        mask = check_image_and_mask(image, mask, self.channels)
        height, width = image.shape[-2:]
        multiple = 2**self.depth
        # The schedule is computed at the true size (so it matches `fill_schedule`), then padded like the image.
        schedule = [pad_to_multiple(m, multiple) for m in self.fill_schedule(mask, iterations)]
        hole = pad_to_multiple(mask, multiple)  # (B, 1, H', W'), the original hole
        x = pad_to_multiple(image * (1 - mask), multiple)  # (B, C, H', W'), the image as the passes leave it
        still_open, steps = hole, []
        for t, remaining in enumerate(schedule):
            # The pixels this pass fills, (B, 1, H', W'): the next ring, or with "refine" the whole hole every time.
            ring = hole if self.schedule == "refine" else still_open - remaining
            if t == len(schedule) - 1 or ring.any():
                prediction = self.run_core(x, still_open, hole)  # (B, C, H', W')
                x = x * (1 - ring) + prediction * ring
            still_open = remaining
            steps.append(x[..., :height, :width])
        output = (hole * x + (1 - hole) * prediction)[..., :height, :width]
        if self.detail_transfer:
            output = copy_photo_detail(output, image, mask, self.detail_energy)
            steps[-1] = output  # what the last pass leaves is what the user gets
        return (output, steps) if return_steps else output

    def core(self, image: torch.Tensor, still_open: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        """One pass of the shared block: image (B, C, H, W) in [-1, 1] with the still-open hole zeroed, still_open
        and hole (B, 1, H, W), 1 = hole, H and W multiples of 2**depth -> (B, C, H, W) prediction."""
        if self.blend:
            return blend_pass(self.block, blend_fills(image, still_open), still_open, [hole])
        return inpainting_pass(self.block, image, still_open, [hole], self.coarse_fill)

    def core_spec(self) -> CoreSpec:
        refusal = onnx_refusal(self.block.fourier_blocks, blend=self.blend)
        return inpainting_core_spec(self.channels, 2**self.depth, extra_hole=True, refusal=refusal)

    @overload
    def inpaint(
        self, image: ImageInput, mask: ImageInput, iterations: int | None = None, return_steps: Literal[False] = False
    ) -> Image.Image: ...

    @overload
    def inpaint(
        self, image: ImageInput, mask: ImageInput, iterations: int | None = None, *, return_steps: Literal[True]
    ) -> tuple[Image.Image, list[Image.Image]]: ...

    @overload
    def inpaint(self, image: ImageInput, mask: ImageInput, *, options: InpaintOptions) -> InpaintResult: ...

    @fast_inference
    def inpaint(
        self,
        image: ImageInput,
        mask: ImageInput,
        iterations: int | None = None,
        return_steps: bool = False,
        *,
        options: InpaintOptions | None = None,
    ) -> Image.Image | tuple[Image.Image, list[Image.Image]] | InpaintResult:
        """Fill the hole of one image, optionally returning the image after every pass to watch the hole close.

        Args:
            image: PIL image, path, uint8 array or (C, H, W) tensor in [-1, 1].
            mask: same size as the image; white (>= 128) or 1.0 = hole.
            iterations: passes T; None = the model's `iterations`.
            return_steps: also return the T per-pass images (the still-open hole shown mid-grey).
            options: the task's options (`hfimg.tasks`) instead of the two above: `options.steps` passes (None = the
                model's `iterations`), the passes kept with `options.keep_passes`; the result comes as an
                `InpaintResult`.

        Returns:
            PIL image in the input's mode (L, RGB or RGBA; alpha kept) with every known pixel copied unchanged, or
            (result, list of T PIL images) with `return_steps`; every step keeps the known pixels unchanged too.
        """
        refuse_beside_options(options, iterations=iterations is not None, return_steps=return_steps)
        if options is not None:
            iterations, return_steps = options.steps, options.keep_passes
        passes = self._check_iterations(self.iterations if iterations is None else iterations)
        prepared, hole, mask_tensor = prepare_inpainting(image, mask, self.channels, self.device)
        if not check_hole(hole):  # empty: a warning and the image as it is; full: a ValueError
            result = prepared.original.copy()
            steps = [result.copy() for _ in range(passes)] if return_steps else []
        else:
            prediction, tensors = self(prepared.tensor.to(self.device), mask_tensor, passes, return_steps=True)
            result = prepared.to_output(prediction, hole)
            steps = [prepared.to_output(step, hole) for step in tensors] if return_steps else []
        if options is not None:
            return InpaintResult(result, steps)
        return (result, steps) if return_steps else result

    def inpaint_placement(self, max_side: int | None = None) -> Placement:
        """Any size: a crop around the hole, scaled to at most `max_side` (the caller's speed limit)."""
        return Placement(max_side=max_side)

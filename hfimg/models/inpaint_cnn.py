"""InpaintCNN: a feed-forward inpainter, a U-Net of gated convolutions in the style of DeepFill v2.

Yu et al., 2019, "Free-Form Image Inpainting with Gated Convolution". One pass: the image with its hole pre-filled by
a smooth interpolation (`pull_push_fill`) and the mask go in; the network predicts a correction to that fill for
every pixel, and the hole is filled from the corrected image. Starting from the interpolation, which alone is level
with classical inpainting, the network only has to learn what smooth interpolation gets wrong (edges, texture), so it
trains far faster than one that must also learn to interpolate (`coarse_fill=False`: the image with its hole zeroed
goes in and the network predicts the pixels themselves, as in DeepFill). The network (`GatedUNet` in
`hfimg.layers`) does most of its work at 1/4 to 1/16 of the resolution: with the defaults (3.2M parameters, 11 GMAC
for 512x512) a 512x512 image takes about 0.15 s on two CPU cores.

With `blend=True` (the shipped photo model) the network starts from three classical fills instead of one: pull-push,
OpenCV's Navier-Stokes and pull-push with the photo's own detail copied in (`hfimg.classical.blend_fills`). It sees
all three, weighs them pixel by pixel and corrects the weighted blend: where one fill is right (an edge Navier-Stokes
continued, texture the transfer found) it can take that one, where none is it can average them.

With `detail_transfer=True` (also the shipped photo model) the photo's own fine detail is copied onto the network's
fill as a last step (`hfimg.layers.copy_photo_detail`: contextual residual aggregation, as HiFill does with its
network's output). A network trained with a pixel loss fills a hole with its average guess: the right colours and
edges, but little of the photo's grain; the transfer puts the grain of the most similar known patches back.
"""

from __future__ import annotations

from typing import overload

import torch
from PIL import Image

from hfimg.classical import BLEND_FILLS, blend_fills
from hfimg.cores import CoreSpec
from hfimg.families import register_model
from hfimg.hub import HubModel
from hfimg.imaging import ImageInput, check_hole, network_mode, prepare_inpainting
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
from hfimg.tasks import InpaintOptions, InpaintResult, Placement


# An L1 loss, as Liu et al. (2018) train inpainters (L2 blurs the fill more).
@register_model(
    "inpaint-cnn",
    tiny={"channels": 3, "base_channels": 4, "depth": 2, "dilations": [1, 2]},
    objective="inpaint",
    training={"loss": "l1"},
)
class InpaintCNN(
    HubModel,
    tags=["image-inpainting", "gated-convolution", "deepfill"],
    pipeline_tag="image-to-image",
):
    """Gated-convolution U-Net inpainter.

    Args:
        channels: 1 (grey) or 3 (RGB).
        base_channels: width at 1/2 resolution; deeper levels double it, up to 4x.
        depth: number of halvings of the resolution; inputs are padded to a multiple of 2**depth.
        dilations: dilation of each gated conv at the bottleneck (1/2**depth resolution). They set how far the
            network sees across a hole; keep the largest below the bottleneck's size at the training resolution
            (e.g. 8 for 128x128 crops with depth 4), or those taps only ever see padding in training.
        coarse_fill: start from the pull-push fill and predict a correction (True), or predict the pixels from the
            zeroed hole (False).
        fourier_blocks: LaMa-style global blocks at the bottleneck (`hfimg.layers.FourierBlock`); 0 = none.
        gates: how the U-Net's convolutions gate their features (`hfimg.layers.GATES`): "sigmoid" (DeepFill v2's
            gated convs everywhere), "encoder" (a plain decoder, which cannot shut the output by closing its gates)
            or "simple" (NAFNet's SimpleGate after a LayerNorm).
        texture: start from the pull-push fill with the photo's own detail copied into the hole
            (`hfimg.texture`, contextual residual aggregation), and correct that.
        blend: start from three classical fills (`hfimg.classical.BLEND_FILLS`: pull-push, OpenCV Navier-Stokes,
            pull-push + texture transfer); the network sees all three, weighs them pixel by pixel (a softmax over
            its first outputs) and corrects the blend (its last C outputs). Untrained, it gives their plain
            average, the classical method "blend". Needs OpenCV.
        detail_transfer: after the network, copy the known region's fine detail onto its fill of the hole
            (`hfimg.layers.copy_photo_detail`, contextual residual aggregation, as HiFill does with its network's
            output): the network gives the structure, the photo's own grain comes from the photo.
        detail_energy: with `detail_transfer`, the share (0-1) of the grain that averaging the copied patches
            thins out which is given back (`hfimg.texture`'s `keep_energy`): 0 = the weighted mean of 8 candidates,
            1 = each block's detail at the energy of the known patches it comes from; True counts as 1.

    Example:
        >>> model = InpaintCNN(channels=3, base_channels=8)
        >>> image = Image.new("RGB", (45, 30), (200, 30, 30))
        >>> mask = Image.new("L", (45, 30))
        >>> mask.paste(255, (10, 5, 20, 15))
        >>> model.inpaint(image, mask).size
        (45, 30)
    """

    def __init__(
        self,
        channels: int = 3,
        base_channels: int = 32,
        depth: int = 4,
        dilations: list[int] = [1, 2, 4, 8],  # noqa: B006  (never mutated; a list so config.json round-trips)
        coarse_fill: bool = True,
        fourier_blocks: int = 0,
        gates: str = "sigmoid",
        texture: bool = False,
        blend: bool = False,
        detail_transfer: bool = False,
        detail_energy: float | bool = 0.0,  # bool: configs saved when it was an on/off switch (True = 1)
    ) -> None:
        super().__init__()
        network_mode(channels)  # validates channels
        self.channels = channels
        self.depth = depth
        self.coarse_fill = coarse_fill
        if texture and not coarse_fill:
            raise ValueError("texture=True adds detail to the pull-push start: it needs coarse_fill=True.")
        self.texture = texture
        if blend and (texture or not coarse_fill):
            raise ValueError("blend=True starts from its own fills: it needs coarse_fill=True and texture=False.")
        self.blend = blend
        check_detail_transfer(detail_transfer, detail_energy)
        self.detail_transfer = detail_transfer
        self.detail_energy = detail_energy
        # Input: the image with its hole filled (coarse_fill) or zeroed (C), and the mask (1); with blend, each of the
        # K fills (K * C) and the mask, and out: K weight logits and the correction (C).
        k = len(BLEND_FILLS) if blend else 0
        in_channels, out_channels = (k * channels + 1, k + channels) if blend else (channels + 1, channels)
        self.net = GatedUNet(
            in_channels, out_channels, base_channels, depth, list(dilations), fourier_blocks, gates=gates
        )
        if coarse_fill:  # untrained, it returns about its start: pull-push, or exactly the fills' average
            quiet_last_layer(self.net, silent_outputs=k)

    @property
    def starting_fill(self) -> str | None:
        """The registered classical method (`hfimg.inpainting`) whose fill the network starts from and corrects;
        None when it predicts the pixels themselves. Benchmarks show what the network adds over it."""
        if not self.coarse_fill:
            return None
        if self.blend:
            return "blend"
        return "pull-push-texture" if self.texture else "pull-push"

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predict every pixel of the image from its known pixels.

        Args:
            image: (B, C, H, W) in [-1, 1], any H and W; pixels in the hole are ignored (zeroed here).
            mask: (B, 1, H, W), 1 = hole.

        Returns:
            (B, C, H, W) prediction in [-1, 1] for every pixel, not composited: the caller keeps the known pixels,
            e.g. `mask * prediction + (1 - mask) * image`. With `detail_transfer`, the known pixels themselves
            outside the hole and the fill with the photo's detail copied onto it inside.
        """
        mask = check_image_and_mask(image, mask, self.channels)
        height, width = image.shape[-2:]
        multiple = 2**self.depth
        hole = pad_to_multiple(mask, multiple)  # (B, 1, H', W')
        x = pad_to_multiple(image * (1 - mask), multiple)  # (B, C, H', W'), hole zeroed
        prediction = self.run_core(x, hole)[..., :height, :width]  # (B, C, H, W)
        return copy_photo_detail(prediction, image, mask, self.detail_energy) if self.detail_transfer else prediction

    def core(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        """image (B, C, H, W) in [-1, 1] with the hole zeroed, hole (B, 1, H, W) 1 = hole, H and W multiples of
        2**depth -> (B, C, H, W) prediction for every pixel."""
        if self.blend:
            return blend_pass(self.net, blend_fills(image, hole), hole, [])
        return inpainting_pass(self.net, image, hole, [], self.coarse_fill, self.texture)

    def core_spec(self) -> CoreSpec:
        refusal = onnx_refusal(self.net.fourier_blocks, self.texture, self.blend)
        return inpainting_core_spec(self.channels, 2**self.depth, extra_hole=False, refusal=refusal)

    @overload
    def inpaint(self, image: ImageInput, mask: ImageInput, *, options: None = None) -> Image.Image: ...

    @overload
    def inpaint(self, image: ImageInput, mask: ImageInput, *, options: InpaintOptions) -> InpaintResult: ...

    @fast_inference
    def inpaint(
        self, image: ImageInput, mask: ImageInput, *, options: InpaintOptions | None = None
    ) -> Image.Image | InpaintResult:
        """Fill the hole of one image.

        Args:
            image: PIL image, path, uint8 array or (C, H, W) tensor in [-1, 1].
            mask: same size as the image; white (>= 128) or 1.0 = hole.
            options: the task's options (`hfimg.tasks`; one forward pass, so none applies): given, the result
                comes as an `InpaintResult`.

        Returns:
            PIL image in the input's mode (L, RGB or RGBA; alpha kept) with every known pixel copied unchanged.
        """
        prepared, hole, mask_tensor = prepare_inpainting(image, mask, self.channels, self.device)
        if not check_hole(hole):  # empty: a warning and the image as it is; full: a ValueError
            result = prepared.original.copy()
        else:
            result = prepared.to_output(self(prepared.tensor.to(self.device), mask_tensor), hole)
        return result if options is None else InpaintResult(result)

    def inpaint_placement(self, max_side: int | None = None) -> Placement:
        """Any size: a crop around the hole, scaled to at most `max_side` (the caller's speed limit)."""
        return Placement(max_side=max_side)

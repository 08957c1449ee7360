"""Building blocks shared by the inpainting models: gated convolutions, the gated U-Net, padding and input checks.

`GatedConv2d` is the layer of DeepFill v2 (Yu et al., 2019, "Free-Form Image Inpainting with Gated Convolution"):
a convolution whose output is multiplied, per pixel and per channel, by a learned soft gate, so the network can learn
for itself which pixels are valid (unlike a plain convolution, which treats the zeros in a hole as real pixels).

`GatedUNet` is the network both inpainters use: `InpaintCNN` applies it once, `InpaintRCNN` applies it again and
again to a shrinking hole. `FourierBlock` (after LaMa's fast Fourier convolution) gives its bottleneck a view of the
whole image in one layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hfimg.cores import CoreSpec, example_holes, example_images
from hfimg.texture import contextual_residual_aggregation

# Pull-push levels: 16 halvings bring any side up to 65,536 px to 1 px. A fixed count (levels past 1x1 change
# nothing) keeps the computation the same for every image size, so an exported graph is valid for all of them.
PULL_PUSH_LEVELS = 16


GATE_BIAS = 2.0  # a new gated conv's gates start open: sigmoid(2) = 0.88
# How a GatedUNet's convolutions gate their features (the `gates` setting of the inpainters):
# "sigmoid": every conv is DeepFill v2's gated conv; "encoder": the encoder and bottleneck are, the decoder's convs
# are plain (conv + ELU), so the layers next to the output cannot shut it by closing their gates; "simple":
# NAFNet's SimpleGate after a LayerNorm in every conv (Chen et al., 2022): one half of the channels times the other,
# no saturating sigmoid at all.
GATES = ("sigmoid", "encoder", "simple")


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of each pixel of a (B, C, H, W) map, with a learned scale and shift (NAFNet's)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, H, W)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class GatedConv2d(nn.Module):
    """A convolution whose output is gated per pixel and channel; `gate` says how:

    * "sigmoid" (DeepFill v2): `ELU(conv_f(x)) * sigmoid(conv_g(x))`, both convolutions computed as one;
    * "none": `ELU(conv(x))`, a plain convolution;
    * "simple" (NAFNet's SimpleGate): `a * b` where (a, b) are the two halves of `conv(LayerNorm(x))`; nothing
      saturates, and the LayerNorm keeps every layer's input at unit scale.

    Initialised so a deep stack of them passes its signal and its gradient on: the feature half He-normal (the
    variance a ReLU-like activation keeps), a sigmoid gate half small (1/10 of that) with a bias of `gate_bias`, so
    every gate starts open and about equal. With PyTorch's default init (uniform, a third of the variance, gates at
    0.5) each layer shrank the signal by about 3x: in a fresh 17-layer gated U-Net the deep layers' gradients were
    1e-13 of the head's, and half of the parameter tensors never learned (`hfimg.training.health`).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: odd kernel size; the padding keeps the size (divided by `stride`).
        stride: 1, or 2 to halve the resolution.
        dilation: spacing of the kernel taps, to see further at the same cost.
        gate_bias: the sigmoid gates' initial bias (their logit).
        gate: "sigmoid", "none" or "simple", as above.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        gate_bias: float = GATE_BIAS,
        gate: str = "sigmoid",
    ):
        super().__init__()
        if gate not in ("sigmoid", "none", "simple"):
            raise ValueError(f"gate must be 'sigmoid', 'none' or 'simple', got {gate!r}.")
        self.gate = gate
        padding = dilation * (kernel_size - 1) // 2
        width = out_channels if gate == "none" else 2 * out_channels
        self.norm = LayerNorm2d(in_channels) if gate == "simple" else nn.Identity()
        self.conv = nn.Conv2d(in_channels, width, kernel_size, stride, padding, dilation)
        self.activation = nn.ELU()  # as in DeepFill v2
        # He-normal: a sigmoid-gated or plain ELU layer keeps the variance of its input. SimpleGate multiplies two
        # unit-variance halves of a normalised input, so each half gets the variance that keeps its input's (gain 1).
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="linear" if gate == "simple" else "relu")
        with torch.no_grad():
            self.conv.bias.zero_()
            if gate == "sigmoid":
                self.conv.weight[out_channels:].mul_(0.1)  # the gates: near their bias everywhere at first
                self.conv.bias[out_channels:].fill_(gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(self.norm(x))
        if self.gate == "none":
            return self.activation(y)
        features, gate = y.chunk(2, dim=1)  # each (B, out_channels, H', W')
        if self.gate == "simple":
            return features * gate
        return self.activation(features) * torch.sigmoid(gate)


class FourierUnit(nn.Module):
    """A 1x1 convolution in the frequency domain: every output pixel depends on every input pixel.

    (B, C, H, W) -> real FFT over H and W -> (B, 2C, H, W/2 + 1) (real and imaginary parts as channels) -> 1x1 conv +
    ReLU -> inverse FFT -> (B, C, H, W). "ortho" scaling keeps the values' size independent of H and W. Runs in
    float32 under autocast too: CPU FFTs take no bf16, and the many-term sums would lose too much in it.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, 2 * channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        with torch.autocast(x.device.type, enabled=False):
            spectrum = torch.fft.rfft2(x.float(), norm="ortho")  # (B, C, H, W/2 + 1) complex
            features = F.relu(self.conv(torch.cat([spectrum.real, spectrum.imag], dim=1)))  # (B, 2C, H, W/2 + 1)
            real, imag = features.chunk(2, dim=1)
            return torch.fft.irfft2(torch.complex(real, imag), s=(height, width), norm="ortho").to(x.dtype)


class FourierBlock(nn.Module):
    """A residual block with a local and a global branch, after LaMa's fast Fourier convolution (Suvorov et al.,
    2022): `x + gated_conv3x3(x) + up(FourierUnit(down(x)))`, where down / up are 1x1 convolutions to and from half
    the channels. The global branch sees the whole image, so a large hole is filled knowing what the rest of the
    photo looks like (repeating structures, the overall texture) instead of only its rim.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.local = GatedConv2d(channels, channels)
        half = max(1, channels // 2)
        self.down = nn.Sequential(nn.Conv2d(channels, half, 1), nn.ReLU())
        self.spectral = FourierUnit(half)
        self.up = nn.Conv2d(half, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.local(x) + self.up(self.spectral(self.down(x)))


def level_channels(base_channels: int, depth: int) -> list[int]:
    """Channels at each resolution level 1/2, 1/4, ..., 1/2**depth: doubling from `base_channels`, capped at 4x.

    The cap keeps the parameter count (which grows with channels squared) small at the deep levels.
    """
    return [base_channels * 2 ** min(level, 2) for level in range(depth)]


class GatedUNet(nn.Module):
    """An encoder-decoder of gated convolutions that spends little compute at full resolution.

    Shapes, for an input (B, in_channels, H, W) with H and W multiples of 2**depth and widths w_i from
    `level_channels`:

    * stem: one 5x5 stride-2 gated conv -> (B, w_0, H/2, W/2); nothing else runs at full resolution;
    * encoder level i = 1..depth-1: a stride-2 gated conv then a 3x3 gated conv -> (B, w_i, H/2**(i+1), ...);
    * bottleneck at 1/2**depth: one gated conv per entry of `dilations`, to reach far across large holes, then
      `fourier_blocks` FourierBlocks, which see the whole image;
    * decoder, back up to 1/2: a gated conv that narrows to the next level's width, nearest 2x upsampling, plus the
      encoder's features at that level (skip connection, added), then a 3x3 gated conv;
    * head: a 3x3 conv to 4 * out_channels at 1/2 resolution and a pixel shuffle to (B, out_channels, H, W), tanh.

    Args:
        in_channels: channels of the input (image + masks).
        out_channels: channels of the output image.
        base_channels: width at 1/2 resolution.
        depth: number of halvings (at least 2).
        dilations: dilation of each bottleneck gated conv.
        fourier_blocks: FourierBlocks after them (0 = none, the network of the first bundled models).
        gates: how the convolutions gate (`GATES`): "sigmoid" everywhere, sigmoid in the "encoder" only (a plain
            decoder), or NAFNet's "simple" gate everywhere.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        base_channels: int,
        depth: int,
        dilations: list[int],
        fourier_blocks: int = 0,
        gates: str = "sigmoid",
    ) -> None:
        super().__init__()
        if gates not in GATES:
            raise ValueError(f"gates must be one of {', '.join(GATES)}; got {gates!r}.")
        if not 2 <= depth <= 8:
            # Inputs are padded to multiples of 2**depth: past 8 (256 px) that padding, not the image, sets the cost.
            raise ValueError(f"depth must be from 2 to 8 (halvings of the resolution), got {depth}.")
        if base_channels < 1:
            raise ValueError(f"base_channels must be positive, got {base_channels}.")
        if not dilations or any(d < 1 for d in dilations):
            raise ValueError(f"dilations must be a non-empty list of positive ints, got {dilations}.")
        widths = level_channels(base_channels, depth)
        gate = "simple" if gates == "simple" else "sigmoid"  # encoder and bottleneck
        decoder_gate = "none" if gates == "encoder" else gate
        self.stem = GatedConv2d(in_channels, widths[0], kernel_size=5, stride=2, gate=gate)
        self.down = nn.ModuleList(
            nn.Sequential(
                GatedConv2d(widths[i - 1], widths[i], stride=2, gate=gate),
                GatedConv2d(widths[i], widths[i], gate=gate),
            )
            for i in range(1, depth)
        )
        if fourier_blocks < 0:
            raise ValueError(f"fourier_blocks must be 0 or more, got {fourier_blocks}.")
        self.fourier_blocks = fourier_blocks
        self.bottleneck = nn.Sequential(
            *(GatedConv2d(widths[-1], widths[-1], dilation=d, gate=gate) for d in dilations),
            *(FourierBlock(widths[-1]) for _ in range(fourier_blocks)),
        )
        # Decoder step j goes from level depth-1-j up to level depth-2-j (narrow at the lower level, merge above).
        self.narrow = nn.ModuleList(
            GatedConv2d(widths[i], widths[i - 1], gate=decoder_gate) for i in range(depth - 1, 0, -1)
        )
        self.merge = nn.ModuleList(
            GatedConv2d(widths[i - 1], widths[i - 1], gate=decoder_gate) for i in range(depth - 1, 0, -1)
        )
        self.head = nn.Sequential(nn.Conv2d(widths[0], 4 * out_channels, 3, padding=1), nn.PixelShuffle(2), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W), H and W multiples of 2**depth -> (B, out_channels, H, W) in [-1, 1]."""
        skips = [self.stem(x)]  # (B, w_0, H/2, W/2)
        for down in self.down:
            skips.append(down(skips[-1]))  # (B, w_i, H/2**(i+1), W/2**(i+1))
        x = self.bottleneck(skips.pop())
        for narrow, merge, skip in zip(self.narrow, self.merge, reversed(skips), strict=True):
            x = F.interpolate(narrow(x), scale_factor=2.0, mode="nearest") + skip
            x = merge(x)
        return self.head(x)  # (B, out_channels, H, W)


def quiet_last_layer(net: GatedUNet, scale: float = 0.01, silent_outputs: int = 0) -> None:
    """Scale the head's initial weights by `scale` and zero its bias, so `net` starts out near 0 everywhere.

    For a network that predicts a correction: training starts from (almost) the uncorrected input instead of random
    noise added to it. Not exactly zero: a zero head would pass no gradient to the layers below it at the first step.
    The first `silent_outputs` outputs start at exactly 0 (a blending network's weight logits, so that it starts from
    the plain average); their weights still get gradients, and the other outputs pass gradient to the layers below.
    """
    head = net.head[0]
    with torch.no_grad():
        head.weight.mul_(scale)
        head.bias.zero_()
        head.weight[: 4 * silent_outputs].zero_()  # the pixel shuffle makes output c of head channels 4c .. 4c + 3


def pull_push_fill(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Fill the hole with a smooth interpolation of the known pixels around it (pull-push).

    Gortler et al., 1996, "The Lumigraph", section 3.4. Pull: halve the resolution again and again, each coarse pixel
    the average of the KNOWN pixels of its 2x2 block (unknown if none is known), `PULL_PUSH_LEVELS` times (down to
    one pixel for any image up to 65,536 px a side; halving a 1x1 level gives it back unchanged). Push: from
    the coarsest level back up, every unknown pixel takes the bilinear upsampling of the level below. A hole pixel
    thus gets the average of the known pixels at the finest scale that has any near it, blended smoothly across
    scales. The inpainters start from this fill and predict a correction to it: on held-out photos it alone scores
    level with OpenCV and scikit-image inpainting (within 0.3 dB PSNR in every hole bucket), and it costs a few
    pooling ops (differentiable, any size, no iterations to converge), so the network's capacity goes to what
    smooth interpolation gets wrong. Written here because no maintained library offers it on tensors.

    Args:
        image: (B, C, H, W); values in the hole are ignored.
        hole: (B, 1, H, W), 1 = hole.

    Returns:
        (B, C, H, W): the known pixels as given, the hole filled. An image with no known pixel comes back as zeros.
    """
    known = 1 - hole
    levels = [(image * known, known)]  # per level: (sum of known values / block area, known fraction)
    for _ in range(PULL_PUSH_LEVELS):
        values, weights = levels[-1]
        # ceil_mode: odd sizes keep their last row/column; both pools divide alike, so their ratio is exact.
        levels.append((F.avg_pool2d(values, 2, ceil_mode=True), F.avg_pool2d(weights, 2, ceil_mode=True)))
    values, weights = levels[-1]
    filled = values / torch.where(weights > 0, weights, 1)  # (B, C, 1, 1); 0 where nothing is known
    for values, weights in reversed(levels[:-1]):
        upsampled = F.interpolate(filled, size=values.shape[-2:], mode="bilinear", align_corners=False)
        has_known = weights > 0
        # Divide by 1 where nothing is known (values is 0 there): 0 / 0 would make NaN gradients.
        filled = torch.where(has_known, values / torch.where(has_known, weights, 1), upsampled)
    return filled


def inpainting_pass(
    net: GatedUNet,
    image: torch.Tensor,
    hole: torch.Tensor,
    extra: list[torch.Tensor],
    coarse_fill: bool,
    texture: bool = False,
) -> torch.Tensor:
    """One pass of an inpainter's network over an image whose hole is zeroed; both inpainters call it.

    Args:
        net: the gated U-Net; it takes C + 1 + len(extra) input channels.
        image: (B, C, H, W), H and W multiples of 2**depth, the hole zeroed.
        hole: (B, 1, H, W), 1 = the pixels to predict.
        extra: further (B, 1, H, W) inputs after the hole (the recurrent model's original hole).
        coarse_fill: start from `pull_push_fill` and let the network correct it, or let it predict the pixels
            from the zeroed hole.
        texture: with `coarse_fill`, add the known region's detail to the fill before the network sees it
            (`hfimg.texture.contextual_residual_aggregation`), so the network corrects a textured start.

    Returns:
        (B, C, H, W) prediction in [-1, 1] for every pixel, not composited.
    """
    start = pull_push_fill(image, hole) if coarse_fill else image
    if coarse_fill and texture:
        start = contextual_residual_aggregation(start, hole)
    prediction = net(torch.cat([start, hole, *extra], dim=1))  # (B, C, H, W)
    return (start + prediction).clamp(-1, 1) if coarse_fill else prediction  # with the fill: a correction


# A blending network's weight logits are its tanh outputs times this: weights from uniform up to e**8 : 1 between two
# fills, enough to pick one outright where it is right, while the quiet start (logits 0) is their plain average.
BLEND_SHARPNESS = 4.0


def blend_pass(net: GatedUNet, fills: torch.Tensor, hole: torch.Tensor, extra: list[torch.Tensor]) -> torch.Tensor:
    """One pass of an inpainter that weighs several classical fills pixel by pixel and corrects their blend.

    Args:
        net: the gated U-Net; it takes K * C + 1 + len(extra) input channels and gives K + C.
        fills: (B, K, C, H, W) in [-1, 1], K fills of the same hole (`hfimg.classical.blend_fills`).
        hole: (B, 1, H, W), 1 = the pixels to predict.
        extra: further (B, 1, H, W) inputs after the hole.

    Returns:
        (B, C, H, W) in [-1, 1]: sum_k softmax_k(BLEND_SHARPNESS * logits) * fill_k + correction, for every pixel
        (not composited). With `quiet_last_layer` the untrained network gives the fills' plain average.
    """
    k = fills.shape[1]
    out = net(torch.cat([fills.flatten(1, 2).to(hole.dtype), hole, *extra], dim=1))  # (B, K + C, H, W)
    weights = torch.softmax(BLEND_SHARPNESS * out[:, :k].float(), dim=1)  # (B, K, H, W), in float32: sums to 1
    return ((weights[:, :, None] * fills).sum(dim=1) + out[:, k:]).clamp(-1, 1)


def check_detail_transfer(detail_transfer: bool, detail_energy: float) -> None:
    """The inpainters' rule for their last stage's settings: `detail_energy` only says how `detail_transfer` copies."""
    if not isinstance(detail_energy, (int, float)):  # a bool is an int: True = 1, False = 0
        raise TypeError(f"detail_energy is a share from 0 to 1 (or true/false); got {detail_energy!r}.")
    if not 0 <= detail_energy <= 1:
        raise ValueError(
            f"detail_energy is the share of the copied detail's lost energy given back, 0 to 1; got {detail_energy}."
        )
    if detail_energy and not detail_transfer:
        raise ValueError(
            f"detail_energy={detail_energy} sets how the detail transfer copies: it needs detail_transfer=True."
        )


def copy_photo_detail(
    prediction: torch.Tensor, image: torch.Tensor, hole: torch.Tensor, keep_energy: float = 0.0
) -> torch.Tensor:
    """An inpainter's last stage with `detail_transfer=True`: the known region's fine detail copied onto its fill.

    A network trained with a pixel loss fills a hole with the mean of what could be there: the right colours and
    edges, little of the photo's grain. Contextual residual aggregation (`hfimg.texture`; HiFill, Yi et al., 2020,
    applies it to its network's output the same way) adds, at each hole pixel, the high-frequency residual of the
    known patches most like it. Differentiable, so a model can also be trained through it; plain torch outside the
    exported core (the core stays exportable).

    Args:
        prediction: (B, C, H, W) in [-1, 1], the network's prediction for every pixel.
        image: (B, C, H, W) in [-1, 1], the known pixels (the hole's values are not read).
        hole: (B, 1, H, W), 1 = hole.
        keep_energy: share (0-1) of the copied detail's energy, thinned by averaging the patches, that is given
            back; 1 = each block at the energy of the patches it comes from (`contextual_residual_aggregation`).

    Returns:
        (B, C, H, W): `image` outside the hole, the prediction plus the copied detail inside it.
    """
    filled = hole * prediction + (1 - hole) * image
    return contextual_residual_aggregation(filled, hole, keep_energy=keep_energy).clamp(-1, 1)


# Why an inpainter's core cannot go to ONNX: exported with dynamic sizes, the (inverse) real FFT of the Fourier blocks
# gives graphs onnxruntime cannot run (it mixes up the transform's sizes), and the texture transfer picks its patches
# with data-dependent shapes (nonzero), which torch.export refuses; checked with torch 2.13 and onnxruntime 1.32.
NO_ONNX = (
    "has {what}, which cannot be exported to ONNX; use the fp32, fp32-cl or bf16 backend "
    "(HFIMG_BACKEND=fp32, fp32-cl or bf16)."
)


def onnx_refusal(fourier_blocks: int, texture: bool = False, blend: bool = False) -> str | None:
    """The `CoreSpec.onnx_refusal` of an inpainter with these settings."""
    if fourier_blocks > 0:
        return NO_ONNX.format(what="Fourier blocks (fourier_blocks > 0)")
    if blend:
        return NO_ONNX.format(what="OpenCV's Navier-Stokes fill among its inputs (blend=True)")
    if texture:
        return NO_ONNX.format(what="texture transfer (texture=True)")
    return None


def inpainting_core_spec(channels: int, multiple: int, extra_hole: bool, refusal: str | None = None) -> CoreSpec:
    """The `CoreSpec` of an inpainter's pass: image and hole (and, for the recurrent model, the original hole);
    `refusal` is its `onnx_refusal`."""
    size = max(64, 2 * multiple)  # (B, C, 64, 64) up to depth 5: small, and deep enough for every level
    hole = example_holes(2, size, size)  # (2, 1, S, S)
    axes = {0: "batch", 2: "height", 3: "width"}
    layout = (
        "image: (B, C, H, W) float32 in [-1, 1] (pixel / 127.5 - 1) with the hole set to 0; {hole}: (B, 1, H, W) "
        f"float32, 1 = pixel to fill; H and W multiples of {multiple} (pad the bottom and right by mirroring, crop "
        "the result). prediction: (B, C, H, W) in [-1, 1] for every pixel; keep the known pixels of the input."
    )
    if not extra_hole:
        spec_inputs = {"image": example_images(2, channels, size, size) * (1 - hole), "hole": hole}
        return CoreSpec(
            spec_inputs,
            "prediction",
            {name: axes for name in spec_inputs},
            multiple,
            layout.format(hole="hole"),
            onnx_refusal=refusal,
        )
    still_open = -F.max_pool2d(-hole, 5, stride=1, padding=2)  # the hole shrunk by 2 px: what a later pass sees
    spec_inputs = {
        "image": example_images(2, channels, size, size) * (1 - still_open),
        "still_open": still_open,
        "hole": hole,
    }
    description = layout.format(hole="still_open") + (
        " One pass of the recurrent block: hole is the original hole (B, 1, H, W); run the pass T times, each time "
        "keeping its prediction on the next ring of the hole (hfimg's InpaintRCNN.fill_schedule gives the rings)."
    )
    return CoreSpec(
        spec_inputs, "prediction", {name: axes for name in spec_inputs}, multiple, description, onnx_refusal=refusal
    )


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad (B, C, H, W) at the bottom and right up to multiples of `multiple`, mirroring the image.

    Mirroring (reflect) keeps the image's statistics at the border, unlike zeros. Reflect padding cannot be wider than
    the image itself, so a tiny image is padded by repeating its edge pixels instead.
    """
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def check_image_and_mask(image: torch.Tensor, mask: torch.Tensor, channels: int) -> torch.Tensor:
    """Check an inpainter's tensor inputs; return the mask as 0./1. in the image's dtype (>= 0.5 counts as hole).

    Args:
        image: (B, channels, H, W) in [-1, 1].
        mask: (B, 1, H, W), 1 = hole.
        channels: channels the model takes.
    """
    if image.ndim != 4 or image.shape[1] != channels:
        raise ValueError(
            f"image: expected a (B, {channels}, H, W) tensor for this {channels}-channel model, got shape "
            f"{tuple(image.shape)}."
        )
    expected = (image.shape[0], 1, *image.shape[2:])
    if tuple(mask.shape) != expected:
        raise ValueError(
            f"mask: expected shape {expected} (one channel, same batch and size as the image), got "
            f"{tuple(mask.shape)}."
        )
    return (mask >= 0.5).to(image.dtype)

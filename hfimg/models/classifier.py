"""FashionClassifier: a small CNN that sorts 32x32 grey images into the 10 Fashion-MNIST classes.

It exists for measurement, not as a product: Inception weights (the usual FID / KID features) cannot be fetched
everywhere, and Inception knows little about 28-pixel clothing anyway. Its penultimate layer (a 128-d vector per
image) gives a domain FID / KID, and its predictions give the class histogram of generated samples
(`hfimg.metrics`).

Canonical input: (B, 1, 32, 32) in [-1, 1], the resolution the Fashion-MNIST GAN and VAE run at. It is trained on
Fashion-MNIST's 28x28 images enlarged to 32x32 by `hfimg.data.ImageStream(resolution=32)` (PIL bicubic), the
images the generators learn from; `prepare` resizes any other input the same way, so real and generated images are
seen through the same preprocessing.

Example:
    >>> from PIL import Image
    >>> model = FashionClassifier(base_channels=8)
    >>> model.features(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 32])
    >>> model.classify([Image.new("L", (28, 28))])[0] in model.labels
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from hfimg.constants import FASHION_MNIST_LABELS
from hfimg.cores import CoreSpec, example_images
from hfimg.families import register_model
from hfimg.hub import HubModel
from hfimg.imaging import ImageInput, network_mode, open_image, pad_to, tensor_to_pil

FITS = ("resize", "pad")  # how `prepare` brings other sizes to the classifier's own


def conv_block(in_channels: int, out_channels: int, convs: int = 1) -> list[nn.Module]:
    """`convs` x (3x3 conv (size kept) + BatchNorm + ReLU)."""
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [
            nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        ]
    return layers


def fit_image(image: Image.Image, size: int, fit: str) -> Image.Image:
    """An image brought to size x size: "resize" (PIL bicubic, the shorter side to `size`, the middle kept) or
    "pad" (unscaled in the middle of a black frame, as `hfimg.data.ImageStream(crop="pad")`); a no-op at that size."""
    if image.size == (size, size):
        return image
    if fit == "pad":
        return pad_to(image, size)
    return ImageOps.fit(image, (size, size), method=Image.Resampling.BICUBIC)


@register_model("fashion-classifier", tiny={"channels": 1, "resolution": 16, "base_channels": 4})
class FashionClassifier(
    HubModel,
    tags=["image-classification", "fashion-mnist", "fid"],
    pipeline_tag="image-classification",
):
    """CNN classifier: (B, C, R, R) in [-1, 1] -> (B, len(labels)) logits.

    Four stages of `convs_per_stage` 3x3 convs at R, R/2, R/4 and R/8 with widths base, 2x, 4x and 4x base, 2x2
    max pooling between them; global average pooling gives the feature vector (B, 4x base) and a linear layer the
    logits. The widest layers run at the smallest sizes, so a forward pass costs about 12M multiply-adds for 240k
    parameters at the defaults (it has to train on a couple of CPU cores). Classifiers of other widths, depths,
    input framing and seeds serve as independent judges of generated images (`benchmarks/bench_generation.py`).

    Args:
        channels: 1 (grey) or 3 (RGB).
        resolution: the image size the network is trained at; `prepare` resizes every input to it.
        base_channels: width of the first stage.
        dropout: dropout on the features before the linear layer (training only).
        labels: class names, in logit order; None means the 10 Fashion-MNIST classes.
        convs_per_stage: 3x3 convs in each stage (1, or 2 for a VGG-like network).
        fit: how `prepare` brings an image of another size to R x R: "resize" (bicubic) or "pad" (a black frame,
            for a classifier trained on `ImageStream(crop="pad")` images).
    """

    def __init__(
        self,
        channels: int = 1,
        resolution: int = 32,
        base_channels: int = 32,
        dropout: float = 0.2,
        labels: list[str] | None = None,
        convs_per_stage: int = 1,
        fit: str = "resize",
    ):
        super().__init__()
        network_mode(channels)  # validates channels
        if convs_per_stage < 1 or fit not in FITS:
            raise ValueError(f"need convs_per_stage >= 1 and fit in {FITS}, got {convs_per_stage} and {fit!r}.")
        if resolution < 8 or resolution % 8:
            raise ValueError(f"resolution must be a multiple of 8 (three 2x poolings), got {resolution}.")
        labels = list(FASHION_MNIST_LABELS if labels is None else labels)
        if len(labels) < 2:
            raise ValueError(f"a classifier needs at least 2 labels, got {labels}.")
        self.channels = channels
        self.resolution = resolution
        self.labels = labels
        self.fit = fit
        self.num_features = 4 * base_channels  # read by torchmetrics when used as an FID / KID feature extractor
        widths = [base_channels, 2 * base_channels, 4 * base_channels, 4 * base_channels]
        convs = convs_per_stage
        self.body = nn.Sequential(
            *conv_block(channels, widths[0], convs),  # (B, w0, R, R)
            nn.MaxPool2d(2),
            *conv_block(widths[0], widths[1], convs),  # (B, w1, R/2, R/2)
            nn.MaxPool2d(2),
            *conv_block(widths[1], widths[2], convs),  # (B, w2, R/4, R/4)
            nn.MaxPool2d(2),
            *conv_block(widths[2], widths[3], convs),  # (B, w3, R/8, R/8)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(widths[3], len(labels))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, R, R) in [-1, 1] -> (B, num_features): the penultimate layer, used for FID / KID."""
        if images.ndim != 4 or images.shape[1:] != (self.channels, self.resolution, self.resolution):
            raise ValueError(
                f"expected a (B, {self.channels}, {self.resolution}, {self.resolution}) tensor in [-1, 1], got shape "
                f"{tuple(images.shape)}; use prepare() to convert and resize images of other sizes."
            )
        return self.body(images).mean(dim=(2, 3))  # global average pooling

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, R, R) in [-1, 1] -> (B, len(labels)) logits."""
        return self.head(self.dropout(self.features(images)))

    def core(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, R, R) in [-1, 1] -> (B, len(labels)) logits, unchecked (what ONNX export writes).

        `predict` and the FID / KID features stay in eager fp32 (they are measurements), so this is only exported.
        """
        return self.head(self.dropout(self.body(images).mean(dim=(2, 3))))

    def core_spec(self) -> CoreSpec:
        images = example_images(4, self.channels, self.resolution, self.resolution)
        description = (
            f"images: (B, {self.channels}, {self.resolution}, {self.resolution}) float32 in [-1, 1] (resize as "
            f"FashionClassifier.prepare does). logits: (B, {len(self.labels)}) float32 in the order {self.labels}."
        )
        return CoreSpec({"images": images}, "logits", {"images": {0: "batch"}}, description=description)

    def prepare(self, images: torch.Tensor | Sequence[ImageInput]) -> torch.Tensor:
        """Images of any size -> (B, C, R, R) in [-1, 1] on the model's device, ready for `forward`.

        Args:
            images: a (B, C, H, W) tensor in [-1, 1] (C = 1 or 3), or a list of PIL images / uint8 arrays / paths.

        Returns:
            The batch converted to the model's channels (RGB -> grey with PIL's luma weights, grey -> RGB by
            repetition) and, if it is not `resolution` square already, brought to it exactly as
            `hfimg.data.ImageStream` does for training: to 8-bit PIL images, then (fit="resize") PIL bicubic, the
            shorter side to `resolution`, the middle kept, or (fit="pad") framed in black.
        """
        size = (self.resolution, self.resolution)
        if isinstance(images, torch.Tensor):
            if images.ndim != 4 or images.shape[1] not in (1, 3):
                raise ValueError(f"expected a (B, 1 or 3, H, W) tensor in [-1, 1], got shape {tuple(images.shape)}.")
            if images.shape[-2:] != size:
                images = [tensor_to_pil(image) for image in images]  # resized below, as PIL images
        if isinstance(images, torch.Tensor):
            batch = images.float()
            if batch.shape[1] == 3 and self.channels == 1:
                luma = torch.tensor([0.299, 0.587, 0.114], device=batch.device).view(1, 3, 1, 1)
                batch = (batch * luma).sum(dim=1, keepdim=True)
            elif batch.shape[1] == 1 and self.channels == 3:
                batch = batch.expand(-1, 3, -1, -1)
        else:
            mode = network_mode(self.channels)
            arrays = [
                np.asarray(fit_image(open_image(image).convert(mode), self.resolution, self.fit)) for image in images
            ]
            if not arrays:
                raise ValueError("prepare needs at least one image.")
            batch = torch.from_numpy(np.stack(arrays).astype(np.float32)).reshape(len(arrays), *size, -1)
            batch = batch.permute(0, 3, 1, 2) / 127.5 - 1.0  # (B, C, R, R) in [-1, 1]
        return batch.to(self.device).clamp(-1, 1)

    @torch.no_grad()
    def predict(self, images: torch.Tensor | Sequence[ImageInput]) -> torch.Tensor:
        """Class index (B,) long for each image; images as in `prepare`."""
        was_training = self.training
        self.eval()
        logits = self(self.prepare(images))
        self.train(was_training)
        return logits.argmax(dim=1)

    def classify(self, images: torch.Tensor | Sequence[ImageInput]) -> list[str]:
        """Class name for each image; images as in `prepare`."""
        return [self.labels[i] for i in self.predict(images).tolist()]

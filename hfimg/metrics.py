"""Image quality metrics: PSNR, SSIM, masked L1, detail and edges in a region, FID / KID, precision / recall, a
classifier two-sample test, and the class histogram of generated samples.

* PSNR and SSIM come from scikit-image. It works per image on NumPy arrays of any size and channel count (the form
  benchmark photos come in), and with `gaussian_weights=True, sigma=1.5, use_sample_covariance=False` its SSIM is
  the one of Wang et al. (2004), the figure inpainting and denoising papers report. (torchmetrics' SSIM, made for
  batched tensors, also averages over the 5-pixel border where the window overhangs the image; on the same pixels
  the two agree to float precision, which the tests check.)
* Detail and structure, for restoration (PSNR and SSIM reward a smooth guess): `gradient_energy_ratio` (the Sobel
  gradient energy of a result over the truth's, 1.0 = as detailed, blur -> 0, leftover noise > 1) and `edge_f1`
  (Canny edges of result and truth matched within a few pixels), both within a region such as an inpainting hole;
  from scikit-image's Sobel and Canny on the luminance, with SciPy's distance transform for the tolerance.
* FID and KID come from torchmetrics, which accepts any `nn.Module` as the feature extractor. Inception v3 (the
  usual features) is used when its weights are already on disk; they are never downloaded from here. Otherwise the
  features are the penultimate layer of the bundled Fashion-MNIST classifier (`hfimg/fashion-mnist-classifier`),
  which `features="classifier"` asks for explicitly: a domain FID / KID for Fashion-MNIST generators (Inception
  knows little about 28-pixel clothing), comparable only with numbers measured with the same features. A set
  measured against many others is passed through the network once: `extract_features` gives its `Features`, which
  `fid`, `kid` and `precision_recall` take in place of images.

Images are PIL images, file paths, uint8 arrays (H, W) / (H, W, C), or tensors (C, H, W) / (B, C, H, W) in [-1, 1]
(clamped to [-1, 1], as they would be when saved). The pixel metrics compare two images (or two batch tensors) on
the 0-1 scale; FID, KID and the class histogram take whole sets (a batch tensor, a list, or any iterable).

Example:
    >>> from PIL import Image
    >>> a, b = Image.new("L", (16, 16), 100), Image.new("L", (16, 16), 110)
    >>> round(psnr(a, b), 2)  # 10 grey levels off everywhere: 20 * log10(255 / 10)
    28.13
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from skimage.feature import canny
from skimage.filters import sobel_h, sobel_v
from torch import nn

from hfimg.catalogue import JUDGES
from hfimg.imaging import ImageInput, convert_mode, load_mask, network_mode, open_image
from hfimg.models.classifier import FashionClassifier
from hfimg.registry import BUNDLED_DIR, BUNDLED_ORG, load

try:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance
except ImportError as err:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"hfimg.metrics needs scikit-image and torchmetrics: pip install 'hfimg[metrics]' ({err})."
    ) from err

CLASSIFIER_ID = JUDGES[0]  # the catalogue's first judge: the one models were selected with
CLASSIFIER_DIR = BUNDLED_DIR / CLASSIFIER_ID.removeprefix(f"{BUNDLED_ORG}/")

# The Inception v3 weights torchmetrics uses (converted from TensorFlow's FID network by torch-fidelity), and the
# file name torch.hub caches them under. Set HFIMG_INCEPTION_WEIGHTS to use a copy kept elsewhere.
INCEPTION_WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"

# A batch of images: one tensor (B, C, H, W) in [-1, 1], or any iterable of images and/or such batch tensors.
Images = torch.Tensor | Iterable[ImageInput | torch.Tensor]


# --- pixel metrics --------------------------------------------------------------------------------------------------


def psnr(a: ImageInput, b: ImageInput, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB (scikit-image), averaged over the batch for (B, C, H, W) tensors.

    Args:
        a, b: the two images (or batches), same size and channels.
        data_range: the span of valid pixel values on the 0-1 scale the images are converted to; 1 unless only part
            of the range can occur.

    Returns:
        PSNR in dB; `inf` for identical images.
    """
    first, second = _paired_arrays(a, b)
    with np.errstate(divide="ignore"):  # identical images: 10 * log10(range**2 / 0) = inf, by definition
        values = [peak_signal_noise_ratio(x, y, data_range=data_range) for x, y in zip(first, second, strict=True)]
    return float(np.mean(values))


def ssim(a: ImageInput, b: ImageInput) -> float:
    """Structural similarity (scikit-image, Wang et al. 2004 settings), averaged over channels and the batch.

    Args:
        a, b: the two images (or batches), same size and channels, at least 11x11 (the Gaussian window).

    Returns:
        SSIM in [-1, 1]; 1 for identical images.
    """
    first, second = _paired_arrays(a, b)
    if min(first.shape[1:3]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels (its Gaussian window), got {first.shape[1:3]}.")
    values = [
        structural_similarity(
            x, y, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        for x, y in zip(first, second, strict=True)
    ]
    return float(np.mean(values))


def masked_l1(a: ImageInput, b: ImageInput, mask: ImageInput) -> float:
    """Mean absolute difference over hole pixels only (all channels), on the 0-1 scale.

    Args:
        a, b: the two images (or batches), same size and channels.
        mask: white (>= 128) / 1.0 = hole, as everywhere in hfimg: an image or array (H, W), a tensor (H, W) or
            (1, 1, H, W) for all images, or (B, 1, H, W) with one mask per image of a batch.

    Returns:
        The mean of |a - b| over the hole.
    """
    first, second = _paired_arrays(a, b)
    batch, height, width = first.shape[:3]
    if isinstance(mask, torch.Tensor) and mask.ndim == 4 and mask.shape[0] > 1:
        if tuple(mask.shape) != (batch, 1, height, width):
            raise ValueError(f"mask: expected shape {(batch, 1, height, width)}, got {tuple(mask.shape)}.")
        hole = (mask[:, 0] >= 0.5).cpu().numpy()  # (B, H, W)
    else:
        hole = np.broadcast_to(load_mask(mask, (width, height)), (batch, height, width))
    if not hole.any():
        raise ValueError("mask has no hole pixels, so the hole L1 is undefined; white (or 1.0) marks the hole.")
    return float(np.abs(first - second)[hole].mean())


def gradient_energy_ratio(result: ImageInput, truth: ImageInput, region: ImageInput | None = None) -> float:
    """How much detail a result has where it was restored, relative to the truth: the sum over `region` of the
    squared Sobel gradient magnitude of the result's luminance, over the same sum for the truth.

    1.0 = as much detail as the real image; a smooth fill (interpolation, the mean a pixel loss converges to) tends
    to 0; noise left in, or invented texture, gives more than 1. Not a similarity: wrong detail counts too, so read
    it beside PSNR / SSIM and `edge_f1`.

    Args:
        result, truth: one image each, same size and mode.
        region: white (>= 128) / 1.0 = the pixels to sum over (an inpainting hole); None = the whole image.
    """
    energies = []
    for image in (result, truth):
        grey = _luminance(image)  # (H, W) in [0, 1]
        energies.append(sobel_h(grey) ** 2 + sobel_v(grey) ** 2)
    inside = _region(region, energies[0].shape)
    total = float(energies[1][inside].sum())
    if total < 1e-12 * inside.sum():  # float rounding leaves ~1e-33 on a constant image
        raise ValueError("the truth has no gradient in the region (a flat area), so the ratio is undefined.")
    return float(energies[0][inside].sum()) / total


def edge_f1(result: ImageInput, truth: ImageInput, region: ImageInput | None = None, tolerance: float = 2.0) -> float:
    """F1 score of the result's Canny edges against the truth's, within `region`, a match being within `tolerance`
    pixels (Euclidean): precision = share of the result's edge pixels near a true edge, recall = share of the true
    edge pixels near an edge of the result. Canny (scikit-image, sigma 1, its default thresholds) on the luminance
    of the whole image, so edges that run into the region are found as in the untouched photo. 1.0 when neither
    has an edge in the region, 0.0 when only one has.
    """
    edges = [canny(_luminance(image), sigma=1.0) for image in (result, truth)]
    inside = _region(region, edges[0].shape)
    found, real = edges[0] & inside, edges[1] & inside
    if not found.any() and not real.any():
        return 1.0
    if not found.any() or not real.any():
        return 0.0
    near_real = distance_transform_edt(~edges[1]) <= tolerance  # within tolerance of any true edge
    near_found = distance_transform_edt(~edges[0]) <= tolerance
    precision = float((found & near_real).sum() / found.sum())
    recall = float((real & near_found).sum() / real.sum())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _luminance(image: ImageInput) -> np.ndarray:
    """One image -> (H, W) float64 luminance in [0, 1] (ITU-R 601 weights for colour)."""
    array = _unit_arrays(image)
    if array.shape[0] != 1:
        raise ValueError(f"expected one image, got a batch of {array.shape[0]}.")
    array = array[0]
    return array[..., 0] if array.shape[-1] == 1 else array @ np.array([0.299, 0.587, 0.114])


def _region(region: ImageInput | None, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the region's pixels, all of them for None."""
    if region is None:
        return np.ones(shape, dtype=bool)
    inside = load_mask(region, (shape[1], shape[0]))
    if not inside.any():
        raise ValueError("region has no pixels; white (or 1.0) marks the pixels to measure.")
    return inside


def _paired_arrays(a: ImageInput, b: ImageInput) -> tuple[np.ndarray, np.ndarray]:
    first, second = _unit_arrays(a), _unit_arrays(b)
    if first.shape != second.shape:
        raise ValueError(
            f"the images differ in shape: {first.shape} vs {second.shape} (batch, height, width, channels); "
            f"compare images of the same size and mode."
        )
    return first, second


def _unit_arrays(image: ImageInput) -> np.ndarray:
    """Any image input -> float64 (B, H, W, C) array in [0, 1]."""
    if isinstance(image, torch.Tensor):
        batch = image[None] if image.ndim == 3 else image
        if batch.ndim != 4 or batch.shape[1] not in (1, 3):
            raise ValueError(
                f"expected a (C, H, W) or (B, C, H, W) tensor with C in (1, 3), got {tuple(image.shape)}."
            )
        batch = (batch.detach().double().cpu().clamp(-1, 1) + 1) / 2
        return batch.permute(0, 2, 3, 1).numpy()
    pil = open_image(image)
    if pil.mode not in ("L", "RGB"):
        pil = convert_mode(pil, "RGB")
    array = np.asarray(pil, dtype=np.float64) / 255.0
    return array.reshape(1, *array.shape[:2], -1)


# --- FID / KID ------------------------------------------------------------------------------------------------------


class FeatureExtractor(nn.Module):
    """A classifier's penultimate layer, as a torchmetrics FID / KID feature extractor.

    torchmetrics calls the module on what `update` is given: uint8 images (B, C, H, W) in 0-255 with
    `normalize=False` (what `fid` / `kid` pass), or float images in [0, 1] with `normalize=True`. Both are accepted;
    the images are converted to the classifier's channels and resolution (`FashionClassifier.prepare`).

    Args:
        classifier: the network whose `features` are used; None loads the bundled Fashion-MNIST classifier.

    Example:
        >>> from torchmetrics.image.fid import FrechetInceptionDistance
        >>> extractor = FeatureExtractor(FashionClassifier(base_channels=4))
        >>> metric = FrechetInceptionDistance(feature=extractor)
        >>> metric.update(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), real=True)
    """

    def __init__(self, classifier: FashionClassifier | None = None):
        super().__init__()
        self.classifier = classifier if classifier is not None else load_classifier()
        self.classifier.requires_grad_(False)
        self.num_features = self.classifier.num_features  # read by torchmetrics
        self.channels = self.classifier.channels  # the mode PIL inputs are converted to
        self.train(False)

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Stays in eval mode (BatchNorm statistics and dropout must not change the features)."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) uint8 in 0-255, or float in [0, 1] -> (B, num_features) float64.

        float64 because torchmetrics' KID computes its cubic kernel in the features' dtype, and in float32 the
        rounding error of (x.y / d + 1) ** 3 is as large as the KID of two close image sets.
        """
        if images.dtype == torch.uint8:
            images = images.float() / 127.5 - 1.0
        elif images.is_floating_point():
            images = images * 2.0 - 1.0
        else:
            raise TypeError(f"expected uint8 (0-255) or float (0-1) images, got dtype {images.dtype}.")
        return self.classifier.features(self.classifier.prepare(images)).double()


class InceptionFeatures(nn.Module):
    """torchmetrics' Inception v3 (2048-d pool features) from a local weights file, taking grey or RGB uint8."""

    def __init__(self, weights_file: str | Path):
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3  # needs torch-fidelity

        self.inception = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(weights_file)
        )
        self.num_features = 2048
        self.channels = 3

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1 or 3, H, W) uint8 -> (B, 2048); the network resizes to 299x299 itself."""
        if images.dtype != torch.uint8:
            raise TypeError(f"Inception features take uint8 images (0-255), got dtype {images.dtype}.")
        return self.inception(images.expand(-1, 3, -1, -1))


def inception_weights_file() -> Path:
    """Where the Inception weights are looked for: $HFIMG_INCEPTION_WEIGHTS, else torch.hub's checkpoint cache."""
    if os.environ.get("HFIMG_INCEPTION_WEIGHTS"):
        return Path(os.environ["HFIMG_INCEPTION_WEIGHTS"]).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_NAME


def inception_unavailable_reason() -> str | None:
    """Why Inception features cannot be used here (None when they can). Looks only at local files."""
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        return "torch-fidelity (which holds torchmetrics' Inception network) is not installed"
    if not inception_weights_file().is_file():
        return (
            f"its weights are not at {inception_weights_file()} (set HFIMG_INCEPTION_WEIGHTS to the file "
            f"{INCEPTION_WEIGHTS_NAME} if you have it elsewhere)"
        )
    return None


@functools.lru_cache(maxsize=1)
def load_classifier() -> FashionClassifier:
    """The bundled Fashion-MNIST classifier (loaded once, offline)."""
    if not (CLASSIFIER_DIR / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"the bundled classifier {CLASSIFIER_ID} is missing ({CLASSIFIER_DIR} has no model.safetensors); "
            f"reinstall hfimg, or train it with `python scripts/train_classifier.py`."
        )
    return load(CLASSIFIER_ID)


def feature_extractor(features: str | nn.Module = "auto") -> nn.Module:
    """The FID / KID feature network.

    Args:
        features: "classifier" (the bundled Fashion-MNIST classifier), "inception" (Inception v3 from a local
            weights file), "auto" (Inception when available locally, else the classifier, with a warning), or any
            `nn.Module` mapping uint8 (B, C, H, W) images to (B, D) features (give it a `channels` attribute if it
            wants grey input; 3 is assumed otherwise).

    Returns:
        The module, in eval mode.
    """
    if isinstance(features, nn.Module):
        return features.eval()
    if features not in ("auto", "classifier", "inception"):
        raise ValueError(f"features must be 'auto', 'classifier', 'inception' or an nn.Module, got {features!r}.")
    reason = inception_unavailable_reason() if features != "classifier" else None
    if features == "inception" and reason:
        raise RuntimeError(
            f"Inception features are not available: {reason}. hfimg never downloads them; use "
            f"features='classifier' for the Fashion-MNIST domain features."
        )
    if features == "auto" and reason:
        warnings.warn(
            f"Inception FID/KID features are not available ({reason}); using the Fashion-MNIST classifier's "
            f"features instead. Such values compare only with values measured with the same features.",
            stacklevel=3,
        )
    if features == "inception" or (features == "auto" and not reason):
        return InceptionFeatures(inception_weights_file()).eval()
    return FeatureExtractor().eval()


class Features(NamedTuple):
    """An image set's features under one feature network, from `extract_features`.

    Given as `real` or `fake` to `fid`, `kid` or `precision_recall`, they are used as they are, so a set compared
    with many others goes through the network once (a benchmark's test images, against every model and reference).
    """

    values: torch.Tensor  # (N, D) float64, one row per image
    network: nn.Module  # the network they came from: the other set is measured with this one


def extract_features(
    images: Images,
    *,
    features: str | nn.Module = "auto",
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> Features:
    """The features of an image set, computed once for any number of `fid` / `kid` / `precision_recall` calls.

    Args:
        images: as in `fid`.
        features: the feature network, see `feature_extractor`.
        batch_size: images per forward pass.
        device: where the features are computed; default CUDA when available.

    Example:
        >>> real = torch.rand(64, 1, 32, 32) * 2 - 1
        >>> cached = extract_features(real, features=FeatureExtractor(FashionClassifier(base_channels=4)))
        >>> fid(cached, cached) < 1e-3
        True
    """
    network = feature_extractor(features)
    return Features(_run_network(images, network, batch_size, _device(device)), network)


def _run_network(images: Images, network: nn.Module, batch_size: int, device: torch.device) -> torch.Tensor:
    """(N, D) float64 features of `images` (on the CPU), computed on `device` batch by batch."""
    network = network.to(device)
    mode = network_mode(getattr(network, "channels", 3))
    parts = [network(batch.to(device)).double().cpu() for batch in _uint8_batches(images, batch_size, mode)]
    if not parts:
        raise ValueError("got an empty image set; FID, KID and precision / recall need images in both sets.")
    return torch.cat(parts)


def _feature_pair(
    real: Images | Features,
    fake: Images | Features,
    features: str | nn.Module,
    batch_size: int,
    device: str | torch.device | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets' features under one network: `Features` as they are, images through the network."""
    given = [s.network for s in (real, fake) if isinstance(s, Features)]
    if given and isinstance(features, str) and features == "auto":
        network = given[0]  # the network the given features came from measures the other set too
    elif len(given) < 2:
        network = feature_extractor(features)
    else:
        network = features
    if any(g is not network for g in given):
        raise ValueError(
            "the two sets' features come from different networks, so their distance means nothing: extract both "
            "with the same network, or pass that network as `features` (or leave `features` at 'auto')."
        )
    return tuple(  # type: ignore[return-value]
        s.values if isinstance(s, Features) else _run_network(s, network, batch_size, _device(device))
        for s in (real, fake)
    )


class _GivenFeatures(nn.Module):
    """The feature network torchmetrics is handed when the features are already computed: passes them through."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features  # read by torchmetrics

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def fid(
    real: Images | Features,
    fake: Images | Features,
    *,
    features: str | nn.Module = "auto",
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> float:
    """Fréchet distance between the feature distributions of two image sets (torchmetrics).

    Args:
        real, fake: a (B, C, H, W) tensor in [-1, 1], or an iterable of images (PIL, path, uint8 array, (C, H, W)
            tensor) and/or batch tensors, e.g. a generator that yields batches of samples; or a set's `Features`
            (`extract_features`), computed once. Each set needs more than one image; use thousands for a figure
            worth reporting.
        features: the feature network, see `feature_extractor`.
        batch_size: images per forward pass.
        device: where the features are computed; default CUDA when available.

    Returns:
        FID (0 for identical distributions; lower is better).

    Example:
        >>> real = torch.rand(64, 1, 32, 32) * 2 - 1
        >>> extractor = FeatureExtractor(FashionClassifier(base_channels=4))
        >>> fid(real, real, features=extractor) < 1e-3
        True
    """
    real_features, fake_features = _feature_pair(real, fake, features, batch_size, device)
    metric = FrechetInceptionDistance(feature=_GivenFeatures(real_features.shape[1]), normalize=False)
    metric.update(real_features, real=True)
    metric.update(fake_features, real=False)
    return float(metric.compute())


class KID(NamedTuple):
    """Kernel Inception Distance: mean and standard deviation over random subsets."""

    mean: float
    std: float


def kid(
    real: Images | Features,
    fake: Images | Features,
    *,
    features: str | nn.Module = "auto",
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> KID:
    """Kernel Inception Distance (squared MMD with a cubic polynomial kernel, torchmetrics) between two image sets.

    Args:
        real, fake: images or `Features`, as in `fid`.
        features: the feature network, see `feature_extractor`.
        subsets: number of random subsets the MMD is averaged over.
        subset_size: images per subset, capped at the size of the smaller set.
        seed: seed of the subset sampling, so repeated calls agree (the global RNG is left untouched).
        batch_size: images per forward pass.
        device: where the features are computed; default CUDA when available.

    Returns:
        KID(mean, std); the mean is unbiased, so it can be slightly negative for matching distributions.
    """
    real_features, fake_features = _feature_pair(real, fake, features, batch_size, device)
    sizes = [len(real_features), len(fake_features)]
    if min(sizes) < 2:
        raise ValueError(f"KID needs at least 2 images in each set, got {sizes[0]} real and {sizes[1]} fake.")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(
            feature=_GivenFeatures(real_features.shape[1]),
            subsets=subsets,
            subset_size=min(subset_size, *sizes),
            normalize=False,
        )
    metric.update(real_features, real=True)
    metric.update(fake_features, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return KID(float(mean), float(std))


class PrecisionRecall(NamedTuple):
    """Improved precision and recall (Kynkäänniemi et al., 2019): the share of generated images that fall inside
    the real images' feature manifold (fidelity), and the share of real images inside the generated one (coverage)."""

    precision: float
    recall: float


def precision_recall(
    real: Images | Features,
    fake: Images | Features,
    *,
    features: str | nn.Module = "auto",
    k: int = 3,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> PrecisionRecall:
    """k-NN estimate of precision and recall in feature space (Kynkäänniemi et al., 2019).

    Each set's manifold is the union of balls around its feature vectors, each ball reaching the vector's k-th
    nearest neighbour in the same set. Precision: the share of `fake` vectors inside the manifold of `real`;
    recall: the share of `real` vectors inside the manifold of `fake`. A generator that draws only a few good
    images scores high precision and low recall; blurry images, low precision.

    Args:
        real, fake: images or `Features`, as in `fid` (the paper uses sets of equal size; both need more than k
            images).
        features: the feature network, see `feature_extractor`.
        k: the neighbour that sets each ball's radius (the paper's default, 3).
        batch_size: images per forward pass.
        device: where the features are computed; default CUDA when available.

    Example:
        >>> real = torch.rand(64, 1, 32, 32) * 2 - 1
        >>> extractor = FeatureExtractor(FashionClassifier(base_channels=4))
        >>> precision_recall(real, real, features=extractor)
        PrecisionRecall(precision=1.0, recall=1.0)
    """
    real_features, fake_features = (part.float() for part in _feature_pair(real, fake, features, batch_size, device))
    if min(len(real_features), len(fake_features)) <= k:
        raise ValueError(f"precision_recall needs more than k={k} images in each set.")
    return PrecisionRecall(
        _share_inside(fake_features, real_features, k), _share_inside(real_features, fake_features, k)
    )


def _share_inside(queries: torch.Tensor, reference: torch.Tensor, k: int, chunk: int = 1024) -> float:
    """Share of `queries` (Q, D) within the k-NN ball of at least one `reference` vector (R, D)."""
    radii = torch.cat(
        [torch.cdist(part, reference).kthvalue(k + 1, dim=1).values for part in reference.split(chunk)]
    )  # (R,): the distance to each vector's k-th neighbour (the 1st is itself, at distance 0)
    inside = torch.cat([(torch.cdist(part, reference) <= radii).any(dim=1) for part in queries.split(chunk)])
    return float(inside.float().mean())


def two_sample_accuracy(
    real: Images,
    fake: Images,
    *,
    resolution: int = 32,
    fit: str = "pad",
    steps: int = 500,
    seed: int = 0,
    batch_size: int = 128,
) -> float:
    """A classifier two-sample test (Lopez-Paz & Oquab, 2017): the held-out accuracy of a small CNN trained to tell
    `fake` images from `real` ones. 0.5: the network cannot tell them apart; 1.0: it always can.

    Judge-free: no pretrained feature space is involved. The two sets are cut to the same size and split in halves;
    a fresh `FashionClassifier` (base width 16, two labels) learns on one half of each for `steps` batches (Adam,
    lr 1e-3; a fixed number of steps, so that its BatchNorm statistics settle whatever the set size) and is scored
    on the other halves. Grey images; a few thousand per set give a figure to about 1%.

    Args:
        real, fake: images, as in `fid`, of one size each.
        resolution: the network's input size (a multiple of 8); images of another size are brought to it by `fit`.
        fit: "pad" (framed in black: Fashion-MNIST's 28 px images in 32 px) or "resize".
        steps: training steps (batches drawn at random from the training halves).
        seed: seed of the network, the split and the batch order (the global RNG is left untouched).
        batch_size: images per step.
    """

    def make_network() -> FashionClassifier:
        return FashionClassifier(channels=1, resolution=resolution, base_channels=16, labels=["real", "fake"], fit=fit)

    network = make_network()  # its `prepare` frames the images; the weights are drawn again below, seeded
    sets = [
        torch.cat([network.prepare(batch.float() / 127.5 - 1.0) for batch in _uint8_batches(images, 512, "L")])
        for images in (real, fake)
    ]
    count = min(len(images) for images in sets)
    if count < 4:
        raise ValueError(f"two_sample_accuracy needs at least 4 images in each set, got {[len(s) for s in sets]}.")
    generator = torch.Generator().manual_seed(seed)
    halves = []
    for images in sets:
        order = torch.randperm(len(images), generator=generator)[:count]
        halves.append((images[order[: count // 2]], images[order[count // 2 :]]))
    train_x = torch.cat([halves[0][0], halves[1][0]])
    train_y = torch.cat([torch.zeros(len(halves[0][0])), torch.ones(len(halves[1][0]))]).long()
    test_x = torch.cat([halves[0][1], halves[1][1]])
    test_y = torch.cat([torch.zeros(len(halves[0][1])), torch.ones(len(halves[1][1]))]).long()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = make_network()
        optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
        network.train()
        for _ in range(steps):
            batch = torch.randint(len(train_x), (batch_size,), generator=generator)
            loss = nn.functional.cross_entropy(network(train_x[batch]), train_y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        network.eval()
        with torch.no_grad():
            predicted = torch.cat([network(part).argmax(dim=1) for part in test_x.split(512)])
    return float((predicted == test_y).float().mean())


def class_histogram(
    images: Images, *, classifier: FashionClassifier | None = None, batch_size: int = 256
) -> list[float]:
    """Share of the images the classifier puts in each class: a check of sample diversity (mode collapse).

    Args:
        images: as in `fid`.
        classifier: default the bundled Fashion-MNIST classifier (labels in `classifier.labels`).
        batch_size: images per forward pass.

    Returns:
        One share per class, in label order, summing to 1.
    """
    classifier = classifier if classifier is not None else load_classifier()
    counts = torch.zeros(len(classifier.labels), dtype=torch.long)
    for batch in _uint8_batches(images, batch_size, network_mode(classifier.channels)):
        predicted = classifier.predict(batch.float() / 127.5 - 1.0)
        counts += torch.bincount(predicted.cpu(), minlength=len(classifier.labels))
    total = int(counts.sum())
    if total == 0:
        raise ValueError("class_histogram got no images.")
    return (counts.double() / total).tolist()


def _device(device: str | torch.device | None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _uint8_batches(images: Images, batch_size: int, mode: str) -> Iterator[torch.Tensor]:
    """Yield uint8 (b, C, H, W) batches of at most `batch_size` images.

    Batch tensors keep their channels (the feature network converts them); single images are converted to `mode`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise ValueError(f"expected a (B, C, H, W) tensor in [-1, 1], got shape {tuple(images.shape)}.")
        images = [images]
    pending: list[np.ndarray] = []
    for item in images:
        if isinstance(item, torch.Tensor) and item.ndim == 4:
            if pending:
                yield _stack(pending)
                pending = []
            for chunk in item.split(batch_size):
                yield ((chunk.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            continue
        pending.append(np.asarray(convert_mode(open_image(item), mode)))
        if len(pending) == batch_size:
            yield _stack(pending)
            pending = []
    if pending:
        yield _stack(pending)


def _stack(arrays: list[np.ndarray]) -> torch.Tensor:
    """uint8 arrays (H, W) or (H, W, C) of one size -> uint8 tensor (b, C, H, W)."""
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        raise ValueError(f"images in one batch must share a size, got {sorted(shapes)}; resize them first.")
    batch = torch.from_numpy(np.stack(arrays))
    return (batch[:, None] if batch.ndim == 3 else batch.permute(0, 3, 1, 2)).contiguous()

"""hfimg.metrics against closed forms and independent implementations, on small synthetic images."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image, ImageDraw, ImageFilter
from torchmetrics.functional.image import structural_similarity_index_measure

import hfimg
from hfimg import metrics
from hfimg.models.classifier import FashionClassifier


def textured(seed: int, size: tuple[int, int] = (40, 48), mode: str = "RGB") -> Image.Image:
    """A smooth random image (noise blurred a little), so SSIM has structure to compare."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
    return image.filter(ImageFilter.GaussianBlur(1))


def garments(count: int, seed: int = 0) -> list[Image.Image]:
    """Grey 32x32 images of random bright boxes and ellipses on black, a stand-in for Fashion-MNIST."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        image = Image.new("L", (32, 32))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(1, 4))):
            x0, y0 = rng.integers(0, 20, 2)
            x1, y1 = x0 + rng.integers(6, 13), y0 + rng.integers(6, 13)
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((int(x0), int(y0), int(x1), int(y1)), fill=int(rng.integers(80, 256)))
        images.append(image)
    return images


def to_tensor(images: list[Image.Image]) -> torch.Tensor:
    """Grey PIL images -> (B, 1, H, W) in [-1, 1]."""
    return torch.from_numpy(np.stack([np.asarray(i, dtype=np.float32) for i in images]))[:, None] / 127.5 - 1


@pytest.fixture(scope="module")
def extractor() -> metrics.FeatureExtractor:
    """A tiny classifier with random weights: FID/KID behaviour must not depend on trained features.

    He-initialised convolutions keep the features around 1 (PyTorch's default init shrinks them to ~0.01, where the
    polynomial kernel of KID sees little more than the feature means).
    """
    torch.manual_seed(0)
    classifier = FashionClassifier(base_channels=4)
    for module in classifier.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return metrics.FeatureExtractor(classifier)


# --- PSNR / SSIM / masked L1 ----------------------------------------------------------------------------------------


def test_psnr_matches_the_closed_form_for_a_constant_offset():
    base = np.random.default_rng(0).integers(20, 200, (24, 24), dtype=np.uint8)
    offset = 7
    expected = 20 * math.log10(255 / offset)  # MSE = offset**2 on the 0-255 scale
    assert metrics.psnr(Image.fromarray(base), Image.fromarray(base + offset)) == pytest.approx(expected, abs=1e-9)
    assert metrics.psnr(base, base + offset) == pytest.approx(expected, abs=1e-9)  # uint8 arrays

    # Tensors in [-1, 1]: an offset d is d/2 on the 0-1 scale; a batch averages per-image values.
    tensor = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 1.5 - 0.9
    assert metrics.psnr(tensor, tensor + 0.1) == pytest.approx(20 * math.log10(2 / 0.1), abs=1e-6)
    assert metrics.psnr(tensor[0], tensor[0], data_range=1.0) == math.inf


def test_psnr_compares_a_tensor_with_a_pil_image_on_one_scale():
    image = textured(1, (16, 16), mode="L")
    tensor = torch.from_numpy(np.asarray(image, dtype=np.float32))[None] / 127.5 - 1  # (1, H, W)
    assert metrics.psnr(image, tensor) > 100  # the same pixels (float rounding only)
    assert metrics.psnr(image, tensor + 2 * 5 / 255) == pytest.approx(20 * math.log10(255 / 5), abs=1e-4)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_ssim_agrees_with_torchmetrics(mode: str):
    clean = textured(2, mode=mode)
    noise = np.random.default_rng(3).normal(0, 20, np.asarray(clean).shape)
    noisy = Image.fromarray(np.clip(np.asarray(clean) + noise, 0, 255).astype(np.uint8))
    ours = metrics.ssim(clean, noisy)

    def as_tensor(image: Image.Image) -> torch.Tensor:
        array = np.asarray(image, dtype=np.float64).reshape(image.height, image.width, -1) / 255
        return torch.from_numpy(array).permute(2, 0, 1)[None]

    # torchmetrics also scores the 5-pixel border (where the 11x11 window overhangs, on reflected pixels);
    # scikit-image leaves it out, like the reference code of Wang et al. Compared on the same pixels:
    _, ssim_map = structural_similarity_index_measure(
        as_tensor(noisy), as_tensor(clean), data_range=1.0, return_full_image=True
    )
    reference = float(ssim_map[..., 5:-5, 5:-5].mean())
    assert 0.2 < ours < 0.95  # a real, partial similarity
    assert ours == pytest.approx(reference, abs=1e-9)
    assert metrics.ssim(clean, clean) == pytest.approx(1.0)


def test_ssim_and_psnr_reject_mismatched_or_tiny_images():
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(textured(0, (16, 16)), textured(0, (16, 17)))
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.ssim(textured(0, (16, 16), "L"), textured(0, (16, 16), "RGB"))
    with pytest.raises(ValueError, match="11x11"):
        metrics.ssim(textured(0, (8, 8)), textured(1, (8, 8)))


def test_masked_l1_counts_hole_pixels_only():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, (20, 30, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)  # differs everywhere
    hole = np.zeros((20, 30), dtype=bool)
    hole[5:12, 3:20] = True
    b[hole] = a[hole] + 51  # 51 / 255 = 0.2 off inside the hole
    mask = Image.fromarray(hole.astype(np.uint8) * 255)
    assert metrics.masked_l1(a, b, mask) == pytest.approx(0.2)
    assert metrics.masked_l1(a, b, torch.from_numpy(hole).float()[None, None]) == pytest.approx(0.2)
    # Changing pixels outside the hole changes nothing.
    assert metrics.masked_l1(a, np.where(hole[..., None], b, 255 - a).astype(np.uint8), mask) == pytest.approx(0.2)


def test_masked_l1_takes_one_mask_per_image_of_a_batch():
    a = torch.zeros(2, 1, 8, 8)
    b = torch.zeros(2, 1, 8, 8)
    b[0, :, :4] = 1.0  # image 0: top half off by 0.5 on the 0-1 scale
    b[1, :, 4:] = -1.0  # image 1: bottom half off by 0.5
    masks = torch.zeros(2, 1, 8, 8)
    masks[0, :, :4] = 1
    masks[1, :, 4:] = 1
    assert metrics.masked_l1(a, b, masks) == pytest.approx(0.5)
    assert metrics.masked_l1(a, b, masks.flip(0)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="no hole pixels"):
        metrics.masked_l1(a, b, torch.zeros(2, 1, 8, 8))


# --- FID / KID ------------------------------------------------------------------------------------------------------


def test_feature_extractor_takes_what_torchmetrics_passes(extractor):
    images = to_tensor(garments(4))
    as_uint8 = ((images + 1) * 127.5).round().to(torch.uint8)
    uint8_features = extractor(as_uint8)
    assert uint8_features.shape == (4, extractor.num_features)
    torch.testing.assert_close(extractor(as_uint8.float() / 255), uint8_features)  # normalize=True form
    # 28x28 and RGB inputs are converted, as for Fashion-MNIST files and RGB samples.
    assert extractor(torch.zeros(2, 3, 28, 28, dtype=torch.uint8)).shape == (2, extractor.num_features)
    extractor.train()
    assert not extractor.classifier.training  # BatchNorm statistics must never move


def test_fid_is_zero_for_a_set_with_itself_and_grows_with_noise_and_blur(extractor):
    images = garments(96)
    real = to_tensor(images)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(real.shape, generator=generator)
    noisy = [metrics.fid(real, (real + sigma * noise).clamp(-1, 1), features=extractor) for sigma in (0.1, 0.3, 0.6)]
    # Blurred copies, passed as PIL lists in small batches (the batching path).
    blurred = [
        metrics.fid(
            images, [i.filter(ImageFilter.GaussianBlur(radius)) for i in images], features=extractor, batch_size=40
        )
        for radius in (0.5, 1.0, 2.0)
    ]
    itself = metrics.fid(real, real, features=extractor)
    assert abs(itself) < 1e-4 * noisy[0]
    assert noisy[0] < noisy[1] < noisy[2]
    assert blurred[0] < blurred[1] < blurred[2]
    assert abs(metrics.fid(images, real, features=extractor)) < 1e-4 * noisy[0]  # PIL list == tensor batch


def test_kid_is_about_zero_for_a_set_with_itself_and_grows_with_noise(extractor):
    real = to_tensor(garments(80))
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(1))
    values = [metrics.kid(real, (real + s * noise).clamp(-1, 1), features=extractor, subsets=5) for s in (0.3, 0.6)]
    itself = metrics.kid(real, real, features=extractor, subsets=5)
    # subset_size is capped at 80 = the whole set, so every subset is the full set and the std is 0.
    assert itself.std == pytest.approx(0.0, abs=1e-12)
    # The unbiased estimate of a set against itself is slightly negative (about -variance / n), not exactly 0.
    assert abs(itself.mean) < 0.2 * values[0].mean
    assert 0 < values[0].mean < values[1].mean


def test_fid_agrees_with_torchmetrics_fed_the_images_itself(extractor):
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = to_tensor(garments(70, seed=1)), to_tensor(garments(70, seed=2)).flip(-1)
    direct = FrechetInceptionDistance(feature=extractor, normalize=False)
    direct.update(((real + 1) * 127.5).round().to(torch.uint8), real=True)
    direct.update(((fake + 1) * 127.5).round().to(torch.uint8), real=False)
    assert metrics.fid(real, fake, features=extractor) == pytest.approx(float(direct.compute()), rel=1e-9)


def test_features_extracted_once_give_the_same_figures_as_the_images(extractor):
    real, fake = to_tensor(garments(64, seed=1)), to_tensor(garments(64, seed=2)).flip(-1)
    cached_real = metrics.extract_features(real, features=extractor)
    cached_fake = metrics.extract_features(fake, features=extractor)
    assert cached_real.values.shape == (64, extractor.num_features)
    for figure in (metrics.fid, metrics.kid, metrics.precision_recall):
        expected = figure(real, fake, features=extractor)
        assert figure(cached_real, fake) == expected  # the network of the given features measures the other set
        assert figure(real, cached_fake, features=extractor) == expected
        assert figure(cached_real, cached_fake) == expected
    assert metrics.fid(cached_real, cached_fake) > 10 * abs(metrics.fid(cached_real, cached_real))  # not one set


def test_features_of_another_network_are_refused(extractor):
    real = to_tensor(garments(32, seed=1))
    other = metrics.FeatureExtractor(FashionClassifier(base_channels=4))
    with pytest.raises(ValueError, match="different networks"):
        metrics.fid(metrics.extract_features(real, features=extractor), real, features=other)
    with pytest.raises(ValueError, match="different networks"):
        metrics.kid(metrics.extract_features(real, features=extractor), metrics.extract_features(real, features=other))


def test_kid_subsets_are_reproducible_with_a_seed(extractor):
    real, fake = to_tensor(garments(60, seed=1)), to_tensor(garments(60, seed=2))
    first = metrics.kid(real, fake, features=extractor, subsets=10, subset_size=20, seed=3)
    again = metrics.kid(real, fake, features=extractor, subsets=10, subset_size=20, seed=3)
    other = metrics.kid(real, fake, features=extractor, subsets=10, subset_size=20, seed=4)
    assert first == again
    assert first != other
    assert first.std > 0


def test_inception_is_never_downloaded(monkeypatch, tmp_path, extractor):
    monkeypatch.setenv("HFIMG_INCEPTION_WEIGHTS", str(tmp_path / "missing.pth"))
    assert metrics.inception_unavailable_reason() is not None
    with pytest.raises(RuntimeError, match="never downloads"):
        metrics.feature_extractor("inception")
    monkeypatch.setattr(metrics, "load_classifier", lambda: extractor.classifier)
    with pytest.warns(UserWarning, match="Inception FID/KID features are not available"):
        fallback = metrics.feature_extractor("auto")
    assert isinstance(fallback, metrics.FeatureExtractor)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asking for the classifier explicitly is not worth a warning
        assert isinstance(metrics.feature_extractor("classifier"), metrics.FeatureExtractor)
    with pytest.raises(ValueError, match="features must be"):
        metrics.feature_extractor("vgg")


# --- classifier and class histogram ---------------------------------------------------------------------------------


def test_class_histogram_sums_to_one_and_counts_predictions(extractor):
    images = garments(30)
    shares = metrics.class_histogram(images, classifier=extractor.classifier, batch_size=7)
    assert len(shares) == 10
    assert sum(shares) == pytest.approx(1.0)
    assert all(0 <= share <= 1 for share in shares)

    torch.manual_seed(0)
    biased = FashionClassifier(base_channels=4).eval()
    with torch.no_grad():
        biased.head.bias.copy_(torch.arange(10.0) * 0)
        biased.head.bias[3] = 1e4  # every image is class 3
    assert metrics.class_histogram(to_tensor(images), classifier=biased) == [0.0] * 3 + [1.0] + [0.0] * 6


def test_precision_and_recall_see_fidelity_and_coverage(extractor):
    real = to_tensor(garments(40))
    assert metrics.precision_recall(real, real, features=extractor) == (1.0, 1.0)
    half = metrics.precision_recall(real, real[:20].repeat(2, 1, 1, 1), features=extractor)
    assert half.precision == 1.0 and half.recall < 0.9  # half the garments, drawn twice: faithful, not covering
    noise = metrics.precision_recall(real, torch.rand_like(real) * 2 - 1, features=extractor)
    assert noise.precision < 0.2


def test_two_sample_test_is_at_chance_for_one_distribution_and_sure_for_two():
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.rand(200, 1, 28, 28, generator=generator) * 2 - 1 for _ in range(2))
    same = metrics.two_sample_accuracy(a, b, steps=60)
    framed = b.clone()
    framed[:, :, :, :10] = -1  # a black band no real image has
    assert abs(same - 0.5) < 0.15 and metrics.two_sample_accuracy(a, framed, steps=60) > 0.9


def test_a_pad_classifier_frames_small_images_instead_of_resizing():
    classifier = FashionClassifier(base_channels=4, fit="pad", convs_per_stage=2)
    prepared = classifier.prepare([Image.new("L", (28, 28), 255)])
    assert prepared.shape == (1, 1, 32, 32)
    assert (prepared[0, 0, 2:30, 2:30] == 1).all() and (prepared[0, 0, :2] == -1).all()
    assert sum(isinstance(m, torch.nn.Conv2d) for m in classifier.modules()) == 8  # 2 convs x 4 stages
    with pytest.raises(ValueError, match="fit"):
        FashionClassifier(fit="stretch")


def test_prepare_resizes_like_the_training_data():
    # Fashion-MNIST is 28x28; hfimg.data.ImageStream(resolution=32) enlarges it with PIL bicubic.
    model = FashionClassifier(base_channels=4)
    image = garments(1)[0].resize((28, 28))
    expected = torch.from_numpy(np.asarray(image.resize((32, 32), Image.Resampling.BICUBIC), dtype=np.float32))
    expected = expected / 127.5 - 1
    from_pil = model.prepare([image])
    from_tensor = model.prepare(to_tensor([image]))
    assert from_pil.shape == (1, 1, 32, 32)
    torch.testing.assert_close(from_pil[0, 0], expected)
    torch.testing.assert_close(from_tensor, from_pil)


def test_bundled_classifier_loads_offline_and_classifies():
    classifier = hfimg.load(metrics.CLASSIFIER_ID)
    assert isinstance(classifier, FashionClassifier)
    assert len(classifier.labels) == 10
    names = classifier.classify(garments(5) + [Image.new("RGB", (28, 28), "white")])
    assert len(names) == 6
    assert set(names) <= set(classifier.labels)

    card = ModelCard.load(metrics.CLASSIFIER_DIR / "README.md")
    assert card.data.library_name == "hfimg"
    assert card.data.datasets == ["zalando-datasets/fashion_mnist"]
    result = card.data.eval_results[0]
    assert result.metric_type == "accuracy"
    assert result.metric_value > 0.85


def detailed_photo(seed: int = 0) -> Image.Image:
    """64 x 64 RGB with edges and texture: random blocks, enlarged without smoothing, plus fine noise."""
    rng = np.random.default_rng(seed)
    blocks = np.kron(rng.integers(0, 256, (8, 8, 3)), np.ones((8, 8, 1)))
    return Image.fromarray(np.clip(blocks + rng.normal(0, 6, blocks.shape), 0, 255).astype(np.uint8))


def test_detail_ratio_is_one_for_the_truth_falls_with_blur_and_rises_with_noise():
    photo = detailed_photo()
    hole = np.zeros((64, 64), dtype=bool)
    hole[16:48, 8:40] = True
    assert metrics.gradient_energy_ratio(photo, photo, hole) == pytest.approx(1.0)
    ratios = [metrics.gradient_energy_ratio(photo.filter(ImageFilter.GaussianBlur(r)), photo, hole) for r in (1, 2, 4)]
    assert 1 > ratios[0] > ratios[1] > ratios[2] > 0
    noisy = np.clip(np.asarray(photo) + np.random.default_rng(1).normal(0, 25, (64, 64, 3)), 0, 255).astype(np.uint8)
    assert metrics.gradient_energy_ratio(noisy, photo) > 1.1
    # Only the region counts: blurring outside it changes nothing 2 px (the Sobel taps and more) inside its edge.
    outside_blurred = np.where(hole[..., None], np.asarray(photo), np.asarray(photo.filter(ImageFilter.BLUR)))
    inner = np.zeros_like(hole)
    inner[18:46, 10:38] = True
    assert metrics.gradient_energy_ratio(outside_blurred, photo, inner) == pytest.approx(1.0)


def test_edge_f1_is_one_for_the_truth_and_drops_for_a_smooth_or_wrong_fill():
    photo = np.asarray(detailed_photo())
    hole = np.zeros((64, 64), dtype=bool)
    hole[16:48, 16:48] = True
    assert metrics.edge_f1(photo, photo, hole) == 1.0
    flat = photo.copy()
    flat[hole] = photo[hole].mean(axis=0).astype(np.uint8)  # a flat fill: no edges where the photo has many
    other = photo.copy()
    other[hole] = np.roll(np.asarray(detailed_photo(seed=5)), 4, axis=(0, 1))[hole]  # edges in the wrong places
    assert metrics.edge_f1(flat, photo, hole) < 0.5
    assert metrics.edge_f1(other, photo, hole) < 0.7
    shifted = np.roll(photo, 1, axis=1)  # one pixel off: inside the 2-pixel tolerance
    assert metrics.edge_f1(shifted, photo, hole) > 0.9
    with pytest.raises(ValueError, match="region has no pixels"):
        metrics.edge_f1(photo, photo, np.zeros((64, 64), dtype=bool))
    with pytest.raises(ValueError, match="no gradient in the region"):
        metrics.gradient_energy_ratio(photo, np.full((64, 64, 3), 9, np.uint8), hole)

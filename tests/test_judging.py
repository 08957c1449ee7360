"""benchmarks.judging: a judge that cannot see a data set mirrored is refused; the panel's cached test features give
the figures measured on the images themselves."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package lives at the repository root
from benchmarks import judging  # noqa: E402
from hfimg import metrics  # noqa: E402
from hfimg.models.classifier import FashionClassifier  # noqa: E402


def shoes(count: int, seed: int) -> list[np.ndarray]:
    """(28, 28) uint8 'shoes' that all point right: a sole, and a bright toe at the right end of the upper."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        image = np.zeros((28, 28), dtype=np.uint8)
        top, left = rng.integers(6, 12), rng.integers(2, 6)
        length = rng.integers(16, 21)
        image[top + 8 : top + 11, left : left + length] = 255  # sole
        image[top : top + 8, left : left + length // 2] = rng.integers(90, 140)  # shaft at the heel
        image[top + 4 : top + 8, left + length // 2 : left + length] = rng.integers(180, 230)  # toe at the right
        images.append(image)
    return images


def he_initialised(classifier: FashionClassifier) -> FashionClassifier:
    """Random weights that keep the features around 1 (as in test_metrics), in eval mode."""
    for module in classifier.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return classifier.eval()


class MirrorBlindClassifier(FashionClassifier):
    """A judge whose features are the same for an image and its mirror image (as if trained with flips, taken to
    the limit)."""

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return super().features(images) + super().features(images.flip(-1))


@pytest.fixture(scope="module")
def judges() -> dict[str, FashionClassifier]:
    torch.manual_seed(0)
    sees = he_initialised(FashionClassifier(base_channels=4, fit="pad"))
    torch.manual_seed(0)
    blind = he_initialised(MirrorBlindClassifier(base_channels=4, fit="pad"))
    return {"sees": sees, "blind": blind}


def test_a_judge_blind_to_mirroring_is_refused_and_one_that_sees_it_is_kept(judges):
    test, train = shoes(200, seed=1), shoes(200, seed=2)
    panel = judging.Panel(judges, judging.as_tensor(test), two_sample_steps=5, mirror_factor=3.0)
    check = panel.check(judging.as_tensor(train), judging.as_tensor(judging.mirrored(train)))
    assert check["blind"]["mirrored"] == pytest.approx(check["blind"]["floor"], rel=1e-6)  # cannot tell them apart
    assert check["sees"]["mirrored"] > 3.0 * check["sees"]["floor"]
    assert check["sees"]["used"] == 1.0 and check["blind"]["used"] == 0.0
    assert list(panel.judges) == ["sees"] and "1.0x" in panel.refused["blind"]
    figures = panel.measure(judging.as_tensor(train))
    assert set(figures["judges"]) == {"sees"}
    assert len(figures["two_sample_runs"]) == 3


def test_no_judge_left_is_an_error_that_names_each_one(judges):
    test, train = shoes(64, seed=1), shoes(64, seed=2)
    panel = judging.Panel({"blind": judges["blind"]}, judging.as_tensor(test), two_sample_steps=5)
    with pytest.raises(RuntimeError, match="no judge sees a mirrored Fashion-MNIST: blind puts"):
        panel.check(judging.as_tensor(train), judging.as_tensor(judging.mirrored(train)))


def test_the_panels_cached_test_features_give_the_figures_of_the_images(judges):
    test, train = judging.as_tensor(shoes(80, seed=1)), judging.as_tensor(shoes(80, seed=2))
    panel = judging.Panel(judges, test, two_sample_steps=5, two_sample_seeds=1)
    figures = panel.measure(train)
    for name, judge in judges.items():
        assert figures["judges"][name] == metrics.fid(test, train, features=metrics.FeatureExtractor(judge))
    first = metrics.FeatureExtractor(judges["sees"])
    assert figures["kid"] == metrics.kid(test, train, features=first).mean
    last = metrics.FeatureExtractor(judges["blind"])
    assert figures["precision"] == metrics.precision_recall(test, train, features=last).precision
    # A learning-curve point measures against as many test images as it has samples.
    assert panel.fids(train[:40])["sees"] == metrics.fid(test[:40], train[:40], features=first)


def test_augmentations_are_checked_through_the_training_stream(tmp_path, judges, monkeypatch):
    """Flips and quarter turns move a set of right-pointing shoes away from the test images; no change keeps it."""
    import datasets
    from PIL import Image

    corpus = tmp_path / "shoes" / "train.parquet"
    corpus.parent.mkdir()
    features = datasets.Features({"image": datasets.Image()})
    train = shoes(200, seed=2)
    datasets.Dataset.from_dict({"image": [Image.fromarray(i) for i in train]}, features=features).to_parquet(corpus)
    assert np.array_equal(judging.augmented_images(3, {}, source=str(corpus))[2], train[2])  # unchanged at 28 px

    panel = judging.Panel({"sees": judges["sees"]}, judging.as_tensor(shoes(200, seed=1)), two_sample_steps=5)
    monkeypatch.setitem(judging.AUGMENTATIONS, "no change", {"flip": False})
    check = judging.augmentation_check(panel, 200, source=str(corpus))
    assert not check["flips (--random_flip)"]["keeps"]
    assert not check["quarter turns (--random_rotate)"]["keeps"]
    assert check["no change"]["keeps"]
    plain, flipped = check["flips (--random_flip)"]["judges"]["sees"]
    assert flipped > judging.AUGMENTATION_FACTOR * plain

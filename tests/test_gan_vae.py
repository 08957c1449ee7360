"""DCGANGenerator, DCGANDiscriminator and ConvVAE: shapes, conditioning, seeded sampling, input checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from hfimg import ConvVAE, DCGANDiscriminator, DCGANGenerator
from hfimg.training.vae import fit_mixture_prior


def tiny_generator(**kwargs) -> DCGANGenerator:
    config = {"resolution": 32, "channels": 1, "latent_dim": 16, "base_channels": 8, **kwargs}
    return DCGANGenerator(**config).eval()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("resolution", [32, 64])
def test_forward_shapes(channels: int, resolution: int):
    generator = tiny_generator(channels=channels, resolution=resolution)
    discriminator = DCGANDiscriminator(resolution=resolution, channels=channels, base_channels=8)
    vae = ConvVAE(resolution=resolution, channels=channels, latent_dim=8, base_channels=8).eval()

    images = generator(torch.randn(3, 16))
    assert images.shape == (3, channels, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1

    logits = discriminator(images)
    assert logits.shape == (3,)

    mean, logvar = vae.encode(images)
    assert mean.shape == logvar.shape == (3, 8)
    assert vae.decode(mean).shape == (3, channels, resolution, resolution)
    recon, mean2, _ = vae(images)
    assert recon.shape == images.shape
    torch.testing.assert_close(mean2, mean)


def test_discriminator_returns_logits_not_probabilities():
    torch.manual_seed(0)
    discriminator = DCGANDiscriminator(resolution=32, channels=3, base_channels=8).eval()
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in discriminator.modules())
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    before = discriminator(images)
    with torch.no_grad():
        discriminator.head.bias.add_(10.0)  # a logit moves by the bias; a probability could not leave [0, 1]
    torch.testing.assert_close(discriminator(images), before + 10.0)


def test_conditional_generator_uses_the_label():
    generator = tiny_generator(num_classes=4)
    z = torch.randn(1, 16).expand(2, 16)
    images = generator(z, torch.tensor([0, 3]))
    assert not torch.equal(images[0], images[1])
    with pytest.raises(ValueError, match="class-conditional"):
        generator(z)
    with pytest.raises(ValueError, match=r"0\.\.3"):
        generator(z, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="unconditional"):
        tiny_generator()(z, torch.tensor([0, 1]))
    # generate() cycles through the classes by default; an explicit list must have one label per image.
    assert len(generator.generate(5, seed=0)) == 5
    with pytest.raises(ValueError, match="one label per image"):
        generator.generate(3, seed=0, labels=[1])


def test_conditional_discriminator_uses_the_label():
    discriminator = DCGANDiscriminator(resolution=32, channels=1, base_channels=8, num_classes=3).eval()
    images = torch.rand(1, 1, 32, 32).expand(3, 1, 32, 32) * 2 - 1
    logits = discriminator(images, torch.tensor([0, 1, 2]))
    assert logits.shape == (3,) and len(set(logits.tolist())) == 3
    with pytest.raises(ValueError, match="class-conditional"):
        discriminator(images)


def test_generate_is_deterministic_per_seed_and_leaves_the_global_rng_alone():
    generator = tiny_generator(channels=3)
    state = torch.get_rng_state()
    first = generator.generate(3, seed=7)
    assert torch.equal(state, torch.get_rng_state())
    again = generator.generate(3, seed=7)
    other = generator.generate(3, seed=8)
    assert [im.size for im in first] == [(32, 32)] * 3 and first[0].mode == "RGB"
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(np.asarray(first[0]), np.asarray(other[0]))
    assert generator.training is False


def test_generate_does_not_depend_on_batch_or_mode():
    generator = tiny_generator().train()
    # Batch norm would mix the images of a batch in training mode; generate() uses the running statistics.
    one = generator.generate(1, seed=3)[0]
    assert np.array_equal(np.asarray(one), np.asarray(generator.generate(4, seed=3)[0]))
    assert generator.training  # mode restored


def test_interpolate_runs_from_one_seed_to_the_other():
    generator = tiny_generator()
    frames = generator.interpolate(seed_a=1, seed_b=2, steps=4)
    assert len(frames) == 4
    assert np.array_equal(np.asarray(frames[0]), np.asarray(generator.generate(1, seed=1)[0]))
    # float rounding along the arc may move the last frame by one grey level
    last, end = np.asarray(frames[-1], dtype=int), np.asarray(generator.generate(1, seed=2)[0], dtype=int)
    assert np.abs(last - end).max() <= 1
    with pytest.raises(ValueError, match="at least 2"):
        generator.interpolate(1, 2, steps=1)


def test_vae_interpolate_runs_from_one_seed_to_the_other():
    vae = ConvVAE(resolution=32, channels=1, latent_dim=8, base_channels=8).train()
    frames = vae.interpolate(seed_a=1, seed_b=2, steps=5)
    assert len(frames) == 5 and vae.training  # mode restored
    assert np.array_equal(np.asarray(frames[0]), np.asarray(vae.generate(1, seed=1)[0]))
    last, end = np.asarray(frames[-1], dtype=int), np.asarray(vae.generate(1, seed=2)[0], dtype=int)
    assert np.abs(last - end).max() <= 1
    with pytest.raises(ValueError, match="at least 2"):
        vae.interpolate(1, 2, steps=1)
    with pytest.raises(ValueError, match="unconditional"):
        vae.interpolate(1, 2, label=3)


def test_vae_sampling_and_reconstruction():
    vae = ConvVAE(resolution=32, channels=3, latent_dim=8, base_channels=8)
    samples = vae.sample(2, seed=0)
    assert samples.shape == (2, 3, 32, 32)
    assert torch.equal(samples, vae.sample(2, seed=0)) and not torch.equal(samples, vae.sample(2, seed=1))
    assert [im.mode for im in vae.generate(2, seed=0)] == ["RGB", "RGB"]

    x = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.manual_seed(0)
    noisy, _, _ = vae.train()(x)
    assert not torch.equal(noisy, vae(x)[0])  # training mode samples z
    vae.eval()
    assert torch.equal(vae(x)[0], vae(x)[0])  # eval mode decodes the mean

    assert vae.reconstruct(Image.new("RGB", (32, 32), (200, 10, 10))).size == (32, 32)
    with pytest.warns(UserWarning, match="resized"):
        odd = vae.reconstruct(Image.new("L", (45, 21)))
    assert odd.size == (45, 21) and odd.mode == "L"


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: DCGANGenerator(resolution=48), r"\(32, 64, 128\).*48"),
        (lambda: DCGANGenerator(channels=2), "channels=2"),
        (lambda: DCGANDiscriminator(resolution=16), "16"),
        (lambda: ConvVAE(resolution=100), "100"),
        (lambda: ConvVAE(latent_dim=0), "latent_dim=0"),
        (lambda: DCGANGenerator(resolution=32, padding=8), "padding must be in 0..7"),
        (lambda: ConvVAE(padding=-1), "padding"),
        (lambda: DCGANDiscriminator(norm="layer"), "norm must be one of"),
    ],
)
def test_bad_configs_raise(build, match: str):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_inputs_name_the_expected_shape():
    generator = tiny_generator()
    with pytest.raises(ValueError, match=r"\(B, 16\).*\(2, 15\)"):
        generator(torch.zeros(2, 15))
    discriminator = DCGANDiscriminator(resolution=32, channels=3, base_channels=8)
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\).*\(2, 1, 32, 32\)"):
        discriminator(torch.zeros(2, 1, 32, 32))
    vae = ConvVAE(resolution=32, channels=1, latent_dim=8, base_channels=8)
    with pytest.raises(ValueError, match=r"\(B, 1, 32, 32\).*\(1, 3, 32, 32\)"):
        vae.encode(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        vae.decode(torch.zeros(8))
    with pytest.raises(ValueError, match="at least 1"):
        generator.generate(0)


def test_framed_models_give_and_take_images_of_the_data_s_own_size():
    generator = DCGANGenerator(resolution=32, channels=1, latent_dim=8, base_channels=8, padding=2)
    framed = generator.eval()(generator.sample_latents(3, seed=0))  # (3, 1, 32, 32): the network's own size
    images = generator.generate(3, seed=0)
    assert {image.size for image in images} == {(28, 28)}
    inner = ((framed[:, 0, 2:-2, 2:-2].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    # The frame cut off: the same pixels. An untrained generator's outputs sit near mid-grey (127.5), where float
    # sums that differ in their last bit between the two calls (thread scheduling) round to 127 or 128: 1 level apart.
    given = np.stack([np.asarray(image) for image in images]).astype(int)
    np.testing.assert_allclose(given, inner.astype(int), rtol=0, atol=1)
    vae = ConvVAE(resolution=32, channels=1, latent_dim=8, base_channels=8, padding=2)
    assert vae.generate(2, seed=0)[0].size == (28, 28)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 28 px image is the model's own kind: framed, not resized with a warning
        assert vae.reconstruct(Image.new("L", (28, 28), 200)).size == (28, 28)


def test_a_batchnorm_discriminator_is_the_paper_s_and_a_spectral_one_is_not():
    batch = DCGANDiscriminator(resolution=32, channels=1, base_channels=8, norm="batch")
    spectral = DCGANDiscriminator(resolution=32, channels=1, base_channels=8)
    norms = [m for m in batch.features if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 2  # every conv but the first (3 convs down to 4x4 at 32 px)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in spectral.modules())
    assert all(hasattr(m, "parametrizations") for m in spectral.features if isinstance(m, torch.nn.Conv2d))
    assert not any(hasattr(m, "parametrizations") for m in batch.modules())
    assert batch(torch.zeros(4, 1, 32, 32)).shape == (4,)


def test_a_vae_samples_from_its_fitted_mixture_and_from_n01_until_fitted():
    plain = ConvVAE(resolution=32, channels=1, latent_dim=4, base_channels=8)
    mixed = ConvVAE(resolution=32, channels=1, latent_dim=4, base_channels=8, prior_components=2)
    torch.testing.assert_close(mixed.sample_latents(50, seed=3), plain.sample_latents(50, seed=3))  # K x N(0, I)
    means = torch.tensor([[10.0, 0, 0, 0], [-10.0, 0, 0, 0]])
    covariances = torch.eye(4).repeat(2, 1, 1) * 0.01
    mixed.set_prior(torch.tensor([0.25, 0.75]), means, covariances)
    z = mixed.sample_latents(4000, seed=0)
    right = z[:, 0] > 0
    assert abs(right.float().mean().item() - 0.25) < 0.03  # the weights
    assert (z[right, 0] - 10).abs().max() < 1 and z[:, 1:].std() < 0.2  # the means and covariances
    torch.testing.assert_close(mixed.sample_latents(5, seed=1), mixed.sample_latents(5, seed=1))
    with pytest.raises(ValueError, match="prior_components=0"):
        plain.set_prior(torch.ones(1), torch.zeros(1, 4), torch.eye(4)[None])
    with pytest.raises(ValueError, match=r"means \(2, 4\)"):
        mixed.set_prior(torch.ones(2), torch.zeros(3, 4), covariances)


def test_a_mixture_fitted_class_by_class_gives_each_class_its_share_of_the_images():
    vae = ConvVAE(resolution=32, channels=1, latent_dim=4, base_channels=8, prior_components=4).eval()
    noise = torch.Generator().manual_seed(0)
    # 30 dark images of class 0, 10 light ones of class 1: their codes lie apart.
    samples = [
        {"image": torch.rand(1, 32, 32, generator=noise) * 0.2 + (-0.9 if label == 0 else 0.7), "label": label}
        for label in [0] * 30 + [1] * 10
    ]
    fit_mixture_prior(vae, iter(samples), count=40, per_class=True)
    assert vae.prior_weights[:2].sum().item() == pytest.approx(0.75)  # two components per class, in label order
    with torch.no_grad():
        codes = vae.encode(torch.stack([s["image"] for s in samples]))[0].double()
    for rows, images in ((slice(0, 2), slice(0, 30)), (slice(2, 4), slice(30, 40))):
        weights = vae.prior_weights[rows].double()
        class_mean = (weights[:, None] * vae.prior_means[rows].double()).sum(dim=0) / weights.sum()
        torch.testing.assert_close(class_mean, codes[images].mean(dim=0), atol=1e-3, rtol=0)
    odd = ConvVAE(resolution=32, channels=1, latent_dim=4, base_channels=8, prior_components=3)
    with pytest.raises(ValueError, match="prior_components a multiple of 2"):
        fit_mixture_prior(odd, iter(samples), count=40, per_class=True)
    with pytest.raises(ValueError, match="needs a corpus with class labels"):
        fit_mixture_prior(vae, ({"image": s["image"]} for s in samples), count=40, per_class=True)


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 1.5, True])
def test_a_seed_torch_cannot_take_is_refused_in_one_clear_line(seed):
    # 2**70 ended in PyTorch's "Overflow when unpacking long long".
    for model in (DCGANGenerator(resolution=32, channels=1, base_channels=4), ConvVAE(resolution=32, base_channels=4)):
        with pytest.raises(ValueError, match=f"seed must be a whole number from 0 to 2\\*\\*64 - 1, got {seed!r}"):
            model.generate(1, seed=seed)
        with pytest.raises(ValueError, match="seed must be a whole number"):
            model.interpolate(0, seed, steps=2)
        assert model.generate(1, seed=2**64 - 1)[0].size == (32, 32)

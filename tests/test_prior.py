"""Restoration by latent search (hfimg.prior) through DCGANGenerator.inpaint / ConvVAE.inpaint and .restore."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from hfimg import ConvVAE, DCGANGenerator
from hfimg.imaging import LIMITS, tensor_to_pil
from hfimg.inpainting import load_inpainter
from hfimg.prior import blend_feather, fit_latents, inpaint_tensors
from hfimg.tasks import InpaintOptions, RestoreOptions

LATENT = 16


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The models here are tiny: one thread is as fast as two on an idle machine and many times faster on a busy
    one (OpenMP threads spin-wait for each other). Restored afterwards for the rest of the session."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def calibrated_generator(channels: int = 1, num_classes: int = 0) -> DCGANGenerator:
    """A random tiny generator whose batch-norm statistics are measured on its own activations.

    With the default statistics (mean 0, var 1) an untrained DCGAN's eval-mode output is almost flat grey;
    measured ones give it the contrast of a real model, so there is something to fit.
    """
    torch.manual_seed(0)
    generator = DCGANGenerator(
        resolution=32, channels=channels, latent_dim=LATENT, base_channels=8, num_classes=num_classes
    )
    for module in generator.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average: one pass gives the exact statistics
            module.reset_running_stats()
    with torch.no_grad():
        labels = torch.arange(256) % num_classes if num_classes else None
        generator.train()(torch.randn(256, LATENT), labels)
    return generator.eval()


def shapes(count: int, generator: torch.Generator) -> torch.Tensor:
    """(count, 1, 32, 32) white rectangles of random size and place on black, in [-1, 1]."""
    images = -torch.ones(count, 1, 32, 32)
    corners = torch.randint(2, 14, (count, 2), generator=generator)
    sizes = torch.randint(8, 17, (count, 2), generator=generator)
    for image, (top, left), (height, width) in zip(images, corners.tolist(), sizes.tolist(), strict=True):
        image[:, top : top + height, left : left + width] = 1.0
    return images


@pytest.fixture(scope="module")
def vae() -> ConvVAE:
    """A tiny VAE trained for a few seconds on rectangles."""
    torch.manual_seed(0)
    model = ConvVAE(resolution=32, channels=1, latent_dim=8, base_channels=8).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = torch.Generator().manual_seed(0)
    for _ in range(80):
        x = shapes(32, rng)
        recon, mean, logvar = model(x)
        kl = -0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(dim=1).mean()
        loss = (recon - x).pow(2).sum(dim=(1, 2, 3)).mean() + kl
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def gan() -> DCGANGenerator:
    return calibrated_generator()


@pytest.fixture(params=["gan", "vae"])
def model(request):
    return request.getfixturevalue(request.param)


def square_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size)
    mask.paste(255, box)
    return mask


def target_image(model) -> Image.Image:
    """An image the model can make (GAN) or was trained on (VAE)."""
    if isinstance(model, DCGANGenerator):
        with torch.no_grad():
            return tensor_to_pil(model(torch.randn(1, LATENT, generator=torch.Generator().manual_seed(5))))
    return tensor_to_pil(shapes(1, torch.Generator().manual_seed(123)))


def test_callback_loss_decreases(model):
    image = target_image(model)
    losses: list[tuple[int, float]] = []
    mask = square_mask(image.size, (8, 8, 20, 20))
    model.inpaint(image, mask, steps=60, callback=lambda step, loss: losses.append((step, loss)))
    assert [s for s, _ in losses] == list(range(60))
    values = np.array([v for _, v in losses])
    assert values[-6:].mean() < 0.9 * values[:6].mean()


@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize("size", [(32, 32), (37, 29)])
def test_known_pixels_are_kept_bit_identical(model, mode: str, size: tuple[int, int]):
    rng = np.random.default_rng(0)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode)
    hole = np.zeros((size[1], size[0]), dtype=bool)
    hole[5:20, 9:17] = True
    hole[0, :] = True  # a hole touching the border
    mask = Image.fromarray(hole.astype(np.uint8) * 255)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.inpaint(image, mask, steps=5)
    assert any("resized" in str(w.message) for w in caught) == (size != (32, 32))
    assert result.size == image.size and result.mode == mode
    out, original = np.asarray(result), np.asarray(image)
    assert np.array_equal(out[~hole], original[~hole])
    assert not np.array_equal(out[hole], original[hole])  # the hole was filled with something else


def test_same_seed_same_result(gan):
    image = target_image(gan)
    mask = square_mask(image.size, (4, 4, 16, 28))
    first = np.asarray(gan.inpaint(image, mask, steps=10, seed=1))
    assert np.array_equal(first, np.asarray(gan.inpaint(image, mask, steps=10, seed=1)))
    assert not np.array_equal(first, np.asarray(gan.inpaint(image, mask, steps=10, seed=2)))


def test_the_search_starts_from_the_initial_guess(model):
    image = target_image(model)
    hole = np.zeros((32, 32), dtype=bool)
    hole[10:22, 6:26] = True
    mask = Image.fromarray(hole.astype(np.uint8) * 255)
    calls = []
    x = torch.from_numpy(np.asarray(image, dtype=np.float32))[None, None] / 127.5 - 1
    known = torch.from_numpy(~hole).float()[None, None]
    options = {"lr": None, "loss": "l1", "prior_weight": 0.01, "optimizer": "adam", "label": None}
    start = fit_latents(model, x, known, steps=0, restarts=1, seed=3, callback=calls.append, **options)
    result = np.asarray(tensor_to_pil(start))
    assert calls == []
    with torch.no_grad():
        if isinstance(model, DCGANGenerator):
            guess = model(torch.randn(1, LATENT, generator=torch.Generator().manual_seed(3)))
        else:
            # The VAE starts from the encoder's mean for the image with the hole filled by the known mean colour.
            x = torch.from_numpy(np.asarray(image, dtype=np.float32))[None, None] / 127.5 - 1
            known = torch.from_numpy(~hole).float()[None, None]
            filled = x * known + (x * known).sum() / known.sum() * (1 - known)
            guess = model.decode(model.encode(filled)[0])
    assert np.array_equal(result[hole], np.asarray(tensor_to_pil(guess))[hole])
    searched = np.asarray(model.inpaint(image, mask, steps=20, restarts=1, seed=3, blend="none"))
    assert not np.array_equal(result[hole], searched[hole])


def test_empty_mask_returns_the_input_unchanged(gan):
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (29, 37, 4), dtype=np.uint8), mode="RGBA")
    with pytest.warns(UserWarning, match="mask is empty") as caught:
        result = gan.inpaint(image, Image.new("L", image.size), steps=5)
    assert result.mode == "RGBA" and np.array_equal(np.asarray(result), np.asarray(image))
    assert caught[0].filename == __file__  # shown at the caller's line, not inside hfimg


@pytest.mark.parametrize("size", [(32, 32), (50, 40)])
def test_full_mask_still_gives_an_image(model, size: tuple[int, int]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.inpaint(Image.new("RGB", size), Image.new("L", size, 255), steps=5)
    assert result.size == size and result.mode == "RGB"
    assert np.asarray(result).std() > 0  # the generator's picture, not the black input


def test_mask_of_another_size_is_refused(gan):
    with pytest.raises(ValueError, match="does not match image size"):
        gan.inpaint(Image.new("L", (32, 32)), Image.new("L", (31, 32), 255))


def test_bad_options_are_refused(gan):
    image, mask = Image.new("L", (32, 32)), square_mask((32, 32), (0, 0, 8, 8))
    for kwargs, match in [
        ({"loss": "l3"}, "loss must be one of"),
        ({"optimizer": "lbfgs"}, "optimizer must be one of"),
        ({"blend": "poisson2"}, "blend must be one of"),
        ({"restarts": 0}, "restarts"),
        ({"lr": -1.0}, "lr must be a positive finite number"),
        ({"lr": float("nan")}, "lr must be a positive finite number"),
        ({"label": 1}, "unconditional"),
        ({"steps": 0}, "steps must be an int of at least 1, got 0"),  # it returned the random start as if searched
        ({"steps": 2.5}, "steps must be an int"),
        ({"seed": 2**70}, r"seed must be a whole number from 0 to 2\*\*64 - 1, got 1180591620717411303424"),
        ({"seed": 10**5000}, "seed must be a whole number from 0 to 2\\*\\*64 - 1, got a 16610-bit number"),
    ]:
        with pytest.raises(ValueError, match=match):
            gan.inpaint(image, mask, **kwargs)
        if "blend" not in kwargs:  # restore has no blend
            with pytest.raises(ValueError, match=match):
                gan.restore(image, **kwargs)


@pytest.mark.parametrize(("name", "cap"), [("steps", "HFIMG_MAX_SEARCH_STEPS"), ("restarts", "HFIMG_MAX_RESTARTS")])
def test_search_steps_and_restarts_are_capped_in_every_entry_point(gan, monkeypatch, name, cap):
    # 10**6 restarts took 24 GB, 10**9 steps ran for ever: refused before anything is allocated. Asked here just above
    # the limit, with the other count at 1, so that a regression costs seconds, not the machine.
    assert LIMITS[cap] == {"HFIMG_MAX_SEARCH_STEPS": 10_000, "HFIMG_MAX_RESTARTS": 64}[cap]
    image, mask = Image.new("L", (32, 32)), square_mask((32, 32), (0, 0, 8, 8))
    value = LIMITS[cap] + 1
    asked = {"steps": 1, "restarts": 1, name: value}
    message = f"{name}={value:,} is above the limit of {LIMITS[cap]:,} .*environment variable {cap}={value}"
    with pytest.raises(ValueError, match=message):
        gan.inpaint(image, mask, **asked)
    with pytest.raises(ValueError, match=message):
        gan.restore(image, **asked)
    with pytest.raises(ValueError, match=message):
        inpaint_tensors(gan, torch.zeros(2, 1, 32, 32), torch.ones(1, 1, 32, 32), **asked)
    # The limit is the environment variable's when set: just above it is refused, at it the search runs.
    monkeypatch.setenv(cap, "3")
    with pytest.raises(ValueError, match=f"{name}=4 is above the limit of 3 "):
        gan.inpaint(image, mask, **{**asked, name: 4})
    assert gan.inpaint(image, mask, **{**asked, name: 3}).size == (32, 32)
    assert gan.inpaint(image, mask, **{**asked, name: np.int64(3)}).size == (32, 32)  # numpy's ints count too


def test_the_task_calls_refuse_zero_and_too_many_steps(gan, monkeypatch):
    inpainter = load_inpainter("gan", model=gan)
    image, mask = Image.new("L", (32, 32)), square_mask((32, 32), (0, 0, 8, 8))
    with pytest.raises(ValueError, match="steps must be an int of at least 1, got 0"):
        inpainter(image, mask, InpaintOptions(steps=0))
    with pytest.raises(ValueError, match="steps must be an int of at least 1, got 0"):
        gan.restore(image, options=RestoreOptions(steps=0))
    monkeypatch.setenv("HFIMG_MAX_SEARCH_STEPS", "3")
    with pytest.raises(ValueError, match="steps=4 is above the limit of 3 gradient steps of a latent search"):
        inpainter(image, mask, InpaintOptions(steps=4))
    with pytest.raises(ValueError, match="steps=4 is above the limit of 3"):
        gan.restore(image, options=RestoreOptions(steps=4))


def test_conditional_generator_needs_a_label():
    generator = calibrated_generator(num_classes=3)
    image, mask = Image.new("L", (32, 32)), square_mask((32, 32), (0, 0, 8, 8))
    with pytest.raises(ValueError, match=r"label in 0\.\.2"):
        generator.inpaint(image, mask)
    results = [np.asarray(generator.inpaint(image, mask, label=label, steps=1)) for label in (0, 2)]
    assert not np.array_equal(*results)


def test_inpainting_leaves_the_model_as_it_was(gan):
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    image = target_image(gan)
    gan.train()
    try:
        gan.inpaint(image, square_mask((32, 32), (8, 8, 20, 20)), steps=3)
        assert gan.training
    finally:
        gan.eval()
    assert all(p.grad is None for p in gan.parameters())
    assert all(torch.equal(before[k], v) for k, v in gan.state_dict().items())


def test_restore_removes_noise_the_generator_cannot_make(gan):
    clean = np.asarray(target_image(gan), dtype=np.float64)
    noise = np.random.default_rng(0).normal(0, 40, clean.shape)
    noisy = Image.fromarray(np.clip(clean + noise, 0, 255).astype(np.uint8))
    restored = gan.restore(noisy, loss="l2", steps=100)
    assert restored.size == noisy.size
    error_noisy = np.abs(np.asarray(noisy, dtype=np.float64) - clean).mean()
    error_restored = np.abs(np.asarray(restored, dtype=np.float64) - clean).mean()
    assert error_restored < 0.7 * error_noisy


def test_feather_blend_hides_a_brightness_step():
    # The known pixels are 0, the fill is 0.5 brighter; a large hole in the middle.
    x = torch.zeros(1, 1, 64, 64)
    known = torch.ones(1, 1, 64, 64)
    known[:, :, 16:48, 16:48] = 0
    blended = blend_feather(torch.full_like(x, 0.5), x, known)
    assert blended[0, 0, 32, 16].abs() < 0.1  # just inside the edge: matches the surroundings
    assert (blended[0, 0, 32, 32] - 0.5).abs() < 0.05  # the middle keeps the generator's content


def untrained(kind: str):
    """A tiny untrained model of each family (the batch check needs no training, only determinism)."""
    torch.manual_seed(0)
    if kind == "gan":
        return calibrated_generator()
    return ConvVAE(resolution=32, channels=1, latent_dim=LATENT, base_channels=8).eval()


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_a_batch_matches_single_calls(kind: str):
    model = untrained(kind)
    rng = torch.Generator().manual_seed(7)
    images = torch.rand(3, 1, 32, 32, generator=rng) * 2 - 1
    masks = torch.zeros(3, 1, 32, 32)
    masks[0, :, 4:20, 6:18] = 1
    masks[1, :, 10:30, 2:30] = 1
    masks[2, :, :, 16:] = 1
    batch_losses: list[float] = []
    options = {"steps": 8, "restarts": 3, "seed": 4}
    batch = inpaint_tensors(model, images, masks, callback=lambda _, loss: batch_losses.append(loss), **options)
    single_losses = np.zeros(8)
    for i in range(3):
        losses: list[float] = []
        single = inpaint_tensors(
            model,
            images[i : i + 1],
            masks[i : i + 1],
            callback=lambda _, loss, losses=losses: losses.append(loss),
            **options,
        )
        torch.testing.assert_close(batch[i : i + 1], single, atol=1e-5, rtol=0)
        single_losses += np.array(losses) / 3
    # The callback reports the mean over the images of each image's best loss.
    np.testing.assert_allclose(batch_losses, single_losses, atol=1e-5)
    known = masks == 0
    assert torch.equal(batch[known.expand_as(batch)], images[known.expand_as(images)])
    assert not torch.equal(batch, images)


def test_batch_keeps_images_without_a_hole_and_matches_the_pil_api(gan):
    image = target_image(gan)
    hole = np.zeros((32, 32), dtype=bool)
    hole[8:20, 8:24] = True
    x = torch.from_numpy(np.asarray(image, dtype=np.float32))[None, None] / 127.5 - 1
    masks = torch.zeros(2, 1, 32, 32)
    masks[1, 0] = torch.from_numpy(hole).float()
    result = inpaint_tensors(gan, x.repeat(2, 1, 1, 1), masks, steps=5)
    assert torch.equal(result[0], x[0])  # empty mask: unchanged
    expected = np.asarray(gan.inpaint(image, Image.fromarray(hole.astype(np.uint8) * 255), steps=5))
    assert np.array_equal(np.asarray(tensor_to_pil(result[1])), expected)


def test_batch_input_shapes_are_checked(gan):
    with pytest.raises(ValueError, match="images: expected"):
        inpaint_tensors(gan, torch.zeros(2, 3, 32, 32), torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="masks: expected"):
        inpaint_tensors(gan, torch.zeros(2, 1, 32, 32), torch.zeros(3, 1, 32, 32))
    one_mask = torch.zeros(1, 1, 32, 32)
    one_mask[..., :8, :8] = 1  # one mask for the whole batch
    images = torch.rand(2, 1, 32, 32) * 2 - 1
    result = inpaint_tensors(gan, images, one_mask, steps=2)
    assert result.shape == images.shape
    assert torch.equal(result[..., 8:, :], images[..., 8:, :]) and not torch.equal(result, images)

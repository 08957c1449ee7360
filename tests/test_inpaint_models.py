"""InpaintCNN and InpaintRCNN: the PIL-level contract (known pixels exact, sizes, modes, errors), the recurrent fill
rule, and that a tiny model of each family can learn. Registry-wide checks (gradients, save/load) are in
test_models.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import hfimg
from hfimg.layers import GatedConv2d, pad_to_multiple, pull_push_fill
from hfimg.models.inpaint_cnn import InpaintCNN
from hfimg.models.inpaint_rcnn import InpaintRCNN, hole_distance

FAMILIES = {"cnn": InpaintCNN, "rcnn": InpaintRCNN}


def tiny(family: str, channels: int = 3, **kwargs) -> InpaintCNN | InpaintRCNN:
    torch.manual_seed(0)
    if family == "rcnn":
        kwargs.setdefault("iterations", 3)
    return FAMILIES[family](channels=channels, base_channels=4, **kwargs).eval()


def random_image(width: int, height: int, mode: str, seed: int = 0) -> Image.Image:
    bands = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    array = np.random.default_rng(seed).integers(0, 256, (height, width, bands), dtype=np.uint8)
    return Image.fromarray(array[:, :, 0] if bands == 1 else array, mode=mode)


def box_mask(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", (width, height))
    mask.paste(255, box)
    return mask


@pytest.fixture(params=sorted(FAMILIES))
def family(request) -> str:
    return request.param


# --- the PIL-level contract ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize("as_numpy", [False, True], ids=["pil", "numpy"])
def test_known_pixels_are_bit_identical_on_odd_non_square_images(family: str, mode: str, as_numpy: bool):
    model = tiny(family, channels=1 if mode == "L" else 3)
    image = random_image(37, 23, mode)
    mask = box_mask(37, 23, (5, 4, 21, 17))
    result = model.inpaint(np.asarray(image) if as_numpy else image, np.asarray(mask) if as_numpy else mask)

    assert result.size == (37, 23) and result.mode == mode
    hole = np.asarray(mask) >= 128
    assert np.array_equal(np.asarray(result)[~hole], np.asarray(image)[~hole])
    assert not np.array_equal(np.asarray(result)[hole], np.asarray(image)[hole])  # the hole was really filled


def test_rgba_input_keeps_its_alpha(family: str):
    model = tiny(family)
    image = random_image(19, 26, "RGBA", seed=3)
    mask = box_mask(19, 26, (2, 2, 12, 20))
    result = model.inpaint(image, mask)
    assert result.mode == "RGBA"
    assert np.array_equal(np.asarray(result.getchannel("A")), np.asarray(image.getchannel("A")))
    hole = np.asarray(mask) >= 128
    assert np.array_equal(np.asarray(result)[~hole], np.asarray(image)[~hole])


def test_empty_mask_returns_the_image_unchanged(family: str):
    image = random_image(21, 15, "RGB")
    with pytest.warns(UserWarning, match="mask is empty"):
        result = tiny(family).inpaint(image, Image.new("L", (21, 15)))
    assert np.array_equal(np.asarray(result), np.asarray(image))


def test_full_mask_is_refused_not_a_flat_guess(family: str):
    with pytest.raises(ValueError, match="covers the whole image"):
        tiny(family, channels=1).inpaint(random_image(13, 30, "L"), Image.new("L", (13, 30), 255))


def test_tiny_images_smaller_than_the_padding_work(family: str):
    # 5x3 pads to 16x16 at depth 4: wider than the image, so the edge is repeated instead of mirrored.
    image = random_image(5, 3, "RGB")
    mask = box_mask(5, 3, (1, 1, 3, 2))
    result = tiny(family).inpaint(image, mask)
    assert result.size == (5, 3)
    hole = np.asarray(mask) >= 128
    assert np.array_equal(np.asarray(result)[~hole], np.asarray(image)[~hole])


def test_tensor_input_is_accepted(family: str):
    image = torch.rand(3, 17, 11) * 2 - 1
    mask = torch.zeros(17, 11)
    mask[4:9, 3:7] = 1
    result = tiny(family).inpaint(image, mask)
    assert result.size == (11, 17) and result.mode == "RGB"


# --- errors ----------------------------------------------------------------------------------------------------


def test_mask_of_another_size_is_refused(family: str):
    model = tiny(family)
    with pytest.raises(ValueError, match="does not match image size"):
        model.inpaint(random_image(20, 16, "RGB"), Image.new("L", (16, 20)))
    with pytest.raises(ValueError, match="mask: expected shape"):
        model(torch.zeros(1, 3, 16, 20), torch.zeros(1, 1, 20, 16))


def test_wrong_channel_count_is_refused(family: str):
    model = tiny(family, channels=3)
    with pytest.raises(ValueError, match="channels"):
        model.inpaint(torch.zeros(1, 16, 16), torch.zeros(16, 16))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16))


# --- tensor level ----------------------------------------------------------------------------------------------


def test_forward_keeps_odd_sizes_and_ignores_what_is_in_the_hole(family: str):
    model = tiny(family)
    image = torch.rand(2, 3, 29, 19) * 2 - 1
    mask = torch.zeros(2, 1, 29, 19)
    mask[:, :, 6:20, 4:15] = 1
    with torch.no_grad():
        prediction = model(image, mask)
        scribbled = model(torch.where(mask.bool(), torch.randn_like(image), image), mask)
    assert prediction.shape == image.shape
    assert prediction.abs().max() <= 1
    torch.testing.assert_close(prediction, scribbled, rtol=0, atol=0)


def test_gated_conv_is_features_times_gate():
    torch.manual_seed(0)
    layer = GatedConv2d(3, 5, kernel_size=3, dilation=2)
    x = torch.randn(2, 3, 9, 7)
    weight_f, weight_g = layer.conv.weight.chunk(2)
    bias_f, bias_g = layer.conv.bias.chunk(2)
    features = F.conv2d(x, weight_f, bias_f, padding=2, dilation=2)
    gate = F.conv2d(x, weight_g, bias_g, padding=2, dilation=2)
    torch.testing.assert_close(layer(x), F.elu(features) * torch.sigmoid(gate))


def test_plain_and_simple_gates_compute_what_they_say():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 7)
    plain = GatedConv2d(3, 5, gate="none")
    torch.testing.assert_close(plain(x), F.elu(plain.conv(x)))
    simple = GatedConv2d(3, 5, gate="simple")
    normalised = (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + 1e-6)
    a, b = simple.conv(normalised).chunk(2, dim=1)
    torch.testing.assert_close(simple(x), a * b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="gate must be"):
        GatedConv2d(3, 5, gate="tanh")
    with pytest.raises(ValueError, match="gates must be one of"):
        tiny("cnn", gates="tanh")


def test_a_textured_start_keeps_known_pixels_and_gives_the_start_detail():
    model = tiny("cnn", texture=True)
    assert model.starting_fill == "pull-push-texture" and tiny("cnn").starting_fill == "pull-push"
    stripes = np.zeros((48, 64, 3), dtype=np.uint8)
    stripes[:, ::4] = 255  # vertical stripes, 1 px in 4
    image, mask = Image.fromarray(stripes), box_mask(64, 48, (20, 10, 30, 30))
    result = np.asarray(model.inpaint(image, mask))
    known = np.asarray(mask) < 128
    assert (result[known] == stripes[known]).all()
    hole = torch.from_numpy(~known)[None, None].float()
    x = torch.from_numpy(stripes).permute(2, 0, 1)[None].float() / 127.5 - 1
    smooth, textured = pull_push_fill(x, hole), tiny("cnn", texture=True).eval()
    with torch.no_grad():  # an untrained network returns about its start: the textured one varies across the hole
        assert textured(x, hole)[..., 10:30, 20:30].std() > 3 * smooth[..., 10:30, 20:30].std()
    with pytest.raises(ValueError, match="needs coarse_fill=True"):
        tiny("cnn", texture=True, coarse_fill=False)


def test_detail_transfer_copies_the_photos_grain_into_the_hole_and_keeps_known_pixels(family: str):
    stripes = np.zeros((48, 64, 3), dtype=np.uint8)
    stripes[:, ::4] = 255  # vertical stripes, 1 px in 4: grain a smooth fill cannot draw
    image, mask = Image.fromarray(stripes), box_mask(64, 48, (20, 10, 30, 30))
    known = np.asarray(mask) < 128
    plain, textured = tiny(family), tiny(family, detail_transfer=True)  # the same weights (same seed)
    assert textured.config_dict()["detail_transfer"] and not plain.config_dict()["detail_transfer"]
    fills = []
    for model in (plain, textured):
        result = np.asarray(model.inpaint(image, mask)).astype(float)
        assert (result[known] == stripes[known]).all()
        fills.append(result[10:30, 20:30])
    # Untrained, both networks return about their smooth start; the transfer puts the stripes back into the hole.
    assert fills[1].std() > 3 * fills[0].std()
    if family == "rcnn":  # the last pass's image is the result, detail included
        result, steps = textured.inpaint(image, mask, return_steps=True)
        assert np.array_equal(np.asarray(steps[-1]), np.asarray(result))

    # Differentiable: every parameter learns through it; known pixels stay exact in bf16.
    x = torch.rand(2, 3, 37, 29) * 2 - 1
    hole = (torch.rand(2, 1, 37, 29) > 0.5).float()
    textured.train()
    textured(x * (1 - hole), hole).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in textured.parameters())
    textured.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast = textured(x * (1 - hole), hole)
    assert torch.equal(fast[(1 - hole).bool().expand_as(x)], x[(1 - hole).bool().expand_as(x)])
    assert fast.isfinite().all() and fast.abs().max() <= 1


def test_pad_to_multiple_mirrors_the_border():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)  # [[0, 1, 2], [3, 4, 5]]
    padded = pad_to_multiple(torch.arange(20.0).reshape(1, 1, 4, 5), 4)
    assert padded.shape == (1, 1, 4, 8)
    assert padded[0, 0, 0, 5:].tolist() == [3.0, 2.0, 1.0]  # reflected, the edge pixel not repeated
    assert pad_to_multiple(x, 4).shape == (1, 1, 4, 4)  # too small to mirror: the edge is repeated


# --- the recurrent fill rule -----------------------------------------------------------------------------------


def test_hole_distance_is_the_chessboard_distance_to_known_pixels():
    hole = torch.zeros(1, 1, 9, 12)
    hole[0, 0, 2:7, 3:10] = 1
    distance = hole_distance(hole)[0, 0]
    rows, cols = torch.meshgrid(torch.arange(9.0), torch.arange(12.0), indexing="ij")
    known = hole[0, 0] == 0
    for r, c in zip(*torch.nonzero(~known, as_tuple=True), strict=True):
        expected = torch.maximum((rows - r).abs(), (cols - c).abs())[known].min()
        assert distance[r, c] == expected
    assert (distance[known] == 0).all()
    assert torch.isinf(hole_distance(torch.ones(1, 1, 4, 4))).all()  # nothing known: never reached


def test_fill_schedule_follows_the_documented_rule():
    # A 12x12 hole: its centre is d = 6 from the border, so with T = 4 the passes take d <= floor(6 / 4) = 1,
    # d <= 3, d <= 4, then the rest; each leaves a square of side 12 - 2 * threshold open.
    mask = torch.zeros(1, 1, 20, 20)
    mask[..., 4:16, 4:16] = 1
    schedule = tiny("rcnn").fill_schedule(mask, iterations=4)
    assert [int(m.sum()) for m in schedule] == [10 * 10, 6 * 6, 4 * 4, 0]
    assert schedule[0][0, 0, 5:15, 5:15].all()


def test_hole_shrinks_monotonically_and_steps_match_the_schedule():
    model = tiny("rcnn", channels=1, iterations=4)
    image = torch.rand(1, 1, 31, 27) * 2 - 1
    mask = torch.zeros(1, 1, 31, 27)
    mask[..., 3:28, 5:22] = 1
    mask[..., 10:12, :] = 1  # a thin stroke across the image as well
    with torch.no_grad():
        prediction, steps = model(image, mask, return_steps=True)
    schedule = model.fill_schedule(mask)

    open_counts = [int(m.sum()) for m in schedule]
    assert len(steps) == len(schedule) == 4
    assert open_counts[0] < mask.sum() and open_counts[-1] == 0
    assert all(a > b for a, b in zip(open_counts, open_counts[1:], strict=False)), open_counts
    for t, (step, still_open) in enumerate(zip(steps, schedule, strict=True)):
        known = mask == 0
        assert torch.equal(step[known], image[known])  # known pixels exact in every step
        assert (step[still_open.bool()] == 0).all()  # the still-open hole is empty
        if t > 0:  # pixels accepted earlier are kept as they were
            accepted_before = schedule[t - 1] == 0
            assert torch.equal(step[accepted_before], steps[t - 1][accepted_before])
    filled = mask.bool()
    assert torch.equal(prediction[filled], steps[-1][filled])


def test_iterations_can_change_at_inference():
    model = tiny("rcnn", iterations=3)
    image = random_image(24, 20, "RGB")
    mask = box_mask(24, 20, (2, 2, 22, 18))
    for passes in (1, 5):
        result, steps = model.inpaint(image, mask, iterations=passes, return_steps=True)
        assert len(steps) == passes
        assert np.array_equal(np.asarray(steps[-1]), np.asarray(result))
        hole = np.asarray(mask) >= 128
        for step in steps:
            assert step.size == (24, 20)
            assert np.array_equal(np.asarray(step)[~hole], np.asarray(image)[~hole])
    with pytest.raises(ValueError, match="iterations"):
        model.inpaint(image, mask, iterations=0)


def test_empty_mask_gives_unchanged_steps():
    image = random_image(12, 9, "L")
    with pytest.warns(UserWarning, match="mask is empty") as caught:
        result, steps = tiny("rcnn", channels=1, iterations=4).inpaint(
            image, Image.new("L", (12, 9)), return_steps=True
        )
    assert caught[0].filename == __file__
    assert len(steps) == 4
    assert all(np.array_equal(np.asarray(step), np.asarray(image)) for step in [result, *steps])


# --- learning --------------------------------------------------------------------------------------------------


def test_a_tiny_model_overfits_one_image(family: str):
    # Proves gradients flow through the gates (and, for the RCNN, through the recurrence) and are useful.
    torch.manual_seed(0)
    model = FAMILIES[family](channels=3, base_channels=8, depth=2, dilations=[1, 2]).train()
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 24), torch.linspace(-1, 1, 24), indexing="ij")
    target = torch.stack([xs, ys, torch.sin(3 * xs) * torch.cos(2 * ys)])[None] * 0.8  # (1, 3, 24, 24), smooth
    mask = torch.zeros(1, 1, 24, 24)
    mask[..., 6:18, 5:17] = 1
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = ((model(target * (1 - mask), mask) - target).abs() * mask).sum() / mask.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0], losses[::10]


# --- pull-push fill (the inpainters' starting point) ---------------------------------------------------------------


def test_pull_push_fill_keeps_known_pixels_and_stays_within_their_range():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 37, 50, generator=generator) * 2 - 1
    hole = (torch.rand(2, 1, 37, 50, generator=generator) > 0.7).float()
    hole[:, :, 5:30, 10:40] = 1  # and a large block, far from any known pixel
    filled = pull_push_fill(image * (1 - hole), hole)
    known = hole.expand_as(image) < 0.5
    assert torch.equal(filled[known], image[known])
    # Every fill is an average of known pixels: within the known values' range, per image and channel.
    for b in range(2):
        for c in range(3):
            values = image[b, c][known[b, c]]
            inside = filled[b, c][~known[b, c]]
            assert inside.min() >= values.min() - 1e-6 and inside.max() <= values.max() + 1e-6


def test_pull_push_fill_is_exact_on_a_constant_image_and_zero_without_known_pixels():
    hole = torch.zeros(1, 1, 20, 33)
    hole[..., 3:17, 4:30] = 1
    filled = pull_push_fill(torch.full((1, 1, 20, 33), 0.3) * (1 - hole), hole)
    assert torch.allclose(filled, torch.full_like(filled, 0.3), atol=1e-6)
    assert torch.equal(pull_push_fill(torch.rand(1, 3, 9, 9), torch.ones(1, 1, 9, 9)), torch.zeros(1, 3, 9, 9))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_pull_push_fill_gradient_is_finite_even_for_a_full_hole(dtype: torch.dtype):
    image = torch.rand(2, 3, 16, 16, dtype=dtype, requires_grad=True)
    hole = torch.zeros(2, 1, 16, 16, dtype=dtype)
    hole[0] = 1  # nothing known in the first image
    hole[1, :, 4:12, 4:12] = 1
    pull_push_fill(image * (1 - hole), hole).sum().backward()
    assert torch.isfinite(image.grad).all()
    assert image.grad[1].abs().sum() > 0  # the known pixels of the second image shape the fill


@pytest.mark.parametrize("name", ["inpaint-cnn", "inpaint-rcnn"])
def test_untrained_inpainter_starts_from_the_pull_push_fill(name: str):
    model = hfimg.create_model(name, channels=3, base_channels=8).eval()
    image = torch.rand(1, 3, 32, 48) * 2 - 1
    hole = torch.zeros(1, 1, 32, 48)
    hole[..., 8:24, 10:30] = 1
    # One pass of the recurrent model fills the whole hole at once, like the feed-forward one (more passes fill it
    # ring by ring, each from its own pull-push fill).
    passes = {"iterations": 1} if name == "inpaint-rcnn" else {}
    with torch.no_grad():
        prediction = model(image, hole, **passes)
        fill = pull_push_fill(image * (1 - hole), hole)
        assert (prediction - fill).abs().max() < 0.05  # a small correction, not a random image
        raw = hfimg.create_model(name, channels=3, base_channels=8, coarse_fill=False).eval()
        assert (raw(image, hole, **passes) - fill).abs().max() > 0.05  # without the fill, it is not


# --- global (Fourier) blocks ------------------------------------------------------------------------------------


def test_fourier_unit_is_exact_with_an_identity_spectrum():
    from hfimg.layers import FourierUnit

    unit = FourierUnit(3)
    with torch.no_grad():
        unit.conv.weight.zero_()
        unit.conv.weight[:, :, 0, 0] = torch.eye(6)
        unit.conv.bias.fill_(1000.0)  # keeps every value positive through the ReLU ...
    x = torch.randn(2, 3, 9, 6)
    shifted = unit(x)
    # ... and a constant added to the spectrum is a spike at the origin: x plus the same image for every input.
    spike = shifted - x
    torch.testing.assert_close(spike, spike[:1].expand_as(spike), atol=1e-3, rtol=0)
    assert spike[0, 0, 0, 0] > 100 * spike[0, 0, 1:, 1:].abs().max()


def test_fourier_blocks_see_the_whole_image():
    from hfimg.layers import FourierBlock

    torch.manual_seed(0)
    block = FourierBlock(4)
    x = torch.zeros(1, 4, 16, 16, requires_grad=True)
    block(x)[0, :, 0, 0].sum().backward()
    assert x.grad[0, :, 15, 15].abs().sum() > 0  # the far corner reaches the first pixel in one block


DESIGNS = [{"fourier_blocks": 1}, {"gates": "encoder"}, {"gates": "simple"}, {"blend": True, "gates": "encoder"}]


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("options", DESIGNS, ids=str)
def test_other_designs_keep_known_pixels_learn_everywhere_and_run_in_bf16(family: str, options: dict):
    """Fourier blocks, a plain decoder, SimpleGate, the blend of fills: every parameter learns, the contract holds,
    bf16 stays close."""
    model = tiny(family, **options)
    image, mask = random_image(45, 30, "RGB"), box_mask(45, 30, (5, 3, 30, 25))
    result = np.asarray(model.inpaint(image, mask))
    known = np.asarray(mask) < 128
    assert result.shape == (30, 45, 3) and (result[known] == np.asarray(image)[known]).all()
    x = torch.rand(2, 3, 37, 29) * 2 - 1
    hole = (torch.rand(2, 1, 37, 29) > 0.5).float()
    model.train()
    model(x * (1 - hole), hole).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    for key, value in options.items():
        assert model.config_dict()[key] == value  # saved in config.json, so a loaded model is built alike
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast = model(x * (1 - hole), hole)
    with torch.no_grad():
        assert (fast.float() - model(x * (1 - hole), hole)).abs().max() < 0.05


@pytest.mark.parametrize(
    ("family", "options", "what"),
    [("cnn", {"fourier_blocks": 1}, "Fourier blocks"), ("rcnn", {"fourier_blocks": 1}, "Fourier blocks"),
     ("cnn", {"texture": True}, "texture transfer"), ("cnn", {"blend": True}, "Navier-Stokes"),
     ("rcnn", {"blend": True}, "Navier-Stokes")],
)  # fmt: skip
def test_what_onnx_cannot_take_is_refused_with_the_alternative(tmp_path, family, options, what):
    from hfimg.export import export_onnx

    with pytest.raises(ValueError, match=f"{what}.*fp32, fp32-cl or bf16 backend"):
        export_onnx(tiny(family, **options), tmp_path / "model.onnx")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_an_untrained_blending_inpainter_gives_the_average_of_its_fills_and_learns_to_weigh_them():
    from hfimg.classical import blend_fills

    model = tiny("cnn", blend=True, gates="encoder")
    assert model.starting_fill == "blend"
    x = torch.rand(2, 3, 32, 48) * 2 - 1  # multiples of 16: no padding, so the fills here are the model's own
    hole = torch.zeros(2, 1, 32, 48)
    hole[:, :, 8:24, 10:30] = 1
    fills = blend_fills(x * (1 - hole), hole)  # (2, 3, 3, 32, 48)
    with torch.no_grad():
        assert (model(x, hole) - fills.mean(1)).abs().max() < 0.05  # the plain average, not a random image
    # Its first K outputs weigh the fills: logits that favour the first fill give (about) that fill alone. The head
    # gives 4 (K + C) channels and the pixel shuffle makes output c of head channels 4c .. 4c + 3.
    head = model.net.head[0]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[:4] = 10.0  # fill 0: tanh -> 1, logit +4
        head.bias[4:12] = -10.0  # fills 1 and 2: logit -4; weight of fill 0 = e**8 / (e**8 + 2), no correction
        assert (model(x, hole) - fills[:, 0]).abs().max() < 0.01
    with pytest.raises(ValueError, match="coarse_fill=True and texture=False"):
        tiny("cnn", blend=True, texture=True)


def test_recurrent_block_started_from_a_feed_forward_model_repeats_it_in_one_pass():
    cnn = tiny("cnn", fourier_blocks=1)
    with torch.no_grad():  # a head that predicts something, so the comparison sees the network
        cnn.net.head[0].weight.normal_(std=0.1)
    rcnn = tiny("rcnn", fourier_blocks=1)
    rcnn.start_from_feed_forward(cnn)
    image = torch.rand(1, 3, 40, 36) * 2 - 1
    hole = torch.zeros(1, 1, 40, 36)
    hole[..., 8:30, 5:25] = 1
    with torch.no_grad():
        torch.testing.assert_close(rcnn(image, hole, iterations=1), cnn(image, hole))
        assert not torch.equal(rcnn(image, hole, iterations=3), cnn(image, hole))  # later passes see filled rings
    with pytest.raises(ValueError, match="same fourier_blocks"):
        tiny("rcnn").start_from_feed_forward(cnn)


def test_refining_passes_close_the_hole_at_once_then_rework_all_of_it():
    cnn = tiny("cnn")
    with torch.no_grad():  # a head that predicts something, so the comparison sees the network
        cnn.net.head[0].weight.normal_(std=0.1)
    rcnn = tiny("rcnn", schedule="refine")
    rcnn.start_from_feed_forward(cnn)
    with torch.no_grad():  # and a weight for the original hole, so the later passes differ from the first
        rcnn.block.stem.conv.weight[:, -1].normal_(std=0.1)
    image = torch.rand(1, 3, 40, 36) * 2 - 1
    hole = torch.zeros(1, 1, 40, 36)
    hole[..., 8:30, 5:25] = 1
    assert all(not m.any() for m in rcnn.fill_schedule(hole, 3)) and len(rcnn.fill_schedule(hole, 3)) == 3
    with torch.no_grad():
        output, steps = rcnn(image, hole, iterations=3, return_steps=True)
        one_pass = rcnn(image, hole, iterations=1)
    known = hole == 0
    for step in steps:  # every pass: the known pixels as given, the whole hole filled (nothing left at zero)
        assert torch.equal(step.expand_as(image)[known.expand_as(image)], image[known.expand_as(image)])
    inside = hole.bool().expand_as(image)
    torch.testing.assert_close(steps[0][inside], one_pass[inside])  # the first pass fills it all at once
    assert not torch.equal(steps[1][inside], steps[0][inside]) and not torch.equal(steps[2][inside], steps[1][inside])
    torch.testing.assert_close(output[inside], steps[-1][inside])
    with pytest.raises(ValueError, match="schedule must be one of rings, refine, got 'spiral'"):
        tiny("rcnn", schedule="spiral")


def test_a_shipped_photo_inpainter_loads_without_its_detail_transfer_when_asked():
    """The README's way to the network's own, smoother fill: the same weights, the last step left out."""
    shipped = hfimg.load("hfimg/inpaint-cnn-photos")
    plain = hfimg.load("hfimg/inpaint-cnn-photos", detail_transfer=False)
    assert shipped.detail_transfer and not plain.detail_transfer
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))  # grain for the transfer to copy
    mask = box_mask(64, 48, (20, 10, 40, 30))
    hole = np.asarray(mask) >= 128
    results = [np.asarray(model.inpaint(image, mask)).astype(float) for model in (shipped, plain)]
    assert np.array_equal(results[0][~hole], results[1][~hole])
    assert results[0][hole].std() > results[1][hole].std()  # the copied grain


def test_a_shipped_photo_inpainter_copies_detail_at_its_sources_energy_when_asked():
    """The option the README offers for more grain: the same weights, each copied block at its sources' energy."""
    shipped = hfimg.load("hfimg/inpaint-rcnn-photos")
    grainy = hfimg.load("hfimg/inpaint-rcnn-photos", detail_energy=True)
    assert not shipped.detail_energy and grainy.detail_energy and grainy.config_dict()["detail_energy"]
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))  # unrelated grain everywhere
    mask = box_mask(64, 48, (20, 10, 40, 30))
    hole = np.asarray(mask) >= 128
    results = [np.asarray(model.inpaint(image, mask)).astype(float) for model in (shipped, grainy)]
    assert np.array_equal(results[0][~hole], results[1][~hole])
    assert results[1][hole].std() > 1.5 * results[0][hole].std()  # the mean of 8 candidates thins it, kept here
    # A share of it: more grain than the plain mean, less than all of it.
    some = np.asarray(hfimg.load("hfimg/inpaint-rcnn-photos", detail_energy=0.3).inpaint(image, mask)).astype(float)
    assert np.array_equal(some[~hole], results[0][~hole])
    assert results[0][hole].std() + 2 < some[hole].std() < results[1][hole].std() - 2
    with pytest.raises(ValueError, match="detail_energy=True .* needs detail_transfer=True"):
        hfimg.load("hfimg/inpaint-rcnn-photos", detail_transfer=False, detail_energy=True)
    with pytest.raises(ValueError, match="detail_energy is the share .* 0 to 1; got 2"):
        hfimg.load("hfimg/inpaint-rcnn-photos", detail_energy=2)
    with pytest.raises(TypeError, match="detail_energy is a share from 0 to 1 .*; got '0.3'"):
        hfimg.load("hfimg/inpaint-rcnn-photos", detail_energy="0.3")


@pytest.mark.parametrize("family", [InpaintCNN, InpaintRCNN])
@pytest.mark.parametrize("share", [True, False, 0.3])
def test_a_saved_detail_energy_loads_back_as_a_share_or_the_old_switch(family, share, tmp_path):
    # Folders saved when detail_energy was an on/off switch hold true/false; they load, True as the full share.
    model = family(channels=3, base_channels=8, detail_transfer=True, detail_energy=share)
    model.save_pretrained(tmp_path)
    loaded = hfimg.load(str(tmp_path))
    assert loaded.detail_energy == share and type(loaded.config_dict()["detail_energy"]) is type(share)
    image = random_image(40, 36, "RGB", seed=2)
    mask = box_mask(40, 36, (8, 6, 30, 26))
    # The same pixels as the share it stands for, with the same weights: True is the full share, False none.
    as_share = family(channels=3, base_channels=8, detail_transfer=True, detail_energy=float(share))
    as_share.load_state_dict(model.state_dict())
    assert np.array_equal(np.asarray(loaded.inpaint(image, mask)), np.asarray(as_share.inpaint(image, mask)))

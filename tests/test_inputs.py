"""Bad and unusual inputs through the Python API and the CLI: each gets a correct result or a clear message.

One test per class of input (the table in benchmarks/RESULTS.md, "Bad inputs"); the demo's cases are in test_app.py
and train.py's in test_train.py.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import hfimg
from hfimg.cli import main
from hfimg.hub import check_config
from hfimg.imaging import check_pixels, convert_mode, load_mask, network_mode, open_image


@pytest.fixture
def inpainter():
    torch.manual_seed(0)
    return hfimg.create_model("inpaint-cnn", channels=3, base_channels=4, depth=2, dilations=[1]).eval()


def photo(width: int = 40, height: int = 30) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))


def strokes(width: int = 40, height: int = 30) -> np.ndarray:
    hole = np.zeros((height, width), dtype=bool)
    hole[8:20, 10:25] = True
    return hole


def test_opaque_rgba_mask_is_read_by_its_luminance():
    # White strokes on black, fully opaque: what most editors save. Its alpha says nothing about the hole.
    rgba = np.zeros((30, 40, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[strokes()] = (255, 255, 255, 255)
    assert np.array_equal(load_mask(Image.fromarray(rgba), (40, 30)), strokes())


def test_painted_layer_is_read_by_its_alpha():
    layer = np.zeros((30, 40, 4), dtype=np.uint8)  # transparent, strokes opaque in any colour
    layer[strokes()] = (57, 255, 20, 255)
    assert np.array_equal(load_mask(Image.fromarray(layer), (40, 30)), strokes())


def test_zero_one_mask_is_taken_as_such_with_a_warning(tmp_path):
    ones = strokes().astype(np.uint8)  # 0 and 1
    with pytest.warns(UserWarning, match="only 0 and 1"):
        assert np.array_equal(load_mask(ones, (40, 30)), strokes())
    Image.fromarray(ones).save(tmp_path / "mask.png")
    with pytest.warns(UserWarning, match="only 0 and 1"):
        assert np.array_equal(load_mask(tmp_path / "mask.png", (40, 30)), strokes())


def test_boolean_mask_array():
    assert np.array_equal(load_mask(strokes(), (40, 30)), strokes())


def test_a_boolean_colour_mask_reads_as_its_grey():
    colour = np.repeat(strokes()[..., None], 3, axis=2)  # (H, W, 3) bool: True = white
    hole = load_mask(colour, (40, 30))
    assert hole.shape == (30, 40) and np.array_equal(hole, strokes())


def test_mask_tensors_of_each_accepted_shape_and_the_half_threshold():
    hole = torch.from_numpy(strokes()).float()  # (30, 40), 1 = hole
    for shaped in (hole, hole[None], hole[None, None]):  # (H, W), (1, H, W), (1, 1, H, W)
        assert np.array_equal(load_mask(shaped, (40, 30)), strokes())
    row = torch.tensor([[0.0, 0.49, 0.5, 1.0]])  # one row, (1, W): 0.5 is hole, anything under it is not
    assert load_mask(row, (4, 1)).tolist() == [[False, False, True, True]]
    with pytest.raises(ValueError) as refused:
        load_mask(torch.zeros(2, 30, 40), (40, 30))
    assert str(refused.value) == "mask: expected an (H, W) or (1, 1, H, W) tensor, got shape (2, 30, 40)."


def test_a_missing_mask_file_is_named_as_the_mask(tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        load_mask(tmp_path / "nomask.png", (40, 30))
    assert str(missing.value) == f"mask: no such file {str(tmp_path / 'nomask.png')!r}."


def test_a_painted_layer_with_a_palette_or_grey_alpha_is_read_by_its_alpha():
    """The strokes are dark and the transparent background white: read by luminance, the hole would be inverted."""
    hole = strokes()
    index = hole.astype(np.uint8)  # palette index 1 = the stroke colour, 0 = the background
    alpha = np.where(hole, 255, 0).astype(np.uint8)
    palette = [255, 255, 255, 0, 100, 0] + [0] * 762  # 0: white, 1: dark green
    with_transparency = Image.fromarray(index, mode="P")
    with_transparency.putpalette(palette)
    with_transparency.info["transparency"] = 0  # palette entry 0 is transparent
    palette_alpha = Image.frombytes("PA", (40, 30), np.stack([index, alpha], axis=-1).tobytes())
    palette_alpha.putpalette(palette)
    alpha[hole.nonzero()[0][0], hole.nonzero()[1][0]] = 1  # an anti-aliased edge: barely painted is painted
    grey_alpha = Image.fromarray(np.stack([np.where(hole, 0, 255).astype(np.uint8), alpha], axis=-1))  # LA
    for layer in (with_transparency, palette_alpha, grey_alpha):
        assert np.array_equal(load_mask(layer, (40, 30)), hole), layer.mode
    opaque_palette = Image.fromarray(np.where(hole, 1, 0).astype(np.uint8), mode="P")  # no transparency: luminance
    opaque_palette.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    assert np.array_equal(load_mask(opaque_palette, (40, 30)), hole)


def test_exif_rotated_photo_is_used_upright(inpainter, tmp_path):
    stored = photo(40, 30)  # stored 40 wide, 30 tall; shown rotated: 30 wide, 40 tall
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = open_image(tmp_path / "phone.jpg")
    assert upright.size == (30, 40)
    shown_mask = np.zeros((40, 30), dtype=np.uint8)  # drawn on the photo as the user sees it
    shown_mask[5:15, 5:20] = 255
    assert inpainter.inpaint(tmp_path / "phone.jpg", shown_mask).size == (30, 40)
    with Image.open(tmp_path / "phone.jpg") as opened:  # a PIL image with the tag is turned too
        assert open_image(opened).size == (30, 40)


def test_image_above_the_pixel_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    big = tmp_path / "big.png"
    Image.new("1", (8000, 6000)).save(big)  # 48 megapixels, a few kB on disk
    with pytest.raises(ValueError, match="48.0 megapixels.*HFIMG_MAX_PIXELS=48000000"):
        open_image(big)
    monkeypatch.setenv("HFIMG_MAX_PIXELS", "100")
    with pytest.raises(ValueError, match="above the limit of 0.0"):
        open_image(photo())  # arrays and PIL images are checked too
    monkeypatch.setenv("HFIMG_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="HFIMG_MAX_PIXELS='lots': set it to a positive whole number"):
        open_image(photo())


def test_decompression_bomb_is_a_message_not_a_traceback(tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 10000)).save(bomb)  # 200 megapixels in 30 kB: refused from the header, never decoded
    with pytest.raises(ValueError, match="is refused: .*decompression bomb.*HFIMG_MAX_PIXELS"):
        open_image(bomb)
    folder = tmp_path / "denoiser"
    hfimg.create_model("denoise-cnn", channels=1, features=4, depth=3).save_pretrained(folder)
    assert main(["restore", str(folder), str(bomb), "-o", str(tmp_path / "out.png")]) == 1
    err = capsys.readouterr().err
    assert "is refused" in err and err.count("\n") == 1 and "Traceback" not in err


def test_too_many_images_per_call(monkeypatch):
    generator = hfimg.create_model("dcgan", resolution=32, channels=1, base_channels=4, latent_dim=8)
    with pytest.raises(ValueError, match="num_images=1,000,000 is above the limit of 1,024.*HFIMG_MAX_IMAGES"):
        generator.generate(10**6)
    with pytest.raises(ValueError, match="steps .* above the limit"):
        generator.interpolate(0, 1, steps=5000)
    monkeypatch.setenv("HFIMG_MAX_IMAGES", "2")
    with pytest.raises(ValueError, match="limit of 2 images"):
        hfimg.create_model("vae", base_channels=4, latent_dim=4).generate(3)


def test_too_many_recurrent_iterations():
    model = hfimg.create_model("inpaint-rcnn", channels=1, base_channels=4, depth=2, dilations=[1])
    with pytest.raises(ValueError, match="iterations=1,000,000 is above the limit of 64.*HFIMG_MAX_ITERATIONS"):
        model.inpaint(photo().convert("L"), strokes(), iterations=10**6)


def saved_denoiser(tmp_path, **config_changes):
    folder = tmp_path / "model"
    hfimg.create_model("denoise-cnn", channels=1, features=4, depth=3).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **config_changes}))
    return folder


def test_config_with_an_absurd_size_is_refused_before_allocating(tmp_path):
    with pytest.raises(ValueError, match="features = 1000000000 is out of range"):
        hfimg.load(saved_denoiser(tmp_path, features=10**9))
    with pytest.raises(ValueError, match="above the limit of 200,000,000.*HFIMG_MAX_PARAMETERS"):
        hfimg.load(saved_denoiser(tmp_path, features=6000))  # 6000 x 6000 x 9 per layer: 324M parameters


def test_config_with_a_wrong_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"features = '32' has the wrong type for DenoiseCNN \(expected int\)"):
        hfimg.load(saved_denoiser(tmp_path, features="32"))
    with pytest.raises(ValueError, match="unknown key 'width'"):
        hfimg.load(saved_denoiser(tmp_path, width=3))


def test_config_that_is_not_a_json_object(tmp_path):
    folder = saved_denoiser(tmp_path)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must be a JSON object"):
        hfimg.load(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable JSON config"):
        hfimg.load(folder)


def test_hostile_config_json_structure_is_one_line(tmp_path, capsys):
    folder = saved_denoiser(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    for text, message in [
        # a RecursionError and an "unhashable type" before
        (json.dumps(config)[:-1] + ', "depth": ' + "[" * 40_000 + "]" * 40_000 + "}", r"nested too deeply"),
        (json.dumps({**config, "model_type": ["denoise-cnn"]}), r"model_type: unknown model \['denoise-cnn'\]"),
        (json.dumps({**config, "model_type": list(range(10**4))}), r"unknown model \[0, 1, 2, 3, 4, 5, \.\.\.\]"),
        (json.dumps({**config, "notes": "x" * 200_000}), "larger than 100,000 bytes"),
    ]:
        (folder / "config.json").write_text(text)
        with pytest.raises(ValueError, match=message):
            hfimg.load(folder)
        assert main(["info", str(folder)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and len(err) < 400 and "Traceback" not in err and "internal error" not in err


def test_truncated_weights_file_is_one_line_in_the_api_and_the_cli(tmp_path, capsys):
    folder = saved_denoiser(tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable safetensors file.*truncated or corrupt"):
        hfimg.load(folder)
    assert main(["info", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.safetensors" in err


def poison(folder, name: str = "body.0.weight", value: float = float("nan")):
    """Put `value` into one element of the tensor `name` of the folder's weights, as a diverged training run does."""
    weights = load_file(folder / "model.safetensors")
    weights[name].view(-1)[0] = value
    save_file(weights, folder / "model.safetensors")
    return folder


@pytest.mark.parametrize(("name", "value"), [("body.0.weight", float("nan")), ("body.3.running_var", float("inf"))])
def test_weights_that_are_not_finite_are_refused_naming_the_tensor(tmp_path, capsys, name, value):
    folder = poison(saved_denoiser(tmp_path), name, value)
    message = f"the tensor '{name}' holds 1 NaN or infinite values .*earlier checkpoint"
    with pytest.raises(ValueError, match=message):
        hfimg.load(folder)
    with pytest.raises(ValueError, match=message):
        hfimg.DenoiseCNN.from_pretrained(folder)
    assert main(["info", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the tensor '{name}' holds 1 NaN" in err and "Traceback" not in err


def test_cli_reports_a_missing_input_before_loading_the_model(tmp_path, capsys, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr("hfimg.cli.load", no_loading)
    monkeypatch.setattr("hfimg.cli.load_restorer", no_loading)
    missing = str(tmp_path / "nofile.png")
    assert main(["restore", "hfimg/denoise-cnn-photos", missing]) == 1
    assert f"image: no such file {missing!r}." in capsys.readouterr().err  # which input, named as in the usage


def test_cli_internal_error_is_short_and_logged(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr("hfimg.cli.load", broken)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert main(["info", "hfimg/denoise-cnn-photos"]) == 1
    err = capsys.readouterr().err
    assert "internal error (RuntimeError: something inside broke)" in err and "Traceback" not in err
    (log,) = tmp_path.glob("hfimg-error-*.log")
    assert str(log) in err and "RuntimeError" in log.read_text()


def test_cli_warnings_are_one_line(tmp_path, capsys):
    folder = tmp_path / "inpainter"
    hfimg.create_model("inpaint-cnn", channels=3, base_channels=4, depth=2, dilations=[1]).save_pretrained(folder)
    photo().save(tmp_path / "photo.png")
    Image.fromarray(strokes().astype(np.uint8)).save(tmp_path / "mask.png")  # 0/1 mask
    assert main(["inpaint", str(folder), str(tmp_path / "photo.png"), str(tmp_path / "mask.png"), "-o",
                 str(tmp_path / "out.png")]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "hfimg: warning: mask: its values are only 0 and 1" in err and "warnings.warn" not in err


def test_the_demo_reads_a_mask_layer_by_the_same_rule():
    from hfimg.demo.editor import editor_to_image_and_hole

    background = np.zeros((30, 40, 3), dtype=np.uint8)
    ones = strokes().astype(np.uint8)  # a 0/1 mask sent as the layer
    with pytest.warns(UserWarning, match="only 0 and 1"):
        _, hole = editor_to_image_and_hole(background, [ones])
    assert np.array_equal(hole, strokes())
    soft = np.zeros((30, 40, 4), dtype=np.uint8)  # a painted stroke with an anti-aliased (half-transparent) edge
    soft[strokes()] = (57, 255, 20, 255)
    soft[7, 10:25, 3] = 60
    _, hole = editor_to_image_and_hole(background, [soft])
    assert hole[7, 10:25].all() and np.array_equal(hole[8:], strokes()[8:])


@pytest.fixture
def unreachable_hub(monkeypatch):
    """A machine whose network is down (HF_HUB_OFFLINE not set): every request fails to connect."""
    import hfimg.offline

    class NoNetwork:
        def head(self, *args, **kwargs):
            raise ConnectionError("Name or service not known")

    monkeypatch.setattr(hfimg.offline.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hfimg.offline, "get_session", lambda: NoNetwork())


def test_unknown_model_id_fails_at_once_when_the_hub_is_unreachable(unreachable_hub, monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    import hfimg.registry

    def download(repo_id, filename, **kwargs):  # the real one would retry a dead connection for ~25 s
        assert kwargs.get("local_files_only"), "the Hub was asked although it cannot be reached"
        raise LocalEntryNotFoundError("not in the cache")

    monkeypatch.setattr(hfimg.registry, "hf_hub_download", download)
    with pytest.raises(OSError, match="cannot be reached .*HF_HUB_OFFLINE.*local folder"):
        hfimg.load("nobody/nothing")


def test_unknown_dataset_id_fails_at_once_when_the_hub_is_unreachable(unreachable_hub, monkeypatch):
    import datasets

    from hfimg.data import open_corpus

    def load(path, *args, **kwargs):
        assert datasets.config.HF_HUB_OFFLINE, "the Hub was asked although it cannot be reached"
        raise ConnectionError(f"Couldn't reach {path!r} on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", load)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    with pytest.raises(ValueError, match="cannot be reached .*not in the local cache.*local folder"):
        open_corpus("nobody/pictures")
    assert datasets.config.HF_HUB_OFFLINE is False  # offline for that one call only


def test_fully_transparent_layer_is_an_empty_mask():
    layer = np.zeros((30, 40, 4), dtype=np.uint8)
    layer[..., :3] = 255  # white under a transparent alpha: how some editors save an empty layer
    hole = load_mask(Image.fromarray(layer), (40, 30))
    assert hole.dtype == bool and not hole.any()


def test_an_opaque_grey_with_alpha_mask_is_read_by_its_luminance():
    grey = np.where(strokes(), 255, 0).astype(np.uint8)
    opaque = Image.fromarray(np.stack([grey, np.full_like(grey, 255)], axis=-1))  # LA, alpha 255 everywhere
    assert opaque.mode == "LA" and np.array_equal(load_mask(opaque, (40, 30)), strokes())


def test_sixteen_bit_masks_are_read_by_their_values():
    full_range = (strokes() * 65535).astype(np.uint16)
    assert np.array_equal(load_mask(Image.fromarray(full_range), (40, 30)), strokes())
    eight_bit_values = (strokes() * 255).astype(np.uint16)
    assert np.array_equal(load_mask(Image.fromarray(eight_bit_values), (40, 30)), strokes())
    with pytest.warns(UserWarning, match="only 0 and 1"):
        assert np.array_equal(load_mask(Image.fromarray(strokes().astype(np.uint16)), (40, 30)), strokes())


def test_a_near_black_colour_mask_is_not_taken_for_a_zero_one_mask():
    rgb = np.zeros((30, 40, 3), dtype=np.uint8)
    rgb[strokes()] = 255
    rgb[0, 0] = (0, 2, 0)  # luminance 1: noise, not a 0/1 mask
    assert np.array_equal(load_mask(rgb, (40, 30)), strokes())


def test_a_folder_config_is_checked_by_from_pretrained_too(tmp_path):
    with pytest.raises(ValueError, match="features = '32' has the wrong type"):
        hfimg.DenoiseCNN.from_pretrained(saved_denoiser(tmp_path, features="32"))
    with pytest.raises(ValueError, match="depth = 1000000 is out of range"):  # refused before any building
        hfimg.load(saved_denoiser(tmp_path / "b", depth=10**6))
    with pytest.raises(ValueError, match=r"dropout = 100000000000\.\.\. \(401 digits\) is out of range"):
        check_config(hfimg.FashionClassifier, {"dropout": 10**400}, "config.json")


def test_inpainter_depth_is_bounded():
    with pytest.raises(ValueError, match="depth must be from 2 to 8"):
        hfimg.create_model("inpaint-cnn", depth=12)


def test_a_batch_of_network_outputs_becomes_8_bit_images_clamped_and_rounded():
    from hfimg.imaging import batch_to_pils, tensor_to_pil

    values = torch.tensor([[-3.0, -1.0, 0.0], [0.5, 1.0, 2.0]])  # (H, W), beyond the range at both ends
    grey = batch_to_pils(torch.stack([values, -values])[:, None])  # (2, 1, 2, 3)
    assert [image.mode for image in grey] == ["L", "L"]
    assert np.array_equal(np.asarray(grey[0]), [[0, 0, 128], [191, 255, 255]])  # (x + 1) * 127.5, rounded
    assert np.array_equal(np.asarray(grey[1]), [[255, 255, 128], [64, 0, 0]])
    colour = batch_to_pils(torch.stack([values, values * 0, -values])[None])  # (1, 3, 2, 3)
    assert colour[0].mode == "RGB" and np.array_equal(np.asarray(colour[0])[..., 1], np.full((2, 3), 128))
    assert np.array_equal(np.asarray(colour[0]), np.asarray(tensor_to_pil(torch.stack([values, values * 0, -values]))))
    for shape in ((1, 4, 2, 2), (3, 2, 2), (1, 2, 2, 2)):
        with pytest.raises(ValueError, match=re.escape(f"C in (1, 3), got shape {shape}.")):
            batch_to_pils(torch.zeros(shape))


def test_a_grid_places_each_image_row_by_row_with_padding_between():
    from hfimg.imaging import images_to_grid

    tiles = [Image.new("L", (3, 2), 10 * (i + 1)) for i in range(5)]  # 5 images: 3 columns, 2 rows
    grid = np.asarray(images_to_grid(tiles, padding=1))
    assert grid.shape == (2 * 2 + 1, 3 * 3 + 2)
    for i in range(5):
        top, left = (i // 3) * 3, (i % 3) * 4
        assert (grid[top : top + 2, left : left + 3] == 10 * (i + 1)).all()
    assert (grid[2, :] == 0).all() and (grid[:, 3] == 0).all()  # the padding between rows and columns
    assert images_to_grid(tiles, columns=5, padding=0).size == (15, 2)
    with pytest.raises(ValueError, match="^images_to_grid needs at least one image.$"):
        images_to_grid([])


def test_a_small_image_is_framed_in_black_and_a_large_one_shrunk_first():
    from hfimg.imaging import pad_to

    small = Image.fromarray(np.arange(28 * 28, dtype=np.uint32).reshape(28, 28).astype(np.uint8) | 1)  # no zeros
    framed = np.asarray(pad_to(small, 32))
    assert framed.shape == (32, 32) and np.array_equal(framed[2:30, 2:30], np.asarray(small))
    assert framed[:2].max() == framed[30:].max() == framed[:, :2].max() == framed[:, 30:].max() == 0
    odd = np.asarray(pad_to(Image.new("RGB", (5, 3), (200, 100, 50)), 8))  # offsets (8 - 5) // 2, (8 - 3) // 2
    assert (odd[2:5, 1:6] == (200, 100, 50)).all() and odd[:2].max() == odd[5:].max() == 0
    assert odd[:, 0].max() == odd[:, 6:].max() == 0
    large = Image.new("L", (64, 32), 255)
    shrunk = np.asarray(pad_to(large, 32))  # 64 x 32 -> 32 x 16, centred
    assert (shrunk[8:24] == 255).all() and shrunk[:8].max() == shrunk[24:].max() == 0
    assert large.size == (64, 32)  # the caller's image is left alone


def test_a_large_image_is_shrunk_as_pil_thumbnails_it_before_framing():
    from hfimg.imaging import pad_to

    rng = np.random.default_rng(0)
    # 12.5x smaller: far enough for the reducing gap to matter (a box reduction first, then bicubic, Pillow's
    # thumbnail); a gap of 2 (Pillow's default), 4 or none gives other pixels.
    photo = Image.fromarray(rng.integers(0, 256, (256, 400, 3), dtype=np.uint8))
    expected = photo.copy()
    expected.thumbnail((32, 32), Image.Resampling.BICUBIC, reducing_gap=3.0)  # the documented shrink: 32 x 20
    for other in (2.0, 4.0, None):
        different = photo.copy()
        different.thumbnail((32, 32), Image.Resampling.BICUBIC, reducing_gap=other)
        assert not np.array_equal(np.asarray(different), np.asarray(expected))  # the test can tell them apart
    framed = np.asarray(pad_to(photo, 32))
    assert np.array_equal(framed[6:26], np.asarray(expected))
    assert framed[:6].max() == framed[26:].max() == 0
    exact = Image.fromarray(rng.integers(1, 256, (32, 32), dtype=np.uint8))
    assert np.array_equal(np.asarray(pad_to(exact, 32)), np.asarray(exact))  # already the size: as it is


def test_the_classical_methods_working_image_keeps_16_bit_grey_grey_and_makes_other_modes_rgb():
    from hfimg.imaging import open_working

    grey16 = Image.fromarray(np.array([[0, 257 * 100], [65535, 257 * 7]], dtype=np.uint16))
    assert grey16.mode == "I;16"
    opened = open_working(grey16)
    assert opened.mode == "L" and np.array_equal(np.asarray(opened), [[0, 100], [255, 7]])  # scaled, not clipped
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 0), 1)
    opened = open_working(palette)
    assert opened.mode == "RGB" and [opened.getpixel((x, 0)) for x in (0, 1)] == [(255, 0, 0), (0, 0, 255)]
    for kept in ("L", "RGB", "RGBA"):
        assert open_working(Image.new(kept, (2, 2))).mode == kept


def test_check_hole_says_what_an_empty_or_a_full_mask_gives():
    from hfimg.imaging import check_hole

    with pytest.warns(UserWarning) as caught:
        assert check_hole(np.zeros((2, 2), dtype=bool)) is False
    assert [str(w.message) for w in caught] == [
        "mask: the mask is empty (no white pixel), so nothing is filled: the image comes back as is."
    ]
    full = np.ones((2, 2), dtype=bool)
    with pytest.raises(ValueError) as refused:
        check_hole(full)
    assert str(refused.value) == (
        "mask: the mask covers the whole image, so no pixel is left to fill it from. Paint only the part to replace "
        "(white = fill, black = keep)."
    )
    with pytest.warns(UserWarning) as caught:
        assert check_hole(full, generative=True) is True
    assert [str(w.message) for w in caught] == [
        "mask: the mask covers the whole image: the result is a sample of the prior, unrelated to the input."
    ]
    assert check_hole(np.eye(2, dtype=bool)) is True


def test_an_inpainters_mask_tensor_is_float_on_the_device_asked():
    from hfimg.imaging import prepare_inpainting

    hole = np.zeros((3, 4), dtype=np.uint8)
    hole[1, 2] = 255
    _, read, tensor = prepare_inpainting(Image.new("RGB", (4, 3)), Image.fromarray(hole), 3, torch.device("cpu"))
    assert tensor.dtype == torch.float32 and tensor.shape == (1, 1, 3, 4) and tensor.device.type == "cpu"
    assert tensor.sum() == 1 and tensor[0, 0, 1, 2] == 1 and read.dtype == bool


def test_a_count_is_a_whole_number_from_its_minimum_up_to_its_limit_inclusive(monkeypatch):
    from hfimg.imaging import check_count

    monkeypatch.setenv("HFIMG_MAX_IMAGES", "8")
    assert check_count(8, "num") == 8 and check_count(np.int64(1), "num") == 1  # the limit itself is allowed
    for bad in (2.5, True, 0, "3"):
        with pytest.raises(ValueError, match=f"^num must be an int of at least 1, got {re.escape(repr(bad))}\\.$"):
            check_count(bad, "num")
    with pytest.raises(ValueError, match="^num=9 is above the limit of 8 images per call"):
        check_count(9, "num")


def test_a_tensor_of_the_wrong_channels_is_named_by_its_channels():
    from hfimg.imaging import PreparedImage

    for tensor, channels, has in ((torch.zeros(1, 1, 4, 4), 3, 1), (torch.zeros(1, 3, 4, 4), 1, 3)):
        with pytest.raises(ValueError, match=f"^image has {has} channels but this model takes {channels}; pass a"):
            PreparedImage.from_input(tensor, channels)


def test_pil_to_tensor_maps_grey_levels_to_minus_one_to_one_exactly():
    from hfimg.imaging import pil_to_tensor

    grey = Image.fromarray(np.array([[0, 51, 255]], dtype=np.uint8))
    tensor = pil_to_tensor(grey, channels=1)
    assert tensor.shape == (1, 1, 1, 3) and tensor.dtype == torch.float32 and tensor.is_contiguous()
    assert tensor.flatten().tolist() == pytest.approx([-1.0, 51 / 127.5 - 1, 1.0], abs=1e-7)
    rgb = pil_to_tensor(grey, channels=3)  # converted to the model's mode: three equal channels
    assert rgb.shape == (1, 3, 1, 3) and torch.equal(rgb[0, 0], rgb[0, 2]) and torch.equal(rgb[0, 1], tensor[0, 0])


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 3, 4, 4), "expected one image, got a batch of 2; pass the images one by one."),
        ((2, 4, 4), "expected a (C, H, W) tensor with C in (1, 3), got shape (2, 4, 4)."),
        ((3, 8), "expected a (C, H, W) tensor with C in (1, 3), got shape (3, 8)."),
    ],
)
def test_tensor_to_pil_says_which_shape_it_takes(shape, message):
    from hfimg.imaging import tensor_to_pil

    with pytest.raises(ValueError) as refused:
        tensor_to_pil(torch.zeros(shape))
    assert str(refused.value) == message


def palette_image() -> Image.Image:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([200, 100, 50] + [0] * 765)
    return image


@pytest.mark.parametrize(
    ("image", "expected_rgb"),
    [
        (Image.new("RGBA", (4, 4), (10, 20, 30, 0)), (255, 255, 255)),  # fully transparent -> white background
        (Image.new("RGBA", (4, 4), (10, 20, 30, 255)), (10, 20, 30)),
        (palette_image(), (200, 100, 50)),
        (Image.fromarray(np.full((4, 4), 32896, np.uint16)), (128, 128, 128)),  # 16-bit mid grey
        (Image.new("CMYK", (4, 4), (0, 255, 255, 0)), (255, 0, 0)),  # no cyan, full magenta + yellow = red
        (Image.new("LA", (4, 4), (50, 255)), (50, 50, 50)),
        (Image.new("LA", (4, 4), (50, 0)), (255, 255, 255)),  # grey with alpha: transparent -> white too
    ],
    ids=["RGBA-transparent", "RGBA-opaque", "P", "I;16", "CMYK", "LA", "LA-transparent"],
)
def test_convert_mode(image, expected_rgb):
    rgb = convert_mode(image, "RGB")
    assert rgb.mode == "RGB" and rgb.getpixel((1, 1)) == expected_rgb
    grey = convert_mode(image, "L")
    assert grey.mode == "L"
    assert abs(grey.getpixel((1, 1)) - Image.new("RGB", (1, 1), expected_rgb).convert("L").getpixel((0, 0))) <= 1


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[0, 255]], np.int32), [0, 255]),  # 32-bit grey within 8 bits: as it is
        (np.array([[0, 256]], np.int32), [0, 1]),  # above 255: a 16-bit range, scaled
        (np.array([[0, 1, 70000]], np.int32), [0, 0, 255]),  # beyond 16 bits: clipped after scaling
        (np.array([[0, 1]], np.int32), [0, 1]),  # integers in [0, 1] are grey levels, not a float image
        (np.array([[0, 200]], np.uint16), [0, 1]),  # 16-bit: always scaled, whatever its maximum
        (np.array([[0.3, 0.7, 1.0, -0.5]], np.float32), [77, 178, 255, 0]),  # float in [0, 1] (rounded in float64)
        (np.array([[0.0, 1.5]], np.float32), [0, 2]),  # float beyond 1: grey levels already
    ],
    ids=["I-8bit", "I-16bit", "I-clipped", "I-0-1", "I;16", "F-0-1", "F-levels"],
)
def test_high_bit_depth_grey_is_scaled_to_8_bits_by_its_range(values, expected):
    assert np.asarray(convert_mode(Image.fromarray(values), "L")).ravel().tolist() == expected


def test_transparent_palette_images_are_composited_on_white_and_other_modes_refused():
    palette = Image.new("P", (2, 1), 0)
    palette.putpalette([200, 100, 50, 10, 20, 30] + [0] * 762)
    palette.putpixel((1, 0), 1)
    assert np.asarray(convert_mode(palette, "RGB")).tolist() == [[[200, 100, 50], [10, 20, 30]]]  # opaque
    palette.info["transparency"] = 0  # colour 0 is transparent
    assert np.asarray(convert_mode(palette, "RGB")).tolist() == [[[255, 255, 255], [10, 20, 30]]]
    with_alpha = Image.new("PA", (2, 1))  # palette + alpha, all transparent
    with_alpha.putpalette([200, 100, 50] + [0] * 765)
    assert np.asarray(convert_mode(with_alpha, "RGB")).tolist() == [[[255, 255, 255], [255, 255, 255]]]
    with pytest.raises(ValueError) as refused:
        convert_mode(palette, "CMYK")
    assert str(refused.value) == "mode must be 'L' or 'RGB', got 'CMYK'."


def test_colour_spaces_pillow_cannot_turn_grey_directly_go_through_rgb():
    """LAB (a TIFF can hold it) has no direct conversion to L in Pillow, and YCbCr's direct one rounds differently:
    every colour space reaches L the same way, through RGB and its luma weights."""
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8))
    for space in ("LAB", "YCbCr"):
        image = rgb.convert(space)
        via_rgb = image.convert("RGB")
        assert np.array_equal(np.asarray(convert_mode(image, "RGB")), np.asarray(via_rgb)), space
        assert np.array_equal(np.asarray(convert_mode(image, "L")), np.asarray(via_rgb.convert("L"))), space


def test_the_pixel_limit_is_inclusive_and_its_message_rounds_each_figure(monkeypatch):
    monkeypatch.setenv("HFIMG_MAX_PIXELS", "1050000")
    check_pixels(1050, 1000)  # exactly at the limit: allowed
    with pytest.raises(ValueError) as refused:
        check_pixels(1050001, 1)
    assert str(refused.value) == (
        "image: 1050001x1 is 1.1 megapixels, above the limit of 1.1 (about 130 bytes of memory per pixel in the "
        "networks). Scale the image down, or raise the limit with the environment variable HFIMG_MAX_PIXELS=1050001."
    )


def test_every_kind_of_input_over_the_pixel_limit_is_refused_with_its_name_and_size(tmp_path, monkeypatch):
    """Files are refused by our limit, not by PIL's decompression-bomb check, even when the limit is set low."""
    Image.new("L", (20, 15)).save(tmp_path / "big.png")
    monkeypatch.setenv("HFIMG_MAX_PIXELS", "100")
    inputs = {
        "a file": tmp_path / "big.png",
        "a PIL image": Image.new("L", (20, 15)),
        "a (C, H, W) tensor": torch.zeros(1, 15, 20),
        "an (H, W) tensor": torch.zeros(15, 20),
        "a uint8 array": np.zeros((15, 20), np.uint8),
        "a boolean array": np.zeros((15, 20), bool),  # read_hole's own path for a hole already made
    }
    refusal = r"^mask: 20x15 is 0\.0 megapixels, above the limit of 0\.0 .*HFIMG_MAX_PIXELS=300\.$"
    for kind, image in inputs.items():
        with pytest.raises(ValueError, match=refusal):
            open_image(image, name="mask")
        if kind in ("a file", "a PIL image", "a uint8 array", "a boolean array"):  # the forms a mask is read from
            with pytest.raises(ValueError, match=refusal):
                load_mask(image, (20, 15))
    with pytest.raises(ValueError, match=r"^image: 20x15 is "):
        open_image(torch.zeros(3, 15, 20))
    with pytest.raises(ValueError, match=r"expected a \(C, H, W\) tensor"):  # one row of 60: under the limit
        open_image(torch.zeros(60))


def test_unreadable_and_bomb_files_are_named_by_their_path(tmp_path, monkeypatch):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError) as refused:
        open_image(tmp_path / "notes.png", name="mask")
    assert str(refused.value).startswith(f"mask: {str(tmp_path / 'notes.png')!r} is not a readable image (")
    Image.new("L", (20, 15)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL's own check refuses above twice this
    monkeypatch.setenv("HFIMG_MAX_PIXELS", "100")
    with pytest.raises(ValueError) as refused:
        open_image(tmp_path / "bomb.png", name="mask")
    assert str(refused.value).startswith(f"mask: {str(tmp_path / 'bomb.png')!r} ")


def test_a_network_takes_grey_or_rgb_only():
    assert (network_mode(1), network_mode(3)) == ("L", "RGB")
    with pytest.raises(ValueError) as refused:
        network_mode(2)
    assert str(refused.value) == "hfimg models take 1 (grey) or 3 (RGB) channels, got channels=2."


def test_grey_masks_are_cut_at_half_their_range_and_only_0_1_masks_warn(recwarn):
    """8-bit masks at 128 of 255; 16-bit ones by their values (8-bit levels, or half of 65535); float masks at 0.5
    of [0, 1], else at half of their range. No warning unless the mask holds only 0 and 1."""
    levels = np.array([[0, 100, 127, 128, 255]], np.uint8)
    assert load_mask(levels, (5, 1)).tolist() == [[False, False, False, True, True]]
    for values, hole in [
        ([0, 2], [False, False]),  # 16-bit, not 0/1: read as 8-bit levels
        ([0, 256], [False, False]),  # one level beyond 8 bits: the 16-bit range
        ([0, 256, 20000, 32768, 65535], [False, False, False, True, True]),  # beyond 8 bits: the 16-bit range
        ([0, 0], [False, False]),  # all black: nothing to fill, and no 0/1 warning
    ]:
        assert load_mask(Image.fromarray(np.array([values], np.uint16)), (len(values), 1)).tolist() == [hole]
    for values, hole in [
        ([0.0, 0.49, 0.5, 1.0], [False, False, True, True]),  # float in [0, 1]
        ([0.0, 127.0, 127.5, 255.0], [False, False, True, True]),  # float 8-bit levels
        ([0.0, 32767.0, 32767.5, 65535.0], [False, False, True, True]),  # float 16-bit levels
    ]:
        assert load_mask(Image.fromarray(np.array([values], np.float32)), (4, 1)).tolist() == [hole]
    black = np.zeros((2, 3, 3), np.uint8)
    black[0, 0] = (0, 2, 0)  # luminance 1: a near-black colour mask, not a 0/1 mask
    for mask in (np.zeros((2, 3), np.uint8), black):
        assert not load_mask(mask, (3, 2)).any()
    assert not recwarn.list, [str(w.message) for w in recwarn.list]
    zero_one = Image.fromarray(np.array([[0, 1, 1]], np.uint8), mode="P")  # palette: black and luminance 1
    zero_one.putpalette([0, 0, 0, 1, 1, 1] + [0] * 762)
    with pytest.warns(UserWarning) as warned:
        assert load_mask(zero_one, (3, 1)).tolist() == [[False, True, True]]
    assert [str(w.message) for w in warned] == [
        "mask: its values are only 0 and 1; reading 1 as hole. Save masks as 0 (keep) and 255 (fill)."
    ]


def test_a_limit_set_to_one_is_taken(monkeypatch):
    from hfimg.imaging import limit

    monkeypatch.setenv("HFIMG_MAX_IMAGES", "1")
    assert limit("HFIMG_MAX_IMAGES") == 1


def test_arrays_of_each_accepted_shape_and_the_others_refused_by_shape():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for shaped in (grey, grey[..., None]):  # (H, W) and (H, W, 1)
        opened = open_image(shaped)
        assert opened.mode == "L" and np.array_equal(np.asarray(opened), grey)
    for shape in [(3, 4, 2), (1, 3, 4, 3), (12,)]:
        with pytest.raises(ValueError) as refused:
            open_image(np.zeros(shape, np.uint8), name="mask")
        assert str(refused.value) == f"mask: expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {shape}."
    with pytest.raises(TypeError) as refused:
        open_image([[0, 255]], name="mask")
    assert str(refused.value) == (
        "mask: expected a PIL image, a file path, a uint8 numpy array or a tensor in [-1, 1], got list."
    )


def test_a_mask_with_no_pixels_is_an_empty_hole():
    for mode in ("L", "I;16"):  # the 8-bit and the high-bit-depth reading
        hole = load_mask(Image.new(mode, (0, 0)), (0, 0))
        assert hole.shape == (0, 0) and hole.dtype == bool

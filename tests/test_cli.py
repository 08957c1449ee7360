"""The `hfimg` console script."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hfimg
from hfimg.cli import build_parser, main


@pytest.fixture
def denoiser_dir(tmp_path):
    hfimg.create_model("denoise-cnn", channels=1, features=8, depth=3).save_pretrained(tmp_path / "denoiser")
    return tmp_path / "denoiser"


def test_list_names_the_bundled_models_and_the_families(capsys, monkeypatch):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    bundled = hfimg.list_models()
    assert lines[0] == "bundled pretrained models:" and lines[1 : 1 + len(bundled)] == [f"  {m}" for m in bundled]
    assert lines[1 + len(bundled)] == f"model families: {', '.join(hfimg.model_names())}"
    monkeypatch.setattr("hfimg.cli.list_models", lambda: [])
    assert main(["list"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["bundled pretrained models:", "  (none installed)"]


def test_info_and_restore(denoiser_dir, tmp_path, capsys):
    assert main(["info", str(denoiser_dir)]) == 0
    config = hfimg.load(denoiser_dir).config_dict()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{denoiser_dir}: DenoiseCNN (denoise-cnn), ") and out[0].endswith(" parameters")
    assert out[1:] == [f"  {key} = {value}" for key, value in sorted(config.items())]
    Image.fromarray(np.full((9, 11), 100, dtype=np.uint8)).save(tmp_path / "in.png")
    assert main(["restore", str(denoiser_dir), str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")]) == 0
    assert Image.open(tmp_path / "out.png").size == (11, 9)


def test_a_bad_command_line_names_the_program(capsys):
    for argv in (["paint"], []):  # an unknown command, and none at all
        with pytest.raises(SystemExit) as raised:
            main(argv)
        assert raised.value.code == 2 and capsys.readouterr().err.startswith("usage: hfimg ")


def test_errors_are_one_line_not_a_traceback(denoiser_dir, tmp_path, capsys):
    Image.new("L", (4, 4)).save(tmp_path / "in.png")
    assert main(["restore", str(denoiser_dir), str(tmp_path / "missing.png")]) == 1
    assert capsys.readouterr().err == f"hfimg: image: no such file {str(tmp_path / 'missing.png')!r}.\n"
    assert main(["inpaint", "telea", str(tmp_path / "in.png"), str(tmp_path / "nomask.png")]) == 1
    assert capsys.readouterr().err == f"hfimg: mask: no such file {str(tmp_path / 'nomask.png')!r}.\n"
    assert main(["inpaint", "telea", str(tmp_path / "in.png")]) == 1
    assert capsys.readouterr().err == "hfimg: inpaint needs a mask: hfimg inpaint MODEL IMAGE MASK (or --mask MASK).\n"
    assert main(["inpaint", "telea", str(tmp_path), str(tmp_path / "nomask.png")]) == 1  # a folder of images
    assert capsys.readouterr().err == f"hfimg: mask: no such file or folder {str(tmp_path / 'nomask.png')!r}.\n"
    # Missing inputs are named before the model is looked for (a load can take seconds, or fail for its own reason).
    for image in (tmp_path / "in.png", tmp_path):
        assert main(["inpaint", "nobody/nothing", str(image), str(tmp_path / "nomask.png")]) == 1
        assert capsys.readouterr().err.startswith("hfimg: mask: no such file")
    with pytest.raises(SystemExit, match="cannot generate"):
        main(["generate", str(denoiser_dir)])
    assert main(["info", "nobody/nothing"]) == 1
    assert "not a bundled model" in capsys.readouterr().err


def test_an_output_name_without_an_image_extension_is_refused_before_any_work(denoiser_dir, tmp_path, capsys):
    Image.fromarray(np.full((9, 11), 100, dtype=np.uint8)).save(tmp_path / "in.png")
    for output, says in (
        ("out.xyz", "its extension '.xyz' is not an image format"),
        ("out", "it has no file extension"),
    ):
        assert main(["restore", str(denoiser_dir), str(tmp_path / "in.png"), "-o", str(tmp_path / output)]) == 1
        formats = ".png, .jpg, .jpeg, .webp, .bmp, .tif, .tiff (or another format Pillow writes)"
        assert capsys.readouterr().err == f"hfimg: -o {tmp_path / output}: {says}; end it with {formats}.\n"
        assert not (tmp_path / output).exists()
    assert main(["restore", str(denoiser_dir), str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'out.png'}\n"
    assert main(["generate", str(denoiser_dir), "-o", str(tmp_path / "grid.txt")]) == 1  # before the model's check
    assert "'.txt' is not an image format" in capsys.readouterr().err


def test_a_model_that_cannot_do_the_task_is_named_with_its_article(tmp_path):
    hfimg.create_model("inpaint-cnn", channels=1, base_channels=4, depth=2).save_pretrained(tmp_path / "inpainter")
    Image.fromarray(np.full((16, 16), 100, dtype=np.uint8)).save(tmp_path / "in.png")
    with pytest.raises(SystemExit, match="is an InpaintCNN, which cannot restore"):
        main(["restore", str(tmp_path / "inpainter"), str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")])


@pytest.fixture
def gan_dir(tmp_path):
    model = hfimg.create_model("dcgan", resolution=32, channels=1, latent_dim=8, base_channels=4)
    model.save_pretrained(tmp_path / "gan")
    return tmp_path / "gan"


@pytest.fixture
def garment(tmp_path):
    Image.fromarray(np.full((32, 32), 90, dtype=np.uint8)).save(tmp_path / "garment.png")
    mask = np.zeros((32, 32), dtype=np.uint8)
    mask[8:20, 8:20] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path / "garment.png", tmp_path / "mask.png"


def test_latent_search_steps_are_checked(gan_dir, garment, tmp_path, capsys):
    image, mask = (str(path) for path in garment)
    out = str(tmp_path / "out.png")
    with pytest.raises(SystemExit) as exit_info:  # 0 steps returned the search's random start as if searched
        main(["inpaint", str(gan_dir), image, mask, "--steps", "0", "-o", out])
    assert exit_info.value.code == 2 and "--steps: must be at least 1, got 0" in capsys.readouterr().err
    for command in (["inpaint", str(gan_dir), image, mask], ["restore", str(gan_dir), image]):
        assert main([*command, "--steps", "20000", "-o", out]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "steps=20,000 is above the limit of 10,000 gradient steps of a latent search" in err
        assert "HFIMG_MAX_SEARCH_STEPS=20000" in err
        assert main([*command, "--steps", "2", "-o", out]) == 0 and Image.open(out).size == (32, 32)
        capsys.readouterr()  # the progress bar of that search


def test_generate_writes_the_grid_of_the_libraries_samples_for_num_and_seed(gan_dir, tmp_path):
    from hfimg.imaging import images_to_grid

    model = hfimg.load(gan_dir)
    for num, seed in ((4, 3), (4, 5), (2, 3)):
        output = tmp_path / f"grid-{num}-{seed}.png"
        assert main(["generate", str(gan_dir), "--num", str(num), "--seed", str(seed), "-o", str(output)]) == 0
        expected = images_to_grid(model.generate(num, seed=seed))
        assert np.array_equal(np.asarray(Image.open(output)), np.asarray(expected))
    grids = [np.asarray(Image.open(tmp_path / f"grid-4-{seed}.png")) for seed in (3, 5)]
    assert not np.array_equal(*grids)  # the seed reached the model
    assert Image.open(tmp_path / "grid-2-3.png").size != Image.open(tmp_path / "grid-4-3.png").size  # and --num


def test_inpaint_writes_what_the_library_gives_for_the_same_image_and_mask(tmp_path):
    from hfimg.inpainting import load_inpainter

    model_dir = tmp_path / "inpainter"
    hfimg.create_model("inpaint-cnn", channels=3, base_channels=4, depth=2).save_pretrained(model_dir)
    pixels = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    mask = np.zeros((40, 56), dtype=np.uint8)
    mask[10:25, 20:40] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    for method in (str(model_dir), "telea"):
        output = tmp_path / f"out-{Path(method).name}.png"
        assert main(["inpaint", method, str(tmp_path / "in.png"), str(tmp_path / "mask.png"), "-o", str(output)]) == 0
        expected = load_inpainter(method)(tmp_path / "in.png", tmp_path / "mask.png").image
        written = np.asarray(Image.open(output))
        assert np.array_equal(written, np.asarray(expected))
        assert not np.array_equal(written[mask > 0], pixels[mask > 0])  # the hole was filled, not copied


def test_inpaint_passes_steps_and_backend_and_names_its_outputs_by_default(gan_dir, garment, tmp_path, monkeypatch):
    from hfimg.inpainting import load_inpainter
    from hfimg.tasks import InpaintOptions

    _, mask = garment
    image = tmp_path / "noise.png"  # texture the search fits differently step by step (a flat image it fits at once)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)).save(image)
    monkeypatch.chdir(tmp_path)
    assert main(["inpaint", str(gan_dir), str(image), str(mask), "--steps", "2"]) == 0
    two = np.asarray(load_inpainter(gan_dir)(image, mask, InpaintOptions(steps=2)).image)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "inpainted.png")), two)  # the default name
    assert not np.array_equal(two, np.asarray(load_inpainter(gan_dir)(image, mask, InpaintOptions(steps=30)).image))
    folder = tmp_path / "garments"
    folder.mkdir()
    Image.open(image).save(folder / "a.png")
    assert main(["inpaint", str(gan_dir), str(folder), str(mask), "--steps", "2"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "garments-inpainted" / "a.png")), two)
    # --backend reaches the model: bf16 gives what the library gives in bf16, which is not the fp32 result.
    model_dir = tmp_path / "inpainter"
    inpainter = hfimg.create_model("inpaint-cnn", channels=3, base_channels=4, depth=2)
    with torch.no_grad():  # a fresh head is silent (its output is its start fill, in any precision): wake it
        for parameter in inpainter.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(0)) * 0.2)
    inpainter.save_pretrained(model_dir)
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    results = {}
    for backend in ("fp32", "bf16"):
        out = tmp_path / f"{backend}.png"
        assert main(["inpaint", str(model_dir), "p.png", str(mask), "--backend", backend, "-o", str(out)]) == 0
        inpainter = load_inpainter(model_dir)
        inpainter.model.set_backend(backend)
        results[backend] = np.asarray(Image.open(out))
        assert np.array_equal(results[backend], np.asarray(inpainter(tmp_path / "p.png", mask).image))
    assert not np.array_equal(results["fp32"], results["bf16"])


def test_a_model_that_cannot_inpaint_is_one_line(denoiser_dir, garment):
    image, mask = (str(path) for path in garment)
    with pytest.raises(SystemExit, match=r"^hfimg: .*denoiser is a DenoiseCNN, which cannot inpaint"):
        main(["inpaint", str(denoiser_dir), image, mask])


def test_generate_takes_its_backend_and_only_a_generators_name(gan_dir, tmp_path, capsys):
    from hfimg.imaging import images_to_grid

    model = hfimg.load(gan_dir)
    grids = {}
    for backend in ("fp32", "bf16"):
        output = tmp_path / f"{backend}.png"
        assert (
            main(["generate", str(gan_dir), "--num", "4", "--seed", "1", "--backend", backend, "-o", str(output)]) == 0
        )
        assert capsys.readouterr().out == f"wrote {output}\n"
        model.set_backend(backend)
        grids[backend] = np.asarray(Image.open(output))
        assert np.array_equal(grids[backend], np.asarray(images_to_grid(model.generate(4, seed=1))))
    assert not np.array_equal(grids["fp32"], grids["bf16"])  # the flag reached the model
    capsys.readouterr()
    assert main(["generate", "telea", "-o", str(tmp_path / "t.png")]) == 1  # an inpainting method's name
    assert capsys.readouterr().err.startswith("hfimg: 'telea' is neither a bundled model")


def test_generate_by_default_writes_16_images_to_samples_png(gan_dir, tmp_path, monkeypatch):
    from hfimg.imaging import images_to_grid

    monkeypatch.chdir(tmp_path)
    assert main(["generate", str(gan_dir)]) == 0  # no seed: new images each time
    model = hfimg.load(gan_dir)
    sixteen, seventeen = (images_to_grid(model.generate(n, seed=0)).size for n in (16, 17))
    assert sixteen != seventeen and Image.open(tmp_path / "samples.png").size == sixteen


def test_a_seed_out_of_range_is_one_line(gan_dir, tmp_path, capsys):
    assert main(["generate", str(gan_dir), "--num", "1", "--seed", str(2**70), "-o", str(tmp_path / "g.png")]) == 1
    err = capsys.readouterr().err
    assert err == f"hfimg: seed must be a whole number from 0 to 2**64 - 1, got {2**70}; pick a smaller seed.\n"
    assert main(["generate", str(gan_dir), "--num", "1", "--seed", str(2**64 - 1), "-o", str(tmp_path / "g.png")]) == 0


def test_a_searching_method_shows_one_bar_of_its_steps_with_the_loss(gan_dir, garment, tmp_path, capsys):
    image, mask = (str(path) for path in garment)
    assert main(["inpaint", str(gan_dir), image, mask, "--steps", "3", "-o", str(tmp_path / "out.png")]) == 0
    bar = capsys.readouterr().err.split("\r")[-1]  # the bar's last state
    assert bar.startswith("inpaint: 100%") and "| 3/3 [" in bar
    assert re.search(r"(step/s|s/step), loss=\d\.\d{4}\]", bar)


def test_a_model_that_cannot_generate_is_named_with_its_article(denoiser_dir):
    with pytest.raises(SystemExit, match=r"^hfimg: .*denoiser is a DenoiseCNN, which cannot generate\.$"):
        main(["generate", str(denoiser_dir)])


def test_a_folder_run_fails_only_when_it_skipped_everything(denoiser_dir, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not a PNG")
    out = tmp_path / "out"
    assert main(["restore", str(denoiser_dir), str(folder), "-o", str(out)]) == 1  # nothing could be done
    Image.fromarray(np.full((9, 11), 100, dtype=np.uint8)).save(folder / "good.png")
    assert main(["restore", str(denoiser_dir), str(folder), "-o", str(out)]) == 0  # one written, one skipped
    assert main(["restore", str(denoiser_dir), str(folder), "-o", str(out)]) == 0  # one kept, one skipped
    assert "kept 1 already there, skipped 1" in capsys.readouterr().out


def test_steps_take_any_whole_number_from_one(gan_dir, garment, tmp_path, capsys):
    image, mask = (str(path) for path in garment)
    assert main(["inpaint", str(gan_dir), image, mask, "--steps", "1", "-o", str(tmp_path / "one.png")]) == 0
    with pytest.raises(SystemExit):
        main(["inpaint", str(gan_dir), image, mask, "--steps", "two"])
    assert "--steps: expected a whole number, got 'two'" in capsys.readouterr().err


def test_restore_writes_what_the_library_gives_with_its_options_and_default_names(
    denoiser_dir, gan_dir, garment, tmp_path, monkeypatch, capsys
):
    model = hfimg.load(denoiser_dir)
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (12, 14), dtype=np.uint8))
    monkeypatch.chdir(tmp_path)
    noisy.save("in.png")
    assert main(["restore", str(denoiser_dir), "in.png"]) == 0
    assert np.array_equal(np.asarray(Image.open("restored.png")), np.asarray(model.restore(noisy)))
    assert main(["restore", str(denoiser_dir), "in.png", "--ensemble", "-o", "ensemble.png"]) == 0
    ensemble = np.asarray(model.restore(noisy, ensemble=True))
    assert np.array_equal(np.asarray(Image.open("ensemble.png")), ensemble)
    assert not np.array_equal(ensemble, np.asarray(model.restore(noisy)))
    Path("photos").mkdir()
    noisy.save("photos/a.png")
    assert main(["restore", str(denoiser_dir), "photos", "--ensemble"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "photos-restored" / "a.png")), ensemble)
    capsys.readouterr()
    image, _ = garment
    assert main(["restore", str(gan_dir), str(image), "--steps", "2", "-o", "searched.png"]) == 0
    assert capsys.readouterr().err.split("\r")[-1].startswith("restore: 100%")  # its progress bar


def test_a_value_outside_a_flags_choices_is_refused_before_any_work(tmp_path, capsys):
    """--format and --backend take only their listed values, for every command that has them: argparse refuses the
    rest with its usage line and the choices (a folder run would otherwise fail only at its first write)."""
    image = tmp_path / "in.png"
    Image.new("L", (4, 4)).save(image)
    commands = {
        "generate": ["generate", "gan"],
        "inpaint": ["inpaint", "telea", str(image), str(image)],
        "restore": ["restore", "nl-means", str(image)],
        "export": ["export", "gan", "-o", str(tmp_path / "out")],
    }
    refused = [
        (commands["inpaint"] + ["--format", "gif"], "--format", "'jpeg', 'png', 'webp'"),
        (commands["restore"] + ["--format", "gif"], "--format", "'jpeg', 'png', 'webp'"),
        (commands["export"] + ["--format", "tflite"], "--format", "'onnx'"),
    ] + [
        (argv + ["--backend", "gpu"], "--backend", "'auto', 'fp32', 'fp32-cl', 'bf16', 'onnxruntime'")
        for name, argv in commands.items()
        if name != "export"
    ]
    for argv, flag, choices in refused:
        with pytest.raises(SystemExit) as raised:
            main(argv)
        err = capsys.readouterr().err
        assert raised.value.code == 2 and err.startswith("usage: hfimg "), argv
        assert f"argument {flag}: invalid choice: " in err and f"(choose from {choices})" in err, err
    assert not (tmp_path / "out").exists()


def test_export_needs_an_output_folder_and_names_onnx_its_format(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["export", "gan"])
    assert raised.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("the following arguments are required: -o/--output")
    assert build_parser().parse_args(["export", "gan", "-o", str(tmp_path)]).format == "onnx"

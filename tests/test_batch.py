"""`hfimg inpaint|restore MODEL FOLDER`: every image of a folder, formats kept, resumable, bad files counted."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image, ImageCms, JpegImagePlugin

import hfimg
from hfimg.batch import run_folder, save_like
from hfimg.cli import main


@pytest.fixture
def inpainter_dir(tmp_path):
    model = hfimg.create_model("inpaint-cnn", channels=3, base_channels=4, depth=2, dilations=[1])
    model.save_pretrained(tmp_path / "inpainter")
    return tmp_path / "inpainter"


def photo(seed: int, size: tuple[int, int] = (40, 30)) -> Image.Image:
    array = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(array)


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture
def folder(tmp_path):
    """Three JPEGs of quality 60 with an ICC profile and EXIF, one PNG, one corrupt file; one mask for all."""
    photos = tmp_path / "photos"
    photos.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "a phone"  # Make
    for i in range(3):
        photo(i).save(photos / f"p{i}.jpg", quality=60, icc_profile=srgb_profile(), exif=exif)
    photo(9).save(photos / "q.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[10:20, 10:30] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return photos


def test_folder_inpaint_keeps_formats_quality_and_profile_and_counts_bad_files(
    inpainter_dir, folder, tmp_path, capsys
):
    out = tmp_path / "out"
    code = main(["inpaint", str(inpainter_dir), str(folder), "--mask", str(tmp_path / "mask.png"), "-o", str(out)])
    assert code == 0
    report = capsys.readouterr().out
    assert "wrote 4, kept 0 already there, skipped 1" in report and "broken.jpg" in report
    assert sorted(p.name for p in out.iterdir()) == ["p0.jpg", "p1.jpg", "p2.jpg", "q.png"]
    with Image.open(folder / "p0.jpg") as source, Image.open(out / "p0.jpg") as result:
        assert result.format == "JPEG"
        assert result.quantization == source.quantization  # the input's quality
        assert result.info.get("icc_profile") == source.info["icc_profile"]
        assert result.getexif()[0x010F] == "a phone"
    with Image.open(out / "q.png") as result:
        assert result.format == "PNG"
        known = np.asarray(Image.open(tmp_path / "mask.png")) < 128
        assert np.array_equal(np.asarray(result)[known], np.asarray(photo(9))[known])  # lossless: exact


def test_folder_run_resumes_and_keeps_what_exists(inpainter_dir, folder, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["inpaint", str(inpainter_dir), str(folder), str(tmp_path / "mask.png"), "-o", str(out)]
    assert main(args) == 0
    (out / "p1.jpg").unlink()  # as if the run had stopped before it
    before = (out / "p0.jpg").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0
    assert "wrote 1, kept 3 already there" in capsys.readouterr().out
    assert (out / "p0.jpg").stat().st_mtime_ns == before
    assert not list(out.glob(".*partial"))


def test_folder_of_masks_and_a_chosen_format(inpainter_dir, folder, tmp_path, capsys):
    masks = tmp_path / "masks"
    masks.mkdir()
    for name in ("p0", "p1", "q"):  # p2 has no mask; q, after it, has one and is still done
        Image.open(tmp_path / "mask.png").save(masks / f"{name}.png")
    out = tmp_path / "out"
    assert main(["inpaint", str(inpainter_dir), str(folder), str(masks), "-o", str(out), "--format", "png"]) == 0
    report = capsys.readouterr().out
    assert "wrote 3" in report and "no mask named p2.*" in report
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png", "q.png"]


def test_folder_restore(tmp_path, folder, capsys):
    model_dir = tmp_path / "denoiser"
    hfimg.create_model("denoise-cnn", channels=3, features=4, depth=3).save_pretrained(model_dir)
    assert main(["restore", str(model_dir), str(folder), "-o", str(tmp_path / "clean")]) == 0
    assert "wrote 4, kept 0 already there, skipped 1" in capsys.readouterr().out
    # Each written file is the library's result for that input, written in the input's format (save_like, the
    # writer that keeps format, quality and profile): pixel for pixel, and never the input itself.
    model = hfimg.load(model_dir)
    for name in ("q.png", "p0.jpg", "p1.jpg", "p2.jpg"):
        expected_file = tmp_path / f"expected-{name}"
        save_like(
            model.restore(folder / name), folder / name, expected_file, "PNG" if name.endswith("png") else "JPEG"
        )
        written = np.asarray(Image.open(tmp_path / "clean" / name), dtype=np.int16)
        assert np.array_equal(written, np.asarray(Image.open(expected_file), dtype=np.int16))
        assert np.abs(written - np.asarray(Image.open(folder / name), dtype=np.int16)).mean() > 5


def test_an_image_the_mask_does_not_fit_is_skipped_with_the_reason(inpainter_dir, folder, tmp_path, capsys):
    photo(5, size=(20, 20)).save(folder / "a-small.png")  # first in name order: the others are still done after it
    out = tmp_path / "out"
    assert main(["inpaint", str(inpainter_dir), str(folder), str(tmp_path / "mask.png"), "-o", str(out)]) == 0
    report = capsys.readouterr().out
    assert "wrote 4" in report and "skipped a-small.png: mask size 40x30 does not match image size 20x20" in report
    assert sorted(p.name for p in out.iterdir()) == ["p0.jpg", "p1.jpg", "p2.jpg", "q.png"]


def test_mask_given_twice_or_missing_is_one_line(inpainter_dir, folder, tmp_path, capsys):
    mask = str(tmp_path / "mask.png")
    assert main(["inpaint", str(inpainter_dir), str(folder), mask, "--mask", mask]) == 1
    assert capsys.readouterr().err == "hfimg: give the mask once: as the third argument or with --mask, not both.\n"
    assert main(["inpaint", str(inpainter_dir), str(folder)]) == 1
    assert "needs a mask" in capsys.readouterr().err
    assert main(["inpaint", str(inpainter_dir), str(folder), str(tmp_path / "nomask")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_jpeg_without_alpha_from_an_rgba_png(inpainter_dir, tmp_path, capsys):
    photos = tmp_path / "rgba"
    photos.mkdir()
    rgba = photo(3).convert("RGBA")
    rgba.save(photos / "a.png")
    m = np.zeros((30, 40), dtype=np.uint8)
    m[5:10, 5:10] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    out = tmp_path / "out"
    assert main(["inpaint", str(inpainter_dir), str(photos), str(tmp_path / "m.png"), "-o", str(out), "--format",
                 "jpeg"]) == 0  # fmt: skip
    with Image.open(out / "a.jpg") as result:
        assert result.mode == "RGB" and result.size == (40, 30)


def test_an_interrupted_folder_run_says_so_in_one_line(inpainter_dir, folder, tmp_path, capsys, monkeypatch):
    import hfimg.batch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hfimg.batch, "save_like", interrupted)
    args = ["inpaint", str(inpainter_dir), str(folder), str(tmp_path / "mask.png"), "-o", str(tmp_path / "out")]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert err.endswith("hfimg: interrupted. Results written so far are kept: the same command goes on from there.\n")
    assert "Traceback" not in err


def clashing_folder(tmp_path) -> tuple:
    """Inputs whose results share a name: a.png + a.bmp and c.png + c.tif always (BMP and TIFF results are PNGs),
    d.jpg + d.jpeg with --format png; e.png has a name of its own."""
    photos = tmp_path / "clashing"
    photos.mkdir()
    for i, name in enumerate(["a.png", "a.bmp", "c.png", "c.tif", "d.jpg", "d.jpeg", "e.png"]):
        photo(i).save(photos / name)
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[10:20, 10:30] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return photos, tmp_path / "mask.png"


@pytest.mark.parametrize(
    ("extra", "clashes"),
    [
        ([], ["a.bmp and a.png -> a.png", "c.png and c.tif -> c.png"]),
        (["--format", "png"], ["d.jpeg and d.jpg -> d.png"]),
    ],
)
def test_inputs_whose_results_would_share_a_name_are_refused_before_anything_is_written(
    inpainter_dir, tmp_path, capsys, extra, clashes
):
    photos, mask = clashing_folder(tmp_path)
    out = tmp_path / "out"
    assert main(["inpaint", str(inpainter_dir), str(photos), str(mask), "-o", str(out), *extra]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert all(clash in err for clash in clashes) and "Rename those inputs" in err
    assert not out.exists()  # refused up front: not one result written and later "kept"


def test_inputs_with_names_of_their_own_all_get_a_result(inpainter_dir, tmp_path, capsys):
    photos, mask = clashing_folder(tmp_path)
    for name in ("a.bmp", "c.tif"):
        (photos / name).unlink()
    out = tmp_path / "out"
    assert main(["inpaint", str(inpainter_dir), str(photos), str(mask), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png", "d.jpeg", "d.jpg", "e.png"]


def test_the_input_folder_as_output_folder_is_refused(inpainter_dir, folder, tmp_path, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    link = tmp_path / "link"
    link.symlink_to(folder)
    for output in (folder, link, folder / ".." / folder.name):
        args = ["inpaint", str(inpainter_dir), str(folder), str(tmp_path / "mask.png"), "-o", str(output)]
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "is the input folder" in err and "another folder (-o)" in err and err.count("\n") == 1
    with pytest.raises(ValueError, match="is the input folder"):  # the Python API too
        run_folder(lambda image: Image.open(image), folder, folder)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_files_a_folder_run_does_not_take_are_named_like_unreadable_ones(tmp_path, folder, capsys):
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden").write_text("a file the system keeps")  # hidden files are not the user's inputs
    model_dir = tmp_path / "denoiser"
    hfimg.create_model("denoise-cnn", channels=3, features=4, depth=3).save_pretrained(model_dir)
    assert main(["restore", str(model_dir), str(folder), "-o", str(tmp_path / "clean")]) == 0
    out = capsys.readouterr().out
    assert "wrote 4, kept 0 already there, skipped 2" in out
    assert "skipped notes.txt: not an image file (taken: .jpg" in out and ".hidden" not in out


# --- run_folder on its own: what each refusal says, what each file gets ------------------------------------------


def double(image_path) -> Image.Image:
    """A process whose result is easy to predict: every pixel value doubled (saturating)."""
    with Image.open(image_path) as image:
        return image.point(lambda value: min(255, 2 * value))


def test_each_refusal_names_what_was_wrong(tmp_path, folder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotADirectoryError, match=f"^{folder / 'q.png'} is not a folder of images"):
        run_folder(double, folder / "q.png", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="^mask: no such file or folder '.*nowhere.png'"):
        run_folder(double, folder, tmp_path / "out", mask=tmp_path / "nowhere.png")
    with pytest.raises(ValueError, match=r"^format must be one of png, jpeg, webp, got 'gif'"):
        run_folder(double, folder, tmp_path / "out", fmt="gif")
    with pytest.raises(FileNotFoundError, match=r"empty holds no image files \(\.jpg, \.jpeg, \.png, \.webp, "):
        run_folder(double, tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything was made


def test_a_folder_run_writes_each_result_where_asked_and_names_what_it_skipped(tmp_path, folder, capsys):
    (folder / "notes.txt").write_text("not an image")
    output = tmp_path / "new" / "nested" / "out"  # folders that do not exist yet
    report = run_folder(double, folder, output)
    assert report.written == 4 and report.kept == 0
    assert report.skipped["notes.txt"] == "not an image file (taken: .jpg, .jpeg, .png, .webp, .bmp, .tif, .tiff)"
    assert report.skipped["broken.jpg"].startswith("not a readable image (")
    with Image.open(folder / "q.png") as source, Image.open(output / "q.png") as result:
        assert np.array_equal(np.asarray(result), np.minimum(255, 2 * np.asarray(source, dtype=np.int32)))
    assert report.summary() == (
        "wrote 4, kept 0 already there, skipped 2\n"
        "  skipped broken.jpg: " + report.skipped["broken.jpg"] + "\n"
        "  skipped notes.txt: " + report.skipped["notes.txt"]
    )
    # The progress bar is named after the process, counts images, and is named "images" for a nameless process.
    err = capsys.readouterr().err
    assert "double:" in err and ("image/s" in err or "s/image" in err)

    class Nameless:
        def __call__(self, path):
            return double(path)

    run_folder(Nameless(), folder, tmp_path / "again")
    assert "images:" in capsys.readouterr().err


def test_an_existing_result_is_kept_and_the_rest_still_done(tmp_path, folder):
    output = tmp_path / "out"
    output.mkdir()
    Image.new("RGB", (40, 30)).save(output / "p0.jpg")  # the first input's result is there already
    report = run_folder(double, folder, output)
    assert report.kept == 1 and report.written == 3
    assert sorted(p.name for p in output.iterdir()) == ["p0.jpg", "p1.jpg", "p2.jpg", "q.png"]


@pytest.mark.parametrize("clashes", [5, 6])
def test_a_refusal_for_shared_names_quotes_at_most_five_and_says_when_there_are_more(tmp_path, clashes):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(clashes):
        photo(i).save(inputs / f"{i}.png")
        photo(i).save(inputs / f"{i}.bmp")
    with pytest.raises(ValueError) as refused:
        run_folder(double, inputs, tmp_path / "out", fmt="png")
    message = str(refused.value)
    assert message.startswith(f"{clashes} output name(s) would be shared")
    assert message.count(" -> ") == 5 and message.count("; ") == 4 + (clashes > 5)
    assert ("; ...." in message) == (clashes > 5)
    quoted = message.split("all but one result lost: ")[1].split(". ")[0].split("; ")  # each clash, then "..."
    assert all(re.fullmatch(r"(\d)\.(png|bmp) and \1\.(png|bmp) -> \1\.png", clash) for clash in quoted[:5])
    assert quoted[5:] == (["..."] if clashes > 5 else [])


def test_saved_results_keep_upright_exif_jpeg_settings_grey_and_alpha(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: stored rotated; the result is stored upright
    source = tmp_path / "sideways.jpg"
    photo(0).save(source, quality=80, subsampling=0, exif=exif)  # 4:4:4 chroma, not the encoder's default 4:2:0
    save_like(photo(1), source, tmp_path / "out.jpg", "JPEG")
    with Image.open(tmp_path / "out.jpg") as result:
        assert result.getexif()[0x0112] == 1
        assert JpegImagePlugin.get_sampling(result) == 0
    png = tmp_path / "flat.png"
    photo(2).save(png)
    save_like(photo(3), png, tmp_path / "fromPNG.jpg", "JPEG")  # no tables to copy: quality 95
    expected = io.BytesIO()
    photo(3).save(expected, format="JPEG", quality=95)
    assert (tmp_path / "fromPNG.jpg").read_bytes() == expected.getvalue()
    grey = photo(4).convert("L")
    save_like(grey, png, tmp_path / "grey.jpg", "JPEG")
    assert Image.open(tmp_path / "grey.jpg").mode == "L"
    rgba = photo(5).convert("RGBA")
    save_like(rgba, png, tmp_path / "alpha.png", "PNG")
    assert Image.open(tmp_path / "alpha.png").mode == "RGBA"

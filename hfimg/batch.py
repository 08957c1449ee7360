"""Run a model over a folder of images: `hfimg inpaint MODEL INPUT_DIR --mask MASK -o OUT_DIR` (and `restore`).

* every image file of the folder (sorted by name; sub-folders are not entered) is processed on its own;
* the mask is one file for every image (a watermark at a fixed place) or a folder holding, for each image, a mask
  with the same name stem (`photo.jpg` -> `masks/photo.png`, any image format);
* the result keeps the input's name and format: a JPEG comes back as a JPEG with the input's quantisation tables
  (its quality) and chroma subsampling, and every output keeps the input's ICC colour profile and EXIF (orientation
  reset to upright, since the result is stored upright); `fmt` converts all outputs to one format instead;
* outputs are written under a temporary name and renamed when complete, so an interrupted run leaves no half-written
  file, and a rerun keeps every output that exists and does the rest (resumable);
* an unreadable image, a missing or wrongly sized mask, or an image the model refuses is skipped and counted, with
  its reason, and the run goes on;
* a run that could not keep every result is refused before anything is done: an output folder that is the input
  folder (each result would take its input's name, and be kept as done), and two inputs whose results would have
  one name (`a.png` and `a.bmp` both become `a.png`: the second would be kept as done, its result lost).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import ExifTags, Image, JpegImagePlugin
from tqdm.auto import tqdm

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}  # --format choices -> PIL format names
_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
MAX_CLASHES_SHOWN = 5  # clashing output names quoted in the refusal (the count says how many there are)


@dataclass
class BatchReport:
    """What a folder run did: outputs written, outputs already there (kept), inputs skipped with their reasons."""

    written: int = 0
    kept: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # input file name -> why

    def summary(self) -> str:
        text = f"wrote {self.written}, kept {self.kept} already there, skipped {len(self.skipped)}"
        return text + "".join(f"\n  skipped {name}: {why}" for name, why in sorted(self.skipped.items()))


def image_files(folder: Path) -> list[Path]:
    """The image files directly in `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def mask_for(image: Path, mask: Path) -> Path | None:
    """The mask of `image`: `mask` itself when it is a file; else the file in the folder `mask` with its name stem."""
    if mask.is_file():
        return mask
    return next((p for p in image_files(mask) if p.stem == image.stem), None)


def run_folder(
    process: Callable[..., Image.Image],
    inputs: Path,
    output: Path,
    mask: Path | None = None,
    fmt: str | None = None,
) -> BatchReport:
    """Apply `process(image)` (or `process(image, mask)` with `mask`) to every image of the folder `inputs`.

    Args:
        process: the model's image-level method, e.g. `model.inpaint` or `model.restore`.
        inputs: folder of images.
        output: folder for the results (created); results already there are kept.
        mask: one mask file for every image, or a folder of masks named like the images; None for `restore`.
        fmt: "png", "jpeg" or "webp" to write every result in that format; None keeps each input's format.

    Returns:
        The counts and the reasons for each skipped file.

    Raises:
        ValueError: the output folder is the input folder, or two inputs' results would have one name (nothing is
            written then).
    """
    if not inputs.is_dir():
        raise NotADirectoryError(f"{inputs} is not a folder of images.")
    if mask is not None and not mask.exists():
        raise FileNotFoundError(f"mask: no such file or folder {str(mask)!r}.")
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    files = image_files(inputs)
    if not files:
        raise FileNotFoundError(f"{inputs} holds no image files ({', '.join(IMAGE_SUFFIXES)}).")
    if output.resolve() == inputs.resolve() or (output.is_dir() and os.path.samefile(output, inputs)):
        raise ValueError(
            f"the output folder {output} is the input folder: every result would take its input's name and be kept "
            f"as already done. Write the results to another folder (-o)."
        )
    report = BatchReport()
    for other in sorted(p for p in inputs.iterdir() if p.is_file() and p not in files and not p.name.startswith(".")):
        report.skipped[other.name] = f"not an image file (taken: {', '.join(IMAGE_SUFFIXES)})"  # hidden files aside
    planned = plan_outputs(files, output, fmt, report)
    output.mkdir(parents=True, exist_ok=True)
    for path, target, out_format in tqdm(planned, desc=getattr(process, "__name__", "images"), unit="image"):
        if target.exists():
            report.kept += 1
            continue
        try:
            if mask is None:
                result = process(path)
            else:
                mask_file = mask_for(path, mask)
                if mask_file is None:
                    report.skipped[path.name] = f"no mask named {path.stem}.* in {mask}"
                    continue
                result = process(path, mask_file)
            save_like(result, path, target, out_format)
        except (OSError, ValueError, TypeError) as err:  # unreadable, wrong mask size, refused by the model
            report.skipped[path.name] = str(err)
            continue
        report.written += 1
    return report


def plan_outputs(
    files: list[Path], output: Path, fmt: str | None, report: BatchReport
) -> list[tuple[Path, Path, str]]:
    """(input, output file, PIL format) of each readable image; the unreadable ones go to `report.skipped`.

    Only the headers are read. Raises a ValueError naming the inputs whose results would share a name: the second
    one would be kept as already done, its result lost without a word.
    """
    planned = []
    for path in files:
        try:
            with Image.open(path) as original:
                original_format = original.format
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            report.skipped[path.name] = f"not a readable image ({err})"
            continue
        out_format = FORMATS[fmt] if fmt else original_format if original_format in _SUFFIX else "PNG"
        name = path.name if out_format == original_format else path.stem + _SUFFIX[out_format]
        planned.append((path, output / name, out_format))
    sharing: dict[str, list[str]] = {}
    for path, target, _ in planned:
        sharing.setdefault(target.name, []).append(path.name)
    clashes = [f"{' and '.join(names)} -> {name}" for name, names in sharing.items() if len(names) > 1]
    if clashes:
        shown = "; ".join(clashes[:MAX_CLASHES_SHOWN]) + ("; ..." if len(clashes) > MAX_CLASHES_SHOWN else "")
        raise ValueError(
            f"{len(clashes)} output name(s) would be shared by several inputs, and all but one result lost: {shown}. "
            f"Rename those inputs, or move them to another folder, so that each result has a name of its own."
        )
    return planned


def save_like(result: Image.Image, source: Path, target: Path, out_format: str) -> None:
    """Save `result` to `target` as `out_format`, with the source's ICC profile, EXIF and (JPEG to JPEG) quality.

    Written under a temporary name and renamed into place, so `target` exists only once complete.
    """
    with Image.open(source) as original:
        options: dict = {}
        if icc := original.info.get("icc_profile"):
            options["icc_profile"] = icc
        exif = original.getexif()
        if exif:
            exif[ExifTags.Base.Orientation] = 1  # the result is stored upright
            options["exif"] = exif.tobytes()
        if out_format == "JPEG":
            if original.format == "JPEG" and getattr(original, "quantization", None):
                options["qtables"] = original.quantization  # the input's quality, table for table
                options["subsampling"] = JpegImagePlugin.get_sampling(original)
            else:
                options["quality"] = 95
    if out_format == "JPEG" and result.mode not in ("L", "RGB"):
        result = result.convert("RGB")  # JPEG has no alpha
    partial = target.with_name(f".{target.name}.partial")
    try:
        result.save(partial, format=out_format, **options)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)

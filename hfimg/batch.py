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
  its reason, and the run goes on.
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
    output.mkdir(parents=True, exist_ok=True)
    report = BatchReport()
    for path in tqdm(files, desc=getattr(process, "__name__", "images"), unit="image"):
        try:
            with Image.open(path) as original:
                original_format = original.format
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            report.skipped[path.name] = f"not a readable image ({err})"
            continue
        out_format = FORMATS[fmt] if fmt else original_format if original_format in _SUFFIX else "PNG"
        target = output / (path.name if out_format == original_format else path.stem + _SUFFIX[out_format])
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

"""Build the photo corpus that restoration models (denoising, inpainting, deblurring) train on.

Sources, all local (see the Debian packages and Python wheels listed in the project's data notes):

* KDE Plasma wallpapers (`plasma-workspace-wallpapers`): the photographs only (the other wallpapers are
  renderings and illustrations); one resolution per wallpaper, the largest whose long side is <= 2048 px.
* MATE nature backgrounds (`mate-backgrounds`): all of `/usr/share/backgrounds/mate/nature/`.
* scikit-image sample photos (`skimage.data`) whose documentation states a licence.
* scikit-learn sample photos (`sklearn.datasets.load_sample_images`: china, flower).

Every photo is downscaled to a long side of at most 1024 px and written losslessly (PNG, so no JPEG artifacts are
added to what restoration models learn as "clean"). One photo per source is kept whole for validation, picked
deterministically (the smallest SHA-256 of its name). The output is an image folder that `hfimg.data.open_corpus`
and `datasets.load_dataset` read directly:

    data/photos/train/<source>-<name>.png          training photos
    data/photos/validation/<source>-<name>.png     held-out photos
    data/photos/{train,validation}/metadata.csv    source, original file, author, licence (extra dataset columns)
    data/photos/provenance.json                    the same for every photo, with where each licence was read

Usage:
    python scripts/build_photo_corpus.py --output data/photos
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import inspect
import json
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageOps

PLASMA_DIR = Path("/usr/share/wallpapers")
# The Plasma wallpapers that are photographs (checked by eye); the rest are renderings and illustrations.
PLASMA_PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "summer_1am",
)
MATE_DIR = Path("/usr/share/backgrounds/mate")
# skimage.data photos whose docstring gives a licence (moon, page and the stereo pair state none: left out).
SKIMAGE_PHOTOS = {
    "astronaut": "astronaut.png",
    "brick": "brick.png",
    "camera": "camera.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "coins": "coins.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "retina": "retina.jpg",
    "rocket": "rocket.jpg",
}
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
LICENCE_WORDS = re.compile(r"licen[cs]|copyright|public domain|CC0|CC-BY", re.IGNORECASE)


@dataclass
class Photo:
    """One photo of the corpus and where it came from."""

    name: str  # unique, used as the file name: "<source>-<original name>"
    source: str  # Debian package or Python package
    original_file: str
    author: str
    license: str
    license_source: str  # the file (or docstring) the licence was read from
    split: str = "train"
    width: int = 0
    height: int = 0


def parse_deb_copyright(path: Path) -> list[dict[str, str]]:
    """Paragraphs of a machine-readable Debian copyright file (DEP-5) as dicts of field -> value.

    A few lines of parsing: the `debian` Python package that reads DEP-5 is not a dependency of this project.
    """
    paragraphs, fields, key = [], {}, None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines() + [""]:
        if not line.strip():
            if fields:
                paragraphs.append(fields)
            fields, key = {}, None
        elif line[0].isspace() and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return paragraphs


def deb_licence(package: str, relative_file: str) -> tuple[str, str]:
    """(licence, copyright holders) that the package's copyright file gives for `relative_file`."""
    copyright_file = Path("/usr/share/doc") / package / "copyright"
    licence, holders = "unknown", "unknown"
    for paragraph in parse_deb_copyright(copyright_file):
        patterns = paragraph.get("Files", "").split()
        # DEP-5: the last paragraph whose Files pattern matches wins.
        if any(fnmatch.fnmatch(relative_file, pattern) for pattern in patterns):
            licence = paragraph.get("License", licence).splitlines()[0]
            holders = paragraph.get("Copyright", holders).replace("\n", "; ")
    return licence, holders


def plasma_photos(max_source_side: int) -> list[tuple[Path, Photo]]:
    found = []
    for wallpaper in PLASMA_PHOTOS:
        folder = PLASMA_DIR / wallpaper
        sizes = {}
        for file in (folder / "contents" / "images").glob("*x*.*"):
            match = re.fullmatch(r"(\d+)x(\d+)", file.stem)
            if match:
                sizes[file] = (int(match[1]), int(match[2]))
        if not sizes:
            print(f"  skipped Plasma wallpaper {wallpaper}: not installed", file=sys.stderr)
            continue
        fitting = [file for file, size in sizes.items() if max(size) <= max_source_side]
        if fitting:
            chosen = max(fitting, key=lambda file: sizes[file][0] * sizes[file][1])
        else:
            chosen = min(sizes, key=lambda file: sizes[file][0] * sizes[file][1])
        author, licence, metadata_file = read_plasma_metadata(folder)
        package_licence, _ = deb_licence("plasma-workspace-wallpapers", str(chosen.relative_to(PLASMA_DIR)))
        found.append(
            (
                chosen,
                Photo(
                    name=f"plasma-{wallpaper}",
                    source="plasma-workspace-wallpapers",
                    original_file=str(chosen),
                    author=author,
                    license=f"{licence} (package: {package_licence})",
                    license_source=f"{metadata_file}; /usr/share/doc/plasma-workspace-wallpapers/copyright",
                ),
            )
        )
    return found


def read_plasma_metadata(folder: Path) -> tuple[str, str, Path]:
    """(author, licence, metadata file) of a Plasma wallpaper, from metadata.json or metadata.desktop."""
    if (folder / "metadata.json").is_file():
        plugin = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))["KPlugin"]
        authors = ", ".join(author.get("Name", "") for author in plugin.get("Authors", []))
        return authors or "unknown", plugin.get("License", "unknown"), folder / "metadata.json"
    desktop = folder / "metadata.desktop"
    fields = dict(line.split("=", 1) for line in desktop.read_text(encoding="utf-8").splitlines() if "=" in line)
    author = fields.get("X-KDE-PluginInfo-Author", "unknown")
    return author, fields.get("X-KDE-PluginInfo-License", "unknown"), desktop


def mate_photos() -> list[tuple[Path, Photo]]:
    found = []
    for file in sorted((MATE_DIR / "nature").glob("*.jpg")):
        relative = f"nature/{file.name}"
        licence, holders = deb_licence("mate-backgrounds", relative)
        photo = Photo(
            name=f"mate-{file.stem}",
            source="mate-backgrounds",
            original_file=str(file),
            author=holders,
            license=licence,
            license_source="/usr/share/doc/mate-backgrounds/copyright",
        )
        found.append((file, photo))
    return found


def skimage_photos() -> list[tuple[Path, Photo]]:
    import skimage
    import skimage.data

    found = []
    data_dir = Path(skimage.data.data_dir)
    for name, file_name in SKIMAGE_PHOTOS.items():
        doc = inspect.getdoc(getattr(skimage.data, name)) or ""
        # The licence statement is a paragraph of the docstring (its README.txt in this version has none).
        paragraphs = [re.sub(r"^\w+\n-+\n", "", p) for p in doc.split("\n\n")]  # drop "Notes\n-----" headers
        statements = [" ".join(p.split()) for p in paragraphs if LICENCE_WORDS.search(p) and not p.startswith("..")]
        named = re.search(r"(?:photographer|owner) \(([^)]+)\)", " ".join(statements))
        if not statements or not (data_dir / file_name).is_file():
            print(f"  skipped skimage {name}: no licence statement or no file", file=sys.stderr)
            continue
        photo = Photo(
            name=f"skimage-{name}",
            source=f"scikit-image {skimage.__version__}",
            original_file=str(data_dir / file_name),
            author=named[1] if named else "not stated",
            license=" ".join(statements),
            license_source=f"docstring of skimage.data.{name}",
        )
        found.append((data_dir / file_name, photo))
    return found


def sklearn_photos() -> list[tuple[Path, Photo]]:
    import sklearn
    import sklearn.datasets

    folder = Path(sklearn.datasets.__file__).parent / "images"
    readme = (folder / "README.txt").read_text(encoding="utf-8")
    found = []
    for file_name in SKLEARN_PHOTOS:
        # README.txt has one block per image, starting "Image: <file>".
        block = readme.split(f"Image: {file_name}", 1)[1].split("Image:", 1)[0].strip()
        attribution = next((line for line in block.splitlines() if line.startswith("Attribution")), "unknown")
        licence_url = re.search(r"https://creativecommons\.org/\S+", block)
        photo = Photo(
            name=f"sklearn-{Path(file_name).stem}",
            source=f"scikit-learn {sklearn.__version__}",
            original_file=str(folder / file_name),
            author=attribution,
            license=f"CC-BY-2.0 ({licence_url[0] if licence_url else 'see README.txt'})",
            license_source=str(folder / "README.txt"),
        )
        found.append((folder / file_name, photo))
    return found


def choose_validation(photos: list[Photo], per_source: int) -> None:
    """Mark `per_source` photos of each source as validation: those whose name has the smallest SHA-256."""
    by_source: dict[str, list[Photo]] = {}
    for photo in photos:
        by_source.setdefault(photo.source, []).append(photo)
    for group in by_source.values():
        group.sort(key=lambda photo: hashlib.sha256(photo.name.encode()).hexdigest())
        # Never take a source's only photo out of training.
        for photo in group[: min(per_source, len(group) - 1)]:
            photo.split = "validation"


def write_photo(original: Path, target: Path, max_side: int) -> tuple[int, int]:
    with Image.open(original) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # keeps the aspect ratio, never enlarges
        image.save(target, format="PNG", optimize=False)
        return image.size


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("data/photos"), help="folder to write the corpus to")
    parser.add_argument("--max-side", type=int, default=1024, help="long side of the written photos, in pixels")
    parser.add_argument(
        "--max-source-side",
        type=int,
        default=2048,
        help="pick, per wallpaper, the largest provided resolution whose long side is at most this",
    )
    parser.add_argument("--validation-per-source", type=int, default=1, help="whole photos held out per source")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> list[Photo]:
    if args.output.exists():
        if not args.overwrite:
            raise SystemExit(f"{args.output} exists; pass --overwrite to rebuild it.")
        shutil.rmtree(args.output)

    pairs = plasma_photos(args.max_source_side) + mate_photos()
    for python_source in (skimage_photos, sklearn_photos):
        try:
            pairs += python_source()
        except ImportError as err:
            print(f"  skipped {python_source.__name__}: {err}", file=sys.stderr)
    if not pairs:
        raise SystemExit("no photos found: install plasma-workspace-wallpapers / mate-backgrounds or scikit-image.")
    photos = [photo for _, photo in pairs]
    choose_validation(photos, args.validation_per_source)

    for original, photo in pairs:
        folder = args.output / photo.split
        folder.mkdir(parents=True, exist_ok=True)
        photo.width, photo.height = write_photo(original, folder / f"{photo.name}.png", args.max_side)

    columns = ["file_name", "source", "original_file", "author", "license"]
    for split in ("train", "validation"):
        rows = [photo for photo in photos if photo.split == split]
        if not rows:
            continue
        with open(args.output / split / "metadata.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for photo in rows:
                writer.writerow([f"{photo.name}.png", photo.source, photo.original_file, photo.author, photo.license])
    provenance = {"max_side": args.max_side, "photos": [asdict(photo) for photo in photos]}
    (args.output / "provenance.json").write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n")

    counts: dict[str, dict[str, int]] = {}
    for photo in photos:
        counts.setdefault(photo.source, {"train": 0, "validation": 0})[photo.split] += 1
    print(f"Wrote {len(photos)} photos to {args.output}:")
    for source, split_counts in counts.items():
        print(f"  {source}: {split_counts['train']} train, {split_counts['validation']} validation")
    total_train = sum(c["train"] for c in counts.values())
    print(f"  total: {total_train} train, {len(photos) - total_train} validation")
    return photos


if __name__ == "__main__":
    main(parse_args())

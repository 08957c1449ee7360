"""Timing and machine description shared by the benchmark scripts."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import hfimg


def machine() -> str:
    """One line naming the machine, for RESULTS.md."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}, {datetime.date.today().isoformat()}"
    )


def median_ms(fn: Callable[[], object], *, repeats: int = 7, warmup: int = 2) -> tuple[float, float]:
    """Median and max wall time of `fn()` in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


VALIDATION_PHOTOS = Path("data/photos/validation")
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def validation_crops(folder: str | Path, size: int, per_photo: int) -> list[tuple[str, Image.Image]]:
    """Up to `per_photo` non-overlapping `size` x `size` RGB crops of each photo in `folder`, at the photo's scale.

    The crops are tiles of a grid centred on the photo, taken evenly spread over the grid (all of them when it has
    at most `per_photo`). A photo smaller than `size` is first enlarged (bicubic) until its shorter side fits, as
    `ImageStream(crop="random")` does for training crops. Grey photos are converted to RGB.

    Args:
        folder: a folder of photos, e.g. the held-out `data/photos/validation` of `scripts/build_photo_corpus.py`.
        size: side of the crops in pixels.
        per_photo: most crops taken from one photo.

    Returns:
        (name, crop) pairs in a fixed order, named "<photo>@<left>,<top>".
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no photo folder {str(folder)!r}; build the photo corpus with "
            f"`python scripts/build_photo_corpus.py --output data/photos` or pass --photos."
        )
    if size < 1 or per_photo < 1:
        raise ValueError(f"size and per_photo must be positive, got size={size}, per_photo={per_photo}.")
    paths = sorted(path for path in folder.iterdir() if path.suffix.lower() in PHOTO_SUFFIXES)
    if not paths:
        raise ValueError(f"{str(folder)!r} holds no photos ({', '.join(PHOTO_SUFFIXES)}).")
    crops = []
    for path in paths:
        with Image.open(path) as opened:
            photo = opened.convert("RGB")
        if min(photo.size) < size:
            scale = size / min(photo.size)
            photo = photo.resize(
                (max(size, round(photo.width * scale)), max(size, round(photo.height * scale))),
                Image.Resampling.BICUBIC,
            )
        columns, rows = photo.width // size, photo.height // size
        left0, top0 = (photo.width - columns * size) // 2, (photo.height - rows * size) // 2
        tiles = columns * rows
        for index in np.unique(np.linspace(0, tiles - 1, min(per_photo, tiles)).round().astype(int)):
            left, top = left0 + (index % columns) * size, top0 + (index // columns) * size
            crops.append((f"{path.stem}@{left},{top}", photo.crop((left, top, left + size, top + size))))
    return crops


def load_model(id_or_path: str) -> torch.nn.Module:
    """`hfimg.load` (its loading prints nothing, so stdout stays the report)."""
    return hfimg.load(id_or_path)


def file_sha256(id_or_path: str | Path, name: str) -> str | None:
    """SHA-256 of the file `name` of a model's local folder (a bundled id or a model folder); None for a Hub id,
    which has no local folder to read, or a folder without that file."""
    import hashlib

    from hfimg.registry import local_folder

    folder = local_folder(id_or_path)
    if folder is None or not (folder / name).is_file():
        return None
    digest = hashlib.sha256()
    with open(folder / name, "rb") as stored:
        for block in iter(lambda: stored.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(id_or_path: str | Path) -> str | None:
    """SHA-256 of a model's weights file (`model.safetensors`); None without a local folder or that file."""
    return file_sha256(id_or_path, "model.safetensors")


def config_sha256(id_or_path: str | Path) -> str | None:
    """SHA-256 of a model's `config.json`: the same weights measure differently under another configuration (the
    photo inpainters' `detail_transfer` is a flag of the config, not a weight)."""
    return file_sha256(id_or_path, "config.json")


def weights_record(models: Iterable[str | Path]) -> dict[str, str]:
    """{model id or folder: SHA-256 of its weights} of the models a report measured, so that a figure stays tied to
    the weights it describes (tests/test_provenance.py fails when a shipped model's weights are not these)."""
    record = {}
    for model in models:
        sha = weights_sha256(model)
        if sha is not None:
            record[str(model)] = sha
    return record


def with_configs(report: dict) -> dict:
    """`report` with "configs" ({model: SHA-256 of its config.json}) right after its "weights", for the same models:
    tests/test_provenance.py then also fails when a shipped model's configuration is not the one measured."""
    from benchmarks.reports import moved_after

    without = {key: value for key, value in report.items() if key != "configs"}
    configs = {model: sha for model in report.get("weights", {}) if (sha := config_sha256(model)) is not None}
    if not configs:  # nothing measured has a local config (Hub ids, folders since removed): nothing to record
        return without
    return moved_after({**without, "configs": configs}, "configs", "weights")


def command_line(module: str, argv: list[str] | None) -> str:
    """The command that reproduces this run, for the report."""
    import shlex

    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])


def publish(report: dict, text: str, json_path: Path | None) -> dict:
    """Print the markdown `text` and, when asked, write `report` as JSON (read by scripts/make_model_cards.py) and
    `text` beside it (the same name, .md), so the committed tables are always those of the committed results.

    The report gets the configs of the models it measured (`with_configs`); the dict returned is the one written."""
    import json

    print(text)
    report = with_configs(report)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        json_path.with_suffix(".md").write_text(text.rstrip("\n") + "\n")
    return report


def add_photo_arguments(parser, what: str) -> None:
    """The flags the photo benchmarks share: which models, which held-out photos, crop size, threads, JSON output."""
    parser.add_argument(
        "--models",
        nargs="*",
        default=None,
        help=f"{what}: bundled ids, model folders or Hub ids (inpainting: also registered method ids such as "
        "inpaint-cnn; default: the registered photo models).",
    )
    parser.add_argument("--photos", type=Path, default=VALIDATION_PHOTOS, help="Folder of held-out photos.")
    parser.add_argument("--size", type=int, default=256, help="Side of the square crops, in pixels.")
    parser.add_argument("--per_photo", type=int, default=4, help="Most crops taken from one photo.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results to this JSON file.")
    parser.add_argument(
        "--no_baselines",
        action="store_true",
        help="Models only, without the classical methods (quick comparisons of candidates; not for RESULTS.md).",
    )


def load_methods(model_ids: list[str], make_method: Callable, check: Callable[[torch.nn.Module], str | None]):
    """Load each model; `check(model)` returns why it does not fit the benchmark (or None).

    Returns ({display name: method}, [{"name", "model", "parameters"}]) for the report.
    """
    methods, described = {}, []
    for model_id in model_ids:
        model = load_model(model_id)
        problem = check(model)
        if problem:
            raise ValueError(f"{model_id!r} is a {type(model).__name__}, {problem}.")
        name = f"{type(model).__name__} ({model_id})"
        methods[name] = make_method(model)
        described.append({"name": name, "model": model_id, "parameters": model.num_parameters()})
    return methods, described


def bucket_label(bucket: tuple[float, float]) -> str:
    return f"{bucket[0]:.0%}-{bucket[1]:.0%}"

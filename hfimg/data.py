"""Streaming image corpora: one name opens a Hub dataset, a local folder or parquet/arrow files, or Fashion-MNIST.

`open_corpus` gives a `datasets.IterableDataset` with an "image" column (and "label" when the corpus has class
labels), read lazily so a corpus never has to fit in memory or on disk. `ImageStream` turns it into training
tensors: mode conversion, resize/crop, flips, shuffling with a buffer, equal shares per rank, skipping of corrupt
samples, and an exact save/restore of the stream position.

Example:
    >>> stream = ImageStream("fashion_mnist", resolution=32, channels=1, flip=True)
    >>> sample = next(iter(stream))
    >>> sample["image"].shape
    torch.Size([1, 32, 32])
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import logging
import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from PIL import Image

from hfimg.constants import FASHION_MNIST_HUB_ID, FASHION_MNIST_LABELS  # class names as spelled in the Hub copy
from hfimg.imaging import convert_mode, network_mode, pad_to, upright
from hfimg.offline import cache_dir, hub_reachable

logger = logging.getLogger(__name__)

# Corpora whose images have an orientation that flips and quarter turns would change: Fashion-MNIST's shoes and
# bags point one way, so a mirrored copy of its training images is measurably another data set
# (benchmarks/bench_generation.py checks every augmentation against judges trained without it).
ORIENTED_CORPORA = frozenset({"fashion_mnist", FASHION_MNIST_HUB_ID})


def orientation_warning(source: str, *, flip: bool, rotate: bool) -> str | None:
    """The warning a training run gets when it flips or turns the images of a corpus that has an orientation."""
    turned = [flag for flag, on in (("--random_flip", flip), ("--random_rotate", rotate)) if on]
    if not turned or source not in ORIENTED_CORPORA:
        return None
    return (
        f"{' and '.join(turned)} on {source}: its images point one way, so the model learns the data set mirrored "
        "or turned as well (a generator draws shoes facing both ways). Leave it off unless that is what you want."
    )


# Where the Debian package dataset-fashion-mnist puts the IDX files; HFIMG_FASHION_MNIST_DIR overrides it.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_FASHION_MNIST_FILES = {"train": "train", "test": "t10k"}  # split -> IDX file prefix

_LABEL_COLUMNS = ("label", "labels", "class", "fine_label")
# What PIL raises for a file it cannot read: unknown format (UnidentifiedImageError is an OSError), truncated
# data (OSError), a broken chunk (SyntaxError), an absurd size (DecompressionBombError), empty bytes (ValueError).
CROPS = ("center", "random", "pad")  # how ImageStream brings an image to R x R (see its docstring)
# Image.transpose operations for 1, 2 and 3 quarter turns (index 0 unused: no turn).
_QUARTER_TURNS = (None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
_UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def read_idx(path: str | Path) -> np.ndarray:
    """Read a gzipped IDX file (the MNIST format) into a uint8 array of shape (N,) or (N, rows, cols).

    IDX is a 4-byte magic (0, 0, dtype code, number of dims), one big-endian uint32 per dim, then the raw values.
    Written here because it is ten lines of numpy and no maintained package reads it without pulling more in.
    """
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{str(path)!r} is not a gzipped uint8 IDX file (magic bytes {data[:4].hex()}).")
    ndim = data[3]
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{str(path)!r}: header says shape {shape} but the file holds {values.size} values.")
    return values.reshape(shape)


def fashion_mnist_parquet(split: str = "train", *, idx_dir: str | Path | None = None) -> Path:
    """Convert the local Fashion-MNIST IDX files of `split` into a cached parquet file and return its path.

    The parquet file embeds each image as PNG bytes (not a path) with the Hub copy's features
    (`image`, `label` as ClassLabel), so it streams exactly like `zalando-datasets/fashion_mnist`. The conversion
    runs once; the cache file is named after a hash of the IDX files, so changed files are converted again.

    Args:
        split: "train" (60k images) or "test" (10k).
        idx_dir: folder with `{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`; default $HFIMG_FASHION_MNIST_DIR
            or the Debian package's folder.

    Returns:
        Path of the parquet file under `cache_dir() / "fashion_mnist"`.
    """
    if split not in _FASHION_MNIST_FILES:
        raise ValueError(f"fashion_mnist has splits {sorted(_FASHION_MNIST_FILES)}, got split={split!r}.")
    idx_dir = Path(idx_dir or os.environ.get("HFIMG_FASHION_MNIST_DIR", FASHION_MNIST_DIR))
    prefix = _FASHION_MNIST_FILES[split]
    images_file = idx_dir / f"{prefix}-images-idx3-ubyte.gz"
    labels_file = idx_dir / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (images_file, labels_file):
        if not path.is_file():
            raise FileNotFoundError(
                f"no Fashion-MNIST file {str(path)!r}; install the Debian package dataset-fashion-mnist, point "
                f"HFIMG_FASHION_MNIST_DIR at a folder holding the IDX files, or use {FASHION_MNIST_HUB_ID!r}."
            )
    digest = hashlib.sha256(images_file.read_bytes() + labels_file.read_bytes()).hexdigest()[:16]
    target = cache_dir() / "fashion_mnist" / f"{split}-{digest}.parquet"
    if target.exists():
        return target

    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3 or labels.shape != (len(images),):
        raise ValueError(
            f"{str(idx_dir)!r}: expected (N, H, W) images and N labels, got {images.shape} and {labels.shape}."
        )
    logger.info("Converting %d Fashion-MNIST %s images to %s (once).", len(images), split, target)
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=list(FASHION_MNIST_LABELS))}
    )

    def rows() -> Iterator[dict[str, Any]]:
        for image, label in zip(images, labels, strict=True):
            png = _png_bytes(Image.fromarray(image, mode="L"))
            yield {"image": {"bytes": png, "path": None}, "label": int(label)}

    table = datasets.Dataset.from_list(list(rows()), features=features)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a reader (or a second rank converting too) never sees half a file.
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    table.to_parquet(partial)
    os.replace(partial, target)
    return target


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _load(source: str, split: str) -> datasets.IterableDataset:
    """Open `source` as a streaming dataset of `split`, without looking at its columns yet."""
    if source == "fashion_mnist":
        idx_dir = Path(os.environ.get("HFIMG_FASHION_MNIST_DIR", FASHION_MNIST_DIR))
        if (idx_dir / "train-images-idx3-ubyte.gz").is_file():
            parquet = fashion_mnist_parquet(split, idx_dir=idx_dir)
            return datasets.load_dataset("parquet", data_files={split: str(parquet)}, split=split, streaming=True)
        source = FASHION_MNIST_HUB_ID  # no local copy: the same corpus from the Hub

    path = Path(source).expanduser()
    if path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file()):
        # A folder written by save_to_disk: load_dataset refuses those, load_from_disk reads them.
        saved = datasets.load_from_disk(str(path))
        if isinstance(saved, datasets.DatasetDict):
            if split not in saved:
                raise ValueError(f"{source!r} has splits {sorted(saved)}, not split={split!r}.")
            saved = saved[split]
        return saved.to_iterable_dataset()
    if path.is_file():
        builder = {".parquet": "parquet", ".arrow": "arrow"}.get(path.suffix)
        if builder is None:
            raise ValueError(
                f"{source!r} is a {path.suffix or 'suffix-less'} file; pass a .parquet or .arrow file, a folder "
                f"of images or data files, or a Hub dataset id."
            )
        # A single file is the whole corpus: it is served as the requested split.
        return datasets.load_dataset(builder, data_files={split: str(path)}, split=split, streaming=True)
    if path.is_dir():
        try:
            # datasets picks the builder from the files: imagefolder (sub-folders = labels), parquet or arrow.
            return datasets.load_dataset(str(path), split=split, streaming=True)
        except datasets.data_files.EmptyDatasetError:
            raise ValueError(f"corpus {source!r} is empty: the folder holds no images or data files.") from None
    if source.startswith((".", "/", "~")) or path.suffix in (".parquet", ".arrow"):
        raise FileNotFoundError(f"no such file or folder {source!r}.")
    reachable = hub_reachable()
    try:
        # When the Hub does not answer: the local cache at once, not ~25 s of retries first.
        with contextlib.nullcontext() if reachable else _cache_only():
            return datasets.load_dataset(source, split=split, streaming=True)
    except (ConnectionError, datasets.exceptions.DatasetNotFoundError, FileNotFoundError) as err:
        why = (
            f"loading it from the Hub failed ({err})"
            if reachable
            else "the Hugging Face Hub cannot be reached (offline, or HF_HUB_OFFLINE=1 is set) and it is not in the "
            "local cache"
        )
        raise ValueError(
            f"could not open corpus {source!r}: it is not a local path and {why}. Check the dataset id and the "
            f"connection, or pass a local folder, parquet or arrow file."
        ) from err


@contextlib.contextmanager
def _cache_only():
    """datasets in offline mode for one call: it reads its cache and fails at once instead of retrying the Hub."""
    saved = datasets.config.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE = saved


def open_corpus(source: str, *, split: str = "train", image_column: str | None = None) -> datasets.IterableDataset:
    """Open an image corpus as a streaming dataset with an "image" column and, when it has one, a "label" column.

    Args:
        source: a Hub dataset id; a local folder of images (sub-folders are labels); a local parquet or arrow
            file, or a folder of them (or one written by `save_to_disk`); or "fashion_mnist" (the local Debian
            copy converted once to a cached parquet file when present, else `zalando-datasets/fashion_mnist`).
        split: which split to read ("train", "validation", "test", ...).
        image_column: the column holding the images; found automatically when the corpus has one image column
            (or one named "image"/"img").

    Returns:
        A `datasets.IterableDataset` with columns "image" (decoded to PIL on iteration) and optionally "label"
        (an integer class); other columns are dropped.

    Raises:
        ValueError: when the corpus is empty or has no image column; the message names the columns found.
    """
    dataset = _load(source, split)
    features = dataset.features
    peek = iter(dataset.decode(False).take(1))
    first = next(peek, None)
    peek.close()  # release the open file now, not at interpreter exit
    if first is None:
        raise ValueError(f"corpus {source!r} (split {split!r}) is empty: it has no samples.")
    if features is None:
        raise ValueError(
            f"corpus {source!r} declares no column types, so no image column can be found; columns of the first "
            f"sample: {sorted(first)}. Store the images in an Image column (e.g. parquet written by datasets)."
        )
    found = {name: type(feature).__name__ for name, feature in features.items()}
    images = [name for name, feature in features.items() if isinstance(feature, datasets.Image)]
    if image_column is None:
        named = [name for name in images if name in ("image", "img")]
        if len(images) == 1 or named:
            image_column = (named or images)[0]
        elif not images:
            raise ValueError(f"corpus {source!r} has no image column; columns found: {found}.")
        else:
            raise ValueError(f"corpus {source!r} has several image columns {images}; name one with image_column=.")
    elif not isinstance(features.get(image_column), datasets.Image):
        raise ValueError(
            f"corpus {source!r} has no image column {image_column!r}; columns found: {found} "
            f"(image columns: {images})."
        )

    label_column = next((name for name in _LABEL_COLUMNS if _is_class_column(features.get(name))), None)
    keep = [image_column] + ([label_column] if label_column else [])
    dataset = dataset.select_columns(keep)
    renames = {old: new for old, new in zip(keep, ("image", "label"), strict=False) if old != new}
    return dataset.rename_columns(renames) if renames else dataset


def _is_class_column(feature: Any) -> bool:
    if isinstance(feature, datasets.ClassLabel):
        return True
    return isinstance(feature, datasets.Value) and feature.dtype.startswith(("int", "uint"))


class ImageStream(torch.utils.data.IterableDataset):
    """Training samples from a corpus: `{"image": (C, R, R) float tensor in [-1, 1], "label": int}`.

    Every rank reads the same shuffled order and keeps one sample of each round of `world_size` samples; a last
    incomplete round is dropped, so every rank gets exactly the same number of samples per epoch. (datasets'
    `split_dataset_by_node` is not used: its shard strategy gives ranks whole files of different lengths and its
    example strategy leaves the last round uneven, and an uneven share hangs distributed training.)

    Per-sample randomness (crop position, flip) comes from (seed, epoch, sample index, crop number), so a restored
    stream repeats it exactly. The shuffle buffer is reseeded each epoch by `set_epoch`.

    Args:
        source: anything `open_corpus` accepts.
        resolution: side R of the square output images.
        channels: 1 (grey, "L") or 3 (RGB).
        split: corpus split.
        image_column: image column name when it cannot be found automatically.
        shuffle_buffer: examples held in the shuffle buffer; 0 keeps the corpus order.
        seed: seed of the shuffle and of the per-sample randomness (the same on every rank).
        flip: random horizontal flips.
        rank, world_size: this process's rank and the number of processes sharing the corpus.
        repeat: loop over epochs forever; else one iteration is one epoch.
        crop: "center" (resize the shorter side to R, keep the middle), "random" (an R x R crop at the image's
            own scale, images smaller than R being enlarged first: the recipe for restoration models trained on
            crops of large photos) or "pad" (the image at its own size in the middle of a black R x R canvas,
            larger images shrunk to fit first: Fashion-MNIST's 28 px kept pixel for pixel in a 32 px frame, as the
            PyTorch DCGAN example does, instead of resampled).
        crops_per_image: random crops cut from each decoded image, one after the other (crop="random" only).
            Decoding a 1024-px photo costs far more than cutting a small crop from it; several crops per decode
            multiply the photo rate, at the price of correlated neighbours in a batch.
        scale_range: (low, high): each random crop sees the image at a random scale in this range (log-uniform),
            e.g. (0.5, 1.0) = between half and full size (crop="random" only). The crop is cut at R / scale px
            and shrunk to R, so no whole photo is ever resized. Small photo corpora stretched this way give the
            network edges and textures at several scales (as small-data restoration work trains).
        rotate: rotate by a random multiple of 90 degrees (photos only: garments have an up).
        jitter: mild colour and exposure changes of up to this fraction: one random gain for the whole image
            (exposure, 1 +- jitter) and one per channel (white balance, 1 +- jitter / 2), clipped to the range.

    `has_labels` says whether the corpus has class labels; `label_names` holds their names when the labels are a
    ClassLabel (else None).
    `skipped` counts unreadable samples; each is logged with a warning and never stops the stream. With
    `world_size > 1` a rank whose own sample is unreadable takes another sample of the same round instead, so
    shares stay equal. `state_dict`/`load_state_dict` save and restore the position of this process's iteration
    (use `DataLoader(num_workers=0)`: workers, which share the stream like extra ranks, iterate copies whose
    positions the parent does not see).
    """

    def __init__(
        self,
        source: str,
        *,
        resolution: int,
        channels: int,
        split: str = "train",
        image_column: str | None = None,
        shuffle_buffer: int = 1000,
        seed: int = 0,
        flip: bool = False,
        rank: int = 0,
        world_size: int = 1,
        repeat: bool = True,
        crop: str = "center",
        crops_per_image: int = 1,
        scale_range: tuple[float, float] = (1.0, 1.0),
        rotate: bool = False,
        jitter: float = 0.0,
    ):
        super().__init__()
        if resolution < 1:
            raise ValueError(f"resolution must be a positive number of pixels, got {resolution}.")
        if crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {crop!r}.")
        if crops_per_image < 1 or (crops_per_image > 1 and crop != "random"):
            raise ValueError(
                f"crops_per_image must be 1, or more with crop='random'; got {crops_per_image} with crop={crop!r}."
            )
        low, high = (float(v) for v in scale_range)
        if not 0 < low <= high <= 1:
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high <= 1, got {tuple(scale_range)}.")
        if (low, high) != (1.0, 1.0) and crop != "random":
            raise ValueError(f"scale_range {tuple(scale_range)} needs crop='random', got crop={crop!r}.")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be a fraction in [0, 1), got {jitter}.")
        if shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer must be >= 0 (0 = no shuffle), got {shuffle_buffer}.")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}.")
        self.source, self.split, self.resolution, self.mode = source, split, resolution, network_mode(channels)
        self.shuffle_buffer, self.seed, self.flip = shuffle_buffer, seed, flip
        self.crop, self.crops_per_image = crop, crops_per_image
        self.scale_range, self.rotate, self.jitter = (low, high), rotate, float(jitter)
        self.rank, self.world_size, self.repeat = rank, world_size, repeat

        # Images stay undecoded bytes/paths until `_decode`, so a corrupt file fails there (and is skipped),
        # not inside the datasets iterator, where an exception would end the whole stream.
        dataset = open_corpus(source, split=split, image_column=image_column)
        label = dataset.features.get("label")
        self.has_labels = label is not None
        self.label_names = list(label.names) if isinstance(label, datasets.ClassLabel) else None
        dataset = dataset.cast_column("image", datasets.Image(decode=False))
        if shuffle_buffer:
            # datasets fills the buffer from up to 10 files at once (better mixing), with reader threads that
            # pause ~5 s at the end of each epoch; a single file gains nothing from that, so it is read directly.
            interleaved = min(10, dataset.num_shards)
            dataset = dataset.shuffle(seed=seed, buffer_size=shuffle_buffer, max_buffer_input_shards=interleaved)
        self.dataset = dataset
        self._decoder = datasets.Image()

        self.epoch = 0  # current epoch
        self.position = 0  # samples of the (shuffled, global) epoch order already consumed, all ranks together
        self.crops_done = 0  # crops already taken from the image at `position`
        self.skipped = 0

    def state_dict(self) -> dict:
        """The stream position, JSON-serialisable; `load_state_dict` on a new stream resumes exactly there."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "crops_done": self.crops_done,
            "skipped": self.skipped,
            "source": self.source,
            "split": self.split,
            "seed": self.seed,
            "shuffle_buffer": self.shuffle_buffer,
            "crops_per_image": self.crops_per_image,
            "rank": self.rank,
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a position saved by `state_dict`; the next iteration yields exactly the samples that followed."""
        for key in ("source", "split", "seed", "shuffle_buffer", "crops_per_image", "rank", "world_size"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(
                    f"stream state was saved with {key}={state[key]!r} but this stream has "
                    f"{key}={getattr(self, key)!r}; a saved position only fits the same corpus, order and rank."
                )
        self.epoch, self.position, self.skipped = int(state["epoch"]), int(state["position"]), int(state["skipped"])
        self.crops_done = int(state.get("crops_done", 0))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rank, world_size = self.rank, self.world_size
        worker = torch.utils.data.get_worker_info()
        if worker is not None:  # DataLoader workers split this rank's share further, the same way
            rank, world_size = rank * worker.num_workers + worker.id, world_size * worker.num_workers

        while True:
            started_at = self.position
            yielded = 0
            self.dataset.set_epoch(self.epoch)
            # Read the shared order a round of `world_size` samples at a time; a last incomplete round is dropped
            # on every rank alike. (Plain iteration would, inside a DataLoader worker, let datasets hand each
            # worker whole files instead.)
            rounds = self.dataset.iter(batch_size=world_size, drop_last_batch=True)
            try:
                # Resume: skip the rounds already consumed. Undecoded: this reads those samples, nothing more.
                for _ in islice(rounds, self.position // world_size):
                    pass
                for columns in rounds:  # {"image": [...], "label": [...]}
                    round_ = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
                    chosen = self._image_of_round(round_, rank, self.position)
                    if chosen is None:
                        self.position += world_size
                        continue
                    index, image, label = chosen
                    for crop in range(self.crops_done, self.crops_per_image):
                        # Move the position past this sample before handing it out: a state saved after
                        # receiving it resumes with the next crop, or the next round.
                        last = crop + 1 == self.crops_per_image
                        self.crops_done = 0 if last else crop + 1
                        self.position += world_size if last else 0
                        yielded += 1
                        yield self._sample(image, label, index, crop)
            finally:
                rounds.close()  # also when the consumer stops early: closes the corpus files promptly
            if yielded == 0 and started_at == 0:
                raise ValueError(
                    f"corpus {self.source!r} gave no usable sample in a whole epoch: it has fewer samples than "
                    f"world_size={world_size}, or none of them could be read ({self.skipped} skipped)."
                )
            self.epoch += 1
            self.position = 0
            if not self.repeat:
                return

    def _image_of_round(
        self, round_: list[dict], rank: int, first_index: int
    ) -> tuple[int, Image.Image, int | None] | None:
        """(sample index, image, label) of this rank's sample of a round. If its image is unreadable, the next
        readable one of the round stands in, so every rank still gets one sample per round; None if none is."""
        for offset in range(len(round_)):
            member = (rank + offset) % len(round_)
            image = self._decode(round_[member]["image"])
            if image is not None:
                return first_index + member, image, round_[member].get("label")
            if offset == 0:
                self.skipped += 1
                where = _describe(round_[member]["image"])
                logger.warning(
                    "Skipping unreadable image %s in %r (%d skipped so far).", where, self.source, self.skipped
                )
        return None

    def _decode(self, value: dict[str, Any]) -> Image.Image | None:
        """Undecoded image (bytes or path) -> PIL image in the stream's mode; None when it cannot be read."""
        try:
            # Upright by its EXIF orientation, as every hfimg entry point reads an image.
            return convert_mode(upright(self._decoder.decode_example(value)), self.mode)
        except _UNREADABLE as err:
            logger.debug("Cannot read image %s: %s", _describe(value), err)
            return None

    def _sample(self, image: Image.Image, label: int | None, index: int, crop: int) -> dict[str, Any]:
        """Crop and flip a decoded image into a training sample; randomness from (seed, epoch, index, crop)."""
        rng = np.random.default_rng((self.seed, self.epoch, index, crop))
        image = self._crop(image, rng)
        if self.flip and rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if self.rotate:
            turns = int(rng.integers(4))  # quarter turns
            if turns:
                image = image.transpose(_QUARTER_TURNS[turns])
        # Scaled in numpy, in place: torch's multi-threaded element-wise ops cost ~30x more on images this small
        # when the cores are busy (as they are, with a training step running beside the loader).
        array = np.asarray(image).reshape(self.resolution, self.resolution, -1).transpose(2, 0, 1)  # (C, R, R)
        array = array.astype(np.float32)
        if self.jitter:
            gain = 1 + self.jitter * rng.uniform(-1, 1)  # exposure
            gains = gain * (1 + self.jitter / 2 * rng.uniform(-1, 1, size=(array.shape[0], 1, 1)))  # white balance
            array *= gains.astype(np.float32)
            np.clip(array, 0, 255, out=array)
        array *= 1 / 127.5
        array -= 1.0
        return {"image": torch.from_numpy(array), "label": -1 if label is None else int(label)}

    def _crop(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        size = self.resolution
        if self.crop == "pad":
            return pad_to(image, size)
        width, height = image.size
        if self.crop == "center" or min(width, height) < size:
            scale = size / min(width, height)
            if scale != 1:
                width, height = max(size, round(width * scale)), max(size, round(height * scale))
                image = image.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=3.0)
        if self.crop == "center":
            left, top = (width - size) // 2, (height - size) // 2
            return image.crop((left, top, left + size, top + size))
        low, high = self.scale_range
        if (low, high) != (1.0, 1.0):
            scale = float(np.exp(rng.uniform(np.log(low), np.log(high))))
            # Cut R / scale px (at most the whole shorter side) and shrink it to R: the image at that scale.
            source = min(round(size / scale), width, height)
            left, top = int(rng.integers(0, width - source + 1)), int(rng.integers(0, height - source + 1))
            window = image.crop((left, top, left + source, top + source))
            return (
                window if source == size else window.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
            )
        left, top = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
        return image.crop((left, top, left + size, top + size))


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return value.get("path") or f"<{len(value.get('bytes') or b'')} bytes>"
    return repr(value)

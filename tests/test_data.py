"""Streaming corpora: every source kind, mode conversion, Fashion-MNIST IDX, ranks, resume, corrupt files, errors."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from hfimg import data
from hfimg.data import FASHION_MNIST_LABELS, ImageStream, open_corpus, read_idx

CLASSES = ["cat", "dog"]
SOURCE_KINDS = ("imagefolder", "parquet", "save_to_disk", "arrow")


def make_images(count: int, size: tuple[int, int] = (12, 10), seed: int = 0) -> list[Image.Image]:
    """`count` distinct random RGB images of `size` (W, H)."""
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(count)]


def write_parquet(path: Path, images: list[Image.Image], labels: list[int], label_feature=None) -> Path:
    features = datasets.Features(
        {"image": datasets.Image(), "label": label_feature or datasets.ClassLabel(names=CLASSES)}
    )
    datasets.Dataset.from_dict({"image": images, "label": labels}, features=features).to_parquet(path)
    return path


def stream_all(source, **kwargs) -> list[dict]:
    kwargs = {"resolution": 8, "channels": 3, "shuffle_buffer": 0, "repeat": False} | kwargs
    return list(ImageStream(str(source), **kwargs))


def fingerprint(sample: dict) -> tuple[int, bytes]:
    return sample["label"], sample["image"].numpy().tobytes()


@pytest.fixture
def corpus(tmp_path):
    """Six images with labels, written as an imagefolder, a parquet file, a save_to_disk folder and an arrow file."""
    images, labels = make_images(6), [0, 1, 0, 1, 1, 0]
    folder = tmp_path / "folder"
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (folder / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        image.save(folder / CLASSES[label] / f"{i}.png")
    parquet = write_parquet(tmp_path / "corpus.parquet", images, labels)
    saved = tmp_path / "saved"
    datasets.Dataset.from_parquet(str(parquet)).save_to_disk(str(saved))
    arrow = next(saved.glob("*.arrow"))
    return {"imagefolder": folder, "parquet": parquet, "save_to_disk": saved, "arrow": arrow, "images": images}


def test_every_source_kind_streams_the_same_images(corpus):
    streamed = {kind: sorted(map(fingerprint, stream_all(corpus[kind]))) for kind in SOURCE_KINDS}
    assert len(streamed["imagefolder"]) == 6
    for kind in SOURCE_KINDS:
        assert streamed[kind] == streamed["imagefolder"], kind


def test_parquet_corpus_embeds_bytes_and_opens_with_labels(corpus):
    column = pq.read_table(corpus["parquet"]).column("image").to_pylist()
    assert all(cell["bytes"] and cell["path"] is None for cell in column)
    dataset = open_corpus(str(corpus["parquet"]))
    assert set(dataset.features) == {"image", "label"}
    first = next(iter(dataset))
    assert isinstance(first["image"], Image.Image) and first["label"] in (0, 1)


def test_samples_are_scaled_resized_and_labelled(corpus):
    samples = stream_all(corpus["parquet"], resolution=5, channels=1)
    assert [s["label"] for s in samples] == [0, 1, 0, 1, 1, 0]
    for sample, image in zip(samples, corpus["images"], strict=True):
        assert sample["image"].shape == (1, 5, 5) and sample["image"].dtype == torch.float32
        assert -1 <= sample["image"].min() and sample["image"].max() <= 1
        # 12x10 -> shorter side 5 (6x5), middle 5 columns; the same PIL operations give the same pixels.
        expected = np.asarray(image.convert("L").resize((6, 5), Image.Resampling.BICUBIC).crop((0, 0, 5, 5)))
        assert torch.allclose(sample["image"][0], torch.from_numpy(expected / 127.5 - 1).float(), atol=1e-6)


def test_label_names_and_corpus_without_labels(corpus, tmp_path):
    labelled = ImageStream(str(corpus["imagefolder"]), resolution=4, channels=3)
    assert labelled.has_labels and labelled.label_names == CLASSES
    folder = tmp_path / "flat"
    folder.mkdir()
    for i, image in enumerate(make_images(3)):
        image.save(folder / f"{i}.png")
    unlabelled = ImageStream(str(folder), resolution=4, channels=3, shuffle_buffer=0, repeat=False)
    assert not unlabelled.has_labels and unlabelled.label_names is None
    assert [s["label"] for s in unlabelled] == [-1, -1, -1]


def test_random_crop_is_a_window_of_the_full_scale_image(tmp_path):
    image = make_images(1, size=(20, 16))[0]
    parquet = write_parquet(tmp_path / "one.parquet", [image], [0])
    stream = ImageStream(str(parquet), resolution=8, channels=3, crop="random", shuffle_buffer=0)
    pixels = np.asarray(image).astype(np.float32) / 127.5 - 1
    windows = {(top, left) for top in range(9) for left in range(13)}
    found = set()
    for _, sample in zip(range(12), stream, strict=False):
        crop = sample["image"].permute(1, 2, 0).numpy()
        match = [
            (top, left)
            for top, left in windows
            if np.allclose(pixels[top : top + 8, left : left + 8], crop, atol=1e-6)
        ]
        assert len(match) == 1
        found.add(match[0])
    assert len(found) > 1  # crops move from epoch to epoch


def test_flip_mirrors_some_samples(tmp_path):
    image = make_images(1, size=(8, 8))[0]
    parquet = write_parquet(tmp_path / "one.parquet", [image], [0])
    stream = ImageStream(str(parquet), resolution=8, channels=3, flip=True, shuffle_buffer=0)
    original = torch.from_numpy(np.asarray(image) / 127.5 - 1).float().permute(2, 0, 1)
    flipped = [
        bool(torch.allclose(s["image"], original.flip(-1), atol=1e-6)) for _, s in zip(range(20), stream, strict=False)
    ]
    assert any(flipped) and not all(flipped)


def test_scale_rotation_and_jitter_augment_within_their_ranges(tmp_path):
    # A horizontal ramp: rotations make vertical ones, scaling changes the slope, jitter the overall level.
    ramp = np.tile(np.linspace(40, 215, 64).astype(np.uint8)[None, :, None], (64, 1, 3))
    parquet = write_parquet(tmp_path / "one.parquet", [Image.fromarray(ramp)], [0])
    settings = {"resolution": 16, "channels": 3, "crop": "random", "shuffle_buffer": 0}
    stream = ImageStream(str(parquet), scale_range=(0.25, 1.0), rotate=True, jitter=0.1, **settings)
    samples = [s["image"] for _, s in zip(range(40), stream, strict=False)]
    assert all(x.shape == (3, 16, 16) and x.min() >= -1 and x.max() <= 1 for x in samples)
    along_rows = [float((x[:, :, -1] - x[:, :, 0]).abs().mean()) for x in samples]  # ramp along the width
    along_columns = [float((x[:, -1] - x[:, 0]).abs().mean()) for x in samples]
    assert any(r > 0.05 > c for r, c in zip(along_rows, along_columns, strict=True))  # not turned (or half)
    assert any(c > 0.05 > r for r, c in zip(along_rows, along_columns, strict=True))  # a quarter turn
    slopes = [max(r, c) for r, c in zip(along_rows, along_columns, strict=True)]
    assert max(slopes) > 2 * min(slopes)  # a 1/4 scale window spans 4x the ramp of a full-scale one
    # White balance: the channels of one sample differ by up to jitter / 2.
    assert any(float((x[0] - x[2]).abs().mean()) > 0.01 for x in samples)
    again = [s["image"] for _, s in zip(range(40), ImageStream(str(parquet), scale_range=(0.25, 1.0), rotate=True,
                                                                 jitter=0.1, **settings), strict=False)]  # fmt: skip
    assert all(torch.equal(a, b) for a, b in zip(samples, again, strict=True))  # seeded: a resume repeats it
    plain = [s["image"] for _, s in zip(range(5), ImageStream(str(parquet), **settings), strict=False)]
    assert all(float((x[0] - x[2]).abs().max()) == 0 for x in plain)  # no jitter unless asked


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"crop": "random", "scale_range": (0.0, 1.0)}, "scale_range must be"),
        ({"crop": "center", "scale_range": (0.5, 1.0)}, "needs crop='random'"),
        ({"jitter": 1.0}, "jitter must be a fraction"),
    ],
)
def test_augmentation_settings_are_checked(tmp_path, kwargs, message):
    parquet = write_parquet(tmp_path / "one.parquet", make_images(1, size=(8, 8)), [0])
    with pytest.raises(ValueError, match=message):
        ImageStream(str(parquet), resolution=8, channels=3, **kwargs)


def test_stream_converts_mixed_modes(tmp_path):
    folder = tmp_path / "modes"
    folder.mkdir()
    Image.new("RGBA", (9, 9), (255, 0, 0, 255)).save(folder / "rgba.png")
    palette = Image.new("P", (9, 9), 0)
    palette.putpalette([255, 0, 0] + [0] * 765)
    palette.save(folder / "palette.png")
    Image.fromarray(np.full((9, 9), 65535, np.uint16)).save(folder / "grey16.png")
    Image.new("CMYK", (9, 9), (0, 255, 255, 0)).save(folder / "cmyk.jpg", quality=95)
    for channels in (1, 3):
        samples = stream_all(folder, resolution=4, channels=channels)
        assert len(samples) == 4
        assert all(s["image"].shape == (channels, 4, 4) for s in samples)
    colours = sorted(tuple(s["image"].mean(dim=(1, 2)).round(decimals=1).tolist()) for s in stream_all(folder))
    assert colours == [(1.0, -1.0, -1.0)] * 3 + [(1.0, 1.0, 1.0)]  # three reds (one via JPEG), one white


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fashion_dir(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    folder = tmp_path / "idx"
    folder.mkdir()
    arrays = {}
    for prefix, count in (("train", 5), ("t10k", 3)):
        arrays[prefix] = rng.integers(0, 256, (count, 6, 6), dtype=np.uint8), rng.integers(0, 10, count)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", arrays[prefix][0])
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", arrays[prefix][1])
    monkeypatch.setenv("HFIMG_FASHION_MNIST_DIR", str(folder))
    monkeypatch.setenv("HFIMG_CACHE", str(tmp_path / "cache"))
    return arrays


def test_fashion_mnist_from_idx_files(fashion_dir, tmp_path):
    dataset = open_corpus("fashion_mnist")
    assert list(dataset.features["label"].names) == list(FASHION_MNIST_LABELS)
    cached = list((tmp_path / "cache" / "fashion_mnist").glob("train-*.parquet"))
    assert len(cached) == 1
    assert all(cell["bytes"] and cell["path"] is None for cell in pq.read_table(cached[0]).column("image").to_pylist())

    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = fashion_dir[prefix]
        samples = stream_all("fashion_mnist", split=split, resolution=6, channels=1)
        assert [s["label"] for s in samples] == labels.tolist()
        for sample, image in zip(samples, images, strict=True):
            assert torch.allclose(sample["image"][0], torch.from_numpy(image / 127.5 - 1).float(), atol=1e-6)


def test_fashion_mnist_cache_is_reused(fashion_dir, tmp_path):
    first = data.fashion_mnist_parquet("train")
    stamp = first.stat().st_mtime_ns
    assert data.fashion_mnist_parquet("train") == first and first.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="splits"):
        data.fashion_mnist_parquet("validation")


def test_read_idx_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd")  # dtype float32, not uint8
    with pytest.raises(ValueError, match="not a gzipped uint8 IDX"):
        read_idx(bad)


INT_LABEL = datasets.Value("int64")


@pytest.fixture
def seven(tmp_path):
    """Seven 8x8 samples in one parquet file; the labels are the sample ids 0..6."""
    return write_parquet(tmp_path / "seven.parquet", make_images(7, size=(8, 8)), list(range(7)), INT_LABEL)


@pytest.fixture
def two_files(tmp_path):
    """The same seven samples in two parquet files of 1 and 6 rows."""
    folder = tmp_path / "shards"
    folder.mkdir()
    images = make_images(7, size=(8, 8))
    write_parquet(folder / "part-a.parquet", images[:1], [0], INT_LABEL)
    write_parquet(folder / "part-b.parquet", images[1:], list(range(1, 7)), INT_LABEL)
    return folder


def ranks_labels(source, **kwargs) -> list[list[int]]:
    return [[s["label"] for s in stream_all(source, rank=rank, world_size=2, **kwargs)] for rank in (0, 1)]


def test_two_ranks_get_disjoint_equal_shares(seven, two_files):
    # Two files and two ranks: split file by file, the ranks would get 1 and 6 samples. Both must get 3.
    for shares in (ranks_labels(two_files), ranks_labels(seven, shuffle_buffer=4, seed=5)):
        assert len(shares[0]) == len(shares[1]) == 3
        assert not set(shares[0]) & set(shares[1])
        assert set(shares[0]) | set(shares[1]) <= set(range(7))


def test_dataloader_workers_share_without_duplicates(seven):
    stream = ImageStream(str(seven), resolution=4, channels=3, shuffle_buffer=3, repeat=False)
    loader = torch.utils.data.DataLoader(stream, batch_size=1, num_workers=2)
    labels = [int(batch["label"]) for batch in loader]
    assert len(labels) == len(set(labels)) == 6  # two workers, three rounds of two; the seventh sample is dropped


def test_equal_shares_survive_a_corrupt_sample(tmp_path):
    folder = tmp_path / "with-bad"
    folder.mkdir()
    for i, image in enumerate(make_images(5)):
        image.save(folder / f"{i}.png")
    (folder / "5.png").write_bytes(b"not a png")
    options = {"resolution": 4, "channels": 3, "shuffle_buffer": 0, "repeat": False, "world_size": 2}
    streams = [ImageStream(str(folder), rank=rank, **options) for rank in (0, 1)]
    counts = [len(list(stream)) for stream in streams]
    assert counts == [3, 3]
    assert sum(stream.skipped for stream in streams) == 1


def take(iterator, count: int) -> list[tuple[int, bytes]]:
    return [fingerprint(next(iterator)) for _ in range(count)]


def test_state_dict_resumes_exactly_across_an_epoch_boundary(seven):
    options = {"resolution": 6, "channels": 3, "shuffle_buffer": 4, "seed": 3, "flip": True, "crop": "random"}
    stream = ImageStream(str(seven), **options)
    iterator = iter(stream)
    first_epoch = take(iterator, 7)
    assert stream.state_dict()["epoch"] == 0  # the end of an epoch is only seen when the next sample is asked for
    before = take(iterator, 3)
    state = json.loads(json.dumps(stream.state_dict()))
    expected = take(iterator, 9)  # rest of epoch 1 and into epoch 2

    resumed = ImageStream(str(seven), **options)
    resumed.load_state_dict(state)
    assert take(iter(resumed), 9) == expected
    second_epoch = (before + expected)[:7]
    assert sorted(label for label, _ in second_epoch) == list(range(7))
    assert [label for label, _ in second_epoch] != [label for label, _ in first_epoch]  # reshuffled per epoch


def test_crops_per_image_and_resume_inside_an_image(seven):
    options = {"resolution": 4, "channels": 3, "shuffle_buffer": 4, "crop": "random", "crops_per_image": 3}
    stream = ImageStream(str(seven), **options)
    iterator = iter(stream)
    samples = take(iterator, 4)  # all three crops of one image, and the first of the next
    state = stream.state_dict()
    assert state["crops_done"] == 1
    expected = take(iterator, 20)  # across the epoch boundary (7 images x 3 crops per epoch)
    labels = [label for label, _ in samples + expected]
    assert all(len(set(labels[i : i + 3])) == 1 for i in range(0, 24, 3))  # crops of one image come together
    assert len({pixels for _, pixels in samples[:3]}) == 3  # three different crops

    resumed = ImageStream(str(seven), **options)
    resumed.load_state_dict(state)
    assert take(iter(resumed), 20) == expected
    with pytest.raises(ValueError, match="crops_per_image"):
        ImageStream(str(seven), resolution=4, channels=3, crops_per_image=2)  # centre crops would all be equal


def test_state_dict_through_a_dataloader(seven):
    options = {"resolution": 4, "channels": 3, "shuffle_buffer": 3}
    loader = torch.utils.data.DataLoader(ImageStream(str(seven), **options), batch_size=2, num_workers=0)
    batches = iter(loader)
    next(batches), next(batches)
    state = loader.dataset.state_dict()
    expected = [next(batches) for _ in range(3)]

    resumed = ImageStream(str(seven), **options)
    resumed.load_state_dict(state)
    again = iter(torch.utils.data.DataLoader(resumed, batch_size=2, num_workers=0))
    for batch in expected:
        other = next(again)
        assert torch.equal(batch["image"], other["image"]) and torch.equal(batch["label"], other["label"])


def test_load_state_dict_rejects_another_stream(seven):
    state = ImageStream(str(seven), resolution=4, channels=3, seed=1).state_dict()
    with pytest.raises(ValueError, match="seed"):
        ImageStream(str(seven), resolution=4, channels=3, seed=2).load_state_dict(state)


def test_corrupt_files_are_skipped_counted_and_logged(tmp_path, caplog):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    for i, image in enumerate(make_images(4)):
        image.save(folder / f"{i}.png")
    (folder / "garbage.png").write_bytes(b"\x89PNG but not really")
    good = (folder / "0.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    stream = ImageStream(str(folder), resolution=4, channels=3, shuffle_buffer=0, repeat=False)
    with caplog.at_level(logging.WARNING, logger="hfimg.data"):
        samples = list(stream)
    assert len(samples) == 4
    assert stream.skipped == 2 and stream.state_dict()["skipped"] == 2
    assert sum("unreadable" in record.message for record in caplog.records) == 2


def test_corpus_of_only_corrupt_files_fails_instead_of_looping(tmp_path):
    folder = tmp_path / "all-bad"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="no usable sample"):
        next(iter(ImageStream(str(folder), resolution=4, channels=3)))


def test_empty_and_imageless_corpora_fail_at_once(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        open_corpus(str(tmp_path / "empty"))

    text_only = tmp_path / "text.parquet"
    datasets.Dataset.from_dict({"caption": ["a", "b"], "score": [1.0, 2.0]}).to_parquet(text_only)
    with pytest.raises(ValueError, match="no image column.*caption.*score"):
        open_corpus(str(text_only))

    no_rows = write_parquet(tmp_path / "none.parquet", [], [])
    with pytest.raises(ValueError, match="empty"):
        ImageStream(str(no_rows), resolution=4, channels=3)

    with pytest.raises(ValueError, match="no image column 'photo'.*image"):
        open_corpus(str(write_parquet(tmp_path / "ok.parquet", make_images(1), [0])), image_column="photo")

    with pytest.raises(FileNotFoundError, match="no such file"):
        open_corpus(str(tmp_path / "missing.parquet"))


def test_named_image_column_is_renamed(tmp_path):
    path = tmp_path / "photos.parquet"
    features = datasets.Features(
        {"photo": datasets.Image(), "mask": datasets.Image(), "note": datasets.Value("string")}
    )
    images = make_images(2)
    datasets.Dataset.from_dict(
        {"photo": images, "mask": images[::-1], "note": ["x", "y"]}, features=features
    ).to_parquet(path)
    with pytest.raises(ValueError, match="several image columns"):
        open_corpus(str(path))
    dataset = open_corpus(str(path), image_column="mask")
    assert list(dataset.features) == ["image"]
    assert np.array_equal(np.asarray(next(iter(dataset))["image"]), np.asarray(images[1]))


def test_hub_ids_go_to_load_dataset(tmp_path, monkeypatch):
    local = write_parquet(tmp_path / "hub.parquet", make_images(2), [1, 0])
    real_load = datasets.load_dataset
    calls = []

    def fake_load(path, *args, **kwargs):
        calls.append((path, kwargs))
        if path == "someone/offline":
            raise ConnectionError("Couldn't reach 'someone/offline' on the Hub")
        return real_load("parquet", data_files={"train": str(local)}, split="train", streaming=True)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    assert [s["label"] for s in stream_all("someone/pictures")] == [1, 0]
    assert calls[0] == ("someone/pictures", {"split": "train", "streaming": True})
    with pytest.raises(ValueError, match="someone/offline.*Hub"):
        open_corpus("someone/offline")


def test_stream_turns_exif_rotated_photos_upright(tmp_path):
    folder = tmp_path / "phone"
    folder.mkdir()
    stored = Image.new("RGB", (32, 16), (220, 20, 20))  # stored: left half blue, right half red
    stored.paste((20, 20, 220), (0, 0, 16, 16))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: the stored left half is on top
    stored.save(folder / "phone.jpg", exif=exif, quality=95)
    (sample,) = stream_all(folder, resolution=16, channels=3)
    image = sample["image"]  # (3, 16, 16) in [-1, 1], the middle of the upright 16x32 photo
    assert image[2, 1].mean() > 0.5 and image[0, 1].mean() < -0.5  # top row blue
    assert image[0, -2].mean() > 0.5 and image[2, -2].mean() < -0.5  # bottom row red


def test_pad_frames_an_image_unscaled_and_shrinks_a_larger_one(tmp_path):
    small, large = make_images(1, size=(6, 6))[0], make_images(1, size=(20, 10))[0]
    parquet = write_parquet(tmp_path / "two.parquet", [small, large], [0, 1])
    stream = ImageStream(str(parquet), resolution=8, channels=3, crop="pad", shuffle_buffer=0, repeat=False)
    framed, shrunk = (sample["image"] for sample in stream)
    pixels = torch.from_numpy(np.asarray(small).astype(np.float32) / 127.5 - 1).permute(2, 0, 1)
    torch.testing.assert_close(framed[:, 1:7, 1:7], pixels)  # every pixel as it was
    assert (framed[:, 0] == -1).all() and (framed[:, :, -1] == -1).all()  # in a black frame
    assert shrunk.shape == (3, 8, 8) and (shrunk[:, :2] == -1).all() and (shrunk[:, -2:] == -1).all()
    assert (shrunk[:, 2:6] != -1).any()  # 20 wide, 10 high -> 8 x 4, framed above and below
    with pytest.raises(ValueError, match="crop must be one of"):
        ImageStream(str(parquet), resolution=8, channels=3, crop="zoom")


def test_flipping_or_turning_an_oriented_corpus_is_warned_about():
    from hfimg.data import orientation_warning

    assert "--random_flip on fashion_mnist" in orientation_warning("fashion_mnist", flip=True, rotate=False)
    both = orientation_warning("zalando-datasets/fashion_mnist", flip=True, rotate=True)
    assert "--random_flip and --random_rotate" in both
    assert orientation_warning("fashion_mnist", flip=False, rotate=False) is None
    assert orientation_warning("data/photos", flip=True, rotate=True) is None  # photos allow both

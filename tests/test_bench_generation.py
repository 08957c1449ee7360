"""benchmarks.bench_generation's choice of real images: the test split, or the tail of the train split for choosing
a checkpoint without looking at the test split."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package lives at the repository root
from benchmarks import bench_generation, judging  # noqa: E402
from tests.test_bench_prior import garments  # noqa: E402


@pytest.fixture
def reads(monkeypatch) -> list[tuple[str, int, int]]:
    """Every (split, count, start) the benchmark asks real images for; each read gets garments of its own."""
    calls = []

    def fake_real_images(split: str, count: int, start: int = 0) -> list:
        calls.append((split, count, start))
        return list(garments(count, seed=len(calls)))

    monkeypatch.setattr(bench_generation, "real_images", fake_real_images)
    return calls


def run(against: str, tmp_path: Path) -> dict:
    return bench_generation.main(
        [
            "--models", "hfimg/dcgan-fashion-mnist", "--judges", *judging.JUDGES[:1], "--num_samples", "16",
            "--two_sample_steps", "2", "--two_sample_seeds", "1", "--no_references", "--against", against,
            "--json", str(tmp_path / f"{against}.json"),
        ]
    )  # fmt: skip


def test_against_train_reads_the_last_training_images_and_says_so(reads, tmp_path, capsys):
    report = run("train", tmp_path)
    assert reads == [("train", 16, judging.TRAIN_SPLIT_SIZE - 16)]  # the tail, away from the floor's first images
    assert report["split"] == "train"
    text = capsys.readouterr().out
    assert "against the last 16 training images (checkpoint selection; the test split is not used)" in text
    assert "| train split |" in text and "| test split |" not in text
    assert "telling the set from those train images" in text  # the two-sample test's other side, too


def test_the_default_is_the_first_test_images(reads, tmp_path, capsys):
    report = run("test", tmp_path)
    assert reads == [("test", 16, 0)] and report["split"] == "test"
    text = capsys.readouterr().out
    assert "against the first 16 test images" in text and "| test split |" in text


def test_real_images_starts_where_it_is_told(monkeypatch):
    import hfimg.data

    images = garments(10)
    monkeypatch.setattr(
        hfimg.data, "open_corpus", lambda name, split: iter({"image": Image.fromarray(image)} for image in images)
    )
    assert [image.tolist() for image in judging.real_images("train", 3, start=6)] == images[6:9].tolist()
    with pytest.raises(ValueError, match="has only 10 images, fewer than 12"):
        judging.real_images("train", 4, start=8)

"""Random hole masks: ratio ranges, kinds, reproducibility, batch tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hfimg.masks import HOLE_BUCKETS, MASK_KINDS, random_mask, random_masks


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("bucket", HOLE_BUCKETS, ids=lambda b: f"{b[0]:.1f}-{b[1]:.1f}")
def test_hole_ratio_lands_in_the_bucket(kind, bucket):
    ratios = [random_mask(64, 96, hole_range=bucket, kind=kind, seed=seed).mean() for seed in range(12)]
    low, high = bucket
    assert all(low <= ratio <= high for ratio in ratios), ratios
    # The target is drawn across the range, not parked at one end.
    assert min(ratios) < (low + high) / 2 < max(ratios)


def test_mask_is_bool_and_sized():
    hole = random_mask(40, 70, seed=0)
    assert hole.dtype == bool and hole.shape == (40, 70)


def test_same_seed_same_mask_other_seed_other_mask():
    for kind in MASK_KINDS:
        first = random_mask(64, 64, kind=kind, seed=7)
        assert np.array_equal(first, random_mask(64, 64, kind=kind, seed=7))
        assert not np.array_equal(first, random_mask(64, 64, kind=kind, seed=8))


def test_rng_gives_a_reproducible_sequence():
    sequence = [random_mask(32, 32, rng=np.random.default_rng(3)) for _ in range(2)]
    rng = np.random.default_rng(3)
    again = [random_mask(32, 32, rng=rng) for _ in range(2)]
    assert np.array_equal(sequence[0], again[0])
    assert not np.array_equal(again[0], again[1])  # one generator moves on


def corner_fraction(hole: np.ndarray) -> float:
    """Share of the boundary's 2x2 windows that are corners (1 or 3 hole pixels) rather than straight edges (2)."""
    h = hole.astype(int)
    counts = h[:-1, :-1] + h[1:, :-1] + h[:-1, 1:] + h[1:, 1:]
    boundary = (counts > 0) & (counts < 4)
    return float(((counts == 1) | (counts == 3)).sum() / boundary.sum())


def test_boxes_have_straight_edges_and_strokes_do_not():
    boxes = [corner_fraction(random_mask(128, 128, kind="boxes", seed=seed)) for seed in range(5)]
    strokes = [corner_fraction(random_mask(128, 128, kind="strokes", seed=seed)) for seed in range(5)]
    assert max(boxes) < 0.15 < 0.3 < min(strokes)
    mixed = random_mask(128, 128, kind="mixed", seed=2)
    assert not np.array_equal(mixed, random_mask(128, 128, kind="boxes", seed=2))


def test_tiny_masks_still_hit_the_range():
    for seed in range(10):
        assert 0.1 <= random_mask(8, 8, hole_range=(0.1, 0.2), seed=seed).mean() <= 0.2


def test_impossible_requests_are_refused():
    with pytest.raises(ValueError, match="no whole number"):
        random_mask(3, 3, hole_range=(0.12, 0.2))  # needs 1.08 to 1.8 pixels
    with pytest.raises(ValueError, match="hole_range"):
        random_mask(8, 8, hole_range=(0.5, 0.1))
    with pytest.raises(ValueError, match="kind"):
        random_mask(8, 8, kind="circles")
    with pytest.raises(ValueError, match="not both"):
        random_mask(8, 8, seed=1, rng=np.random.default_rng(1))


def test_random_masks_batch():
    masks = random_masks(4, 32, 48, hole_range=(0.2, 0.3), generator=torch.Generator().manual_seed(0))
    assert masks.shape == (4, 1, 32, 48) and masks.dtype == torch.float32
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    ratios = masks.mean(dim=(1, 2, 3))
    assert ((ratios >= 0.2) & (ratios <= 0.3)).all()
    assert not torch.equal(masks[0], masks[1])
    again = random_masks(4, 32, 48, hole_range=(0.2, 0.3), generator=torch.Generator().manual_seed(0))
    assert torch.equal(masks, again)


def test_extreme_ranges_finish():
    assert random_mask(32, 32, hole_range=(0.0, 0.0), seed=0).sum() == 0
    assert random_mask(32, 32, hole_range=(1.0, 1.0), seed=0).all()
    assert 0.95 <= random_mask(64, 64, hole_range=(0.95, 1.0), seed=0).mean() <= 1.0

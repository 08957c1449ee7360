"""Random hole masks for training and evaluating inpainting models (True / 1.0 / white = hole).

Free-form strokes follow the DeepFill v2 recipe (Yu et al., 2019, "Free-Form Image Inpainting with Gated
Convolution", also used by RFR-Net): a stroke is a polyline of 4-12 vertices, each segment of random direction and
length around 1/8 of the image diagonal, drawn with a random brush width and round joints. Boxes are random
axis-aligned rectangles. Pieces are added one by one until the hole covers a target fraction drawn uniformly
from `hole_range`; a piece that would overshoot it is drawn again smaller, so the ratio always lands inside.

Example:
    >>> hole = random_mask(256, 256, hole_range=(0.2, 0.3), seed=0)
    >>> bool(0.2 <= hole.mean() <= 0.3)
    True
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

# Hole-ratio buckets used to report inpainting quality by hole size (as in the DeepFill / RFR-Net evaluations).
HOLE_BUCKETS = ((0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5))
MASK_KINDS = ("strokes", "boxes", "mixed")

_SHRINK = 0.7  # a piece that overshoots is redrawn at least this much smaller
_MIN_SCALE = 0.02  # below this, single pixels are added instead of pieces
_MAX_PIECES = 200  # or after this many pieces (nearly full masks: random pieces rarely hit the last free pixels)


def random_mask(
    height: int,
    width: int,
    *,
    hole_range: tuple[float, float] = (0.1, 0.5),
    kind: str = "mixed",
    seed: int | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Draw a random hole mask whose hole ratio lies in `hole_range`.

    Args:
        height, width: mask size in pixels.
        hole_range: (low, high) fraction of pixels that are hole, 0 <= low <= high <= 1.
        kind: "strokes" (free-form brush strokes), "boxes" (rectangles) or "mixed" (both, piece by piece).
        seed: seed for a reproducible mask (give `seed` or `rng`, not both).
        rng: numpy generator to draw from, for a sequence of masks.

    Returns:
        bool array (height, width), True = hole.
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"kind must be one of {MASK_KINDS}, got {kind!r}.")
    if height < 1 or width < 1:
        raise ValueError(f"mask size must be positive, got {height}x{width}.")
    low, high = hole_range
    if not 0 <= low <= high <= 1:
        raise ValueError(f"hole_range must be (low, high) with 0 <= low <= high <= 1, got {hole_range}.")
    if seed is not None and rng is not None:
        raise ValueError("give either seed or rng, not both.")
    rng = rng if rng is not None else np.random.default_rng(seed)

    pixels = height * width
    fewest, most = math.ceil(low * pixels - 1e-9), math.floor(high * pixels + 1e-9)
    if fewest > most:
        raise ValueError(
            f"a {height}x{width} mask has no whole number of hole pixels in hole_range={hole_range}; "
            f"widen the range or use a larger mask."
        )
    target = int(rng.integers(fewest, most + 1))  # hole pixels to reach
    # Stop within a quarter of the range above the target, so the ratios spread over the whole range instead of
    # piling up at its top (a large stroke crossing the target would otherwise often land near `most`).
    ceiling = min(most, target + max(1, (most - fewest) // 4))

    hole = np.zeros((height, width), dtype=bool)
    count, scale = 0, 1.0
    for attempt in range(_MAX_PIECES + 1):
        if count >= target:
            break
        if scale < _MIN_SCALE or attempt == _MAX_PIECES:
            # Pieces this small are a few pixels anyway: finish with single pixels, which cannot overshoot.
            free = np.flatnonzero(~hole)
            hole.flat[rng.choice(free, size=target - count, replace=False)] = True
            break
        use_box = kind == "boxes" or (kind == "mixed" and rng.random() < 0.5)
        piece = _box(height, width, scale, rng) if use_box else _stroke(height, width, scale, rng)
        grown = hole | piece
        grown_count = int(grown.sum())
        if grown_count <= ceiling:
            hole, count = grown, grown_count
        else:
            # Areas grow with scale squared: aim the next piece at the room left, and shrink at least a little.
            room, added = ceiling - count, grown_count - count
            scale *= min(_SHRINK, math.sqrt(room / added))
    return hole


def random_masks(
    batch: int,
    height: int,
    width: int,
    *,
    hole_range: tuple[float, float] = (0.1, 0.5),
    kind: str = "mixed",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A batch of `random_mask`s as a float tensor (batch, 1, height, width), 1.0 = hole.

    Each mask is seeded from `generator`, so the batch is reproducible when the generator is.
    """
    seeds = torch.randint(0, 2**62, (batch,), generator=generator).tolist()
    masks = [random_mask(height, width, hole_range=hole_range, kind=kind, seed=seed) for seed in seeds]
    return torch.from_numpy(np.stack(masks)).float().unsqueeze(1)  # (B, 1, H, W)


def _stroke(height: int, width: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """One DeepFill v2 brush stroke, its width and segment lengths multiplied by `scale`."""
    # DeepFill v2's constants are for 256 x 256 images; widths scale with the image.
    size = min(height, width) / 256
    mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
    average_radius = math.hypot(height, width) / 8 * scale
    brush = max(1, round(rng.uniform(12, 40) * size * scale))

    vertices_count = int(rng.integers(4, 13))
    angle_min = mean_angle - rng.uniform(0, angle_range)
    angle_max = mean_angle + rng.uniform(0, angle_range)
    # Draw all random numbers at once (plain floats below: per-vertex numpy calls dominate the run time).
    angles = rng.uniform(angle_min, angle_max, vertices_count).tolist()
    lengths = rng.normal(average_radius, average_radius / 2, vertices_count).tolist()
    x, y = float(rng.integers(0, width)), float(rng.integers(0, height))
    vertices = [(x, y)]
    for i, (angle, length) in enumerate(zip(angles, lengths, strict=True)):
        # Alternate turning directions so the stroke zig-zags instead of curling up.
        angle = 2 * math.pi - angle if i % 2 == 0 else angle
        length = min(max(length, 0.0), 2 * average_radius)
        x = min(max(x + length * math.cos(angle), 0.0), width - 1.0)
        y = min(max(y + length * math.sin(angle), 0.0), height - 1.0)
        vertices.append((x, y))

    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    draw.line(vertices, fill=255, width=brush)
    radius = brush / 2
    for x, y in vertices:  # round joints and ends
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    stroke = np.asarray(canvas) > 0
    if rng.random() < 0.5:
        stroke = stroke[:, ::-1]
    if rng.random() < 0.5:
        stroke = stroke[::-1, :]
    return stroke


def _box(height: int, width: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """One rectangle with sides up to half the image's (times `scale`), at least one pixel."""
    box_h = max(1, round(rng.uniform(0.1, 0.5) * height * scale))
    box_w = max(1, round(rng.uniform(0.1, 0.5) * width * scale))
    top, left = int(rng.integers(0, height - box_h + 1)), int(rng.integers(0, width - box_w + 1))
    box = np.zeros((height, width), dtype=bool)
    box[top : top + box_h, left : left + box_w] = True
    return box

"""Texture transfer into a hole: contextual residual aggregation (CRA).

After Yi et al., 2020, "Contextual Residual Aggregation for Ultra High-Resolution Image Inpainting" (HiFill). A
smooth fill (pull-push, biharmonic, a network's output) has the right colours but none of the photo's fine detail.
CRA copies that detail from the known part of the same image:

1. Low resolution: the image is average-pooled by a factor s so that its longer side is about `low_side` px.
   Every low-resolution pixel is the centre of a `patch` x `patch` patch; patches with (almost) no hole pixel under
   them are the candidates, and the pixels whose s x s block holds a hole pixel are the targets.
2. Attention: each target patch is compared with every candidate patch at that low resolution (at most
   `low_side`**2 of each, whatever the photo's size), and a softmax with `temperature` over its `top_k` best
   candidates turns the similarities into weights.
3. Residuals: the image minus its low-pass (the low-resolution image upsampled) is the detail the pooling removed.
   Each target gets the weighted sum of its candidates' residual patches (`paste` x `paste` blocks of s x s px at
   full resolution) pasted centred on it; where pasted patches overlap they are averaged.
4. The fill plus the aggregated residual, inside the hole only: every known pixel is kept exactly.

The defaults were chosen on the validation photos (benchmarks/bench_inpainting.py, 256 px crops): a coarse low
resolution (32 px) carries more of the photo's detail in its residual; pasting only each target's own block
(`paste=1`) keeps that detail, whereas averaging overlapping 3 x 3 pastes from unrelated sources washed out half of
it; a soft choice among 8 candidates costs far less PSNR than copying the single best one.

Differentiable with respect to the image (scores and residuals alike); plain torch, computed in float32.

Example:
    >>> import torch
    >>> image, hole = torch.rand(1, 3, 64, 64) * 2 - 1, torch.zeros(1, 1, 64, 64)
    >>> hole[..., 20:40, 20:40] = 1
    >>> out = contextual_residual_aggregation(image, hole)
    >>> out.shape, bool((out == image)[..., :20, :].all())
    (torch.Size([1, 3, 64, 64]), True)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# A candidate patch may have at most this share of its full-resolution pixels in the hole ("almost none"): a few
# hole pixels only carry the smooth fill's near-zero residual, and thin stroke masks leave few spotless patches.
MAX_HOLE_SHARE = 0.05
# Most attention scores held at once (64 MB in float32): beyond it the targets are scored in chunks, so a large
# `low_side` costs time, not memory.
MAX_SCORES = 2**24
# Most a pasted block is scaled up by with `keep_energy` (equal weights over 8 unrelated blocks need about 2.8).
MAX_ENERGY_GAIN = 4.0


def contextual_residual_aggregation(
    image: torch.Tensor,
    hole: torch.Tensor,
    *,
    low_side: int = 32,
    patch: int = 3,
    temperature: float = 0.01,
    top_k: int = 8,
    paste: int = 1,
    keep_energy: float = 0.0,
) -> torch.Tensor:
    """Add detail copied from the known region to the hole of an already filled image.

    Args:
        image: (B, C, H, W) in [-1, 1], its hole already filled by a smooth fill; any B, C, H, W.
        hole: (B, 1, H, W), 1 = hole (values > 0.5 count as hole).
        low_side: longer side (px) of the low resolution the attention is computed at. It also sets the
            residual's low-pass: the detail finer than one low-resolution pixel is what gets copied.
        patch: odd side, in low-resolution pixels, of the patches compared.
        temperature: softmax temperature on the patches' similarity, minus their mean squared difference in
            [-1, 1] units: small = copy the best match, large = average the `top_k`.
        top_k: candidates each target keeps (the others get weight 0); also bounds the pasting's memory.
        paste: odd side, in low-resolution pixels, of the residual patches pasted; 1 = each target's own block.
        keep_energy: share (0-1) of the energy the averaging takes out that is given back. A weighted mean of k
            unrelated residual blocks has about sum_j w_j**2 of their energy (1/k for equal weights): averaging
            keeps the grain's place closer to right but thins it. Each block of the aggregated residual (after
            overlapping pastes are averaged) is rescaled to its own energy plus this share of the gap to the mean
            energy of the candidate blocks pasted on it, with a gain of at most `MAX_ENERGY_GAIN`: 0 = the plain
            weighted mean, 1 = the grain of one real patch, as variance-preserving texture blending gives (Heitz
            and Neyret, 2018); True counts as 1.

    Returns:
        (B, C, H, W) in `image`'s dtype: `image` outside the hole exactly, fill + aggregated residual inside it.
    """
    if image.dim() != 4 or hole.shape != (image.shape[0], 1, *image.shape[2:]):
        raise ValueError(
            f"expected an image (B, C, H, W) and its hole (B, 1, H, W), got {tuple(image.shape)} and "
            f"{tuple(hole.shape)}."
        )
    if min(low_side, patch, top_k, paste) < 1 or patch % 2 == 0 or paste % 2 == 0 or temperature <= 0:
        raise ValueError(
            f"low_side, top_k >= 1, patch and paste odd and temperature > 0 expected; got low_side={low_side}, "
            f"patch={patch}, paste={paste}, temperature={temperature}, top_k={top_k}."
        )
    if not 0 <= keep_energy <= 1:
        raise ValueError(f"keep_energy is the share of the lost energy given back, 0 to 1; got {keep_energy}.")
    height, width = image.shape[-2:]
    scale = math.ceil(max(height, width) / low_side)  # s: full-resolution px per low-resolution px
    is_hole = hole > 0.5  # (B, 1, H, W)
    # float32 throughout (autocast off): the distances are differences of large sums, which bf16 would swamp.
    with torch.autocast(image.device.type, enabled=False):
        # Pad to a multiple of s with replicated pixels; the padding counts as hole, so no candidate reaches it.
        pad = (0, -width % scale, 0, -height % scale)
        padded = F.pad(image.float(), pad, mode="replicate") if any(pad) else image.float()  # (B, C, Hp, Wp)
        padded_hole = F.pad(is_hole.float(), pad, value=1.0)  # (B, 1, Hp, Wp)

        low = F.avg_pool2d(padded, scale)  # (B, C, h, w)
        residual = padded - F.interpolate(low, scale_factor=scale, mode="bilinear", align_corners=False)
        block_hole = F.avg_pool2d(padded_hole, scale)  # (B, 1, h, w): hole share of each s x s block
        # Hole share under each patch; beyond the image counts as hole.
        patch_hole = 1 - F.avg_pool2d(1 - block_hole, patch, stride=1, padding=patch // 2)  # (B, 1, h, w)

        settings = {
            "scale": scale,
            "patch": patch,
            "temperature": temperature,
            "top_k": top_k,
            "paste": paste,
            "keep_energy": float(keep_energy),
        }
        per_image = zip(low, residual, block_hole, patch_hole, strict=True)
        aggregated = torch.stack([_aggregate(*one_image, **settings) for one_image in per_image])  # (B, C, Hp, Wp)
        textured = image.float() + aggregated[..., :height, :width]
    return torch.where(is_hole, textured.to(image.dtype), image)


def _aggregate(
    low: torch.Tensor,
    residual: torch.Tensor,
    block_hole: torch.Tensor,
    patch_hole: torch.Tensor,
    *,
    scale: int,
    patch: int,
    temperature: float,
    top_k: int,
    paste: int,
    keep_energy: float,
) -> torch.Tensor:
    """One image's aggregated residual: low (C, h, w), residual (C, Hp, Wp), block_hole and patch_hole (1, h, w) ->
    (C, Hp, Wp), zero outside the target blocks. One image at a time: each has its own targets and candidates."""
    h, w = low.shape[-2:]
    targets = (block_hole.flatten() > 0).nonzero().squeeze(1)  # (T,) low-resolution pixels to fill
    candidates = (patch_hole.flatten() <= MAX_HOLE_SHARE).nonzero().squeeze(1)  # (K,)
    if len(targets) == 0 or len(candidates) == 0:
        return torch.zeros_like(residual)

    # Attention over the low-resolution patches; only the top_k candidates per target are kept.
    features = F.unfold(low[None], patch, padding=patch // 2)[0].T  # (h * w, C * patch * patch)
    best, chosen = _best_matches(features[targets], features[candidates], top_k)  # (T, k) scores, candidates
    weights = torch.softmax(best / temperature, dim=1)  # (T, k)

    # The residual as s x s blocks on the low-resolution grid, with a border of r empty blocks so that each
    # position's neighbours within the pasted patch exist: rows of ((h + 2r) * (w + 2r), C * s * s).
    # Built with one copy, in the row order the gathers below read (a transposed view made each gathered row a
    # strided read: 3x slower at 512 px).
    r = paste // 2
    channels = residual.shape[0]
    blocks = residual.new_zeros(h + 2 * r, w + 2 * r, channels, scale, scale)
    blocks[r : r + h, r : r + w] = residual.reshape(channels, h, scale, w, scale).permute(1, 3, 0, 2, 4)
    blocks = blocks.flatten(2).flatten(0, 1)  # ((h + 2r) * (w + 2r), C * s * s), a view
    row = w + 2 * r

    def bordered(position: torch.Tensor) -> torch.Tensor:
        return (position // w + r) * row + position % w + r  # index on the grid -> index on the bordered grid

    source, destination = bordered(candidates[chosen]), bordered(targets)  # (T, k), (T,)
    energy = blocks.square().sum(1, keepdim=True) if keep_energy > 0 else None  # (blocks, 1): each block's energy
    total = torch.zeros_like(blocks)  # the pasted residual summed per block
    count = torch.zeros_like(blocks[:, :1])  # patches pasted on each block
    wanted = torch.zeros_like(count)  # keep_energy: the pasted candidates' weighted mean energy, summed per block
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            shift = dy * row + dx
            # Block (dy, dx) of each chosen candidate's patch, weighted, lands on block (dy, dx) of its target;
            # one candidate rank at a time, so memory stays at the hole's size, not k times it.
            pasted = sum(
                weights[:, j, None] * blocks.index_select(0, source[:, j] + shift) for j in range(chosen.shape[1])
            )
            total.index_add_(0, destination + shift, pasted)  # (T, C * s * s) added
            count.index_add_(0, destination + shift, torch.ones_like(pasted[:, :1]))
            if energy is not None:  # (T, 1) added
                wanted.index_add_(0, destination + shift, (weights[..., None] * energy[source + shift]).sum(1))
    pastes = count.clamp(min=1)  # (blocks, 1); 1 where nothing was pasted (all zero there)
    average = total / pastes  # (blocks, C * s * s)
    if energy is not None:
        # Scaled after the averaging, so overlapping pastes (paste > 1) do not thin the grain again. The target
        # lies between the block's energy and its candidates' (lerp gives the candidates' exactly at 1). Both
        # sides clamped below: a flat block (no residual to scale) keeps a finite gain and gradient.
        have = average.square().sum(1, keepdim=True)  # (blocks, 1)
        target = torch.lerp(have, wanted / pastes, keep_energy)
        gain = (target.clamp(min=1e-12) / have.clamp(min=1e-12)).sqrt()
        average = average * gain.clamp(max=MAX_ENERGY_GAIN)
    average = average.reshape(h + 2 * r, w + 2 * r, channels, scale, scale)[r : r + h, r : r + w]
    return average.permute(2, 0, 3, 1, 4).reshape(residual.shape)  # blocks back in place: (C, Hp, Wp)


def _best_matches(queries: torch.Tensor, keys: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Score every query (T, D) against every key (K, D), minus their mean squared difference, and keep the `top_k`
    best: -> scores (T, k) and key numbers (T, k), k = min(top_k, K). At most `MAX_SCORES` scores at a time."""
    k = min(top_k, len(keys))
    key_norms = keys.square().sum(1)  # (K,)
    best, chosen = [], []
    for part in queries.split(max(1, MAX_SCORES // len(keys))):  # (t, D) each
        distance = (part.square().sum(1, keepdim=True) - 2 * part @ keys.T + key_norms) / keys.shape[1]  # (t, K)
        scores, numbers = (-distance).topk(k, dim=1)
        best.append(scores)
        chosen.append(numbers)
    return torch.cat(best), torch.cat(chosen)

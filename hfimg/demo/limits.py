"""The demo's limits, in one place: what a visitor may send and ask for, and what the models are given."""

from __future__ import annotations

MAX_UPLOAD_MB = 10  # uploads above this are refused by gradio before they reach a handler
MAX_PIXELS = 16_000_000  # larger images are refused with a message (checked from the file header, not decoded)
# The denoiser restores any image the upload accepts at full size (in tiles); its self-ensemble runs the network 8
# times, so the demo offers it up to this many pixels (said on the checkbox, refused before any work above it).
ENSEMBLE_MAX_PIXELS = 2_000_000
# BM3D takes about 10 s for 256x256 RGB pixels on a CPU core (benchmarks/RESULTS.md), non-local means about 2 s: the
# demo runs the classical restore methods up to this many pixels (~40 s of BM3D); the command line takes any size.
CLASSICAL_RESTORE_MAX_PIXELS = 512 * 512
MAX_IMAGES = 64  # images per Generate click
MAX_FRAMES = 16  # frames of a latent interpolation
# Steps of a latent search (GAN / VAE inpainting): the slider's end, ~3 s at the bundled models' speed. Fewer than
# 1, or more, is refused (not clipped), as the Python API and the CLI refuse them beyond their own limit.
MAX_SEARCH_STEPS = 500
MAX_SEED = 2**31 - 1

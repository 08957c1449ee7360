"""Denoising quality on held-out photos: the trained denoiser next to BM3D and non-local means, per noise level.

    python -m benchmarks.bench_denoising [--models hfimg/denoise-cnn-photos] [--sigmas 15 25 50]
        [--size 256] [--per_photo 4] [--json benchmarks/results/denoising.json]

Images: the crops of `bench_inpainting` (`benchmarks.common.validation_crops`: `--size` px squares of the photos in
`data/photos/validation`, kept out of training, at the photos' own scale, RGB). BM3D takes ~10 s per 256 px RGB
crop and noise level on one core: lower --size or --per_photo for a quicker run.

Noise: additive white Gaussian noise of standard deviation sigma grey levels (0-255 scale), `hfimg.degrade
.gaussian_noise` with a generator seeded by (--seed, crop, sigma); the noisy images stay unclipped floats, as in the
AWGN benchmarks of the denoising papers. Every method gets the same noisy image:

* the models given by --models, on the float tensor: a model that takes the noise level (DenoiseUNet) is told it,
  as BM3D is, and is also run blind ("level estimated": `model(noisy)` estimates it from the image); the others are
  blind (`model(noisy)`); with --ensemble (the default) each model also runs as its eight-fold self-ensemble
  ("self-ensemble x8": the mean over the 8 flips and rotations, what `restore(..., ensemble=True)` gives, at 8x
  the time);
* BM3D (`bm3d.bm3d_rgb`, CBM3D, told the true noise level: sigma_psd = sigma / 255 on [0, 1] images);
* scikit-image non-local means (`denoise_nl_means`, the original algorithm `fast_mode=False`, patch 5, search
  distance 6 as in scikit-image's gallery, noise level from `estimate_sigma`, h = 0.6 x that estimate as its
  documentation recommends for the original algorithm when sigma is given);
* the noisy input itself, for reference.

Metrics: PSNR and SSIM (`hfimg.metrics`) of each result, clipped to [0, 1], against the clean crop, and its detail:
the gradient-energy ratio to the clean crop (`hfimg.metrics.gradient_energy_ratio`: 1.0 = as detailed as the clean
photo, below = smoothed away, above = noise left), averaged over the crops; time: median milliseconds per image (one
call each).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.common import (
    add_photo_arguments,
    command_line,
    load_methods,
    load_model,
    machine,
    publish,
    validation_crops,
    weights_record,
)
from benchmarks.reports import DenoisingReport, methods_table
from benchmarks.reports import Method as RunMethod  # `Method` here is a denoising function
from hfimg import metrics
from hfimg.catalogue import MethodSpec, default_models, method_specs
from hfimg.degrade import gaussian_noise
from hfimg.tiling import self_ensemble

DEFAULT_MODELS = default_models("restore", "photos")
# The catalogue's classical photo denoisers, and whether the benchmark tells each the true noise level (BM3D is
# told, as its authors evaluate it; non-local means estimates it, as scikit-image's documentation sets it up).
TOLD_SIGMA = {"bm3d": True, "nl-means": False}
NOISY_INPUT = "noisy input"

# A denoiser: (noisy float64 image (H, W, 3) on the [0, 1] scale, unclipped; sigma in grey levels) -> (H, W, 3).
Method = Callable[[np.ndarray, float], np.ndarray]


def classical_method(spec: MethodSpec) -> Method:
    """A catalogued classical denoiser on the float image (its `on_array` form: the noise unclipped), told the
    noise level or not as `TOLD_SIGMA` says."""
    told = TOLD_SIGMA.get(spec.id, True)  # a new method is told the level, unless listed otherwise
    denoise = spec.denoise.on_array
    return lambda noisy, sigma: denoise(noisy, sigma if told else None)


def model_method(model: torch.nn.Module, told: bool = True, ensemble: bool = False) -> Method:
    """The network on the float image: (H, W, 3) [0, 1] -> (1, 3, H, W) [-1, 1] -> back; told the noise level when
    it takes one and `told`; with `ensemble`, averaged over the 8 flips and rotations (`hfimg.tiling`)."""

    @torch.inference_mode()
    def denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
        x = torch.from_numpy(noisy).float().permute(2, 0, 1)[None].to(model.device) * 2 - 1
        level = (sigma,) if told and getattr(model, "takes_noise_level", False) else ()
        y = self_ensemble(lambda part: model(part, *level), x) if ensemble else model(x, *level)
        return ((y[0].cpu().permute(1, 2, 0) + 1) / 2).double().numpy()

    return denoise


def run(methods: dict[str, Method], crops: list[np.ndarray], sigmas: list[float], seed: int) -> list[dict]:
    """Every method on every noisy crop -> one row per (sigma, method): mean PSNR / SSIM, median ms."""
    rows = []
    for sigma in sigmas:
        scores = {name: {"psnr": [], "ssim": [], "detail": [], "ms": []} for name in methods}
        for c, clean in enumerate(crops):
            noise_seed = np.random.SeedSequence((seed, c, round(sigma * 1000))).generate_state(1)[0]
            generator = torch.Generator().manual_seed(int(noise_seed))
            clean_tensor = torch.from_numpy(clean).permute(2, 0, 1)[None].double() / 127.5 - 1  # (1, 3, H, W)
            noisy_tensor = gaussian_noise(clean_tensor, sigma, generator=generator)
            noisy = ((noisy_tensor[0].permute(1, 2, 0) + 1) / 2).numpy()  # (H, W, 3) on [0, 1], unclipped
            reference = clean_tensor[0]
            for name, method in methods.items():
                start = time.perf_counter()
                result = method(noisy, sigma)
                scores[name]["ms"].append((time.perf_counter() - start) * 1000)
                restored = torch.from_numpy(np.clip(result, 0, 1)).permute(2, 0, 1) * 2 - 1  # (3, H, W)
                scores[name]["psnr"].append(metrics.psnr(restored, reference))
                scores[name]["ssim"].append(metrics.ssim(restored, reference))
                scores[name]["detail"].append(metrics.gradient_energy_ratio(restored, reference))
        for name, values in scores.items():
            rows.append(
                {
                    "method": name,
                    "sigma": sigma,
                    "psnr": statistics.fmean(values["psnr"]),
                    "ssim": statistics.fmean(values["ssim"]),
                    "detail": statistics.fmean(values["detail"]),
                    "ms": None if name == NOISY_INPUT else statistics.median(values["ms"]),
                    "images": len(values["ms"]),
                }
            )
    return rows


def markdown(report: dict) -> str:
    """Long table (sigma x method, best PSNR per sigma in bold), then PSNR by sigma with the time per image."""
    typed = DenoisingReport.from_dict(report)
    settings, rows, sigmas = typed.settings, typed.rows, typed.sigmas
    lines = [
        f"Machine: {typed.machine}",
        "",
        f"{settings['crops']} crops of {settings['size']}x{settings['size']} px from {len(settings['photos'])} "
        f"validation photos, Gaussian noise (unclipped), RGB.",
        "",
        "| sigma | method | PSNR (dB) | SSIM | detail | median ms |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for sigma in sigmas:
        at_sigma = [row for row in rows if row.sigma == sigma]
        best = max(row.psnr for row in at_sigma if row.method != NOISY_INPUT)
        for row in at_sigma:
            psnr = f"**{row.psnr:.2f}**" if row.psnr == best else f"{row.psnr:.2f}"
            ms = "-" if row.ms is None else f"{row.ms:.0f}"
            detail = "-" if row.detail is None else f"{row.detail:.2f}"
            lines.append(f"| {sigma:g} | {row.method} | {psnr} | {row.ssim:.4f} | {detail} | {ms} |")
    lines += ["", "PSNR (dB) by noise level:", ""]

    def cells(method: RunMethod) -> list[str]:
        ms = typed.median_ms(method.name)
        return [f"{typed.row(method.name, s).psnr:.2f}" for s in sigmas] + ["-" if ms is None else f"{ms:.0f}"]

    lines += methods_table(typed.methods, [*(f"sigma {s:g}" for s in sigmas), "median ms"], cells)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_photo_arguments(parser, "Denoisers")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[15, 25, 50], help="Noise levels (0-255 scale).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the noise.")
    parser.add_argument(
        "--ensemble",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Also run each model as its eight-fold self-ensemble (restore(..., ensemble=True)).",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    named_crops = validation_crops(args.photos, args.size, args.per_photo)
    crops = [np.array(crop) for _, crop in named_crops]
    methods, described = load_methods(
        args.models or DEFAULT_MODELS,
        model_method,
        lambda model: (
            None if getattr(model, "channels", None) == 3 and hasattr(model, "restore") else "not an RGB denoiser"
        ),
    )
    baselines: dict[str, Method] = {
        spec.name: classical_method(spec) for spec in method_specs("restore", "photos") if spec.denoise is not None
    }
    baselines[NOISY_INPUT] = lambda noisy, sigma: noisy
    for entry in list(described):
        model = load_model(entry["model"])
        if getattr(model, "takes_noise_level", False):  # also blind, as users without the level run it
            name = f"{entry['name']}, level estimated"
            methods[name] = model_method(model, told=False)
            described.append({**entry, "name": name})
        if args.ensemble:
            name = f"{entry['name']}, self-ensemble x8"
            methods[name] = model_method(model, ensemble=True)
            described.append({**entry, "name": name})
    if args.no_baselines:
        baselines = {NOISY_INPUT: baselines[NOISY_INPUT]}
    methods.update(baselines)
    described += [{"name": name, "model": None, "parameters": None} for name in baselines]

    report = {
        "benchmark": "denoising",
        "machine": machine(),
        "command": command_line("benchmarks.bench_denoising", argv),
        "weights": weights_record(args.models),
        "settings": {
            "photos": sorted({name.split("@")[0] for name, _ in named_crops}),
            "crops": len(crops),
            "size": args.size,
            "per_photo": args.per_photo,
            "sigmas": args.sigmas,
            "seed": args.seed,
        },
        "methods": described,
        "results": run(methods, crops, args.sigmas, args.seed),
    }
    return publish(report, markdown(report), args.json)


if __name__ == "__main__":
    main()

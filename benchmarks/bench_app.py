"""Round-trip latency of the demo's /inpaint endpoint through gradio_client, as a user's request sees it.

    python -m benchmarks.bench_app [--calls 20] [--clients 8] [--random-models]

The app is launched in this process with its queue and limits (app.LAUNCH_OPTIONS); every call uploads a 512x512
photo and a mask layer, runs InpaintCNN and downloads the PNG results (result + before/after pair). Reported: p50 and
p95 over `--calls` sequential calls, then over the same number of calls from each of `--clients` clients at once.

Models: the app's own (bundled ids, or the HFIMG_* environment variables) when they load; otherwise, or with
`--random-models`, randomly initialised models of the shipped architectures, which run at the same speed as trained
ones of the same config.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import skimage.data
from gradio_client import Client, handle_file
from PIL import Image

import hfimg
from benchmarks.common import machine
from hfimg import runtime
from hfimg.demo.slots import Slot
from hfimg.hub import read_config
from hfimg.registry import local_folder, model_class

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # app.py lives at the top of the repo

import app  # noqa: E402  (needs the path above)


def random_model_config(slot: Slot) -> tuple[str, dict]:
    """(family, kwargs) of a slot's default model, for random weights of the shipped architecture (weights do not
    change speed): read from its bundled config.json, or the family's tiny config when that is not installed."""
    folder = local_folder(slot.default)
    if folder is not None:
        config = read_config(folder / "config.json")
        return config.pop("model_type"), config
    return slot.model_types[0], model_class(slot.model_types[0]).tiny_config


def write_inputs(folder: Path) -> tuple[str, str]:
    """A 512x512 photo and a painted layer: an opaque stroke (about 5% of the image) on a transparent layer."""
    photo = folder / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)  # 512x512 RGB
    layer = np.zeros((512, 512, 4), dtype=np.uint8)
    yy, xx = np.mgrid[0:512, 0:512]
    for cx, cy in ((200, 300), (230, 310), (260, 320), (290, 330)):  # a thick stroke of four dabs
        layer[(xx - cx) ** 2 + (yy - cy) ** 2 < 30**2] = (57, 255, 20, 255)
    mask = folder / "layer.png"
    Image.fromarray(layer).save(mask)
    return str(photo), str(mask)


def percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    cuts = statistics.quantiles(times, n=20, method="inclusive")  # 5%, 10%, ..., 95%
    return statistics.median(times) * 1000, cuts[-1] * 1000


def timed_calls(client: Client, payload: dict, calls: int, out: list[float], errors: list[str]) -> None:
    """`calls` sequential /inpaint calls; the time of each successful one goes to `out`, each failure to `errors`."""
    for _ in range(calls):
        start = time.perf_counter()
        try:
            client.predict(payload, "InpaintCNN", 6, 100, -1, api_name="/inpaint")
        except Exception as err:  # a failed request is a result to report, not a reason to stop the run
            errors.append(f"{type(err).__name__}: {err}")
            continue
        out.append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20, help="Calls per client (default 20).")
    parser.add_argument("--clients", type=int, default=8, help="Clients at once in the second run (default 8).")
    parser.add_argument("--random-models", action="store_true", help="Use random default-architecture models.")
    parser.add_argument("--backend", choices=runtime.BACKENDS, help="Inference backend of the models (default: auto).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        models = None if args.random_models else app.MODELS  # loaded when app was imported
        if models is None or models["inpaint_cnn"].model is None:
            ids = {}
            for slot, spec in app.SLOTS.items():
                name, kwargs = random_model_config(spec)
                ids[slot] = str(Path(tmp) / slot)
                hfimg.create_model(name, **kwargs).save_pretrained(ids[slot])
            models = app.load_models(ids)
            kind = "random weights, the shipped architectures"
        else:
            kind = f"app models ({models['inpaint_cnn'].id})"
        inpainter = models["inpaint_cnn"].model
        if args.backend:
            for loaded in models.values():
                if loaded.model is not None:
                    loaded.model.set_backend(args.backend)
        photo, layer = write_inputs(Path(tmp))
        payload = {"background": handle_file(photo), "layers": [handle_file(layer)], "composite": None}

        demo = app.build_demo(models)
        demo.launch(prevent_thread_lock=True, quiet=True, **app.LAUNCH_OPTIONS)
        try:
            client = Client(demo.local_url, verbose=False)
            errors: list[str] = []
            timed_calls(client, payload, 2, [], errors)  # warm-up: first-call costs (threads, caches)
            sequential: list[float] = []
            timed_calls(client, payload, args.calls, sequential, errors)

            clients = [Client(demo.local_url, verbose=False) for _ in range(args.clients)]
            concurrent: list[float] = []
            threads = [
                threading.Thread(target=timed_calls, args=(c, payload, args.calls, concurrent, errors))
                for c in clients
            ]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - start
        finally:
            demo.close()

    print(f"Machine: {machine()}")
    backend = runtime.resolve_backend(inpainter)
    print(
        f"InpaintCNN: {kind}, {inpainter.num_parameters():,} parameters, backend {backend}; "
        f"512x512 photo, stroke mask; queue concurrency {app.CONCURRENCY}\n"
    )
    print("| clients at once | calls | p50 ms | p95 ms | calls/s |")
    print("|---:|---:|---:|---:|---:|")
    p50, p95 = percentiles(sequential)
    print(f"| 1 | {len(sequential)} | {p50:.0f} | {p95:.0f} | {len(sequential) / sum(sequential):.1f} |")
    p50, p95 = percentiles(concurrent)
    print(f"| {args.clients} | {len(concurrent)} | {p50:.0f} | {p95:.0f} | {len(concurrent) / wall:.1f} |")
    print(f"\nErrors: {len(errors)}" + "".join(f"\n- {error}" for error in errors[:5]))


if __name__ == "__main__":
    main()

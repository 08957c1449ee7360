"""Inference backends: how a model's heavy tensor work runs when a user calls its image-level API.

Every model family splits its computation in two. Its *core* (`HubModel.core`) is the tensor function that does the
work (the network, and for the inpainters the pull-push start and the correction), with fixed input rules described
by `HubModel.core_spec` (names, which axes may vary, sizes a multiple of what); it is what `export_onnx` writes to an
ONNX file. Around it stays plain Python: input checks, padding, the recurrent model's pass schedule, PIL in and out.

The image-level methods (`inpaint`, `restore`, `generate`, `interpolate`) run the core through a backend:

* ``"fp32"``: eager PyTorch in float32 on contiguous (NCHW) tensors, exactly what `model(...)` computes in training;
* ``"fp32-cl"``: eager PyTorch in float32 with the weights in channels_last (NHWC), the layout oneDNN's CPU
  convolutions run fastest in: every convolution then works and hands on its output in NHWC, while the core's
  other steps (the inpainters' classical fills) see the inputs as they come. The same arithmetic summed in another
  order, so within float rounding of fp32 (95-104 dB on the 8-bit results of benchmarks/RESULTS.md's speed table,
  about 140 dB on the float output);
* ``"bf16"``: eager PyTorch under bfloat16 autocast with the inputs in channels_last, the layout oneDNN's (and
  cuDNN's) fast bf16 convolutions work in; on a CPU with native bf16 (AVX512-BF16 or AMX) this is several times
  faster than fp32;
* ``"onnxruntime"``: the core exported to ONNX (once per set of weights, cached under $HFIMG_CACHE/onnx) and run by
  onnxruntime in float32 (outputs within 1e-3 of fp32, tested);
* ``"auto"`` (the default): the first of these whose output agrees with the model's fp32 output to at least
  `MIN_AGREEMENT_DB` on a probe input (checked once per model and set of weights): bf16 where the device has fast
  bf16 (a GPU, or a CPU with AVX512-BF16 or AMX), then fp32-cl on any CPU; fp32 otherwise. A model that a faster
  backend would change visibly thus stays exact.

The backend is chosen per model (`model.set_backend("fp32")`), or for every model by the environment variable
``HFIMG_BACKEND`` (e.g. ``HFIMG_BACKEND=fp32`` forces the exact path everywhere); the CLI's and the demo's
``--backend`` set it too. Tensor-level calls (`model(x)` outside those methods: training, the latent search of
`hfimg.prior`, benchmarks on tensors) and models in training mode always run the core eagerly in fp32.

Example:
    >>> import hfimg
    >>> model = hfimg.create_model("denoise-cnn", features=8, depth=4).eval()
    >>> model.set_backend("fp32")  # the exact path, bit for bit what model(x) gives
    >>> resolve_backend(model)
    'fp32'
"""

from __future__ import annotations

import contextvars
import copy
import functools
import logging
import math
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from hfimg.cores import OnnxEngine

if TYPE_CHECKING:
    from hfimg.hub import HubModel

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "fp32", "fp32-cl", "bf16", "onnxruntime")
BACKEND_ENV = "HFIMG_BACKEND"
# Below this PSNR between a faster backend's output and fp32's (peak = the fp32 output's range), "auto" keeps fp32.
# 45 dB on images in [-1, 1] is an RMS difference of about 0.6 grey levels out of 255: invisible, and under the
# 8-bit rounding of the saved result. bf16 lands at 45-60 dB, fp32-cl at about 140.
MIN_AGREEMENT_DB = 45.0


# --- choosing a backend -------------------------------------------------------------------------------------------


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}.")
    return backend


def requested_backend(model: HubModel) -> str:
    """What `model`'s image-level methods were asked to run on, unchecked: its own choice, else $HFIMG_BACKEND as
    set, else "auto" (for a message about that choice, which must not fail on a bad value itself)."""
    return model.backend or _environment_backend()


def _environment_backend() -> str:
    """$HFIMG_BACKEND as set (normalised, not checked), else "auto"."""
    return os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"


def default_backend() -> str:
    """$HFIMG_BACKEND, else "auto"."""
    value = _environment_backend()
    if value not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={value!r} is not a backend; set it to one of: {', '.join(BACKENDS)}.")
    return value


def fast_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 convolutions natively (fast), not by emulation in fp32 (slow).

    CPU: AVX512-BF16 or AMX tiles, as reported by PyTorch's own CPU feature check. CUDA: compute capability 8.0
    or newer (Ampere); `torch.cuda.is_bf16_supported()` also says yes for older GPUs that only emulate it.
    """
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).major >= 8
    if device.type != "cpu":
        return False
    # Private but stable since torch 2.1; a build without them simply gets fp32.
    checks = (
        getattr(torch.cpu, "_is_avx512_bf16_supported", None),
        getattr(torch.cpu, "_is_amx_tile_supported", None),
    )
    return any(check is not None and check() for check in checks)


def agreement_db(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    """PSNR of `candidate` against `reference`, the peak being the reference's range (inf when identical)."""
    reference, candidate = reference.double(), candidate.double()
    mse = torch.mean((reference - candidate) ** 2).item()
    peak = max((reference.max() - reference.min()).item(), 1e-6)
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def resolve_backend(model: HubModel) -> str:
    """The backend `model`'s image-level methods use now: its own choice or $HFIMG_BACKEND, "auto" resolved."""
    backend = model.backend or default_backend()
    if backend != "auto":
        return backend
    # A GPU tries bf16 (fp16 before Ampere); a CPU tries bf16 where it is native, then fp32 in channels_last; other
    # devices (MPS, XPU) stay exact. The first candidate that keeps the fp32 output wins.
    if model.device.type == "cuda":
        candidates = ["bf16"]
    elif model.device.type == "cpu":
        candidates = ["bf16", "fp32-cl"] if fast_bf16(model.device) else ["fp32-cl"]
    else:
        return "fp32"
    with _ENGINE_LOCK:
        cache = _cache(model)
        if "auto" not in cache:
            chosen = "fp32"  # unless a candidate keeps the output
            spec = model.core_spec()
            with torch.inference_mode():
                inputs = [x.to(model.device) for x in spec.inputs.values()]
                exact = model.core(*inputs)
                for candidate in candidates:
                    probe = TorchEngine(model, candidate)
                    agreement = agreement_db(exact, probe(model, *inputs))
                    if agreement >= MIN_AGREEMENT_DB:
                        chosen = candidate
                        cache[candidate] = probe  # kept: the engine `engine` would build next
                        break
                    logger.info(
                        "%s: %s agrees with fp32 to %.1f dB only; not using it.",
                        type(model).__name__,
                        candidate,
                        agreement,
                    )
            cache["auto"] = chosen
        return cache["auto"]


# --- running the core -----------------------------------------------------------------------------------------------

# Inside an image-level call: the engine picked for each model it runs, so a call that runs a core several times (the
# recurrent inpainter's passes) looks at the weights once. None outside. Per thread: the demo serves several at once.
_FAST: contextvars.ContextVar[dict | None] = contextvars.ContextVar("hfimg_fast_inference", default=None)
_ENGINE_LOCK = threading.RLock()  # two requests that need the same new engine build it once
# Per model: the weights the entries were made for, the engine of each backend and the "auto" decision. Kept outside
# the model, so copying, pickling or saving a model never meets an onnxruntime session.
_ENGINES: weakref.WeakKeyDictionary[HubModel, dict[str, Any]] = weakref.WeakKeyDictionary()


def fast_inference(method: Callable) -> Callable:
    """Decorator for image-level methods: inference mode, and the model's core runs on the chosen backend."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = _FAST.set({})
        try:
            with torch.inference_mode():
                return method(*args, **kwargs)
        finally:
            _FAST.reset(token)

    return wrapper


def run_core(model: HubModel, *inputs: torch.Tensor) -> torch.Tensor:
    """`model.core(*inputs)` on the model's backend inside `fast_inference` methods; eager fp32 anywhere else."""
    engines = _FAST.get()
    if engines is None or model.training:
        return model.core(*inputs)
    if model not in engines:  # the weights cannot change within the call (inference mode)
        engines[model] = engine(model)
    return engines[model](model, *inputs)


def engine(model: HubModel) -> Callable[..., torch.Tensor]:
    """The engine that runs `model.core` on the model's resolved backend, called as `engine(model, *inputs)`."""
    with _ENGINE_LOCK:
        backend = resolve_backend(model)
        if backend == "fp32":
            return _eager
        cache = _cache(model)
        if backend not in cache:
            cache[backend] = OnnxEngine(_onnx_file(model)) if backend == "onnxruntime" else TorchEngine(model, backend)
        return cache[backend]


def _onnx_file(model: HubModel) -> Path:
    from hfimg.export import cached_onnx_file  # here: export pulls in the ONNX exporter, which only this path needs

    return cached_onnx_file(model)


def _eager(model: HubModel, *inputs: torch.Tensor) -> torch.Tensor:
    return model.core(*inputs)


def _cache(model: HubModel) -> dict[str, Any]:
    """The model's engines and "auto" decision, emptied whenever its weights (or device) have changed since."""
    key = _weights_key(model)
    cache = _ENGINES.setdefault(model, {})
    if cache.get("weights") != key:
        cache.clear()  # built for older weights: a copy of them (bf16, fp32-cl), or their export (onnxruntime)
        cache["weights"] = key
    return cache


def clear_engines(model: HubModel) -> None:
    """Forget `model`'s engines and "auto" decision; they are rebuilt from its current weights when next needed.

    Changes to the weights are noticed by themselves (replaced tensors, in-place updates, changed values); call this
    after editing them in a way that could escape that check, e.g. writing a few elements through `.data`.
    """
    _ENGINES.pop(model, None)


class TorchEngine:
    """Eager PyTorch under low-precision autocast with 4-D float inputs in channels_last ("bf16"), or in float32 with
    the weights in channels_last ("fp32-cl"); outputs as float32 NCHW.

    fp32-cl leaves the inputs as they come: converted too, the photo inpainters' classical fills (3-channel images
    pooled, upsampled and reshaped) ran slower in NHWC, 177 -> 188 ms at 512 px, where with the weights alone they
    took 170 (2-core AMD EPYC, interleaved medians).

    It runs a copy of the model with every BatchNorm folded into the convolution before it (eval-mode BatchNorm is a
    per-channel affine map, so conv + BN is one conv): one pass over each activation instead of two. Activations
    are the memory traffic that limits these networks at large sizes (a 1024x1024 map of 32 channels is 64 MB in
    bf16), and the folding changes the result by float rounding only.
    """

    def __init__(self, model: HubModel, backend: str = "bf16") -> None:
        if backend not in ("bf16", "fp32-cl"):
            raise ValueError(f"TorchEngine runs 'bf16' or 'fp32-cl', not {backend!r}.")
        self.device_type = model.device.type
        # bf16 wherever it is native; GPUs before Ampere get fp16 autocast instead; fp32-cl no autocast at all.
        low = torch.bfloat16 if self.device_type == "cpu" or fast_bf16(model.device) else torch.float16
        self.dtype = low if backend == "bf16" else None
        self.folded = fold_batchnorm(copy.deepcopy(model).eval())
        if self.dtype is None:  # fp32: each convolution's weights read in the inputs' layout, not reordered per call
            self.folded.to(memory_format=torch.channels_last)

    def __call__(self, model: HubModel, *inputs: torch.Tensor) -> torch.Tensor:
        if self.dtype is not None:
            inputs = tuple(
                x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 and x.is_floating_point() else x
                for x in inputs
            )
        with torch.autocast(self.device_type, dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None):
            output = self.folded.core(*inputs)
        return output.float().contiguous()


def fold_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """Fold each eval-mode BatchNorm2d that follows a Conv2d in an nn.Sequential into that conv (the BatchNorm
    becomes an Identity); returns `model`, changed in place. Only for inference copies.

    Transposed convolutions keep their BatchNorm: with the folded bias, oneDNN's bf16 transposed convolution measured
    slower than the unfolded pair (the DCGAN generator, 64 images: 7.7-10.9 ms against 6.0-8.0 ms).
    """
    for sequence in [m for m in model.modules() if isinstance(m, torch.nn.Sequential)]:
        for i in range(len(sequence) - 1):
            conv, norm = sequence[i], sequence[i + 1]
            if (
                type(conv) is torch.nn.Conv2d
                and isinstance(norm, torch.nn.BatchNorm2d)
                and norm.running_mean is not None
                and not torch.nn.utils.parametrize.is_parametrized(conv)
            ):
                sequence[i] = torch.nn.utils.fuse_conv_bn_eval(conv, norm)
                sequence[i + 1] = torch.nn.Identity()
    return model


def _weights_key(model: HubModel) -> tuple:
    """Changes when a parameter or buffer is replaced, updated in place (optimizer step, load_state_dict: the
    version counter), or changed behind it (`.data` writes, e.g. a hand-written EMA: the first and last values)."""
    key: list[Any] = [str(model.device)]
    for tensor in (*model.parameters(), *model.buffers()):
        try:
            version = tensor._version
        except RuntimeError:  # made under torch.inference_mode(): no version counter
            version = None
        flat = tensor.detach().reshape(-1)
        ends = (flat[0].item(), flat[-1].item()) if flat.numel() else ()
        key.append((tensor.data_ptr(), version, *ends))
    return tuple(key)

"""ONNX export of a model's core (`HubModel.core`), checked against PyTorch before it is kept.

    hfimg export hfimg/denoise-cnn-photos --format onnx -o denoise-onnx/

writes `model.onnx` (sizes dynamic where the model allows them), the model's `config.json` and a `README.md` that says
what goes in and out and how well the file matches PyTorch. The same export, cached per set of weights, is what the
"onnxruntime" backend of `hfimg.runtime` runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from hfimg.cores import CoreSpec, OnnxEngine
from hfimg.offline import cache_dir

if TYPE_CHECKING:
    from hfimg.hub import HubModel

logger = logging.getLogger(__name__)

ONNX_TOLERANCE = 1e-3  # largest absolute difference an exported core may show against eager fp32


class _CoreModule(torch.nn.Module):
    """`model.core` as a module's forward, which is what the exporter traces."""

    def __init__(self, model: HubModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model.core(*inputs)


def export_onnx(model: HubModel, path: str | Path) -> Path:
    """Export `model.core` (eval mode, float32) to an ONNX file, with dynamic sizes where the model allows them.

    The export is checked before it is kept: onnxruntime must reproduce the eager fp32 output within
    `ONNX_TOLERANCE` on the spec's example inputs and on inputs of another size (where sizes are dynamic).

    Args:
        model: any hfimg model.
        path: the .onnx file to write (its folder is created).

    Returns:
        The path written.
    """
    _export_checked(model, Path(path))
    return Path(path)


def _export_checked(model: HubModel, path: Path) -> float:
    """`export_onnx`'s work; returns the largest difference the check measured."""
    spec = model.core_spec()
    if spec.onnx_refusal is not None:  # the model's own rule
        raise ValueError(f"{type(model).__name__}: {spec.onnx_refusal}")
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    inputs = tuple(x.to(model.device) for x in spec.inputs.values())
    dims = _export_dims(spec)
    dynamic_shapes = tuple(
        {axis: dims[name] for axis, name in spec.dynamic.get(key, {}).items()} for key in spec.inputs
    )
    partial = path.with_name(path.name + ".partial")
    try:
        # The exporter logs a line per missing optional package (torchvision ops) and prints its progress.
        with _quiet_exporter(), torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                _CoreModule(model).eval(),
                inputs,
                str(partial),
                input_names=list(spec.inputs),
                output_names=[spec.output],
                dynamic_shapes=(dynamic_shapes,),  # one entry: forward takes *inputs
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        error = check_onnx(model, partial)
        if error > ONNX_TOLERANCE:
            raise RuntimeError(
                f"the exported {type(model).__name__} differs from PyTorch by {error:.2g} (> {ONNX_TOLERANCE}); "
                f"use the fp32, fp32-cl or bf16 backend instead."
            )
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
        model.train(was_training)
    return error


def check_onnx(model: HubModel, path: str | Path) -> float:
    """Largest absolute difference between onnxruntime on `path` and eager fp32, over the example inputs and inputs
    resized along every dynamic axis (batch 3, sizes one `multiple` up and a non-square shape)."""
    spec = model.core_spec()
    session = OnnxEngine(path)
    worst = 0.0
    for inputs in (list(spec.inputs.values()), _resized_inputs(spec)):
        inputs = [x.to(model.device) for x in inputs]
        with torch.inference_mode():
            worst = max(worst, (session(model, *inputs) - model.core(*inputs)).abs().max().item())
    return worst


def cached_onnx_file(model: HubModel) -> Path:
    """The model's core as ONNX under $HFIMG_CACHE/onnx, exported on first use, named by a hash of its weights."""
    digest = hashlib.sha256(json.dumps(model.config_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    path = cache_dir() / "onnx" / f"{model.model_type}-{digest.hexdigest()[:20]}.onnx"
    if not path.is_file():
        logger.info("exporting %s to %s for onnxruntime (once per set of weights)", type(model).__name__, path)
        export_onnx(model, path)
    return path


def _export_dims(spec: CoreSpec) -> dict[str, Any]:
    """One torch.export.Dim per axis name; height and width as `multiple` * a free Dim when sizes are constrained."""
    names = sorted({name for axes in spec.dynamic.values() for name in axes.values()})
    dims: dict[str, Any] = {}
    for name in names:
        if name in ("height", "width") and spec.multiple > 1:
            dims[name] = spec.multiple * torch.export.Dim(f"{name}_blocks", min=1)
        else:
            dims[name] = torch.export.Dim(name, min=1)
    return dims


def _resized_inputs(spec: CoreSpec) -> list[torch.Tensor]:
    """The example inputs with batch 3, height + multiple and width + 2 * multiple (where those axes are dynamic)."""
    grow = {"batch": lambda n: 3, "height": lambda n: n + spec.multiple, "width": lambda n: n + 2 * spec.multiple}
    resized = []
    for name, x in spec.inputs.items():
        shape = list(x.shape)
        for axis, axis_name in spec.dynamic.get(name, {}).items():
            shape[axis] = grow[axis_name](shape[axis])
        # Same content, new size: repeat the example along each axis and cut it (keeps binary masks binary).
        reps = [math.ceil(new / old) for new, old in zip(shape, x.shape, strict=True)]
        resized.append(x.repeat(*reps)[tuple(slice(0, n) for n in shape)].contiguous())
    return resized


@contextlib.contextmanager
def _quiet_exporter():
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on axis names and deprecations, not ours to act on
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def export_folder(model: HubModel, folder: str | Path, source: str) -> Path:
    """`hfimg export`: model.onnx, config.json and a README.md that describes the file, in `folder`.

    Args:
        model: the model to export.
        folder: output folder (created).
        source: where the model came from (an id or a path), named in the README.

    Returns:
        The path of model.onnx.
    """
    path = Path(folder) / "model.onnx"
    error = _export_checked(model, path)
    (path.parent / "config.json").write_text(json.dumps(model.config_dict(), sort_keys=True, indent=2))
    (path.parent / "README.md").write_text(onnx_card(model, source, error))
    return path


def onnx_card(model: HubModel, source: str, error: float) -> str:
    """The README of an exported folder: inputs and outputs, sizes, how to run it, and its measured match."""
    spec = model.core_spec()
    sizes = "any height and width" if spec.multiple == 1 else f"height and width multiples of {spec.multiple}"
    fixed = all(not {"height", "width"} & set(axes.values()) for axes in spec.dynamic.values())
    if fixed:
        sizes = "the fixed image size of the model"
    feeds = ", ".join(f'"{name}": {name}' for name in spec.inputs)
    rows = []
    for name, x in spec.inputs.items():
        axes = ", ".join(f"{axis}: {label}" for axis, label in spec.dynamic.get(name, {}).items()) or "none"
        rows.append(f"| `{name}` | {tuple(x.shape)} | {x.dtype} | {axes} |")
    inputs = "\n".join(rows)
    return f"""---
library_name: onnx
tags: [hfimg, onnx, {model.model_type}]
---

# {type(model).__name__} ({model.model_type}) as ONNX

`model.onnx` is the core of the hfimg model `{source}`, the tensor function its image-level API runs.
Exported with `hfimg export {source} --format onnx`, float32, batch and {sizes} free.

{spec.description}

| input | example shape | dtype | dynamic axes |
|---|---|---|---|
{inputs}

Output: `{spec.output}`.

Checked at export: onnxruntime reproduces PyTorch (eager, float32) within {error:.1e} (largest absolute difference
on the example inputs and on inputs of another batch and size; the export is refused above {ONNX_TOLERANCE:g}).

```python
import onnxruntime

session = onnxruntime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
{spec.output}, = session.run(None, {{{feeds}}})  # numpy arrays as in the table above
```

Within hfimg the same file runs behind the image-level API: `model.set_backend("onnxruntime")`, or
`hfimg inpaint|restore|generate ... --backend onnxruntime`, or `python app.py --backend onnxruntime`.
`config.json` is the model's own config (architecture, `model_type`).
"""

"""The `hfimg` command: list, inspect and run models from the shell.

hfimg list
hfimg info hfimg/dcgan-fashion-mnist
hfimg generate hfimg/dcgan-fashion-mnist --num 16 --seed 0 -o grid.png
hfimg inpaint hfimg/inpaint-cnn-photos photo.png mask.png -o filled.png
hfimg restore hfimg/denoise-cnn-photos noisy.png -o clean.png
hfimg export hfimg/inpaint-cnn-photos --format onnx -o inpaint-onnx
hfimg inpaint hfimg/inpaint-cnn-photos photos/ --mask watermark.png -o cleaned/   # a folder: resumable, formats kept

generate, inpaint and restore take --backend (auto, fp32, bf16, onnxruntime; default $HFIMG_BACKEND or auto, see
hfimg.runtime): fp32 is the exact path, auto takes bf16 where the CPU has it and the model keeps its output.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from hfimg.batch import FORMATS, run_folder
from hfimg.hub import HubModel
from hfimg.imaging import images_to_grid
from hfimg.registry import list_models, load, model_names
from hfimg.runtime import BACKENDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hfimg", description="Classic image generation and restoration models.")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="List bundled pretrained models and the model families.")

    info = commands.add_parser("info", help="Show a model's class, config and parameter count.")
    info.add_argument("model", help="Bundled id, model folder or Hub repo id.")

    generate = commands.add_parser("generate", help="Sample images from a GAN or VAE into one grid image.")
    generate.add_argument("model", help="Bundled id, model folder or Hub repo id of a generator.")
    generate.add_argument("--num", type=int, default=16, help="Number of images (default 16).")
    generate.add_argument("--seed", type=int, default=None, help="Seed; the same seed gives the same images.")
    generate.add_argument("-o", "--output", default="samples.png", help="Output PNG (default samples.png).")

    inpaint = commands.add_parser("inpaint", help="Fill the white part of a mask in an image or a folder of images.")
    inpaint.add_argument("model", help="Bundled id, model folder or Hub repo id of an inpainter, GAN or VAE.")
    inpaint.add_argument("image", help="Image file, or a folder of images (each processed; see hfimg.batch).")
    inpaint.add_argument(
        "mask",
        nargs="?",
        help="Mask file, same size; white (>= 128) = pixels to fill. For a folder of images: one mask for all, or a "
        "folder of masks named like the images.",
    )
    inpaint.add_argument("--mask", dest="mask_option", help="The mask, as an option (instead of the positional).")
    inpaint.add_argument(
        "-o", "--output", help="Output file (default inpainted.png), or folder for a folder (default INPUT-inpainted)."
    )

    restore = commands.add_parser("restore", help="Restore (denoise) an image or a folder of images.")
    restore.add_argument("model", help="Bundled id, model folder or Hub repo id of a denoiser, GAN or VAE.")
    restore.add_argument("image", help="Image file, or a folder of images (each processed; see hfimg.batch).")
    restore.add_argument(
        "-o", "--output", help="Output file (default restored.png), or folder for a folder (default INPUT-restored)."
    )
    for command in (inpaint, restore):
        command.add_argument(
            "--format",
            choices=sorted(FORMATS),
            default=None,
            help="Folder runs: write every result in this format (default: each input's own format, quality, "
            "colour profile and EXIF). Existing results are kept, so a stopped run resumes.",
        )

    for command in (generate, inpaint, restore):
        command.add_argument(
            "--backend",
            choices=BACKENDS,
            default=None,
            help="How the network runs: auto (default, or $HFIMG_BACKEND): bf16 where the CPU has it and the model "
            "keeps its fp32 output, else fp32; fp32: exact; bf16; onnxruntime (exported once, cached).",
        )

    export = commands.add_parser("export", help="Export a model's network to ONNX, checked against PyTorch.")
    export.add_argument("model", help="Bundled id, model folder or Hub repo id.")
    export.add_argument("--format", choices=["onnx"], default="onnx", help="Export format (default onnx).")
    export.add_argument("-o", "--output", required=True, help="Output folder: model.onnx, config.json, README.md.")
    return parser


def _with_progress(method, **kwargs):
    """Call `method`, showing a progress bar when it reports progress through a `callback(step, loss)`."""
    parameters = inspect.signature(method).parameters
    if "callback" not in parameters:
        return method(**kwargs)
    steps = parameters["steps"].default if "steps" in parameters else None
    with tqdm(total=steps, desc=method.__name__, unit="step") as bar:

        def callback(step: int, loss: float) -> None:
            bar.set_postfix(loss=f"{loss:.4f}")
            bar.update(1)

        return method(**kwargs, callback=callback)


def _require(model: HubModel, method: str, spec: str) -> None:
    if not callable(getattr(model, method, None)):
        raise SystemExit(f"hfimg: {spec} is a {type(model).__name__}, which cannot {method}.")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        print("bundled pretrained models:")
        for model_id in list_models() or ["(none installed)"]:
            print(f"  {model_id}")
        print("model families:", ", ".join(model_names()))
        return 0
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning  # one line each, without the source line of the warning
        try:
            return _run_model_command(args)
        except (OSError, ValueError, TypeError, ImportError) as err:
            # User mistakes (bad path, wrong mask size, unknown id, corrupt file, a backend's package missing) get
            # one line, not a traceback.
            print(f"hfimg: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("hfimg: interrupted. Results written so far are kept: the same command goes on from there.",
                  file=sys.stderr)  # fmt: skip
            return 130
        except Exception as err:  # a bug, not the user's input: a short message here, the traceback in a log file
            handle, name = tempfile.mkstemp(prefix="hfimg-error-", suffix=".log")
            log = Path(name)
            with open(handle, "w") as file:
                file.write(traceback.format_exc())
            print(f"hfimg: internal error ({type(err).__name__}: {err}); the traceback is in {log}.", file=sys.stderr)
            return 1


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"hfimg: warning: {message}", file=sys.stderr)


def _check_inputs(args: argparse.Namespace) -> None:
    """Missing inputs are reported before the model is loaded (which can take seconds)."""
    if args.command == "inpaint":
        if args.mask and args.mask_option:
            raise ValueError("give the mask once: as the third argument or with --mask, not both.")
        args.mask = args.mask or args.mask_option
        if args.mask is None:
            raise ValueError("inpaint needs a mask: hfimg inpaint MODEL IMAGE MASK (or --mask MASK).")
    image = getattr(args, "image", None)
    if image is None:
        return
    if Path(image).is_dir():
        if args.command == "inpaint" and not Path(args.mask).exists():
            raise FileNotFoundError(f"mask: no such file or folder {args.mask!r}.")
        return
    for name in ("image", "mask"):
        path = getattr(args, name, None)
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{name}: no such file {path!r}.")


def _run_model_command(args: argparse.Namespace) -> int:
    _check_inputs(args)
    model = load(args.model)
    if getattr(args, "backend", None):
        model.set_backend(args.backend)
    if args.command == "export":
        from hfimg.export import export_folder  # the exporter is slow to import; only this command needs it

        path = export_folder(model, args.output, args.model)
        print(f"wrote {path} (inputs and outputs in {path.parent / 'README.md'})")
        return 0
    if args.command == "info":
        print(f"{args.model}: {type(model).__name__} ({model.model_type}), {model.num_parameters():,} parameters")
        for key, value in sorted(model.config_dict().items()):
            print(f"  {key} = {value}")
        return 0
    if args.command == "generate":
        _require(model, "generate", args.model)
        images_to_grid(model.generate(args.num, seed=args.seed)).save(args.output)
    elif Path(args.image).is_dir():
        _require(model, args.command, args.model)
        inputs = Path(args.image)
        done = {"inpaint": "inpainted", "restore": "restored"}[args.command]
        output = Path(args.output or f"{inputs.resolve()}-{done}")
        mask = Path(args.mask) if args.command == "inpaint" else None
        report = run_folder(getattr(model, args.command), inputs, output, mask=mask, fmt=args.format)
        print(f"{output}: {report.summary()}")
        return 1 if report.skipped and not report.written and not report.kept else 0
    elif args.command == "inpaint":
        _require(model, "inpaint", args.model)
        args.output = args.output or "inpainted.png"
        _with_progress(model.inpaint, image=args.image, mask=args.mask).save(args.output)
    else:
        _require(model, "restore", args.model)
        args.output = args.output or "restored.png"
        _with_progress(model.restore, image=args.image).save(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

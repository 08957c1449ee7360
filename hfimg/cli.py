"""The `hfimg` command: list, inspect and run models from the shell.

hfimg list
hfimg info hfimg/dcgan-fashion-mnist
hfimg generate hfimg/dcgan-fashion-mnist --num 16 --seed 0 -o grid.png
hfimg inpaint hfimg/inpaint-cnn-photos photo.png mask.png -o filled.png
hfimg inpaint telea photo.png mask.png -o filled.png            # a classical method, by name (hfimg list)
hfimg restore hfimg/denoise-cnn-photos noisy.png -o clean.png
hfimg restore bm3d noisy.png --sigma 25 -o clean.png              # a classical method, by name (hfimg list)
hfimg export hfimg/denoise-cnn-photos --format onnx -o denoise-onnx
hfimg inpaint hfimg/inpaint-cnn-photos photos/ --mask watermark.png -o cleaned/   # a folder: resumable, formats kept

generate, inpaint and restore take --backend (auto, fp32, fp32-cl, bf16, onnxruntime; default $HFIMG_BACKEND or auto,
see hfimg.runtime): fp32 is the exact path, auto takes bf16 where the CPU has it (else fp32 in channels_last) and the
model keeps its output.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from hfimg.batch import FORMATS, run_folder
from hfimg.catalogue import TASKS, method_specs, resolve_method
from hfimg.imaging import images_to_grid
from hfimg.inpainting import WORK_MAX_SIDE, load_inpainter
from hfimg.registry import class_phrase, list_models, load, model_names
from hfimg.restoration import load_restorer
from hfimg.runtime import BACKENDS
from hfimg.tasks import Generates, InpaintOptions, RestoreOptions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hfimg", description="Classic image generation and restoration models.")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="List bundled pretrained models, model families and the methods of each task.")

    info = commands.add_parser("info", help="Show a model's class, config and parameter count.")
    info.add_argument("model", help="Bundled id, model folder or Hub repo id.")

    generate = commands.add_parser("generate", help="Sample images from a GAN or VAE into one grid image.")
    generate.add_argument(
        "model",
        help="A generate method (dcgan, vae: see hfimg list), or the bundled id, model folder or Hub repo id "
        "of a generator.",
    )
    generate.add_argument("--num", type=int, default=16, help="Number of images (default 16).")
    generate.add_argument("--seed", type=int, default=None, help="Seed; the same seed gives the same images.")
    generate.add_argument("-o", "--output", default="samples.png", help="Output PNG (default samples.png).")

    inpaint = commands.add_parser("inpaint", help="Fill the white part of a mask in an image or a folder of images.")
    inpaint.add_argument(
        "model",
        help="An inpainting method (telea, biharmonic, pull-push, inpaint-cnn, ...: see hfimg list), or the bundled "
        "id, model folder or Hub repo id of an inpainter, GAN or VAE.",
    )
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
    inpaint.add_argument(
        "--max_side",
        type=int,
        default=WORK_MAX_SIDE,
        help=f"An image longer than this is filled in a crop around the mask, scaled to this side (default "
        f"{WORK_MAX_SIDE}, as the demo does); 0 = the whole image at its own size.",
    )

    restore = commands.add_parser("restore", help="Restore (denoise) an image or a folder of images.")
    restore.add_argument(
        "model",
        help="A restore method (denoise-cnn, bm3d, nl-means, ...: see hfimg list), or the bundled id, model folder "
        "or Hub repo id of a denoiser, GAN or VAE.",
    )
    restore.add_argument("image", help="Image file, or a folder of images (each processed; see hfimg.batch).")
    restore.add_argument(
        "-o", "--output", help="Output file (default restored.png), or folder for a folder (default INPUT-restored)."
    )
    restore.add_argument(
        "--sigma",
        type=_noise_level,
        default=None,
        help="The noise level, 0-255, when known (BM3D, non-local means and the U-Net denoiser are told it); "
        "default: each method estimates it from the image.",
    )
    restore.add_argument(
        "--ensemble",
        action="store_true",
        help="Network denoisers: average over the 8 flips and rotations of the image (8x the time, a little "
        "cleaner; see benchmarks/RESULTS.md).",
    )
    for command in (inpaint, restore):
        command.add_argument(
            "--steps",
            type=_at_least_one,
            default=None,
            help="Passes of a recurrent inpainter, or gradient steps of a GAN / VAE latent search (at least 1; at "
            "most $HFIMG_MAX_ITERATIONS passes, $HFIMG_MAX_SEARCH_STEPS search steps). Default: the method's own.",
        )
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
            help="How the network runs: auto (default, or $HFIMG_BACKEND): bf16 where the CPU has it, else fp32-cl, "
            "if the model keeps its fp32 output, else fp32; fp32: exact; fp32-cl: fp32 in channels_last (float "
            "rounding); bf16; onnxruntime (exported once, cached).",
        )

    export = commands.add_parser("export", help="Export a model's network to ONNX, checked against PyTorch.")
    export.add_argument("model", help="Bundled id, model folder or Hub repo id.")
    export.add_argument("--format", choices=["onnx"], default="onnx", help="Export format (default onnx).")
    export.add_argument("-o", "--output", required=True, help="Output folder: model.onnx, config.json, README.md.")
    return parser


def _noise_level(text: str) -> float:
    """--sigma: a number from 0 to 255, refused up front."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give the noise level in grey levels.") from None
    if not 0 <= value <= 255:
        raise argparse.ArgumentTypeError(f"{text} is out of range; the noise level is in grey levels, 0-255.")
    return value


def _at_least_one(text: str) -> int:
    """--steps: a whole number of at least 1, refused up front (a folder run would otherwise skip every image)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _ProgressBar:
    """A task's progress(step, total, loss) as a tqdm bar, opened at the first step (when the total is known)."""

    def __init__(self, description: str):
        self.description = description
        self.bar: tqdm | None = None

    def __call__(self, step: int, total: int, loss: float) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.description, unit="step")
        self.bar.set_postfix(loss=f"{loss:.4f}")
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _require(model: object, interface: type, task: str, spec: str) -> None:
    """Stop with one line when `model` lacks the task's interface (`hfimg.tasks`)."""
    if not isinstance(model, interface):
        raise SystemExit(f"hfimg: {spec} is {class_phrase(model)}, which cannot {task}.")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        print("bundled pretrained models:")
        for model_id in list_models() or ["(none installed)"]:
            print(f"  {model_id}")
        print("model families:", ", ".join(model_names()))
        for task in TASKS:  # learned methods load their default model, shown in brackets
            print(f"{task} methods (hfimg {task} METHOD ...):")
            for spec in method_specs(task):
                print(f"  {spec.id:<20} {spec.name}: {spec.summary}" + (f" [{spec.model}]" if spec.model else ""))
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
    if args.command == "generate" or (image is not None and not Path(image).is_dir()):
        _check_output_file(args.output)  # a folder run's --output is a folder
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


def _check_output_file(output: str | None) -> None:
    """An output file name must say which image format to write, one Pillow can write (checked before any work)."""
    if output is None:  # the command's default name
        return
    writable = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}
    suffix = Path(output).suffix.lower()
    if suffix not in writable:
        common = [ext for ext in (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff") if ext in writable]
        found = f"its extension {suffix!r} is not an image format" if suffix else "it has no file extension"
        raise ValueError(f"-o {output}: {found}; end it with {', '.join(common)} (or another format Pillow writes).")


def _run_model_command(args: argparse.Namespace) -> int:
    _check_inputs(args)
    if args.command == "inpaint":
        return _inpaint(args)
    if args.command == "restore":
        return _restore(args)
    # A generate method by id (dcgan) means its default model; every command takes a model by id or folder.
    model = resolve_method(args.model, "generate")[1] if args.command == "generate" else load(args.model)
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
        _require(model, Generates, "generate", args.model)
        images_to_grid(model.generate(args.num, seed=args.seed)).save(args.output)
        print(f"wrote {args.output}")
        return 0
    raise AssertionError(f"unknown command {args.command!r}")  # argparse allows only the commands above


def _restore(args: argparse.Namespace) -> int:
    """`hfimg restore METHOD_OR_MODEL ...`: a catalogued method (e.g. bm3d) or any model that restores."""
    try:
        restorer = load_restorer(args.model)
    except TypeError as err:
        raise SystemExit(f"hfimg: {err}") from None
    if args.backend and restorer.model is not None:
        restorer.model.set_backend(args.backend)
    if Path(args.image).is_dir():

        def restore(image):  # named: the folder run's progress bar shows the name
            return restorer(image, RestoreOptions(sigma=args.sigma, steps=args.steps, ensemble=args.ensemble))

        return _folder(restore, args, "restored")

    def restore_one(bar: _ProgressBar) -> Image.Image:
        options = RestoreOptions(sigma=args.sigma, steps=args.steps, progress=bar, ensemble=args.ensemble)
        return restorer(args.image, options)

    return _single(restore_one, args, "restored.png")


def _inpaint(args: argparse.Namespace) -> int:
    """`hfimg inpaint METHOD_OR_MODEL ...`: a registered method (e.g. telea) or any model that inpaints."""
    try:
        inpainter = load_inpainter(args.model, max_side=args.max_side or None)
    except TypeError as err:
        raise SystemExit(f"hfimg: {err}") from None
    if args.backend and inpainter.model is not None:
        inpainter.model.set_backend(args.backend)
    if Path(args.image).is_dir():

        def inpaint(image, mask):  # named: the folder run's progress bar shows the name
            return inpainter(image, mask, InpaintOptions(steps=args.steps)).image

        return _folder(inpaint, args, "inpainted", Path(args.mask))

    def inpaint_one(bar: _ProgressBar) -> Image.Image:
        filled = inpainter(args.image, args.mask, InpaintOptions(steps=args.steps, progress=bar))
        if (note := filled.region_note()) is not None:
            print(f"{inpainter.name} {note} (--max_side 0: the whole image at its own size).")
        return filled.image

    return _single(inpaint_one, args, "inpainted.png")


def _single(run: Callable[[_ProgressBar], Image.Image], args: argparse.Namespace, default_output: str) -> int:
    """One image: `run(progress)` (a bar opens if the method iterates), saved to args.output or `default_output`."""
    bar = _ProgressBar(args.command)
    try:
        result = run(bar)
    finally:
        bar.close()
    args.output = args.output or default_output
    result.save(args.output)
    print(f"wrote {args.output}")
    return 0


def _folder(process, args: argparse.Namespace, done: str, mask: Path | None = None) -> int:
    """Every image of the folder args.image through `process`, into args.output (default INPUT-<done>)."""
    inputs = Path(args.image)
    output = Path(args.output or f"{inputs.resolve()}-{done}")
    report = run_folder(process, inputs, output, mask=mask, fmt=args.format)
    print(f"{output}: {report.summary()}")
    return 1 if report.skipped and not report.written and not report.kept else 0


if __name__ == "__main__":
    sys.exit(main())

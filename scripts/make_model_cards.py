"""Write the model card of every shipped model from its training run and the benchmark results.

    python scripts/make_model_cards.py [--models dcgan-fashion-mnist ...] [--runs_dir runs]
        [--results_dir benchmarks/results]

For each shipped model whose folder `hfimg/pretrained/<name>/` holds a model (config.json + model.safetensors):

1. the measured numbers come from the benchmark JSON files (`--json` of benchmarks/bench_generation.py,
   bench_inpainting.py, bench_denoising.py, bench_prior.py), matched to the model by its name;
2. the training section (exact command, steps, batch, final losses, every flag) is the one train.py wrote into the
   run's output folder (`<runs_dir>/<name>/README.md`, or `--run NAME=DIR`); the run's model.safetensors must be
   the bundled one. Without a run folder, the training section of the existing `model_cards/<name>.md` is kept;
3. a sample grid (generators) or before/after image (restoration models: validation photos, or Fashion-MNIST test
   images for the Fashion-MNIST inpainter) is drawn with fixed seeds;
4. `model_cards/templates/<name>.md` (Jinja) is rendered by `hfimg.cards.model_card`, with the model class's Hub
   metadata and the measured numbers as EvalResults (the model-index) into `model_cards/<name>.md`, the card's
   committed source, which is copied as `hfimg/pretrained/<name>/README.md`, next to the image.

The order of work: train -> copy config.json and model.safetensors into hfimg/pretrained/<name>/ -> run the
benchmarks with --json -> run this script.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from huggingface_hub import ModelCard

ROOT = Path(__file__).resolve().parent.parent
# The card's parts (scripts/cardkit) and the benchmarks' report formats live in the repository, not in the
# installed package: the repository root is where they import from, whether this file is run or loaded.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import hfimg  # noqa: E402
from hfimg.cards import model_card  # noqa: E402
from hfimg.constants import FASHION_MNIST_HUB_ID  # noqa: E402
from hfimg.registry import BUNDLED_DIR, BUNDLED_ORG  # noqa: E402
from scripts.cardkit.provenance import FASHION_MNIST_DATA, photo_data  # noqa: E402
from scripts.cardkit.readme import readme_table, write_readme_table  # noqa: E402
from scripts.cardkit.results import recipes_section, results_section, speed_section  # noqa: E402
from scripts.cardkit.samples import sample_image  # noqa: E402
from scripts.cardkit.shipped import SHIPPED  # noqa: E402
from scripts.cardkit.training import training_from_card, training_from_run, training_settings  # noqa: E402

# The card section of each further report a bundled model may list (`hfimg.catalogue.BundledModel.extra_reports`).
EXTRA_SECTIONS = {"gan_recipes": recipes_section}

# --- the card --------------------------------------------------------------------------------------------------------


def make_card(
    name: str,
    *,
    model_dir: Path,
    cards_dir: Path,
    report: dict,
    report_file: Path,
    run_dir: Path | None,
    photos_dir: Path,
    fashion_corpus: str = "fashion_mnist",
) -> ModelCard:
    """Write model_cards/<name>.md and its image, and copy both into the model folder."""
    shipped = SHIPPED[name]
    model = hfimg.load(model_dir)
    eval_results, results = results_section(report, shipped.benchmark, name, report_file)
    for extra in shipped.extra_reports:  # e.g. the DCGAN's equal-time recipe table
        extra_file = report_file.parent / f"{extra}.json"
        if extra_file.is_file():
            extra_report = json.loads(extra_file.read_text())
            measured = f"Measured with `{extra_report['command']}` on {extra_report['machine']}."
            results += "\n" + EXTRA_SECTIONS[extra](extra_report) + "\n\n" + measured

    card_file = cards_dir / f"{name}.md"
    if run_dir is not None:
        training = training_from_run(run_dir, model_dir)
    else:
        training = training_from_card(card_file)
        if training is None:
            raise FileNotFoundError(
                f"{name}: no train.py output folder (--runs_dir/{name} or --run {name}=DIR) and no earlier card "
                f"{card_file} to take the training section from; pass --run {name}=<train.py output folder>."
            )

    image, caption = sample_image(model, shipped.benchmark, photos_dir, fashion_corpus)
    image_name = f"{name}.png"
    image.save(cards_dir / image_name)

    repo_id = f"{BUNDLED_ORG}/{name}"
    config = json.loads((model_dir / "config.json").read_text())
    data = (
        FASHION_MNIST_DATA if FASHION_MNIST_HUB_ID in shipped.datasets else photo_data(photos_dir / "provenance.json")
    )
    card = model_card(
        model,
        template=cards_dir / "templates" / f"{name}.md",
        model_name=repo_id,
        datasets=shipped.datasets,
        eval_results=eval_results,
        tags=shipped.tags,
        repo_id=repo_id,
        parameters=f"{model.num_parameters():,}",
        config=config,
        config_json=json.dumps(config, indent=2, sort_keys=True),
        image=image_name,
        caption=caption,
        results=results,
        training=training,
        settings=training_settings(training),
        data=data,
        speed=speed_section(report_file.parent / "speed.json", name, model),
    )
    card.save(card_file)
    shutil.copyfile(card_file, model_dir / "README.md")
    shutil.copyfile(cards_dir / image_name, model_dir / image_name)
    return card


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models",
        nargs="+",
        choices=sorted(SHIPPED),
        default=None,
        help="Cards to write (default: every shipped model whose folder is in --pretrained_dir).",
    )
    parser.add_argument(
        "--runs_dir",
        type=Path,
        default=ROOT / "runs",
        help="Folder of train.py output folders, one per model, named like it (e.g. runs/dcgan-fashion-mnist).",
    )
    parser.add_argument(
        "--run", action="append", default=[], metavar="NAME=DIR", help="The train.py output folder of one model."
    )
    parser.add_argument(
        "--results_dir",
        type=Path,
        default=ROOT / "benchmarks" / "results",
        help="Folder of the benchmark JSON files: generation.json, inpainting.json, denoising.json, prior.json.",
    )
    parser.add_argument("--photos", type=Path, default=ROOT / "data" / "photos", help="The photo corpus folder.")
    parser.add_argument(
        "--fashion_corpus",
        default="fashion_mnist",
        help="Corpus (anything hfimg.data opens) whose first test images the Fashion-MNIST inpainter's sample image "
        "shows (default: Fashion-MNIST).",
    )
    parser.add_argument("--pretrained_dir", type=Path, default=BUNDLED_DIR, help="Folder of the bundled models.")
    parser.add_argument("--cards_dir", type=Path, default=ROOT / "model_cards", help="Folder of the card sources.")
    parser.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="Also rewrite the table of models in this README (e.g. README.md).",
    )
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> list[Path]:
    """Write the cards; returns the card files written."""
    runs = {}
    for item in args.run:
        name, sep, folder = item.partition("=")
        if not sep or name not in SHIPPED:
            raise ValueError(f"--run {item!r}: expected NAME=DIR with NAME one of {', '.join(SHIPPED)}.")
        runs[name] = Path(folder)
    names = args.models or [name for name in SHIPPED if (args.pretrained_dir / name / "config.json").is_file()]
    if not names:
        raise FileNotFoundError(
            f"no shipped model in {args.pretrained_dir} (looked for {', '.join(SHIPPED)}); copy the trained models "
            "there first."
        )
    torch.manual_seed(0)
    written = []
    for name in names:
        model_dir = args.pretrained_dir / name
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"{model_dir} holds no model: copy the run's config.json and model.safetensors there."
            )
        kind = SHIPPED[name].benchmark
        report_file = args.results_dir / f"{kind}.json"
        if not report_file.is_file():
            raise FileNotFoundError(
                f"no {report_file}: run `python -m benchmarks.bench_{kind} --json {report_file}` first."
            )
        run_dir = runs.get(name, args.runs_dir / name)
        make_card(
            name,
            model_dir=model_dir,
            cards_dir=args.cards_dir,
            report=json.loads(report_file.read_text()),
            report_file=report_file,
            run_dir=run_dir if run_dir.is_dir() else None,
            photos_dir=args.photos,
            fashion_corpus=args.fashion_corpus,
        )
        written.append(args.cards_dir / f"{name}.md")
        print(f"wrote {written[-1]} and {model_dir / 'README.md'}")
    if args.readme is not None:
        write_readme_table(args.readme, readme_table(args.pretrained_dir, args.results_dir))
        print(f"wrote the table of models in {args.readme}")
    return written


if __name__ == "__main__":
    try:
        main(parse_args())
    except (FileNotFoundError, ValueError) as err:  # a missing input, said plainly: no traceback needed
        sys.exit(f"make_model_cards.py: error: {err}")

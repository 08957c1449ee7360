"""Sample quality of the Fashion-MNIST generators, judged several ways: FID under three classifiers, precision /
recall, a classifier two-sample test, and class shares, next to three references.

    python -m benchmarks.bench_generation [--models hfimg/dcgan-fashion-mnist hfimg/vae-fashion-mnist]
        [--num_samples 10000] [--json benchmarks/results/generation.json]

Every set is compared with the first N images of the Fashion-MNIST test split (N = --num_samples, at most the
10,000 of the split). To choose a training run's checkpoint without looking at the test split, `--against train`
compares with the last N training images instead (a different set from the floor reference's first N); the figures
a card quotes come from a run against the test split. Each set is brought to the data's own form first, 28x28
grey: a generator trained on framed images (`padding` 2: 28 px in a 32 px black frame) gives 28 px images itself;
one trained on images enlarged to 32 px is scaled back with PIL bicubic. Then:

* FID under each judge (`--judges`): the penultimate layer of a Fashion-MNIST classifier trained without flips.
  The first, `hfimg/fashion-mnist-classifier`, is the one models were selected with; the others (different widths,
  depths, input framing and seeds, trained by `scripts/train_classifier.py`) never touched a model's selection, so
  a generator tuned to the first judge shows it here. Each judge sees every set through its own preprocessing, and
  a judge that does not put the mirrored training images far from the test images is not used (`judging.Panel`).
* KID and class shares under the first judge (every class between 5% and 15% is the target for a generator).
* precision / recall (`hfimg.metrics.precision_recall`, k = 3) in the last judge's features: fidelity and coverage.
* a classifier two-sample test (`hfimg.metrics.two_sample_accuracy`): the held-out accuracy of a fresh small CNN
  trained to tell the set from test images; 50% = indistinguishable. No pretrained feature space involved. The
  median of `--two_sample_seeds` runs, with their range.

References, measured in the same run the same way, since all of these depend on N and the features:

* floor: the first N images of the train split: what a perfect generator would score;
* mirrored training images: the same images flipped left to right, what a generator that learned the data set
  mirrored (trained with flips) would score; far behind the floor under any judge that sees the data's geometry;
* resize round trip: the test images enlarged to 32 px and back (PIL bicubic), what a generator trained on
  enlarged images loses to the resize alone;
* blurred test: the test images blurred with a 3x3 Gaussian of sigma 1 (OpenCV): a generator below this is
  closer to the real images than slightly blurred real images are.

With the references, each augmentation the training stream offers is checked the same way (`judging.AUGMENTATIONS`):
the training images as the stream gives them with it, against the same images without it, under every judge. One
that moves them further from the test images than `judging.AUGMENTATION_FACTOR` times changes the data set, and no
Fashion-MNIST recipe may use it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmarks.common import command_line, load_model, machine, publish, weights_record
from benchmarks.judging import (
    JUDGES,
    SHARE_RANGE,
    TEST_SPLIT_SIZE,
    TRAIN_SPLIT_SIZE,
    Panel,
    add_panel_arguments,
    as_tensor,
    augmentation_check,
    blurred,
    mirrored,
    real_images,
    round_trip,
    samples,
)
from benchmarks.reports import GenerationReport, augmentation_table, generation_table, judge_check_table
from hfimg import metrics
from hfimg.catalogue import default_models

DEFAULT_MODELS = default_models("generate")


def markdown(report: dict) -> str:
    """The report as markdown tables: every judge, then class shares."""
    typed = GenerationReport.from_dict(report)
    short = typed.short_judges
    against = (
        f"the last {typed.num_samples:,} training images (checkpoint selection; the test split is not used)"
        if typed.split == "train"
        else f"the first {typed.num_samples:,} test images"
    )
    lines = [
        f"Machine: {typed.machine}",
        "",
        f"{typed.num_samples:,} images per set against {against}, all "
        f"at 28 px. FID under each judge (the penultimate layer of a classifier; `{short[0]}` is the one models "
        f"were selected with); precision / recall (k = 3) in `{short[-1]}` features; two-sample test = held-out "
        f"accuracy of a fresh CNN telling the set from those {typed.split} images (50% = indistinguishable).",
        "",
    ]
    lines += generation_table(typed, "set", lambda row: f"**{row.name}**" if row.is_model else row.name)
    lines += judge_check_table(typed.judge_check, typed.num_samples)
    lines += augmentation_table(typed.augmentation_check, typed.judges, typed.num_samples)
    labels = typed.labels
    lines += [
        "",
        f"Class shares under `{short[0]}` (target for generators: every class in "
        f"{SHARE_RANGE[0]:.0%}-{SHARE_RANGE[1]:.0%}; the test split shows the classifier's own bias):",
        "",
        "| set | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
        f"| {typed.split} split | {' | '.join(f'{share:.1%}' for share in typed.test_class_shares)} |",
    ]
    lines += [f"| {row.name} | {' | '.join(f'{s:.1%}' for s in row.figures.class_shares)} |" for row in typed.rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models", nargs="+", default=DEFAULT_MODELS, help="Generators: bundled ids, model folders or Hub ids."
    )
    parser.add_argument(
        "--judges",
        nargs="+",
        default=JUDGES,
        help="Fashion-MNIST classifiers whose features give the FIDs; the first also gives KID and class shares, "
        "the last precision / recall.",
    )
    parser.add_argument(
        "--num_samples",
        type=int,
        default=TEST_SPLIT_SIZE,
        help="Images per set (samples, train and test images); lower it for a quick run.",
    )
    parser.add_argument(
        "--two_sample_steps", type=int, default=500, help="Training steps of each two-sample-test network."
    )
    parser.add_argument(
        "--against",
        choices=("test", "train"),
        default="test",
        help="The real images sets are compared with: the first N of the test split, or the last N of the train "
        "split (to choose a checkpoint without looking at the test split).",
    )
    add_panel_arguments(parser)
    parser.add_argument(
        "--no_references",
        action="store_true",
        help="Measure the models only (quick comparisons of runs); the judges are not checked on mirrored images.",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    if not 8 <= args.num_samples <= TEST_SPLIT_SIZE:
        parser.error(f"--num_samples must be in 8..{TEST_SPLIT_SIZE} (the test split's size), got {args.num_samples}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    judges = {}
    for judge_id in args.judges:
        judge = load_model(judge_id)
        if not hasattr(judge, "features") or not hasattr(judge, "labels"):
            raise ValueError(f"{judge_id!r} is a {type(judge).__name__}, not a classifier with features to judge by.")
        judges[judge_id] = judge.eval()
    if args.against == "train":
        test_images = real_images("train", args.num_samples, start=TRAIN_SPLIT_SIZE - args.num_samples)
    else:
        test_images = real_images("test", args.num_samples)
    panel = Panel(judges, as_tensor(test_images), args.two_sample_steps, args.two_sample_seeds, args.mirror_factor)
    # name -> (kind, images); kind is "floor", "mirrored", "round trip", "blurred" (the references) or "model"
    sets = {}
    judge_check, augmentations = {}, {}
    if not args.no_references:
        train_images = real_images("train", args.num_samples)
        sets["floor: train images"] = ("floor", as_tensor(train_images))
        sets["mirrored train images"] = ("mirrored", as_tensor(mirrored(train_images)))
        sets["test images resized 28 -> 32 -> 28"] = ("round trip", as_tensor(round_trip(test_images)))
        sets["blurred test images (3x3, sigma 1)"] = ("blurred", as_tensor(blurred(test_images)))
        judge_check = panel.check(sets["floor: train images"][1], sets["mirrored train images"][1])
        augmentations = augmentation_check(panel, args.num_samples)
    generators = {}
    for model_id in args.models:
        model = load_model(model_id)
        if not hasattr(model, "generate"):
            raise ValueError(f"{model_id!r} is a {type(model).__name__}, not a generator (it has no generate()).")
        generators[model_id] = {"class_name": type(model).__name__, "parameters": model.num_parameters()}
        sets[model_id] = ("model", as_tensor(samples(model, args.num_samples)))

    results = []
    for name, (kind, images) in sets.items():
        figures = panel.measure(images)
        row = {"name": name, "kind": kind, **generators.get(name, {}), **figures}
        if kind == "model":
            row["shares_in_target"] = all(SHARE_RANGE[0] <= s <= SHARE_RANGE[1] for s in row["class_shares"])
        results.append(row)
        print(f"measured {name}", flush=True)
    used = list(panel.judges)
    first = panel.judges[used[0]]
    report = {
        "benchmark": "generation",
        "machine": machine(),
        "command": command_line("benchmarks.bench_generation", argv),
        "weights": weights_record([*args.models, *args.judges]),
        "dataset": "zalando-datasets/fashion_mnist",
        "split": args.against,
        "num_samples": args.num_samples,
        "judges": used,
        "judge_features": {name: judge.num_features for name, judge in panel.judges.items()},
        "features": f"penultimate layer of {used[0]} ({first.num_features}-d)",
        "labels": list(first.labels),
        "test_class_shares": metrics.class_histogram(panel.test, classifier=first),
        "two_sample_seeds": args.two_sample_seeds,
        "judge_check": judge_check,
        "augmentation_check": augmentations,
        "results": results,
    }
    return publish(report, markdown(report), args.json)


if __name__ == "__main__":
    main()

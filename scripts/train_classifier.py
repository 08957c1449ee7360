"""Train the Fashion-MNIST classifier whose features give hfimg's domain FID / KID, and save it with its card.

It reads Fashion-MNIST through `hfimg.data.ImageStream` at 32x32 (the images the Fashion-MNIST GAN and VAE learn
from), trains a `FashionClassifier` for a few epochs, measures accuracy on the test split and writes a Hub-format
folder (config.json, model.safetensors, README.md) that `hfimg.load` reads offline.

    python scripts/train_classifier.py                          # writes hfimg/pretrained/fashion-mnist-classifier
    python scripts/train_classifier.py --epochs 1 --output_dir /tmp/clf
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import torch
from huggingface_hub import EvalResult, ModelCard
from torch.nn import functional as F
from torch.utils.data import DataLoader

import hfimg
from hfimg.cards import model_card
from hfimg.catalogue import JUDGES
from hfimg.data import FASHION_MNIST_HUB_ID, ImageStream
from hfimg.models.classifier import FITS, FashionClassifier

DEFAULT_OUTPUT = Path(hfimg.__file__).parent / "pretrained" / JUDGES[0].removeprefix("hfimg/")
# The card's prose, next to the shipped models' templates (a subfolder: those are one per shipped model).
CARD_TEMPLATE = Path(__file__).resolve().parent.parent / "model_cards/templates/classifier/fashion-mnist-classifier.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist", help="Corpus for hfimg.data (train and test splits).")
    parser.add_argument("--output_dir", type=Path, default=DEFAULT_OUTPUT, help="Where the model folder is written.")
    parser.add_argument("--resolution", type=int, default=32, help="Image size the classifier works at.")
    parser.add_argument("--base_channels", type=int, default=32, help="Width of the first conv stage.")
    parser.add_argument("--convs_per_stage", type=int, default=1, help="3x3 convs per stage (2: a VGG-like network).")
    parser.add_argument(
        "--fit",
        choices=FITS,
        default="resize",
        help="How 28 px Fashion-MNIST images become --resolution px: resize (bicubic, as the hfimg generators of "
        "the first release were trained) or pad (a black frame, every pixel unchanged).",
    )
    parser.add_argument(
        "--model_name",
        default=JUDGES[0],
        help="The id the card gives the model (bundled ids are hfimg/<folder name>).",
    )
    parser.add_argument(
        "--flip",
        action="store_true",
        help="Flip training images horizontally at random. Off by default: Fashion-MNIST's shoes and bags point "
        "one way, and a judge trained on mirrored images cannot see a generator that mirrors them.",
    )
    parser.add_argument("--epochs", type=int, default=3, help="Passes over the train split.")
    parser.add_argument("--batch_size", type=int, default=128, help="Images per optimisation step.")
    parser.add_argument("--learning_rate", type=float, default=2e-3, help="AdamW peak learning rate (cosine decay).")
    parser.add_argument("--weight_decay", type=float, default=1e-4, help="AdamW weight decay.")
    parser.add_argument("--label_smoothing", type=float, default=0.1, help="Cross-entropy label smoothing.")
    parser.add_argument(
        "--num_threads",
        type=int,
        default=1,
        help="CPU threads for torch. One is fastest on a busy machine: with two threads on two shared cores, "
        "waiting at OpenMP barriers made each step 10x slower.",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the weights and of the data order.")
    parser.add_argument(
        "--max_train_steps", type=int, default=None, help="Stop early after this many steps (smoke runs)."
    )
    parser.add_argument("--log_every", type=int, default=100, help="Print the loss every this many steps.")
    return parser.parse_args(argv)


def batches(args: argparse.Namespace, split: str, train: bool) -> DataLoader:
    """One epoch of (B, 1, R, R) images in [-1, 1] with labels; shuffled and flipped for training."""
    stream = ImageStream(
        args.dataset,
        resolution=args.resolution,
        channels=1,
        split=split,
        shuffle_buffer=10_000 if train else 0,
        seed=args.seed,
        flip=train and args.flip,  # off by default: a mirrored shoe is not a Fashion-MNIST shoe (see --flip)
        repeat=False,
        crop="pad" if args.fit == "pad" else "center",
    )
    return DataLoader(stream, batch_size=args.batch_size, num_workers=0)


@torch.no_grad()
def evaluate(model: FashionClassifier, loader: DataLoader) -> tuple[float, list[float]]:
    """Accuracy overall and per class."""
    model.eval()
    correct = torch.zeros(len(model.labels))
    total = torch.zeros(len(model.labels))
    for batch in loader:
        predicted = model(batch["image"]).argmax(dim=1)
        labels = batch["label"]
        total += torch.bincount(labels, minlength=len(model.labels))
        correct += torch.bincount(labels[predicted == labels], minlength=len(model.labels))
    return float(correct.sum() / total.sum()), (correct / total).tolist()


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.num_threads)
    torch.manual_seed(args.seed)
    train_loader = batches(args, "train", train=True)
    labels = train_loader.dataset.dataset.features["label"].names  # the corpus' own class names
    model = FashionClassifier(
        channels=1,
        resolution=args.resolution,
        base_channels=args.base_channels,
        labels=labels,
        convs_per_stage=args.convs_per_stage,
        fit=args.fit,
    )
    print(f"FashionClassifier: {model.num_parameters():,} parameters", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    # Cosine decay over epochs (an ImageStream has no length to count steps by in advance).
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    started = time.perf_counter()
    step = 0
    for epoch in range(args.epochs):
        model.train()
        for batch in train_loader:
            logits = model(batch["image"])  # (B, 10)
            loss = F.cross_entropy(logits, batch["label"], label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step % args.log_every == 0:
                minutes = (time.perf_counter() - started) / 60
                print(f"epoch {epoch} step {step} loss {loss.item():.4f} ({minutes:.1f} min)", flush=True)
            if step == args.max_train_steps:
                break
        schedule.step()
        if step == args.max_train_steps:
            break
    train_minutes = (time.perf_counter() - started) / 60

    accuracy, per_class = evaluate(model, batches(args, "test", train=False))
    print(f"test accuracy {accuracy:.4f} after {args.epochs} epochs, {train_minutes:.1f} min of training", flush=True)
    print("per class: " + ", ".join(f"{n} {a:.3f}" for n, a in zip(model.labels, per_class, strict=True)), flush=True)

    model.save_pretrained(args.output_dir)
    reloaded = hfimg.load(args.output_dir)
    probe = torch.rand(4, 1, args.resolution, args.resolution, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.testing.assert_close(reloaded(probe), model.eval()(probe), rtol=0, atol=0)
    write_card(args, model, accuracy, per_class, train_minutes)
    size_kb = sum(f.stat().st_size for f in args.output_dir.iterdir()) / 1024
    print(f"saved {args.output_dir} ({size_kb:.0f} KB)", flush=True)


def write_card(
    args: argparse.Namespace, model: FashionClassifier, accuracy: float, per_class: list[float], minutes: float
) -> ModelCard:
    """README.md with Hub metadata (a model-index block holding the test accuracy), after save_pretrained."""
    result = EvalResult(
        task_type="image-classification",
        dataset_type=FASHION_MNIST_HUB_ID,
        dataset_name="Fashion-MNIST",
        dataset_split="test",
        metric_type="accuracy",
        metric_value=round(accuracy, 4),
    )
    framing = (
        f"framed in black to {args.resolution}x{args.resolution} (every pixel unchanged; images of other sizes are "
        "framed the same way by `prepare`)"
        if args.fit == "pad"
        else f"enlarged to {args.resolution}x{args.resolution} with PIL bicubic (as the first hfimg generators were "
        "trained)"
    )
    card = model_card(
        model,
        template=CARD_TEMPLATE,
        model_name=args.model_name,
        datasets=[FASHION_MNIST_HUB_ID],
        eval_results=[result],
        parameters=f"{model.num_parameters():,}",
        features=model.num_features,
        # A classifier under another name is one of the extra judges of bench_generation, never used to pick models.
        judge=args.model_name != parse_args([]).model_name,
        accuracy=f"{accuracy:.2%}",
        per_class=[(label, f"{value:.1%}") for label, value in zip(model.labels, per_class, strict=True)],
        command="python " + " ".join(shlex.quote(a) for a in ["scripts/train_classifier.py", *sys.argv[1:]]),
        dataset=FASHION_MNIST_HUB_ID,
        framing=framing,
        flips=", random horizontal flips" if args.flip else " (no flips: the data set's shoes point one way)",
        args=args,
        minutes=f"{minutes:.1f}",
        cpus=os.cpu_count(),
        load=f"{os.getloadavg()[1]:.1f}",
    )
    card.save(args.output_dir / "README.md")
    return card


if __name__ == "__main__":
    main(parse_args())

"""Give a trained ConvVAE a Gaussian-mixture sampling prior fitted to the codes of its training images.

A VAE's decoder only knows the codes its encoder produces, and those do not fill N(0, I): the KL term pulls them
towards it but never all the way. Codes drawn from N(0, I) land between garments and decode to blurred in-between
images. Fitting a mixture of full-covariance Gaussians to the mean codes of training images (ex-post density
estimation, Ghosh et al. 2020) and sampling from it instead closes that gap without touching a weight:

    python scripts/fit_vae_prior.py --model hfimg/vae-fashion-mnist --components 40 \\
        --output_dir hfimg/pretrained/vae-fashion-mnist

The encoder and decoder are copied unchanged (reconstructions, inpainting and restoration stay bit-identical);
the config gains `prior_components` and the weights file the mixture. `train.py --model vae --model_kwargs
'{"prior_components": K}'` does the same fit at the end of training.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import hfimg
from hfimg.data import ImageStream
from hfimg.models.vae import ConvVAE
from hfimg.training.vae import PRIOR_FIT_IMAGES, fit_mixture_prior


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="The trained ConvVAE: bundled id, folder or Hub id.")
    parser.add_argument("--output_dir", type=Path, required=True, help="Where the VAE with its prior is saved.")
    parser.add_argument("--components", type=int, default=40, help="Gaussians in the mixture.")
    parser.add_argument("--dataset", default="fashion_mnist", help="The corpus the VAE was trained on.")
    parser.add_argument("--split", default="train", help="Its training split.")
    parser.add_argument(
        "--crop", choices=("center", "pad"), default="center", help="How training images were brought to size."
    )
    parser.add_argument("--images", type=int, default=PRIOR_FIT_IMAGES, help="Training images whose codes are fitted.")
    parser.add_argument(
        "--per_class",
        action="store_true",
        help="Fit components/classes Gaussians to each class's codes, each class weighed by its share of the images "
        "(needs a labelled corpus), so samples keep the data's class shares.",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the mixture's k-means start.")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> ConvVAE:
    trained = hfimg.load(args.model)
    if not isinstance(trained, ConvVAE):
        raise SystemExit(f"{args.model} is a {type(trained).__name__}, not a ConvVAE.")
    config = {**trained.config_dict(), "prior_components": args.components}
    config.pop("model_type", None)
    model = ConvVAE(**config)
    # Encoder and decoder only: a prior the model already has (of any number of components) is fitted anew.
    weights = {name: tensor for name, tensor in trained.state_dict().items() if not name.startswith("prior_")}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or any(not name.startswith("prior_") for name in missing):
        raise SystemExit(f"{args.model} does not fit a ConvVAE of {config}: {missing or unexpected}")
    stream = ImageStream(
        args.dataset,
        resolution=model.resolution,
        channels=model.channels,
        split=args.split,
        shuffle_buffer=0,
        repeat=False,
        crop=args.crop,
    )
    started = time.perf_counter()
    fit_mixture_prior(model, stream, args.images, seed=args.seed, per_class=args.per_class)
    print(f"fitted {args.components} Gaussians to {args.images:,} codes in {time.perf_counter() - started:.0f} s")
    model.save_pretrained(args.output_dir)
    probe = torch.randn(4, model.latent_dim, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(hfimg.load(args.output_dir).decode(probe), trained.eval().decode(probe), rtol=0, atol=0)
    print(f"saved {args.output_dir} (decoder unchanged)")
    return model


if __name__ == "__main__":
    main(parse_args())

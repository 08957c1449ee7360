"""Where a shipped model's training data comes from: Fashion-MNIST, or the photo corpus with each photo's licence."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

FASHION_MNIST_DATA = """\
[Fashion-MNIST](https://huggingface.co/datasets/zalando-datasets/fashion_mnist) (Xiao, Rasul & Vollgraf, 2017,
Zalando Research; MIT licence): 60,000 train and 10,000 test images of 28x28 grey clothing in 10 classes. The model
is trained on the train split, read with `hfimg.data` from the local copy of the Debian package
`dataset-fashion-mnist` when present, else from the Hub (the same images), enlarged to 32x32 with PIL bicubic; it is
measured on the test split."""

_RST_LINK = re.compile(r"`([^`<]+?)\s*<([^>]+)>`_*")


def photo_data(provenance_file: Path) -> str:
    """The photo corpus: how it is built, its sources and licences, from the corpus's provenance.json."""
    if not provenance_file.is_file():
        raise FileNotFoundError(
            f"no {provenance_file}: build the photo corpus with `python scripts/build_photo_corpus.py --output "
            f"data/photos` (or pass --photos)."
        )
    provenance = json.loads(provenance_file.read_text())
    photos = provenance["photos"]
    splits = Counter(photo["split"] for photo in photos)
    per_source = Counter((photo["source"].split(" ")[0], photo["split"]) for photo in photos)
    sources = list(dict.fromkeys(photo["source"].split(" ")[0] for photo in photos))
    lines = [
        f"A corpus of {len(photos)} photographs built locally by `python scripts/build_photo_corpus.py --output "
        "data/photos` from files that come with Debian packages and Python packages, each downscaled to a long side "
        f"of at most {provenance.get('max_side', 1024)} px and stored as PNG. {splits['train']} photos are used for "
        f"training (random crops); {splits['validation']} whole photos, one per source, are held out for the "
        "benchmarks. The corpus is not redistributed with the model; the photos keep their own licences:",
        "",
        "| source | train photos | validation photos | licences |",
        "|---|---:|---:|---|",
    ]
    for source in sources:
        licences = sorted({_licence(p) for p in photos if p["source"].split(" ")[0] == source})
        summary = "; ".join(licences) if len(licences) <= 2 else f"{len(licences)} statements, one per photo (below)"
        lines.append(f"| {source} | {per_source[source, 'train']} | {per_source[source, 'validation']} | {summary} |")
    lines += [
        "",
        "<details><summary>Every photo, with its author and licence</summary>",
        "",
        "| photo | split | author | licence |",
        "|---|---|---|---|",
        *(
            f"| {p['name']} | {p['split']} | {p['author'].replace('|', '/')} | {_licence(p)} |"
            for p in sorted(photos, key=lambda p: (p["split"], p["name"]))
        ),
        "",
        "</details>",
    ]
    return "\n".join(lines)


def _licence(photo: dict) -> str:
    return _RST_LINK.sub(r"[\1](\2)", photo["license"]).replace("|", "/").replace("\n", " ")

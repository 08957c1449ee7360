"""The training section of a card: the one train.py wrote into its run folder, or the one of the card before."""

from __future__ import annotations

import filecmp
import json
import re
from pathlib import Path

from huggingface_hub import ModelCard

_PREVIEW = re.compile(r"\n!\[preview\]\([^)]*\)\n\n[^\n]*\n")


def training_from_run(run_dir: Path, model_dir: Path) -> str:
    """The "## Training" section train.py wrote into the run's README.md, without the run's preview image."""
    readme = run_dir / "README.md"
    if not readme.is_file():
        raise FileNotFoundError(f"{run_dir} has no README.md: it is not a finished train.py output folder.")
    weights = run_dir / "model.safetensors"
    if weights.is_file() and not filecmp.cmp(weights, model_dir / "model.safetensors", shallow=False):
        raise ValueError(
            f"{model_dir}/model.safetensors is not the model of the run {run_dir}; copy the run's config.json and "
            f"model.safetensors there, or point --run at the run that trained it."
        )
    text = ModelCard.load(readme).text
    start = text.find("## Training")
    if start < 0:
        raise ValueError(f"{readme} has no '## Training' section; was it written by train.py?")
    return _PREVIEW.sub("", text[start:]).strip()


def training_from_card(card_file: Path) -> str | None:
    """The "## Training" section of an existing card (up to the next second-level heading), or None."""
    if not card_file.is_file():
        return None
    text = ModelCard.load(card_file).text
    match = re.search(r"^## Training\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    return match.group(0).strip() if match else None


def training_settings(training: str) -> dict:
    """Every flag of the run: the JSON block train.py puts at the end of its training section."""
    blocks = re.findall(r"```json\n(.*?)\n```", training, flags=re.S)
    if not blocks:
        raise ValueError("the training section holds no JSON block of the run's settings; was it written by train.py?")
    return json.loads(blocks[-1])

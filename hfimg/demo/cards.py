"""The Models tab: each model's card as the visitor reads it, and one summary table of them all.

A card is read where `hfimg.load` found the model (bundled folder, local folder or Hub cache), parsed once per
model, and shown with its own images embedded; without a card, the one the model generates from its config.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path

from huggingface_hub import ModelCard, constants, try_to_load_from_cache

from hfimg.demo.slots import LoadedModel
from hfimg.registry import local_folder


@functools.lru_cache(maxsize=64)
def _parse_card(path: str, mtime_ns: int) -> ModelCard:
    """A card file parsed once (the table and the card's own section both read it; a changed file is read again)."""
    return ModelCard(Path(path).read_text(), ignore_metadata_errors=True)


def model_card(loaded: LoadedModel) -> tuple[ModelCard, Path | None]:
    """A loaded model's card (README.md, found where `hfimg.load` found the model: bundled folder, local folder or
    Hub cache) and its folder; the card generated from the config (and no folder) if there is none."""
    folder = local_folder(loaded.id)
    if folder is not None:
        path = folder / constants.REPOCARD_NAME
    else:
        cached = try_to_load_from_cache(loaded.id, constants.REPOCARD_NAME)
        path = Path(cached) if isinstance(cached, str) else None
    if path is not None and path.is_file():
        return _parse_card(str(path), path.stat().st_mtime_ns), path.parent
    return loaded.model.generate_model_card(), None


def model_card_text(loaded: LoadedModel) -> str:
    """The body of a loaded model's card, without its metadata header, its images embedded and its headings
    demoted."""
    card, folder = model_card(loaded)
    text = card.text.strip()
    return demote_headings(inline_images(text, folder) if folder is not None else text)


def headline_figures(loaded: LoadedModel, limit: int = 3) -> str:
    """The first `limit` results of the card's model-index (e.g. 'PSNR (dB), sigma 25: 32.8'); '' if it has none."""
    results = model_card(loaded)[0].data.eval_results or []
    return "; ".join(f"{r.metric_name}: {r.metric_value:.4g}" for r in results[:limit])


def inline_images(markdown: str, folder: Path) -> str:
    """Embed the card's own PNGs (`![alt](file.png)`, relative to its folder) as data URIs: the page that shows the
    card is not served from the model folder, so relative links would show as broken images."""

    def embed(match: re.Match) -> str:
        file = folder / match.group(2)
        if not file.is_file() or file.suffix.lower() != ".png":
            return match.group(0)
        return f"![{match.group(1)}](data:image/png;base64,{base64.b64encode(file.read_bytes()).decode()})"

    return re.sub(r"!\[([^\]]*)\]\(([^)\s:]+)\)", embed, markdown)


def demote_headings(markdown: str) -> str:
    """Push every heading one level down (# -> ##), outside code blocks, so a card sits under its slot's heading."""
    lines, in_code = [], False
    for line in markdown.splitlines():
        in_code ^= line.startswith("```")
        lines.append("#" + line if line.startswith("#") and not in_code else line)
    return "\n".join(lines)


def models_table(models: Mapping[str, LoadedModel]) -> str:
    """The Models tab's summary: one row per slot (id, task, class, size, headline figures from its card)."""
    rows = ["| Model | Id | Task | Class | Parameters | Headline figures |", "|---|---|---|---|---|---|"]
    for loaded in models.values():
        slot = loaded.slot
        if loaded.model is None:
            rows.append(f"| {slot.title} | `{loaded.id}` | {slot.task} | not available | | {loaded.error} |")
            continue
        model = loaded.model
        rows.append(
            f"| {slot.title} | `{loaded.id}` | {slot.task} | `{type(model).__name__}` | "
            f"{model.num_parameters():,} | {headline_figures(loaded)} |"
        )
    return "\n".join(rows)


def model_details(loaded: LoadedModel) -> str:
    """One model's card (or why it is not available), shown folded under the Models tab's table."""
    if loaded.model is None:
        return f"`{loaded.id}` is not available: {loaded.error}"
    config = json.dumps(loaded.model.init_kwargs(), sort_keys=True)
    return f"Config: `{config}`\n\n{model_card_text(loaded)}"

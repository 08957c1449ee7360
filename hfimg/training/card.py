"""The model card of a finished run, and pushing the run's model folder to the Hub.

The card is the model class's own card (its Hub metadata and usage snippet, written by `hfimg.cards`) with what
the run did: data, steps, batch, the exact command, the final losses and the preview grid. It is written
after `save_pretrained`, which never overwrites an existing README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import HfApi, ModelCard

from hfimg.cards import model_card
from hfimg.hub import HubModel
from hfimg.training.checkpoints import LOCK_FILE, RUN_FILE

# What is not uploaded: checkpoints (large, resumable state), tracker logs, intermediate previews, the run record
# and the run's lock.
HUB_IGNORE = ["checkpoint-*/**", ".checkpoint-*/**", "logs/**", "samples/**", RUN_FILE, LOCK_FILE]


def write_model_card(
    model: HubModel,
    output_dir: Path,
    *,
    dataset: str,
    summary: dict,
    command: str,
    metrics: dict[str, float],
    preview_file: str | None,
    preview_legend: str,
    settings: dict,
    repo_id: str | None = None,
) -> ModelCard:
    """Write `output_dir/README.md` for a trained model and return the card.

    Args:
        model: the saved model (its class gives the card's tags, pipeline tag and template).
        output_dir: the folder `model` was saved to.
        dataset: --dataset; listed in the card metadata when it is a Hub id (not a local path).
        summary: facts of the run shown as a table (steps, batch, resolution, ...).
        command: the command line that trained the model.
        metrics: final training losses and diagnostics, by name.
        preview_file: a preview image inside `output_dir`, or None.
        preview_legend: what the preview's rows show.
        settings: every flag of the run (defaults filled in), shown folded.
        repo_id: the Hub repo the model goes to, for the usage snippet.
    """
    lines = [
        "## Training",
        "",
        f"Trained with hfimg's `train.py` on `{dataset}`.",
        "",
        "| setting | value |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in summary.items()),
        "",
        "Command:",
        "",
        "```bash",
        command,
        "```",
        "",
        "Training metrics at the end (means over the last logging window):",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {name} | {value:.4g} |" for name, value in metrics.items()),
    ]
    if preview_file is not None:
        lines += ["", f"![preview]({preview_file})", "", preview_legend]
    lines += [
        "",
        "<details><summary>All training settings</summary>",
        "",
        "```json",
        json.dumps(settings, indent=2, sort_keys=True),
        "```",
        "",
        "</details>",
    ]
    card = model_card(
        model, description="\n".join(lines), repo_id=repo_id, datasets=[dataset] if _is_hub_id(dataset) else ()
    )
    card.save(output_dir / "README.md")
    return card


def _is_hub_id(dataset: str) -> bool:
    return dataset.count("/") == 1 and not Path(dataset).expanduser().exists() and not dataset.startswith((".", "~"))


def create_hub_repo(repo_id: str) -> str:
    """Create (or reuse) the Hub model repo `repo_id` and return its full id; a clear error when it cannot."""
    try:
        return HfApi().create_repo(repo_id, repo_type="model", exist_ok=True).repo_id
    # huggingface_hub raises OSError subclasses for offline mode and HTTP errors, and the HTTP client's own error
    # types for unreachable hosts; which ones differs across versions, so every failure gets the same message.
    except Exception as err:
        raise OSError(
            f"--push_to_hub: cannot create the Hub repo {repo_id!r} ({type(err).__name__}: {err}). Check the "
            f"connection and `hf auth login` (or HF_TOKEN), or train without --push_to_hub and upload the output "
            f"folder later."
        ) from err


def upload_run(repo_id: str, output_dir: Path, step: int) -> str:
    """Upload the final model folder (without checkpoints and logs) to `repo_id`; returns the commit URL."""
    try:
        commit = HfApi().upload_folder(
            repo_id=repo_id,
            folder_path=str(output_dir),
            repo_type="model",
            commit_message=f"Model trained with hfimg train.py ({step} steps)",
            ignore_patterns=HUB_IGNORE,
        )
    except Exception as err:  # see create_hub_repo
        raise OSError(
            f"--push_to_hub: uploading {output_dir} to {repo_id!r} failed ({type(err).__name__}: {err}); the model "
            f"is saved there, upload it later with `hf upload {repo_id} {output_dir}`."
        ) from err
    return str(commit)

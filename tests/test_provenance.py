"""Every committed benchmark figure is tied to the weights it measured: each report records the SHA-256 of every
bundled model it measured, and a shipped model whose weights are not those fails here, naming the benchmark to run
again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benchmarks package lives at the repository root
from benchmarks.common import config_sha256, weights_record, weights_sha256, with_configs  # noqa: E402
from hfimg.registry import BUNDLED_ORG  # noqa: E402

RESULTS = sorted((ROOT / "benchmarks" / "results").glob("*.json"))


def measured_models(report: dict) -> set[str]:
    """The bundled ids a report gives figures for: its methods' models, its model rows, its rows' models."""
    found = {method["model"] for method in report.get("methods", []) if method.get("model")}
    for row in report.get("results", []) + report.get("rows", []):
        if row.get("kind") == "model":
            found.add(row["name"])
        if isinstance(row.get("model"), str):
            found.add(row["model"])
    return {model for model in found if model.startswith(f"{BUNDLED_ORG}/")}


@pytest.mark.parametrize("path", RESULTS, ids=[path.stem for path in RESULTS])
def test_each_report_names_the_weights_of_every_bundled_model_it_measured(path):
    report = json.loads(path.read_text())
    missing = measured_models(report) - set(report.get("weights", {}))
    assert not missing, f"{path.name} gives figures for {sorted(missing)} without the weights they measured"


@pytest.mark.parametrize("path", RESULTS, ids=[path.stem for path in RESULTS])
def test_shipped_weights_are_the_ones_the_figures_measured(path):
    report = json.loads(path.read_text())
    for model, sha in report.get("weights", {}).items():
        if model.startswith(f"{BUNDLED_ORG}/"):
            assert weights_sha256(model) == sha, (
                f"{path.name} measured other weights of {model} than the ones shipped: re-run `{report['command']}`"
            )


@pytest.mark.parametrize("path", RESULTS, ids=[path.stem for path in RESULTS])
def test_shipped_configs_are_the_ones_the_figures_measured(path):
    """The same weights measure differently under another configuration (a flag such as `detail_transfer`): a
    report that records the configs (those written since it does) fails when a shipped model's is not that one."""
    report = json.loads(path.read_text())
    assert set(report.get("configs", {})) <= set(report.get("weights", {}))
    for model, sha in report.get("configs", {}).items():
        if model.startswith(f"{BUNDLED_ORG}/"):
            assert config_sha256(model) == sha, (
                f"{path.name} measured {model} under another config.json than the one shipped: re-run "
                f"`{report['command']}`"
            )


def test_a_published_report_records_each_measured_models_config_after_its_weights(tmp_path):
    import hashlib

    from benchmarks.common import publish

    folder, bare = tmp_path / "model", tmp_path / "weights-only"
    for each in (folder, bare):
        each.mkdir()
        (each / "model.safetensors").write_bytes(b"weights")
    (folder / "config.json").write_text('{"detail_transfer": true}')
    weights = {**weights_record([folder, bare]), "someone/hub-model": "0" * 64}  # a Hub id has no local folder
    report = {"benchmark": "x", "command": "c", "weights": weights, "rows": []}
    written = publish(report, "| table |", tmp_path / "report.json")
    assert json.dumps(written) == json.dumps(json.loads((tmp_path / "report.json").read_text()))  # order too
    assert list(written) == ["benchmark", "command", "weights", "configs", "rows"]
    assert written["configs"] == {str(folder): hashlib.sha256(b'{"detail_transfer": true}').hexdigest()}
    assert json.dumps(with_configs(written)) == json.dumps(written)  # written again: the same record, once
    (folder / "config.json").write_text('{"detail_transfer": false}')
    assert config_sha256(folder) != written["configs"][str(folder)]
    (folder / "config.json").unlink()
    assert "configs" not in with_configs(written)  # no config left to vouch for: the stale record goes


def test_the_record_is_the_weights_files_own_hash(tmp_path):
    import hashlib

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    assert weights_record([folder, "someone/hub-model"]) == {str(folder): hashlib.sha256(b"weights").hexdigest()}
    (folder / "model.safetensors").write_bytes(b"other weights")
    assert weights_sha256(folder) != hashlib.sha256(b"weights").hexdigest()


# Each committed report and the module whose `markdown` renders it.
RENDERERS = {
    "denoising": "benchmarks.bench_denoising",
    "gan_ablation": "benchmarks.bench_gan_recipes",
    "gan_recipes": "benchmarks.bench_gan_recipes",
    "generation": "benchmarks.bench_generation",
    "health": "benchmarks.bench_health",
    "inpaint_cures": "benchmarks.bench_inpaint_cures",
    "inpaint_texture": "benchmarks.bench_inpainting",
    "inpainting": "benchmarks.bench_inpainting",
    "inpainting_passes": "benchmarks.bench_inpainting",
    "inpainting_schedules": "benchmarks.bench_inpainting",
    "mutation": "scripts.mutation",
    "prior": "benchmarks.bench_prior",
    "speed": "benchmarks.bench_speed",
    "vae_curve": "benchmarks.bench_generation",
    "vae_recipes": "benchmarks.bench_generation",
    "vae_select": "benchmarks.bench_generation",
}


def test_every_report_has_its_renderer():
    assert set(RENDERERS) == {path.stem for path in RESULTS}


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_results_md_shows_the_tables_rendered_from_each_committed_report(name):
    """RESULTS.md (and the report's own .md, where there is one) carry every table row the benchmark renders from
    its committed JSON: a report re-run without its tables rewritten, or a table edited by hand, fails here."""
    import importlib

    report = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
    rendered = importlib.import_module(RENDERERS[name]).markdown(report)
    rows = [line for line in rendered.splitlines() if line.startswith("|")]
    assert rows
    for document in (ROOT / "benchmarks" / "RESULTS.md", ROOT / "benchmarks" / "results" / f"{name}.md"):
        if document.is_file():
            lines = set(document.read_text().splitlines())
            missing = [row for row in rows if row not in lines]
            assert not missing, f"{document.name} lacks {len(missing)} rows of {name}.json's tables: {missing[:2]}"


def test_the_mutation_reports_survivors_are_grouped_by_function_in_number_order():
    from scripts.mutation import by_function

    names = ["hfimg.batch.x_save_like__mutmut_26", "hfimg.cli.x_main__mutmut_6", "hfimg.batch.x_save_like__mutmut_18"]
    assert by_function(names) == "`batch.save_like` 18, 26; `cli.main` 6"
    assert by_function(["hfimg.demo.slots.xǁLoadedModelǁrequire__mutmut_3"]) == "`demo.slots.LoadedModel.require` 3"


def test_a_mutant_that_only_rewords_help_is_told_from_one_that_changes_a_flag():
    from scripts.mutation import only_help_text

    def diff(old: str, new: str) -> str:
        return "--- \n+++ \n@@ -1 +1 @@\n" + "".join(f"-{line}\n" for line in old.split("\n")) + f"+{new}\n"

    flag = 'generate.add_argument("--num", type=int, default=16, help="Number of images (default 16).")'
    reworded = flag.replace("Number of images (default 16).", "XXNumber of images (default 16).XX")
    assert only_help_text(diff(flag, reworded))
    assert only_help_text(diff(flag, flag.replace(', help="Number of images (default 16).")', ")")))
    assert only_help_text(diff(flag, flag.replace('help="Number of images (default 16)."', "help=None")))
    assert not only_help_text(diff(flag, flag.replace("default=16", "default=17")))
    assert not only_help_text(diff(flag, flag.replace("type=int, ", "")))
    joined = '    help="A generate method (dcgan, vae), or the id "\n    "of a generator.",'
    assert only_help_text(diff(joined, "    help=None,"))
    assert only_help_text('@@ -2 +2 @@\n-        "of a generator.",\n+        "XXof a generator.XX",\n')
    assert not only_help_text(
        diff('parser = argparse.ArgumentParser(prog="hfimg")', "parser = argparse.ArgumentParser()")
    )

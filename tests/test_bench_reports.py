"""The benchmarks' typed reports: read from their JSON and written back unchanged, and the tables that a benchmark's
markdown and the model cards share rendered by one function for both."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the benchmarks and the card parts live at the repository root, next to hfimg

from benchmarks import bench_denoising, bench_gan_recipes, bench_generation, bench_inpainting, reports  # noqa: E402
from benchmarks.reports import (  # noqa: E402
    DenoisingReport,
    GanRecipesReport,
    GenerationReport,
    InpaintingReport,
    Method,
    PriorMethod,
    PriorReport,
    methods_table,
)
from scripts.cardkit import results  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def committed(kind: str) -> dict:
    return json.loads((RESULTS / f"{kind}.json").read_text())


@pytest.mark.parametrize(("kind", "report_class"), [("inpainting", InpaintingReport), ("denoising", DenoisingReport)])
def test_reports_round_trip_their_json(kind, report_class):
    raw = committed(kind)
    typed = report_class.from_dict(raw)
    assert typed.to_dict() == raw
    assert json.dumps(typed.to_dict(), indent=2) == json.dumps(raw, indent=2)  # the same keys in the same order
    assert all(isinstance(method, Method) for method in typed.methods)
    assert len(typed.rows) == len(raw["results"])


def test_typed_rows_hold_the_json_values():
    raw = committed("inpainting")
    typed = InpaintingReport.from_dict(raw)
    first = raw["results"][0]
    row = typed.row(first["method"], first["bucket"])
    assert (row.psnr, row.hole_l1, row.images) == (first["psnr"], first["hole_l1"], first["images"])
    assert typed.buckets == list(dict.fromkeys(r["bucket"] for r in raw["results"]))


def test_a_denoising_row_without_detail_round_trips():
    raw = committed("denoising")
    for row in raw["results"]:
        del row["detail"]  # reports written before the detail column
    typed = DenoisingReport.from_dict(raw)
    assert all(row.detail is None for row in typed.rows)
    assert typed.to_dict() == raw
    assert "| - |" in bench_denoising.markdown(raw)  # shown as a dash


def test_noisy_input_has_no_time():
    typed = DenoisingReport.from_dict(committed("denoising"))
    assert typed.median_ms(bench_denoising.NOISY_INPUT) is None
    assert typed.median_ms(typed.methods[0].name) > 0


def test_a_report_of_another_benchmark_is_refused():
    with pytest.raises(ValueError, match="'denoising' report, not a 'inpainting'"):
        InpaintingReport.from_dict(committed("denoising"))


def test_methods_table_bolds_the_cards_own_model_and_dashes_missing_parameters():
    mine, other = Method("Mine (hfimg/x)", "hfimg/x", 1234567), Method("Classical", None, None)
    lines = methods_table([mine, other], ["a", "b"], lambda method: [method.name[0], "1"], mine=mine)
    assert lines == [
        "| method | parameters | a | b |",
        "|---|---:|---:|---:|",
        "| **Mine (hfimg/x)** | 1,234,567 | M | 1 |",
        "| Classical | - | C | 1 |",
    ]


@pytest.mark.parametrize(
    ("kind", "benchmark", "card_section", "name"),
    [
        ("inpainting", bench_inpainting, results.inpainting_results, "inpaint-cnn-photos"),
        ("denoising", bench_denoising, results.denoising_results, "denoise-cnn-photos"),
    ],
)
def test_the_benchmark_and_the_card_render_the_methods_table_with_one_function(
    kind, benchmark, card_section, name, monkeypatch
):
    assert benchmark.methods_table is reports.methods_table and results.methods_table is reports.methods_table
    calls = spy_on(monkeypatch, "methods_table", benchmark, results)
    text = benchmark.markdown(committed(kind))
    assert calls and all("\n".join(lines) in text for lines in calls)
    from_benchmark = len(calls)
    _, section = card_section(committed(kind), name)
    assert len(calls) == from_benchmark + 1 and "\n".join(calls[-1]) in section
    report_class = InpaintingReport if kind == "inpainting" else DenoisingReport
    mine = results.own_method(report_class.from_dict(committed(kind)).methods, name)
    assert f"| **{mine.name}** | {mine.parameters:,} |" in "\n".join(calls[-1])  # the card's own model, in bold


def spy_on(monkeypatch, renderer: str, *modules) -> list[list[str]]:
    """Replace `modules`' reference to the reports module's `renderer` by one that records the lines it returns."""
    calls: list[list[str]] = []
    original = getattr(reports, renderer)

    def spy(*args, **kwargs):
        lines = original(*args, **kwargs)
        calls.append(lines)
        return lines

    for module in modules:
        monkeypatch.setattr(module, renderer, spy)
    return calls


@pytest.mark.parametrize(
    ("kind", "report_class"),
    [("inpainting", InpaintingReport), ("denoising", DenoisingReport), ("generation", GenerationReport),
     ("gan_recipes", GanRecipesReport), ("prior", PriorReport)],
)  # fmt: skip
def test_a_key_the_reader_does_not_know_is_refused_not_dropped(kind, report_class):
    with pytest.raises(ValueError, match=r"keys this reader does not know: \['added_later'\]"):
        report_class.from_dict({**committed(kind), "added_later": 1})


def round_trips(report_class: type, kind: str) -> None:
    raw = committed(kind)
    typed = report_class.from_dict(raw)
    assert typed.to_dict() == raw
    assert json.dumps(typed.to_dict(), indent=2) == json.dumps(raw, indent=2)  # the same keys in the same order


def test_the_generation_report_round_trips_its_json():
    round_trips(GenerationReport, "generation")
    raw, typed = committed("generation"), GenerationReport.from_dict(committed("generation"))
    references = [row for row in typed.rows if not row.is_model]
    assert references and all(row.class_name is None and row.shares_in_target is None for row in references)
    model = typed.model_row(lambda model_id: model_id == "hfimg/dcgan-fashion-mnist")
    first = next(row for row in raw["results"] if row["name"] == "hfimg/dcgan-fashion-mnist")
    assert (model.parameters, model.figures.fid, model.figures.judges) == (
        first["parameters"],
        first["fid"],
        first["judges"],
    )


def test_the_generation_benchmark_and_card_render_their_table_with_one_function(monkeypatch):
    assert bench_generation.generation_table is reports.generation_table
    assert results.generation_table is reports.generation_table
    calls = spy_on(monkeypatch, "generation_table", bench_generation, results)
    text = bench_generation.markdown(committed("generation"))
    _, section = results.generation_results(committed("generation"), "dcgan-fashion-mnist")
    assert len(calls) == 2 and "\n".join(calls[0]) in text and "\n".join(calls[1]) in section
    assert "| **DCGANGenerator (hfimg/dcgan-fashion-mnist)** |" in section  # the card's own model, in bold
    assert calls[0][2:] != calls[1][2:] and [line.count("|") for line in calls[0]] == [
        line.count("|") for line in calls[1]
    ]  # other labels, the same columns


def test_the_gan_recipes_report_round_trips_its_json():
    round_trips(GanRecipesReport, "gan_recipes")
    raw, typed = committed("gan_recipes"), GanRecipesReport.from_dict(committed("gan_recipes"))
    for row, entry in zip(typed.rows, raw["rows"], strict=True):
        assert (row.steps, row.final.precision, len(row.curve)) == (
            entry["steps"],
            entry["final"]["precision"],
            len(entry["curve"]),
        )
        assert [point.step for point in row.curve] == [point["step"] for point in entry["curve"]]


def test_the_recipes_card_section_is_a_narrower_view_of_the_benchmark_table():
    raw = committed("gan_recipes")
    text, section = bench_gan_recipes.markdown(raw), results.recipes_section(raw)
    for row in GanRecipesReport.from_dict(raw).rows:
        fids = " | ".join(f"{fid:.1f}" for fid in row.final.judges.values())
        assert f"| {row.name} | {row.steps:,} | {row.images:,} | {fids} | {row.final.precision:.3f} |" in text
        assert f"| {row.name} | {row.minutes:.0f} | {row.images:,} | {fids} | {row.final.two_sample_cell} |" in section


def test_the_prior_report_round_trips_its_json():
    round_trips(PriorReport, "prior")
    typed = PriorReport.from_dict(committed("prior"))
    assert all(isinstance(method, PriorMethod) and method.kind for method in typed.methods)
    assert typed.buckets == list(dict.fromkeys(row["bucket"] for row in committed("prior")["results"]))


def table_shape_errors(markdown: str) -> list[str]:
    """Each table whose alignment row has another number of cells than its header (GitHub-flavoured markdown, the
    Hub's, then shows no table at all)."""
    lines = markdown.splitlines()
    errors = []
    for header, alignment in zip(lines, lines[1:], strict=False):  # each line and the next
        if header.startswith("|") and alignment.startswith("|---"):
            if header.strip().strip("|").count("|") != alignment.strip().strip("|").count("|"):
                errors.append(header)
    return errors


@pytest.mark.parametrize(
    ("name", "module"),
    [("generation", "bench_generation"), ("inpainting", "bench_inpainting"), ("denoising", "bench_denoising"),
     ("prior", "bench_prior"), ("gan_recipes", "bench_gan_recipes"), ("speed", "bench_speed")],
)  # fmt: skip
def test_every_table_of_the_committed_reports_is_well_formed(name, module):
    import importlib

    markdown = importlib.import_module(f"benchmarks.{module}").markdown(committed(name))
    assert "|---" in markdown
    assert table_shape_errors(markdown) == []


def test_the_table_check_finds_a_misshapen_table():
    assert table_shape_errors("| a | b |\n|---|---:|---:|\n| 1 | 2 |") == ["| a | b |"]


def test_every_model_card_table_is_well_formed():
    for card in (ROOT / "model_cards").glob("*.md"):
        assert table_shape_errors(card.read_text()) == [], card.name


def speed_report(fast_bf16: bool, with_bf16_rows: bool) -> dict:
    """The committed speed report as a machine with or without bf16 in hardware would have written it."""
    report = committed("speed")
    rows = [dict(row, backend=backend) for row in report["rows"][:1] for backend in ("fp32", "bf16")]
    return {**report, "fast_bf16": fast_bf16, "rows": rows if with_bf16_rows else rows[:1]}


@pytest.mark.parametrize(
    ("fast_bf16", "with_bf16_rows", "note"),
    [
        (True, True, None),
        (True, False, None),
        (False, False, "UNTIMED_BF16_NOTE"),
        (False, True, "EMULATED_BF16_NOTE"),
    ],
)
def test_the_speed_table_says_what_its_bf16_column_is_on_a_cpu_without_bf16(fast_bf16, with_bf16_rows, note):
    from benchmarks import bench_speed

    text = bench_speed.markdown(speed_report(fast_bf16, with_bf16_rows))
    notes = {name: getattr(reports, name) in text for name in ("UNTIMED_BF16_NOTE", "EMULATED_BF16_NOTE")}
    assert notes == {name: name == note for name in notes}
    assert table_shape_errors(text) == []


def test_bf16_is_timed_only_when_asked():
    import torch

    from benchmarks import bench_speed

    torch.manual_seed(0)
    for time_bf16 in (True, False):
        rows = bench_speed.time_model("dcgan-fashion-mnist", "generate", [], 1, False, time_bf16=time_bf16)
        assert [row["backend"] == "bf16" for row in rows].count(True) == int(time_bf16)
        assert any(row["backend"] == "fp32" and row["agreement_db"] == float("inf") for row in rows)


def test_the_card_says_why_its_speed_table_has_no_bf16_row(tmp_path):
    import hfimg

    name = "dcgan-fashion-mnist"
    model = hfimg.load(f"hfimg/{name}")
    for fast_bf16, with_bf16_rows in ((False, False), (True, True)):
        report = speed_report(fast_bf16, with_bf16_rows)
        report["rows"] = [dict(row, model=f"hfimg/{name}", task="generate 64") for row in report["rows"]]
        (tmp_path / "speed.json").write_text(json.dumps(report))
        card = results.speed_section(tmp_path / "speed.json", name, model)
        assert (reports.UNTIMED_BF16_NOTE in card) is not fast_bf16
        assert "| generate 64 | fp32" in card
        assert ("| generate 64 | bf16" in card) is with_bf16_rows


@pytest.mark.parametrize("kind", ["inpainting", "denoising", "generation", "prior"])
def test_a_report_with_configs_round_trips_with_them_after_its_weights(kind, monkeypatch):
    from benchmarks import common

    raw = committed(kind)
    monkeypatch.setattr(common, "config_sha256", lambda model: "0" * 64)  # every measured model has a config
    recorded = common.with_configs(raw)
    assert list(recorded)[list(recorded).index("weights") + 1] == "configs"
    report_class = {"inpainting": InpaintingReport, "denoising": DenoisingReport, "generation": GenerationReport}
    typed = report_class.get(kind, PriorReport).from_dict(recorded)
    assert typed.configs == {model: "0" * 64 for model in raw["weights"]}
    assert json.dumps(typed.to_dict()) == json.dumps(recorded)  # same keys, same order

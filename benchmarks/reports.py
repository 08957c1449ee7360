"""Typed reports of the photo benchmarks (inpainting, denoising) and the one renderer of their per-method table.

The JSON that `--json` writes stays the format on disk (scripts/make_model_cards.py and RESULTS.md read it); these
classes are that JSON with names and types: `from_dict` reads it, `to_dict` gives it back unchanged. A benchmark's
`markdown()` and the model cards both render their per-method tables with `methods_table`, so the two cannot drift.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # typing.Self from Python 3.11; annotations are not evaluated at run time here
    from typing_extensions import Self


@dataclass(frozen=True)
class Method:
    """One method of a run: a learned model (`model` is its id) or a classical one (`model` is None)."""

    name: str
    model: str | None
    parameters: int | None

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> Method:
        # Other benchmarks add fields of their own (bench_prior's "kind"): only the shared ones are read.
        return cls(name=entry["name"], model=entry["model"], parameters=entry["parameters"])

    @property
    def parameters_cell(self) -> str:
        return f"{self.parameters:,}" if self.parameters else "-"


@dataclass(frozen=True)
class InpaintingRow:
    """bench_inpainting's averages of one method in one hole-ratio bucket."""

    method: str
    bucket: str  # "10%-20%"
    psnr: float
    ssim: float
    hole_l1: float
    detail: float
    edge_f1: float
    ms: float
    images: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> InpaintingRow:
        return cls(**row)


@dataclass(frozen=True)
class DenoisingRow:
    """bench_denoising's averages of one method at one noise level."""

    method: str
    sigma: float
    psnr: float
    ssim: float
    detail: float | None  # None in reports written before the detail column existed
    ms: float | None  # None for the noisy input, which takes no time
    images: int

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        if self.detail is None:  # absent, as in the report it was read from
            del row["detail"]
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> DenoisingRow:
        return cls(**{"detail": None, **row})


@dataclass(frozen=True)
class PhotoReport:
    """What the photo benchmarks' JSON reports share: the run, its methods and one row per method and setting."""

    KIND: ClassVar[str]  # the report's "benchmark" field
    ROW: ClassVar[type]  # the row class, with from_dict / to_dict

    machine: str
    command: str
    settings: dict[str, Any]
    methods: list[Method]
    rows: list[Any]

    @classmethod
    def from_dict(cls, report: dict[str, Any]) -> Self:
        check_kind(report, cls.KIND)
        return cls(
            machine=report["machine"],
            command=report["command"],
            settings=report["settings"],
            methods=[Method.from_dict(method) for method in report["methods"]],
            rows=[cls.ROW.from_dict(row) for row in report["results"]],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.KIND,
            "machine": self.machine,
            "command": self.command,
            "settings": self.settings,
            "methods": [asdict(method) for method in self.methods],
            "results": [row.to_dict() for row in self.rows],
        }


@dataclass(frozen=True)
class InpaintingReport(PhotoReport):
    """bench_inpainting's JSON report: rows by method and hole-ratio bucket."""

    KIND = "inpainting"
    ROW = InpaintingRow

    @property
    def buckets(self) -> list[str]:
        """The hole-ratio buckets, in the order of the rows."""
        return list(dict.fromkeys(row.bucket for row in self.rows))

    def row(self, method: str, bucket: str) -> InpaintingRow:
        return next(row for row in self.rows if (row.method, row.bucket) == (method, bucket))

    def median_ms(self, method: str) -> float:
        """The median over the buckets of the method's median time per image."""
        return statistics.median(row.ms for row in self.rows if row.method == method)


@dataclass(frozen=True)
class DenoisingReport(PhotoReport):
    """bench_denoising's JSON report: rows by method and noise level."""

    KIND = "denoising"
    ROW = DenoisingRow

    @property
    def sigmas(self) -> list[float]:
        return self.settings["sigmas"]

    def row(self, method: str, sigma: float) -> DenoisingRow:
        return next(row for row in self.rows if (row.method, row.sigma) == (method, sigma))

    def median_ms(self, method: str) -> float | None:
        """The median over the noise levels of the method's median time per image; None when it was not timed."""
        times = [row.ms for row in self.rows if row.method == method and row.ms is not None]
        return statistics.median(times) if times else None


def check_kind(report: dict[str, Any], kind: str) -> None:
    if report.get("benchmark") != kind:
        raise ValueError(f"a {report.get('benchmark')!r} report, not a {kind!r} one.")


def methods_table(
    methods: Iterable[Method],
    columns: Sequence[str],
    cells: Callable[[Method], Sequence[str]],
    mine: Method | None = None,
) -> list[str]:
    """The markdown lines of a table with one row per method: its name, parameters, then `cells(method)`.

    Args:
        methods: the rows, in order.
        columns: the headers of the cells after "method" and "parameters" (all right-aligned: they are numbers).
        cells: the formatted cells of a method, one per column.
        mine: the method whose name is shown in bold (a model card's own model), or None.
    """
    lines = ["| method | parameters | " + " | ".join(columns) + " |", "|---|---:|" + "---:|" * len(columns)]
    for method in methods:
        label = f"**{method.name}**" if method is mine else method.name
        lines.append(f"| {label} | {method.parameters_cell} | " + " | ".join(cells(method)) + " |")
    return lines

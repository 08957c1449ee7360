"""Typed reports of the benchmarks whose JSON the model cards read, and the renderers of the tables both show.

The JSON that `--json` writes stays the format on disk (scripts/make_model_cards.py and RESULTS.md read it); these
classes are that JSON with names and types: `from_dict` reads it, `to_dict` gives it back unchanged. A benchmark's
`markdown()` and the model cards render the tables they share with one function (`methods_table` for the photo
benchmarks, `generation_table` for bench_generation), so the two cannot drift.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # typing.Self from Python 3.11; annotations are not evaluated at run time here
    from typing_extensions import Self


class Record:
    """A dataclass whose JSON object has exactly its fields as keys: read and written back by name.

    Rows whose JSON differs from their fields (nested figures, keys only some rows have) override both methods.
    """

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> Self:
        return cls(**entry)


@dataclass(frozen=True)
class Method:
    """One method of a run: a learned model (`model` is its id) or a classical one (`model` is None)."""

    name: str
    model: str | None
    parameters: int | None
    # A learned inpainter's starting fill: the name of that classical method in the run (keyword-only, so the
    # subclasses' own fields need no default).
    start: str | None = field(default=None, kw_only=True)

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> Method:
        # Other benchmarks add fields of their own (bench_prior's "kind"): only the shared ones are read.
        return cls(name=entry["name"], model=entry["model"], parameters=entry["parameters"], start=entry.get("start"))

    def to_dict(self) -> dict[str, Any]:
        """Its JSON object; "start" only where there is one (the reports written before it have none)."""
        entry = asdict(self)
        if entry["start"] is None:
            del entry["start"]
        return entry

    @property
    def parameters_cell(self) -> str:
        return f"{self.parameters:,}" if self.parameters else "-"


@dataclass(frozen=True)
class InpaintingRow(Record):
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


@dataclass(frozen=True)
class DenoisingRow(Record):
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


def moved_after(entry: dict[str, Any], key: str, anchor: str) -> dict[str, Any]:
    """`entry` with `key` moved to right after `anchor`: a field's place in the JSON when the dataclass declares
    it elsewhere (a base class's field, or one with a default)."""
    value = {k: v for k, v in entry.items() if k != key}
    keys = list(value)
    at = keys.index(anchor) + 1
    return {**{k: value[k] for k in keys[:at]}, key: entry[key], **{k: value[k] for k in keys[at:]}}


def _is_default(entry: Field, value: Any) -> bool:
    """Whether a field with a default holds it: such fields are left out of the JSON, as in reports written before
    the field existed (so reading and writing an old report gives it back unchanged)."""
    if entry.default is not MISSING:
        return value == entry.default
    return entry.default_factory is not MISSING and value == entry.default_factory()


@dataclass(frozen=True)
class Report:
    """A benchmark's JSON report: {"benchmark": KIND, the report's fields in their order, ROWS_KEY: [rows]}.

    Subclasses declare the fields (their names are the JSON keys) and the last one, `rows`, of ROW records; a
    `methods` field holds METHOD records. A key the class does not declare is refused rather than dropped, so
    `to_dict` gives back exactly what `from_dict` read.
    """

    KIND: ClassVar[str]  # the report's "benchmark" field
    ROW: ClassVar[type[Record]]
    # {model id or folder: SHA-256 of the weights measured} (benchmarks.common.weights_record); keyword-only so the
    # subclasses' own fields need no default
    weights: dict[str, str] = field(default_factory=dict, kw_only=True)
    # {model: SHA-256 of its config.json} for the same models (benchmarks.common.with_configs; older reports: none)
    configs: dict[str, str] = field(default_factory=dict, kw_only=True)
    ROWS_KEY: ClassVar[str] = "results"
    METHOD: ClassVar[type[Method]] = Method

    @classmethod
    def from_dict(cls, report: dict[str, Any]) -> Self:
        check_kind(report, cls.KIND)
        names = [field.name for field in fields(cls) if field.name != "rows"]
        unknown = set(report) - {"benchmark", cls.ROWS_KEY, *names}
        if unknown:
            raise ValueError(f"a {cls.KIND!r} report with keys this reader does not know: {sorted(unknown)}.")
        values = {name: report[name] for name in names if name in report}  # a field with a default may be absent
        if "methods" in values:
            values["methods"] = [cls.METHOD.from_dict(method) for method in values["methods"]]
        return cls(**values, rows=[cls.ROW.from_dict(row) for row in report[cls.ROWS_KEY]])

    def to_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {"benchmark": self.KIND}
        for entry in fields(self):
            value = getattr(self, entry.name)
            if entry.name == "methods":
                value = [method.to_dict() for method in value]
            if entry.name != "rows" and not _is_default(entry, value):
                report[entry.name] = value
        report[self.ROWS_KEY] = [row.to_dict() for row in self.rows]
        if "weights" in report and "command" in report:  # written right after the command, as the benchmarks do
            report = moved_after(report, "weights", "command")
        if "configs" in report and "weights" in report:  # and the configs right after the weights
            report = moved_after(report, "configs", "weights")
        return report


@dataclass(frozen=True)
class PhotoReport(Report):
    """What the photo benchmarks' reports share: the run, its methods and one row per method and setting."""

    machine: str
    command: str
    settings: dict[str, Any]
    methods: list[Method]
    rows: list[Any]


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


@dataclass(frozen=True)
class Figures(Record):
    """benchmarks.judging.measure's figures of one set of images against the test images."""

    fid: float  # under the first judge
    kid: float
    kid_std: float
    judges: dict[str, float]  # {judge id: FID in its features}, in the report's judge order
    precision: float
    recall: float
    two_sample_accuracy: float  # the median over two_sample_runs (the single run of reports that have none)
    two_sample_seconds: float  # of one two-sample test
    class_shares: list[float]  # under the first judge, one per label
    two_sample_runs: list[float] = field(default_factory=list)  # one accuracy per seed

    def to_dict(self) -> dict[str, Any]:
        entry = asdict(self)
        if not entry["two_sample_runs"]:  # reports from before the test ran over several seeds have no such key
            del entry["two_sample_runs"]
            return entry
        return moved_after(entry, "two_sample_runs", "two_sample_seconds")  # where benchmarks.judging writes it

    @property
    def two_sample_cell(self) -> str:
        """The two-sample test's median, with its range over seeds where it ran more than once: 51% (50-53%)."""
        runs = self.two_sample_runs
        if len(runs) < 2:
            return f"{self.two_sample_accuracy:.1%}"
        return f"{self.two_sample_accuracy:.1%} ({min(runs):.1%}-{max(runs):.1%})"

    def cells(self, judges: Sequence[str], fid_digits: int) -> list[str]:
        """The cells of a judged set: FID under each judge, precision, recall, two-sample test, extreme shares."""
        return [
            *(f"{self.judges[judge]:.{fid_digits}f}" for judge in judges),
            f"{self.precision:.3f}",
            f"{self.recall:.3f}",
            self.two_sample_cell,
            f"{min(self.class_shares):.1%}",
            f"{max(self.class_shares):.1%}",
        ]


FIGURES_COLUMNS = ("precision", "recall", "two-sample test", "smallest class", "largest class")  # after the FIDs


def judge_name(judge: str) -> str:
    """A judge's short name in tables: hfimg/fashion-mnist-judge-deep -> judge-deep."""
    return judge.removeprefix("hfimg/fashion-mnist-")


@dataclass(frozen=True)
class GenerationRow(Record):
    """bench_generation's figures of one set: a reference (`kind` "floor", "round trip", "blurred") or a model."""

    name: str  # the reference's description, or the model id
    kind: str
    figures: Figures
    class_name: str | None = None  # the model's class; None (absent in the JSON) for a reference
    parameters: int | None = None  # likewise
    shares_in_target: bool | None = None  # likewise: whether every class share is in judging.SHARE_RANGE

    @property
    def is_model(self) -> bool:
        return self.kind == "model"

    def to_dict(self) -> dict[str, Any]:
        # The keys in the order bench_generation writes them, the model-only ones only for models.
        row: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.class_name is not None:
            row |= {"class_name": self.class_name, "parameters": self.parameters}
        row |= self.figures.to_dict()
        if self.shares_in_target is not None:
            row["shares_in_target"] = self.shares_in_target
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> GenerationRow:
        return cls(
            name=row["name"],
            kind=row["kind"],
            figures=Figures.from_dict({field.name: row[field.name] for field in fields(Figures) if field.name in row}),
            class_name=row.get("class_name"),
            parameters=row.get("parameters"),
            shares_in_target=row.get("shares_in_target"),
        )


@dataclass(frozen=True)
class GenerationReport(Report):
    """bench_generation's JSON report: the run's settings and judges, then one row per judged set."""

    KIND = "generation"
    ROW = GenerationRow

    machine: str
    command: str
    dataset: str
    split: str
    num_samples: int
    judges: list[str]  # judge ids; the first gives FID, KID and class shares, the last precision / recall
    judge_features: dict[str, int]
    features: str
    labels: list[str]
    test_class_shares: list[float]
    rows: list[GenerationRow]
    two_sample_seeds: int = 1
    # {judge id: {"floor": FID of training images, "mirrored": FID of their mirror images, "needed": the ratio a
    # judge needs, "used": 1.0 or 0.0}}; empty where the judges were not checked (a run without references)
    judge_check: dict[str, dict[str, float]] = field(default_factory=dict)
    # {augmentation: {"judges": {judge: [FID of the training images, FID of them augmented]}, "keeps": bool}}
    augmentation_check: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def short_judges(self) -> list[str]:
        return [judge_name(judge) for judge in self.judges]

    def model_row(self, matches: Callable[[str], bool]) -> GenerationRow | None:
        """The first model row whose name (model id) `matches`, or None."""
        return next((row for row in self.rows if row.is_model and matches(row.name)), None)


def generation_table(report: GenerationReport, first: str, label: Callable[[GenerationRow], str]) -> list[str]:
    """The markdown lines of bench_generation's table: one row per judged set, every judge's FID, then the rest.

    Args:
        report: the run.
        first: the header of the first column, whose cells are `label(row)`.
        label: a row's first cell (the benchmark bolds every model, a card its own model with its class).
    """
    short = report.short_judges
    lines = [
        f"| {first} | " + " | ".join(f"FID {name}" for name in short) + " | " + " | ".join(FIGURES_COLUMNS) + " |",
        # As many alignment cells as headers: with one more, GitHub-flavoured markdown (the Hub's) shows no table.
        "|---|" + "---:|" * (len(short) + len(FIGURES_COLUMNS)),
    ]
    for row in report.rows:
        lines.append(f"| {label(row)} | " + " | ".join(row.figures.cells(report.judges, 2)) + " |")
    return lines


def judge_check_table(judge_check: dict[str, dict[str, float]], num_samples: int) -> list[str]:
    """The markdown lines of the judges' mirror check (benchmarks.judging.Panel.check); none when not checked."""
    if not judge_check:
        return []
    needed = next(iter(judge_check.values()))["needed"]
    lines = [
        "",
        f"Judges checked on {num_samples:,} training images and their mirror images (a judge is used when the "
        f"mirrored set is at least {needed:g}x as far from the test images, in FID):",
        "",
        "| judge | FID training images | FID mirrored training images | ratio | used |",
        "|---|---:|---:|---:|---|",
    ]
    for judge, check in judge_check.items():
        ratio = check["mirrored"] / max(check["floor"], 1e-6)
        used = "yes" if check["used"] else "no"
        lines.append(
            f"| {judge_name(judge)} | {check['floor']:.2f} | {check['mirrored']:.2f} | {ratio:.0f}x | {used} |"
        )
    return lines


def augmentation_table(check: dict[str, dict[str, Any]], judges: Sequence[str], num_samples: int) -> list[str]:
    """The markdown lines of bench_generation's augmentation check (benchmarks.judging.augmentation_check)."""
    if not check:
        return []
    lines = [
        "",
        f"Training augmentations checked on {num_samples:,} training images: FID of the images as the training "
        "stream gives them with the augmentation, (in brackets: without it), under each judge used:",
        "",
        "| augmentation | " + " | ".join(f"FID {judge_name(judge)}" for judge in judges) + " | keeps the data set |",
        "|---|" + "---:|" * len(judges) + "---|",
    ]
    for name, entry in check.items():
        cells = [f"{entry['judges'][judge][1]:.2f} ({entry['judges'][judge][0]:.2f})" for judge in judges]
        lines.append(f"| {name} | {' | '.join(cells)} | {'yes' if entry['keeps'] else 'no'} |")
    return lines


@dataclass(frozen=True)
class CurvePoint(Record):
    """A learning-curve point of bench_gan_recipes: FIDs of a checkpoint's samples (fewer than the final ones)."""

    step: int
    minutes: float  # of training
    judges: dict[str, float]  # {judge id: FID}


@dataclass(frozen=True)
class RecipeRow(Record):
    """bench_gan_recipes' row of one recipe: where the time budget stopped it, its final figures and its curve."""

    name: str
    flags: dict[str, str]  # train.py flags on top of the report's common ones
    steps: int
    images: int  # seen in training
    minutes: float  # of training
    parameters: int
    final: Figures
    curve: list[CurvePoint]  # empty for a row without a learning curve
    model: str = ""  # the saved model measured (a checkpoint folder); absent in reports written before it was kept

    def to_dict(self) -> dict[str, Any]:
        row = {
            **{field.name: getattr(self, field.name) for field in fields(self)},
            "final": self.final.to_dict(),
            "curve": [point.to_dict() for point in self.curve],
        }
        if not self.model:
            del row["model"]
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> RecipeRow:
        final = Figures.from_dict(row["final"])
        return cls(**{**row, "final": final, "curve": [CurvePoint.from_dict(point) for point in row["curve"]]})


@dataclass(frozen=True)
class GanRecipesReport(Report):
    """bench_gan_recipes' JSON report: DCGAN recipes trained for the same minutes, one row per recipe."""

    KIND = "gan_recipes"
    ROW = RecipeRow
    ROWS_KEY = "rows"

    machine: str
    command: str
    minutes: float  # the time budget of every row
    jobs: int
    num_samples: int
    curve_samples: int
    judges: list[str]  # the judges used (those the mirror check kept)
    common_flags: dict[str, str]
    rows: list[RecipeRow]
    two_sample_seeds: int = 1
    judge_check: dict[str, dict[str, float]] = field(default_factory=dict)  # as in GenerationReport

    @property
    def short_judges(self) -> list[str]:
        return [judge_name(judge) for judge in self.judges]


@dataclass(frozen=True)
class PriorMethod(Method):
    """A method of bench_prior: a Method with its kind ("prior", "feed-forward" or "classical")."""

    kind: str

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> PriorMethod:
        return cls(**entry)  # every key, "kind" included (Method.from_dict reads only the shared ones)


@dataclass(frozen=True)
class PriorRow(Record):
    """bench_prior's averages of one method in one hole-ratio bucket with one kind of mask."""

    method: str
    bucket: str  # "10%-20%"
    kind: str  # of the masks: "strokes" or "boxes"
    ms_batched: float | None  # None for the damaged input, which takes no time
    psnr: float
    ssim: float
    hole_l1: float
    class_agreement: float
    accuracy: float


@dataclass(frozen=True)
class PriorReport(Report):
    """bench_prior's JSON report: rows by method, hole-ratio bucket and mask kind, and single-image timings."""

    KIND = "prior"
    ROW = PriorRow
    METHOD = PriorMethod

    machine: str
    command: str
    settings: dict[str, Any]
    methods: list[PriorMethod]
    classifier_accuracy: float  # on the undamaged images: the ceiling of class agreement's accuracy
    timing: dict[str, Any]  # {"single_calls": n, "single_ms": {method: median ms of one image}}
    rows: list[PriorRow]

    @property
    def buckets(self) -> list[str]:
        """The hole-ratio buckets, in the order of the rows."""
        return list(dict.fromkeys(row.bucket for row in self.rows))

    @property
    def single_ms(self) -> dict[str, float]:
        return self.timing["single_ms"]


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


# --- bench_speed: what its table and the cards say of the bf16 column -------------------------------------------

# Without AVX512-BF16 or AMX, bf16 convolutions are emulated: 15-35x slower than fp32 (at 512 px on a 2-core AMD
# EPYC, an InpaintCNN call took 18 s against 1.2 s, an InpaintRCNN call 55 s against 1.5 s), which made a whole run
# take hours for a column no user of that machine gets.
UNTIMED_BF16_NOTE = (
    "The bf16 backend is not timed: this CPU has no bf16 in hardware (no AVX512-BF16 or AMX), so it is emulated, "
    "tens of times slower than fp32, and `auto` never picks it here (`--emulated_bf16` times it anyway)."
)
EMULATED_BF16_NOTE = (
    "The bf16 column is emulated: this CPU has no bf16 in hardware (no AVX512-BF16 or AMX), and `auto` never picks "
    "it here."
)


def bf16_note(report: dict) -> str | None:
    """What the table says about its bf16 column on a CPU without bf16 in hardware (None on one with it)."""
    if report.get("fast_bf16") is not False:
        return None
    timed = any(row["backend"] == "bf16" for row in report["rows"])
    return EMULATED_BF16_NOTE if timed else UNTIMED_BF16_NOTE

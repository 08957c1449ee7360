"""Mutation testing of the front ends and image handling with mutmut: does a small planted bug fail a test?

mutmut plants one change at a time (an operator flipped, a constant moved, an argument dropped, a string emptied) in
the listed modules and runs only the tests that reach the changed function (it records which tests call which
function in one first pass). A mutant no test notices "survives": a test to add, or a change that cannot alter what
the code does (an equivalent mutant), which RESULTS.md explains.

Not part of CI (it runs for about an hour and a half on 2 cores). It works in a copy of the working tree, so the
repository is never touched, and resumes where it stopped when run again with --resume:

    pip install mutmut==3.8.1
    python scripts/mutation.py --workdir ~/hfimg-runs/mutation --children 2 --json benchmarks/results/mutation.json
    python scripts/mutation.py --workdir ~/hfimg-runs/mutation --resume --survivors ...   # after adding tests

The JSON and the markdown beside it list every mutant's status by module and each survivor's diff.

A change to `MODULES` or `DESELECT` changes which tests mutmut may run, and mutmut then forgets every verdict it
has (all mutants "not checked" again): after such a change, plan for a whole run. A change to the code or the tests
only re-tests the functions that changed.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import fnmatch
import json
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, publish  # noqa: E402

# Each module under test and the test files that may reach it. mutmut narrows each mutant to the tests that called
# its function during the first pass; this list only keeps the slow, unrelated suites (training, ONNX export of every
# family, the browser) out of that pass.
MODULES: dict[str, list[str]] = {
    "hfimg/cli.py": [
        "tests/test_cli.py", "tests/test_batch.py", "tests/test_inputs.py", "tests/test_tiling.py",
        "tests/test_restoration.py",
        # The export command's and the --backend flag's tests, without the rest of that file's ONNX exports.
        "tests/test_runtime.py::test_cli_export_writes_a_checked_model_and_its_card",
        "tests/test_runtime.py::test_cli_backend_flag",
    ],
    "hfimg/batch.py": ["tests/test_batch.py"],
    "hfimg/imaging.py": ["tests/test_inputs.py", "tests/test_cli.py", "tests/test_hub.py", "tests/test_tiling.py"],
    "hfimg/classical.py": [
        "tests/test_classical.py", "tests/test_inpainting.py", "tests/test_inpaint_models.py",
        "tests/test_restoration.py",
    ],
    "hfimg/demo/": [
        "tests/test_app.py", "tests/test_inputs.py", "tests/test_inpainting.py", "tests/test_restoration.py",
    ],
}  # fmt: skip
# What the tests read besides the package: the shipped examples (quality floors) and the app.
ALSO_COPY = ["hfimg", "tests", "examples", "app.py", "benchmarks", "model_cards", "scripts", "README.md"]
# Tests that hold outside mutmut but not under it, by how mutmut runs them:
DESELECT = [
    # A warning shown at the caller's line: mutmut calls every function through a trampoline, one stack frame more,
    # so the warning points into the trampoline.
    "tests/test_inpaint_models.py::test_empty_mask_gives_unchanged_steps",
    # The guard that huggingface_hub reads the test cache set by conftest: mutmut imports the packages once and forks,
    # so conftest runs again with a new temporary cache the imported huggingface_hub no longer reads (both are
    # temporary folders; the real cache is not touched either way).
    "tests/test_hub.py::test_hub_cache_env_is_what_huggingface_hub_uses",
]
MUTMUT_VERSION = "3.8.1"
# A mutant whose tests take longer than TIMEOUT_MULTIPLIER x (their unmutated time + TIMEOUT_CONSTANT seconds) is
# stopped and counted as a timeout: caught (an endless loop, a wait that never ends), as mutmut counts it. The
# constant covers what the unmutated timing leaves out (a forked child's pytest start, a busy machine), so a slow
# start is not taken for a hang; mutmut's defaults (15 x (t + 1)) let each hanging mutant wait minutes.
TIMEOUT_MULTIPLIER = 3
TIMEOUT_CONSTANT = 30
TRIAGE = ROOT / "scripts" / "mutation_triage.json"  # why each surviving mutant survives: a test missing, or none can
STATUS = re.compile(r"^\s*(\S+): (.+)$")


def copy_tree(target: Path) -> None:
    """The working tree's files (tracked, and untracked but not ignored) into `target`, with mutmut's settings."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    tests = sorted({test for selection in MODULES.values() for test in selection})
    settings = f"""
[tool.mutmut]
source_paths = {json.dumps(list(MODULES))}
pytest_add_cli_args_test_selection = {json.dumps(tests)}
pytest_add_cli_args = {json.dumps([arg for test in DESELECT for arg in ("--deselect", test)])}
timeout_multiplier = {TIMEOUT_MULTIPLIER}
timeout_constant = {TIMEOUT_CONSTANT}
also_copy = {json.dumps(ALSO_COPY)}
"""
    with open(target / "pyproject.toml", "a") as file:
        file.write(settings)


def module_of(mutant: str) -> str:
    """'hfimg.demo.files.x_load__mutmut_3' -> the MODULES key it belongs to ('hfimg/demo/')."""
    dotted = mutant.split(".x")[0].split(".xǁ")[0]
    path = dotted.replace(".", "/") + ".py"
    for module in MODULES:
        if path == module or (module.endswith("/") and path.startswith(module)):
            return module
    return path


def statuses(tree: Path) -> dict[str, str]:
    """Every mutant's status, from mutmut's own records in `tree`."""
    listing = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=tree, capture_output=True, text=True
    ).stdout
    return {m.group(1): m.group(2).strip() for line in listing.splitlines() if (m := STATUS.match(line))}


def collect(tree: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Every mutant's status, and the diff of each survivor (its function against the original, as `mutmut show`
    prints it, read from the mutated sources at once rather than one `mutmut show` process per mutant)."""
    status = statuses(tree)
    sources: dict[Path, dict[str, str]] = {}
    diffs = {}
    for name, state in status.items():
        if state != "survived":
            continue
        module, function = name.split(".x", 1)[0], name.split("__mutmut_")[0].rsplit(".", 1)[1]
        path = tree / "mutants" / (module.replace(".", "/") + ".py")
        if path not in sources:
            sources[path] = functions_of(path)
        original = sources[path].get(f"{function}__mutmut_orig", "")
        mutated = sources[path].get(name.rsplit(".", 1)[1], "")
        diffs[name] = "".join(
            difflib.unified_diff(original.splitlines(True), mutated.splitlines(True), n=0, lineterm="\n")
        )
    return status, diffs


def functions_of(path: Path) -> dict[str, str]:
    """Source of every function (module level or in a class) of a file, by name, its own name replaced by a
    common one so that two versions of a function differ only where the mutation is."""
    text = path.read_text()
    lines = text.splitlines(True)  # sliced by line numbers: ast.get_source_segment re-splits the file on each call
    found = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = "".join(lines[node.lineno - 1 : node.end_lineno])
            found[node.name] = body.replace(node.name, "function", 1)
    return found


# A keyword argument that only words --help, and its string (or None): what a "help-text" mutant may change.
HELP_TEXT = re.compile(r"""\b(?:help|description|metavar)=(?:None|f?"(?:[^"\\]|\\.)*"|f?'(?:[^'\\]|\\.)*')""")


def only_help_text(diff: str) -> bool:
    """Whether a survivor's diff changes nothing but the wording of --help: the lines it removes and adds are the
    same once every `help=` / `description=` / `metavar=` argument is taken out (implicitly joined string literals
    read as one, and a help string's continuation line alone counts as help text)."""

    def code(lines: list[str]) -> str:
        text = " ".join(line.strip() for line in lines)
        text = re.sub(r'"\s+f?"', "", text)  # "a " "b" is one literal
        text = re.sub(r'^"(?:[^"\\]|\\.)*",?$', "", text)  # a continuation line of a help string, alone
        text = HELP_TEXT.sub("", text)
        text = re.sub(r",\s*(?=[,)])", "", text)  # the comma an argument taken out leaves behind
        return re.sub(r"\s+", "", text)

    removed = [line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return bool(removed or added) and code(removed) == code(added)


def triage(survivors: list[str]) -> tuple[dict[str, str], dict[str | None, list[str]]]:
    """The reasons of scripts/mutation_triage.json, and each survivor under the reason of the first pattern (a
    shell-style glob on the mutant's name) that matches it; None holds those no pattern matches."""
    rules = json.loads(TRIAGE.read_text()) if TRIAGE.is_file() else {"reasons": {}, "mutants": {}}
    grouped: dict[str | None, list[str]] = defaultdict(list)
    for name in survivors:
        reason = next((r for pattern, r in rules["mutants"].items() if fnmatch.fnmatchcase(name, pattern)), None)
        grouped[reason].append(name)
    unknown = {r for r in grouped if r is not None and r not in rules["reasons"]}
    if unknown:
        raise ValueError(f"{TRIAGE}: reasons used but not written out: {', '.join(sorted(unknown))}")
    return rules["reasons"], dict(grouped)


def add_help_text_reasons(diffs: dict[str, str]) -> None:
    """Write the untriaged survivors of the `build_parser` functions whose diff only rewords --help into the triage
    file, under "help-text"."""
    rules = json.loads(TRIAGE.read_text())
    _, grouped = triage(sorted(diffs))
    # Only argparse's builders: elsewhere a `description=` or `help=` string may be what a user is shown as a result.
    found = [name for name in grouped.get(None, []) if "build_parser" in name and only_help_text(diffs[name])]
    rules["mutants"] |= {name: "help-text" for name in found}
    TRIAGE.write_text(json.dumps(rules, indent=2, ensure_ascii=False) + "\n")
    print(f"{len(found)} survivors only reword --help: listed under 'help-text' in {TRIAGE.name}.")


def short(mutant: str) -> str:
    """'hfimg.batch.x_save_like__mutmut_18' -> 'batch.save_like 18'."""
    function, _, number = mutant.removeprefix("hfimg.").partition("__mutmut_")
    return f"{function.replace('.x_', '.').replace('.xǁ', '.').replace('ǁ', '.')} {number}"


def by_function(mutants: list[str]) -> str:
    """Mutant names grouped by their function, numbers in order: '`batch.save_like` 18, 26; `cli.main` 6'."""
    numbers: dict[str, list[int]] = defaultdict(list)
    for name in mutants:
        function, number = short(name).rsplit(" ", 1)
        numbers[function].append(int(number))
    return "; ".join(f"`{function}` {', '.join(map(str, sorted(found)))}" for function, found in numbers.items())


def changed_line(diff: str) -> str:
    """The mutated line of a survivor's diff (its first added line), stripped."""
    added = (line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
    return next(added, "?")


def report(status: dict[str, str], diffs: dict[str, str], command: str) -> dict:
    """The run as JSON: counts by module, every mutant's status, each survivor's diff and its triage reason."""
    by_module: dict[str, Counter] = defaultdict(Counter)
    for name, state in status.items():
        by_module[module_of(name)][state] += 1
    rows = {module: dict(by_module.get(module, Counter())) for module in MODULES}
    rows["all"] = dict(sum((Counter(counts) for counts in rows.values()), Counter()))
    reasons, triaged = triage(sorted(diffs))
    return {
        "command": command,
        "machine": machine(),
        "mutmut": MUTMUT_VERSION,
        "by_module": rows,
        "status": status,
        "survivors": diffs,
        "reasons": {key: text for key, text in reasons.items() if key in triaged},
        "triage": {reason or "untriaged": names for reason, names in triaged.items()},
    }


def markdown(data: dict) -> str:
    """The report's tables: the score by module, then the survivors by triage reason, then those not triaged."""
    lines = [
        "| module | mutants | killed | timeout | survived | no tests | not yet run | score |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for module, counts in data["by_module"].items():
        counts = Counter(counts)
        tested = sum(counts[s] for s in ("killed", "timeout", "survived"))
        score = counts["killed"] / tested if tested else 0.0  # a timeout is not counted caught until re-checked
        lines.append(
            f"| {module} | {sum(counts.values())} | {counts['killed']} | {counts['timeout']} | {counts['survived']} "
            f"| {counts['no tests']} | {counts['not checked']} | {score:.1%} |"
        )
    text = "\n".join(lines) + (
        "\n\nScore: killed mutants over tested ones (killed, timeout, survived). A timeout (the tests ran over their "
        "time limit) is not counted as caught: on a busy machine it can be a slow start rather than a hang, so it is "
        "run again on a quiet one.\n"
    )
    triaged = {reason: names for reason, names in data["triage"].items() if reason != "untriaged"}
    if triaged:
        text += "\nSurviving mutants, each with the reason no test fails on it (scripts/mutation_triage.json):\n\n"
        text += "| reason | mutants |\n|---|---|\n"
        for reason, names in triaged.items():
            text += f"| {data['reasons'][reason]} | {by_function(names)} |\n"
    untriaged = data["triage"].get("untriaged", [])
    if untriaged:
        text += f"\nNot triaged yet ({len(untriaged)}: a test to write, or a reason to give):\n\n"
        text += "\n".join(f"- `{short(name)}`: `{changed_line(data['survivors'][name])}`" for name in untriaged)
        text += "\n"
    return text


def run_mutmut(parser: argparse.ArgumentParser, args: argparse.Namespace, tree: Path) -> None:
    """mutmut in a fresh copy of the working tree, or in the existing one (`--resume`, the code copied in again)."""
    if not args.resume:
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        copy_tree(tree)
    elif not tree.is_dir():
        parser.error(f"--resume: there is no copy in {tree}; run once without --resume.")
    else:  # code and tests may have changed since: copy them in again (mutmut re-tests the functions that changed)
        copy_tree(tree)
        for meta in (tree / "mutants").rglob("*.meta"):
            try:
                json.loads(meta.read_text())
            except ValueError:  # mutmut writes it in place: a run killed then can leave it cut short
                print(f"{meta.relative_to(tree)} was cut short by a stopped run: its module's mutants run again.")
                meta.unlink()
    log = args.workdir / "mutmut.log"
    with open(log, "a") as out:
        names = list(args.only or [])
        if args.survivors:
            names += [name for name, state in statuses(tree).items() if state == "survived"]
        run = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.children), *names]
        code = subprocess.run(run, cwd=tree, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        sys.exit(f"mutmut stopped with exit code {code}; its log is {log}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path.home() / "hfimg-runs" / "mutation")
    parser.add_argument("--resume", action="store_true", help="Go on in the existing copy instead of a fresh one.")
    parser.add_argument("--children", type=int, default=1, help="Mutants tested at once (one thread each).")
    parser.add_argument("--only", nargs="*", default=None, help="Mutant names (or globs) to test again.")
    parser.add_argument(
        "--survivors", action="store_true", help="Test the surviving mutants again (after tests were added)."
    )
    parser.add_argument("--json", type=Path, default=None, help="Write the results here (and a .md beside it).")
    parser.add_argument("--report_only", action="store_true", help="Report the copy's results without running.")
    parser.add_argument(
        "--triage_help_text",
        action="store_true",
        help="List every untriaged survivor of build_parser whose diff only changes --help's wording under the "
        "'help-text' reason in scripts/mutation_triage.json (each by name, so the list stays reviewable).",
    )
    args = parser.parse_args()

    tree = args.workdir / "tree"
    if args.report_only:
        if not (tree / "mutants").is_dir():
            parser.error(f"--report_only: no mutmut results in {tree}.")
    else:
        run_mutmut(parser, args, tree)
    status, diffs = collect(tree)
    if args.triage_help_text:
        add_help_text_reasons(diffs)
    data = report(status, diffs, "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))
    publish(data, markdown(data), args.json)


if __name__ == "__main__":
    main()

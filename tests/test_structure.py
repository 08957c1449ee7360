"""The package's shape: its imports run one way (no module imports, even lazily, one that imports it back)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hfimg"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """hfimg module -> the hfimg modules it imports anywhere in its code (also inside functions), except under
    `if TYPE_CHECKING:` (read by type checkers only). `from hfimg import x` counts as importing hfimg.x when x is
    a module, else as importing the package hfimg itself (its __init__ imports the models)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        type_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for node in ast.walk(block)
        }
        targets = set()
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                submodules = {f"{node.module}.{alias.name}" for alias in node.names}
                targets |= {t for t in submodules if t in modules} or {node.module}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_circle():
    graph = import_graph()
    assert "hfimg.catalogue" in graph["hfimg.inpainting"]  # the graph is read at all
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_models_do_not_import_the_front_ends():
    graph = import_graph()
    front_ends = {"hfimg.cli", "hfimg.inpainting", "hfimg.registry"} | {m for m in graph if m.startswith("hfimg.demo")}
    for name, imported in graph.items():
        if name.startswith("hfimg.models"):
            assert not imported & front_ends, f"{name} imports {sorted(imported & front_ends)}"


def code_strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a Python file that its code uses, docstrings left out: (line, text)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_bundled_model_id_is_written_outside_the_catalogue():
    from hfimg.registry import BUNDLED_DIR

    names = sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "config.json").is_file())
    assert "dcgan-fashion-mnist" in names  # the bundled folders are read at all
    root = PACKAGE.parent
    files = [*PACKAGE.rglob("*.py"), *(root / "benchmarks").rglob("*.py"), *(root / "scripts").rglob("*.py")]
    found = [
        f"{path.relative_to(root)}:{line}: {text!r}"
        for path in [*files, root / "app.py"]
        if path != PACKAGE / "catalogue.py"
        for line, text in code_strings(path)
        if any(f"hfimg/{name}" in text or text == name for name in names)
    ]
    assert found == [], "bundled ids belong in hfimg/catalogue.py:\n" + "\n".join(found)


def test_the_id_finder_sees_a_string_but_not_a_docstring(tmp_path):
    source = tmp_path / "m.py"
    source.write_text('"""Uses hfimg/x."""\n\ndef f():\n    """hfimg/y"""\n    return "hfimg/z"\n')
    assert code_strings(source) == [(5, "hfimg/z")]

"""The package's layers, read from its source with ast: import graph, sizes, docstrings.

Every import statement counts: module-level, inside a function (a lazy import is still
a dependency) and under `if TYPE_CHECKING:`. Exceptions are listed by name with the
reason, so a new violation fails and a fixed one must leave its list.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "capture"
MAX_LINES = 400

# Modules over MAX_LINES, each being split or with a reason to stay whole.
LONG_MODULES = {}

# Imports that break a layer rule today, each with the work that removes it.
ALLOWED_IMPORTS: dict[tuple[str, str], str] = {}

# (importer layer, layers it must not import); a layer is a package under capture/.
LAYER_RULES = [
    ("capture.output", ("capture.load", "capture.cli")),
    ("capture.store", ("capture.load", "capture.output", "capture.cli")),
    ("capture.verdict", ("capture.load", "capture.store", "capture.output", "capture.cli")),
    ("capture.diagnose", ("capture.load", "capture.store", "capture.output", "capture.cli")),
]


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Returns every module under capture/, by dotted name."""
    return {_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imported(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Yields the capture modules one import statement names."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: from the package the module is in
            package = module.split(".")[: None if is_package else -1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, *([node.module] if node.module else [])])
        for alias in node.names:
            # `from capture.store import database` names the module capture.store.database
            sub = f"{base}.{alias.name}"
            yield sub if sub in modules() else base


@cache
def graph() -> dict[str, frozenset[str]]:
    """Returns each module's imports of other capture modules."""
    edges = {}
    for module, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        targets = {
            target
            for node in ast.walk(tree)
            for target in _imported(node, module, is_package)
            if target in modules() and target != module
        }
        edges[module] = frozenset(targets)
    return edges


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Returns the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (top := stack.pop()) != node:
                component.append(top)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_lazy_and_type_only_imports() -> None:
    # config imports the rules inside RunConfig.rules() and under TYPE_CHECKING.
    assert "capture.verdict.rules" in graph()["capture.config"]
    assert "capture.store.database" in graph()["capture.load.workers"]


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_cycles_finds_loops(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles({k: frozenset(v) for k, v in edges.items()}) == expected


def test_no_import_cycles() -> None:
    found = cycles(graph())
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def _violations(importer_layer: str, forbidden: tuple[str, ...]) -> set[tuple[str, str]]:
    return {
        (module, target)
        for module, targets in graph().items()
        if _in(module, importer_layer)
        for target in targets
        if any(_in(target, layer) for layer in forbidden)
    }


@pytest.mark.parametrize(("layer", "forbidden"), LAYER_RULES)
def test_layer_imports_flow_one_way(layer: str, forbidden: tuple[str, ...]) -> None:
    found = _violations(layer, forbidden)
    assert found - ALLOWED_IMPORTS.keys() == set()


def test_nothing_imports_the_cli_but_main() -> None:
    found = {
        (module, target)
        for module, targets in graph().items()
        if not _in(module, "capture.cli") and module != "capture.__main__"
        for target in targets
        if _in(target, "capture.cli")
    }
    assert found == set()


def test_target_imports_nothing_else_of_capture() -> None:
    found = {
        (module, target)
        for module, targets in graph().items()
        if _in(module, "capture.target")
        for target in targets
        if not _in(target, "capture.target")
    }
    assert found == set()


def test_allowed_imports_are_still_needed() -> None:
    # An entry whose import is gone must leave the list, so the list stays exact.
    present = {edge for layer, forbidden in LAYER_RULES for edge in _violations(layer, forbidden)}
    assert set(ALLOWED_IMPORTS) - present == set()


def _lines(module: str) -> int:
    return len(modules()[module].read_text(encoding="utf-8").splitlines())


def test_modules_are_short() -> None:
    long = {module for module in modules() if _lines(module) > MAX_LINES}
    assert long - LONG_MODULES.keys() == set()


def test_long_module_exceptions_are_still_long() -> None:
    # A module split below the limit must leave LONG_MODULES, so the list stays exact.
    assert {m for m in LONG_MODULES if m not in modules() or _lines(m) <= MAX_LINES} == set()


def test_every_package_says_what_lives_in_it() -> None:
    packages = [path for path in modules().values() if path.name == "__init__.py"]
    assert len(packages) >= 7  # capture and its six layers
    missing = [
        str(path.relative_to(ROOT.parent))
        for path in packages
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert missing == []

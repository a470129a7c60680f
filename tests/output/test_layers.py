"""The output layer stands apart from the run layer: it reads results, never drives a run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import capture

OUTPUT = Path(capture.__file__).parent / "output"


def _imported(path: Path) -> set[str]:
    """Returns every module path imports, at any depth (lazy imports inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(OUTPUT.glob("*.py")), ids=lambda p: p.name)
def test_output_imports_nothing_of_load(path: Path) -> None:
    bad = sorted(n for n in _imported(path) if n == "capture.load" or n.startswith("capture.load."))
    assert bad == [], f"{path.name} imports {bad}"


def test_run_summary_is_still_public() -> None:
    from capture.results import RunSummary

    assert capture.RunSummary is RunSummary

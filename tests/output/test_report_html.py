"""report_html: one self-contained document, data that cannot leave its JSON block, and
a Content-Security-Policy whose hashes are exactly the page's inline scripts."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from capture.output.report_html import data_json, report_html

EVIL = "</script><script>alert(1)</script><!-- \u2028\u2029 & <img src=x onerror=alert(2)>"


def _doc(body: str = EVIL) -> dict[str, Any]:
    return {"format": "capture-report", "version": 1, "runs": [{"x": body}], "comparisons": []}


def _scripts(page: str) -> list[tuple[str, str]]:
    """Returns (attributes, text) of every <script> element, as an HTML parser splits them."""
    return re.findall(r"<script([^>]*)>(.*?)</script", page, flags=re.S | re.I)


def test_a_body_with_an_end_tag_stays_inside_the_data_block() -> None:
    page = report_html(_doc())
    data = [text for attrs, text in _scripts(page) if 'id="report-data"' in attrs]
    assert len(data) == 1
    assert "<" not in data[0] and ">" not in data[0] and "&" not in data[0]
    assert "\u2028" not in data[0] and "\u2029" not in data[0]
    assert json.loads(data[0])["runs"][0]["x"] == EVIL
    # nowhere in the page as markup: only inside the block, escaped
    assert "<script>alert" not in page and "<img" not in page and "<!-- " not in page


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_numbers_json_cannot_hold_become_null(value: float) -> None:
    assert json.loads(data_json({"v": value, "l": [value]})) == {"v": None, "l": [None]}


def test_the_policy_allows_exactly_the_inline_scripts() -> None:
    page = report_html(_doc())
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None
    directives = dict(d.strip().split(" ", 1) for d in policy.group(1).split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == "'unsafe-inline'"
    allowed = set(directives["script-src"].split())
    inline = [text for attrs, text in _scripts(page) if "type=" not in attrs]
    assert len(inline) == 5  # uPlot and the page's four files
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(t.encode()).digest()).decode() + "'"
        for t in inline
    }
    assert allowed == hashes


def test_the_page_loads_nothing_from_anywhere() -> None:
    page = report_html(_doc())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page, flags=re.I)
    assert "uPlot" in page and ".uplot" in page  # the library and its style are inline


def test_the_vendored_files_are_the_ones_recorded() -> None:
    """capture/output/assets/VENDORED.md names each vendored file's sha256: a file changed
    by hand (or a new version copied in without its record) fails here."""
    assets = Path(__file__).resolve().parents[2] / "capture" / "output" / "assets"
    table = (assets / "VENDORED.md").read_text()
    recorded = dict(re.findall(r"\| `([^`]+)` \| `([0-9a-f]{64})` \|", table))
    assert set(recorded) == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
    for name, digest in recorded.items():
        assert hashlib.sha256((assets / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (assets / "LICENSE").read_text()
    version = re.search(r"\| version \| ([0-9.]+) \|", table)
    assert version is not None
    head = (assets / "uPlot.iife.min.js").read_text()[:80]
    assert head.startswith(f"/*! https://github.com/leeoniya/uPlot (v{version.group(1)}) */")

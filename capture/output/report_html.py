"""The HTML report of `capture report` (docs/report.md): one self-contained page holding
uPlot, its own script and style, and the report's JSON. Pure: a dict in, a document out.

Nothing that came from a run is put into the markup: the data travels only inside the
JSON block, escaped so it cannot end that element, and the page's script puts it in the
page as text. A Content-Security-Policy lets only the page's own scripts run (by their
sha256) and lets the page load nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["SCRIPT_ASSETS", "STYLE_ASSETS", "content_security_policy", "report_html"]

# In the order they run: the library first, then the page's helpers, then its main.
SCRIPT_ASSETS = (
    "uPlot.iife.min.js",
    "report_dom.js",
    "report_charts.js",
    "report_sections.js",
    "report.js",
)
STYLE_ASSETS = ("uPlot.min.css", "report.css")

# JSON escapes for the characters that could end or confuse a <script> element's text
# (`</script>`, `<!--`) or a JavaScript string (U+2028, U+2029); JSON.parse reads them back.
_JSON_ESCAPES = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)


@cache
def _asset(name: str) -> str:
    """Returns one file of capture/output/assets as text."""
    text = (resources.files("capture.output") / "assets" / name).read_text(encoding="utf-8")
    lowered = text.lower()
    # Inline, these sequences would end or change the element holding the file.
    if "</script" in lowered or "<!--" in lowered or "</style" in lowered:
        raise ValueError(f"asset {name} cannot be inlined: it holds an end-tag sequence")
    return text


def _finite(value: Any) -> Any:
    """Returns value with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def data_json(data: dict[str, Any]) -> str:
    """Returns the report's data as JSON text safe to put inside a <script> element."""
    text = json.dumps(_finite(data), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.translate(_JSON_ESCAPES)


def script_hash(text: str) -> str:
    """Returns the CSP source ('sha256-…') that lets one inline script run."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(scripts: list[str]) -> str:
    """Returns a policy that runs only these inline scripts and loads nothing."""
    hashes = " ".join(script_hash(text) for text in scripts)
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
        "img-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )


def report_html(data: dict[str, Any]) -> str:
    """Returns the whole HTML document that draws one report object (docs/report.md)."""
    scripts = [_asset(name) for name in SCRIPT_ASSETS]
    styles = "\n".join(_asset(name) for name in STYLE_ASSETS)
    policy = content_security_policy(scripts)
    script_tags = "\n".join(f"<script>{text}</script>" for text in scripts)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        "<title>capture report</title>\n"
        f"<style>\n{styles}\n</style>\n</head>\n<body>\n"
        '<main id="report"><p class="loading">Drawing the report…</p></main>\n'
        '<noscript><p class="loading">This report draws itself with JavaScript; '
        "`capture report --format json` gives the same data.</p></noscript>\n"
        f'<script type="application/json" id="report-data">{data_json(data)}</script>\n'
        f"{script_tags}\n</body>\n</html>\n"
    )

"""Detectors 1a, 3 and 9: failures that concentrate on one value of a column, read over
every request that has the column (ok ones too), so that a value carrying most of the
traffic does not look guilty for carrying most of the failures."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from capture.diagnose.model import Failure, Finding, RunEvidence
from capture.diagnose.stats import concentrated, percent

__all__ = ["backends", "nth", "positions", "remotes", "targets", "url_template"]

MAX_VALUES = 3  # at most this many values of one column are named


class _Split:
    """One value that stands out, with the figures of its column."""

    def __init__(self, ev: RunEvidence, value: Any, n_in: int, f_in: int, n_all: int, f_all: int):
        self.ev, self.value, self.n_in, self.f_in = ev, value, n_in, f_in
        self.n_out, self.f_out = n_all - n_in, f_all - f_in
        self.outcome: str | None = None  # the outcome the figures count; None: all

    def rates(self, here: str, there: str) -> str:
        """Returns '97 % of the failures (97 of 100), ...: 50 % failed here, 0 % there'."""
        ev, what = self.ev, "failed" if self.outcome is None else f"ended {self.outcome}"
        return (
            f"{percent(self.f_in, ev.failed)} of the failures ({self.f_in} of {ev.failed}): "
            f"{percent(self.f_in, self.n_in)} of its {self.n_in} requests {what} {here}, "
            f"{percent(self.f_out, self.n_out)} of the other {self.n_out} requests {there}"
        )

    def table(self, label: str) -> dict[str, Any]:
        """Returns the evidence: the value against the rest of its column."""
        return {
            "columns": [label, "requests", "failed", "failure rate"],
            "rows": [
                [self.value, self.n_in, self.f_in, percent(self.f_in, self.n_in)],
                ["(all others)", self.n_out, self.f_out, percent(self.f_out, self.n_out)],
            ],
        }


_KEYS: dict[str, Callable[[Failure], Any]] = {
    "position": lambda f: f.position,
    "remote": lambda f: f.remote_addr,
    "backend": lambda f: f.backend,
    "target": lambda f: url_template(f.method, f.url),
}


def _standing_out(ev: RunEvidence, name: str) -> list[tuple[_Split, str | None]]:
    """Returns the values of a dimension whose failures stand apart (stats.concentrated),
    most failures first, each with the outcome it holds for (None: all failures). All
    failures are tried first, then each outcome's alone, so that one cause does not hide
    another (503s from a bad backend beside resets at the 26th request). Rows without
    the column (NULL) are left out; a column with one value has nothing to compare."""
    dim = ev.dimensions.get(name)
    if dim is None:
        return []
    totals = {v: n for v, n, _ in dim.values if v is not None}
    if len(totals) < 2:
        return []
    n_all = sum(totals.values())
    key = _KEYS[name]
    groups: dict[str | None, list[Failure]] = {None: [f for f in ev.failures if key(f) in totals]}
    for f in groups[None]:
        groups.setdefault(f.outcome, []).append(f)
    found: dict[Any, tuple[_Split, str | None]] = {}
    for outcome, failures in groups.items():
        counts: dict[Any, int] = {}
        for f in failures:
            counts[key(f)] = counts.get(key(f), 0) + 1
        for value, f_in in counts.items():
            split = _Split(ev, value, totals[value], f_in, n_all, len(failures))
            if value not in found and concentrated(f_in, totals[value], len(failures), n_all):
                split.outcome = outcome
                found[value] = (split, outcome)
    ranked = sorted(found.values(), key=lambda so: (-so[0].f_in, str(so[0].value)))
    return ranked[:MAX_VALUES]


def _outcome(failures: list[Failure]) -> str:
    """Returns the commonest outcome of failures: '502 Bad Gateway'."""
    counts: dict[str, int] = {}
    for f in failures:
        counts[f.outcome] = counts.get(f.outcome, 0) + 1
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if counts else ""


def _findings(
    ev: RunEvidence,
    name: str,
    belongs: Callable[[Failure, Any], bool],
    build: Callable[[_Split, list[Failure]], tuple[str, str, tuple[str, ...], dict[str, Any]]],
) -> list[Finding]:
    out = []
    for split, outcome in _standing_out(ev, name):
        explained = [
            f for f in ev.failures if belongs(f, split.value) and outcome in (None, f.outcome)
        ]
        sentence, label, filters, values = build(split, explained)
        values["outcome"] = outcome or _outcome(explained)
        out.append(
            Finding(
                name,
                sentence,
                frozenset(f.id for f in explained),
                ev.failed,
                split.table(label),
                filters,
                values,
                rows=split.n_in + split.n_out,
            )
        )
    return out


def nth(n: int) -> str:
    """Returns 1st, 2nd, 3rd, 11th, 101st..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def positions(ev: RunEvidence) -> list[Finding]:
    """Detector 1a: failures at one position on their connection (the n-th request)."""

    def build(s: _Split, _f: list[Failure]) -> tuple[str, str, tuple[str, ...], dict[str, Any]]:
        n = int(s.value)
        cause = (
            "the first request of each connection fails, reused ones do not"
            if n == 1
            else f"a keep-alive request limit: the server ends a connection after {n - 1} "
            f"requests while the client sends the {nth(n)}"
        )
        head = f"the {nth(n)} request on a connection: "
        sentence = head + s.rates("there", "at other positions") + f"; {cause}"
        return sentence, "request # on connection", ("--position", str(n)), {"position": n}

    return _findings(ev, "position", lambda f, v: f.position == v, build)


def backends(ev: RunEvidence) -> list[Finding]:
    """Detector 3a: failures on one backend (requests.backend, from a response header)."""

    def build(s: _Split, _f: list[Failure]) -> tuple[str, str, tuple[str, ...], dict[str, Any]]:
        header, _, shown = str(s.value).partition(": ")
        sentence = f"one backend, {header} {shown}: " + s.rates("there", "answered by others")
        values = {"header": header, "backend": shown}
        return sentence, "backend", ("--response-header", f"{header}: {shown}"), values

    return _findings(ev, "backend", lambda f, v: f.backend == v, build)


def remotes(ev: RunEvidence) -> list[Finding]:
    """Detector 3b: failures on one server address (DNS round robin, one bad node)."""

    def build(s: _Split, _f: list[Failure]) -> tuple[str, str, tuple[str, ...], dict[str, Any]]:
        sentence = f"one server address, {s.value}: " + s.rates("there", "at other addresses")
        return sentence, "server address", ("--socket", str(s.value)), {"remote_addr": s.value}

    return _findings(ev, "remote", lambda f, v: f.remote_addr == v, build)


def url_template(method: str, url: str) -> str:
    """Returns 'METHOD url' with runs of digits in the path masked as '#': /users/42 and
    /users/7 are one template; the host and the query are kept as they are."""
    path, sep, query = url.partition("?")
    scheme, slashes, rest = path.partition("//")
    host, slash, tail = rest.partition("/")
    return f"{method} {scheme}{slashes}{host}{slash}{re.sub(r'[0-9]+', '#', tail)}{sep}{query}"


def _glob(url: str) -> str:
    """Returns the --url glob of a template's URLs: '#' is '*' (glob has no 'digits'),
    and glob's own characters stand in brackets."""
    return "".join("*" if c == "#" else f"[{c}]" if c in "*?[" else c for c in url)


def targets(ev: RunEvidence) -> list[Finding]:
    """Detector 9: failures on one method and URL template."""

    def build(s: _Split, _f: list[Failure]) -> tuple[str, str, tuple[str, ...], dict[str, Any]]:
        method, _, url = str(s.value).partition(" ")
        sentence = f"one target, {s.value}: " + s.rates("there", "to other targets")
        return (
            sentence,
            "method and URL",
            ("--method", method, "--url", _glob(url)),
            {"target": s.value},
        )

    return _findings(ev, "target", lambda f, v: url_template(f.method, f.url) == v, build)

"""Bench results: the cases and their samples, and their rendering as Markdown. Pure."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

OK, FAIL = "ok", "fail"
OTHER_LOAD_NOTE_CORES = 0.1
PINNED = ", 1 CPU"  # suffix of a client run under taskset on one core
NGINX, PROCS, BUILTIN, PACER, STARTUP = "nginx", "procs", "builtin", "pacer", "startup"


@dataclass(frozen=True, slots=True)
class Sample:
    """One run of one client: its own req/s and request count, and what it cost."""

    rps: float
    requests: int
    cpu_s: float
    maxrss_mib: float
    other_cores: float = 0.0  # CPU other processes used during the run, in cores
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_us_per_req(self) -> float | None:
        return self.cpu_s * 1e6 / self.requests if self.requests else None


@dataclass(slots=True)
class Case:
    """One client against one URL, run once per round."""

    section: str
    client: str
    kind: str  # OK or FAIL: 0 % or 100 % failures
    url: str
    command: str = ""
    asked_qps: float | None = None
    share: float | None = None  # a pacer case: the asked rate's share of the measured maximum
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def target(self) -> str:
        parts = urlsplit(self.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return f"{path} ({'100' if self.kind == FAIL else '0'} % fail)"


@dataclass(frozen=True, slots=True)
class Stats:
    """Median, min and max req/s over runs; median CPU µs/req; largest peak RSS."""

    runs: int
    rps: float
    rps_min: float
    rps_max: float
    cpu_us: float | None
    rss_mib: float

    @classmethod
    def of(cls, samples: list[Sample]) -> Stats | None:
        if not samples:
            return None
        rates = [s.rps for s in samples]
        cpu = [c for s in samples if (c := s.cpu_us_per_req) is not None]
        return cls(
            runs=len(samples),
            rps=statistics.median(rates),
            rps_min=min(rates),
            rps_max=max(rates),
            cpu_us=statistics.median(cpu) if cpu else None,
            rss_mib=max(s.maxrss_mib for s in samples),
        )


@dataclass(slots=True)
class Results:
    """Everything the report needs."""

    machine: dict[str, str]
    versions: dict[str, str]
    installs: dict[str, str]
    rounds: int
    duration_s: int
    cases: list[Case]
    started: str
    elapsed_s: float = 0.0
    busy_starts: int = 0  # runs started although the machine had not calmed down
    quiet_wait_s: float = 0.0  # time spent waiting for a quiet machine before runs
    retries: int = 0  # runs done again because other load disturbed them
    notes: list[str] = field(default_factory=list)

    def find(self, section: str, client: str, kind: str = OK) -> Case | None:
        for case in self.cases:
            if (case.section, case.client, case.kind) == (section, client, kind):
                return case
        return None

    def stats(self, section: str, client: str, kind: str = OK) -> Stats | None:
        case = self.find(section, client, kind)
        return Stats.of(case.samples) if case else None


# -- tables --------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _note(case: Case) -> str:
    if case.skipped:
        return f"skipped: {case.skipped}"
    notes = []
    extras = [s.extra for s in case.samples]
    if extras and "stored" in extras[0]:
        failed = sum(e["failed"] for e in extras)
        stored = sum(e["stored"] for e in extras)
        dropped = sum(e["dropped"] for e in extras)
        if failed:
            notes.append(f"{stored:,} of {failed:,} failures stored")
        if dropped:
            notes.append(f"{dropped:,} dropped")
        sockets = {int(e["sockets_used"]) for e in extras if e.get("sockets_used") is not None}
        if sockets and sockets != {16}:  # 16 connections should mean 16 sockets
            notes.append(f"sockets used {sorted(sockets)}")
    for key in ("errors", "failures"):
        total = sum(e.get(key, 0) for e in extras)
        if total:
            notes.append(f"{total:,} {key}")
    other = _median(s.other_cores for s in case.samples)
    if other is not None and other >= OTHER_LOAD_NOTE_CORES:
        notes.append(f"other load {other:.2f} cores")
    if case.errors:
        notes.append(f"{len(case.errors)} run(s) failed: {case.errors[0][:120]}")
    return "; ".join(notes)


def runs_table(cases: Iterable[Case]) -> list[str]:
    """Receives cases. Returns a Markdown table of req/s, CPU µs/req and peak RSS."""
    lines = [
        "| client | target | runs | req/s median | min | max | CPU µs/req | peak RSS MiB | notes |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for case in cases:
        st = Stats.of(case.samples)
        if st is None:
            lines.append(
                f"| {case.client} | {case.target} | 0 | - | - | - | - | - | {_note(case)} |"
            )
            continue
        lines.append(
            f"| {case.client} | {case.target} | {st.runs} | {_num(st.rps)} | {_num(st.rps_min)} "
            f"| {_num(st.rps_max)} | {_num(st.cpu_us)} | {_num(st.rss_mib, 1)} | {_note(case)} |"
        )
    return lines


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratio_rows(
    res: Results, section: str, capture: str, capture_section: str | None = None
) -> Iterator[tuple[str, str, Stats, Stats]]:
    """Yields (peer, kind, capture stats, peer stats) for each peer case in a section.

    capture's own case may sit in another section (PROCS). A peer pinned to one CPU is
    set against capture pinned the same way.
    """
    for case in res.cases:
        if case.section != section or case.client.startswith("capture"):
            continue
        mine_name = f"{capture}{PINNED}" if case.client.endswith(PINNED) else capture
        mine = res.stats(capture_section or section, mine_name, case.kind)
        theirs = Stats.of(case.samples)
        if mine and theirs:
            yield case.client, case.kind, mine, theirs


def ratios_table(
    res: Results, section: str, capture: str = "capture", capture_section: str | None = None
) -> list[str]:
    """Returns a Markdown table of capture's req/s and CPU/req over each peer's."""
    lines = [
        f"| {capture} vs | target | req/s ratio | CPU/req ratio |",
        "|---|---|--:|--:|",
    ]
    for peer, kind, mine, theirs in ratio_rows(res, section, capture, capture_section):
        label = "100 % fail" if kind == FAIL else "0 % fail"
        if peer.endswith(PINNED):
            peer += f" (vs {capture}{PINNED})"
        rps = _ratio(mine.rps, theirs.rps)
        cpu = _ratio(mine.cpu_us, theirs.cpu_us)
        lines.append(f"| {peer} | {label} | {_num(rps, 2)} | {_num(cpu, 2)} |")
    return lines


def overhead(res: Results, section: str, client: str) -> tuple[float, float] | None:
    """Returns (req/s drop %, CPU/req rise %) of 100 % failures against 0 %, or None."""
    ok, fail = res.stats(section, client, OK), res.stats(section, client, FAIL)
    if not ok or not fail or ok.cpu_us is None or fail.cpu_us is None:
        return None
    return (1 - fail.rps / ok.rps) * 100, (fail.cpu_us / ok.cpu_us - 1) * 100


@dataclass(frozen=True, slots=True)
class StoringCost:
    """The same responses counted ok (options: how) and stored: storing's own cost."""

    options: str
    unstored: Stats
    stored: Stats
    rps_change: float  # %
    cpu_change: float  # %
    cpu_us: float  # more per request


def storing_cost(res: Results) -> StoringCost | None:
    """Returns capture on /fail against the same 500s counted ok, or None."""
    for case in res.cases:
        if case.section == NGINX and case.client.startswith("capture --fail-status"):
            same, stored = Stats.of(case.samples), res.stats(NGINX, "capture", FAIL)
            if same and stored and same.cpu_us and stored.cpu_us:
                return StoringCost(
                    case.client.removeprefix("capture "),
                    same,
                    stored,
                    (stored.rps / same.rps - 1) * 100,
                    (stored.cpu_us / same.cpu_us - 1) * 100,
                    stored.cpu_us - same.cpu_us,
                )
    return None


def overhead_table(res: Results) -> list[str]:
    """Returns a Markdown table of the cost of 100 % failures for capture and the seed loop."""
    lines = [
        "| target | client | req/s 0 % | req/s 100 % | req/s change | CPU/req change |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for section, label in ((NGINX, "nginx"), (BUILTIN, "built-in target"), (PROCS, "nginx")):
        clients = dict.fromkeys(c.client for c in res.cases if c.section == section)
        for client in clients:
            found = overhead(res, section, client)
            ok, fail = res.stats(section, client, OK), res.stats(section, client, FAIL)
            if found is None or ok is None or fail is None:
                continue
            drop, rise = found
            lines.append(
                f"| {label} | {client} | {_num(ok.rps)} | {_num(fail.rps)} "
                f"| {-drop:+.1f} % | {rise:+.1f} % |"
            )
    cost = storing_cost(res)
    if cost is not None:
        lines.append(
            f"| nginx /fail | capture: every 500 stored, against `{cost.options}` (the same "
            f"500s counted ok, none stored) | {_num(cost.unstored.rps)} "
            f"| {_num(cost.stored.rps)} | {cost.rps_change:+.1f} % | {cost.cpu_change:+.1f} % |"
        )
    return lines


def pacer_table(res: Results) -> list[str]:
    """Returns a Markdown table of asked against achieved rate, with send lag, and the
    cause capture's summary named when it warned that the pool did not keep up."""
    lines = [
        "| client | target | asked req/s | % of max | achieved median | min | max "
        "| achieved/asked | lag p50 ms | lag p99 ms | CPU µs/req | warning |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for case in (c for c in res.cases if c.section == PACER):
        st = Stats.of(case.samples)
        asked = case.asked_qps or 0.0
        share = f"{case.share * 100:.0f} %" if case.share else "-"
        head = f"| {case.client.split(' --qps')[0]}{_pin(case)} | {case.target} | {_num(asked)} "
        if st is None:
            lines.append(f"{head}| {share} | - | - | - | - | - | - | - | - |")
            continue
        p50 = _median(s.extra.get("lag_p50_ms") for s in case.samples)
        p99 = _median(s.extra.get("lag_p99_ms") for s in case.samples)
        warned = [s.extra.get("keep_up") for s in case.samples if s.extra.get("keep_up")]
        warning = f"{len(warned)} of {len(case.samples)}: {warned[0]}" if warned else "none"
        lines.append(
            f"{head}| {share} | {_num(st.rps, 1)} | {_num(st.rps_min, 1)} "
            f"| {_num(st.rps_max, 1)} | {st.rps / asked * 100:.1f} % | {_num(p50, 2)} "
            f"| {_num(p99, 2)} | {_num(st.cpu_us)} | {warning} |"
        )
    return lines


def _pin(case: Case) -> str:
    return (
        PINNED
        if case.client.endswith(PINNED) and PINNED not in case.client.split(" --qps")[0]
        else ""
    )


def startup_table(res: Results) -> list[str]:
    """Returns a Markdown table of the CPU a client spends before and around one request."""
    lines = ["| client | what | CPU s median | peak RSS MiB |", "|---|---|--:|--:|"]
    for case in (c for c in res.cases if c.section == STARTUP):
        cpu = _median(s.cpu_s for s in case.samples)
        rss = max((s.maxrss_mib for s in case.samples), default=None)
        lines.append(f"| {case.client} | {case.command} | {_num(cpu, 2)} | {_num(rss, 1)} |")
    return lines


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None

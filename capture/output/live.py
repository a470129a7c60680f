"""A run in flight, on stderr: a Rich live panel on a terminal, a plain progress line
every few seconds otherwise."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from capture.output.units import ms, rate, seconds
from capture.results import Progress, writer_behind
from capture.store.saturation import client_limits
from capture.store.stats import StatsSnapshot

__all__ = ["Display", "client_note", "progress_line", "status_classes"]

_PLAIN_EVERY_S = 5.0
_CPU_WINDOW_S = 2.0  # this process's CPU share is measured over windows this long


class Display:
    """A context manager whose tick() is handed to the runner as on_tick."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._quiet = quiet
        self._live: Live | None = None
        self._next_plain = time.monotonic() + _PLAIN_EVERY_S
        # A live panel redraws with cursor escapes: with NO_COLOR (no-color.org), none at
        # all, so a terminal gets the plain progress lines a pipe gets.
        self._is_tty = self._stream.isatty() and not os.environ.get("NO_COLOR")
        self._cpu_mark: tuple[float, float] | None = None  # (elapsed_s, process_time)
        self._cpu_share: float | None = None  # over the last whole window

    def __enter__(self) -> Display:
        if not self._quiet and self._is_tty:
            console = Console(file=self._stream)
            self._live = Live(console=console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(t, e, tb)

    @property
    def on_tick(self) -> Callable[[Progress], None] | None:
        """Returns the runner's callback, or None when nothing is shown (no snapshots)."""
        return None if self._quiet else self.tick

    def tick(self, p: Progress) -> None:
        """Updates the display with the runner's latest progress."""
        if self._quiet:
            return
        self._measure_cpu(p.elapsed_s)
        note = client_note(p, self._cpu_share)
        if self._live is not None:
            self._live.update(_panel(p, note))
            return
        now = time.monotonic()
        if now >= self._next_plain:
            self._next_plain = now + _PLAIN_EVERY_S
            behind = writer_behind(p.queue_wait_s, p.queue_limit_bytes, p.workers_waiting)
            line = progress_line(p) + (f"  {behind}" if behind else "")
            print(line + (f"  WARNING {note}" if note else ""), file=self._stream, flush=True)

    def _measure_cpu(self, elapsed_s: float) -> None:
        """Updates this process's CPU share (1.0 = one core) once a window has passed."""
        now = time.process_time()
        if self._cpu_mark is None:
            self._cpu_mark = (elapsed_s, now)
            return
        since, cpu = self._cpu_mark
        if elapsed_s - since >= _CPU_WINDOW_S:
            self._cpu_share = (now - cpu) / (elapsed_s - since)
            self._cpu_mark = (elapsed_s, now)


def client_note(p: Progress, cpu_share: float | None) -> str | None:
    """Says when the client limits the run so far (store.saturation's rule), else None.

    cpu_share is this process's (the parent's, with --procs) over the last window."""
    snap = p.stats
    found = client_limits(
        cpu_s=cpu_share,
        duration_s=None if cpu_share is None else 1.0,
        procs=1,
        lag_p99_ms=snap.lag_ms.get("p99"),  # empty without --qps
        pool_busy=p.busy_sessions >= p.connections,
        wait_p50_ms=snap.wait_ms.get("p50"),
        latency_p50_ms=snap.latency_ms.get("p50"),
    )
    if not found.saturated:
        return None
    return f"client-bound: {'; '.join(found.reasons)}; try --procs N or fewer workers (-w)"


def _panel(p: Progress, note: str | None = None) -> Table:
    snap = p.stats
    per_second = snap.sent / p.elapsed_s if p.elapsed_s > 0 else 0.0
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    planned = f" of {seconds(p.planned_s, 0)}" if p.planned_s else ""
    planned += f" / {p.planned_requests} requests" if p.planned_requests else ""
    table.add_row("elapsed", f"{seconds(p.elapsed_s)}{planned}")
    table.add_row("sent", f"{snap.sent}  ({rate(per_second)})")
    table.add_row("ok / failed", f"{snap.ok} / {snap.failed}")
    table.add_row("by class", status_classes(snap) or "-")
    lat = snap.latency_ms
    table.add_row("latency", f"p50 {ms(lat.get('p50'))}   p99 {ms(lat.get('p99'))}")
    table.add_row("sessions busy", f"{p.busy_sessions} / {p.connections}")
    behind = writer_behind(p.queue_wait_s, p.queue_limit_bytes, p.workers_waiting)
    if behind:
        table.add_row("storage", behind)
    if note:
        table.add_row("WARNING", note)
    if p.stopping:
        table.add_row("stopping", p.stopping)
    return table


def status_classes(snap: StatsSnapshot) -> str:
    classes: dict[str, int] = {}
    for code, n in snap.status_counts.items():
        key = f"{code // 100}xx"
        classes[key] = classes.get(key, 0) + n
    parts = [f"{k} {v}" for k, v in sorted(classes.items())]
    parts += [f"{k} {v}" for k, v in sorted(snap.error_counts.items())]
    return " ".join(parts)


def progress_line(p: Progress) -> str:
    """Returns one plain line of progress, for logs and non-terminal stderr."""
    snap = p.stats
    per_second = snap.sent / p.elapsed_s if p.elapsed_s > 0 else 0.0
    planned = f"/{seconds(p.planned_s, 0)}" if p.planned_s else ""
    of = f"/{p.planned_requests}" if p.planned_requests else ""
    lat = snap.latency_ms
    line = (
        f"[{seconds(p.elapsed_s):>8}{planned}] sent {snap.sent}{of}  {rate(per_second)}"
        f"  ok {snap.ok}  failed {snap.failed}  p50 {ms(lat.get('p50'))}  p99 {ms(lat.get('p99'))}"
        f"  busy {p.busy_sessions}/{p.connections}"
    )
    classes = status_classes(snap)
    if classes:
        line += f"  [{classes}]"
    if p.stopping:
        line += f"  stopping: {p.stopping}"
    return line

"""What the detectors read (RunEvidence, gathered by the store) and what they find."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Bin", "Dimension", "Failure", "Finding", "RunEvidence"]


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed request, the columns the detectors read."""

    id: int
    offset_ms: float
    status: int | None
    error_kind: str | None
    method: str
    url: str
    remote_addr: str | None
    connection_id: int | None
    position: int | None  # requests.connection_request_no
    bytes_in: int | None
    latency_ms: float
    ttfb_ms: float | None
    signature: str | None  # failures.body_signature; None: no failures row (dropped)
    outcome: str  # "502 Bad Gateway", "reset", ... (store.report_parts.outcome_text)
    backend: str | None  # requests.backend: 'Name: value' of the answering backend


@dataclass(frozen=True, slots=True)
class Bin:
    """One time window of the run: what started in it."""

    start_s: float
    requests: int
    failed: int
    ok_latency_ms: float | None  # median latency of its ok requests; None: none ok
    mean_latency_ms: float | None  # mean latency of all its requests


@dataclass(frozen=True, slots=True)
class Dimension:
    """Requests and failures by one value of a column: (value, requests, failed)."""

    name: str  # "position", "remote", "target", "backend"
    values: tuple[tuple[Any, int, int], ...]


@dataclass(frozen=True, slots=True)
class RunEvidence:
    """Everything the detectors read about one run."""

    run_id: int
    requests: int
    failed: int
    duration_s: float
    bin_s: float
    bins: tuple[Bin, ...]
    dimensions: dict[str, Dimension]
    failures: tuple[Failure, ...]  # in request id order (time order)
    # each reused request: (idle gap on its connection before it in ms, its id if it
    # failed else 0); the gap runs from the end of the previous request on the connection
    gaps: tuple[tuple[float, int], ...]
    ok_bytes: tuple[int, ...]  # bytes_in of ok requests with a response, sorted
    ok_transfer_ms: tuple[float, ...]  # latency - ttfb of ok requests, sorted
    retry_after: dict[str, int]  # Retry-After value -> failures carrying it
    client: dict[str, Any] | None  # the summary's client_limit and pacing, when limited


@dataclass(slots=True)
class Finding:
    """One thing that stands out, with the numbers behind it."""

    detector: str  # "connection_position", "rate_threshold", ...
    sentence: str
    explained: frozenset[int]  # ids of the failures it explains
    failed: int  # the run's failures (share = len(explained) / failed)
    evidence: dict[str, Any]  # {"columns": [...], "rows": [[...], ...]}
    filters: tuple[str, ...]  # `capture failures` options that list its rows
    values: dict[str, Any] = field(default_factory=dict)  # the n, the rate, the backend
    rows: int = 0  # rows behind it (requests compared), for how sure it is
    first: bool = False  # read before the others (the client's own limit)
    command: str = "failures"  # the capture command its filters go to

    @property
    def share(self) -> float:
        """Returns the share of the run's failures it explains, 0..1."""
        return len(self.explained) / self.failed if self.failed else 0.0

    def as_dict(self, run_id: int) -> dict[str, Any]:
        """Returns the finding as JSON data (docs/diagnose.md): the command is the argv
        after `capture` (and its --db) that lists the rows behind it."""
        return {
            "detector": self.detector,
            "sentence": self.sentence,
            "share": round(self.share, 4),
            "failures": len(self.explained),
            "rows": self.rows,
            "values": self.values,
            "evidence": self.evidence,
            "examples": self.examples(),
            "command": [self.command, "-r", str(run_id), *self.filters],
        }

    def examples(self, count: int = 3) -> list[int]:
        """Returns example request ids: the first, middle and last it explains."""
        ids = sorted(self.explained)
        if len(ids) <= count:
            return ids
        return sorted({ids[0], ids[len(ids) // 2], ids[-1]})

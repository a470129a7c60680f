"""detect(): every detector over one run's evidence, findings ranked (docs/diagnose.md)."""

from __future__ import annotations

from collections.abc import Callable

from capture.diagnose import body, connection, groups, rate, split, timeline
from capture.diagnose.model import Finding, RunEvidence

__all__ = ["DETECTORS", "detect"]

# In this order: a tie in share goes to the detector that names a cause over the one
# that describes where (a keep-alive limit over "remote_closed while reading").
DETECTORS: tuple[Callable[[RunEvidence], list[Finding]], ...] = (
    groups.client_limit,
    split.positions,
    connection.idle_gaps,
    rate.rate_threshold,
    split.backends,
    split.remotes,
    split.targets,
    timeline.latency_before_failure,
    body.bodies,
    timeline.bursts,
    groups.transport,
)
COVERED = 0.8  # bursts that a rate onset or a saturation already explains are not said


def detect(ev: RunEvidence) -> list[Finding]:
    """Returns the run's findings: the client's own limit first, then by the share of
    the failures each explains (ties: more rows behind it, then DETECTORS order), then
    the failures none explains, by signature. Empty for a run with nothing to say."""
    found: list[Finding] = []
    for detector in DETECTORS:
        found.extend(detector(ev))
    found = [f for f in found if not _covered(f, found)]
    order = {f.detector: i for i, f in enumerate(found)}
    found.sort(key=lambda f: (not f.first, -len(f.explained), -f.rows, order[f.detector]))
    return found + groups.rest(ev, [f.explained for f in found])


def _covered(finding: Finding, found: list[Finding]) -> bool:
    """Returns True for bursts whose failures a rate onset or a saturation explains."""
    if finding.detector != "bursts" or not finding.explained:
        return False
    causes = [f for f in found if f.detector in ("rate_threshold", "latency_before_failure")]
    return any(
        len(finding.explained & f.explained) >= COVERED * len(finding.explained) for f in causes
    )

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
    the failures each explains (ties: DETECTORS order, then more rows behind it), then
    the failures none explains, by signature. Empty for a run with nothing to say."""
    found: list[Finding] = []
    for detector in DETECTORS:
        found.extend(detector(ev))
    found = [f for f in found if not _covered(f, found)]
    order = {f.detector: i for i, f in enumerate(found)}
    found.sort(key=lambda f: (not f.first, -len(f.explained), order[f.detector], -f.rows))
    return found + groups.rest(ev, [f.explained for f in found])


# A finding is not said when one of these explains its failures and more: bursts that a
# rate onset or a saturation explain; a position that is where the idle gaps fell (a
# regular pattern puts the request after each pause at one position), or the reverse.
_YIELDS = {
    "bursts": ("rate_threshold", "latency_before_failure"),
    "position": ("idle_gap",),
    "idle_gap": ("position",),
}


def _covered(finding: Finding, found: list[Finding]) -> bool:
    """Returns True when a finding it yields to (_YIELDS) explains COVERED of its
    failures, and (between two that could each be the cause) strictly more."""
    if not finding.explained:
        return False
    for other in found:
        if other.detector not in _YIELDS.get(finding.detector, ()):
            continue
        shared = len(finding.explained & other.explained)
        if shared < COVERED * len(finding.explained):
            continue
        if finding.detector == "bursts" or len(other.explained) > len(finding.explained):
            return True
    return False

"""Hooks: stop the run at the first 5xx once a warm-up of 100 requests has passed.

    capture run http://127.0.0.1:8080/ --hooks examples/stop_on_5xx.py -d 10m

Failures during the warm-up are stored but tolerated (a cold cache, a pool filling up);
after it the first 5xx ends the run: no new requests start, those in flight finish and
are stored, and the run ends `completed` with the reason in its summary.
"""

from __future__ import annotations

import sys

from capture import Outcome

WARMUP_REQUESTS = 100


def on_failure(outcome: Outcome) -> None:
    """Stops the run on a 5xx after the warm-up."""
    if outcome.seq > WARMUP_REQUESTS and outcome.status is not None and outcome.status >= 500:
        print(
            f"stop_on_5xx: {outcome.status} at seq {outcome.seq} ({outcome.url})",
            file=sys.stderr,
        )
        outcome.stop(f"first 5xx after warm-up (seq {outcome.seq})")

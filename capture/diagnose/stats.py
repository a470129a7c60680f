"""The small statistics the detectors share: a two-proportion test and ranks. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["MIN_ROWS", "Z_MIN", "concentrated", "median", "percent", "rank", "z_score"]

MIN_ROWS = 5  # failures behind any finding, at least
Z_MIN = 4.0  # a two-proportion z of 4: p < 0.00004 one-sided
RATIO_MIN = 3.0  # and the failure rate there at least 3x the rate elsewhere
SHARE_MIN = 0.2  # and at least a fifth of the run's failures


def z_score(f1: int, n1: int, f2: int, n2: int) -> float:
    """Returns the pooled two-proportion z of f1/n1 against f2/n2 (0 when undefined)."""
    if n1 == 0 or n2 == 0:
        return 0.0
    pooled = (f1 + f2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 0.0 if spread == 0 else (f1 / n1 - f2 / n2) / spread


def concentrated(f_in: int, n_in: int, failed: int, requests: int) -> bool:
    """Returns True when f_in failures of n_in requests stand apart from the rest of the
    run (failed of requests in all): MIN_ROWS failures, SHARE_MIN of all failures, a
    rate RATIO_MIN times the rest's, and a z of Z_MIN. Never with nothing to compare."""
    f_out, n_out = failed - f_in, requests - n_in
    if f_in < MIN_ROWS or n_out <= 0 or failed == 0 or f_in / failed < SHARE_MIN:
        return False
    rate_in, rate_out = f_in / n_in, f_out / n_out
    return rate_in >= RATIO_MIN * rate_out and z_score(f_in, n_in, f_out, n_out) >= Z_MIN


def rank(sorted_values: Sequence[float], p: float) -> float | None:
    """Returns the nearest-rank p-th percentile of sorted values, None when empty."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def median(values: Sequence[float]) -> float | None:
    """Returns the nearest-rank median of values (any order), None when empty."""
    return rank(sorted(values), 50)


def percent(part: float, whole: float) -> str:
    """Returns part of whole as '97 %' ('97.5 %' under 10, '<0.1 %' for a sliver)."""
    if whole == 0:
        return "0 %"
    share = 100 * part / whole
    if 0 < share < 0.1:
        return "<0.1 %"
    return f"{share:.1f} %" if share < 10 and share != int(share) else f"{share:.0f} %"

"""When failures begin: the first window from which they keep coming. Pure."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ONSET_SHARE", "bin_of", "onset", "per_bin"]

ONSET_SHARE = 0.05  # a window "fails" when at least 5 % of its requests did
KEEP_SHARE = 0.8  # and failures keep coming: 80 % of the windows from then on fail
CLEAN_BEFORE = 0.025  # while before it at most half as many failed (a busy client bunches sends)
MIN_BINS = 3  # windows before and after, at least


def bin_of(offset_ms: float, bin_s: float) -> int:
    """Returns the window an offset falls in; in milliseconds, where the widths are whole
    (1900 ms is window 19 of 0.1 s, where 1.9 / 0.1 = 18.999... would put it in 18)."""
    return max(0, int(offset_ms // round(bin_s * 1000.0, 6)))


def per_bin(offsets_ms: Sequence[float], bin_s: float, bins: int) -> list[int]:
    """Returns how many of offsets_ms fall in each window of bin_s seconds."""
    counts = [0] * bins
    for offset in offsets_ms:
        counts[min(bins - 1, bin_of(offset, bin_s))] += 1
    return counts


def onset(requests: Sequence[int], failed: Sequence[int]) -> int | None:
    """Returns the first window from which failures keep coming (ONSET_SHARE in
    KEEP_SHARE of the windows with requests from there on) after at least MIN_BINS
    windows with under CLEAN_BEFORE of their requests failed; None when there is none."""
    used = [i for i, n in enumerate(requests) if n > 0]
    for pos, start in enumerate(used):
        if pos < MIN_BINS or len(used) - pos < MIN_BINS:
            continue
        before_n = sum(requests[i] for i in used[:pos])
        before_f = sum(failed[i] for i in used[:pos])
        if before_f > CLEAN_BEFORE * before_n:
            return None  # failing already: a later start is no onset either
        if failed[start] < ONSET_SHARE * requests[start]:
            continue
        after = used[pos:]
        failing = sum(1 for i in after if failed[i] >= ONSET_SHARE * requests[i])
        if failing >= KEEP_SHARE * len(after):
            return start
    return None

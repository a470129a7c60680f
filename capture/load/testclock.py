"""Test-only: CAPTURE_TEST_CLOCK_OFFSET_S=S shifts this process's time.time() by S
seconds, to play a host whose clock is wrong in a --hosts run. Not a supported interface."""

from __future__ import annotations

import os
import time

__all__ = ["TEST_CLOCK_ENV", "use_test_clock"]

TEST_CLOCK_ENV = "CAPTURE_TEST_CLOCK_OFFSET_S"
_shifted = [False]


def use_test_clock() -> None:
    """Shifts time.time() by CAPTURE_TEST_CLOCK_OFFSET_S seconds, once (tests only)."""
    shift = float(os.environ.get(TEST_CLOCK_ENV) or 0.0)
    if shift and not _shifted[0]:
        _shifted[0] = True
        real = time.time
        time.time = lambda: real() + shift

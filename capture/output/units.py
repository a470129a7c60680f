"""How every view spells a quantity: durations, sizes, rates and percentages.

One spelling per unit, a space between number and unit ("12.3 ms", "1.5 KiB"), so a
latency reads the same in a table, a summary and one exchange. Pure.
"""

from __future__ import annotations

__all__ = ["NONE", "ms", "percent", "rate", "seconds", "size"]

NONE = "-"  # what a missing value shows as, in every view

_SIZE_UNITS = ("KiB", "MiB", "GiB")


def ms(value: float | None) -> str:
    """Turns milliseconds into '0.85 ms', '12.3 ms' or '1.25 s' (three figures or more)."""
    if value is None:
        return NONE
    # Compared after rounding, so that 999.96 ms reads '1.00 s', not '1000.0 ms'.
    if round(value, 1) >= 1000:
        return seconds(value / 1000, 2)
    return f"{value:.1f} ms" if round(value, 2) >= 10 else f"{value:.2f} ms"


def seconds(value: float | None, places: int = 1) -> str:
    """Turns seconds into '1.5 s', with places decimals (an offset wants 3, a run 1)."""
    return NONE if value is None else f"{value:.{places}f} s"


def size(value: int | None) -> str:
    """Turns a byte count into '512 B', '1.5 KiB', '2.0 MiB' or '1.0 GiB'."""
    if value is None:
        return NONE
    if value < 1024:
        return f"{value} B"
    scaled = float(value)
    for unit in _SIZE_UNITS:
        scaled /= 1024
        if round(scaled, 1) < 1024 or unit == _SIZE_UNITS[-1]:
            break
    return f"{scaled:.1f} {unit}"


def rate(per_second: float | None) -> str:
    """Turns a rate into '123.4/s'."""
    return NONE if per_second is None else f"{per_second:.1f}/s"


def percent(part: float, whole: float) -> str:
    """Returns part of whole as '12.3%'; never '0.0%' for a share that is not zero."""
    if not whole:
        return NONE
    value = 100.0 * part / whole
    text = f"{value:.1f}%"
    # Rounding must not hide the one failure in 10,000, nor the one success among them.
    if part and text in ("0.0%", "-0.0%"):
        return "<0.1%"
    if part < whole and text == "100.0%":
        return ">99.9%"
    return text

"""Number formatting with explicit units; every function accepts None and returns a dash for it."""

import math

DASH = "—"


def is_num(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def get_count(value) -> str:
    """12345 -> "12.3k"; 1.2e6 -> "1.20M"."""
    if not is_num(value):
        return DASH
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.0f}"


def get_mib(value) -> str:
    return f"{value / 2**20:,.1f}" if is_num(value) else DASH


def get_kib(value) -> str:
    return f"{value / 2**10:,.1f}" if is_num(value) else DASH


def get_ms(value) -> str:
    """Seconds shown as milliseconds."""
    return f"{value * 1e3:,.2f}" if is_num(value) else DASH


def get_seconds(value) -> str:
    return f"{value:,.2f}" if is_num(value) else DASH


def get_percent(value, digits: int = 1) -> str:
    """A fraction shown as a percentage."""
    return f"{value * 100:.{digits}f}" if is_num(value) else DASH


def get_number(value, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if is_num(value) else DASH


def get_p_value(p) -> str:
    if not is_num(p):
        return DASH
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def get_change(new, old) -> float | None:
    """Relative change new/old - 1, or None when either is missing or old is zero."""
    if not (is_num(new) and is_num(old)) or old == 0:
        return None
    return new / old - 1

"""Formatting at the edge: bytes, rates, percentages, N/A."""

from __future__ import annotations

NA_TEXT = "N/A"
GIB = 1024**3
MIB = 1024**2


def fmt_bytes(n: float | None, digits: int = 1) -> str:
    if n is None:
        return NA_TEXT
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.{digits}f} {unit}"
        value /= 1024
    return f"{value:.{digits}f} TiB"


def fmt_rate(bytes_per_s: float | None) -> str:
    if bytes_per_s is None:
        return NA_TEXT
    return f"{fmt_bytes(bytes_per_s)}/s"


def fmt_pct(p: float | None, digits: int = 0) -> str:
    if p is None:
        return NA_TEXT
    return f"{p:.{digits}f}%"


def fmt_num(v: float | None, unit: str = "", digits: int = 0) -> str:
    if v is None:
        return NA_TEXT
    return f"{v:.{digits}f}{unit}"

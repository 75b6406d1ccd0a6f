"""How figures read on the page: money, durations, instants, shares."""

from __future__ import annotations

from datetime import UTC, datetime

from labeller.config import BinningSettings

__all__ = ["binning_text", "duration", "instant", "money", "percent"]


def money(usd: float) -> str:
    """$0.0113 for small sums, $12.40 for large ones, $0.000033 for a cheap frame."""
    if usd == 0:
        return "$0"
    if 0 < usd < 0.001:
        return f"${usd:.6f}"
    return f"${usd:,.4f}" if usd < 1 else f"${usd:,.2f}"


def duration(seconds: float) -> str:
    """`3.6 s`, `42 s`, `12 min`, `12 min 05 s`, `2 h 03 min`: the report's and the terminal
    views' (`status --watch`) one way to say how long."""
    if seconds < 9.95:
        return f"{max(seconds, 0.0):.1f} s"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" if s % 60 == 0 else f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def instant(epoch_s: float | None, *, seconds: bool = True, zone: bool = True) -> str:
    """An epoch time as `2026-11-26 07:40:12 UTC`, or an em dash; without `seconds`
    `2026-11-26 07:40 UTC`; without `zone` no ` UTC` (for a column whose header says it).

    Every view says UTC, the report and the terminal's `jobs` and `show` alike: a job's
    workers may run on machines in other time zones, and exports stamp UTC too.
    """
    if epoch_s is None:
        return "—"
    shape = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    text = datetime.fromtimestamp(epoch_s, UTC).strftime(shape)
    return text + " UTC" if zone else text


def percent(part: float, whole: float) -> str:
    """`49%`; `99.6%` rather than a rounded `100%` that is not all, `0.1%` rather than `0%`."""
    if not whole:
        return "—"
    share = part / whole
    text = f"{share:.0%}"
    if (text == "100%" and part < whole) or (text == "0%" and part > 0):
        text = f"{share:.1%}"
    return text


def binning_text(binning: BinningSettings) -> str:
    """`50ms windows`, `20,000 events each, stride 10000`, with a cut and minimum if set."""
    if binning.events is not None:
        parts = [f"{binning.events:,} events each"]
    else:
        parts = [f"{binning.window} windows"]
    if binning.stride is not None:
        parts.append(f"stride {binning.stride}")
    if binning.start is not None or binning.end is not None:
        parts.append(f"from {binning.start or 'the start'} to {binning.end or 'the end'}")
    if binning.min_events:
        parts.append(f"at least {binning.min_events:,} events")
    return ", ".join(parts)

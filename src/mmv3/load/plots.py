"""PNG plots of a load run's timeline (matplotlib, drawn off-screen without pyplot's global state)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

RATES_PNG = "rates.png"
LATENCY_PNG = "latency.png"
REMAINING_PNG = "remaining.png"


def _figure(title: str) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.set_title(title)
    axes.set_xlabel("seconds since the first request")
    axes.grid(True, alpha=0.3)
    return figure, axes


def _series(rows: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in rows:
        value = row.get(key)
        if value is not None:
            xs.append(row["t"])
            ys.append(value)
    return xs, ys


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def write_plots(
    rows: Sequence[dict[str, Any]],
    directory: str | Path,
    *,
    advertised_rate: float | None = None,
    limit: int | None = None,
    first_429_after: float | None = None,
) -> list[Path]:
    """Draw the three plots of `Accounting.timeline()` rows into `directory`; return their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    figure, axes = _figure("Offered vs accepted vs throttled (requests per second, by send time)")
    for key, label, style in (
        ("offered", "offered", "-"),
        ("accepted", "accepted (goodput)", "-"),
        ("throttled", "throttled (429)", "--"),
    ):
        xs, ys = _series(rows, key)
        axes.plot(xs, ys, style, label=label, linewidth=1.6)
    if advertised_rate:
        axes.axhline(
            advertised_rate, color="grey", linestyle=":", label=f"advertised rate {advertised_rate:.3g}/s"
        )
    if first_429_after is not None:
        axes.axvline(
            first_429_after, color="red", linestyle=":", label=f"first 429 after {first_429_after:.2f} s"
        )
    axes.set_ylabel("requests/s")
    axes.legend(loc="best", fontsize="small")
    written.append(_save(figure, out / RATES_PNG))

    figure, axes = _figure("Latency percentiles of accepted requests (ms)")
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        xs, ys = _series(rows, key)
        axes.plot(xs, ys, label=label, linewidth=1.4)
    axes.set_ylabel("ms")
    axes.legend(loc="best", fontsize="small")
    written.append(_save(figure, out / LATENCY_PNG))

    figure, axes = _figure("X-Ratelimit-Remaining over time")
    xs, ys = _series(rows, "remaining_min")
    axes.plot(xs, ys, label="Remaining (lowest in the second)", linewidth=1.4)
    xs, ys = _series(rows, "reset_max")
    if ys:
        axes.plot(xs, ys, "--", label="Reset (s, highest in the second)", linewidth=1.0)
    if limit is not None:
        axes.axhline(limit, color="grey", linestyle=":", label=f"Limit {limit}")
    if not any(row.get("remaining_min") is not None for row in rows):
        axes.text(0.5, 0.5, "no X-Ratelimit-Remaining header seen", ha="center", transform=axes.transAxes)
    axes.set_ylabel("requests")
    axes.legend(loc="best", fontsize="small")
    written.append(_save(figure, out / REMAINING_PNG))
    return written

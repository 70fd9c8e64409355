"""Learning-curve figures: each arm's mean over seeds with a min-max band, against
seconds, training bytes or FLOPs.

Seeds are measured at different x, so they are interpolated onto the x values where all
have data. The curve subset (the same bytes at every point) draws the line; step 0 and
the final point, scored on the whole validation text, are drawn apart as diamonds.
"""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from roundtable.arms import starts_pretrained
from roundtable.report.load import at_top, by_arm
from roundtable.results import CurvePoint, Results, Run

BPB = "valid_bits_per_byte"


def xy(points: tuple[CurvePoint, ...], xkey: str, ykey: str, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (x, y) of the points that have both. On a log axis x = 0 (step 0, before any
    training) is drawn at a third of the smallest positive x, so the start stays in view."""
    pairs: dict[float, float] = {}
    positive = [x for p in points if (x := getattr(p, xkey)) is not None and x > 0]
    for p in points:
        x, y = getattr(p, xkey), getattr(p, ykey)
        if x is None or y is None:
            continue
        if log and x <= 0:
            if not positive:
                continue
            x = min(positive) / 3
        pairs[x] = y
    xs = sorted(pairs)
    return np.array(xs, dtype=float), np.array([pairs[x] for x in xs], dtype=float)


def _line_key(points: tuple[CurvePoint, ...]) -> str:
    """The curve subset is the same bytes at every point; older results only have the full score."""
    return "subset_bits_per_byte" if any(p.subset_bits_per_byte is not None for p in points) else BPB


def _mean_band(series: list[tuple[np.ndarray, np.ndarray]], log: bool):
    """(grid, mean, lo, hi) on the x values where every seed has data, or None when the
    seeds do not overlap on at least two points."""
    series = [(x, y) for x, y in series if len(x)]
    if not series:
        return None
    if len(series) == 1:
        x, y = series[0]
        return x, y, y, y
    lo, hi = max(x[0] for x, _ in series), min(x[-1] for x, _ in series)
    grid = np.unique(np.concatenate([x[(x >= lo) & (x <= hi)] for x, _ in series]))
    if len(grid) < 2:
        return None
    t = np.log if log else np.asarray
    ys = np.stack([np.interp(t(grid), t(x), y) for x, y in series])
    return grid, ys.mean(axis=0), ys.min(axis=0), ys.max(axis=0)


def _draw_arm(ax, series, color: str, label: str, log: bool) -> bool:
    """Mean line with a shaded min-max band; each seed on its own if they cannot be averaged."""
    band = _mean_band(series, log)
    if band is not None:
        x, mean, lo, hi = band
        ax.plot(x, mean, color=color, lw=2, marker="o", ms=3, label=label)
        if len(series) > 1:
            ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
        return True
    drawn = False
    for x, y in series:
        if len(x):
            ax.plot(x, y, color=color, lw=1.2, marker="o", ms=3, label=label if not drawn else None)
            drawn = True
    return drawn


def _draw_full_points(ax, runs: list[Run], xkey: str, color: str, log: bool) -> bool:
    """Step 0 and the final point are scored on the whole validation text: show them apart."""
    xs, ys = [], []
    for r in runs:
        x, y = xy(r.curve, xkey, BPB, log)
        xs += list(x)
        ys += list(y)
    if xs:
        ax.scatter(xs, ys, marker="D", s=30, color=color, edgecolors="black", linewidths=0.7, zorder=3)
    return bool(xs)


def _focus(ax, groups: dict[str, list[Run]], base: float | None) -> None:
    """A y-range for the differences that matter: from the best score to a little above
    the worst trained one, not stretched to an untrained model's 8 bits per byte."""
    trained = [v for rs in groups.values() for r in rs for p in r.curve[1:]
               for v in (p.subset_bits_per_byte, p.valid_bits_per_byte)]
    trained = [v for v in trained + [base] if v is not None]
    if len(trained) >= 2:
        lo, hi = min(trained), max(trained)
        pad = 0.08 * (hi - lo or hi or 1.0)
        ax.set_ylim(max(0.0, lo - pad), hi + pad)


def _pretrained_line(results: Results, groups: dict[str, list[Run]], ykey: str | None) -> float | None:
    """The pretrained model as it is, on the bytes the lines are drawn on: the curve
    subset's step-0 score of the arms that start from it where the lines are subset
    curves (the baseline in results.json is the whole text's, other bytes), the
    baseline otherwise; None where no score on the lines' bytes exists."""
    key = ykey or next((_line_key(r.curve) for rs in groups.values() for r in rs if r.curve), BPB)
    if key != "subset_bits_per_byte":
        return results.baselines.pretrained.get(key)
    starts = [r.curve[0].subset_bits_per_byte for r in results.runs
              if r.ok and starts_pretrained(r.arm) and r.curve and r.curve[0].step == 0]
    starts = [v for v in starts if v is not None]
    return float(np.mean(starts)) if starts else None


def draw_curves(ax, results: Results, colors: dict[str, str], xkey: str, log: bool, ykey: str | None) -> bool:
    """Every arm's curve at the verdict's fraction on ``ax``, with the pretrained model as a
    line where it was scored; ykey None means bits per byte (subset line + full markers).
    False when there is nothing to draw."""
    groups = by_arm(at_top(results))
    drawn = full = False
    for arm, runs in groups.items():
        series = [xy(r.curve, xkey, ykey or _line_key(r.curve), log) for r in runs]
        label = f"{arm} ({len(runs)} seed{'s' if len(runs) > 1 else ''})"
        drawn |= _draw_arm(ax, series, colors[arm], label, log)
        if ykey is None:
            full |= _draw_full_points(ax, runs, xkey, colors[arm], log)
    if not drawn:
        return False
    base = _pretrained_line(results, groups, ykey)
    if base is not None:
        ax.axhline(base, color="#555555", lw=1, ls="--", label="pretrained model as it is")
    if ykey is None:
        _focus(ax, groups, base)
    if log:
        ax.set_xscale("log")
        ax.annotate("step 0 drawn at the left edge", (0.01, 0.01), xycoords="axes fraction", fontsize=7,
                    color="#777777")
    handles, labels = ax.get_legend_handles_labels()
    if full:
        handles.append(Line2D([], [], marker="D", ls="", color="#bbbbbb", markeredgecolor="black"))
        labels.append("whole validation text")
    ax.legend(handles, labels, fontsize=8, frameon=False)
    return True

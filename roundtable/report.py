"""report.html, report.md and plots/*.png from results.json: the evidence behind the verdict.

Nothing here trains or evaluates. The report is rebuilt from results.json and the files
the runs left behind, so ``roundtable report DIR`` is cheap and safe to rerun. Every field
may be missing or null (older or partial results): a missing value prints as "-".

The page is built once as a list of blocks (heading, paragraph, table, figure, ...), then
written twice: as one self-contained HTML file (plots inlined as base64 PNG, inline CSS,
no script, a Content-Security-Policy that forbids any load) and as Markdown that links
the same plots from plots/.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from roundtable.summary import summary_rows
from roundtable.verdict import primary_metric

RESULTS = "results.json"
PLOTS = "plots"
PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
N_SAMPLES = 3
CELL_CHARS = 600
DASH = "-"


# -- values ---------------------------------------------------------------------------
def _num(v) -> float | None:
    """A finite number, or None: JSON nulls, strings and NaN all count as missing."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _fmt(v, spec: str = ".3f") -> str:
    """Format a number, or "-" when it is missing; text passes through."""
    if v is None:
        return DASH
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if _num(v) is None:
            return DASH
        try:
            return format(v, spec)
        except (TypeError, ValueError):
            return str(v)
    return str(v)


def _count(v) -> str:
    """Parameter counts read best as 135.1M / 330.2k."""
    n = _num(v)
    if n is None:
        return DASH
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def _mean(values) -> float | None:
    nums = [x for x in (_num(v) for v in values) if x is not None]
    return float(np.mean(nums)) if nums else None


def _clip(text, limit: int = CELL_CHARS) -> str:
    """Long documents would swamp a table; the full text is in the run folder."""
    s = DASH if text is None else str(text)
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


# -- reading --------------------------------------------------------------------------
def load_results(out: Path) -> tuple[dict, str | None]:
    """results.json as a dict, plus a note when it could not be read (the report says so)."""
    path = Path(out) / RESULTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return {}, f"Could not read {path.name}: {e}"
    if not isinstance(data, dict):
        return {}, f"{path.name} does not hold a JSON object."
    return data, None


def _dict(v) -> dict:
    return v if isinstance(v, dict) else {}


def _runs(results: dict) -> list[dict]:
    runs = results.get("runs")
    return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []


def _curve(run: dict) -> list[dict]:
    c = run.get("curve")
    return [p for p in c if isinstance(p, dict)] if isinstance(c, list) else []


def _arm(run: dict) -> str:
    return str(run.get("arm") or DASH)


def _arms(runs: list[dict]) -> list[str]:
    """Arms in the order the comparison ran them: colours and columns follow it."""
    return list(dict.fromkeys(_arm(r) for r in runs))


def _colors(runs: list[dict]) -> dict[str, str]:
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(_arms(runs))}


def _ok(runs: list[dict]) -> list[dict]:
    return [r for r in runs if r.get("status") == "ok"]


def _top_fraction(results: dict) -> float | None:
    """The fraction the verdict speaks about: the largest one that finished."""
    v = _num(_dict(results.get("verdict")).get("fraction"))
    if v is not None:
        return v
    runs = _runs(results)
    fracs = [f for f in (_num(r.get("fraction")) for r in (_ok(runs) or runs)) if f is not None]
    return max(fracs) if fracs else None


def _at_top(results: dict) -> list[dict]:
    """Finished runs at the verdict's fraction (all finished runs if fractions are missing)."""
    top = _top_fraction(results)
    ok = _ok(_runs(results))
    return [r for r in ok if top is None or _num(r.get("fraction")) in (top, None)]


def _by_arm(runs: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(_arm(r), []).append(r)
    return groups


# -- curves: mean and min-max band over seeds -------------------------------------------
def _xy(points: list[dict], xkey: str, ykey: str, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (x, y) with missing values dropped. On a log axis x = 0 (step 0, before any
    training) is drawn at a third of the smallest positive x, so the start stays in view."""
    pairs: dict[float, float] = {}
    positive = [x for p in points if (x := _num(p.get(xkey))) is not None and x > 0]
    for p in points:
        x, y = _num(p.get(xkey)), _num(p.get(ykey))
        if x is None or y is None:
            continue
        if log and x <= 0:
            if not positive:
                continue
            x = min(positive) / 3
        pairs[x] = y
    xs = sorted(pairs)
    return np.array(xs, dtype=float), np.array([pairs[x] for x in xs], dtype=float)


def _line_key(points: list[dict]) -> str:
    """The curve subset is the same bytes at every point; older results only have the full score."""
    if any(_num(p.get("subset_bits_per_byte")) is not None for p in points):
        return "subset_bits_per_byte"
    return "valid_bits_per_byte"


def _mean_band(series: list[tuple[np.ndarray, np.ndarray]], log: bool):
    """Seeds are measured at different x: interpolate them onto the x values where all have data.

    Returns (grid, mean, lo, hi), or None when the seeds do not overlap on at least two points.
    """
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
    """One arm: mean line with a shaded min-max band; each seed on its own if they cannot be averaged."""
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


def _draw_full_points(ax, runs: list[dict], xkey: str, color: str, log: bool) -> bool:
    """Step 0 and the final point are scored on the whole validation text: show them apart."""
    xs, ys = [], []
    for r in runs:
        # valid_bits_per_byte is the whole text's score, present where the whole text was scored
        x, y = _xy(_curve(r), xkey, "valid_bits_per_byte", log)
        xs += list(x)
        ys += list(y)
    if xs:
        ax.scatter(xs, ys, marker="D", s=30, color=color, edgecolors="black", linewidths=0.7, zorder=3)
    return bool(xs)


# -- figures --------------------------------------------------------------------------
def _axes(title: str, xlabel: str, ylabel: str):
    fig = Figure(figsize=(7.5, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _curve_figure(results: dict, xkey: str, xlabel: str, log: bool, ykey: str | None, ylabel: str):
    """Every arm on one set of axes; ykey None means bits per byte (subset line + full markers)."""
    groups = _by_arm(_at_top(results))
    colors = _colors(_runs(results))
    fig, ax = _axes(f"{ylabel} against {xlabel}", xlabel, ylabel)
    drawn = full = False
    for arm, runs in groups.items():
        series = []
        for r in runs:
            pts = _curve(r)
            series.append(_xy(pts, xkey, ykey or _line_key(pts), log))
        label = f"{arm} ({len(runs)} seed{'s' if len(runs) > 1 else ''})"
        drawn |= _draw_arm(ax, series, colors[arm], label, log)
        if ykey is None:
            full |= _draw_full_points(ax, runs, xkey, colors[arm], log)
    if not drawn:
        return None
    base = _dict(_dict(results.get("baselines")).get("pretrained")).get(ykey or "valid_bits_per_byte")
    if _num(base) is not None:
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
    fig.tight_layout()
    return fig


def _focus(ax, groups: dict, base) -> None:
    """A y-range for the differences that matter: from the best score to a little above
    the worst trained one, not stretched to an untrained model's 8 bits per byte."""
    trained = [_num(p.get(k)) for rs in groups.values() for r in rs for p in _curve(r)[1:]
               for k in ("subset_bits_per_byte", "valid_bits_per_byte")]
    trained = [v for v in trained + [_num(base)] if v is not None]
    if len(trained) >= 2:
        lo, hi = min(trained), max(trained)
        pad = 0.08 * (hi - lo or hi or 1.0)
        ax.set_ylim(max(0.0, lo - pad), hi + pad)


def _verdict_figure(results: dict):
    """The verdict at a glance: each arm's final score with its 95% interval (documents
    and seeds), the pretrained model as it is, and the forecast at its target budget."""
    v = _dict(results.get("verdict"))
    means, cis = _dict(v.get("means")), _dict(v.get("arm_ci95"))
    if not means:
        return None
    colors = _colors(_runs(results))
    metric = v.get("metric") or "valid_bits_per_byte"
    fig, ax = _axes("Final score of each arm (95% interval over documents and seeds)", metric, "")
    arms = list(means)
    f = _dict(results.get("forecast"))
    fc = _dict(f.get("arms"))
    for i, arm in enumerate(arms):
        y, m, ci = len(arms) - 1 - i, means[arm], cis.get(arm)
        err = [[m - ci[0]], [ci[1] - m]] if ci else None
        ax.errorbar([m], [y], xerr=err, fmt="o", color=colors.get(arm, "#555555"), capsize=4, ms=7)
        a = _dict(fc.get(arm))
        if _num(a.get("value")) is not None and a.get("metric") == metric:
            lo, hi = a["ci95"]
            ax.errorbar([a["value"]], [y - 0.25], xerr=[[a["value"] - lo], [hi - a["value"]]], fmt="s",
                        mfc="white", color=colors.get(arm, "#555555"), capsize=3, ms=6)
    ax.set_yticks(range(len(arms)), list(reversed(arms)))
    base = _dict(_dict(results.get("baselines")).get("pretrained")).get(metric)
    if _num(base) is not None:
        ax.axvline(base, color="#555555", lw=1, ls="--")
        ax.annotate("pretrained as it is", (base, len(arms) - 0.6), fontsize=8, color="#555555")
    lead = _dict(_dict(results.get("baselines")).get("lead")).get(metric)
    if _num(lead) is not None:
        ax.axvline(lead, color="#999999", lw=1, ls=":")
        ax.annotate("lead sentence", (lead, len(arms) - 0.6), fontsize=8, color="#999999")
    if fc:
        ax.annotate(f"open squares: forecast at {_fmt(f.get('target_seconds'), 'g')} "
                    f"{'s' if f.get('unit') == 's' else 'steps'}", (0.01, 0.01), xycoords="axes fraction",
                    fontsize=8, color="#555555")
    ax.set_ylim(-0.8, len(arms) - 0.3)
    fig.tight_layout()
    return fig


def _sweep_figure(results: dict):
    """Final metric against the fraction of training data: how each arm scales with data."""
    metric, _ = primary_metric(results.get("task") or "lm")
    runs = [r for r in _ok(_runs(results)) if _num(r.get("fraction")) is not None]
    fractions = sorted({_num(r["fraction"]) for r in runs})
    if len(fractions) < 2:
        return None
    colors = _colors(_runs(results))
    fig, ax = _axes(f"final {metric} against data fraction", "fraction of training data", metric)
    drawn = False
    for arm, rs in _by_arm(runs).items():
        pts = _fraction_stats(rs, metric)
        if not pts:
            continue
        x, m, lo, hi = (np.array(v) for v in zip(*pts))
        ax.errorbar(x, m, yerr=[m - lo, hi - m], color=colors[arm], marker="o", capsize=3, lw=1.6, label=arm)
        drawn = True
    if not drawn:
        return None
    ax.set_xscale("log")  # data sweeps are multiplicative: 0.1, 0.3, 1.0
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _fraction_stats(runs: list[dict], metric: str) -> list[tuple[float, float, float, float]]:
    """(fraction, mean, min, max) over seeds, for fractions where some seed has the metric."""
    by_frac: dict[float, list[float]] = {}
    for r in runs:
        v = _num(_dict(r.get("final")).get(metric))
        if v is not None:
            by_frac.setdefault(_num(r["fraction"]), []).append(v)
    return [(f, float(np.mean(v)), min(v), max(v)) for f, v in sorted(by_frac.items())]


def _rouge_bars(results: dict):
    """Final ROUGE-1/2/L per arm, mean over seeds with min-max error bars."""
    keys = ("rouge1", "rouge2", "rougeL")
    groups = _by_arm(_at_top(results))
    colors = _colors(_runs(results))
    fig, ax = _axes("final ROUGE on the validation summaries", "", "score (0-1)")
    width = 0.8 / max(len(groups), 1)
    drawn = False
    for i, (arm, runs) in enumerate(groups.items()):
        vals = [[_num(_dict(r.get("final")).get(k)) for r in runs] for k in keys]
        vals = [[v for v in vs if v is not None] for vs in vals]
        if not any(vals):
            continue
        m = np.array([np.mean(v) if v else np.nan for v in vals])
        lo = np.array([m[j] - min(v) if v else 0 for j, v in enumerate(vals)])
        hi = np.array([max(v) - m[j] if v else 0 for j, v in enumerate(vals)])
        x = np.arange(len(keys)) + (i - (len(groups) - 1) / 2) * width
        ax.bar(x, m, width, yerr=[lo, hi], capsize=3, color=colors[arm], label=arm)
        drawn = True
    if not drawn:
        return None
    ax.set_xticks(np.arange(len(keys)), ["ROUGE-1", "ROUGE-2", "ROUGE-L"])
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


@dataclass
class Plot:
    name: str
    caption: str
    png: bytes


def _forecast_figure(results: dict):
    """The fan chart: measured rungs, the forecast band to the target budget (log x),
    and the backtest's prediction of the largest rung against what it measured."""
    f = _dict(results.get("forecast"))
    arms = _dict(f.get("arms"))
    if not arms:
        return None
    colors = _colors(_runs(results))
    unit = "seconds" if f.get("unit") == "s" else "steps"
    metric = next(iter(arms.values())).get("metric", "valid_bits_per_byte")
    fig, ax = _axes(f"Forecast to {_fmt(f.get('target_seconds'), 'g')} {unit}", f"training budget ({unit})", metric)
    for arm, a in arms.items():
        color = colors.get(arm, "#555555")
        band = [b for b in a.get("band") or [] if _num(b.get("value")) is not None]
        if band:
            x = [b["budget"] for b in band]
            ax.fill_between(x, [b["ci95"][0] for b in band], [b["ci95"][1] for b in band], color=color, alpha=0.12)
            ax.fill_between(x, [b["ci80"][0] for b in band], [b["ci80"][1] for b in band], color=color, alpha=0.22)
            ax.plot(x, [b["value"] for b in band], color=color, ls="--", lw=1.2)
        m = a.get("measured") or []
        ax.plot([p["at"] for p in m], [p["value"] for p in m], "o", color=color, label=f"{arm} (measured)")
    for b in f.get("backtest") or []:
        color = colors.get(b.get("arm"), "#555555")
        ax.plot([b["budget"]], [b["predicted"]], marker="x", ms=9, color=color, ls="none")
    ax.axvline(_num(f.get("target_seconds")) or 1, color="#888888", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.legend(fontsize=8, frameon=False)
    return fig


def _verdict_caption(results: dict) -> str:
    """Names only what the plot draws: a legend for a line that is not there misleads."""
    base = _dict(results.get("baselines"))
    parts = ["The verdict plot: each arm's final score (seed mean) with its 95% interval over documents and seeds"]
    if base.get("pretrained"):
        parts.append("dashed: the pretrained model before any training")
    if base.get("lead"):
        parts.append("dotted: the lead-sentence baseline")
    if _dict(results.get("forecast")).get("arms"):
        parts.append("open squares: the forecast at its target budget with its 95% interval")
    return "; ".join(parts) + "."


def _figures(results: dict) -> list[tuple[str, str, object]]:
    """(file name, caption, figure builder): the figures this kind of results file can have."""
    top = _fmt(_top_fraction(results), "g")
    band = (f"Data fraction {top}. Line: mean over seeds on the curve subset (the same bytes at every point); "
            "band: min-max across seeds; diamonds: the whole validation text (step 0 and final).")
    flops = band + f" FLOPs: {results.get('flops_formula') or DASH}."
    bpb = "valid bits per byte"
    sweep = "Final score of each arm against the fraction of training data: mean over seeds, error bars min to max."
    fan = ("Dots: each arm's final score at 1/4, 1/2 and the whole budget (mean over seeds). Dashed line: "
           "the fitted law to the target budget (dotted vertical), bands: 80% and 95% intervals. Crosses: the "
           "backtest, the whole budget's score predicted from the two smaller rungs.")
    figs = [
        ("verdict", _verdict_caption(results), lambda: _verdict_figure(results)),
        ("forecast", fan, lambda: _forecast_figure(results)),
        ("bpb_vs_seconds", band, lambda: _curve_figure(results, "seconds", "training seconds", False, None, bpb)),
        ("bpb_vs_bytes", band, lambda: _curve_figure(results, "train_bytes", "training bytes", True, None, bpb)),
        ("bpb_vs_flops", flops, lambda: _curve_figure(results, "flops", "training FLOPs", True, None, bpb)),
        ("fraction_sweep", sweep, lambda: _sweep_figure(results)),
    ]
    if results.get("task") == "summarize":
        rouge = f"Data fraction {top}. ROUGE-L of generated summaries during training: mean over seeds, band min-max."
        bars = f"Data fraction {top}. Final ROUGE, mean over seeds; error bars span min to max."
        figs += [
            ("rougeL_vs_seconds", rouge,
             lambda: _curve_figure(results, "seconds", "training seconds", False, "rougeL", "ROUGE-L")),
            ("rouge_final", bars, lambda: _rouge_bars(results)),
        ]
    return figs


def _png(fig: Figure) -> bytes:
    """PNG bytes without the 'Software' text chunk (it carries a URL; the report has none)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _build(make) -> Figure | None:
    try:
        return make()
    except Exception:  # noqa: BLE001 - a malformed field costs one figure, not the report
        return None


def make_plots(results: dict, out: Path) -> list[Plot]:
    """Write plots/*.png and return them for inlining; a figure without data is left out."""
    (out / PLOTS).mkdir(parents=True, exist_ok=True)
    plots = []
    for name, caption, make in _figures(results):
        fig = _build(make)
        if fig is None:
            continue
        data = _png(fig)
        (out / PLOTS / f"{name}.png").write_bytes(data)
        plots.append(Plot(name, caption, data))
    return plots


# -- page blocks ------------------------------------------------------------------------
@dataclass
class Block:
    """One piece of the page. kind: h1, h2, h3, headline, p, note, kv, table, samples, figure, pre."""

    kind: str
    text: str = ""
    rows: list | None = None
    plot: Plot | None = None


def _verdict_value(key: str, v) -> str:
    if v is None:
        return DASH
    if key == "ci95" and isinstance(v, list) and len(v) == 2:
        return f"[{_fmt(v[0])}, {_fmt(v[1])}]"
    if key == "margin":
        return _fmt(v)
    if key == "separated":
        return "yes" if v is True else "no" if v is False else str(v)
    if key == "fraction" or key == "crossing_fraction":
        return _fmt(v, "g")
    if isinstance(v, dict) and all(isinstance(x, list) and len(x) == 2 for x in v.values()):
        return ", ".join(f"{k} [{_fmt(x[0])}, {_fmt(x[1])}]" for k, x in v.items()) or DASH
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items()) or DASH
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _fmt(v, ".4g")
    return v if isinstance(v, str) else json.dumps(v)


VERDICT_KEYS = [
    ("metric", "metric"), ("winner", "winner"), ("runner_up", "runner-up"), ("margin", "margin"),
    ("ci95", "95% interval of the margin"), ("separated", "separated"),
]
VERDICT_OPTIONAL = [
    ("fraction", "data fraction"), ("means", "means"), ("arm_ci95", "each arm's 95% interval"),
    ("crossing_fraction", "crossing fraction"),
]


def _verdict_rows(v: dict) -> list[list[str]]:
    """The fixed keys always (with "-"), optional and unknown keys only when present."""
    rows = [[label, _verdict_value(k, v.get(k))] for k, label in VERDICT_KEYS]
    rows += [[label, _verdict_value(k, v[k])] for k, label in VERDICT_OPTIONAL if k in v]
    known = {k for k, _ in VERDICT_KEYS + VERDICT_OPTIONAL} | {"sentence", "warnings"}
    rows += [[k, _verdict_value(k, v[k])] for k in v if k not in known]
    return rows


def _title_section(results: dict, problem: str | None, plots: list[Plot] = ()) -> list[Block]:
    task = results.get("task") or DASH
    v = _dict(results.get("verdict"))
    blocks = [Block("h1", f"roundtable: fine-tune or train from scratch? (task: {task})")]
    if problem:
        blocks.append(Block("note", problem))
    blocks.append(Block("headline", str(v.get("sentence") or "No verdict yet: the comparison did not finish.")))
    if results.get("complete") is False:
        blocks.append(Block("note", "results.json is marked incomplete: some runs are still to come."))
    for warning in v.get("warnings") or []:
        blocks.append(Block("note", str(warning)))
    blocks += [Block("figure", p.caption, plot=p) for p in plots if p.name == "verdict"]
    budget = _dict(results.get("budget"))
    if budget.get("kind", "seconds") == "seconds":
        blocks.append(Block("p", "The budget is wall-clock time: the result depends on this machine and its load "
                                 "(see Versions and machine); a budget in tokens or FLOPs does not."))
    if v:
        blocks.append(Block("kv", rows=_verdict_rows(v)))
    return blocks


class _Dash:
    """Stands in for a missing field that summary_rows formats directly."""

    def __format__(self, spec: str) -> str:
        return DASH

    def __str__(self) -> str:
        return DASH


def _summary_input(results: dict) -> dict:
    """A copy summary_rows can format whatever is missing: it indexes arm/seed/fraction/status."""
    runs = []
    for r in _runs(results):
        r = dict(r)
        for k in ("arm", "seed", "fraction", "status"):
            if r.get(k) is None:
                r[k] = _Dash()
        for k in ("steps", "train_seconds"):
            if _num(r.get(k)) is None:
                r[k] = None
        if isinstance(r.get("steps"), float):
            r["steps"] = int(r["steps"])
        r["curve"] = [{k: _num(x) for k, x in p.items()} for p in _curve(r)] or None
        r["final"] = {k: _num(x) for k, x in _dict(r.get("final")).items()}
        runs.append(r)
    return {"task": results.get("task"), "runs": runs}


def _summary_section(results: dict) -> list[Block]:
    blocks = [Block("h2", "Runs")]
    try:
        rows = summary_rows(_summary_input(results))
    except Exception:  # noqa: BLE001 - fall back to the bare identity of each run
        rows = [["arm", "seed", "frac", "status"]] + [
            [_arm(r), _fmt(r.get("seed"), "d"), _fmt(r.get("fraction"), "g"), str(r.get("status") or DASH)]
            for r in _runs(results)
        ]
    if len(rows) < 2:
        return blocks + [Block("p", "No runs recorded.")]
    base = _dict(_dict(results.get("baselines")).get("pretrained"))
    if _num(base.get("valid_bits_per_byte")) is not None:  # the reference: what the model knew before training
        header = rows[0]
        row = [DASH] * len(header)
        row[0], row[3] = "pretrained, as it is", "reference"
        for col in ("bpb step 0", "bpb final"):
            if col in header:
                row[header.index(col)] = _fmt(base["valid_bits_per_byte"])
        rows.append(row)
    return blocks + [Block("table", rows=rows)]


def _plot_section(plots: list[Plot]) -> list[Block]:
    blocks = [Block("h2", "Learning curves")]
    if not plots:
        return blocks + [Block("p", "No curve data to plot.")]
    return blocks + [Block("figure", p.caption, plot=p) for p in plots]


def _generation_speed(run: dict, key: str):
    return _dict(run.get("generation")).get(key)


def _cost_row(arm: str, runs: list[dict]) -> list[str]:
    def mean(key):
        return _mean(r.get(key) for r in runs)

    params = next((r.get("params") for r in runs if _num(r.get("params")) is not None), None)
    trainable = next((r.get("trainable_params") for r in runs if _num(r.get("trainable_params")) is not None), None)
    ckpt = mean("checkpoint_bytes")
    return [
        arm, str(len(runs)), _count(params), _count(trainable), _fmt(None if ckpt is None else ckpt / 1e6, ".1f"),
        _fmt(mean("train_seconds"), ".1f"), _fmt(mean("train_flops"), ".3g"), _fmt(mean("eval_seconds"), ".1f"),
        _fmt(_mean(_generation_speed(r, "tokens_per_second") for r in runs), ".1f"),
        _fmt(_mean(_generation_speed(r, "bytes_per_second") for r in runs), ".1f"),
    ]


def _cost_section(results: dict) -> list[Block]:
    """What each arm costs; means over its finished seeds at the verdict's fraction."""
    head = ["arm", "runs", "params", "trainable", "checkpoint MB", "train s", "train FLOPs", "eval s",
            "gen tokens/s", "gen bytes/s"]
    groups = _by_arm(_at_top(results))
    for arm, runs in _by_arm(_runs(results)).items():
        groups.setdefault(arm, runs)  # an arm with no finished run still shows its size
    blocks = [Block("h2", "Cost")]
    if not groups:
        return blocks + [Block("p", "No runs recorded.")]
    note = (f"Means over finished seeds at data fraction {_fmt(_top_fraction(results), 'g')}. "
            f"Training FLOPs: {results.get('flops_formula') or DASH}.")
    return blocks + [Block("table", rows=[head] + [_cost_row(a, rs) for a, rs in groups.items()]), Block("p", note)]


def _sample_run(runs: list[dict], has) -> dict | None:
    """The run whose samples represent an arm: finished first, then the lowest seed."""
    def key(r):
        return (r.get("status") != "ok", -(_num(r.get("fraction")) or 0), _num(r.get("seed")) or 0)

    candidates = [r for r in runs if has(r)]
    return min(candidates, key=key) if candidates else None


def _lm_samples(results: dict) -> list[list[str]] | None:
    """Prompt | one column per arm, for the first prompts of each arm."""
    def has(r):
        return isinstance(r.get("samples"), list) and any(isinstance(s, dict) for s in r["samples"])

    picked = {a: _sample_run(rs, has) for a, rs in _by_arm(_runs(results)).items()}
    texts = {a: [s for s in r["samples"] if isinstance(s, dict)][:N_SAMPLES] for a, r in picked.items() if r}
    if not texts:
        return None
    prompts = list(dict.fromkeys(str(s.get("prompt", DASH)) for ss in texts.values() for s in ss))
    lookup = {a: {str(s.get("prompt", DASH)): s.get("text") for s in ss} for a, ss in texts.items()}
    rows = [["prompt"] + list(texts)]
    for p in prompts:
        rows.append([_clip(p)] + [_clip(lookup[a].get(p)) for a in texts])
    return rows


def _read_jsonl(path: Path, n: int) -> list[dict]:
    """The first n JSON objects of a file; unreadable lines are skipped."""
    found: list[dict] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    found.append(obj)
                if len(found) >= n:
                    break
    except OSError:
        return []
    return found


def _generations_path(out: Path, run: dict) -> Path | None:
    d = run.get("run_dir")
    return out / str(d) / "generations.jsonl" if isinstance(d, str) and d else None


def _summarize_samples(results: dict, out: Path) -> list[list[str]] | None:
    """Document | reference | one column per arm's prediction, matched by document id."""
    def has(r):
        p = _generations_path(out, r)
        return p is not None and p.is_file()

    picked = {a: _sample_run(rs, has) for a, rs in _by_arm(_runs(results)).items()}
    gens = {a: _read_jsonl(_generations_path(out, r), N_SAMPLES) for a, r in picked.items() if r}
    gens = {a: g for a, g in gens.items() if g}
    if not gens:
        return None
    first = next(iter(gens.values()))
    by_id = {a: {str(g.get("id", i)): g for i, g in enumerate(gs)} for a, gs in gens.items()}
    rows = [["document", "reference"] + list(gens)]
    for i, g in enumerate(first):
        gid = str(g.get("id", i))
        preds = [_clip(by_id[a].get(gid, {}).get("prediction")) for a in gens]
        rows.append([_clip(g.get("document")), _clip(g.get("reference"))] + preds)
    return rows


def _samples_section(results: dict, out: Path) -> list[Block]:
    blocks = []
    lm = _lm_samples(results)
    if lm:
        blocks += [Block("h3", "Generated text"), Block("samples", rows=lm)]
    summ = _summarize_samples(results, out)
    if summ:
        blocks += [Block("h3", "Summaries of validation documents"), Block("samples", rows=summ)]
    if not blocks:
        return []
    note = f"The first {N_SAMPLES} samples of each arm (its finished run with the most data and lowest seed)."
    return [Block("h2", "Samples"), Block("p", note)] + blocks


def _search_section(results: dict) -> list[Block]:
    """Every arm's learning-rate search: the same grid, slice and evaluator for all."""
    search = _dict(results.get("lr_search"))
    if not search:
        return []
    rows = [["arm", "rate tried", "steps", "subset bits per byte", "status"]]
    for arm, s in search.items():
        for c in s.get("candidates") or []:
            rows.append([arm, _fmt(c.get("learning_rate"), ".3g"), _fmt(c.get("steps"), "d"),
                         _fmt(c.get("subset_bits_per_byte")), str(c.get("status") or DASH)])
    notes = [f"{arm}: {_fmt(s.get('chosen_rate'), '.3g')} chosen ({s.get('reason')}; {_fmt(s.get('seconds'), '.0f')} s, "
             "not charged to the budget)" for arm, s in search.items()]
    blocks = [Block("h2", "Learning-rate search")] + [Block("p", n) for n in notes]
    return blocks + ([Block("table", rows=rows)] if len(rows) > 1 else [])


def _problems_section(results: dict) -> list[Block]:
    bad = [r for r in _runs(results) if r.get("status") != "ok"]
    blocks = [Block("h2", "Runs that diverged or failed")]
    if not bad:
        return blocks + [Block("p", "None: every recorded run finished.")]
    rows = [["arm", "seed", "fraction", "status", "step", "error"]]
    for r in bad:
        step = r.get("diverged_step", r.get("steps"))
        rows.append([_arm(r), _fmt(r.get("seed"), "d"), _fmt(r.get("fraction"), "g"), str(r.get("status") or DASH),
                     _fmt(step, "d"), _clip(r.get("error"))])
    blocks.append(Block("table", rows=rows))
    if any(r.get("status") == "failed" for r in bad):
        blocks.append(Block("p", "A failed run's traceback is in its run folder, in error.log."))
    return blocks


def _kv_value(v) -> str:
    if v is None or isinstance(v, str):
        return v or DASH
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return json.dumps(v, default=str)


def _kv_rows(d: dict) -> list[list[str]]:
    return [[str(k), _kv_value(v)] for k, v in d.items()]


def _config_section(results: dict) -> list[Block]:
    blocks = [Block("h2", "Configuration")]
    model = _dict(results.get("pretrained_model"))
    if model:
        blocks += [Block("h3", "Pretrained model"), Block("kv", rows=_kv_rows(model))]
    data = _dict(results.get("data"))
    if data:
        blocks += [Block("h3", "Data"), Block("kv", rows=_kv_rows(data))]
    config = results.get("config")
    text = json.dumps(config, indent=2, default=str) if config is not None else DASH
    blocks += [Block("h3", "Exact configuration"), Block("pre", text)]
    env = _dict(results.get("environment"))
    blocks += [Block("h3", "Versions and machine"), Block("kv", rows=_kv_rows(env) or [["environment", DASH]])]
    return blocks


def build_blocks(results: dict, out: Path, plots: list[Plot], problem: str | None = None) -> list[Block]:
    """The whole page, in reading order: verdict first, the configuration last."""
    sections = [
        lambda: _title_section(results, problem, plots), lambda: _summary_section(results),
        lambda: _plot_section([p for p in plots if p.name != "verdict"]),
        lambda: _cost_section(results), lambda: _search_section(results), lambda: _samples_section(results, out),
        lambda: _problems_section(results),
        lambda: _config_section(results),
    ]
    blocks: list[Block] = []
    for section in sections:
        try:
            blocks += section()
        except Exception as e:  # noqa: BLE001 - one odd field must not cost the rest of the report
            blocks.append(Block("note", f"(this part of the report could not be rendered: {type(e).__name__})"))
    return blocks


# -- HTML -------------------------------------------------------------------------------
CSS = """
body{margin:0;background:#f4f4f1;color:#1f2328;font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1000px;margin:0 auto;padding:28px 32px 64px;background:#fff;min-height:100vh}
h1{font-size:1.6em;margin:.2em 0 .6em;line-height:1.25}
h2{font-size:1.2em;margin:2em 0 .7em;padding-bottom:.25em;border-bottom:1px solid #e1e1dc}
h3{font-size:1em;margin:1.4em 0 .4em;color:#3a3f44}
td.bad{color:#b3261e;font-weight:600}
.headline{font-size:1.12em;margin:0 0 1em;padding:14px 18px;border-left:5px solid #4C72B0;background:#eef3fa;
border-radius:4px}
.note{color:#8a4b00;background:#fff6e5;padding:8px 12px;border-radius:4px}
.scroll{overflow-x:auto;margin:.5em 0}
table{border-collapse:collapse;font-size:.88em;font-variant-numeric:tabular-nums}
th,td{padding:5px 10px;border-bottom:1px solid #e6e6e1;text-align:left;vertical-align:top}
th{background:#f3f3ef;font-weight:600}
table.kv th{background:none;color:#57606a;font-weight:normal;white-space:nowrap}
table.samples td{white-space:pre-wrap;min-width:14em;max-width:30em}
figure{margin:1.4em 0}
figure img{display:block;max-width:100%;height:auto}
figcaption{color:#57606a;font-size:.88em;margin-top:.3em}
pre{background:#f6f8fa;padding:12px 14px;border-radius:4px;overflow-x:auto;font-size:.82em}
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(text) -> str:
    return html.escape(str(text))


def _html_cell(text: str) -> str:
    """A run that diverged or failed stands out wherever its status is shown."""
    cls = ' class="bad"' if text in ("diverged", "failed") else ""
    return f"<td{cls}>{_e(text)}</td>"


def _html_table(rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(_html_cell(c) for c in r) + "</tr>" for r in rows[1:])
    attr = f' class="{cls}"' if cls else ""
    return f'<div class="scroll"><table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _html_kv(rows: list[list[str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


def _html_figure(b: Block) -> str:
    data = base64.b64encode(b.plot.png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(b.plot.name)}">'
            f"<figcaption>{_e(b.text)}</figcaption></figure>")


def _html_block(b: Block) -> str:
    simple = {"h1": "h1", "h2": "h2", "h3": "h3", "p": "p"}
    if b.kind in simple:
        return f"<{simple[b.kind]}>{_e(b.text)}</{simple[b.kind]}>"
    if b.kind in ("headline", "note"):
        return f'<p class="{b.kind}">{_e(b.text)}</p>'
    if b.kind == "kv":
        return _html_kv(b.rows)
    if b.kind in ("table", "samples"):
        return _html_table(b.rows, "samples" if b.kind == "samples" else "")
    if b.kind == "figure":
        return _html_figure(b)
    return f"<pre>{_e(b.text)}</pre>"


def to_html(blocks: list[Block], title: str) -> str:
    """One file that opens anywhere, offline: no script, no external resource, CSP forbids loads."""
    body = "\n".join(_html_block(b) for b in blocks)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{_e(title)}</title><style>{CSS}</style></head>\n'
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


# -- Markdown -----------------------------------------------------------------------------
def _md(text) -> str:
    """Markdown passes HTML through, so escape it like the HTML page does."""
    return html.escape(str(text), quote=False)


def _md_cell(text) -> str:
    return _md(text).replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _md_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def _md_block(b: Block) -> str:
    if b.kind == "h1":
        return f"# {_md(b.text)}"
    if b.kind == "h2":
        return f"## {_md(b.text)}"
    if b.kind == "h3":
        return f"### {_md(b.text)}"
    if b.kind == "headline":
        return f"> **{_md(b.text)}**"
    if b.kind == "note":
        return f"> {_md(b.text)}"
    if b.kind == "kv":
        return "\n".join(f"- **{_md(k)}**: {_md(v)}" for k, v in b.rows)
    if b.kind in ("table", "samples"):
        return _md_table(b.rows)
    if b.kind == "figure":
        return f"![{_md(b.plot.name)}]({PLOTS}/{b.plot.name}.png)\n\n_{_md(b.text)}_"
    if b.kind == "pre":
        fence = "~~~~" if "```" in b.text else "```"
        return f"{fence}json\n{b.text}\n{fence}"
    return _md(b.text)


def to_markdown(blocks: list[Block]) -> str:
    return "\n\n".join(_md_block(b) for b in blocks) + "\n"


# -- entry point ----------------------------------------------------------------------------
def render(out: Path) -> Path:
    """Write report.html, report.md and plots/ into ``out`` from its results.json; return report.html."""
    out = Path(out)
    results, problem = load_results(out)
    plots = make_plots(results, out)
    blocks = build_blocks(results, out, plots, problem)
    title = f"roundtable report: {results.get('task') or DASH}"
    (out / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
    path = out / "report.html"
    path.write_text(to_html(blocks, title), encoding="utf-8")
    return path

"""The report's figures, as PNG: the verdict at a glance first, then the forecast's fan
chart, the learning curves (curves.py), the data-fraction sweep and, for summarize, ROUGE.

Each figure is drawn from the typed records only; one without data is left out, never
drawn empty. The PNGs are written to plots/ for the Markdown page and returned for the
HTML page to inline.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from roundtable.report.curves import draw_curves
from roundtable.report.load import arms, at_top, by_arm, top_fraction
from roundtable.report.table import DASH, fmt
from roundtable.results import Results

PLOTS = "plots"
PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
GREY = "#555555"


@dataclass
class Plot:
    name: str
    caption: str
    png: bytes


def _colors(results: Results) -> dict[str, str]:
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(arms(results.runs))}


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


def _curve_figure(results: Results, xkey: str, xlabel: str, log: bool, ykey: str | None, ylabel: str):
    fig, ax = _axes(f"{ylabel} against {xlabel}", xlabel, ylabel)
    if not draw_curves(ax, results, _colors(results), xkey, log, ykey):
        return None
    fig.tight_layout()
    return fig


def _seeds(results: Results) -> dict[str, int]:
    """Finished seeds of each arm at the verdict's fraction: what each arm's interval covers."""
    return {arm: len(runs) for arm, runs in by_arm(at_top(results)).items()}


def interval_scope(results: Results) -> str:
    """What the verdict plot's intervals cover: documents, and seeds only where there are
    several (one seed's interval holds no run-to-run spread)."""
    counts = set(_seeds(results).values())
    if counts <= {1}:
        return "over documents only: one seed, no run-to-run spread"
    if len(counts) == 1:
        return f"over documents and {counts.pop()} seeds"
    return "over documents and each arm's seeds (the number beside its name)"


def _verdict_figure(results: Results):
    """Each arm's final score with its 95% interval (documents, and seeds where there are
    several), the pretrained model as it is, the lead sentence, and the forecast at its
    target budget."""
    v = results.verdict
    if v is None or not v.means:
        return None
    colors = _colors(results)
    metric = v.metric or "valid_bits_per_byte"
    fig, ax = _axes(f"Final score of each arm (95% interval {interval_scope(results)})", metric, "")
    names = list(v.means)
    seeds = _seeds(results)
    fc = results.forecast.arms if results.forecast else {}
    for i, arm in enumerate(names):
        y, m, ci = len(names) - 1 - i, v.means[arm], v.arm_ci95.get(arm)
        err = [[m - ci[0]], [ci[1] - m]] if ci else None
        ax.errorbar([m], [y], xerr=err, fmt="o", color=colors.get(arm, GREY), capsize=4, ms=7)
        a = fc.get(arm)
        if a is not None and a.value is not None and a.metric == metric:
            lo, hi = a.ci95
            ax.errorbar([a.value], [y - 0.25], xerr=[[a.value - lo], [hi - a.value]], fmt="s", mfc="white",
                        color=colors.get(arm, GREY), capsize=3, ms=6)
    ax.set_yticks(range(len(names)), [f"{a} ({seeds.get(a, 0)} seed{'' if seeds.get(a) == 1 else 's'})"
                                      for a in reversed(names)])
    for base, style, color, label in ((results.baselines.pretrained.get(metric), "--", GREY, "pretrained as it is"),
                                      (results.baselines.lead.get(metric), ":", "#999999", "lead sentence")):
        if base is not None:
            ax.axvline(base, color=color, lw=1, ls=style)
            ax.annotate(label, (base, len(names) - 0.6), fontsize=8, color=color)
    if fc:
        f = results.forecast
        ax.annotate(f"open squares: forecast at {fmt(f.target_seconds, 'g')} {'s' if f.unit == 's' else 'steps'}",
                    (0.01, 0.01), xycoords="axes fraction", fontsize=8, color=GREY)
    ax.set_ylim(-0.8, len(names) - 0.3)
    fig.tight_layout()
    return fig


def pareto_front(points: dict[str, tuple[float, float]], cheaper_is_lower: bool, lower_is_better: bool) -> set[str]:
    """The arms no other arm beats on both cost and score: (cost, score) per arm;
    ``cheaper_is_lower``: a lower cost is cheaper (parameters), else a higher one is
    (generation speed). An arm equal to another on both stays on the front."""
    def key(p: tuple[float, float]) -> tuple[float, float]:
        return (p[0] if cheaper_is_lower else -p[0]), (p[1] if lower_is_better else -p[1])

    k = {a: key(p) for a, p in points.items()}
    return {a for a in k if not any(o[0] <= k[a][0] and o[1] <= k[a][1] and o != k[a] for o in k.values())}


def frontier_points(results: Results) -> dict[str, dict[str, tuple[float, float]]]:
    """Per inference cost (parameters, generation tokens/s): each arm's (cost, final score),
    means over its finished seeds at the verdict's fraction; an arm without the cost measured is left out."""
    metric = results.facts.primary_metric
    out: dict[str, dict[str, tuple[float, float]]] = {"params": {}, "gen_tokens_per_s": {}}
    for arm, runs in by_arm(at_top(results)).items():
        scores = [r.final[metric] for r in runs if r.final.get(metric) is not None]
        if not scores:
            continue
        score = float(np.mean(scores))
        params = next((r.params for r in runs if r.params), None)
        speeds = [r.generation.tokens_per_second for r in runs
                  if r.generation is not None and r.generation.tokens_per_second is not None]
        if params:
            out["params"][arm] = (float(params), score)
        if speeds:
            out["gen_tokens_per_s"][arm] = (float(np.mean(speeds)), score)
    return out


def _frontier_figure(results: Results):
    """The quality-cost frontier: each arm's final score against its parameters and its
    generation speed on this machine; filled markers and the line: the Pareto front."""
    points = frontier_points(results)
    if sum(len(p) for p in points.values()) < 2:
        return None
    colors = _colors(results)
    metric, lower = results.facts.primary_metric, results.facts.lower_is_better
    fig = Figure(figsize=(9.0, 4.0), dpi=110)
    FigureCanvasAgg(fig)
    panels = (("params", "parameters (log)", True), ("gen_tokens_per_s", "generated tokens per second (log)", False))
    for i, (key, xlabel, cheap_low) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric if i == 0 else "")
        ax.grid(alpha=0.3)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        pts = points[key]
        if not pts:
            ax.set_title("not measured", fontsize=9, loc="left")
            continue
        front = pareto_front(pts, cheap_low, lower)
        line = sorted((pts[a] for a in front), key=lambda p: p[0])
        ax.plot([p[0] for p in line], [p[1] for p in line], color=GREY, lw=1, ls="--", drawstyle="steps-post"
                if cheap_low else "steps-pre")
        for arm, (x, y) in pts.items():
            on = arm in front
            ax.plot([x], [y], "o", ms=8, color=colors.get(arm, GREY), mfc=colors.get(arm, GREY) if on else "white")
            ax.annotate(arm, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_title(f"against {'size' if cheap_low else 'speed'}", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def frontier_caption(results: Results) -> str:
    """Names the arms on each front, so the caption says what the markers show."""
    points = frontier_points(results)
    lower = results.facts.lower_is_better
    fronts = []
    for key, words, cheap_low in (("params", "size", True), ("gen_tokens_per_s", "generation speed", False)):
        if points[key]:
            fronts.append(f"against {words}: {', '.join(sorted(pareto_front(points[key], cheap_low, lower)))}")
    return ("Quality against inference cost: each arm's final score (mean over seeds at the verdict's fraction) against "
            "its parameters and its generation speed measured on this machine after training. Filled markers and the "
            "dashed line: the Pareto front, the arms no other arm beats on both mean score and cost (" + "; ".join(fronts)
            + "); hollow: an arm another beats on both. The front compares mean scores without their intervals: "
            "the verdict says which differences its intervals separate.")


def _forecast_figure(results: Results):
    """The fan chart: each arm's measured curve (its main run, carried to the whole text),
    its final score, the forecast band to the target budget (log x), and the backtest's
    prediction of the final score from the first half of the curve."""
    f = results.forecast
    if f is None or not f.arms:
        return None
    colors = _colors(results)
    unit = {"s": "seconds"}.get(f.unit, f.unit)
    metric = next(iter(f.arms.values())).metric
    fig, ax = _axes(f"Forecast to {fmt(f.target_seconds, 'g')} {unit}", f"training budget ({unit})", metric)
    for arm, a in f.arms.items():
        color = colors.get(arm, GREY)
        band = [b for b in a.band if b.value is not None]
        if band:
            x = [b.budget for b in band]
            ci80, ci95 = (np.array([getattr(b, k) for b in band], dtype=float) for k in ("ci80", "ci95"))
            ax.fill_between(x, ci95[:, 0], ci95[:, 1], color=color, alpha=0.12)
            ax.fill_between(x, ci80[:, 0], ci80[:, 1], color=color, alpha=0.22)
            ax.plot(x, [b.value for b in band], color=color, ls="--", lw=1.2)
        curve = [p for p in a.raw.get("curve") or [] if p.get("value") is not None]
        if curve:
            ax.plot([p["at"] for p in curve], [p["value"] for p in curve], color=color, lw=1.0, alpha=0.8)
        ax.plot([m.at for m in a.measured], [m.value for m in a.measured], "o", color=color,
                label=f"{arm} (measured)" + ("" if a.value is not None else ": no forecast"))
    for b in f.backtest:
        ax.plot([b.budget], [b.predicted], marker="x", ms=9, color=colors.get(b.arm, GREY), ls="none")
    ax.axvline(f.target_seconds or 1, color="#888888", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.legend(fontsize=8, frameon=False)
    return fig


def _sweep_figure(results: Results):
    """Final metric against the fraction of training data: how each arm scales with data."""
    metric = results.facts.primary_metric
    runs = [r for r in results.runs if r.ok]
    if len({r.fraction for r in runs}) < 2:
        return None
    colors = _colors(results)
    fig, ax = _axes(f"final {metric} against data fraction", "fraction of training data", metric)
    drawn = False
    for arm, rs in by_arm(runs).items():
        by_frac: dict[float, list[float]] = {}
        for r in rs:
            if r.final.get(metric) is not None:
                by_frac.setdefault(r.fraction, []).append(r.final[metric])
        if not by_frac:
            continue
        x, m, lo, hi = (np.array(v) for v in zip(*[(f, np.mean(v), min(v), max(v)) for f, v in sorted(by_frac.items())]))
        ax.errorbar(x, m, yerr=[m - lo, hi - m], color=colors[arm], marker="o", capsize=3, lw=1.6, label=arm)
        drawn = True
    if not drawn:
        return None
    ax.set_xscale("log")  # data sweeps are multiplicative: 0.1, 0.3, 1.0
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _rouge_bars(results: Results):
    """Final ROUGE-1/2/L per arm, mean over seeds with min-max error bars."""
    keys = ("rouge1", "rouge2", "rougeL")
    groups = by_arm(at_top(results))
    colors = _colors(results)
    fig, ax = _axes("final ROUGE on the validation summaries", "", "score (0-1)")
    width = 0.8 / max(len(groups), 1)
    drawn = False
    for i, (arm, runs) in enumerate(groups.items()):
        vals = [[r.final[k] for r in runs if r.final.get(k) is not None] for k in keys]
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


def _verdict_caption(results: Results) -> str:
    """Names only what the plot draws: a legend for a line that is not there misleads."""
    parts = [f"The verdict plot: each arm's final score (seed mean) with its 95% interval {interval_scope(results)}"]
    if results.baselines.pretrained:
        parts.append("dashed: the pretrained model before any training")
    if results.baselines.lead:
        parts.append("dotted: the lead-sentence baseline")
    if results.forecast is not None and results.forecast.arms:
        parts.append("open squares: the forecast at its target budget with its 95% interval")
    return "; ".join(parts) + "."


def _figures(results: Results) -> list[tuple[str, str, object]]:
    """(file name, caption, figure builder): the figures this kind of results file can have."""
    top = fmt(top_fraction(results), "g")
    band = (f"Data fraction {top}. Line: mean over seeds on the curve subset (the same bytes at every point); "
            "band: min-max across seeds; diamonds: the whole validation text (step 0 and final).")
    flops = band + f" FLOPs: {results.flops_formula or DASH}."
    bpb = "valid bits per byte"
    sweep = "Final score of each arm against the fraction of training data: mean over seeds, error bars min to max."
    fan = ("Solid line: each arm's learning curve as measured (curve subset, carried to the whole text); dots: its "
           "final score (mean over seeds). Dashed line: the forecast of a run at each budget, with its own "
           "learning-rate schedule, to the target (dotted vertical); bands: 80% and 95% intervals. Crosses: the "
           "backtest, the final score predicted from the first half of the curve.")
    extra = (results.forecast.raw.get("extra_training") or {}) if results.forecast is not None else {}
    if extra.get("runs"):
        fan += (f" The forecast's own extra training: {extra['runs']} run{'s' if extra['runs'] > 1 else ''} at a share "
                f"of the budget for the arms whose rate decays, {extra.get('train_seconds', 0):.0f} s, "
                f"{extra.get('share', 0):.0%} of the comparison's training bytes.")
    figs = [
        ("verdict", _verdict_caption(results), lambda: _verdict_figure(results)),
        ("forecast", fan, lambda: _forecast_figure(results)),
        ("bpb_vs_seconds", band, lambda: _curve_figure(results, "seconds", "training seconds", False, None, bpb)),
        ("bpb_vs_bytes", band, lambda: _curve_figure(results, "train_bytes", "training bytes", True, None, bpb)),
        ("bpb_vs_flops", flops, lambda: _curve_figure(results, "flops", "training FLOPs", True, None, bpb)),
        ("fraction_sweep", sweep, lambda: _sweep_figure(results)),
        ("frontier", frontier_caption(results), lambda: _frontier_figure(results)),
    ]
    if results.has_rouge:
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


def make_plots(results: Results, out: Path) -> list[Plot]:
    """Write plots/*.png and return them for inlining; a figure without data is left out."""
    (out / PLOTS).mkdir(parents=True, exist_ok=True)
    plots = []
    for name, caption, make in _figures(results):
        fig = make()
        if fig is None:
            continue
        data = _png(fig)
        (out / PLOTS / f"{name}.png").write_bytes(data)
        plots.append(Plot(name, caption, data))
    return plots

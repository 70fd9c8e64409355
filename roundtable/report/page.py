"""The page model: the whole report as a list of blocks (heading, paragraph, table,
figure, ...) built from the typed records, in reading order: the verdict first, the
configuration last. html.py and markdown.py write the same blocks, so the two pages never
say different things. A value that was not measured prints as "-".
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from statistics import fmean

from roundtable.arms import starts_pretrained
from roundtable.config.settings import RECIPE, ArmConfig
from roundtable.report.figures import Plot
from roundtable.report.load import at_top, by_arm, top_fraction
from roundtable.report.samples import N_SAMPLES, clip, lm_rows, summarize_rows
from roundtable.report.table import DASH, fmt, summary_rows
from roundtable.results import Interval, Results, Run, Verdict


@dataclass
class Block:
    """One piece of the page. kind: h1, h2, h3, headline, p, note, kv, table, samples, figure, pre."""

    kind: str
    text: str = ""
    rows: list | None = None
    plot: Plot | None = None


def _count(n: int | None) -> str:
    """Parameter counts read best as 135.1M / 330.2k."""
    if n is None:
        return DASH
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def _mean(values) -> float | None:
    """The mean of the values that were measured."""
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


# -- the verdict ------------------------------------------------------------------------------
def _interval(ci: Interval | None) -> str:
    return DASH if ci is None else f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def _verdict_rows(v: Verdict) -> list[list[str]]:
    """The fixed rows always (with "-"), the others where the verdict has them."""
    yes_no = {True: "yes", False: "no", None: DASH}
    leader = v.leader or v.winner  # files without a leader named the leader "winner"
    winner = v.winner if v.separated else None  # named only where the interval excludes zero
    none = "none: the interval includes zero" if v.separated is False else DASH
    rows = [["metric", v.metric or DASH], ["leader", leader or DASH], ["winner", winner or none],
            ["runner-up", v.runner_up or DASH], ["margin", fmt(v.margin)],
            ["95% interval of the margin", _interval(v.ci95)], ["separated", yes_no[v.separated]]]
    if v.interval_method:
        rows.append(["interval method", v.interval_method])
    if v.seeds is not None:
        rows.append(["seeds the interval covers", f"{v.seeds}" + (" (documents only: no run-to-run spread)"
                                                                   if v.seeds == 1 else "")])
    if v.versus_pretrained is not None:
        vp = v.versus_pretrained
        rows.append(["against the model as it is", f"pretrained before training {fmt(vp.score)}; {vp.arm} minus it "
                     f"{fmt(None if vp.margin is None else -vp.margin)}, 95% interval of the gain {_interval(vp.ci95)}; "
                     f"a trained arm better beyond its interval: {yes_no[vp.improved]}"])
    if v.pretrained_model is not None:
        size = f", {_count(v.pretrained_model.params)} parameters" if v.pretrained_model.params else ""
        rows.append(["pretrained model tested", v.pretrained_model.name + size])
    if v.fraction is not None:
        rows.append(["data fraction", fmt(v.fraction, "g")])
    if v.means:
        rows.append(["means", ", ".join(f"{a} {fmt(m)}" for a, m in v.means.items())])
    if v.arm_ci95:
        rows.append(["each arm's 95% interval", ", ".join(f"{a} {_interval(ci)}" for a, ci in v.arm_ci95.items())])
    if v.runner_up is not None:  # two arms compared: where their order flips with data, if it does
        if v.crossing_ci95 is not None:
            lo, hi = v.crossing_ci95
            crossing = f"{fmt(v.crossing_fraction, '.2g')} (95% interval {fmt(lo, '.2g')} to {fmt(hi, '.2g')})"
        elif "crossing_ci95" in v.raw:  # a crossing is stated only with a bounded interval
            crossing = "none with a bounded 95% interval"
        else:
            crossing = fmt(v.crossing_fraction, "g")
        rows.append(["crossing fraction", crossing])
    if v.bpb is not None:
        means = ", ".join(f"{a} {fmt(m)}" for a, m in v.bpb.means.items())
        rows.append(["bpb", f"means {means}, margin {fmt(v.bpb.margin)}, ci95 {_interval(v.bpb.ci95)}"])
    if v.forecast_sentence:
        rows.append(["forecast_sentence", v.forecast_sentence])
    if v.deployment is not None:
        d = v.deployment
        winner = d.winner or ("none: the interval includes zero" if d.separated is False and d.runner_up else DASH)
        rows.append(["under the deployment limit", f"leader {d.leader or DASH}, winner {winner}, margin {fmt(d.margin)}, "
                     f"95% interval {_interval(d.ci95)}; left out: "
                     + (", ".join(f"{a} ({why})" for a, why in d.excluded.items()) or "none")])
    return rows


def _title_section(results: Results, problem: str | None, plots: list[Plot]) -> list[Block]:
    v = results.verdict
    blocks = [Block("h1", f"roundtable: fine-tune or train from scratch? (task: {DASH if problem else results.task})")]
    if problem:
        blocks.append(Block("note", problem))
    blocks.append(Block("headline", v.sentence if v and v.sentence else "No verdict yet: the comparison did not finish."))
    if not results.complete and not problem:
        blocks.append(Block("note", "results.json is marked incomplete: some runs are still to come."))
    blocks += [Block("note", w) for w in (v.warnings if v else ())]
    # with a forecast the report opens with its fan chart: where the arms are heading, against what was measured
    blocks += [Block("figure", p.caption, plot=p) for name in ("forecast", "verdict") for p in plots if p.name == name]
    if results.budget.kind == "seconds":
        blocks.append(Block("p", "The budget is wall-clock time: the result depends on this machine and its load "
                                 "(see Versions and machine); a budget in bytes (--budget 5MB) does not."))
    elif results.budget.kind == "tokens":
        blocks.append(Block("p", "The budget is in tokens, and each arm counts its own: an arm whose tokenizer puts "
                                 "more bytes in a token read more text; a budget in bytes (--budget 5MB) gives every "
                                 "arm the same text."))
    if v is not None:
        blocks.append(Block("kv", rows=_verdict_rows(v)))
    return blocks


# -- runs, curves, cost -----------------------------------------------------------------------
def _summary_section(results: Results) -> list[Block]:
    blocks = [Block("h2", "Runs")]
    rows = summary_rows(results)
    if len(rows) < 2:
        return blocks + [Block("p", "No runs recorded.")]
    base = results.baselines.pretrained.get("valid_bits_per_byte")
    if base is not None:  # the reference: what the model knew before training
        header = rows[0]
        row = [DASH] * len(header)
        row[0], row[header.index("status")] = "pretrained, as it is", "reference"
        for col in ("bpb step 0", "bpb final"):
            row[header.index(col)] = fmt(base)
        rows.append(row)
    return blocks + [Block("table", rows=rows)]


def _plot_section(plots: list[Plot]) -> list[Block]:
    blocks = [Block("h2", "Learning curves")]
    if not plots:
        return blocks + [Block("p", "No curve data to plot.")]
    return blocks + [Block("figure", p.caption, plot=p) for p in plots]


def _cost_row(arm: str, runs: list[Run]) -> list[str]:
    params = next((r.params for r in runs if r.params is not None), None)
    trainable = next((r.trainable_params for r in runs if r.trainable_params is not None), None)
    ckpt = _mean(r.checkpoint_bytes for r in runs)
    gen = [r.generation for r in runs if r.generation is not None]
    return [
        arm, str(len(runs)), _count(params), _count(trainable), fmt(None if ckpt is None else ckpt / 1e6, ".1f"),
        fmt(_mean(r.train_seconds for r in runs), ".1f"), fmt(_mean(r.train_flops for r in runs), ".3g"),
        fmt(_mean(r.eval_seconds for r in runs), ".1f"),
        fmt(_mean(g.tokens_per_second for g in gen), ".1f"), fmt(_mean(g.bytes_per_second for g in gen), ".1f"),
    ]


def _cost_section(results: Results, frontier: list[Plot] | None = None) -> list[Block]:
    """What each arm costs; means over its finished seeds at the verdict's fraction; the
    quality-cost frontier (``frontier``: its figure) and the verdict under a deployment limit."""
    head = ["arm", "runs", "params", "trainable", "checkpoint MB", "train s", "train FLOPs", "eval s",
            "gen tokens/s", "gen bytes/s"]
    groups = by_arm(at_top(results))
    for arm, runs in by_arm(results.runs).items():
        groups.setdefault(arm, runs)  # an arm with no finished run still shows its size
    blocks = [Block("h2", "Cost")]
    if not groups:
        return blocks + [Block("p", "No runs recorded.")]
    note = (f"Means over finished seeds at data fraction {fmt(top_fraction(results), 'g')}. "
            f"Training FLOPs: {results.flops_formula or DASH}.")
    blocks += [Block("table", rows=[head] + [_cost_row(a, rs) for a, rs in groups.items()]), Block("p", note)]
    blocks += [Block("figure", p.caption, plot=p) for p in frontier or ()]
    dep = results.verdict.deployment if results.verdict else None
    if dep is not None:
        blocks += [Block("h3", "Under the deployment limit"), Block("p", dep.sentence)]
    return blocks


def _step0(runs: list[Run]) -> str:
    """How the runs' step-0 points were had: scored, reused within the comparison, or
    read from this machine's cache."""
    points = [r.curve[0] for r in runs if r.curve and r.curve[0].step == 0]
    if not points:
        return DASH
    if any(p.cached for p in points):
        return "cached on this machine"
    scored = [p.eval_seconds for p in points if not p.reused and p.eval_seconds is not None]
    return f"scored ({fmt(scored[0], '.1f')} s)" if scored else "reused"


def _evaluation_section(results: Results) -> list[Block]:
    """What was scored and what scoring cost: evaluation is part of the wall clock."""
    groups = by_arm(at_top(results))
    if not groups:
        return []
    head = ["arm", "step 0", "curve points kept", "point cost s (limit)", "eval s"]
    rows = [head]
    for arm, runs in groups.items():
        plans = [r.curve_plan for r in runs if r.curve_plan is not None]
        kept = f"{min(p.kept for p in plans)} of {plans[0].planned}" if plans else DASH
        cost = (f"{fmt(plans[0].point_seconds, '.1f')} ({fmt(plans[0].limit_seconds, '.0f')})"
                if plans and plans[0].point_seconds is not None else DASH)
        rows.append([arm, _step0(runs), kept, cost, fmt(_mean(r.eval_seconds for r in runs), ".1f")])
    whole = results.data.get("scored_valid_bytes") or results.data.get("valid_bytes")
    plans = [r.curve_plan for rs in groups.values() for r in rs if r.curve_plan is not None]
    subset = plans[0].subset_bytes if plans else None
    limit = next((p.limit_seconds for p in plans if p.limit_seconds is not None), None)
    per_run = results.budget.value if results.budget.kind == "seconds" else None
    how = (f"as many as fit in {fmt(100 * limit / per_run, '.0f')}% of the arm's budget at its scoring speed measured "
           "at step 0" if limit is not None and per_run else "every one planned (no time budget to share out)")
    note = (f"Step 0 and the final point score {_scored(results, whole)}; intermediate "
            f"points score the curve subset ({_count(subset)} bytes, the same documents for every arm), {how}.")
    if any(starts_pretrained(a) for a in groups):
        note += (" The pretrained weights' step-0 score is the same for every seed and fraction: it is scored once "
                 "and, where the weights are pinned (file hash, hub commit or a local folder's files), kept on "
                 "this machine for later comparisons on the same data.")
    return [Block("h2", "Evaluation"), Block("table", rows=rows), Block("p", note)]


def _scored(results: Results, whole) -> str:
    """What the verdict's scores cover: all of the validation text, or the sample cut to the budget."""
    sample = results.eval_sample
    if sample is None or sample.max_bytes is None:
        return f"the whole validation text ({_count(whole)} bytes)"
    cost = sample.seconds_per_byte.get(sample.slowest or "", 0.0) * sample.valid_bytes
    return (f"{_count(whole)} of its {_count(sample.valid_bytes)} bytes, the same for every arm: all of it would take "
            f"{sample.slowest} about {fmt(cost, '.0f')} s a score, and --eval-share allows "
            f"{fmt(100 * sample.share, '.0f')}% of the budget ({fmt(sample.limit_seconds, '.0f')} s; 0 scores all, "
            "for more evidence)")


def _samples_section(results: Results, out: Path) -> list[Block]:
    blocks = []
    lm = lm_rows(results)
    if lm:
        blocks += [Block("h3", "Generated text"), Block("samples", rows=lm)]
    summ = summarize_rows(results, out)
    if summ:
        blocks += [Block("h3", "Summaries of validation documents"), Block("samples", rows=summ)]
    if not blocks:
        return []
    note = f"The first {N_SAMPLES} samples of each arm (its finished run with the most data and lowest seed)."
    return [Block("h2", "Samples"), Block("p", note)] + blocks


# -- search, problems, configuration ----------------------------------------------------------
def _search_section(results: Results) -> list[Block]:
    """Every arm's learning-rate search: the same grid, slice and evaluator for all."""
    if not results.lr_search:
        return []
    tuning = results.lr_search_tuning
    rows = [["arm", "rate tried", "steps", "tuning bits per byte" if tuning else "subset bits per byte", "status"]]
    for arm, s in results.lr_search.items():
        rows += [[arm, fmt(c.learning_rate, ".3g"), fmt(c.steps, "d"), fmt(c.subset_bits_per_byte), c.status or DASH]
                 for c in s.candidates]
    reserve = {r.arm: r.search_reserve for r in results.runs}

    def paid(arm: str, s) -> str:
        share = reserve.get(arm, 0.0)
        if share:
            return f"{share:.0%} of its budget, it trained on the other {1 - share:.0%}"
        if any(c.status in ("ok", "diverged") for c in s.candidates):
            return "not charged to the budget"  # comparisons before 0.2 searched outside the budget
        return "no slice ran: it trained on all of its budget"

    notes = [f"{arm}: {fmt(s.chosen_rate, '.3g')} chosen ({s.reason}; {fmt(s.seconds, '.0f')} s, {paid(arm, s)})"
             for arm, s in results.lr_search.items()]
    if tuning and tuning.documents:
        notes.append(f"Every arm's slices were scored on the same {tuning.documents} training documents "
                     f"({fmt(tuning.bytes, ',d')} bytes), held out from the slices' training and never validation "
                     "text: no rate was chosen on the bytes the verdict scores (the runs train on them too).")
    if any(reserve.values()):
        notes.append("Each arm's search came out of its own budget, so search and training together spent the same "
                     "budget for every arm (--lr-search 0 gives training all of it).")
    blocks = [Block("h2", "Learning-rate search")] + [Block("p", n) for n in notes]
    return blocks + ([Block("table", rows=rows)] if len(rows) > 1 else [])


def _problems_section(results: Results) -> list[Block]:
    bad = [r for r in results.runs if not r.ok]
    blocks = [Block("h2", "Runs that diverged or failed")]
    if not bad:
        return blocks + [Block("p", "None: every recorded run finished.")]
    rows = [["arm", "seed", "fraction", "status", "step", "error"]]
    for r in bad:
        step = r.diverged_step if r.diverged_step is not None else r.steps
        rows.append([r.arm, fmt(r.seed, "d"), fmt(r.fraction, "g"), r.status, fmt(step, "d"), clip(r.error)])
    blocks.append(Block("table", rows=rows))
    if any(r.status == "failed" for r in bad):
        blocks.append(Block("p", "A failed run's traceback is in its run folder, in error.log."))
    return blocks


def _kv_value(v) -> str:
    """A value of a free-form mapping (data, environment, the pretrained model's origin)."""
    if v is None or isinstance(v, str):
        return v or DASH
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return json.dumps(v, default=str)


def _kv_rows(d: dict) -> list[list[str]]:
    return [[str(k), _kv_value(v)] for k, v in d.items()]


ALWAYS_SHOWN = ("name", "learning_rate", "batch_size", "schedule", "block_size", "tokenizer")
"""Every arm's recipe in brief, shown whatever its value."""
ARM_SETTINGS_NOTE = ("Each arm lists its recipe in brief, the rest of it where it differs from the default, and its "
                     "own settings (roundtable compare --help lists them); results.json holds every setting of "
                     "every arm.")


def _own_arm_settings(config: dict, own: dict[str, tuple[str, ...]] | None = None) -> dict:
    """The configuration with each arm reduced to its own settings, not every arm's fields
    under every arm. With ``own`` (results.json's ``arm_own_settings``): the recipe in brief,
    the rest of the recipe where it differs from the default, and every setting the arm
    table names as the arm's own (an LSTM's layers, LoRA's rank). Without it (files written
    before it): the recipe in brief and every field that differs from the default."""
    defaults = {f.name: f.default for f in fields(ArmConfig) if f.default is not MISSING}

    def shown(arm: dict, k: str) -> bool:
        if own is not None and arm.get("name") in own:
            mine = own[arm["name"]]
            return k in mine or (k in ALWAYS_SHOWN and k != "tokenizer") or (k in RECIPE and differs(arm, k))
        return k in ALWAYS_SHOWN or k not in defaults or differs(arm, k)

    def differs(arm: dict, k: str) -> bool:
        return k not in defaults or arm[k] != defaults[k]

    arms = [{k: v for k, v in arm.items() if shown(arm, k)} if isinstance(arm, dict) else arm
            for arm in config.get("arms") or []]
    return {**config, "arms": arms} if "arms" in config else config


def _sizing_blocks(results: Results) -> list[Block]:
    """``size: auto``: the shape the rule chose for each arm and fraction, and the rule's inputs."""
    rows = [["arm", "fraction", "shape", "n_head", "params", "budget FLOPs", "unique tokens", "epochs", "tokens/param",
             "budget as FLOPs"]]
    seen = set()
    for r in results.runs:
        z = r.sizing
        if z is None or (r.arm, r.fraction) in seen:
            continue
        seen.add((r.arm, r.fraction))
        rows.append([r.arm, fmt(r.fraction, "g"), z.shape, fmt(z.n_head, "d"), _count(z.params),
                     fmt(z.budget_flops, ".3g"), _count(z.unique_tokens), fmt(z.epochs, ".2g"),
                     fmt(z.tokens_per_param, ".3g"), z.budget_from or DASH])
    if len(rows) == 1:
        return []
    rule = next(r.sizing for r in results.runs if r.sizing is not None)
    note = (f"size: auto: the shape chosen for each run's budget and training text by {rule.raw.get('rule') or 'the rule'} "
            f"(roundtable/arms/sizing.py); on fresh data it trains about {fmt(rule.rule_tokens_per_param, '.3g')} tokens "
            "per parameter, on repeated data a smaller model for more epochs.")
    return [Block("h3", "Model size chosen for the budget"), Block("p", note), Block("table", rows=rows)]


def _config_section(results: Results) -> list[Block]:
    blocks = [Block("h2", "Configuration")]
    if results.pretrained_model:
        blocks += [Block("h3", "Pretrained model"), Block("kv", rows=_kv_rows(results.pretrained_model))]
    if results.data:
        blocks += [Block("h3", "Data"), Block("kv", rows=_kv_rows(results.data))]
    text = json.dumps(_own_arm_settings(results.config, results.arm_own_settings), indent=2, default=str) \
        if results.config else DASH
    blocks += [Block("h3", "Exact configuration"), Block("p", ARM_SETTINGS_NOTE), Block("pre", text)]
    blocks += _sizing_blocks(results)
    env = _kv_rows(results.environment) or [["environment", DASH]]
    return blocks + [Block("h3", "Versions and machine"), Block("kv", rows=env)]


def build_blocks(results: Results, out: Path, plots: list[Plot], problem: str | None = None) -> list[Block]:
    """The whole page, in reading order: verdict first, the configuration last."""
    return [
        *_title_section(results, problem, plots), *_summary_section(results),
        *_plot_section([p for p in plots if p.name not in ("verdict", "forecast", "frontier")]),
        *_cost_section(results, [p for p in plots if p.name == "frontier"]),
        *_evaluation_section(results),
        *_search_section(results), *_samples_section(results, out), *_problems_section(results),
        *_config_section(results),
    ]

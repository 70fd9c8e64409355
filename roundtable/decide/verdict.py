"""From runs to a decision: the leader, the margin, its 95% interval, and one plain sentence.

No claim goes without its interval: an arm is named the winner only where the interval of
the margin excludes zero, a data-fraction crossing only where its own interval is bounded,
and for language modelling the trained arms are first held against the pretrained model as
it is (its step-0 score on the same documents).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from roundtable.decide.spread import floor
from roundtable.decide.stats import LN2, interval, score_samples
from roundtable.results import SCORES

if TYPE_CHECKING:
    from roundtable.tasks import Task

N_BOOT = 2000
"""Bootstrap replicates behind every interval."""
MIN_DOCUMENTS = 10
"""Fewer validation documents (or ROUGE examples) than this: too few to resample for an interval."""
MIN_SCORED_BYTES = 4000
"""Fewer scored validation bytes than this: the bits per byte of a few paragraphs."""
RUN_NOISE_SEED = 1
"""The stream of the run-to-run draws added to the bootstrap samples (documents use 0)."""
NLL, START = "doc_nll_nats", "doc_nll_nats_start"
"""Per-document keys in a run's scores: after training, and of the model as it came in (step 0)."""


@dataclass(frozen=True)
class Setting:
    """What the verdict is told beside the runs. ``max_steps``: with a step limit, arms'
    steps hold different amounts of text, so the sentence says what each read instead of
    "the same budget"; ``model``: the pretrained model's origin (factory.model_info), named
    in the sentence; ``demo``: the data is the demo's, which that model may have seen."""

    max_steps: int | None = None
    model: dict | None = None
    demo: bool = False


def _advice(arm: str) -> str:
    """The arm table's advice; an arm no longer registered (an old results.json) by name."""
    from roundtable.arms import arm_names, get_arm

    return get_arm(arm).advice if arm in arm_names() else arm


def _starts_pretrained(arm: str) -> bool:
    from roundtable.arms import starts_pretrained

    return starts_pretrained(arm)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def per_doc(run: dict, out: Path, key: str):
    """(per-document values, doc_bytes) saved beside the run, or None if it has none.
    Scored units that are pieces of one document (``doc_group``: the LM sample cuts long
    documents) are summed into it, NLL and bytes alike, in document order: pieces of one
    document share its topic, style and difficulty, so every bootstrap resamples whole
    documents. A file without ``doc_group`` holds one document per entry; per-example
    scores that are no sums (ROUGE-L) are never pieces and are kept as they are."""
    path = out / str(run.get("run_dir")) / SCORES
    if not path.exists():
        return None
    with np.load(path) as z:
        if key not in z:
            return None
        values, doc_bytes = z[key], z["doc_bytes"]
        group = z["doc_group"] if "doc_group" in z else None
    if group is not None and key.startswith("doc_nll") and len(group) == len(values) == len(doc_bytes):
        _, doc = np.unique(group, return_inverse=True)
        values = np.bincount(doc, weights=values)
        doc_bytes = np.bincount(doc, weights=doc_bytes).astype(np.int64)
    return values, doc_bytes


# -- the one bootstrap -------------------------------------------------------------------------
@dataclass(frozen=True)
class Bootstrap:
    """Paired bootstrap samples of several groups' scores on one document draw, and what
    they stand on: the documents resampled, their bytes, and each group's seeds."""

    samples: np.ndarray
    """(N_BOOT, groups): each group's score (seed mean) in each replicate."""
    documents: int
    scored_bytes: int
    seeds: tuple[int, ...]
    spread: tuple[float, ...] = ()
    """Each group's run-to-run sd of its seed mean, added to its samples (``run_spread``)."""
    floored: tuple[bool, ...] = ()
    """Whether that sd is the measured floor (spread.py) rather than the arm's own seeds'."""

    def difference(self, i: int, j: int) -> tuple[float, float]:
        """95% interval of group i's score minus group j's."""
        return interval(self.samples[:, i] - self.samples[:, j])


def bootstrap(groups: list[tuple[list[dict], str]], out: Path, bits: bool) -> Bootstrap | None:
    """Every interval the verdict states is read off these samples, so a rule about what
    resampling cannot see (a per-arm floor on run-to-run spread where an arm has one seed)
    belongs here and nowhere else. ``groups``: (runs, per-document key) each, the runs
    being one arm's seeds; ``bits``: bits per byte (per-document NLL), else a per-document
    mean (ROUGE-L). None where a run has no per-document scores."""
    got = [[per_doc(r, out, key) for r in runs] for runs, key in groups]
    if any(not g or any(x is None for x in g) for g in got):
        return None
    arrays = [np.stack([x[0] for x in g]) for g in got]
    if len({a.shape[1] for a in arrays}) != 1:
        return None  # not the same documents: nothing to pair
    doc_bytes = got[0][0][1]
    # documents resampled (paired) on the seed means; the seeds' spread is added beside
    samples = score_samples([a.mean(axis=0, keepdims=True) for a in arrays], doc_bytes if bits else None, N_BOOT)
    spread = [run_spread(runs, key, a, doc_bytes if bits else None) for (runs, key), a in zip(groups, arrays)]
    sd = np.array([s for s, _ in spread])
    samples = samples + np.random.default_rng(RUN_NOISE_SEED).normal(size=samples.shape) * sd
    return Bootstrap(samples, arrays[0].shape[1], int(np.sum(doc_bytes)), tuple(len(a) for a in arrays),
                     tuple(float(x) for x in sd), tuple(f for _, f in spread))


def run_spread(runs: list[dict], key: str, per_seed: np.ndarray, doc_bytes: np.ndarray | None) -> tuple[float, bool]:
    """(sd of a group's seed-mean score from run to run, whether the floor set it).

    The model as it came in (``START``) is one fixed set of weights: no spread. A trained
    arm's seeds differ by their initial weights and data order: sd = max(the sd of its
    seeds' scores, the floor measured for its family (spread.py) times its score) over
    the square root of its seeds. The floor is what makes one seed honest (the calibration
    bench: two copies of one arm, one seed each, judged apart), and it keeps two or three
    seeds, whose own sd is a rough estimate, from an interval narrower than measured."""
    if key == START:
        return 0.0, False
    scores = per_seed.sum(axis=1) / LN2 / np.sum(doc_bytes) if doc_bytes is not None else per_seed.mean(axis=1)
    n = len(scores)
    own = float(np.std(scores, ddof=1)) if n > 1 else 0.0
    family = "pretrained" if _starts_pretrained(str(runs[0].get("arm", ""))) else "scratch"
    rel = floor(family, "valid_bits_per_byte" if doc_bytes is not None else key)
    least = rel * abs(float(np.mean(scores))) if rel is not None else 0.0
    return max(own, least) / np.sqrt(n), least > own


def _over(documents: int, seeds: dict[str, int], what: str = "document", floored: bool = False) -> str:
    """What an interval covers, in words: the documents, and the seeds; with one seed, the
    calibrated floor on run-to-run spread (``floored``: spread.py), or that it holds none."""
    docs = _plural(documents, what)
    counts = set(seeds.values())
    each = " per arm" if len(seeds) > 1 else ""
    if counts == {1}:
        if floored:
            return f"over {docs} and one seed{each}, with the calibrated floor on run-to-run spread"
        return f"over {docs} only, one seed{each}: it holds no run-to-run spread"
    if len(counts) == 1:
        return f"over {docs} and {counts.pop()} seeds{each}"
    return f"over {docs} and each arm's seeds ({', '.join(f'{a} {k}' for a, k in seeds.items())})"


def _fmt_ci(ci, over: str = "") -> str:
    return f"95% CI {ci[0]:.3f} to {ci[1]:.3f}" + (f" {over}" if over else "")


def _signed(d: float, ci, over: str = "") -> str:
    """"better by d" with the interval of the gain, or "worse by -d" with that of the loss."""
    if d >= 0:
        return f"better by {d:.3f}, {_fmt_ci(ci, over)}"
    return f"worse by {-d:.3f}, {_fmt_ci((-ci[1], -ci[0]), over)}"


def _losses(planned: dict[str, list[dict]], by_arm: dict[str, list[dict]], where: str):
    """A warning for each arm that lost seeds ("k of n seeds diverged"), and "arm (why)"
    for each arm that lost them all: a verdict judged on survivors must say so."""
    warn, missing = {}, []
    for a, rs in planned.items():
        n, kept = len(rs), len(by_arm[a])
        diverged = sum(r.get("status") == "diverged" for r in rs)
        counts = (("diverged", diverged), ("failed", n - kept - diverged))
        lost = " and ".join(f"{k} of {n} {'seed' if n == 1 else 'seeds'} {what}" for what, k in counts if k) + where
        if kept == n:
            continue
        if kept:
            warn[a] = (f"For {a}, {lost}, so its score is the mean of the {_plural(kept, 'seed')} "
                       "that finished.")
        else:
            warn[a] = f"For {a}, {lost}, so it has no score."
            missing.append(f"{a} ({lost})")
    return warn, missing


# -- the clauses -------------------------------------------------------------------------------
def _bpb_clause(leader: str, runner: str, by_arm: dict[str, list[dict]], out: Path) -> tuple[dict | None, str]:
    """Summarize: the conditional bits per byte of the reference summaries beside ROUGE,
    which a few dozen generated examples measure with little power; left out without an interval."""
    bpb = {a: [(r.get("final") or {}).get("valid_bits_per_byte") for r in by_arm[a]] for a in (leader, runner)}
    if any(None in v for v in bpb.values()):
        return None, ""
    bs = bootstrap([(by_arm[runner], NLL), (by_arm[leader], NLL)], out, bits=True)
    if bs is None:
        return None, ""
    ci = bs.difference(0, 1)
    bw, br = float(np.mean(bpb[leader])), float(np.mean(bpb[runner]))
    d = br - bw  # > 0: the ROUGE leader also has the lower bits per byte
    word, by, shown = ("lower", d, ci) if d >= 0 else ("higher", -d, (-ci[1], -ci[0]))
    text = (
        f" On the conditional bits per byte of the reference summaries, {leader} scores {bw:.3f} "
        f"and {runner} {br:.3f} ({leader} {word} by {by:.3f}, {_fmt_ci(shown)})."
    )
    return {"means": {leader: bw, runner: br}, "margin": d, "ci95": list(ci)}, text


def _versus_pretrained(order: list[str], by_arm: dict[str, list[dict]], means: dict[str, float],
                       out: Path) -> tuple[dict | None, str]:
    """Language modelling: each trained arm against the pretrained model as it is, on the
    same documents and bootstrap; when none is better beyond its interval, the sentence
    that comes first. (None, "") without the step-0 per-document scores."""
    start = next((r for a in order for r in by_arm[a] if _starts_pretrained(a) and per_doc(r, out, START)), None)
    if start is None:
        return None, ""
    # the step-0 weights are the same for every seed: one run stands for them, with no seed spread
    bs = bootstrap([([start], START)] + [(by_arm[a], NLL) for a in order], out, bits=True)
    if bs is None:
        return None, ""
    nll, doc_bytes = per_doc(start, out, START)
    score = float(nll.sum() / LN2 / doc_bytes.sum())
    gains = {a: bs.difference(0, i + 1) for i, a in enumerate(order)}  # > 0: the arm is better
    best = order[0]
    improved = any(ci[0] > 0 for ci in gains.values())
    d = score - means[best]
    record = {"score": score, "arm": best, "margin": d, "ci95": list(gains[best]), "improved": improved,
              "ci95_by_arm": {a: list(ci) for a, ci in gains.items()}}
    if improved:
        return record, ""
    over = _over(bs.documents, {best: bs.seeds[1]}, floored=any(bs.floored))
    others = ", and no other trained arm is better beyond its interval" if len(order) > 1 else ""
    text = (f"Fine-tuning did not improve on the model as it is: the pretrained model before any training scores "
            f"{score:.3f} bits per byte; the best trained arm, {best}, scores {means[best]:.3f} "
            f"({_signed(d, gains[best], over)}){others}.")
    return record, text


def _params(runs: list[dict]) -> int | None:
    """The pretrained model's own parameters, from the runs that start from it: a LoRA
    run's frozen part, a full fine-tune's whole model."""
    counts = []
    for r in runs:
        p, t = r.get("params"), r.get("trainable_params")
        if _starts_pretrained(r.get("arm", "")) and p:
            counts.append(p - t if t and 0 < t < p else p)
    return min(counts) if counts else None


def _count(n: int) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def _model_clause(runs: list[dict], setting: Setting) -> tuple[dict | None, str, list[str]]:
    """(record, sentence, warnings) naming the pretrained model a trained arm started from;
    nothing where none did."""
    info = setting.model
    if not info or not any(_starts_pretrained(r.get("arm", "")) for r in runs):
        return None, "", []
    name = info.get("description") or info.get("spec") or "the pretrained model"
    params = _params(runs)
    size = f", {_count(params)} parameters" if params else ""
    warnings = []
    if setting.demo:
        warnings.append(
            f"The demo's text is documentation that ships with Python's standard library: {info.get('spec') or name} "
            "may have seen it in pretraining, so its fine-tuned arms may be scored on text they have read."
        )
    return {"name": name, "params": params}, f" The pretrained model tested: {name}{size}.", warnings


def _small_set(run: dict | None, out: Path, key: str) -> list[str]:
    """A warning where the validation set is too small to bear an interval."""
    got = per_doc(run, out, key) if run else None
    if got is None:
        return []
    values, doc_bytes = got
    n = len(values)
    if key == NLL:
        scored = int(np.sum(doc_bytes))
        if n >= MIN_DOCUMENTS and scored >= MIN_SCORED_BYTES:
            return []
        return [f"The verdict's interval rests on {_plural(n, 'validation document')} ({scored:,} bytes scored): too "
                f"few to bear a 95% interval (at least {MIN_DOCUMENTS} documents and {MIN_SCORED_BYTES // 1000} kB); "
                "give more validation text (--valid or --valid-fraction)."]
    if n >= MIN_DOCUMENTS:
        return []
    return [f"The verdict's interval rests on {_plural(n, 'ROUGE example')}: too few to bear a 95% interval "
            f"(at least {MIN_DOCUMENTS}; --rouge-examples and more validation text)."]


def _method(bs: Bootstrap, names: list[str], what: str) -> str:
    arms = ", ".join(
        f"{a} {_plural(k, 'seed')}, sd {sd * np.sqrt(k):.3f}{' (the floor)' if fl else ''}"
        for a, k, sd, fl in zip(names, bs.seeds, bs.spread, bs.floored))
    return (f"paired bootstrap, {N_BOOT} replicates: {_plural(bs.documents, f'validation {what}')} resampled "
            f"({bs.scored_bytes:,} bytes scored), plus each arm's run-to-run spread drawn as a normal with the sd "
            f"of its seeds' scores, at least the floor measured for its family, over the root of its seeds ({arms})")


def _read(by_arm: dict[str, list[dict]], a: str) -> str:
    """"arm read N kB": the training bytes of its runs, mean over seeds."""
    n = float(np.mean([r.get("train_bytes") or 0 for r in by_arm[a]]))
    size = f"{n:,.0f} bytes" if n < 10_000 else f"{n / 1e3:,.0f} kB" if n < 10e6 else f"{n / 1e6:,.1f} MB"
    return f"{a} read {size}"


# -- the verdict -------------------------------------------------------------------------------
def verdict(runs: list[dict], task: Task, out: Path, setting: Setting | None = None) -> dict:
    """Judged at the largest data fraction any run was planned for, counting every planned
    run: an arm that lost seeds says so, and one that lost them all leaves no winner."""
    setting = setting or Setting()
    metric, lower = task.primary_metric, task.lower_is_better

    def finished(r):
        return r.get("status") == "ok" and (r.get("final") or {}).get(metric) is not None

    if not runs:
        return {"metric": metric, "winner": None, "leader": None, "margin": None, "ci95": None, "warnings": [],
                "sentence": "No run was planned, so there is no verdict."}
    top = max(r["fraction"] for r in runs)
    planned: dict[str, list[dict]] = {}
    for r in runs:
        if r["fraction"] == top:
            planned.setdefault(r["arm"], []).append(r)
    by_arm = {a: [r for r in rs if finished(r)] for a, rs in planned.items()}
    where = f" at data fraction {top:g}" if len({r["fraction"] for r in runs}) > 1 else ""
    warn, missing = _losses(planned, by_arm, where)
    partial = "".join(f" {w}" for a, w in warn.items() if by_arm[a])  # total losses get the lead clause
    means = {a: float(np.mean([r["final"][metric] for r in rs])) for a, rs in by_arm.items() if rs}
    key = task.doc_key
    bits = key == NLL
    model, model_text, model_warnings = _model_clause(runs, setting)
    first = next((r for rs in by_arm.values() for r in rs), None)
    arm_ci = {}
    for a, rs in by_arm.items():
        if rs:
            one = bootstrap([(rs, key)], out, bits)
            arm_ci[a] = list(interval(one.samples[:, 0])) if one else None
    base = {"metric": metric, "winner": None, "leader": None, "margin": None, "ci95": None, "fraction": top,
            "means": means, "arm_ci95": arm_ci,
            "warnings": list(warn.values()) + _small_set(first, out, key) + model_warnings}
    if model:
        base["pretrained_model"] = model
    if missing:
        names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        has = "has" if len(missing) == 1 else "have"
        return {**base, "sentence": f"The comparison is incomplete: {names} {has} no score, "
                                    f"so no arm is named the winner.{partial}{model_text}"}
    order = sorted(means, key=lambda a: means[a] if lower else -means[a])
    leader = order[0]
    vs, vs_text = _versus_pretrained(order, by_arm, means, out) if bits and metric == "valid_bits_per_byte" \
        else (None, "")
    lead_in = f"{vs_text} " if vs_text else ""
    if vs:
        base["versus_pretrained"] = vs
    if len(order) == 1:
        return {**base, "leader": leader, "seeds": len(by_arm[leader]),
                "sentence": f"{lead_in}Only {leader} was run, so nothing was compared.{partial}{model_text}"}
    runner = order[1]
    margin = (means[runner] - means[leader]) * (1 if lower else -1)  # > 0: leader better
    better_minus_worse = [(by_arm[runner], key), (by_arm[leader], key)] if lower else \
        [(by_arm[leader], key), (by_arm[runner], key)]
    bs = bootstrap(better_minus_worse, out, bits)
    ci = bs.difference(0, 1) if bs else None
    separated = ci is not None and ci[0] > 0
    what = "document" if bits else "example"
    over = _over(bs.documents, {leader: len(by_arm[leader]), runner: len(by_arm[runner])}, what,
                 any(bs.floored)) if bs else ""
    unit = task.unit
    if setting.max_steps:
        how = f"after at most {setting.max_steps} optimizer steps each"
        read = (f" A step holds each arm's own amount of text: {_read(by_arm, leader)} of training text, "
                f"{_read(by_arm, runner)}.")
    else:
        how, read = "under the same budget", ""
    # the advice holds only where training beat the model as it is
    head = "Among the trained arms" if vs_text else _cap(_advice(leader))
    if separated:
        sentence = (
            f"{head}: {leader} scores {means[leader]:.3f} {unit} against "
            f"{means[runner]:.3f} for {runner} {how} (better by {margin:.3f}, {_fmt_ci(ci, over)})."
        )
    else:
        why = (f"the 95% interval of the difference, {ci[0]:.3f} to {ci[1]:.3f} {over}, includes zero" if ci
               else "without per-document scores there is no interval of the difference")
        sentence = (
            f"The data cannot separate the leader, {leader} ({means[leader]:.3f} {unit}), from {runner} "
            f"({means[runner]:.3f}) {how}: {why}; no arm is named the winner, so choose on cost, or give more "
            "validation data or seeds."
        )
    crossing, crossing_ci = crossing_with_interval([r for r in runs if finished(r)], leader, runner, metric, lower,
                                                   out, key)
    if crossing is not None:
        sentence += (
            f" With less data the order flips: below about {crossing:.0%} of the training data "
            f"(95% CI {crossing_ci[0]:.0%} to {crossing_ci[1]:.0%}) {runner} is ahead."
        )
    # a task scored on another metric also gets the bits per byte of its scored text
    bpb, bpb_text = _bpb_clause(leader, runner, by_arm, out) if metric != "valid_bits_per_byte" else (None, "")
    result = {
        **base, "winner": leader if separated else None, "leader": leader, "runner_up": runner, "margin": margin,
        "ci95": list(ci) if ci else None, "separated": separated,
        "seeds": min(len(by_arm[leader]), len(by_arm[runner])),
        "crossing_fraction": crossing, "crossing_ci95": crossing_ci,
        "sentence": lead_in + sentence + read + bpb_text + partial + model_text,
    }
    if bs:
        result.update(documents=bs.documents, interval_method=_method(bs, [runner, leader] if lower else
                                                                     [leader, runner], what))
    return {**result, "bpb": bpb} if bpb else result


def crossing_fraction(runs: list[dict], a: str, b: str, metric: str, lower: bool) -> float | None:
    """The data fraction where arm a's and b's mean final scores cross (linear in log
    fraction between the two sweep points that bracket the sign change), if they do."""
    def mean_at(arm, f):
        v = [r["final"][metric] for r in runs if r["arm"] == arm and r["fraction"] == f]
        return float(np.mean(v)) if v else None

    fracs = sorted({r["fraction"] for r in runs})
    diffs = []
    for f in fracs:
        va, vb = mean_at(a, f), mean_at(b, f)
        if va is not None and vb is not None:
            diffs.append((f, (vb - va) if lower else (va - vb)))  # > 0: a ahead
    if len(diffs) < 2:
        return None
    f = _first_crossing(np.array([f for f, _ in diffs]), np.array([[d for _, d in diffs]]))[0]
    return None if np.isnan(f) else float(f)


def _first_crossing(fracs: np.ndarray, diffs: np.ndarray) -> np.ndarray:
    """(rows,) the first fraction where a row of differences (> 0: a ahead) goes from
    below zero to zero or above, interpolated in log fraction; NaN where it never does."""
    out = np.full(len(diffs), np.nan)
    logf = np.log(fracs)
    for i in range(len(fracs) - 1):
        d0, d1 = diffs[:, i], diffs[:, i + 1]
        hit = np.isnan(out) & (d0 < 0) & (d1 >= 0)
        t = -d0[hit] / (d1[hit] - d0[hit])
        out[hit] = np.exp(logf[i] + t * (logf[i + 1] - logf[i]))
    return out


def crossing_with_interval(runs: list[dict], a: str, b: str, metric: str, lower: bool, out: Path,
                           key: str) -> tuple[float | None, list[float] | None]:
    """(crossing, its 95% interval), from the same paired bootstrap as the margin: each
    replicate's crossing of the two arms' scores across the data fractions. A replicate
    with no crossing leaves that side of the interval open, and an open interval states
    no crossing: (None, None)."""
    point = crossing_fraction(runs, a, b, metric, lower)
    if point is None:
        return None, None
    fracs = sorted(f for f in {r["fraction"] for r in runs}
                   if any(r["arm"] == a and r["fraction"] == f for r in runs)
                   and any(r["arm"] == b and r["fraction"] == f for r in runs))
    groups = [([r for r in runs if r["arm"] == arm and r["fraction"] == f], key) for f in fracs for arm in (a, b)]
    bs = bootstrap(groups, out, bits=key == NLL)
    if bs is None:
        return None, None
    s = bs.samples
    diffs = (s[:, 1::2] - s[:, 0::2]) if lower else (s[:, 0::2] - s[:, 1::2])  # (N_BOOT, fractions), > 0: a ahead
    cross = _first_crossing(np.array(fracs), diffs)
    lo = float(np.percentile(np.where(np.isnan(cross), 0.0, cross), 2.5, method="lower"))
    hi = float(np.percentile(np.where(np.isnan(cross), np.inf, cross), 97.5, method="higher"))
    if lo <= 0 or not np.isfinite(hi):
        return None, None
    return point, [lo, hi]

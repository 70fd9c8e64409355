"""Calibration of the verdict: its error rates, measured by real comparisons where the truth is known.

Many small comparisons run in this one process (``Comparison``, as ``roundtable compare``
runs them), on budgets of optimizer steps (``max_steps``: the same runs under any machine
load), on data built here from text every Python installation carries:

- ``prose``: the paragraphs of the Python reference's topics (pydoc_data), English prose;
- ``source``: pieces of the standard library's own source files (code and comments).

Each comparison draws its own pool of documents (about 80 kB), splits it with its own
``--split-seed`` (10% of the documents held out for validation) and runs four arms of
``SEEDS`` seeds each: the seed's LSTM (small: embed 32, hidden 64, 64-byte context) at its
recipe's rate under two names, a third copy at a tenth of that rate and a fourth at a
hundredth. Copies are ``scratch-lstm#K`` (arms/__init__.py), so every comparison's runs
draw their weights and data order from seeds no other comparison uses. Judged with the
package's own verdict function (verdict.py) on the runs' saved per-document scores, at 1,
2 and 3 seeds (the first k seeds of each arm: a subset of the same runs, so each seed
count is judged on as many comparisons):

- A/A: the two names of the recipe's arm. The share called separated, with its
  Clopper-Pearson 95% interval (goal: at most 5% at every seed count);
- A/B, clear (``ab_clear_*``): the recipe's rate against a hundredth of it, which learns
  next to nothing in the same steps. The share that names the right winner (goal: at least
  80% at the default ``--seeds``) and the wrong one (goal: 0);
- A/B, small (``ab_*``): against a tenth of the rate, a difference about twice the
  run-to-run sd of one seed: its share of right winners is the power at each seed count
  (no goal: what one seed cannot separate), and the wrong one's goal is 0;
- coverage: on the first ``truth_splits`` splits, the recipe's rate and a tenth of it run
  again with ``truth_seeds`` seeds each from other seeds; their mean margin on the whole
  validation text is the truth, and the figure is the share of the small A/B's intervals
  that contain it (goal: at least 90%). Its seeds are not those judged, so the truth
  shares no noise with the intervals it checks;
- spread: per arm, the run-to-run standard deviation of the final bits per byte over
  seeds (pooled within comparisons: the split's own variation left out), absolute and
  relative to the score, and the spread of one-seed A/A margins: what a one-seed
  interval cannot see. The verdict's floor (roundtable/decide/seed_spread.json) is the larger
  data set's relative sd at the recipe's rate.

No learning-rate search: at these step counts its slices would be under
``--lr-search-min-steps`` and keep the recipe's rate anyway, and off it costs nothing.

    .venv/bin/python -m bench --only calibration           # about 45 minutes on one core
    .venv/bin/python -m bench --only calibration --keep DIR  # the same, its comparisons kept in DIR
    .venv/bin/python -m bench.calibration DIR              # judge a kept run again (after a rule change)
    .venv/bin/python -m bench --only calibration --quick   # a few minutes: that it works
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ARM = "scratch-lstm"
ARM_SETTINGS = {"lstm_embed": 32, "lstm_hidden": 64, "batch_size": 8}
CONTEXT_BYTES = 64
OFF = 0.1
"""The small planted difference: the A/B arm's learning rate is the recipe's times this
(about 1 bit per byte at 400 steps, a few times the run-to-run sd of one seed: its power
shows what one seed can and cannot separate)."""
FAR = 0.01
"""The clear planted difference: a rate a hundred times too small learns next to nothing
in the same steps (several bits per byte behind: the goal's case)."""
ARMS_PER_COMPARISON = 4
"""Copies of the arm per comparison: twice at the recipe's rate (A/A), at OFF and at FAR."""
VALID_FRACTION = 0.1
POOL_BYTES = 80_000
SEEDS = 3
LEVEL = 0.95


@dataclass(frozen=True)
class Size:
    comparisons: int
    """A/A and A/B comparisons, each on its own pool and split (at least 40 for the figures)."""
    steps: int
    truth_splits: int
    """Splits whose A/B truth is also measured (coverage)."""
    truth_seeds: int


FULL = Size(comparisons=40, steps=400, truth_splits=10, truth_seeds=6)
"""400 steps: past the plateau the seed's LSTM sits on for its first ~150 steps here, where
whether a run has left it yet makes final scores bimodal (one-seed A/A margins of up to
1.4 bits per byte), as a user's minutes-long budget is (the demo's LSTM: ~500 steps)."""
QUICK = Size(comparisons=4, steps=40, truth_splits=2, truth_seeds=3)


# -- the data --------------------------------------------------------------------------------
def prose_texts() -> list[str]:
    """Paragraphs (40 bytes or more, whitespace kept) of the Python reference's topics, each once."""
    from roundtable.data.demo import reference_topics

    seen: set[str] = set()
    out = []
    for topic in reference_topics():
        for block in topic.split("\n\n"):
            p = block.strip("\n")
            if len(p.encode()) >= 40 and p not in seen:
                seen.add(p)
                out.append(p)
    return out


def source_texts() -> list[str]:
    """The standard library's source cut into pieces of 300 to 1,500 bytes (bench/forecast.py)."""
    from bench.forecast import source_texts as pieces

    return [t for t in pieces() if len(t.encode()) <= 1500]


DATASETS: dict[str, Callable[[], list[str]]] = {"prose": prose_texts, "source": source_texts}


def draw_pool(texts: Sequence[str], seed: int, max_bytes: int = POOL_BYTES) -> list[str]:
    """Documents drawn at random (seeded) until they hold ``max_bytes``: each comparison's data."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    pool, size = [], 0
    for i in order:
        if size >= max_bytes:
            break
        pool.append(texts[i])
        size += len(texts[i].encode())
    return pool


def write_jsonl(path: Path, texts: Sequence[str]) -> Path:
    """One record a document: pieces of source hold blank lines, which a .txt file would split on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return path


def copy_name(k: int) -> str:
    """Copy k of the arm: the plain name for k = 1, ``scratch-lstm#k`` after."""
    return ARM if k == 1 else f"{ARM}#{k}"


# -- the statistics (pure) -------------------------------------------------------------------
def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a binomial share k/n: each end is the p at
    which seeing k or fewer (k or more) has probability (1 - level) / 2. 0 of n gives the
    upper end 1 - ((1 - level) / 2)^(1/n) in closed form."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got {k} of {n}")
    tail = (1 - level) / 2

    def solve(f: Callable[[float], float]) -> float:  # f falls from + to - in p on [0, 1]
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
        return (lo + hi) / 2

    upper = 1.0 if k == n else solve(lambda p: binomial_cdf(k, n, p) - tail)
    lower = 0.0 if k == 0 else solve(lambda p: binomial_cdf(k - 1, n, p) - (1 - tail))
    return lower, upper


@dataclass(frozen=True)
class Judged:
    """The verdict on one pair of arms of one comparison, at one seed count. ``ci``: the
    95% interval of the first arm's margin over the second (> 0: the first is better)."""

    dataset: str
    split: int
    seeds: int
    separated: bool
    winner: str | None
    """"first", "second" or None, as the verdict named it."""
    margin: float
    ci: tuple[float, float]


def signed(v: dict, first: str) -> tuple[float, tuple[float, float]]:
    """The verdict's margin and interval (leader over runner-up) turned into the first
    arm's margin over the other, whichever the verdict found leading."""
    lo, hi = v["ci95"]
    if v["leader"] == first:
        return v["margin"], (lo, hi)
    return -v["margin"], (-hi, -lo)


def judged(v: dict, first: str, dataset: str, split: int, seeds: int) -> Judged:
    margin, ci = signed(v, first)
    winner = None if not v.get("winner") else ("first" if v["winner"] == first else "second")
    return Judged(dataset, split, seeds, bool(v.get("separated")), winner, margin, ci)


def _by_dataset(cases: Sequence[Judged], hit: Callable[[Judged], bool]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for j in cases:
        k, n = out.get(j.dataset, [0, 0])
        out[j.dataset] = [k + hit(j), n + 1]
    return out


def share_row(name: str, cases: Sequence[Judged], hit: Callable[[Judged], bool], goal: str | None,
              **extra) -> dict:
    """One figure: the share of ``cases`` where ``hit``, with its exact 95% interval."""
    k, n = sum(hit(j) for j in cases), len(cases)
    lo, hi = clopper_pearson(k, n)
    row = {"name": name, "value": round(k / n, 4), "unit": "share", "count": k, "of": n,
           "lower95": round(lo, 4), "upper95": round(hi, 4), "by_dataset": _by_dataset(cases, hit)}
    if goal:
        row["goal"] = goal
    return {**row, **extra}


def aa_rows(cases: Sequence[Judged]) -> list[dict]:
    """The A/A figure per seed count: two names of one arm called separated."""
    rows = []
    for k in sorted({j.seeds for j in cases}):
        at = [j for j in cases if j.seeds == k]
        width = sum(j.ci[1] - j.ci[0] for j in at) / len(at)
        rows.append(share_row(f"aa_separated[seeds={k}]", at, lambda j: j.separated, "<= 0.05",
                              mean_abs_margin=round(sum(abs(j.margin) for j in at) / len(at), 4),
                              mean_ci_width=round(width, 4)))
    return rows


def ab_rows(cases: Sequence[Judged], default_seeds: int, prefix: str = "ab", goal: bool = True) -> list[dict]:
    """The A/B figures per seed count: the right winner named (the first arm, the recipe's
    rate), and the wrong one. ``goal``: the right winner's goal (at the default seeds)
    applies; the wrong winner's (never) always does."""
    rows = []
    for k in sorted({j.seeds for j in cases}):
        at = [j for j in cases if j.seeds == k]
        rows.append(share_row(f"{prefix}_right_winner[seeds={k}]", at, lambda j: j.winner == "first",
                              ">= 0.80" if goal and k == default_seeds else None, default_seeds=k == default_seeds,
                              mean_margin=round(sum(j.margin for j in at) / len(at), 4)))
        rows.append(share_row(f"{prefix}_wrong_winner[seeds={k}]", at, lambda j: j.winner == "second", "== 0"))
    return rows


def coverage_rows(cases: Sequence[Judged], truth: dict[int, float]) -> list[dict]:
    """Per seed count: the share of A/B intervals (first arm's margin) that contain the
    truth measured on the same split from other seeds."""
    rows = []
    for k in sorted({j.seeds for j in cases}):
        at = [j for j in cases if j.seeds == k and j.split in truth]
        if at:
            rows.append(share_row(f"ab_coverage95[seeds={k}]", at,
                                  lambda j: j.ci[0] <= truth[j.split] <= j.ci[1], ">= 0.90"))
    return rows


def pooled_sd(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """(sd, degrees of freedom) of values pooled within groups: each group's variance about
    its own mean, weighted by its degrees of freedom (groups of one value add nothing)."""
    ss = sum(sum((x - sum(g) / len(g)) ** 2 for x in g) for g in groups)
    df = sum(len(g) - 1 for g in groups)
    return (math.sqrt(ss / df) if df else float("nan")), df


def spread_row(name: str, groups: Sequence[tuple[str, Sequence[float]]], **extra) -> dict:
    """The run-to-run sd of final bits per byte over seeds, within each comparison, and
    relative to the mean score; ``groups``: (data set, one arm's scores in one comparison).
    ``by_dataset``: [sd, relative] on each data set alone."""

    def sd_mean(gs: list[Sequence[float]]) -> tuple[float, int, float]:
        sd, df = pooled_sd(gs)
        return sd, df, sum(sum(g) for g in gs) / sum(len(g) for g in gs)

    sd, df, mean = sd_mean([g for _, g in groups])
    by = {}
    for d in dict.fromkeys(d for d, _ in groups):
        s, _, m = sd_mean([g for e, g in groups if e == d])
        by[d] = [round(s, 4), round(s / m, 5)]
    return {"name": name, "value": round(sd, 4), "unit": "bits/byte", "relative": round(sd / mean, 5),
            "mean_bits_per_byte": round(mean, 4), "df": df, "comparisons": len(groups), "by_dataset": by, **extra}


def one_seed_margin_row(cases: Sequence[Judged]) -> dict:
    """The sd of one-seed A/A margins (truth 0): the run-to-run spread one seed's interval leaves out."""
    ms = [j.margin for j in cases if j.seeds == 1]
    sd = math.sqrt(sum(m * m for m in ms) / len(ms))  # about the known mean, 0
    half = sum((j.ci[1] - j.ci[0]) / 2 for j in cases if j.seeds == 1) / len(ms)
    return {"name": "aa_one_seed_margin_rms", "value": round(sd, 4), "unit": "bits/byte", "of": len(ms),
            "mean_ci_half_width": round(half, 4)}


# -- the runs --------------------------------------------------------------------------------
def settings(data: Path, out: Path, split: int, arms: dict[str, dict], seeds: int, steps: int) -> dict:
    """One comparison's settings, as the command line's flags would give them."""
    return {"task": "lm", "data": str(data), "valid_fraction": VALID_FRACTION, "split_seed": split,
            "arms": ",".join(arms), "arm_settings": {ARM: ARM_SETTINGS, **{a: s for a, s in arms.items() if s}},
            "max_steps": steps, "curve_points": 0, "lr_search": 0, "seeds": seeds, "context_bytes": CONTEXT_BYTES,
            "out": str(out), "device": "cpu", "precision": "fp32", "keep_models": "none", "threads": 1}


def run_comparison(s: dict):
    """The comparison run as ``roundtable compare`` runs it, without its report: (Comparison, results)."""
    from roundtable.api import _library_output
    from roundtable.comparison.runner import Comparison
    from roundtable.comparison.settings import compare_config

    with _library_output(progress=False):
        comp = Comparison(compare_config(s), progress=False)
        comp.prepare()
        return comp, comp.run()


def verdict_on(comp, runs: list[dict], pair: tuple[str, str], k: int) -> dict:
    """The package's verdict on the first k seeds of two of the comparison's arms."""
    from roundtable.decide.verdict import Setting, verdict

    sub = [r for r in runs if r["arm"] in pair and r["seed"] < k]
    return verdict(sub, comp.task, comp.out, Setting(max_steps=comp.cfg.budget.max_steps))


def final_scores(runs: list[dict], arm: str) -> list[float]:
    return [r["final"]["valid_bits_per_byte"] for r in runs if r["arm"] == arm and r.get("status") == "ok"]


def environment() -> dict:
    """The commit (``+dirty`` where the working tree differs from it) and the CPU the figures stand on."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        import platform

        cpu = platform.processor() or cpu
    return {"commit": commit, "cpu": cpu}


def bench_calibration(quick: bool, tmp: Path, emit_row: Callable[[dict], None], keep: bool = False) -> None:
    """Run the comparisons and print every figure (``emit_row``: one JSON line each);
    ``keep``: leave each comparison's folder under ``tmp`` (its runs' per-document scores
    can then be judged again under another verdict rule without training again)."""
    import torch

    from roundtable.arms import arm_defaults
    from roundtable.config.settings import CompareConfig

    size = QUICK if quick else FULL
    default_seeds = CompareConfig.__dataclass_fields__["seeds"].default
    recipe_lr = arm_defaults(ARM).learning_rate
    off = {"learning_rate": recipe_lr * OFF}
    far = {"learning_rate": recipe_lr * FAR}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: one thread is as fast, and leaves the other core to other work
    texts = {name: make() for name, make in DATASETS.items()}
    names = list(DATASETS)
    emit_row({"name": "calibration_setup", "value": size.comparisons, "unit": "comparisons", **environment(),
              "arm": ARM, "arm_settings": ARM_SETTINGS, "context_bytes": CONTEXT_BYTES, "max_steps": size.steps,
              "seeds": SEEDS, "ab_learning_rates": [recipe_lr, recipe_lr * OFF, recipe_lr * FAR], "valid_fraction": VALID_FRACTION,
              "pool_bytes": POOL_BYTES, "truth_splits": size.truth_splits, "truth_seeds": size.truth_seeds,
              "datasets": {n: len(t) for n, t in texts.items()}, "default_seeds": default_seeds, "lr_search": 0,
              "threads": 1, "quick": quick})
    aa: list[Judged] = []
    ab: list[Judged] = []
    ab_far: list[Judged] = []
    truth: dict[int, float] = {}
    truth_se: dict[int, float] = {}
    spread: dict[str, list[tuple[str, list[float]]]] = {"recipe": [], "tenth": []}
    failed = unjudged = 0
    t_start = time.perf_counter()
    try:
        for c in range(size.comparisons):
            t0 = time.perf_counter()
            dataset = names[c % len(names)]
            data = write_jsonl(tmp / f"c{c}" / "data.jsonl", draw_pool(texts[dataset], seed=c))
            # four copies a comparison, none shared with another: every run its own seeds
            a, a2, b, bf = (copy_name(ARMS_PER_COMPARISON * c + i) for i in (1, 2, 3, 4))
            comp, res = run_comparison(settings(data, tmp / f"c{c}" / "out", c, {a: {}, a2: {}, b: off, bf: far},
                                                SEEDS, size.steps))
            runs = res["runs"]
            failed += sum(r.get("status") != "ok" for r in runs)
            for k in range(1, SEEDS + 1):
                for cases, pair in ((aa, (a, a2)), (ab, (a, b)), (ab_far, (a, bf))):
                    v = verdict_on(comp, runs, pair, k)
                    if v.get("ci95") is None:  # an arm without a score: no interval to judge
                        unjudged += 1
                    else:
                        cases.append(judged(v, a, dataset, c, k))
            spread["recipe"] += [(dataset, final_scores(runs, a)), (dataset, final_scores(runs, a2))]
            spread["tenth"].append((dataset, final_scores(runs, b)))
            if c < size.truth_splits:
                # the same split and rates, other seeds: copies numbered after every comparison's
                ta, tb = (copy_name(ARMS_PER_COMPARISON * size.comparisons + 2 * c + i) for i in (1, 2))
                _, tres = run_comparison(settings(data, tmp / f"c{c}" / "truth", c, {ta: {}, tb: off},
                                                  size.truth_seeds, size.steps))
                failed += sum(r.get("status") != "ok" for r in tres["runs"])
                sa, sb = final_scores(tres["runs"], ta), final_scores(tres["runs"], tb)
                if len(sa) > 1 and len(sb) > 1:  # a truth needs its spread: two seeds each at least
                    truth[c] = sum(sb) / len(sb) - sum(sa) / len(sa)  # > 0: the recipe's rate is better
                    truth_se[c] = math.sqrt(sum(pooled_sd([g])[0] ** 2 / len(g) for g in (sa, sb)))
                spread["recipe"].append((dataset, sa))
                spread["tenth"].append((dataset, sb))
            if not keep:
                shutil.rmtree(tmp / f"c{c}", ignore_errors=True)
            so_far = "/".join(str(sum(j.separated for j in aa if j.seeds == k)) for k in range(1, SEEDS + 1))
            print(f"[calibration] comparison {c + 1}/{size.comparisons} ({dataset}, split {c}): "
                  f"{time.perf_counter() - t0:.0f} s; A/A separated so far at 1/2/3 seeds: {so_far}",
                  file=sys.stderr, flush=True)
    finally:
        torch.set_num_threads(threads)
    for row in aa_rows(aa) + ab_rows(ab_far, default_seeds, "ab_clear") + ab_rows(ab, default_seeds, goal=False) \
            + coverage_rows(ab, truth):
        emit_row(row)
    if truth:
        emit_row({"name": "ab_truth_margin", "value": round(sum(truth.values()) / len(truth), 4), "unit": "bits/byte",
                  "min": round(min(truth.values()), 4), "max": round(max(truth.values()), 4),
                  "unambiguous": all(truth[c] > 3 * truth_se[c] for c in truth),
                  "by_split": {c: [round(truth[c], 4), round(truth_se[c], 4)] for c in truth}})
    emit_row(one_seed_margin_row(aa))
    emit_row(spread_row(f"seed_sd[{ARM}]", spread["recipe"], learning_rate=recipe_lr))
    emit_row(spread_row(f"seed_sd[{ARM},lr x{OFF:g}]", spread["tenth"], learning_rate=recipe_lr * OFF))
    emit_row({"name": "calibration_wall", "value": round(time.perf_counter() - t_start, 1), "unit": "s",
              "failed_runs": failed,
              "unjudged": unjudged})


def judge_kept(folder: Path, emit_row: Callable[[dict], None]) -> None:
    """The A/A, A/B and coverage figures again from the comparisons a full run kept under
    ``folder`` (``--keep``), judged by the verdict as the package has it now: a change of
    the verdict's rule (spread.py's floor) measured on the same runs, without training."""
    from roundtable.config.settings import CompareConfig
    from roundtable.decide.verdict import Setting, verdict
    from roundtable.tasks import LMTask

    task = LMTask()
    default_seeds = CompareConfig.__dataclass_fields__["seeds"].default
    aa: list[Judged] = []
    ab: list[Judged] = []
    ab_far: list[Judged] = []
    truth: dict[int, float] = {}
    names = list(DATASETS)
    comparisons = sorted(int(p.name[1:]) for p in folder.glob("c*") if (p / "out" / "results.json").is_file())
    for c in comparisons:
        out = folder / f"c{c}" / "out"
        res = json.loads((out / "results.json").read_text(encoding="utf-8"))
        runs, steps = res["runs"], res["config"]["budget"]["max_steps"]
        a, a2, b, bf = (copy_name(ARMS_PER_COMPARISON * c + i) for i in (1, 2, 3, 4))
        for k in range(1, SEEDS + 1):
            for cases, pair in ((aa, (a, a2)), (ab, (a, b)), (ab_far, (a, bf))):
                sub = [r for r in runs if r["arm"] in pair and r["seed"] < k]
                v = verdict(sub, task, out, Setting(max_steps=steps))
                if v.get("ci95") is not None:
                    cases.append(judged(v, a, names[c % len(names)], c, k))
        kept_truth = folder / f"c{c}" / "truth" / "results.json"
        if kept_truth.is_file():
            t = json.loads(kept_truth.read_text(encoding="utf-8"))["runs"]
            ta, tb = dict.fromkeys(r["arm"] for r in t)
            sa, sb = final_scores(t, ta), final_scores(t, tb)
            if len(sa) > 1 and len(sb) > 1:
                truth[c] = sum(sb) / len(sb) - sum(sa) / len(sa)
    emit_row({"name": "calibration_judged_again", "value": len(comparisons), "unit": "comparisons", **environment()})
    for row in aa_rows(aa) + ab_rows(ab_far, default_seeds, "ab_clear") + ab_rows(ab, default_seeds, goal=False) \
            + coverage_rows(ab, truth):
        emit_row(row)
    emit_row(one_seed_margin_row(aa))


if __name__ == "__main__":  # python -m bench.calibration DIR: judge a kept run again
    judge_kept(Path(sys.argv[1]), lambda row: print(json.dumps(row), flush=True))

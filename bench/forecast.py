"""Forecast accuracy: forecasts at 4x and 10x the budget, then those budgets run for real.

Every figure comes from comparisons the package runs as a user's would, on text built
at run time from what every Python installation carries, on budgets in training bytes
(the same runs on any machine under any load):

- evaluation splits, on which the accuracy is reported: ``docstrings`` (the standard
  library's docstrings: English about code) and ``source`` (its Python source: code and
  comments), two random splits each (5 and 6);
- calibration splits, on which the intervals' factors are measured and nothing is
  reported: ``prose`` (paragraphs of the Python reference's topics), three splits, and
  two other splits (1 and 2) of each evaluation corpus. Split-conformal factors hold
  where the calibration's forecasts are like the evaluated ones; factors measured on
  prose alone were too narrow for code (80% intervals covered 59%). The law's own
  choices (no floor, the shift, R*) were made on prose alone, the scale's share of the
  forecast gain (``arm.GAIN_SHARE``) on all the calibration splits.

Each split is a pool of ``POOL_BYTES`` of documents (10% held out for validation). On
each, two arms (the seed's LSTM and the small transformer, both shrunk to train fast on
one core: ``ARM_SETTINGS``, 128-byte context, no learning-rate search) are compared at
two budgets, ``BUDGETS``, with ``--forecast-budget 10x`` (the curves and the
transformer's extra run), and run for real at 4x and 10x each. Per split: 2 arms x 2
budgets x 2 targets = 8 forecasts; 32 on the evaluation splits, 56 on the calibration
splits. Budgets of 2.5x each other share real runs (10 x 250 kB = 4 x 625 kB).

The calibration's forecasts give the split-conformal factors (the quantile of
|actual - forecast| / scale at 80% and 95%, with the finite-sample correction), which
``--write-calibration`` stores in ``roundtable/forecast/calibration.json``; the
evaluation forecasts are then judged with the factors the package ships. Reported:
mean absolute error at 4x and 10x, the 80% and 95% coverage with Clopper-Pearson
intervals, the median width of the 95% interval at 4x, and the same errors for the
0.2 law (E + A x^-alpha on three points of the run's prefix) as the baseline.

    .venv/bin/python -m bench.forecast --keep bench-forecast           # about 60 min on 2 cores
    .venv/bin/python -m bench.forecast --judge bench-forecast          # judge kept runs again
    .venv/bin/python -m bench.forecast --judge bench-forecast --write-calibration
    .venv/bin/python -m bench --only forecast                           # the same, as a bench part
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sysconfig
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

EVAL = {"docstrings": (5, 6), "source": (5, 6)}
CALIBRATE = {"prose": (1, 2, 3), "docstrings": (1, 2), "source": (1, 2)}
BUDGETS = (250_000, 625_000)
TARGETS = (4, 10)
POOL_BYTES = 400_000
ARMS = ("scratch-lstm", "scratch-transformer")
ARM_SETTINGS = {"scratch-lstm": {"lstm_embed": 32, "lstm_hidden": 64, "batch_size": 8},
                "scratch-transformer": {"n_layer": 2, "n_embd": 64, "n_head": 2, "batch_size": 8}}
CONTEXT_BYTES = 128


# -- the data --------------------------------------------------------------------------------
def docstring_texts() -> list[str]:
    from roundtable.data.demo import docstring_pairs

    return [f"{p['summary']}\n\n{p['document']}" for p in docstring_pairs()]


def source_texts() -> list[str]:
    """Top-level modules of the standard library (alphabetical), each cut at blank lines
    into documents of 300 bytes or more (a few functions or a class's methods each)."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    docs = []
    for path in sorted(lib.glob("*.py")):
        piece = ""
        for part in path.read_text(encoding="utf-8", errors="replace").split("\n\n"):
            piece = f"{piece}\n\n{part}" if piece else part
            if len(piece.encode()) >= 300:
                docs.append(piece.strip("\n"))
                piece = ""
    return docs


def prose_texts() -> list[str]:
    from bench.calibration import prose_texts as paragraphs

    return paragraphs()


CORPORA: dict[str, Callable[[], list[str]]] = {"docstrings": docstring_texts, "source": source_texts,
                                               "prose": prose_texts}


# -- the runs --------------------------------------------------------------------------------
def needed_budgets(budgets=BUDGETS, targets=TARGETS) -> list[tuple[int, bool]]:
    """(budget, forecasts) for every comparison of a split: the budgets forecast from, and
    every target; a budget that is both runs once."""
    need = {b: True for b in budgets}
    for b in budgets:
        for k in targets:
            need.setdefault(int(b * k), False)
    return sorted(need.items(), key=lambda x: -x[0])


def _run(job: tuple[str, int, int, bool, str, int]) -> str:
    """One comparison in a worker process (one thread): ``folder/<budget>/results.json``."""
    corpus, split, budget, forecast, folder, pool = job
    import torch

    torch.set_num_threads(1)
    from bench.calibration import draw_pool, run_comparison, write_jsonl

    out = Path(folder) / corpus / f"split{split}"
    data = out / "data.jsonl"
    if not data.exists():
        write_jsonl(data, draw_pool(CORPORA[corpus](), split, pool))
    run_dir = out / str(budget)
    if (run_dir / "results.json").exists():
        return str(run_dir)
    s = {"task": "lm", "data": str(data), "valid_fraction": 0.1, "split_seed": split, "arms": ",".join(ARMS),
         "arm_settings": ARM_SETTINGS, "budget": f"{budget}B", "lr_search": 0, "seeds": 1,
         "context_bytes": CONTEXT_BYTES, "curve_points": 3 if not forecast else 12, "out": str(run_dir),
         "device": "cpu", "precision": "fp32", "keep_models": "none", "overwrite": True}
    if forecast:
        s["forecast_budget"] = f"{max(TARGETS)}x"
    run_comparison(s)
    return str(run_dir)


def run_all(folder: Path, corpora: dict[str, tuple[int, ...]], workers: int, pool: int = POOL_BYTES,
            budgets=BUDGETS, log: Callable[[str], None] = print) -> None:
    jobs = [(c, s, b, f, str(folder), pool) for c, splits in corpora.items() for s in splits
            for b, f in needed_budgets(budgets)]
    jobs.sort(key=lambda j: -j[2])  # the longest first: the workers finish together
    for c in corpora:  # each corpus's text is built once, before the workers race to it
        for s in corpora[c]:
            p = folder / c / f"split{s}" / "data.jsonl"
            if not p.exists():
                from bench.calibration import draw_pool, write_jsonl

                write_jsonl(p, draw_pool(CORPORA[c](), s, pool))
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    os.environ.update(env)
    with ProcessPoolExecutor(max_workers=workers) as ex:
        for done in ex.map(_run, jobs):
            log(f"done {done}")


# -- judging ---------------------------------------------------------------------------------
def _results(path: Path) -> dict:
    return json.loads((path / "results.json").read_text(encoding="utf-8"))


def _actual(results: dict) -> dict[str, float]:
    return {r["arm"]: r["final"]["valid_bits_per_byte"] for r in results["runs"] if r.get("status") == "ok"}


def _baseline(run: dict, k: float) -> float | None:
    """0.2's law (E + A x^-alpha, bootstrap.forecast_ladder) through the run's prefix at
    1/4, 1/2 and 1 of its budget (curve subset, carried to the whole text by the end's ratio)."""
    from roundtable.forecast.bootstrap import forecast_ladder
    from roundtable.forecast.law import LN2, Ladder, LadderPoint

    pts = [p for p in run["curve"] if p["step"] > 0]
    ratio = run["final"]["valid_bits_per_byte"] / pts[-1]["subset_bits_per_byte"]
    rungs = []
    for share in (0.25, 0.5, 1.0):
        p = min(pts, key=lambda q: abs(q["step"] / run["steps"] - share))
        v = p["subset_bits_per_byte"] * ratio
        rungs.append(LadderPoint(budget=share, tokens_seen=float(p["train_bytes"]), unique_tokens=None,
                                 doc_nll=[[v * LN2 * 1000.0]], doc_bytes=[1000.0]))
    fc = forecast_ladder(Ladder(run["arm"], rungs), n_boot=50)
    return fc.value(k) if fc.law else None


def judge(folder: Path, corpora: dict[str, tuple[int, ...]], budgets=BUDGETS, targets=TARGETS) -> list[dict]:
    """One row per forecast: predicted, actual, intervals, scale, the baseline's prediction."""
    from roundtable.config.settings import BudgetConfig
    from roundtable.forecast.ladder import build
    from roundtable.tasks import task_class

    rows = []
    for corpus, splits in corpora.items():
        for split in splits:
            base = folder / corpus / f"split{split}"
            for b in budgets:
                if not (base / str(b) / "results.json").exists():
                    continue
                res = _results(base / str(b))
                for k in targets:
                    real = base / str(int(b * k))
                    if not (real / "results.json").exists():
                        continue
                    actual = _actual(_results(real))
                    block = build(res["runs"], res.get("ladder") or [], task_class("lm")(), base / str(b),
                                  BudgetConfig(seconds=None, bytes=float(b)), f"{k}x",
                                  {1.0: int(res["data"]["train_bytes"])})
                    for arm, e in (block or {}).get("arms", {}).items():
                        if arm not in actual:
                            continue
                        run = next(r for r in res["runs"] if r["arm"] == arm)
                        row = {"corpus": corpus, "split": split, "budget": b, "target": k, "arm": arm,
                               "actual": actual[arm], "measured": run["final"]["valid_bits_per_byte"],
                               "predicted": e.get("value"), "ci80": e.get("ci80"), "ci95": e.get("ci95"),
                               "scale": e.get("scale"), "law": (e.get("params") or {}).get("law"),
                               "problem": e.get("problem"), "baseline": _baseline(run, k),
                               "extra_share": block.get("extra_training", {}).get("share")}
                        rows.append(row)
    return rows


def conformal(rows: list[dict], levels=(0.8, 0.95)) -> dict[str, float]:
    """Split-conformal factors: the ceil((n + 1) level)-th smallest |actual - forecast| / scale."""
    scores = sorted(abs(r["actual"] - r["predicted"]) / r["scale"] for r in rows if r.get("predicted") is not None)
    n = len(scores)
    out = {}
    for level in levels:
        i = math.ceil((n + 1) * level)
        out[str(level)] = scores[i - 1] if i <= n else math.inf
    return out


def clopper_pearson(k: int, n: int, level: float = 0.95) -> list[float]:
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return [round(lo, 3), round(hi, 3)]


def summary(rows: list[dict]) -> list[dict]:
    """The figures the documentation quotes, one dict each."""
    ok = [r for r in rows if r.get("predicted") is not None]
    out = []
    for k in sorted({r["target"] for r in ok}):
        at = [r for r in ok if r["target"] == k]
        err = [abs(r["predicted"] - r["actual"]) for r in at]
        base = [abs(r["baseline"] - r["actual"]) for r in at if r.get("baseline") is not None]
        out.append({"name": f"forecast_mean_abs_error_{k}x", "value": round(statistics.mean(err), 4),
                    "unit": "bits/byte", "goal": "<= 0.05" if k == 4 else "<= 0.10", "cases": len(at),
                    "median": round(statistics.median(err), 4), "max": round(max(err), 4),
                    "baseline_0_2_law": round(statistics.mean(base), 4) if base else None})
        w95 = [r["ci95"][1] - r["ci95"][0] for r in at]
        out.append({"name": f"forecast_median_width95_{k}x", "value": round(statistics.median(w95), 4),
                    "unit": "bits/byte", **({"goal": "<= 0.3"} if k == 4 else {})})
    for level, key, goal in ((0.8, "ci80", "0.70-0.90"), (0.95, "ci95", ">= 0.90")):
        inside = sum(r[key][0] <= r["actual"] <= r[key][1] for r in ok)
        out.append({"name": f"forecast_coverage{int(level * 100)}", "value": round(inside / len(ok), 4) if ok else 0,
                    "unit": "share", "goal": goal, "inside": inside, "of": len(ok),
                    "clopper_pearson95": clopper_pearson(inside, len(ok))})
    missing = [r for r in rows if r.get("predicted") is None]
    if missing:
        out.append({"name": "forecast_withheld", "value": len(missing), "unit": "cases",
                    "reasons": sorted({r["problem"] for r in missing if r.get("problem")})})
    shares = [r["extra_share"] for r in rows if r.get("extra_share") is not None]
    if shares:
        out.append({"name": "forecast_extra_training_share", "value": round(max(shares), 4), "unit": "share",
                    "goal": "<= 0.25", "median": round(statistics.median(shares), 4)})
    return out


def write_calibration(factors: dict[str, float], rows: list[dict]) -> Path:
    from roundtable.forecast.arm import CALIBRATION

    CALIBRATION.write_text(json.dumps({
        "factors": factors, "forecasts": len(rows),
        "measured_by": "python -m bench.forecast --write-calibration (bench/forecast.py)",
        "corpora": {c: list(s) for c, s in CALIBRATE.items()}, "budgets_bytes": list(BUDGETS),
        "targets": list(TARGETS)}, indent=1) + "\n", encoding="utf-8")
    return CALIBRATION


def bench_forecast(quick: bool, folder: Path, emit: Callable[..., None], *, workers: int = 2,
                   run: bool = True, write: bool = False) -> list[dict]:
    """Run (unless ``run`` is False), calibrate on the calibration splits, judge the evaluation splits."""
    ev, cal = (({"docstrings": (1,)}, {"prose": (1,)}) if quick else (EVAL, CALIBRATE))
    budgets = (100_000,) if quick else BUDGETS
    if run:
        every = {c: tuple(sorted({*cal.get(c, ()), *ev.get(c, ())})) for c in {*cal, *ev}}
        run_all(folder, every, workers, POOL_BYTES // (4 if quick else 1), budgets,
                log=lambda line: None)
    cal_rows = judge(folder, cal, budgets)
    factors = conformal(cal_rows)
    emit(name="forecast_conformal_factors", value=0, unit="factors", factors=factors, of=len(cal_rows),
         shipped=str(write_calibration(factors, cal_rows)) if write else None)
    rows = judge(folder, ev, budgets)
    for r in rows:
        emit(name=f"forecast[{r['corpus']}#{r['split']},{r['arm']},{r['budget'] // 1000}kB,{r['target']}x]",
             value=r["predicted"] if r["predicted"] is not None else math.nan, unit="bits/byte",
             **{k: v for k, v in r.items() if k not in ("predicted",)})
    for s in summary(rows):
        emit(**s)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.forecast", description=__doc__.splitlines()[0])
    p.add_argument("--keep", help="folder for every comparison (kept; runs already there are not run again)")
    p.add_argument("--judge", help="judge the comparisons kept in this folder, running nothing")
    p.add_argument("--write-calibration", action="store_true",
                   help="store the calibration splits' factors in roundtable/forecast/calibration.json")
    p.add_argument("--workers", type=int, default=2, help="comparisons at once, one core each (default 2)")
    p.add_argument("--quick", action="store_true", help="one split, one small budget: that it works")
    args = p.parse_args()

    def emit(**row) -> None:
        print(json.dumps(row, default=str), flush=True)

    if args.judge:
        bench_forecast(args.quick, Path(args.judge), emit, run=False, write=args.write_calibration)
        return
    with tempfile.TemporaryDirectory() as tmp:
        bench_forecast(args.quick, Path(args.keep or tmp), emit, workers=args.workers, write=args.write_calibration)


if __name__ == "__main__":
    main()

"""Forecast accuracy: forecast the scratch arms at 4x and 10x the budget, then run those budgets.

Issue 10, item 6. For each of two data sets built at run time from text every Python
installation carries, and which the tests do not use,

- ``docstrings``: the standard library's docstrings (English prose about code), one
  document per docstring, as ``roundtable demo --task summarize`` collects them;
- ``source``: the standard library's own Python source files (code, comments), one
  document per file: a different style from the prose;

the benchmark runs ``roundtable compare --forecast-budget Kx`` for each target K
(its budget ladder and forecast), then the same arms for real at K times the budget,
and prints one JSON line per data set, arm and target: the absolute error of the
central forecast in bits per byte, and whether the actual value fell inside the 80%
and 95% intervals (goal: error at 4x <= 0.08; the 80% interval covering the truth in
at least 4 of 5 cases). Alternatives the forecast block carries (e.g. no repetition
rule, the annealing law) are scored beside it, to choose the method by measurement.
A budget in seconds needs a quiet machine; a budget in training tokens (``--budget
1Mtok``) gives the same runs on any machine under any load, so its figures can be
measured beside other work. One comparison per data set carries the budget ladder; the
forecast for each target is fitted from it (ladder.py, as ``--forecast-budget Kx``
would), so the targets share one ladder, as a user's would.

    .venv/bin/python -m bench.forecast                      # 60 s budget: about 1.5 h on 2 cores
    .venv/bin/python -m bench.forecast --budget 1Mtok --extra "--lr-search 0"   # load-independent
    .venv/bin/python -m bench.forecast --budget 20 --targets 4 --arms scratch-lstm   # a quick look, ~6 min

Both the forecast and the real runs use the comparison's own recipe (a learning-rate
search, if on, runs in each); ``--extra "--lr-search 0"`` takes it out of the measurement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from roundtable.results import RESULTS

MAX_BYTES = 600_000  # per data set: some epochs at the budget, many at 10x (the repetition rule is tested)


def emit(name: str, value, unit: str, goal: str | None = None, **extra) -> None:
    row = {"name": name, "value": round(value, 4) if isinstance(value, float) else value, "unit": unit}
    if goal:
        row["goal"] = goal
    row.update(extra)
    print(json.dumps(row), flush=True)


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


DATASETS = {"docstrings": docstring_texts, "source": source_texts}


def write_split(texts: list[str], folder: Path) -> tuple[Path, Path]:
    """Every 10th document (in a fixed order) is validation, until training holds MAX_BYTES."""
    folder.mkdir(parents=True, exist_ok=True)
    train, valid, size = [], [], 0
    for i, t in enumerate(texts):
        if size >= MAX_BYTES:
            break
        if i % 10 == 9:
            valid.append(t)
        else:
            train.append(t)
            size += len(t.encode())
    paths = folder / "train.jsonl", folder / "valid.jsonl"
    for path, docs in zip(paths, (train, valid)):
        with open(path, "w", encoding="utf-8") as f:
            for t in docs:
                f.write(json.dumps({"text": t}) + "\n")
    return paths


def budget_flag(kind: str, value: float) -> str:
    return (f"{value:.0f}" if kind == "tokens" else f"{value:g}") + {"seconds": "s", "tokens": "tok", "flops": "flop"}[kind]


def compare(train: Path, valid: Path, arms: str, budget: str, out: Path, extra: list[str]) -> dict | None:
    cmd = [sys.executable, "-m", "roundtable", "compare", "--task", "lm", "--data", str(train), "--valid", str(valid),
           "--arms", arms, "--budget", budget, "--out", str(out), "--overwrite", "--keep-models", "none", *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        emit("compare_failed", done.returncode, "exit code", command=" ".join(cmd[3:]), error=tail)
        return None
    results = json.loads((out / RESULTS).read_text(encoding="utf-8"))
    results["_wall_s"] = time.perf_counter() - t0
    return results


def forecast_at(results: dict, folder: Path, kind: str, value: float, k: float) -> dict | None:
    """The forecast block a comparison with this ladder gives for ``--forecast-budget Kx``."""
    from roundtable.config.settings import BudgetConfig
    from roundtable.forecast.ladder import build
    from roundtable.tasks import task_class

    budget = BudgetConfig(**{"seconds": None, kind: value})
    train_bytes = {1.0: int(results["data"]["train_bytes"])}
    return build(results["runs"], results.get("ladder") or [], task_class("lm")(), folder, budget, f"{k:g}x",
                 train_bytes)


def actual_scores(results: dict) -> dict[str, float]:
    """Mean final bits per byte per arm over its runs at the full budget and data."""
    by_arm: dict[str, list[float]] = {}
    for r in results.get("runs", []):
        if r.get("status") == "ok" and r.get("fraction", 1.0) == 1.0:
            by_arm.setdefault(r["arm"], []).append(r["final"]["valid_bits_per_byte"])
    return {a: sum(v) / len(v) for a, v in by_arm.items()}


def score(dataset: str, arm: str, k: float, entry: dict, actual: float, backtest: dict | None) -> dict:
    lo80, hi80 = entry["ci80"]
    lo95, hi95 = entry["ci95"]
    row = {"dataset": dataset, "arm": arm, "target": f"{k:g}x", "predicted": round(entry["value"], 4),
           "actual": round(actual, 4), "ci80": [round(lo80, 4), round(hi80, 4)], "ci95": [round(lo95, 4), round(hi95, 4)],
           "inside80": lo80 <= actual <= hi80, "inside95": lo95 <= actual <= hi95, "notes": entry.get("notes", []),
           "plateau": entry.get("plateau", False)}
    if backtest:
        row["backtest_error"] = round(abs(backtest["predicted"] - backtest["actual"]), 4)
    for name, alt in entry.get("alternatives", {}).items():
        if alt.get("value") is not None:
            row[f"error[{name}]"] = round(abs(alt["value"] - actual), 4)
    emit(f"forecast_abs_error[{dataset},{arm},{k:g}x]", abs(entry["value"] - actual), "bits/byte",
         goal="<= 0.08" if k == 4 else None, **row)
    return row


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.forecast", description=__doc__.splitlines()[0])
    p.add_argument("--budget", default="60s",
                   help="budget per run of the comparison: seconds (60s) or training tokens (1Mtok) (default 60s)")
    p.add_argument("--targets", default="4,10", help="forecast budgets as multiples of --budget (default 4,10)")
    p.add_argument("--arms", default="scratch-lstm,scratch-transformer", help="arms to forecast (default: the scratch arms)")
    p.add_argument("--datasets", default="docstrings,source", help=f"any of {','.join(DATASETS)}")
    p.add_argument("--out", default="bench-forecast", help="folder for the data and every comparison (kept)")
    p.add_argument("--extra", default="", help="more flags for every compare, e.g. '--seeds 2'")
    args = p.parse_args()
    from roundtable.config.settings import parse_budget_spec

    targets = [float(t) for t in args.targets.split(",")]
    kind, base = parse_budget_spec(args.budget)
    extra = args.extra.split()
    out = Path(args.out)
    rows = []
    for name in args.datasets.split(","):
        train, valid = write_split(DATASETS[name](), out / name / "data")
        emit(f"dataset_bytes[{name}]", train.stat().st_size, "bytes", valid_bytes=valid.stat().st_size, budget=args.budget)
        folder = out / name / "forecast"
        fc = compare(train, valid, args.arms, budget_flag(kind, base), folder,
                     [*extra, "--forecast-budget", f"{max(targets):g}x"])
        if fc is None or not fc.get("forecast"):
            emit(f"forecast_missing[{name}]", 0, "error", error="no forecast block" if fc else "compare failed")
            continue
        emit(f"forecast_sentence[{name},{max(targets):g}x]", 0, "text",
             sentence=fc["verdict"].get("forecast_sentence") or fc["verdict"].get("sentence"))
        for k in targets:
            real = compare(train, valid, args.arms, budget_flag(kind, k * base), out / name / f"real-{k:g}x", extra)
            block = forecast_at(fc, folder, kind, base, k)
            if real is None or not block:
                emit(f"forecast_missing[{name},{k:g}x]", 0, "error", error="compare failed" if block else "no forecast")
                continue
            emit(f"forecast_compare_wall[{name},{k:g}x]", fc["_wall_s"], "s", real_wall_s=round(real["_wall_s"], 1))
            actual = actual_scores(real)
            bt = {b["arm"]: b for b in block.get("backtest", [])}
            for arm, entry in block["arms"].items():
                if arm in actual and entry.get("value") is not None:
                    rows.append(score(name, arm, k, entry, actual[arm], bt.get(arm)))
    if rows:
        four = [r for r in rows if r["target"] == "4x"]
        emit("forecast_mean_abs_error_4x", sum(abs(r["predicted"] - r["actual"]) for r in four) / max(len(four), 1),
             "bits/byte", goal="<= 0.08", cases=len(four))
        emit("forecast_inside80", sum(r["inside80"] for r in rows), "cases", goal=">= 4 of 5", of=len(rows))
        emit("forecast_inside95", sum(r["inside95"] for r in rows), "cases", of=len(rows))


if __name__ == "__main__":
    main()

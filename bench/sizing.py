"""Is ``size: auto`` the right size? (``python -m bench --only sizing``)

At three budgets in FLOPs (3e11, 3e12 and 1e13: seconds to minutes), the scratch transformer is trained at the size the
rule (roundtable/arms/sizing.py) chooses, through ``size: auto``, and at sizes around it on
a ladder of shapes (two smaller, two larger where the ladder has them), all else equal:
one comparison per size, the same data, split, seed, recipe and evaluator, byte-level,
--context-bytes 128, no learning-rate search (the recipe's rate for every size). Each
budget reports where the measured best size falls against the rule's, and how far the
rule's score is from the best (goal: within 0.02 bits per byte). At the smallest budget
each size is trained with SEEDS seeds and scored by their mean: there the sizes differ by
a few hundredths, as much as two seeds do. Budgets in FLOPs do not depend on the
machine's load; the figures do not either, only the wall clock does.

The data is built at run time: the docstrings of the standard library's modules, classes
and functions (200 bytes or more, each once), about 1.2 MB, 10% of them held out.
About 40 minutes on one core (``--quick``: the smallest budget only, 3 minutes).

``--calibrate`` runs the grid the rule's tokens per parameter was measured on (48 cells:
six shapes by four budgets on two other corpora, three seeds each at 3e11: the Python reference's prose and a 1.2 MB
pool of the standard library's source; about 45 minutes on one core) and prints, for
each ratio tried, how far the rule's choice falls from the best measured.
"""

from __future__ import annotations

import ast
import json
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

from roundtable.arms.sizing import Shape, matmul_params

BUDGETS = (3e11, 3e12, 1e13)
"""Training FLOPs per run: the rule picks 1 x 64, 2 x 64 and 2 x 128 here on this data."""
SEEDS = {3e11: 3}
"""Seeds per size where one is not enough to tell the sizes apart (1 elsewhere)."""
LADDER = (Shape(1, 32), Shape(1, 64), Shape(2, 64), Shape(2, 128), Shape(4, 128), Shape(4, 256))
"""Sizes tried around the rule's, smallest first."""
AROUND = 2
"""Sizes tried on each side of the rule's."""
CONTEXT_BYTES = 128
GOAL = 0.02
"""Bits per byte: the rule's size scores within this of the best size measured."""
VOCAB = 259
"""The byte tokenizer's 256 bytes and the three task tokens."""


def docstring_texts() -> list[str]:
    """Docstrings of the standard library (its tests, IDLE and lib2to3 left out), 200 bytes or more, each once."""
    root = Path(sysconfig.get_paths()["stdlib"])
    seen: set[str] = set()
    out = []
    for path in sorted(root.rglob("*.py")):
        if {"test", "tests", "idlelib", "lib2to3", "site-packages"} & set(path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc.encode()) >= 200 and doc not in seen:
                    seen.add(doc)
                    out.append(doc)
    return out


def sizes_around(rule: Shape, ladder: tuple[Shape, ...] = LADDER, around: int = AROUND) -> list[Shape]:
    """The rule's shape and up to ``around`` ladder shapes on each side of it, by parameters."""
    def n(s: Shape) -> int:
        return matmul_params(s.n_layer, s.n_embd, VOCAB)

    smaller = [s for s in ladder if n(s) < n(rule)][-around:]
    larger = [s for s in ladder if n(s) > n(rule)][:around]
    return [*smaller, rule, *larger]


def settings(data: Path, out: Path, budget: float, arm: dict, seeds: int = 1) -> dict:
    return {"task": "lm", "data": str(data), "valid_fraction": 0.1, "split_seed": 0, "arms": "scratch-transformer",
            "arm_settings": {"scratch-transformer": arm}, "budget": f"{budget:g}flop", "curve_points": 0,
            "lr_search": 0, "seeds": seeds, "context_bytes": CONTEXT_BYTES, "out": str(out), "device": "cpu",
            "precision": "fp32", "keep_models": "none", "threads": 1}


def one_run(data: Path, out: Path, budget: float, arm: dict, seeds: int = 1) -> dict:
    """The first seed's run, its ``final`` score replaced by the mean over ``seeds`` seeds
    (``seed_scores`` holds each)."""
    from bench.calibration import run_comparison

    _, results = run_comparison(settings(data, out, budget, arm, seeds))
    runs = results["runs"]
    scores = [r["final"]["valid_bits_per_byte"] for r in runs if r["status"] == "ok"]
    run = dict(runs[0])
    if scores:
        run["final"] = {**run["final"], "valid_bits_per_byte": sum(scores) / len(scores)}
    run["seed_scores"] = [round(x, 4) for x in scores]
    run["unique_train_bytes"] = results["data"]["train_bytes"]
    return run


def fixed(shape: Shape) -> dict:
    """The arm settings that train ``shape`` as given."""
    return {"n_layer": shape.n_layer, "n_embd": shape.n_embd, "n_head": shape.n_head}


def _one(job: tuple[str, str, float, dict, int]) -> dict:
    """One comparison in a worker process, on one thread."""
    import torch

    torch.set_num_threads(1)
    data, out, budget, arm, seeds = job
    return one_run(Path(data), Path(out), budget, arm, seeds)


def _map(jobs: list[tuple], workers: int) -> list[dict]:
    if workers <= 1:
        return [_one(j) for j in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as ex:
        return list(ex.map(_one, jobs))


def bench_sizing(quick: bool, tmp: Path, emit: Callable[..., None], workers: int = 1) -> list[dict]:
    from bench.calibration import write_jsonl
    from roundtable.evaluate.precision import peak_gflops

    data = str(write_jsonl(tmp / "sizing" / "docstrings.jsonl", docstring_texts()))
    peak = peak_gflops("fp32")
    budgets = BUDGETS[:1] if quick else BUDGETS
    t0 = time.perf_counter()
    autos = _map([(data, str(tmp / "sizing" / f"{b:g}-auto"), b, {"size": "auto"}, SEEDS.get(b, 1))
                  for b in budgets], workers)
    rules = {b: Shape(a["sizing"]["n_layer"], a["sizing"]["n_embd"]) for b, a in zip(budgets, autos)}
    jobs = [(data, str(tmp / "sizing" / f"{b:g}-{x.n_layer}x{x.n_embd}"), b, fixed(x), SEEDS.get(b, 1))
            for b in budgets for x in sizes_around(rules[b]) if x != rules[b]]
    jobs.sort(key=lambda j: -j[2])  # the longest first: the workers finish together
    done = dict(zip([(j[2], (j[3]["n_layer"], j[3]["n_embd"])) for j in jobs], _map(jobs, workers)))
    rows = []
    for budget, auto in zip(budgets, autos):
        s, rule = auto["sizing"], rules[budget]
        scores = {rule: auto} | {x: done[(budget, (x.n_layer, x.n_embd))] for x in sizes_around(rule) if x != rule}
        table = sorted(scores.items(), key=lambda kv: kv[1]["params"])
        bpb = {str(k): r["final"]["valid_bits_per_byte"] for k, r in table if r["status"] == "ok"}
        best = min(bpb, key=lambda k: bpb[k])
        gap = bpb[str(rule)] - bpb[best]
        sizes = [{"shape": str(k), "params": r["params"], "bits_per_byte": round(bpb.get(str(k), float("nan")), 4),
                  "seed_scores": r["seed_scores"],
                  "steps": r.get("steps"), "epochs": round((r.get("train_bytes") or 0) / max(s["unique_tokens"], 1), 2),
                  "gflop_per_s": round(r["train_flops"] / r["train_seconds"] / 1e9, 1) if r.get("train_seconds") else None}
                 for k, r in table]
        mfu = [x["gflop_per_s"] / peak for x in sizes if x["gflop_per_s"]]
        row = {"name": f"sizing_{budget:g}flop_rule_minus_best", "value": round(gap, 4), "unit": "bits/byte",
               "goal": f"<= {GOAL}", "rule": str(rule), "best": best, "seeds": SEEDS.get(budget, 1),
               "unique_tokens": s["unique_tokens"], "rule_epochs": round(s["epochs"], 2), "sizes": sizes,
               "peak_gflops_1_thread": round(peak, 1),
               "mfu_range": [round(min(mfu), 2), round(max(mfu), 2)] if mfu else None,
               "wall_seconds": round(time.perf_counter() - t0, 1)}
        emit(**row)
        rows.append(row)
    return rows


# -- the calibration of the rule's tokens per parameter ----------------------------------------
GRID_SHAPES = (Shape(1, 32), Shape(1, 64), Shape(2, 64), Shape(1, 128), Shape(2, 128), Shape(4, 128))
GRID_BUDGETS = (1e11, 3e11, 1e12, 3e12)
RATIOS = (4, 6, 8, 10, 12, 14, 17, 19.6, 25)
"""Tokens per parameter tried; the rule's family (aspect ratios up to 64) chooses among the grid's shapes."""


def grid_corpora(tmp: Path) -> dict[str, Path]:
    """The calibration corpora: the Python reference's prose, and 1.2 MB of the standard library's source."""
    from bench.calibration import draw_pool, prose_texts, write_jsonl
    from bench.forecast import source_texts

    return {"prose": write_jsonl(tmp / "grid" / "prose.jsonl", prose_texts()),
            "source": write_jsonl(tmp / "grid" / "source.jsonl", draw_pool(source_texts(), 7, 1_200_000))}


def rule_gaps(cells: list[dict], ratio: float) -> list[float]:
    """Per (corpus, budget) of the grid: the rule's size's score minus the best measured, at ``ratio``."""
    from roundtable.arms import sizing

    gaps = []
    for key in sorted({(c["corpus"], c["budget"]) for c in cells}):
        got = {(c["n_layer"], c["n_embd"]): c for c in cells if (c["corpus"], c["budget"]) == key}
        allowed = [k for k in got if k[1] // k[0] <= sizing.ASPECT[1]]
        pick = min(allowed, key=lambda k: sizing.predicted_loss(got[k]["params"], got[k]["tokens"],
                                                                got[k]["unique_tokens"], ratio))
        gaps.append(got[pick]["bits_per_byte"] - min(c["bits_per_byte"] for c in got.values()))
    return gaps


STEP_LAW_FROM = 3e11
"""The size step's law is fitted on the grid's cells from this budget up: below it runs of
18 to 650 steps are still in their first transient."""


def fit_step_law(cells: list[dict], min_budget: float = STEP_LAW_FROM) -> dict:
    """The Chinchilla form with repeated data, ``E_corpus + A/N^alpha + B/D'^beta`` in bits
    per byte (D' with R* = roundtable/forecast/size.py's), fitted to the grid's cells: N
    the shape's matrix-multiply parameters, D its training tokens (bytes), one E per
    corpus; a Huber loss (delta 1e-3) on log bits per byte from 36 starting points. Its A,
    alpha, B, beta are forecast/size.py's constants (E cancels in the step)."""
    import math

    import numpy as np
    from scipy.optimize import minimize

    from roundtable.forecast.size import R_STAR

    use = [c for c in cells if c["budget"] >= min_budget]
    corpora = sorted({c["corpus"] for c in use})
    n = np.array([matmul_params(c["n_layer"], c["n_embd"], VOCAB) for c in use], float)
    d, u = (np.array([c[k] for c in use], float) for k in ("tokens", "unique_tokens"))
    ud = np.minimum(u, d)
    d_eff = ud + ud * R_STAR * (1 - np.exp(-(d / ud - 1) / R_STAR))
    which = np.array([corpora.index(c["corpus"]) for c in use])
    y = np.log([c["bits_per_byte"] for c in use])

    def objective(p: np.ndarray) -> float:
        pred = np.exp(p[4:])[which] + math.exp(p[0]) / n ** p[1] + math.exp(p[2]) / d_eff ** p[3]
        r = np.abs(np.log(pred) - y)
        return float(np.where(r <= 1e-3, 0.5 * r * r, 1e-3 * (r - 0.5e-3)).sum())

    bounds = [(-5, 30), (0.01, 3), (-5, 30), (0.01, 3)] + [(-5, 2)] * len(corpora)
    best = min((minimize(objective, [a, al, b, be] + [0.0] * len(corpora), method="L-BFGS-B", bounds=bounds)
                for a in (2, 6) for b in (2, 6) for al in (0.2, 0.5, 0.9) for be in (0.2, 0.5, 0.9)),
               key=lambda o: o.fun)
    p = best.x
    pred = np.exp(p[4:])[which] + math.exp(p[0]) / n ** p[1] + math.exp(p[2]) / d_eff ** p[3]
    return {"A": math.exp(p[0]), "alpha": float(p[1]), "B": math.exp(p[2]), "beta": float(p[3]),
            "E": dict(zip(corpora, np.exp(p[4:]).tolist())), "cells": len(use),
            "mean_abs_error": float(np.mean(np.abs(pred - np.exp(y))))}


def calibrate(tmp: Path, emit: Callable[..., None], workers: int = 1) -> dict:
    corpora = grid_corpora(tmp)
    cells = [(c, x, b) for b in GRID_BUDGETS for c in corpora for x in GRID_SHAPES]
    cells.sort(key=lambda j: -j[2])
    runs = _map([(str(corpora[c]), str(tmp / "grid" / f"{c}-{b:g}-{x.n_layer}x{x.n_embd}"), b, fixed(x),
                  SEEDS.get(b, 1)) for c, x, b in cells], workers)
    grid = []
    for (c, x, b), r in zip(cells, runs):
        grid.append({"corpus": c, "budget": b, "n_layer": x.n_layer, "n_embd": x.n_embd, "params": r["params"],
                     "tokens": r["train_bytes"], "unique_tokens": r["unique_train_bytes"],
                     "bits_per_byte": r["final"]["valid_bits_per_byte"], "seed_scores": r["seed_scores"]})
    for cell in grid:
        emit(name="sizing_grid_cell", **cell)
    table = {str(ratio): [round(g, 3) for g in rule_gaps(grid, ratio)] for ratio in RATIOS}
    row = {"name": "sizing_ratio_calibration", "unit": "bits/byte", "rule_minus_best_per_cell": table,
           "best_ratio": min(RATIOS, key=lambda r: (max(rule_gaps(grid, r)), sum(rule_gaps(grid, r))))}
    emit(**row)
    emit(name="sizing_step_law", unit="bits/byte", **fit_step_law(grid))
    return row


def main() -> None:
    import argparse
    import tempfile

    p = argparse.ArgumentParser(prog="python -m bench.sizing", description=__doc__.splitlines()[0])
    p.add_argument("--calibrate", action="store_true", help="run the calibration grid instead of the check")
    p.add_argument("--quick", action="store_true", help="the smallest budget only")
    p.add_argument("--workers", type=int, default=1, help="comparisons at once, one core each (default 1)")
    p.add_argument("--keep", help="folder for the comparisons (default: a temporary one)")
    args = p.parse_args()

    def emit(**row) -> None:
        print(json.dumps(row), flush=True)

    with tempfile.TemporaryDirectory(prefix="roundtable-sizing-") as d:
        folder = Path(args.keep or d)
        if args.calibrate:
            calibrate(folder, emit, args.workers)
        else:
            bench_sizing(args.quick, folder, emit, args.workers)


if __name__ == "__main__":
    main()

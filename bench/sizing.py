"""Is ``size: auto`` the right size? (``python -m bench --only sizing``)

At two budgets in FLOPs, 10x apart, the scratch transformer is trained at the size the
rule (roundtable/arms/sizing.py) chooses, through ``size: auto``, and at sizes around it on
a ladder of shapes (two smaller, two larger where the ladder has them), all else equal:
one comparison per size, the same data, split, seed, recipe and evaluator, byte-level,
--context-bytes 128, no learning-rate search (the recipe's rate for every size). Each
budget reports where the measured best size falls against the rule's, and how far the
rule's score is from the best (goal: within 0.02 bits per byte). Budgets in FLOPs do not
depend on the machine's load; the figures do not either, only the wall clock does.

The data is built at run time: the docstrings of the standard library's modules, classes
and functions (200 bytes or more, each once), about 1.2 MB, 10% of them held out.
About 13 minutes on one core beside other work (``--quick``: the smaller budget only).
"""

from __future__ import annotations

import ast
import json
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

from roundtable.arms.sizing import Shape, matmul_params

BUDGETS = (3e11, 3e12)
"""Training FLOPs per run: the rule picks 1 x 64 and 2 x 64 here on this data."""
LADDER = (Shape(1, 32), Shape(1, 64), Shape(2, 64), Shape(2, 128), Shape(4, 128), Shape(4, 256))
"""Sizes tried around the rule's, smallest first (1 x 32, one head of 32, is below the family)."""
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


def settings(data: Path, out: Path, budget: float, arm: dict) -> dict:
    return {"task": "lm", "data": str(data), "valid_fraction": 0.1, "split_seed": 0, "arms": "scratch-transformer",
            "arm_settings": {"scratch-transformer": arm}, "budget": f"{budget:g}flop", "curve_points": 0,
            "lr_search": 0, "seeds": 1, "context_bytes": CONTEXT_BYTES, "out": str(out), "device": "cpu",
            "precision": "fp32", "keep_models": "none", "threads": 1}


def one_run(data: Path, out: Path, budget: float, arm: dict) -> dict:
    from bench.calibration import run_comparison

    _, results = run_comparison(settings(data, out, budget, arm))
    return results["runs"][0]


def bench_sizing(quick: bool, tmp: Path, emit: Callable[..., None]) -> list[dict]:
    from bench.calibration import write_jsonl
    from roundtable.evaluate.precision import peak_gflops

    data = write_jsonl(tmp / "sizing" / "docstrings.jsonl", docstring_texts())
    peak = peak_gflops("fp32")
    rows = []
    for budget in BUDGETS[:1] if quick else BUDGETS:
        t0 = time.perf_counter()
        auto = one_run(data, tmp / "sizing" / f"{budget:g}-auto", budget, {"size": "auto"})
        s = auto["sizing"]
        rule = Shape(s["n_layer"], s["n_embd"])
        scores = {rule: auto}
        for shape in sizes_around(rule):
            if shape not in scores:
                scores[shape] = one_run(data, tmp / "sizing" / f"{budget:g}-{shape.n_layer}x{shape.n_embd}", budget,
                                        {"n_layer": shape.n_layer, "n_embd": shape.n_embd,
                                         "n_head": max(1, shape.n_embd // 64)})
        table = sorted(scores.items(), key=lambda kv: kv[1]["params"])
        bpb = {str(k): r["final"]["valid_bits_per_byte"] for k, r in table if r["status"] == "ok"}
        best = min(bpb, key=lambda k: bpb[k])
        gap = bpb[str(rule)] - bpb[best]
        sizes = [{"shape": str(k), "params": r["params"], "bits_per_byte": round(bpb.get(str(k), float("nan")), 4),
                  "steps": r.get("steps"), "epochs": round((r.get("train_bytes") or 0) / max(s["unique_tokens"], 1), 2),
                  "gflop_per_s": round(r["train_flops"] / r["train_seconds"] / 1e9, 1) if r.get("train_seconds") else None}
                 for k, r in table]
        mfu = [x["gflop_per_s"] / peak for x in sizes if x["gflop_per_s"]]
        row = {"name": f"sizing_{budget:g}flop_rule_minus_best", "value": round(gap, 4), "unit": "bits/byte",
               "goal": f"<= {GOAL}", "rule": str(rule), "best": best, "unique_tokens": s["unique_tokens"],
               "rule_epochs": round(s["epochs"], 2), "sizes": sizes, "peak_gflops_1_thread": round(peak, 1),
               "mfu_range": [round(min(mfu), 2), round(max(mfu), 2)] if mfu else None,
               "wall_seconds": round(time.perf_counter() - t0, 1)}
        emit(**row)
        rows.append(row)
    return rows


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="roundtable-sizing-") as d:
        bench_sizing(False, Path(d), lambda **row: print(json.dumps(row), flush=True))


if __name__ == "__main__":
    main()

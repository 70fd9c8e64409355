"""Regenerate the demo's figures in docs/benchmarks.md from a demo run.

What a new user sees there is then what a demo run wrote, with the version that wrote it.

    make demo && .venv/bin/python -m bench.demo_figures roundtable-demo

rewrites the lines between ``<!-- demo-figures:start -->`` and ``<!-- demo-figures:end -->``
in docs/benchmarks.md from ``roundtable-demo/results.json`` (``--print`` only prints them).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from pathlib import Path

from roundtable.results import RESULTS

START, END = "<!-- demo-figures:start -->", "<!-- demo-figures:end -->"
PAGE = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown CPU"


def figures(results: dict) -> str:
    """Markdown lines: one per run, the verdict, the baseline and the wall clock."""
    budget = results.get("budget") or {}
    env = results["environment"]
    # the version in the block itself, so figures kept after a release never read as current
    lines = [f"Measured by `make demo` (roundtable {env.get('roundtable', '?')}) on {cpu_name()} "
             f"({env.get('threads')} threads); "
             f"budget {budget.get('value', '?')} {budget.get('kind', '')} per run.", ""]
    lines += ["| arm | steps | epochs | bits per byte, step 0 -> final | context | learning rate |",
              "|---|---|---|---|---|---|"]
    train_bytes = results["data"]["train_bytes"]
    for r in results["runs"]:
        if r.get("status") != "ok":
            lines.append(f"| {r['arm']} | {r['status']} | | | | |")
            continue
        lines.append(
            f"| {r['arm']} | {r['steps']} | {r['train_bytes'] / train_bytes:.2g} | "
            f"{r['curve'][0]['valid_bits_per_byte']:.3f} -> {r['final']['valid_bits_per_byte']:.3f} | "
            f"{r['context_bytes']} bytes ({r['block_size']} tokens) | {r['recipe']['learning_rate']:.3g} |")
    v = results.get("verdict") or {}
    lines += ["", f"Verdict: {v.get('sentence', '-')}"]
    for w in v.get("warnings") or []:
        lines.append(f"Warning: {w}")
    wall = results.get("wall_seconds")
    if wall and budget.get("kind") == "seconds":
        spent = sum(budget["value"] * r.get("budget_share", 1.0) for r in results["runs"] + results.get("ladder", []))
        reserve = {r["arm"]: r.get("search_reserve", 0.0) for r in results["runs"]}
        paid = ", ".join(f"{share:.0%} of {arm}'s" for arm, share in reserve.items())
        search = (f"learning-rate search {results.get('lr_search_seconds', 0):.0f} s, inside each arm's own budget "
                  f"({paid})" if any(reserve.values()) else
                  f"learning-rate search {results.get('lr_search_seconds', 0):.0f} s")
        lines.append(f"Wall clock {wall / 60:.1f} min for {spent / 60:.0f} min of budget ({wall / spent:.2f}x), "
                     f"{search}.")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("demo", nargs="?", default="roundtable-demo")
    p.add_argument("--page", "--readme", default=str(PAGE), help="the file holding the block")
    p.add_argument("--print", action="store_true", help="print the figures, change nothing")
    args = p.parse_args()
    text = figures(json.loads((Path(args.demo) / RESULTS).read_text(encoding="utf-8")))
    if args.print:
        print(text)
        return
    page = Path(args.page)
    head, rest = page.read_text(encoding="utf-8").split(START, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()

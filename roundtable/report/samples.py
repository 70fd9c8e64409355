"""What the trained models write, for the page to show beside the numbers: lm
continuations of fixed prompts (in results.json) and generated summaries of validation
documents (each run's generations.jsonl), a few per arm, side by side.
"""

from __future__ import annotations

import json
from pathlib import Path

from roundtable.report.load import by_arm
from roundtable.report.table import DASH
from roundtable.results import Results, Run

N_SAMPLES = 3
CELL_CHARS = 600


def clip(text: str | None, limit: int = CELL_CHARS) -> str:
    """Long documents would swamp a table; the full text is in the run folder."""
    s = DASH if text is None else str(text)
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def _pick(runs: list[Run], has) -> Run | None:
    """The run whose samples represent an arm: finished first, then the most data, the lowest seed."""
    candidates = [r for r in runs if has(r)]
    return min(candidates, key=lambda r: (not r.ok, -r.fraction, r.seed)) if candidates else None


def lm_rows(results: Results) -> list[list[str]] | None:
    """Prompt | one column per arm, for the first prompts of each arm."""
    picked = {a: _pick(rs, lambda r: bool(r.samples)) for a, rs in by_arm(results.runs).items()}
    texts = {a: r.samples[:N_SAMPLES] for a, r in picked.items() if r}
    if not texts:
        return None
    prompts = list(dict.fromkeys(s.prompt for ss in texts.values() for s in ss))
    lookup = {a: {s.prompt: s.text for s in ss} for a, ss in texts.items()}
    return [["prompt"] + list(texts)] + [[clip(p)] + [clip(lookup[a].get(p)) for a in texts] for p in prompts]


def _read_jsonl(path: Path, n: int) -> list[dict]:
    """The first n rows of a run's generations (written whole before its run is marked ok)."""
    found: list[dict] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            found.append(json.loads(line))
            if len(found) >= n:
                break
    return found


def summarize_rows(results: Results, out: Path) -> list[list[str]] | None:
    """Document | reference | one column per arm's prediction, matched by document id."""
    def has(r: Run) -> bool:
        return r.generations_file is not None and (out / r.generations_file).is_file()

    picked = {a: _pick(rs, has) for a, rs in by_arm(results.runs).items()}
    gens = {a: _read_jsonl(out / r.generations_file, N_SAMPLES) for a, r in picked.items() if r}
    gens = {a: g for a, g in gens.items() if g}
    if not gens:
        return None
    by_id = {a: {str(g.get("id", i)): g for i, g in enumerate(gs)} for a, gs in gens.items()}
    rows = [["document", "reference"] + list(gens)]
    for i, g in enumerate(next(iter(gens.values()))):
        gid = str(g.get("id", i))
        preds = [clip(by_id[a].get(gid, {}).get("prediction")) for a in gens]
        rows.append([clip(g.get("document")), clip(g.get("reference"))] + preds)
    return rows

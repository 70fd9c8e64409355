"""results.json as typed, read-only records: what the Python API returns.

The fields follow the results.json contract (DESIGN.md). A field that an older or
unfinished file lacks (or holds as null) takes the default written here, so reading
never fails on a missing name; ``raw`` keeps every field exactly as written. Light on
purpose: no torch, so a notebook can read a comparison's results in a blink.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from roundtable.errors import UserError

RESULTS = "results.json"


def run_name(arm: str, seed: int, fraction: float, share: float = 1.0) -> str:
    """A run's folder name under ``runs/`` and its name in TensorBoard and trackers; a
    rung of the forecast's budget ladder carries its share of the budget."""
    return f"{arm}-seed{seed}-frac{fraction:g}" + (f"-budget{share:g}" if share < 1 else "")


def _build(cls, d: Mapping, **nested):
    """``cls`` from a mapping: each field from its key, its default where missing or
    null; ``nested`` gives fields already converted."""
    d = d if isinstance(d, Mapping) else {}
    kw = {f.name: d[f.name] for f in fields(cls) if f.name != "raw" and d.get(f.name) is not None}
    return cls(**{**kw, **nested}, raw=dict(d))


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation of a run: step 0 (before training), at intervals, and final."""

    step: int = 0
    seconds: float = 0.0
    train_tokens: int = 0
    train_bytes: int = 0
    flops: float = 0.0
    subset_bits_per_byte: float | None = None
    """The same subset of the validation text at every point."""
    valid_bits_per_byte: float | None = None
    """The whole validation text: step 0 and the final point only."""
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Run:
    """One arm x seed x data fraction."""

    arm: str = ""
    seed: int = 0
    fraction: float = 1.0
    status: str = "failed"
    """ok, diverged or failed; pending: a run of another shard, not done yet."""
    model: str = ""
    params: int = 0
    trainable_params: int = 0
    steps: int = 0
    train_seconds: float = 0.0
    train_tokens: int = 0
    train_bytes: int = 0
    train_flops: float = 0.0
    context_bytes: int | None = None
    block_size: int | None = None
    padding_fraction: float = 0.0
    precision: str | None = None
    error: str | None = None
    run_dir: str | None = None
    final: dict = field(default_factory=dict)
    """Final scores: valid_bits_per_byte, valid_perplexity, valid_token_accuracy (and ROUGE for summarize)."""
    curve: tuple[CurvePoint, ...] = ()
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return run_name(self.arm, self.seed, self.fraction)

    @property
    def bits_per_byte(self) -> float | None:
        return self.final.get("valid_bits_per_byte")


@dataclass(frozen=True)
class Verdict:
    metric: str = ""
    winner: str | None = None
    margin: float | None = None
    ci95: tuple[float, float] | None = None
    sentence: str = ""
    warnings: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Results:
    """A comparison: its runs and, once complete, its verdict."""

    task: str = "lm"
    complete: bool = False
    runs: tuple[Run, ...] = ()
    verdict: Verdict | None = None
    """None until the comparison is complete."""
    data: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping) -> Results:
        runs = tuple(
            _build(Run, r, curve=tuple(_build(CurvePoint, p) for p in r.get("curve") or ()))
            for r in d.get("runs") or ()
        )
        v = d.get("verdict")
        verdict = None if not isinstance(v, Mapping) else _build(
            Verdict, v, ci95=tuple(v["ci95"]) if v.get("ci95") else None, warnings=tuple(v.get("warnings") or ()),
        )
        return _build(cls, d, runs=runs, verdict=verdict)

    def runs_of(self, arm: str) -> tuple[Run, ...]:
        return tuple(r for r in self.runs if r.arm == arm)

    def table(self) -> str:
        """The table ``roundtable compare`` prints at the end."""
        from roundtable.summary import format_table, summary_rows

        return format_table(summary_rows(self.raw))


def load_results(path: str | Path) -> Results:
    """Results of a comparison folder (or of its results.json), complete or not."""
    p = Path(path)
    p = p / RESULTS if p.is_dir() else p
    if not p.is_file():
        raise UserError(f"no results.json in {p.parent if p.name == RESULTS else p}")
    with open(p, encoding="utf-8") as f:
        return Results.from_dict(json.load(f))

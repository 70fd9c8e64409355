"""The short table printed at the end of a comparison (and ``roundtable.table``), and the
one number formatter it shares with the report: a value that was not measured prints as
"-" in both."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only
    from roundtable.results import Results

DASH = "-"
LABELS = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L"}
"""Column titles of metrics that have a usual spelling."""


def fmt(v: float | None, spec: str = ".3f") -> str:
    """A number as ``spec`` formats it, or "-" where there is none."""
    return DASH if v is None else format(v, spec)


def summary_rows(results: Results) -> list[list[str]]:
    rows = [["arm", "seed", "frac", "status", "steps", "train s", "lr", "block", "ctx bytes", "bpb step 0",
             "bpb final", "ppl (own tokens)", "acc (own tokens)"]]
    extra = results.facts.extra_metrics
    rows[0] += [LABELS.get(k, k) for k in extra]
    for r in results.runs:
        row = [
            r.arm, fmt(r.seed, "d"), fmt(r.fraction, "g"), r.status, fmt(r.steps, "d"), fmt(r.train_seconds, ".0f"),
            fmt(r.recipe.learning_rate, ".3g"), fmt(r.block_size, "d"), fmt(r.context_bytes, "d"),
            fmt(r.curve[0].valid_bits_per_byte if r.curve else None),
            fmt(r.final.get("valid_bits_per_byte")), fmt(r.final.get("valid_perplexity"), ".2f"),
            fmt(r.final.get("valid_token_accuracy")),
        ]
        row += [fmt(r.final.get(k)) for k in extra]
        rows.append(row)
    return _metric_first(rows, results)


FIRST_AFTER = 3
"""Columns that say which run a row is (arm, seed, frac): the verdict's metric follows them."""


def _metric_first(rows: list[list[str]], results: Results) -> list[list[str]]:
    """The verdict's metric (the task's primary one) as the first column after the run's
    name, so that a wide table (summarize's ROUGE) shows the score the verdict is on
    without scrolling."""
    metric = (results.verdict.metric if results.verdict is not None and results.verdict.metric
              else results.facts.primary_metric)
    title = {"valid_bits_per_byte": "bpb final"}.get(metric, LABELS.get(metric, metric))
    if title not in rows[0]:
        return rows
    i = rows[0].index(title)
    return [[*r[:FIRST_AFTER], r[i], *r[FIRST_AFTER:i], *r[i + 1:]] for r in rows]


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_summary(results: Results) -> None:
    print(format_table(summary_rows(results)))
    v = results.verdict
    if v is not None and v.sentence:
        print(f"\nverdict: {v.sentence}")
    for w in v.warnings if v is not None else ():
        print(f"warning: {w}")

"""The report's input: results.json read into typed records once, and the selections
that the figures and the page share (which runs speak for the verdict, in which order).

A file that cannot be read, or is not roundtable's (a value of the wrong type), gives an
empty Results and a one-line note that the page shows first: the report says what is
wrong instead of failing, and never guesses at numbers. What roundtable itself wrote is
read as it is: the records type every field, and their defaults stand for the fields an
older or unfinished file lacks.
"""

from __future__ import annotations

import json
from pathlib import Path

from roundtable.results import RESULTS, MalformedResults, Results, Run


def load(out: Path) -> tuple[Results, str | None]:
    """The results in ``out``, plus a note when they could not be read."""
    try:
        return Results.from_dict(json.loads((out / RESULTS).read_text(encoding="utf-8"))), None
    except (OSError, ValueError, MalformedResults) as e:
        return Results(), f"Could not read {RESULTS}: {e}"


def arms(runs: list[Run] | tuple[Run, ...]) -> list[str]:
    """Arms in the order the comparison ran them: colours and columns follow it."""
    return list(dict.fromkeys(r.arm for r in runs))


def by_arm(runs) -> dict[str, list[Run]]:
    groups: dict[str, list[Run]] = {}
    for r in runs:
        groups.setdefault(r.arm, []).append(r)
    return groups


def top_fraction(results: Results) -> float | None:
    """The fraction the verdict speaks about: the largest one that finished."""
    if results.verdict is not None and results.verdict.fraction is not None:
        return results.verdict.fraction
    runs = [r for r in results.runs if r.ok] or results.runs
    return max((r.fraction for r in runs), default=None)


def at_top(results: Results) -> list[Run]:
    """Finished runs at the verdict's fraction."""
    top = top_fraction(results)
    return [r for r in results.runs if r.ok and r.fraction == top]

"""Run-to-run spread that one seed cannot show: the floor the verdict assumes, as measured.

Two runs of one arm that differ only in their seeds (initial weights, data order) end at
different scores. With one seed per arm that spread is invisible to any resampling of
documents, and an interval over documents alone called two copies of one arm different
in most comparisons (``python -m bench --only calibration``). So every trained arm's
score carries a run-to-run standard deviation of at least ``floor`` times the score:
the spread the calibration bench measured for its family, shipped in seed_spread.json
with how it was measured. With several seeds the arm's own spread counts where it is
larger. An arm family or metric with no measurement gets the largest measured floor for
that metric, never none.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

SPREAD_FILE = Path(__file__).with_name("seed_spread.json")


@functools.lru_cache(maxsize=1)
def table() -> dict:
    """The shipped measurements: metric -> family -> {"relative_sd": ..., how measured}."""
    return json.loads(SPREAD_FILE.read_text(encoding="utf-8"))


def floor(family: str, metric: str) -> float | None:
    """The smallest run-to-run sd of one run's final ``metric``, relative to the score,
    assumed for an arm of ``family`` (pretrained or scratch); None where the metric has
    no measurement at all."""
    measured = {k: v["relative_sd"] for k, v in table().get(metric, {}).items() if isinstance(v, dict)}
    if not measured:
        return None
    return measured.get(family, max(measured.values()))

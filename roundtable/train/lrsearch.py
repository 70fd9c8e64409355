"""The same learning-rate search for every arm, so each arm trains at its own best rate.

One schedule shape or one rate for all arms is not equal treatment (a constant Adam
0.01 LSTM loses up to 1.4 bits per byte to a warmup-and-decay schedule). Each arm
tries a few rates on a log grid around its recipe's (x 10^(k/2)), each on a short slice
of the budget with the arm's own schedule over that slice, and keeps the rate whose
model scores best on the tuning text: the same grid, slice, tuning text and evaluator
for every arm. The tuning text is whole training documents held out from the slices'
training (``tuning_split``), never validation text: the rate is not chosen on the bytes
the verdict scores. The runs themselves train on every training document, the tuning
ones included: what the verdict scores stays disjoint from both, and the user's data,
the amount the question turns on, is not cut for the sake of the search.

A short slice misjudges rates in a known direction, so among rates whose scores are within ``tie`` of the best, with a schedule that decays over the
slice, the largest wins: short slices favour small rates there (short-horizon bias, Wu et
al. 2018). At a constant rate there is no known direction (early progress grows with the
rate, the level a long run settles at rises with it): tied slices have not told the rates
apart, so the recipe's rate is kept where it is one of them, as when a slice is too short,
and the best score wins otherwise. On the demo's LSTM the largest tied rate cost 0.6 bits
per byte: 0.01 (the recipe's) and 0.032 came within 0.2% and 1.1% of each other after
35-38-step slices, each ahead once; whole 84 s runs scored 2.13 and 2.72. Where a slice holds too few steps to tell rates apart (a slow
arm on a CPU), the search stops after its first slice and the recipe's rate is kept;
where even the machine's peak speed could not fit enough steps in a slice, that is known
before any training and no slice runs at all.

Each arm pays for its own search out of its own budget: the slices it ran are set aside
from its runs' budget (``Comparison.reserve``) and it trains on the rest; an arm whose
slices could not run trains on all of it. So search and training together spend the same
budget for every arm, and a search adds no wall clock beyond it (searched outside the
budget, the demo's took 30% more wall clock than its budget said).
"""

from __future__ import annotations

import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from roundtable.config.settings import ArmConfig, BudgetConfig, SearchConfig
from roundtable.core.errors import Diverged

TUNING_SHARE = 0.1
"""The most of the training documents held out as the search's tuning text."""

PEAK_MARGIN = 2.0
"""A slice is skipped unseen only if even this many times the measured matmul peak could
not fit the minimum steps in it: the bound must never skip a slice that would have been
long enough (a probe on a busy machine can read low)."""


class SliceTooShort(Exception):
    """Raised by a ``train_slice`` that knows, before training, that the slice cannot
    hold ``steps`` (an upper bound) or more steps."""

    def __init__(self, steps: int, why: str):
        super().__init__(why)
        self.steps, self.why = steps, why


def most_steps(budget: BudgetConfig, tokens_per_step: float, flops_per_step: float,
               peak_gflops: float | None, bytes_per_token: float = 1.0) -> int | None:
    """An upper bound on the optimizer steps a run can take under ``budget``: exact for
    step, token, byte and FLOP limits; for seconds, the steps ``PEAK_MARGIN`` x the
    measured matmul peak would fit (None where no peak is known, e.g. on a GPU)."""
    bounds = []
    if budget.max_steps:
        bounds.append(budget.max_steps)
    if budget.tokens and tokens_per_step > 0:
        bounds.append(math.ceil(budget.tokens / tokens_per_step))
    if budget.bytes and tokens_per_step > 0:
        bounds.append(math.ceil(budget.bytes / (tokens_per_step * bytes_per_token)))
    if budget.flops and flops_per_step > 0:
        bounds.append(math.ceil(budget.flops / flops_per_step))
    if budget.seconds and peak_gflops and flops_per_step > 0:
        bounds.append(int(budget.seconds * PEAK_MARGIN * peak_gflops * 1e9 / flops_per_step))
    return min(bounds) if bounds else None


@dataclass
class SearchResult:
    arm: str
    recipe_rate: float
    chosen_rate: float
    kept_recipe: bool
    reason: str
    seconds: float
    candidates: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def slices_run(result: dict) -> int:
    """The slices a search trained (to its end or to divergence): what it took of the budget."""
    return sum(c.get("status") in ("ok", "diverged") for c in result.get("candidates", ()))


def _scored(scored: list[dict], result: SearchResult) -> str:
    """'3 rates', or '1 of 3 rates scored' where a slice ended too short to be scored."""
    n = len(result.candidates)
    return f"{n} rates" if len(scored) == n else f"{len(scored)} of {n} rates scored"


def tuning_split(records: list, max_bytes: int, seed: int) -> tuple[list, list]:
    """(the slices' training documents, the tuning documents): whole training documents
    drawn at random (seeded by ``seed``, so the same for every arm and every resume) until
    they hold ``max_bytes`` (0: no limit), never more than TUNING_SHARE of the documents
    and at least one; no tuning text where there are fewer than two documents (holding out
    the only one would leave nothing to train on). Both keep the records' order."""
    if len(records) < 2:
        return list(records), []
    order = list(range(len(records)))
    random.Random(f"lr-search-tuning-{seed}").shuffle(order)
    chosen, total = set(), 0
    for i in order[: max(1, int(TUNING_SHARE * len(records)))]:
        if max_bytes and total >= max_bytes:
            break
        chosen.add(i)
        total += len(records[i].text.encode()) + len((records[i].summary or "").encode())
    return ([r for i, r in enumerate(records) if i not in chosen], [r for i, r in enumerate(records) if i in chosen])


def grid(rate: float, n: int) -> list[float]:
    """The recipe's rate first (it is the one kept if slices are too short), then the
    others nearest first: rate x 10^(k/2) for k = -1, 1, -2, 2, ..."""
    ks = [0] + [s * k for k in range(1, n) for s in (-1, 1)]
    return [rate * 10 ** (k / 2) for k in ks[:n]]


def search_rate(arm: ArmConfig, budget: BudgetConfig, cfg: SearchConfig, train_slice, folder: Path,
                unavailable: str | None = None) -> SearchResult:
    """``train_slice(arm, budget, run_dir) -> (steps, score)`` trains one fresh model
    (seed 0) and returns its steps and bits per byte on the tuning text (lower is better).
    ``unavailable``: why no slice can run (no tuning text): the recipe's rate is kept."""
    t0 = time.perf_counter()
    result = SearchResult(arm.name, arm.learning_rate, arm.learning_rate, True, "", 0.0)
    if cfg.rates <= 1:
        result.reason = "search off"
        return result
    if unavailable:
        result.reason = f"{unavailable}: the recipe's rate is kept"
        return result
    small = budget.scaled(cfg.share)
    for rate in grid(arm.learning_rate, cfg.rates):
        row = {"learning_rate": rate}
        try:
            steps, value = train_slice(replace(arm, learning_rate=rate), small, folder / f"lr{rate:.3g}")
            row.update(steps=steps, subset_bits_per_byte=value, status="ok")
        except SliceTooShort as e:
            row.update(steps=e.steps, subset_bits_per_byte=None, status="not run")
            result.candidates.append(row)
            kind, size = small.kind
            result.reason = (f"a slice of {size:g} {kind} would hold at most {e.steps} steps ({e.why}), fewer than "
                             f"{cfg.min_steps}: too short to tell rates apart")
            break
        except Diverged as e:
            steps = None  # a diverged rate tells what it has to tell
            row.update(steps=e.step, subset_bits_per_byte=None, status="diverged")
        result.candidates.append(row)
        if len(result.candidates) == 1 and steps is not None and steps < cfg.min_steps:  # judged once, at the recipe
            kind, size = small.kind
            result.reason = (f"a slice of {size:g} {kind} held {steps} steps, fewer than {cfg.min_steps}: "
                             "too short to tell rates apart")
            break
    shutil.rmtree(folder, ignore_errors=True)
    scored = [c for c in result.candidates if c.get("subset_bits_per_byte") is not None
              and math.isfinite(c["subset_bits_per_byte"])]
    if not result.reason and scored:
        best = min(c["subset_bits_per_byte"] for c in scored)
        tied = [c for c in scored if c["subset_bits_per_byte"] <= best * (1 + cfg.tie)]
        if arm.schedule != "constant":
            result.chosen_rate = max(c["learning_rate"] for c in tied)
            result.reason = (f"the largest of {_scored(scored, result)} within {cfg.tie:.0%} of the best "
                             "tuning score (a decaying schedule)")
        elif any(c["learning_rate"] == arm.learning_rate for c in tied):
            result.chosen_rate = arm.learning_rate
            result.reason = (f"the recipe's, within {cfg.tie:.0%} of the best tuning score of "
                             f"{_scored(scored, result)} (a constant rate: tied slices do not tell rates apart)")
        else:
            result.chosen_rate = min(scored, key=lambda c: c["subset_bits_per_byte"])["learning_rate"]
            result.reason = (f"the best tuning score of {_scored(scored, result)}, the recipe's not within "
                             f"{cfg.tie:.0%} of it (a constant rate)")
        result.kept_recipe = result.chosen_rate == arm.learning_rate
    elif not result.reason:
        result.reason = "every slice diverged: the recipe's rate is kept"
    result.seconds = time.perf_counter() - t0
    return result

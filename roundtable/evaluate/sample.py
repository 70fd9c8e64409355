"""The validation text every arm is scored on, sized to the budget.

A whole-text score runs the model over every validation token: with the 135M default
on two CPU cores that is about 550 bytes a second, so 30 kB cost a minute, and a
user's validation split grows with their data (600 summarize pairs cost ten minutes).
Scored in full, evaluation would take more of the wall clock than training. So, with a
wall-clock budget, the text scored for the verdict is cut to what the slowest arm scores
in ``--eval-share`` of the budget: the same bytes for every arm and every
curve point (the task's ``eval_sample``: a seeded random draw of units, LM documents or
pieces of long ones read after their preceding text, 4 kB at least; summarize pairs, 30
at least, so the bootstrap has units to resample). A random draw, not each document's
leading part: the sample's score is an estimate of the whole text's, and the bootstrap's
interval over the drawn units is that estimate's. Each arm's cost is its measured
seconds per token position times the positions a whole score runs (windows, overlaps and all). The speed
is measured once per machine and model shape and kept in the roundtable cache, so the
same comparison run again cuts the same sample (and finds its step-0 score cached).
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass

import torch

from roundtable.core import dist
from roundtable.core.paths import cache_root
from roundtable.core.version import __version__
from roundtable.evaluate.scorer import ArmEvaluator, positions, score
from roundtable.results import read_json, write_json

PROBE_WINDOWS = 2
"""Windows timed per arm and process on a CPU, after one untimed: a few seconds for the
default model."""


@dataclass
class ScoredSample:
    """How the scored validation text was chosen (results.json ``eval_sample``)."""

    share: float
    """--eval-share: the most of the budget one whole-text score of the slowest arm may take."""
    limit_seconds: float | None
    valid_bytes: int
    """Scored bytes of the whole validation split."""
    max_bytes: int | None
    """The cut: None when everything is scored."""
    scored_bytes: int
    """What the task's sample of that cut holds (its floors can keep more than the cut)."""
    seconds_per_byte: dict[str, float]
    """Each arm's estimated cost of scoring one byte of the validation text."""
    slowest: str | None
    reason: str
    seed: int | None = None
    """Seed of the draw (--split-seed); None when all of it is scored."""
    units: int | None = None
    """Scoring units drawn: documents, or pieces of long ones (LM)."""
    documents: int | None = None
    """Validation documents the units come from."""
    method: str = ""
    """How the units were drawn."""

    @property
    def cut(self) -> bool:
        return self.max_bytes is not None

    def to_dict(self) -> dict:
        return asdict(self)


def speed_key(model, evaluator: ArmEvaluator, precision: str, device: str) -> str:
    """What a scoring speed depends on: the model's shape (not its weights), the window,
    stride and batch, the number format, the device and threads, the versions."""
    kind = torch.device(device).type
    where = torch.cuda.get_device_name() if kind == "cuda" else f"{platform.processor()}|{torch.get_num_threads()}"
    text = json.dumps({"model": repr(model), "window": evaluator.window, "stride": evaluator.stride,
                       "batch_tokens": evaluator.batch_tokens, "precision": precision, "device": where,
                       "world": dist.world(), "versions": [__version__, torch.__version__]}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def seconds_per_position(model, evaluator: ArmEvaluator, precision: str, device: str) -> float:
    """Seconds per token position a score of this model runs (under torchrun, of the
    whole group): read from the machine's cache, else timed on the longest windows of the
    validation text and kept. Every process takes the slowest reading (a collective)."""
    key = speed_key(model, evaluator, precision, device)
    path = cache_root() / "speeds" / f"{key}.json"
    found = read_json(path).get("seconds_per_position") if path.is_file() else None
    (missing,) = dist.all_max([0.0 if found else 1.0])
    if not missing:  # nodes with caches of their own may differ: all take the slowest, as below
        return dist.all_max([float(found)])[0]

    def run(windows: int):
        return score(model, evaluator.full, evaluator.window, evaluator.stride, evaluator.batch_tokens, device,
                     "speed", False, precision, max_windows=windows * dist.world())

    run(1)  # warm-up: first-call costs (kernels, allocations) are not scoring speed
    # two windows on a CPU (a full batch is no faster per token there); a full batch elsewhere
    per_batch = max(1, evaluator.batch_tokens // evaluator.window)
    s = run(PROBE_WINDOWS if torch.device(device).type == "cpu" else max(PROBE_WINDOWS, per_batch))
    (seconds,) = dist.all_max([s.seconds])
    value = seconds / max(s.n_positions, 1)
    if dist.is_main():
        write_json(path, {"seconds_per_position": value})
    return value


def size(share: float, budget_seconds: float | None, valid_bytes: int, cost: dict[str, float],
         sample_bytes=lambda cut: cut) -> ScoredSample:
    """The cut for ``cost``: each arm's seconds per scored byte of the validation text.
    ``sample_bytes(cut)``: the scored bytes of the task's sample for that cut."""
    if not share or not budget_seconds or not cost:
        why = "--eval-share 0" if not share else "not a wall-clock budget"
        return ScoredSample(share, None, valid_bytes, None, valid_bytes, cost, None, f"all scored ({why})")
    slowest = max(cost, key=cost.get)
    limit = share * budget_seconds
    fit = int(limit / cost[slowest]) if cost[slowest] > 0 else valid_bytes
    scored = sample_bytes(max(fit, 1)) if fit < valid_bytes else valid_bytes
    if scored >= valid_bytes:
        return ScoredSample(share, limit, valid_bytes, None, valid_bytes, cost, slowest,
                      f"all scored: {slowest} scores it in {cost[slowest] * valid_bytes:.0f} s"
                      + (" (or the smallest sample is all of it)" if fit < valid_bytes else ""))
    return ScoredSample(share, limit, valid_bytes, max(fit, 1), scored, cost, slowest,
                  f"{slowest} would take {cost[slowest] * valid_bytes:.0f} s for all of it, "
                  f"{limit:.0f} s are allowed")


def arm_cost(model, evaluator: ArmEvaluator, precision: str, device: str) -> float:
    """Seconds to score one byte of the arm's whole validation text."""
    pos = positions(evaluator.full, evaluator.window, evaluator.stride)
    return seconds_per_position(model, evaluator, precision, device) * pos / max(evaluator.full.n_bytes, 1)


def kilobytes(n: int) -> str:
    """Bytes in kB as the log lines and the warnings print them."""
    return f"{n / 1e3:.1f} kB" if n < 10_000 else f"{n / 1e3:.0f} kB"


def scoring_line(sample: dict) -> str:
    """The log line that says how much of the validation text every arm is scored on."""
    return (f"scoring {kilobytes(sample['scored_bytes'])} of the {kilobytes(sample['valid_bytes'])} of validation "
            f"text ({sample['reason']}; --eval-share 0 scores all of it)")


def draw(task, valid: list, share: float, budget_seconds: float | None, cost: dict[str, float], seed: int) -> ScoredSample:
    """The sample of ``valid`` for ``cost`` (``size``), drawn by the task with ``seed``,
    with what it holds."""
    s = size(share, budget_seconds, sum(task.scored_bytes(valid)), cost,
             lambda cut: sum(task.scored_bytes(task.eval_sample(valid, cut, seed))))
    if s.cut:
        s.units, s.documents = task.sample_counts(task.eval_sample(valid, s.max_bytes, seed))
        s.seed, s.method = seed, task.sample_method()
    return s

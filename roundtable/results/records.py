"""results.json as typed, read-only records: what the Python API, the report, the summary
table and ``roundtable generate`` read.

A file is converted once, here, and every field gets the type written on its record, so
no reader checks types again. A field that an older or unfinished file lacks (or holds as
null) takes the default written here: None where the value was not measured (a diverged
run has no ``steps``), an empty mapping or tuple for a list of things. A value of the
wrong type (a string where a number belongs) raises ``MalformedResults`` naming where it
is: such a file was not written by roundtable, and guessing would show wrong numbers.
``raw`` keeps every field exactly as written, also those added after this reader.
The published contract is ``schema.json`` beside this file. Light on purpose: no torch,
so a notebook reads a comparison's results in a blink.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from roundtable.core.convert import ConversionError, as_written, build
from roundtable.core.errors import UserError

RESULTS = "results.json"
"""The file a comparison folder's results are in: the one name every module uses."""
RUN_FILE = "run.json"
"""A run's own record, written when it ends (runs/<name>/run.json): what shards merge."""
COMPARISON = "comparison.json"
"""A sharded comparison's identity and settings, so ``report`` can merge alone."""
STATE_FILE = "roundtable_state.json"
"""The file that marks a training checkpoint complete (train.py writes it, status.py reads it)."""
SCORES = "valid_scores.npz"
"""A run's per-document validation scores (the bootstrap's input), in its run folder."""
GENERATIONS = "generations.jsonl"
"""A run's generated validation outputs with their references (summarize), in its run folder."""
REPORT_HTML, REPORT_MD = "report.html", "report.md"

Interval = tuple[float | None, float | None]
"""(low, high); a bound is None where the writer had no finite value."""


class MalformedResults(UserError):
    """A results.json that is not JSON, or whose values have the wrong types: not
    roundtable's output. The message says where: ``runs[2].seed: expected an integer, ...``."""


def run_name(arm: str, seed: int, fraction: float, share: float = 1.0) -> str:
    """A run's folder name under ``runs/`` and its name in TensorBoard and trackers; a
    rung of the forecast's budget ladder carries its share of the budget."""
    return f"{arm}-seed{seed}-frac{fraction:g}" + (f"-budget{share:g}" if share < 1 else "")


_R = TypeVar("_R")


# -- conversion: core.convert, strictly (a file of roundtable's has JSON's own types) ----------
def _build(cls: type[_R], d: Any, where: str) -> _R:
    """``cls`` from a mapping (``core.convert.build``); a wrong value is MalformedResults
    naming where it is."""
    try:
        return build(cls, d, where)
    except ConversionError as e:
        raise MalformedResults(str(e)) from None


def _raw() -> Any:
    return as_written()


# -- a run ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CurvePoint:
    """One evaluation of a run: step 0 (before training), at intervals, and final."""

    step: int = 0
    seconds: float | None = None
    eval_seconds: float | None = None
    reused: bool = False
    """Step 0 of weights scored before: by another seed or fraction, or (``cached``) an
    earlier comparison on this machine (startcache.py)."""
    cached: bool = False
    train_tokens: int | None = None
    train_bytes: int | None = None
    flops: float | None = None
    subset_bits_per_byte: float | None = None
    """The same subset of the validation text at every point."""
    valid_bits_per_byte: float | None = None
    """The whole validation text: step 0 and the final point only."""
    rougeL: float | None = None
    """summarize: ROUGE-L of the generated summaries."""
    machine_busy: float | None = None
    """The share of the cores' time other processes used since the previous point."""
    threads: int | None = None
    raw: dict = _raw()


@dataclass(frozen=True)
class CurvePlan:
    """How many intermediate curve points a run kept, and why (train.plan_curve_points)."""

    planned: int = 0
    kept: int = 0
    subset_bytes: int | None = None
    point_seconds: float | None = None
    """One point's estimated cost, from the run's step-0 scoring speed."""
    limit_seconds: float | None = None
    """The share of the budget the points may cost (CURVE_SHARE)."""
    raw: dict = _raw()


@dataclass(frozen=True)
class EvalSample:
    """How much of the validation text every arm was scored on (sample.py)."""

    share: float = 0.0
    limit_seconds: float | None = None
    valid_bytes: int = 0
    max_bytes: int | None = None
    """None: all of it was scored."""
    scored_bytes: int = 0
    seconds_per_byte: dict[str, float] = field(default_factory=dict)
    slowest: str | None = None
    reason: str = ""
    seed: int | None = None
    """Seed of the random draw; None when all of it was scored."""
    units: int | None = None
    """Scoring units drawn: documents, or pieces of long ones (LM)."""
    documents: int | None = None
    """Validation documents the units come from."""
    method: str = ""
    """How the units were drawn."""
    raw: dict = _raw()


@dataclass(frozen=True)
class Recipe:
    """The arm's settings as the run used them (the rest is in ``raw``)."""

    name: str = ""
    learning_rate: float | None = None
    raw: dict = _raw()


@dataclass(frozen=True)
class Generation:
    """Generation speed after training: ``new_tokens`` greedy tokens in ``seconds``."""

    tokens_per_second: float | None = None
    bytes_per_second: float | None = None
    raw: dict = _raw()


@dataclass(frozen=True)
class Sizing:
    """``size: auto``: the shape arms/sizing.py's rule chose for the run, and its inputs."""

    shape: str = ""
    """n_layer x n_embd."""
    n_layer: int | None = None
    n_embd: int | None = None
    n_head: int | None = None
    params: int | None = None
    """Matrix-multiply parameters of the shape, the rule's N."""
    budget_flops: float | None = None
    budget_from: str = ""
    """How the budget became FLOPs (a wall-clock budget: at the measured matmul peak)."""
    unique_tokens: int | None = None
    epochs: float | None = None
    tokens_per_param: float | None = None
    rule_tokens_per_param: float | None = None
    """The rule's compute-optimal tokens per parameter on fresh data (about 20)."""
    raw: dict = _raw()


@dataclass(frozen=True)
class Sample:
    """lm: a fixed prompt and the trained model's greedy continuation."""

    prompt: str = ""
    text: str = ""
    raw: dict = _raw()


@dataclass(frozen=True)
class Run:
    """One arm x seed x data fraction (x share of the budget, for a forecast rung). The
    measurements are None where the run did not get that far."""

    arm: str = ""
    seed: int = 0
    """The seed's index (0 .. --seeds - 1): runs of every arm with one index are paired."""
    train_seed: int | None = None
    """The seed its weights and data order were drawn from: the index for an arm, another
    for a copy (NAME#2); None in files written before it was recorded."""
    fraction: float = 1.0
    status: str = "failed"
    """ok, diverged or failed; pending: a run of another shard, not done yet."""
    budget_share: float = 1.0
    """Below 1: a rung of the forecast's budget ladder."""
    search_reserve: float = 0.0
    """The share of the budget its arm's own learning-rate search took; the run trained on the rest."""
    model: str = ""
    run_dir: str | None = None
    """The run's folder, relative to the comparison folder."""
    recipe: Recipe = field(default_factory=Recipe)
    params: int | None = None
    trainable_params: int | None = None
    steps: int | None = None
    train_seconds: float | None = None
    train_tokens: int | None = None
    train_bytes: int | None = None
    train_flops: float | None = None
    eval_seconds: float | None = None
    checkpoint_bytes: int | None = None
    context_bytes: int | None = None
    block_size: int | None = None
    padding_fraction: float = 0.0
    precision: str | None = None
    data_wait_seconds: float | None = None
    curve_plan: CurvePlan | None = None
    threads: int | None = None
    """The fewest torch intra-op threads the run trained on (--threads, or a shard's share
    of its host's cores, which shrinks when a sibling shard arrives mid-run)."""
    threads_most: int | None = None
    """The most threads it trained on: unlike ``threads`` only where its share changed."""
    cores: int | None = None
    """The fewest cores in the CPU affinity mask while it trained."""
    machine_busy: float | None = None
    """The share of those cores' time other processes used over the run (train/busy.py):
    under a wall-clock budget, the verdict warns from decide.caveats.BUSY_SHARE up."""
    error: str | None = None
    diverged_step: int | None = None
    final: dict[str, float | None] = field(default_factory=dict)
    """Final scores: valid_bits_per_byte, valid_perplexity, valid_token_accuracy (and ROUGE for summarize)."""
    curve: tuple[CurvePoint, ...] = ()
    generation: Generation | None = None
    """Measured after training on full-budget runs."""
    sizing: Sizing | None = None
    """``size: auto``: the shape the rule chose and its inputs."""
    samples: tuple[Sample, ...] = ()
    raw: dict = _raw()

    @property
    def name(self) -> str:
        return run_name(self.arm, self.seed, self.fraction, self.budget_share)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def bits_per_byte(self) -> float | None:
        return self.final.get("valid_bits_per_byte")

    @property
    def generations_file(self) -> str | None:
        """summarize: the generated validation summaries, relative to the comparison folder."""
        return f"{self.run_dir}/{GENERATIONS}" if self.run_dir else None


# -- what the comparison concluded ------------------------------------------------------------
@dataclass(frozen=True)
class BpbClause:
    """summarize: the conditional bits per byte of the reference summaries, beside ROUGE."""

    means: dict[str, float | None] = field(default_factory=dict)
    margin: float | None = None
    ci95: Interval | None = None
    raw: dict = _raw()


@dataclass(frozen=True)
class VersusPretrained:
    """lm: the trained arms against the pretrained model as it is (step 0), paired on the
    same documents; a margin > 0 means the arm is better."""

    score: float | None = None
    arm: str = ""
    margin: float | None = None
    ci95: Interval | None = None
    improved: bool | None = None
    ci95_by_arm: dict[str, Interval] = field(default_factory=dict)
    raw: dict = _raw()


@dataclass(frozen=True)
class TestedModel:
    name: str = ""
    params: int | None = None
    raw: dict = _raw()


@dataclass(frozen=True)
class Verdict:
    metric: str = ""
    winner: str | None = None
    """The leader, only where the 95% interval of the margin excludes zero."""
    leader: str | None = None
    """The best mean score, separated or not."""
    runner_up: str | None = None
    """None when fewer than two arms have a score."""
    seeds: int | None = None
    """Seeds the interval covers (1: documents only, no run-to-run spread)."""
    documents: int | None = None
    """Validation documents (ROUGE: examples) the bootstrap resampled."""
    interval_method: str = ""
    margin: float | None = None
    ci95: Interval | None = None
    separated: bool | None = None
    fraction: float | None = None
    """The data fraction judged: the largest planned."""
    crossing_fraction: float | None = None
    """Stated only with a bounded interval from the same bootstrap (crossing_ci95)."""
    crossing_ci95: Interval | None = None
    means: dict[str, float | None] = field(default_factory=dict)
    arm_ci95: dict[str, Interval | None] = field(default_factory=dict)
    sentence: str = ""
    forecast_sentence: str | None = None
    warnings: tuple[str, ...] = ()
    bpb: BpbClause | None = None
    versus_pretrained: VersusPretrained | None = None
    pretrained_model: TestedModel | None = None
    deployment: Deployment | None = None
    """The verdict again under --max-params / --min-gen-tokens-per-s."""
    raw: dict = _raw()


@dataclass(frozen=True)
class Deployment:
    """The verdict among the arms within a deployment limit (decide/deployment.py)."""

    limit: dict[str, float | None] = field(default_factory=dict)
    """max_params and min_gen_tokens_per_s; None: no limit on that cost."""
    eligible: tuple[str, ...] = ()
    excluded: dict[str, str] = field(default_factory=dict)
    """Arm -> why the limit left it out."""
    winner: str | None = None
    """Named only where the 95% interval of the margin excludes zero, as in the main verdict."""
    leader: str | None = None
    runner_up: str | None = None
    separated: bool | None = None
    margin: float | None = None
    ci95: Interval | None = None
    sentence: str = ""
    raw: dict = _raw()


@dataclass(frozen=True)
class Baselines:
    """Scores without training: the pretrained model as it is (step 0), and for summarize
    the lead sentence; metric name -> value, empty when there is none."""

    pretrained: dict[str, float | None] = field(default_factory=dict)
    lead: dict[str, float | None] = field(default_factory=dict)
    raw: dict = _raw()


@dataclass(frozen=True)
class Budget:
    kind: str = "seconds"
    """seconds, steps, tokens, bytes (of the user's text) or flops: what limits each run."""
    value: float | None = None
    raw: dict = _raw()


@dataclass(frozen=True)
class Candidate:
    learning_rate: float | None = None
    steps: int | None = None
    subset_bits_per_byte: float | None = None
    status: str = ""
    raw: dict = _raw()


@dataclass(frozen=True)
class Tuning:
    """Where every arm's learning-rate search scored its slices: training documents held
    out from the slices' training, never the validation text the verdict scores."""

    documents: int = 0
    bytes: int = 0
    """Scored bytes of the tuning documents."""
    slice_train_documents: int = 0
    """Training documents the slices trained on (the tuning ones left out)."""
    source: str = ""
    raw: dict = _raw()


@dataclass(frozen=True)
class Search:
    """One arm's learning-rate search (lrsearch.py)."""

    arm: str = ""
    recipe_rate: float | None = None
    chosen_rate: float | None = None
    reason: str = ""
    seconds: float | None = None
    candidates: tuple[Candidate, ...] = ()
    raw: dict = _raw()


# -- the forecast (forecast.py) ---------------------------------------------------------------
@dataclass(frozen=True)
class Measured:
    """What a forecast was fitted to, at the comparison's budget: the final score, mean over seeds."""

    at: float = 0.0
    value: float | None = None
    raw: dict = _raw()


@dataclass(frozen=True)
class BandPoint:
    budget: float = 0.0
    value: float | None = None
    ci80: Interval | None = None
    ci95: Interval | None = None
    raw: dict = _raw()


@dataclass(frozen=True)
class ArmForecast:
    metric: str = "valid_bits_per_byte"
    value: float | None = None
    """None where the fit failed."""
    ci80: Interval | None = None
    ci95: Interval | None = None
    measured: tuple[Measured, ...] = ()
    band: tuple[BandPoint, ...] = ()
    notes: tuple[str, ...] = ()
    problem: str | None = None
    """Why the arm has no forecast (too few steps or curve points, a failed fit)."""
    scale: float | None = None
    """The forecast's scale at the target (interval half-widths are multiples of it)."""
    raw: dict = _raw()


@dataclass(frozen=True)
class Backtest:
    """The final score predicted from the first part of the curve, and what it measured."""

    arm: str = ""
    budget: float = 0.0
    predicted: float | None = None
    actual: float | None = None
    raw: dict = _raw()


@dataclass(frozen=True)
class Forecast:
    target_seconds: float | None = None
    """The budget forecast to, in ``unit``."""
    unit: str = "s"
    arms: dict[str, ArmForecast] = field(default_factory=dict)
    backtest: tuple[Backtest, ...] = ()
    raw: dict = _raw()


# -- the task's facts ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskFacts:
    """What the comparison's task declares, as results.json carries it: reading a file needs
    no task registry."""

    primary_metric: str = "valid_bits_per_byte"
    """The key in a run's ``final`` scores that decides the verdict."""
    lower_is_better: bool = True
    unit: str = "bits per byte"
    """The primary metric as a sentence names it."""
    extra_metrics: tuple[str, ...] = ()
    """Scores besides bits per byte in a run's ``final``, each in [0, 1], higher better (ROUGE)."""
    raw: dict = _raw()


KNOWN_TASK_FACTS = {
    "lm": {"primary_metric": "valid_bits_per_byte", "lower_is_better": True, "unit": "bits per byte",
           "extra_metrics": []},
    "summarize": {"primary_metric": "rougeL", "lower_is_better": False, "unit": "ROUGE-L",
                  "extra_metrics": ["rouge1", "rouge2", "rougeL"]},
}
"""The built-in tasks' facts, as plain data, for files written before results.json carried
``task_facts``; any other task without them reads as language modelling (bits per byte).
tests/results/test_results.py checks these against the tasks' own declarations."""


# -- the comparison -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Results:
    """A comparison: its runs and, once complete, its verdict."""

    task: str = "lm"
    complete: bool = False
    runs: tuple[Run, ...] = ()
    ladder: tuple[Run, ...] = ()
    """The forecast's rungs: runs at a share of the budget."""
    verdict: Verdict | None = None
    """None until the comparison is complete."""
    forecast: Forecast | None = None
    """None without --forecast-budget, or when no arm had enough rungs."""
    baselines: Baselines = field(default_factory=Baselines)
    lr_search: dict[str, Search] = field(default_factory=dict)
    lr_search_tuning: Tuning | None = None
    """None with the search off, or in files written before it was recorded (scored on validation text)."""
    eval_sample: EvalSample | None = None
    """None in files written before the sample was sized."""
    arm_own_settings: dict[str, tuple[str, ...]] | None = None
    """Per arm, the fields of its recipe that are its own (the arm table's
    ``ArmSpec.settings``); None in files written before it was recorded."""
    budget: Budget = field(default_factory=Budget)
    flops_formula: str | None = None
    pretrained_model: dict = field(default_factory=dict)
    """Where the pretrained model came from; empty when no arm uses it."""
    data: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    task_facts: TaskFacts | None = None
    """None in files written before the task's facts were recorded: ``facts`` then reads
    the built-in table."""
    raw: dict = _raw()

    @classmethod
    def from_dict(cls, d: Mapping) -> Results:
        """Raises MalformedResults where a value has the wrong type."""
        return _build(cls, d, "")

    @property
    def facts(self) -> TaskFacts:
        """What the task declares: its primary metric, whether lower is better, its unit
        and extra scores, as the file carries them (``task_facts``); a file without them,
        from the built-in tasks' table, and for another task, language modelling."""
        if self.task_facts is not None:
            return self.task_facts
        return _build(TaskFacts, KNOWN_TASK_FACTS.get(self.task, KNOWN_TASK_FACTS["lm"]), "task_facts")

    @property
    def has_rouge(self) -> bool:
        """Runs have ROUGE-1/2/L finals and a ROUGE-L curve."""
        return "rougeL" in self.facts.extra_metrics

    def runs_of(self, arm: str) -> tuple[Run, ...]:
        return tuple(r for r in self.runs if r.arm == arm)


def load_results(path: str | Path) -> Results:
    """Results of a comparison folder (or of its results.json), complete or not. Raises
    UserError when there is none, MalformedResults when it is not roundtable's."""
    p = Path(path)
    p = p / RESULTS if p.is_dir() else p
    if not p.is_file():
        raise UserError(f"no {RESULTS} in {p.parent if p.name == RESULTS else p}")
    try:
        with open(p, encoding="utf-8") as f:
            return Results.from_dict(json.load(f))
    except (OSError, ValueError, MalformedResults) as e:
        raise MalformedResults(f"{p}: {e}") from None

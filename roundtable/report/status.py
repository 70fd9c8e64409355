"""``roundtable status DIR``: where a comparison stands, readable while it runs.

Everything read here is written whole (to a temporary name, then renamed): results.json
after every run of an unsharded comparison, or, for shards (shard.py), each run's
``runs/<name>/run.json`` when it ends and ``comparison.json`` once. They give the runs
that ended (ok, diverged, failed) and the settings, hence the plan (fractions x seeds x
arms, in the order they run; the forecast's rungs once listed or started). A run that
has not ended but has a folder under ``runs/`` or ``tensorboard/`` is running: the
budget spent and the latest curve point come from its newest complete checkpoint
(``roundtable_state.json``), the latest step from its TensorBoard log. Any other planned
run is pending. A comparison stopped by Ctrl-C or SIGTERM leaves ``stopped.json`` (cli.py):
a run with a folder that has not changed since then is stopped, at its checkpoint, not
running. Nothing here imports torch: it answers in a fraction of a second.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from roundtable.config.settings import BudgetConfig
from roundtable.core.errors import UserError
from roundtable.report.table import fmt
from roundtable.results import COMPARISON, RESULTS, RUN_FILE, STATE_FILE, run_name
from roundtable.train.lrsearch import slices_run

TRAINER_STATE = "trainer_state.json"
"""The Trainer's own state in a checkpoint (the tokens it has seen)."""
_NAME = re.compile(r"(?P<arm>.+)-seed(?P<seed>\d+)-frac(?P<fraction>[0-9.e+-]+?)(?:-budget(?P<share>[0-9.e+-]+))?")
"""A run's folder name (results.run_name), and a forecast rung's share of the budget."""
ENDED = {"ok": "done", "diverged": "diverged", "failed": "failed"}
STATES = ("done", "running", "stopped", "pending", "diverged", "failed")
STOPPED = "stopped.json"
"""Written in --out when a comparison is stopped (Ctrl-C, SIGTERM): what stopped it, when."""
RESUME_HINT = "continue with the same command and --resume"


@dataclass
class RunStatus:
    name: str
    arm: str
    seed: int
    fraction: float
    status: str
    """done, running, stopped, pending, diverged or failed."""
    step: int | None = None
    progress: float | None = None
    """Share of the budget spent (0..1): for a running run, as of its newest checkpoint
    (wall-clock budgets) or its latest logged step (step budgets); 1 once its final
    model is saved (the run is being scored)."""
    bits_per_byte: float | None = None
    """Done: the final score on the whole validation text. Running: the latest curve point."""
    updated_seconds_ago: float | None = None
    """Running: since its folder last changed (a run that stopped without an entry stops changing)."""
    error: str | None = None
    note: str | None = None
    """Stopped: where it stopped and how to continue."""


@dataclass
class Status:
    dir: str
    task: str
    complete: bool
    runs: list[RunStatus]
    searching: str | None = None
    """The arm whose learning-rate search is under way, if one is."""
    stopped: str | None = None
    """What stopped the comparison (e.g. SIGTERM), while nothing has run since."""

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.runs) for s in STATES}

    def to_dict(self) -> dict:
        return {**asdict(self), "counts": self.counts()}

    def table(self) -> str:
        from roundtable.report.table import format_table

        rows = [["run", "status", "progress", "step", "bpb", "updated", "note"]]
        for r in self.runs:
            rows.append([
                r.name, r.status, fmt(r.progress, ".0%"), fmt(r.step, "d"), fmt(r.bits_per_byte, ".3f"),
                fmt(r.updated_seconds_ago, ".0f") + ("s ago" if r.updated_seconds_ago is not None else ""), r.error or r.note or "",
            ])
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items() if n)
        head = f"{self.dir}: {self.task}, {len(self.runs)} runs: {counts}" + ("" if self.complete else " (not complete)")
        if self.stopped:
            head += f"\nstopped by {self.stopped}: {RESUME_HINT}"
        if self.searching:
            head += f"\nlearning-rate search under way: {self.searching}"
        return head + "\n\n" + format_table(rows)


def read_status(out: str | Path, now: float | None = None) -> Status:
    out = Path(out)
    results, comparison = _read(out / RESULTS), _read(out / COMPARISON)
    if results is None and comparison is None:
        raise UserError(f"no results.json in {out}: no comparison has started there")
    results = results or {}
    cfg = results.get("config") or (comparison or {}).get("config_key") or {}
    known = {f.name for f in fields(BudgetConfig)}
    budget = BudgetConfig(**{k: v for k, v in (cfg.get("budget") or {}).items() if k in known})
    searches = [*(results.get("lr_search") or {}).values(),
                *filter(None, map(_read, sorted((out / "lr-search").glob("*.json"))))]  # shards write these
    share = (cfg.get("lr_search") or {}).get("share", 0.0)
    reserve = {s.get("arm"): share * slices_run(s) for s in searches}  # each arm's own search, from its own budget
    listed = [*(results.get("runs") or []), *(results.get("ladder") or [])]  # ladder: the forecast's rungs
    ended = {_folder(r): r for r in listed if r.get("status") != "pending"}  # pending: a shard's, not merged
    ended.update({f.parent.name: r for f in (out / "runs").glob(f"*/{RUN_FILE}") if (r := _read(f)) is not None})
    arms = [a["name"] for a in cfg.get("arms") or []]
    plan = [run_name(a, s, f) for f in cfg.get("fractions") or [1.0] for s in range(cfg.get("seeds") or 1) for a in arms]
    started = sorted({p.name for sub in ("runs", "tensorboard") if (out / sub).is_dir() for p in (out / sub).iterdir()})
    names = [*plan, *map(_folder, listed), *ended, *started]
    now = time.time() if now is None else now
    complete = bool(results.get("complete"))
    stop = None if complete else _stop_time(out)
    runs = []
    for name in dict.fromkeys(n for n in names if _NAME.fullmatch(n)):  # in order, each once, never hiding a run
        m = _NAME.fullmatch(name)
        row = RunStatus(name, m["arm"], int(m["seed"]), float(m["fraction"]), "pending")
        if name in ended:
            r = ended[name]
            row.status = ENDED.get(r.get("status"), "failed")
            row.step = r.get("steps")
            row.progress = 1.0 if row.status == "done" else None
            row.bits_per_byte = (r.get("final") or {}).get("valid_bits_per_byte")
            row.error = r.get("error")
        elif not complete:
            # a run trains on its share of the budget less what its arm's learning-rate search set aside
            _running(row, out, budget.scaled(float(m["share"] or 1.0) * (1 - reserve.get(m["arm"], 0.0)), curve=True),
                     now, stop)
        runs.append(row)
    running = any(r.status == "running" for r in runs)
    stopped_by = None if stop is None or running else (_read(out / STOPPED) or {}).get("signal") or "a stop request"
    return Status(str(out), results.get("task") or cfg.get("task") or "?", complete, runs,
                  None if stopped_by else _searching(out, results, arms), stopped_by)


def _stop_time(out: Path) -> float | None:
    """When the comparison was last stopped (stopped.json's time), if it was."""
    try:
        return (out / STOPPED).stat().st_mtime
    except OSError:
        return None


def _folder(r: dict) -> str:
    """A run's folder name under runs/, from its record."""
    if r.get("run_dir"):
        return Path(r["run_dir"]).name
    return run_name(r["arm"], r["seed"], r["fraction"], r.get("budget_share") or 1.0)


def _running(row: RunStatus, out: Path, budget: BudgetConfig, now: float, stop: float | None = None) -> None:
    """A run with a folder but no entry: its progress from checkpoint and TensorBoard;
    stopped, from its checkpoint alone (where --resume continues), when nothing in its
    folders changed after the comparison was stopped at ``stop``."""
    folders = [p for p in (out / "runs" / row.name, out / "tensorboard" / row.name) if p.is_dir()]
    if not folders:
        return
    changed = max(_newest_mtime(p) for p in folders)
    row.status = "stopped" if stop is not None and changed <= stop + 1.0 else "running"
    row.updated_seconds_ago = max(0.0, now - changed)
    state, step = _checkpoint(out / "runs" / row.name / "checkpoints")
    row.step = step if row.status == "stopped" else max(step, _tensorboard_step(out / "tensorboard" / row.name))
    if row.status == "stopped":
        row.note = f"stopped at {'step ' + str(step) if state else 'its start'}; {RESUME_HINT}"
    spent = [(state.get("spent_seconds", 0.0), budget.seconds), (state.get("tokens", 0), budget.tokens),
             (state.get("spent_bytes", 0.0), budget.bytes)] if state else []
    shares = [done / whole for done, whole in [*spent, (row.step, budget.max_steps)] if whole]
    if (out / "runs" / row.name / "model").is_dir():  # trained and saved: scoring, then its entry
        shares.append(1.0)
    row.progress = min(1.0, max(shares)) if shares else None
    curve = (state or {}).get("curve") or []
    if curve:
        row.bits_per_byte = curve[-1].get("subset_bits_per_byte") or curve[-1].get("valid_bits_per_byte")


def _checkpoint(folder: Path) -> tuple[dict | None, int]:
    """The newest complete checkpoint's state (with the Trainer's token count as
    ``tokens``) and step; (None, 0) before the first."""
    steps = sorted(
        (int(p.name.split("-")[-1]) for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        reverse=True,
    )
    for step in steps:
        state, trainer = (_read(folder / f"checkpoint-{step}" / f) for f in (STATE_FILE, TRAINER_STATE))
        if state is not None:
            return {**state, "tokens": (trainer or {}).get("num_input_tokens_seen", 0)}, step
    return None, 0


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not written yet, or removed meanwhile by the run itself
        return None


def _tensorboard_step(folder: Path) -> int:
    """The latest step logged (every 10 steps and at curve points); 0 without a log."""
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    except ImportError:
        return 0
    step = 0
    for f in folder.glob("events.out.tfevents.*"):
        try:
            for event in EventFileLoader(str(f)).Load():
                step = max(step, event.step)
        except (OSError, ValueError):  # a record half-written at this moment: what came before counts
            continue
    return step


def _newest_mtime(folder: Path) -> float:
    times = [folder.stat().st_mtime]
    for p in folder.rglob("*"):
        try:
            times.append(p.stat().st_mtime)
        except OSError:  # removed while we looked (an old checkpoint)
            continue
    return max(times)


def _searching(out: Path, results: dict, arms: list[str]) -> str | None:
    """Every arm's learning-rate search runs before the first run; results.json lists those done."""
    done = set(results.get("lr_search") or {}) | {f.stem for f in (out / "lr-search").glob("*.json")}
    for arm in arms:
        folder = out / "lr-search" / arm
        if arm not in done and folder.is_dir():
            tried = sorted(p.name for p in folder.iterdir() if p.is_dir())
            return f"{arm} ({len(tried)} rate{'s' if len(tried) != 1 else ''} tried or under way)"
    return None


def print_status(out: str | Path, as_json: bool = False) -> None:
    status = read_status(out)
    print(json.dumps(status.to_dict(), indent=2) if as_json else status.table())

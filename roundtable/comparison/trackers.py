"""Experiment trackers besides TensorBoard: MLflow, Weights & Biases and Trackio.

``--report-to`` names them. Each run of a comparison becomes one tracker run, named
after the run and tagged with its arm, seed and data fraction; its final scores are
logged as metrics when it ends. The logging itself is the Trainer's own integration
callbacks (what ``TrainingArguments.report_to`` would add), so every arm is logged by
the same code; this module only names, tags and closes their runs. TensorBoard is
always written (train.py), so ``tensorboard`` asks for nothing more.

Each tool is configured by its usual environment variables (``MLFLOW_TRACKING_URI``,
``MLFLOW_EXPERIMENT_NAME``, ``WANDB_PROJECT``, ``WANDB_MODE``, ...).
"""

from __future__ import annotations

import copy
import importlib.util
import math
from collections.abc import Iterable, Mapping

from transformers import TrainerCallback
from transformers.integrations import MLflowCallback, TrackioCallback, WandbCallback

from roundtable.core.errors import UserError

ALWAYS = ("tensorboard", "none")
"""Names that add no callback: TensorBoard is written for every run anyway."""
FINAL_PREFIX = "final/"


def final_metrics(metrics: Mapping) -> dict[str, float]:
    """The finite numbers of a run's final scores, as ``final/<name>``."""
    return {
        f"{FINAL_PREFIX}{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


class _Tracked:
    """Mixin over an integration callback: its run gets our name and tags, and stays
    open past the Trainer's train end (the final evaluation comes after it) until
    ``finish`` has logged the final scores; a run that diverged never reaches train end,
    and ``finish`` closes it all the same."""

    name = ""
    """The --report-to name."""

    def __init__(self, run_name: str, tags: Mapping):
        super().__init__()
        self.run_name = run_name
        self.tags = {k: str(v) for k, v in tags.items()}
        self.opened = False
        self._train_end: tuple | None = None

    def setup(self, args, state, model, **kwargs):
        args = copy.copy(args)  # the run's own name, without touching the Trainer's arguments
        args.run_name = self.run_name
        try:
            super().setup(args, state, model, **kwargs)
        except Exception as e:  # noqa: BLE001 - the tracker's configuration is the user's: stop with one line
            raise UserError(f"--report-to {self.name}: cannot start a run: {_first_line(e)}") from None
        if state.is_world_process_zero:
            self.opened = True
            self._tag()

    def on_train_end(self, args, state, control, **kwargs):
        self._train_end = (args, state, control, kwargs)

    def finish(self, metrics: Mapping, status: str = "ok") -> None:
        """Log ``final/<score>`` and the run's status, then close the tracker's run."""
        if not self.opened:
            return
        self.opened = False
        self._log(final_metrics(metrics), status)
        if self._train_end is not None:  # the integration's own end of run, once the scores are in
            args, state, control, kwargs = self._train_end
            super().on_train_end(args, state, control, **kwargs)
        self._close(status)

    def _tag(self) -> None:
        raise NotImplementedError

    def _log(self, final: dict[str, float], status: str) -> None:
        raise NotImplementedError

    def _close(self, status: str) -> None:
        raise NotImplementedError


class MLflowTracker(_Tracked, MLflowCallback):
    name = "mlflow"

    def _tag(self):
        self._ml_flow.set_tags(self.tags)

    def _log(self, final, status):
        self._ml_flow.log_metrics(final)
        self._ml_flow.set_tag("status", status)

    def _close(self, status):
        if self._auto_end_run and self._ml_flow.active_run():  # never a run the user opened around ours
            self._ml_flow.end_run("FINISHED" if status == "ok" else "FAILED")


class WandbTracker(_Tracked, WandbCallback):
    name = "wandb"

    def _tag(self):
        run = self._wandb.run
        run.tags = tuple(run.tags or ()) + tuple(f"{k}:{v}" for k, v in self.tags.items())
        run.config.update(self.tags, allow_val_change=True)

    def _log(self, final, status):
        self._wandb.run.summary.update({**final, "status": status})

    def _close(self, status):
        self._wandb.finish(exit_code=0 if status == "ok" else 1)  # the next run opens its own


class TrackioTracker(_Tracked, TrackioCallback):
    name = "trackio"

    def _tag(self):
        self._trackio.config.update(self.tags, allow_val_change=True)

    def _log(self, final, status):
        self._trackio.log(final)  # a run's config is kept as it was at its first log: no status here

    def _close(self, status):
        if self._initialized:
            self._trackio.finish()
            self._initialized = False


TRACKERS: dict[str, tuple[str, type[_Tracked]]] = {
    "mlflow": ("mlflow", MLflowTracker),
    "wandb": ("wandb", WandbTracker),
    "trackio": ("trackio", TrackioTracker),
}
"""--report-to name -> (the package it needs, the callback). Each is an extra: pip install 'roundtable[NAME]'."""


def check_report_to(report_to: Iterable[str]) -> list[str]:
    """The trackers to add besides TensorBoard; a UserError for an unknown name or a
    tracker whose package is not installed (before any run starts)."""
    wanted = []
    for name in report_to:
        if name in ALWAYS:
            continue
        if name not in TRACKERS:
            raise UserError(f"unknown --report-to {name!r}; choose from {', '.join((*ALWAYS, *TRACKERS))}")
        package = TRACKERS[name][0]
        if importlib.util.find_spec(package) is None:
            raise UserError(f"--report-to {name}: the {package} package is not installed: pip install 'roundtable[{name}]'")
        wanted.append(name)
    return wanted


def tracker_callbacks(report_to: Iterable[str], run_name: str, tags: Mapping) -> list[TrainerCallback]:
    """Callbacks for one run (pass them to ``train_run(callbacks=...)``), then call
    ``log_final`` when the run ends, whatever its status."""
    return [TRACKERS[name][1](run_name, tags) for name in check_report_to(report_to)]


def log_final(callbacks: Iterable[TrainerCallback], metrics: Mapping, status: str = "ok") -> list[str]:
    """Log a run's final scores to its trackers and close their runs. Call it for
    diverged and failed runs too (with what scores there are), so that the next run
    does not log into this one's tracker run. A tracker that fails here costs the run
    nothing: the returned lines say which, for the log."""
    problems = []
    for cb in callbacks:
        if isinstance(cb, _Tracked):
            try:
                cb.finish(metrics, status)
            except Exception as e:  # noqa: BLE001 - the run's result is safe in results.json whatever a tracker does
                problems.append(f"--report-to {cb.name}: could not log the final scores: {_first_line(e)}")
    return problems

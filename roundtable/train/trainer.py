"""The one training path: every arm is trained by the Hugging Face ``Trainer``.

An arm contributes only its model, tokenizer and recipe (ArmConfig). The budget,
learning-rate schedule, curve points, checkpoints and divergence checks are the same
code for every arm, so no arm can be trained differently by accident.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.integrations import TensorBoardCallback

from roundtable.config.settings import ArmConfig, BudgetConfig
from roundtable.core import dist, threads
from roundtable.core.errors import Diverged, Interrupted, UserError
from roundtable.core.stopping import STOP
from roundtable.data.examples import BlockDataset
from roundtable.evaluate.scorer import ArmEvaluator
from roundtable.results import STATE_FILE, read_json, write_json
from roundtable.train.budget import BudgetClock, lr_multiplier
from roundtable.train.busy import BusyMeter
from roundtable.train.flops import flops_per_token

logger = logging.getLogger(__name__)

NEVER = 10**9  # "no step limit" for the Trainer when the budget is wall-clock
CURVE_SHARE = 0.10
"""Intermediate curve points may cost at most this share of a wall-clock budget."""
POINT_KEYS = ("step", "seconds", "train_tokens", "train_bytes", "flops")


@dataclass
class RunCurve:
    """Curve points of one run; the first is step 0, before any training."""

    points: list[dict] = field(default_factory=list)
    eval_seconds: float = 0.0


def point_line(desc: str, p: dict) -> str:
    """``run step 120 (40 s): 1.234 bits per byte on the curve subset; 1.250 on the whole text``."""
    parts = [f"{p['subset_bits_per_byte']:.3f} bits per byte on the curve subset"]
    if p.get("valid_bits_per_byte") is not None:
        parts.append(f"{p['valid_bits_per_byte']:.3f} on the whole text")
    if p.get("rougeL") is not None:
        parts.append(f"ROUGE-L {p['rougeL']:.3f}")
    return f"  {desc} step {p['step']} ({p['seconds']:.0f} s): " + "; ".join(parts)


class CurveRecorder:
    """Evaluates the model at a curve point and writes the point everywhere it goes."""

    def __init__(self, evaluator: ArmEvaluator, data: BlockDataset, flops_tok: float, writer: SummaryWriter,
                 lines: bool = False, desc: str = ""):
        self.evaluator = evaluator
        self.data = data
        self.flops_tok = flops_tok
        self.writer = writer
        self.lines = lines
        """One plain line per curve point (the run's progress that shows learning)."""
        self.desc = desc
        self.curve = RunCurve()
        self.busy = BusyMeter()

    def record(self, model, step: int, seconds: float, tokens: int, full: bool) -> dict:
        return self.add(self.evaluator.evaluate(model, full=full), step, seconds, tokens)

    def add(self, metrics: dict, step: int, seconds: float, tokens: int, charged: bool = True) -> dict:
        """Append a point; ``charged`` False for a score computed elsewhere (not this run's time)."""
        point = {
            "step": step,
            "seconds": round(seconds, 3),
            "train_tokens": int(tokens),
            "train_bytes": int(tokens * self.data.bytes_per_token),
            "flops": float(tokens * self.flops_tok),
            **{k: v for k, v in metrics.items() if k not in POINT_KEYS},
            "machine_busy": self.busy.lap(),  # other processes' share of the cores since the last point
            "threads": torch.get_num_threads(),
        }
        self.curve.points.append(point)
        self.curve.eval_seconds += metrics["eval_seconds"] if charged else 0.0
        for k, v in metrics.items():
            if k.startswith(("valid_", "subset_", "rouge")) and isinstance(v, float) and math.isfinite(v):
                self.writer.add_scalar(f"curve/{k}", v, step)
        self.writer.flush()
        if self.lines:
            logger.info(point_line(self.desc, point))
        return point


def plan_curve_points(budget: BudgetConfig, start: dict, subset_bytes: int) -> dict:
    """How many of the budget's intermediate curve points fit in CURVE_SHARE of it.

    A point scores the curve subset and computes the task's extra metrics (ROUGE from
    generation). Its cost is estimated from this arm's step-0 point: seconds per scored
    byte times the subset's bytes, plus the seconds that do not grow with the bytes
    (generation). Fast arms keep every point, slow arms fewer; the subset stays the
    same bytes, so every arm's points remain comparable. Step budgets keep them all
    (no time to share out). Every process keeps the same number: the slowest estimate
    wins (a collective)."""
    plan = {"planned": budget.curve_points, "kept": budget.curve_points, "subset_bytes": int(subset_bytes)}
    if not budget.seconds or not budget.curve_points:
        return plan
    score_seconds = start.get("score_seconds", start["eval_seconds"])
    per_byte = score_seconds / max(start["eval_bytes"], 1)
    (point,) = dist.all_max([per_byte * subset_bytes + max(start["eval_seconds"] - score_seconds, 0.0)])
    limit = CURVE_SHARE * budget.seconds
    kept = min(budget.curve_points, int(limit // point)) if point > 0 else budget.curve_points
    plan.update(kept=kept, point_seconds=round(point, 3), limit_seconds=round(limit, 3))
    return plan


@dataclass
class DataWait:
    """Seconds this process spent waiting for batches (the data path, not compute),
    including those before a resume."""

    seconds: float = 0.0


class TimedIterator:
    """Adds the time of every ``next`` (one batch fetched and collated) to ``wait``."""

    def __init__(self, it, wait: DataWait):
        self.it = it
        self.wait = wait

    def __iter__(self):
        return self

    def __next__(self):
        t0 = time.perf_counter()
        try:
            return next(self.it)
        finally:
            self.wait.seconds += time.perf_counter() - t0


@dataclass
class Positions:
    """Token positions trained and how many of them were padding (attention mask 0).

    Padded batches spend compute on nothing; the share says how much. ``*_before``
    hold the totals over every process up to the checkpoint a run resumed from."""

    trained: int = 0
    padded: int = 0
    trained_before: int = 0
    padded_before: int = 0

    def count(self, inputs: dict) -> None:
        mask = inputs.get("attention_mask")
        self.trained += inputs["input_ids"].numel()
        self.padded += 0 if mask is None else int((mask == 0).sum())

    def totals(self) -> tuple[int, int]:
        """(trained, padded) over every process and the run's whole history: a collective."""
        trained, padded = dist.all_sum(np.array([self.trained, self.padded]))
        return self.trained_before + int(trained), self.padded_before + int(padded)


class ProgressLR(LambdaLR):
    """The recipe's rate times the schedule at the progress every process agreed on.

    The Trainer steps its scheduler right after ``optimizer.step()``, before the step's
    progress is agreed in ``on_step_end``: stepping alone would make every step use the
    rate of the progress one step earlier. ``follow`` at each step's start (see
    BudgetCallback) applies the rate for the budget share spent before that step."""

    def __init__(self, optimizer, clock: BudgetClock, warmup: float, schedule: str):
        super().__init__(optimizer, lambda _: lr_multiplier(clock.agreed, warmup, schedule))

    def follow(self) -> None:
        self._last_lr = [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr


class BudgetCallback(TrainerCallback):
    """Stops at the budget, asks for curve points at regular intervals of it, shows progress."""

    def __init__(self, clock: BudgetClock, n_points: int, desc: str, recorder: CurveRecorder, positions: Positions,
                 progress: bool = True, marks: list[float] | None = None, plan: dict | None = None,
                 data_wait: DataWait | None = None):
        self.clock = clock
        self.positions = positions
        self.plan = plan or {}
        self.data_wait = data_wait or DataWait()
        self.marks = marks if marks is not None else [(k + 1) / (n_points + 1) for k in range(n_points)]
        self.recorder = recorder
        self.interrupted = False
        self.desc = desc
        self.progress = progress
        self.bar = None
        self._last = 0.0
        self.step_seconds = 0.0
        self.machine: dict = {}

    def on_train_begin(self, args, state, control, **kw):
        threads.follow(force=True)  # shards on one host: this one's share of the cores, as it stands now
        now = threads.current()
        self.machine = {**now, "threads_most": now["threads"]}
        self.clock.start()
        self._count(state)
        self.clock.agreed = self.clock.progress(state.global_step)  # same on every process (from the checkpoint)
        self._last = self.clock.elapsed()
        _, total, unit = self.clock.meter(state.global_step)
        self.bar = tqdm(total=round(total, 1), desc=self.desc, unit=unit, leave=False,
                        disable=not self.progress or not dist.is_main())

    def _count(self, state) -> None:
        """Tokens seen (every process's, as the Trainer gathers them), their bytes and their
        FLOPs, for token, byte and FLOP budgets."""
        seen = float(state.num_input_tokens_seen)
        self.clock.count(seen, seen * self.recorder.flops_tok)

    def on_step_begin(self, args, state, control, lr_scheduler=None, **kw):
        lr_scheduler.follow()  # the rate for the progress agreed before this step, on every process

    def on_step_end(self, args, state, control, **kw):
        if threads.follow(grow=False) is not None:  # a sibling shard came: a smaller share now (a larger one waits)
            now = threads.current()
            self.machine = {**{k: min(v, self.machine.get(k, v)) for k, v in now.items()},  # the fewest
                            "threads_most": max(now["threads"], self.machine.get("threads_most", now["threads"]))}
        self._count(state)
        now = self.clock.elapsed()
        self.step_seconds = now - self._last
        self._last = now
        # every process takes the same decision: the slowest clock and any stop request win
        p, stop, wants_stop = dist.all_max([
            self.clock.progress(state.global_step),
            float(self.clock.should_stop(state.global_step, self.step_seconds)),
            float(STOP.requested),
        ])
        self.clock.agreed = p
        if wants_stop:
            self.interrupted = True
            control.should_training_stop = True
            control.should_evaluate = False
            control.should_save = True
        elif stop:
            control.should_training_stop = True
            control.should_evaluate = False  # the final point (whole text) follows training
        elif self.marks and p >= self.marks[0]:
            while self.marks and p >= self.marks[0]:
                self.marks.pop(0)
            control.should_evaluate = True
            control.should_save = True
        if self.bar is not None:
            self.bar.n = min(self.bar.total, round(self.clock.meter(state.global_step)[0], 1))
            self.bar.set_postfix(step=state.global_step, refresh=False)
            self.bar.update(0)  # redraws at most every mininterval
        return control

    def on_train_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.close()

    def on_evaluate(self, args, state, control, **kw):
        self._last = self.clock.elapsed()  # evaluation is not part of a step's time

    def on_save(self, args, state, control, **kw):
        """Write our state last: its presence marks the checkpoint complete."""
        trained, padded = self.positions.totals()  # a collective: before the other processes return
        if not state.is_world_process_zero:
            return
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if ckpt.is_dir():
            write_json(ckpt / STATE_FILE, {
                "spent_seconds": self.clock.elapsed(), "spent_bytes": self.clock.bytes_seen, "marks": self.marks,
                "curve": self.recorder.curve.points, "eval_seconds": self.recorder.curve.eval_seconds,
                "trained_positions": trained, "padded_positions": padded, "curve_plan": self.plan,
                "data_wait_seconds": self.data_wait.seconds,
            })
            for old in Path(args.output_dir).glob("checkpoint-*"):
                if old != ckpt:  # at most one resume checkpoint per run, and never none
                    shutil.rmtree(old, ignore_errors=True)


class RoundtableTrainer(Trainer):
    """``Trainer`` with the budget schedule, our evaluator, divergence checks and padding counts."""

    def __init__(self, *args, clock: BudgetClock, recorder: CurveRecorder, positions: Positions, warmup: float,
                 schedule: str, data_wait: DataWait, **kwargs):
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.recorder = recorder
        self.positions = positions
        self.warmup = warmup
        self.schedule = schedule
        self.data_wait = data_wait

    def log(self, logs: dict, *args, **kwargs) -> None:
        """The training loss also in bits per byte: nats per token differ by tokenizer."""
        if isinstance(logs.get("loss"), float):
            logs["bits_per_byte"] = logs["loss"] / math.log(2) / self.recorder.data.bytes_per_token
        super().log(logs, *args, **kwargs)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        return super().get_batch_samples(TimedIterator(epoch_iterator, self.data_wait), num_batches, device)

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            opt = optimizer if optimizer is not None else self.optimizer
            self.lr_scheduler = ProgressLR(opt, self.clock, self.warmup, self.schedule)
        return self.lr_scheduler

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.positions.count(inputs)
        loss = super().training_step(model, inputs, num_items_in_batch)
        self._stop_if_diverged(float(loss.detach().float().mean()))
        return loss

    def _stop_if_diverged(self, loss: float) -> None:
        """Every process raises at the same step when any process's loss is not finite:
        one raising alone would leave the others waiting in the next collective."""
        (diverged,) = dist.all_max([float(not math.isfinite(loss))])
        if diverged:
            raise Diverged(self.state.global_step + 1, loss if not math.isfinite(loss) else math.nan)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        with self.clock.paused():
            point = self.recorder.record(
                self.model, self.state.global_step, self.clock.elapsed(), self.state.num_input_tokens_seen, full=False
            )
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in point.items() if isinstance(v, (int, float))}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics=metrics)
        return metrics

    def _maybe_log_save_evaluate(self, *args, **kwargs):
        """Logging, curve points and checkpoints between steps are not training: all off
        the clock, on_save callbacks included (the real model's checkpoint is 1.5 GB to
        write, and the previous one to delete)."""
        with self.clock.paused():
            super()._maybe_log_save_evaluate(*args, **kwargs)


@dataclass
class TrainOutcome:
    steps: int
    train_seconds: float
    train_tokens: int
    train_bytes: int
    train_flops: float
    curve: RunCurve
    final: dict
    wall_seconds: float
    padding_fraction: float
    """Padded positions / all positions trained, over every process (0.0 for LM blocks)."""
    data_wait_seconds: float = 0.0
    """Training seconds this process spent waiting for batches rather than computing."""
    curve_plan: dict = field(default_factory=dict)
    """Intermediate curve points planned and kept (plan_curve_points), for the report."""
    machine: dict = field(default_factory=dict)
    """``threads`` and ``cores`` (the affinity mask's) when training started, and
    ``machine_busy``: the share of those cores' time other processes used over the run."""


def per_device_batch(arm: ArmConfig) -> int:
    """Each process's share of the arm's batch, which is the global batch whatever the
    number of processes. A batch that does not divide by the number of processes is
    refused (UserError): rounding the share up would silently grow the recipe's batch,
    and with it the result, with the number of processes."""
    n = dist.world()
    if arm.batch_size % n:
        raise UserError(
            f"arm {arm.name}: batch_size {arm.batch_size} does not divide by the {n} processes; "
            f"set a multiple of {n} in arm_settings or launch a number of processes that divides it"
        )
    return arm.batch_size // n


def training_arguments(arm: ArmConfig, budget: BudgetConfig, run_dir: Path, seed: int, device: str,
                       precision: str = "fp32") -> TrainingArguments:
    """The classic recipe (AdamW, weight decay, eval/save every N steps) per arm; the
    batch is split over the processes by ``per_device_batch``. ``precision`` bf16:
    bf16 autocast with fp32 master weights, on GPUs and CPUs alike (precision.resolve
    chose it for the whole comparison)."""
    if budget.by_steps:
        every = max(1, budget.max_steps // (budget.curve_points + 1))
    else:
        every = NEVER  # wall-clock budgets: BudgetCallback asks at regular intervals of the budget
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=per_device_batch(arm),
        learning_rate=arm.learning_rate,
        weight_decay=arm.weight_decay,
        max_grad_norm=arm.max_grad_norm,
        max_steps=budget.max_steps or NEVER,
        eval_strategy="steps",
        eval_steps=every,
        save_strategy="steps",
        save_steps=every,
        save_total_limit=None,  # BudgetCallback.on_save removes the older checkpoint once the new one is complete
        logging_steps=10,
        logging_first_step=True,
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu" or (device == "auto" and not use_cuda and not torch.backends.mps.is_available()),
        bf16=precision == "bf16",
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        logging_nan_inf_filter=False,
        ddp_find_unused_parameters=False,
    )


def train_run(
    model,
    tokenizer,
    data: BlockDataset,
    evaluator: ArmEvaluator,
    arm: ArmConfig,
    budget: BudgetConfig,
    run_dir: Path,
    tb_dir: Path,
    seed: int,
    device: str = "auto",
    desc: str = "train",
    progress: bool = True,
    callbacks: tuple[TrainerCallback, ...] = (),
    probe_min_steps: int | None = None,
    point_lines: bool = False,
    precision: str = "fp32",
    start_point: dict | None = None,
) -> TrainOutcome:
    """Train one run under the budget; curve points at step 0, at intervals, and final.

    ``callbacks`` join ours (integrations, and tests that watch a step from inside).
    ``probe_min_steps`` marks a learning-rate search slice: no step-0 score (the same
    for every rate), no saved model, and no final score if it ran fewer steps than that
    (too short to tell rates apart). ``precision`` (fp32 or bf16, from
    precision.resolve) holds for training and for every score of the run.
    ``start_point``: the step-0 point of these same weights on the same validation
    text, scored before (another seed's or fraction's ``curve.points[0]``, or
    ``evaluator.evaluate(model, full=True)``): used instead of scoring again, marked
    ``reused`` and not charged to this run's evaluation time."""
    t_wall = time.perf_counter()
    args = training_arguments(arm, budget, run_dir, seed, device, precision)
    if getattr(data, "group_by_length", False):  # variable-length examples: batch similar lengths
        args.train_sampling_strategy = "group_by_length"
    resume_from = last_complete_checkpoint(run_dir / "checkpoints")
    state = read_json(resume_from / STATE_FILE) if resume_from else None
    clock = BudgetClock(budget.seconds, budget.max_steps, tokens=budget.tokens, bytes=budget.bytes,
                        bytes_per_token=data.bytes_per_token, flops=budget.flops,
                        spent_before=state["spent_seconds"] if state else 0.0)
    writer = SummaryWriter(str(tb_dir)) if dist.is_main() else _NoWriter()
    model.to(args.device)
    evaluator.device = args.device
    evaluator.precision = precision
    recorder = CurveRecorder(evaluator, data, flops_per_token(model, attention_context(data, arm.block_size)), writer,
                             lines=point_lines and dist.is_main(), desc=desc)
    positions = Positions()
    data_wait = DataWait(state.get("data_wait_seconds", 0.0) if state else 0.0)
    plan = {"planned": 0, "kept": 0}
    if state:
        recorder.curve.points = state["curve"]
        recorder.curve.eval_seconds = state["eval_seconds"]
        positions.trained_before, positions.padded_before = state["trained_positions"], state["padded_positions"]
        plan = state.get("curve_plan", plan)
    elif probe_min_steps is None:
        if start_point is None:
            start = recorder.record(model, 0, 0.0, 0, full=True)
        else:
            start = recorder.add({**start_point, "reused": True}, 0, 0.0, 0, charged=False)
        plan = plan_curve_points(budget, start, (evaluator.subset or evaluator.full).n_bytes)
    budget_cb = BudgetCallback(
        clock, 0 if budget.by_steps else plan["kept"], desc, recorder, positions, progress,
        marks=state["marks"] if state else None, plan=plan, data_wait=data_wait,
    )
    trainer = RoundtableTrainer(
        model=model,
        args=args,
        train_dataset=data,
        data_collator=getattr(data, "collate", None),
        eval_dataset=evaluator.subset or evaluator.full,
        processing_class=tokenizer,
        callbacks=[budget_cb, TensorBoardCallback(writer if dist.is_main() else None), *callbacks],
        clock=clock,
        recorder=recorder,
        positions=positions,
        warmup=arm.warmup_fraction,
        schedule=arm.schedule,
        data_wait=data_wait,
    )
    trainer.remove_callback(PrinterCallback)  # our own progress bar; logs go to TensorBoard
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    # bf16: accelerate wrapped the model's forward in autocast; unwrapped, the model is
    # scored, sampled and saved in the precision each caller asks for
    trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    if budget_cb.interrupted:
        writer.close()
        raise Interrupted(f"stopped at step {trainer.state.global_step}")
    seconds = clock.elapsed()
    tokens = trainer.state.num_input_tokens_seen
    steps = trainer.state.global_step
    trained, padded = positions.totals()
    if probe_min_steps is not None:
        writer.close()
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        score = steps >= probe_min_steps
        final_point = recorder.record(model, steps, seconds, tokens, full=True) if score else {}
        return TrainOutcome(steps, seconds, int(tokens), 0, 0.0, recorder.curve, dict(final_point),
                            time.perf_counter() - t_wall, padded / max(trained, 1), data_wait.seconds, plan,
                            {**budget_cb.machine, "machine_busy": recorder.busy.total()})
    final_point = recorder.record(model, steps, seconds, tokens, full=True)
    writer.close()
    save_model_atomically(trainer, run_dir / "model")
    if dist.is_main():
        if arm.lora_merge and hasattr(model, "merge_and_unload"):
            merged = model.merge_and_unload()
            merged.save_pretrained(run_dir / "model-merged")
            tokenizer.save_pretrained(run_dir / "model-merged")
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    dist.barrier()
    final = {k: v for k, v in final_point.items() if k.startswith(("valid_", "rouge"))}
    return TrainOutcome(
        steps=steps,
        train_seconds=seconds,
        train_tokens=int(tokens),
        train_bytes=final_point["train_bytes"],
        train_flops=final_point["flops"],
        curve=recorder.curve,
        final=final,
        wall_seconds=time.perf_counter() - t_wall,
        padding_fraction=padded / max(trained, 1),
        data_wait_seconds=data_wait.seconds,
        curve_plan=plan,
        machine={**budget_cb.machine, "machine_busy": recorder.busy.total()},
    )


def attention_context(data, block_size: int) -> float:
    """The context length behind the FLOPs estimate's attention term, per trained token.

    Language-model blocks: the block size. Examples of their own lengths (``sequences``,
    padded per batch): a token of an example of L tokens has a context of L (Kaplan's
    convention), so the mean over trained tokens is sum(L^2) / sum(L). FLOPs then count
    the text's tokens only, never padding, at the context they really had."""
    lengths = np.array([len(x) for x in getattr(data, "sequences", ())], dtype=np.float64)
    return float((lengths**2).sum() / lengths.sum()) if lengths.sum() else block_size


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint whose state file was written; incomplete ones are removed.

    Every process reaches the one barrier, whether or not the folder exists: the main
    process creates it right after, so a process that looked later would otherwise wait
    at a barrier the others never join (a hang seen under torchrun on a loaded machine)."""
    found = sorted(
        (p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
    ) if folder.is_dir() else []
    complete = [p for p in found if (p / STATE_FILE).is_file()]
    dist.barrier()  # every process has looked before the main one removes anything or creates the folder
    if dist.is_main():
        for p in found:
            if p not in complete[-1:]:
                shutil.rmtree(p, ignore_errors=True)
    return complete[-1] if complete else None


def save_model_atomically(trainer: Trainer, final: Path) -> None:
    """Save into a temporary folder, then rename: a model folder is always complete."""
    tmp = final.with_name(final.name + ".partial")
    if dist.is_main():
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))  # writes on the main process only
    if dist.is_main():
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    dist.barrier()


class _NoWriter:
    """Stands in for the TensorBoard writer on processes other than the main one."""

    def add_scalar(self, *a, **k):
        pass

    def flush(self):
        pass

    def close(self):
        pass

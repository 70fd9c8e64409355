"""One loss scale for every arm: gradient accumulation and several processes change the
speed of a step, never its update. And a non-finite loss on one process stops them all.

Every arm kind is checked: the LSTM, a Llama built from its config (what
scratch-transformer, finetune and scratch-same train) and that Llama with a LoRA adapter
(finetune-lora). The examples have different lengths and different numbers of scored
labels, so a loss averaged per micro-batch (instead of over the whole global batch)
would show, as would a loss scaled by the number of processes or accumulation steps.

Run as ``python -m torch.distributed.run --nproc_per_node 2 -m tests.train.test_train_scaling
OUT`` this module is the worker of the two-process test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

import roundtable.train.trainer
from roundtable.arms import arm_defaults
from roundtable.arms.factory import ArmFactory
from roundtable.config.settings import BudgetConfig
from roundtable.core import dist
from roundtable.core.errors import Diverged
from roundtable.data.corpus import Record
from roundtable.data.examples import BlockDataset
from roundtable.data.tokenization import byte_tokenizer
from roundtable.evaluate.scorer import ArmEvaluator
from roundtable.tasks import LMTask
from roundtable.train.trainer import train_run
from tests.helpers import english_paragraphs

KINDS = ("scratch-lstm", "scratch-transformer", "finetune-lora")
TINY = dict(block_size=16, batch_size=4, max_grad_norm=0.0)  # no clipping: it would hide a scale
LENGTHS = [16, 12, 9, 14]
PROMPTS = [2, 5, 0, 7]  # labels -100 before these positions: 13, 6, 8, 6 scored tokens
ROOT = Path(__file__).resolve().parents[2]


def arm_and_model(kind: str, tok):
    """The arm's recipe and a tiny model of its kind, the same weights on every process."""
    factory = ArmFactory("unused")
    if kind == "scratch-lstm":
        arm = arm_defaults(kind, lstm_embed=16, lstm_hidden=16, **TINY)
        return arm, factory.model(arm, tok, seed=0)
    llama = arm_defaults("scratch-transformer", n_layer=1, n_embd=16, n_head=2, **TINY)
    model = factory.model(llama, tok, seed=0)
    if kind == "scratch-transformer":
        return llama, model
    arm = arm_defaults(kind, lora_r=2, lora_alpha=4, **TINY)
    return arm, ArmFactory.lora(model, arm, tok)


class FirstGradients(TrainerCallback):
    """The gradients the optimizer is about to apply at the first step (after every
    micro-batch and every process has contributed)."""

    def __init__(self):
        self.grads: dict[str, torch.Tensor] = {}

    def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
        if state.global_step == 0:
            self.grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def first_step(kind: str, run_dir: Path, model=None) -> dict[str, torch.Tensor]:
    """One step of the real training path on the 4 examples (one global batch)."""
    tok = byte_tokenizer()
    arm, built = arm_and_model(kind, tok)
    data = BlockDataset([np.arange(10, 10 + n) for n in LENGTHS], PROMPTS, tok.pad_token_id, sum(LENGTHS))
    valid = LMTask().eval_set(tok, [Record(text=p) for p in english_paragraphs()[400:402]])
    ev = ArmEvaluator(full=valid, subset=None, window=arm.block_size, stride=arm.block_size, progress=False)
    rec = FirstGradients()
    train_run(model if model is not None else built, tok, data, ev, arm, BudgetConfig(seconds=None, max_steps=1),
              run_dir, run_dir / "tb", seed=0, device="cpu", progress=False, callbacks=[rec])
    assert rec.grads, "no gradient recorded"
    return rec.grads


def assert_same_gradients(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    assert any(g.abs().sum() > 0 for g in a.values())
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-7, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_accumulation_gives_the_same_first_update(kind, tmp_path, monkeypatch):
    whole = first_step(kind, tmp_path / "1x4")
    real = roundtable.train.trainer.training_arguments

    def two_micro_batches(*a, **k):  # the same global batch of 4 as 2 micro-batches of 2
        args = real(*a, **k)
        args.per_device_train_batch_size, args.gradient_accumulation_steps = 2, 2
        return args

    monkeypatch.setattr("roundtable.train.trainer.training_arguments", two_micro_batches)
    assert_same_gradients(whole, first_step(kind, tmp_path / "2x2"))


def nan_loss_on_rank_1(model):
    """The model, except that its loss is NaN on the process of rank 1 only."""
    forward = model.forward

    def poisoned(*args, **kwargs):
        out = forward(*args, **kwargs)
        if out.loss is not None and os.environ.get("RANK") == "1":
            out.loss = out.loss * float("nan")
        return out

    model.forward = poisoned
    return model


def worker(out: Path) -> None:
    """Each arm's first-step gradients (rank 0 writes them), then a NaN on rank 1 only."""
    dist.init(cpu=True)
    for kind in KINDS:
        grads = first_step(kind, out / kind)
        if dist.is_main():
            torch.save(grads, out / f"{kind}.pt")
    tok = byte_tokenizer()
    try:
        first_step("scratch-lstm", out / "nan", model=nan_loss_on_rank_1(arm_and_model("scratch-lstm", tok)[1]))
    except Diverged as e:
        (out / f"diverged-{dist.rank()}.json").write_text(json.dumps({"step": e.step, "loss": str(e.loss)}))


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> Path:
    """One torchrun launch of 2 CPU processes (gloo) running ``worker``; killed whole on timeout."""
    out = tmp_path_factory.mktemp("two-processes")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "tests.train.test_train_scaling",
           str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        log, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both workers: a hung collective stops here
        log, _ = proc.communicate()
    (out / "log.txt").write_text(log)
    return out


@pytest.mark.slow
def test_two_processes_give_the_one_process_gradients(two_processes, tmp_path):
    for kind in KINDS:
        assert (two_processes / f"{kind}.pt").is_file(), (two_processes / "log.txt").read_text()[-3000:]
        assert_same_gradients(first_step(kind, tmp_path / kind), torch.load(two_processes / f"{kind}.pt"))


@pytest.mark.slow
def test_a_nan_on_one_process_stops_every_process_at_the_same_step(two_processes):
    log = (two_processes / "log.txt").read_text()[-3000:]
    reports = [two_processes / f"diverged-{r}.json" for r in (0, 1)]
    assert all(p.is_file() for p in reports), log
    rank0, rank1 = (json.loads(p.read_text()) for p in reports)
    assert rank0["step"] == rank1["step"] == 1
    assert rank0["loss"] == rank1["loss"] == "nan"  # rank 0's own loss was finite; the run's was not


if __name__ == "__main__":
    worker(Path(sys.argv[1]))

"""train.py: the one training path (Hugging Face Trainer), its curve points, accounting and saving."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from roundtable.arms import ArmFactory
from roundtable.config import BudgetConfig, arm_defaults
from roundtable.data import Record
from roundtable.errors import Diverged
from roundtable.evaluate import ArmEvaluator, score
from roundtable.flops import flops_per_token
from roundtable.tasks import LMTask, first_by_bytes
from roundtable.train import train_run

ARM = arm_defaults("scratch-lstm", lstm_embed=16, lstm_hidden=16, block_size=32, batch_size=4)


@pytest.fixture(scope="module")
def split(paragraphs):
    return [Record(text=p) for p in paragraphs[:60]], [Record(text=p) for p in paragraphs[400:410]]


def prepare(split, arm=ARM, subset_bytes: int = 0):
    """What Comparison does for one arm: tokenizer, training blocks, evaluator."""
    train, valid = split
    factory = ArmFactory("unused")  # scratch arms never touch the pretrained model
    tok = factory.tokenizer(arm, train)
    data = LMTask().train_dataset(tok, train, arm.block_size, arm.name)
    full = LMTask().eval_set(tok, valid)
    sub = LMTask().eval_set(tok, first_by_bytes(valid, subset_bytes)) if subset_bytes else None
    stride = max(1, round(arm.block_size * arm.eval_stride))
    ev = ArmEvaluator(full=full, subset=sub, window=arm.block_size, stride=stride, progress=False)
    return factory, tok, data, ev


def run(tmp_path, split, budget, arm=ARM, subset_bytes=0, model=None):
    factory, tok, data, ev = prepare(split, arm, subset_bytes)
    model = model if model is not None else factory.model(arm, tok, seed=0)
    outcome = train_run(
        model, tok, data, ev, arm, budget, tmp_path / "run", tmp_path / "tb", seed=0, device="cpu", progress=False
    )
    return outcome, model, ev


def test_max_steps_run_curve_accounting_and_saved_model(tmp_path, split):
    factory, tok, _, _ = prepare(split)
    model = factory.model(ARM, tok, seed=0)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    outcome, model, ev = run(tmp_path, split, BudgetConfig(seconds=None, max_steps=3, curve_points=3), model=model)
    curve = outcome.curve.points
    # step 0 before training, then every max(1, 3 // 4) = 1 step; the last step is the final point
    assert [p["step"] for p in curve] == [0, 1, 2, 3]
    assert outcome.steps == 3
    assert curve[0]["seconds"] == 0.0 and curve[0]["train_tokens"] == 0 and curve[0]["flops"] == 0.0
    # every step is one batch of 4 blocks of 32 tokens, all real tokens
    assert [p["train_tokens"] for p in curve] == [0, 128, 256, 384]
    assert outcome.train_tokens == 384
    assert outcome.train_flops == pytest.approx(384 * flops_per_token(model, 32))
    assert all(b["seconds"] >= a["seconds"] for a, b in zip(curve, curve[1:]))
    assert all(math.isfinite(p["valid_bits_per_byte"]) for p in curve)
    assert all(p["eval_bytes"] == ev.full.n_bytes for p in curve)  # no subset: the whole text each time
    assert outcome.final["valid_bits_per_byte"] == curve[-1]["valid_bits_per_byte"]
    # checkpoints are cleaned up; the final model is saved, and it is the model that was scored
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "model")
    s = score(saved, ev.full, ev.window, ev.stride, progress=False)
    assert s.bits_per_byte == pytest.approx(outcome.final["valid_bits_per_byte"], rel=1e-6)
    trained = saved.state_dict()
    assert set(trained) == set(initial)
    assert all(not torch.equal(trained[k], initial[k]) for k in initial)  # every tensor was trained


def test_intermediate_points_score_the_subset_and_training_helps(tmp_path, split):
    arm = arm_defaults("scratch-lstm", lstm_embed=16, lstm_hidden=32, block_size=32, batch_size=8)
    outcome, _, ev = run(tmp_path, split, BudgetConfig(seconds=None, max_steps=12, curve_points=2), arm, 1000)
    curve = outcome.curve.points
    assert [p["step"] for p in curve] == [0, 4, 8, 12]  # every 12 // 3 = 4 steps
    assert [p["scope"] for p in curve] == ["full", "subset", "subset", "full"]
    assert ev.subset.n_bytes >= 1000 and ev.subset.n_bytes < ev.full.n_bytes
    assert [p["eval_bytes"] for p in curve] == [ev.full.n_bytes, ev.subset.n_bytes, ev.subset.n_bytes, ev.full.n_bytes]
    # 12 steps at learning rate 1e-2 take a byte-level LSTM well below its untrained ~8 bits per byte
    assert curve[-1]["valid_bits_per_byte"] < curve[0]["valid_bits_per_byte"] - 0.2


def test_wall_clock_budget_asks_for_curve_points_by_progress(tmp_path, split):
    # a budget of 10^6 s never runs out here; the step cap of 2 sets progress = step / 2, so the marks
    # at 1/4, 2/4, 3/4 of the budget give one evaluation after step 1 (progress 0.5 passes 1/4 and 2/4)
    outcome, _, _ = run(tmp_path, split, BudgetConfig(seconds=1e6, max_steps=2, curve_points=3))
    assert [p["step"] for p in outcome.curve.points] == [0, 1, 2]


def test_non_finite_loss_stops_the_run_as_diverged(tmp_path, split):
    factory, tok, _, _ = prepare(split)
    model = factory.model(ARM, tok, seed=0)
    with torch.no_grad():
        model.head.bias[5] = float("nan")
    with pytest.raises(Diverged) as e:
        run(tmp_path, split, BudgetConfig(seconds=None, max_steps=3), model=model)
    assert e.value.step == 1 and math.isnan(e.value.loss)

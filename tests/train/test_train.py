"""train.py: the one training path (Hugging Face Trainer), its curve points, accounting and saving."""

from __future__ import annotations

import math
import types

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, TrainerCallback

import roundtable.train.trainer
from roundtable.arms import arm_defaults
from roundtable.arms.factory import ArmFactory
from roundtable.config.settings import BudgetConfig
from roundtable.core.errors import Diverged, Interrupted, UserError
from roundtable.core.stopping import STOP
from roundtable.data.corpus import Record, first_by_bytes
from roundtable.data.examples import BlockDataset
from roundtable.evaluate.scorer import ArmEvaluator, score
from roundtable.tasks import LMTask
from roundtable.train.budget import lr_multiplier
from roundtable.train.flops import flops_per_token
from roundtable.train.trainer import (
    STATE_FILE,
    attention_context,
    per_device_batch,
    plan_curve_points,
    train_run,
    training_arguments,
)

ARM = arm_defaults("scratch-lstm", lstm_embed=16, lstm_hidden=16, block_size=32, batch_size=4)


@pytest.fixture(scope="module")
def split(paragraphs):
    return [Record(text=p) for p in paragraphs[:60]], [Record(text=p) for p in paragraphs[400:410]]


def prepare(split, arm=ARM, subset_bytes: int = 0):
    """What Comparison does for one arm: tokenizer, training blocks, evaluator."""
    train, valid = split
    factory = ArmFactory("unused")  # scratch arms never touch the pretrained model
    tok = factory.tokenizer(arm, [r.text for r in train])
    data = LMTask().train_dataset(tok, train, arm.block_size, arm.name)
    full = LMTask().eval_set(tok, valid)
    sub = LMTask().eval_set(tok, first_by_bytes(valid, subset_bytes)) if subset_bytes else None
    stride = max(1, round(arm.block_size * arm.eval_stride))
    ev = ArmEvaluator(full=full, subset=sub, window=arm.block_size, stride=stride, progress=False)
    return factory, tok, data, ev


def run(tmp_path, split, budget, arm=ARM, subset_bytes=0, model=None, data=None, callbacks=(), ev=None, **kw):
    factory, tok, blocks, fresh_ev = prepare(split, arm, subset_bytes)
    ev = ev if ev is not None else fresh_ev
    model = model if model is not None else factory.model(arm, tok, seed=0)
    outcome = train_run(
        model, tok, data if data is not None else blocks, ev, arm, budget, tmp_path / "run", tmp_path / "tb",
        seed=0, device="cpu", progress=False, callbacks=callbacks, **kw,
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
    assert outcome.padding_fraction == 0.0  # language-model blocks are all text
    assert 0.0 < outcome.data_wait_seconds <= outcome.train_seconds  # fetching batches is part of training time
    assert outcome.curve_plan == {"planned": 3, "kept": 3, "subset_bytes": ev.full.n_bytes}  # a step budget keeps all
    assert attention_context(prepare(split)[2], 32) == 32  # and every token has the block as context
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


class RateRecorder(TrainerCallback):
    """The learning rate of every parameter group as the optimizer is about to apply it."""

    def __init__(self):
        self.rates: list[list[float]] = []

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kw):
        self.rates.append([g["lr"] for g in optimizer.param_groups])


def test_each_step_uses_the_arm_schedule_at_the_progress_spent_before_it(tmp_path, split):
    # 4 steps: step k starts at progress (k - 1) / 4. Cosine with warmup 1/4 from 10%:
    # 0.1 at 0; 1.0 at 1/4; then 0.1 + 0.45 * (1 + cos(pi t)), t = 1/3, 2/3: 0.775, 0.325
    arm = arm_defaults("scratch-lstm", lstm_embed=16, lstm_hidden=16, block_size=32, batch_size=4,
                       schedule="cosine", warmup_fraction=0.25)
    rec = RateRecorder()
    run(tmp_path, split, BudgetConfig(seconds=None, max_steps=4, curve_points=0), arm, callbacks=[rec])
    expected = [0.1, 1.0, 0.775, 0.325]
    assert [lr_multiplier(k / 4, 0.25, "cosine") for k in range(4)] == pytest.approx(expected)
    assert len(rec.rates) == 4
    for rates, m in zip(rec.rates, expected):
        assert rates == pytest.approx([1e-2 * m] * len(rates))  # every parameter group alike


class FakeTime:
    """A clock that moves only when told: the budget clock's time without real waiting."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_saving_is_off_the_clock_including_on_save_work(tmp_path, split, monkeypatch):
    # every save (steps 1, 2, 3) calls a slow on_save callback, and BudgetCallback.on_save
    # deletes the previous checkpoint slowly (at steps 2 and 3); training itself takes no
    # time on this clock, so any second charged would come from saving
    fake = FakeTime()
    monkeypatch.setattr("roundtable.train.budget.time", fake)
    deleted = []

    def slow_rmtree(path, ignore_errors=False):
        fake.now += 1000.0
        deleted.append(path.name)
        shutil_rmtree(path, ignore_errors=ignore_errors)

    shutil_rmtree = roundtable.train.trainer.shutil.rmtree
    monkeypatch.setattr("roundtable.train.trainer.shutil", types.SimpleNamespace(rmtree=slow_rmtree))

    class SlowSave(TrainerCallback):
        def on_save(self, args, state, control, **kw):
            fake.now += 1000.0

    outcome, _, _ = run(tmp_path, split, BudgetConfig(seconds=None, max_steps=3, curve_points=3), callbacks=[SlowSave()])
    assert {"checkpoint-1", "checkpoint-2"} <= set(deleted)
    assert outcome.train_seconds == 0.0
    assert [p["seconds"] for p in outcome.curve.points] == [0.0] * 4


def test_a_batch_that_does_not_divide_by_the_processes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")  # no process group here: dist.world() reads WORLD_SIZE
    assert per_device_batch(arm_defaults("scratch-lstm", batch_size=6)) == 2
    with pytest.raises(UserError) as e:
        training_arguments(ARM, BudgetConfig(seconds=None, max_steps=1), tmp_path, 0, "cpu")
    message = str(e.value)
    assert "\n" not in message
    assert "arm scratch-lstm" in message and "batch_size 4" in message and "3 processes" in message


def padded_rows(lengths: list[int], pad_id: int) -> BlockDataset:
    """Examples of the given lengths (token ids 10, 11, ...), one text byte per token,
    padded per batch by the dataset's collate."""
    seqs = [np.arange(10, 10 + n) for n in lengths]
    return BlockDataset(seqs, [0] * len(seqs), pad_id, text_bytes=sum(lengths))


def test_padding_fraction_and_non_padding_tokens(tmp_path, split):
    # one batch of the 4 examples per step, padded to 16: 64 positions, 11 + 7 + 4 + 0 = 22 padded
    _, tok, _, _ = prepare(split)
    data = padded_rows([5, 9, 12, 16], tok.pad_token_id)
    outcome, model, _ = run(tmp_path, split, BudgetConfig(seconds=None, max_steps=3, curve_points=0), data=data)
    assert outcome.padding_fraction == 22 / 64
    assert outcome.train_tokens == 3 * 42  # tokens and FLOPs count the text, never the padding
    assert outcome.train_bytes == 3 * 42
    # a token of an example of L tokens has a context of L: the mean over tokens is sum(L^2) / sum(L)
    assert attention_context(data, ARM.block_size) == (25 + 81 + 144 + 256) / 42
    assert outcome.train_flops == pytest.approx(3 * 42 * flops_per_token(model, (25 + 81 + 144 + 256) / 42))


def test_padding_counts_before_a_resume_come_from_the_state_file(tmp_path, split, monkeypatch):
    # 2 steps with 22 of 64 positions padded, stopped; the resumed 2 steps have no padding:
    # 44 padded of 4 x 64 positions over the whole run
    _, tok, _, _ = prepare(split)
    budget = BudgetConfig(seconds=None, max_steps=4, curve_points=0)
    monkeypatch.setattr(STOP, "requested", False)

    class StopAtStep2(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            STOP.requested = state.global_step == 1

    with pytest.raises(Interrupted):
        run(tmp_path, split, budget, data=padded_rows([5, 9, 12, 16], tok.pad_token_id), callbacks=[StopAtStep2()])
    state = roundtable.train.trainer.read_json(tmp_path / "run" / "checkpoints" / "checkpoint-2" / STATE_FILE)
    assert (state["trained_positions"], state["padded_positions"]) == (128, 44)
    STOP.requested = False
    outcome, _, _ = run(tmp_path, split, budget, data=padded_rows([16] * 4, tok.pad_token_id))
    assert outcome.steps == 4
    assert outcome.padding_fraction == 44 / 256
    assert state["data_wait_seconds"] > 0 and outcome.data_wait_seconds > state["data_wait_seconds"]  # carried over
    assert outcome.curve_plan == state["curve_plan"] == {"planned": 0, "kept": 0, "subset_bytes": state["curve"][0]["eval_bytes"]}


TINY_TRANSFORMER = arm_defaults("scratch-transformer", n_layer=1, n_embd=32, n_head=2, block_size=32, batch_size=4)


def test_bf16_trains_under_autocast_with_fp32_weights_and_scores_in_bf16(tmp_path, split):
    factory, tok, _, _ = prepare(split, TINY_TRANSFORMER)
    model = factory.model(TINY_TRANSFORMER, tok, seed=0)
    seen = []
    linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    hook = linear.register_forward_hook(lambda m, i, o: seen.append((torch.is_grad_enabled(), o.dtype)))
    budget = BudgetConfig(seconds=None, max_steps=3, curve_points=0)
    outcome, model, ev = run(tmp_path, split, budget, TINY_TRANSFORMER, model=model, precision="bf16")
    hook.remove()
    assert (True, torch.bfloat16) in seen and (True, torch.float32) not in seen  # every training step in bf16
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # fp32 master weights
    assert ev.precision == "bf16"
    x = torch.tensor([[1, 2, 3]])
    assert model(input_ids=x).logits.dtype == torch.float32  # no autocast left on the model after training
    bf16 = score(model, ev.full, ev.window, ev.stride, progress=False, precision="bf16").bits_per_byte
    fp32 = score(model, ev.full, ev.window, ev.stride, progress=False).bits_per_byte
    assert outcome.final["valid_bits_per_byte"] == bf16  # the final score is the bf16 one
    assert bf16 == pytest.approx(fp32, rel=2**-9)  # the tolerance of test_precision.py
    assert training_arguments(ARM, budget, tmp_path, 0, "cpu", "bf16").bf16
    assert not training_arguments(ARM, budget, tmp_path, 0, "cpu", "fp32").bf16


def test_a_given_start_point_replaces_the_step_0_score(tmp_path, split):
    factory, tok, _, ev = prepare(split)
    model = factory.model(ARM, tok, seed=0)
    start = ev.evaluate(model, full=True)  # scored once, as for another seed of the same weights
    calls = []
    evaluate = ev.evaluate
    ev.evaluate = lambda m, full: calls.append(full) or evaluate(m, full)
    budget = BudgetConfig(seconds=None, max_steps=2, curve_points=0)
    outcome, _, _ = run(tmp_path, split, budget, model=model, ev=ev, start_point=start)
    assert calls == [True]  # the final score only
    first = outcome.curve.points[0]
    assert first["reused"] is True and (first["step"], first["seconds"], first["train_tokens"]) == (0, 0.0, 0)
    assert first["valid_bits_per_byte"] == start["valid_bits_per_byte"]
    assert outcome.curve.eval_seconds == outcome.curve.points[-1]["eval_seconds"]  # not charged again


def test_curve_points_are_planned_within_a_tenth_of_the_budget():
    # step 0: 8 s to score 80,000 bytes (1e-4 s a byte) plus 2 s of generation; a point
    # scores a 20,000-byte subset and generates: 2 + 2 = 4 s
    start = {"eval_seconds": 10.0, "score_seconds": 8.0, "eval_bytes": 80_000}
    plan = plan_curve_points(BudgetConfig(seconds=120, curve_points=3), start, 20_000)
    assert plan == {"planned": 3, "kept": 3, "subset_bytes": 20_000, "point_seconds": 4.0, "limit_seconds": 12.0}
    assert plan_curve_points(BudgetConfig(seconds=100, curve_points=3), start, 20_000)["kept"] == 2
    assert plan_curve_points(BudgetConfig(seconds=30, curve_points=3), start, 20_000)["kept"] == 0
    assert plan_curve_points(BudgetConfig(seconds=1e5, curve_points=3), start, 20_000)["kept"] == 3  # never more
    steps = plan_curve_points(BudgetConfig(seconds=None, max_steps=10, curve_points=3), start, 20_000)
    assert steps == {"planned": 3, "kept": 3, "subset_bytes": 20_000}  # a step budget has no time to share out


def test_a_slow_scorer_gets_fewer_curve_points(tmp_path, split):
    # 4 steps of a 10^6 s budget (progress = step / 4). Step 0 "took" 4e4 s to score the
    # whole text, which is also the curve subset here: 2 points fit in 10% (1e5 s), at
    # 1/3 and 2/3 of the budget, so after steps 2 (progress 1/2) and 3 (3/4)
    factory, tok, _, ev = prepare(split)
    model = factory.model(ARM, tok, seed=0)
    start = {**ev.evaluate(model, full=True), "eval_seconds": 4e4, "score_seconds": 4e4}
    budget = BudgetConfig(seconds=1e6, max_steps=4, curve_points=3)
    outcome, _, _ = run(tmp_path, split, budget, model=model, ev=ev, start_point=start)
    assert outcome.curve_plan["planned"] == 3 and outcome.curve_plan["kept"] == 2
    assert [p["step"] for p in outcome.curve.points] == [0, 2, 3, 4]


def test_every_process_meets_the_checkpoint_barrier_whether_or_not_the_folder_exists(tmp_path, monkeypatch):
    """The main process creates the checkpoint folder right after looking for a checkpoint:
    a process that looks later must still take the same barrier, or torchrun hangs."""
    from roundtable.results import STATE_FILE
    from roundtable.train.trainer import last_complete_checkpoint

    calls = []
    monkeypatch.setattr(roundtable.train.trainer.dist, "barrier", lambda: calls.append(1))
    assert last_complete_checkpoint(tmp_path / "missing") is None and len(calls) == 1
    done, partial = tmp_path / "ckpt" / "checkpoint-4", tmp_path / "ckpt" / "checkpoint-8"
    done.mkdir(parents=True)
    partial.mkdir()
    (done / STATE_FILE).write_text("{}")
    assert last_complete_checkpoint(tmp_path / "ckpt") == done and len(calls) == 2
    assert not partial.exists()  # an incomplete checkpoint is removed


def test_a_byte_budget_gives_arms_with_different_tokenizers_the_same_text(tmp_path, lm_files, tiny_pretrained):
    """--budget 8kB: the subword arm (the tiny pretrained model's BPE, more than one byte a
    token) and the byte-level LSTM each stop within one of their steps of 8,000 bytes of
    training text, so they read the same text though their token counts differ by their
    bytes per token."""
    from roundtable.comparison.runner import Comparison
    from roundtable.comparison.settings import compare_config
    from tests.helpers import TINY_ARMS, TINY_CONTEXT_BYTES

    train, valid = lm_files
    cfg = compare_config({
        "task": "lm", "data": str(train), "valid": str(valid), "arms": "finetune,scratch-lstm", "budget": "8kB",
        "arm_settings": TINY_ARMS, "context_bytes": TINY_CONTEXT_BYTES, "model": str(tiny_pretrained),
        "lr_search": 0, "curve_points": 0, "out": str(tmp_path / "out"), "device": "cpu",
    })
    comp = Comparison(cfg, progress=False)
    comp.prepare()
    results = comp.run()
    assert results["budget"] == {"kind": "bytes", "value": 8000.0}
    runs = {r["arm"]: r for r in results["runs"]}
    for r in runs.values():
        assert r["status"] == "ok" and r["train_budget"] == {"kind": "bytes", "value": 8000.0}
        step_bytes = r["train_bytes"] / r["steps"]
        assert abs(r["train_bytes"] - 8000) <= step_bytes / 2, r["arm"]  # the stopping rule: overshoot at most half
    ft, lstm = runs["finetune"], runs["scratch-lstm"]
    assert abs(ft["train_bytes"] - lstm["train_bytes"]) <= max(r["train_bytes"] / r["steps"] for r in runs.values())
    bpt = {a: r["train_bytes"] / r["train_tokens"] for a, r in runs.items()}
    assert bpt["scratch-lstm"] == pytest.approx(1.0, abs=0.02)  # one token a byte, less the task tokens' share
    assert bpt["finetune"] > 1.2  # BPE merges: fewer tokens for the same bytes
    assert ft["train_tokens"] < lstm["train_tokens"] / 1.2
    assert not [w for w in results["verdict"]["warnings"] if "each arm counts its own" in w]

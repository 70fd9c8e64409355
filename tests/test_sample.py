"""sample.py and the tasks' eval_sample: the validation text every arm is scored on,
cut to the budget the same for all arms."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import roundtable
from roundtable import sample
from roundtable.config import CompareConfig, DataConfig
from roundtable.data import Record
from roundtable.evaluate import ArmEvaluator, EvalSequence, EvalSet
from roundtable.tasks.base import MIN_SAMPLE_RECORDS
from roundtable.tasks.lm import MIN_CUT_BYTES, MIN_SAMPLE_BYTES, LMTask
from roundtable.tasks.summarize import SummarizeTask
from tests.helpers import schema_problem


def test_lm_cuts_every_longer_document_to_one_length_and_keeps_them_all():
    docs = [Record("a" * 10_000), Record("b" * 100), Record("c" * 1000)]
    cut = LMTask().eval_sample(docs, 5100)
    # the largest level L with min(10000, L) + 100 + min(1000, L) <= 5100 is 4000
    assert [r.text for r in cut] == ["a" * 4000, "b" * 100, "c" * 1000]
    assert LMTask().eval_sample(docs, 11_100) == docs  # all of it fits: nothing is cut
    assert sum(len(r.text) for r in LMTask().eval_sample(docs, 10)) == MIN_SAMPLE_BYTES  # never below the floor


def test_lm_keeps_fewer_documents_rather_than_cut_them_to_a_few_bytes():
    docs = [Record(f"{i:04d}" + "x" * 1996) for i in range(100)]
    cut = LMTask().eval_sample(docs, 4096)  # 41 bytes each would not be language modelling
    assert [r.text for r in cut] == [d.text[:MIN_CUT_BYTES] for d in docs[: 4096 // MIN_CUT_BYTES]]


def test_lm_cuts_at_a_character_boundary():
    cut = LMTask().eval_sample([Record("é" * 5000), Record("é" * 5000)], 5001)
    assert all(len(r.text.encode()) <= 2500 for r in cut) and all(set(r.text) == {"é"} for r in cut)


def test_summarize_keeps_the_leading_pairs_by_summary_bytes():
    task = SummarizeTask(max_document_tokens=768, max_summary_tokens=128, rouge_examples=4, num_beams=1)
    pairs = [Record(f"document {i}", "s" * 40) for i in range(50)]
    assert task.eval_sample(pairs, 40 * 35) == pairs[:35]
    assert task.eval_sample(pairs, 80) == pairs[:MIN_SAMPLE_RECORDS]  # never fewer


def test_the_cut_fits_the_slowest_arm_in_its_share_of_the_budget():
    s = sample.size(0.2, 100.0, 100_000, {"lstm": 1e-5, "finetune": 1e-3})
    assert s.slowest == "finetune" and s.limit_seconds == pytest.approx(20.0)
    assert s.max_bytes == 20_000  # 20 s at 1 ms a byte
    assert sample.size(0.2, 100.0, 100_000, {"finetune": 0.1}).max_bytes == 200  # the task keeps its minimum
    assert sample.size(0.2, 100.0, 10_000, {"finetune": 1e-3}).max_bytes is None  # 10 s: all of it fits
    floor = sample.size(0.2, 100.0, 100_000, {"finetune": 1e-3}, sample_bytes=lambda cut: 100_000)
    assert floor.max_bytes is None and floor.scored_bytes == 100_000  # the task's smallest sample is all of it
    assert sample.size(0.0, 100.0, 100_000, {"finetune": 1e-3}).max_bytes is None  # --eval-share 0
    assert sample.size(0.2, None, 100_000, {}).max_bytes is None  # a token or FLOP budget


def test_the_measured_speed_is_kept_per_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUNDTABLE_CACHE", str(tmp_path))
    import torch

    class Uniform(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None):
            return type("Out", (), {"logits": torch.zeros(*input_ids.shape, 256)})()

    ids = np.arange(64, dtype=np.int64) % 256
    es = EvalSet([EvalSequence(ids, np.ones(64, bool), np.zeros(64, np.int32))], np.array([64]), 0)
    ev = ArmEvaluator(full=es, subset=None, window=16, stride=8)
    first = sample.seconds_per_position(Uniform(), ev, "fp32", "cpu")
    assert first > 0 and len(list((tmp_path / "speeds").glob("*.json"))) == 1

    def no_scoring(*a, **k):
        raise AssertionError("scored again")

    monkeypatch.setattr(sample, "score", no_scoring)
    assert sample.seconds_per_position(Uniform(), ev, "fp32", "cpu") == first


def test_every_arm_is_scored_on_the_same_cut_sample(tmp_path, lm_files, tiny_config, monkeypatch):
    # the speed is what the machine says; fixed here so the cut is known: 2 ms a byte and
    # 20 s x 0.25 = 5 s allowed fit 2,500 bytes, raised to the LM sample's 4,096-byte floor
    monkeypatch.setattr(importlib.import_module("roundtable.compare"), "arm_cost", lambda model, ev, p, d: 2e-3)
    train, valid = lm_files
    out = tmp_path / "out"
    res = roundtable.compare(task="lm", data=train, valid=valid, config=tiny_config, budget="20s", max_steps=2,
                             eval_share=0.25, lr_search=0, curve_points=0, device="cpu",
                             arms=["scratch-lstm", "scratch-transformer"], out=out, no_progress=True, log=None)
    s = res.eval_sample
    assert s.max_bytes == 2500 and s.valid_bytes > MIN_SAMPLE_BYTES and s.scored_bytes <= MIN_SAMPLE_BYTES
    scores = [np.load(out / r.run_dir / "valid_scores.npz") for r in res.runs]
    finals = [int(x["doc_bytes"].sum()) for x in scores]
    assert finals[0] == finals[1] and 3000 < finals[0] <= MIN_SAMPLE_BYTES  # the same bytes for every arm
    assert res.data["scored_valid_bytes"] == finals[0] == s.scored_bytes
    # 20 paragraphs of a few hundred bytes: 4 kB would leave ~200 bytes of each, so the leading ones are kept whole
    assert len(scores[0]["doc_bytes"]) == len(scores[1]["doc_bytes"]) < res.data["valid_records"] == 20
    assert any("--eval-share" in w for w in res.verdict.warnings)
    assert schema_problem(out / "results.json") is None
    assert "--eval-share allows 25%" in (out / "report.md").read_text(encoding="utf-8")


def test_eval_share_is_a_setting():
    cfg = CompareConfig(task="lm", data=DataConfig(path="x"))
    assert cfg.budget.eval_share == 0.1
    with pytest.raises(roundtable.errors.UserError, match="--eval-share"):
        roundtable.config.BudgetConfig(eval_share=-1)

"""startcache.py: the pretrained model's step-0 score is kept per machine and reused
only where nothing it depends on changed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import roundtable
from roundtable.arms import arm_defaults
from roundtable.evaluate import startcache
from roundtable.evaluate.scorer import ArmEvaluator, EvalSequence, EvalSet


def eval_set(ids) -> EvalSet:
    ids = np.asarray(ids, np.int64)
    return EvalSet([EvalSequence(ids, np.ones(len(ids), bool), np.zeros(len(ids), np.int32))],
                   np.array([len(ids)]), 0)


INFO = {"sha256": "ab" * 32, "commit": None, "file": "m.gguf"}


def key_of(arm=None, ids=(1, 2, 3, 4), precision="fp32", info=INFO, extra=None):
    ev = ArmEvaluator(full=eval_set(ids), subset=None, window=8, stride=6, extra=extra)
    return startcache.key(info, arm or arm_defaults("finetune"), ev, precision, "cpu")


def test_the_key_follows_what_the_score_depends_on_and_nothing_else():
    base = key_of()
    assert base == key_of() and len(base) == 64
    assert key_of(arm=replace(arm_defaults("finetune"), learning_rate=1e-3, batch_size=8)) == base  # training only
    assert key_of(ids=(1, 2, 3, 5)) != base  # other validation text
    assert key_of(precision="bf16") != base
    assert key_of(arm=arm_defaults("finetune-lora")) != base
    assert key_of(info={**INFO, "sha256": "cd" * 32}) != base  # other weights
    assert key_of(info={"sha256": None, "commit": None, "location": "/nonexistent"}) is None  # weights not pinned
    assert key_of(extra=object()) is None  # an extra evaluator that cannot say what it scores


def test_a_local_folder_is_pinned_by_its_files(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x" * 10)
    info = {"sha256": None, "commit": None, "location": str(tmp_path)}
    first = startcache.weights_identity(info)
    assert first == startcache.weights_identity(info)
    (tmp_path / "model.safetensors").write_bytes(b"y" * 11)
    assert startcache.weights_identity(info) != first


def test_a_second_comparison_on_the_same_data_reuses_the_step_0_score(tmp_path, lm_files, tiny_pretrained, tiny_config,
                                                                    monkeypatch):
    monkeypatch.setenv("ROUNDTABLE_CACHE", str(tmp_path / "cache"))
    train, valid = lm_files
    kw = dict(task="lm", data=train, valid=valid, model=str(tiny_pretrained), config=tiny_config, max_steps=2,
              lr_search=0, curve_eval_bytes=1500, device="cpu", arms=["finetune"], no_progress=True, log=None)
    first = roundtable.compare(out=tmp_path / "a", **kw).runs[0].curve[0].raw
    second = roundtable.compare(out=tmp_path / "b", **kw).runs[0].curve[0].raw
    assert "cached" not in first and second["cached"] is True and second["reused"] is True
    for k in ("valid_bits_per_byte", "subset_bits_per_byte", "eval_bytes", "eval_tokens"):
        assert second[k] == first[k], k
    assert sorted(p.suffix for p in (tmp_path / "cache" / "start-points").iterdir()) == [".json", ".npy"]
    # the step-0 per-document scores (the verdict's comparison with the model as it is) come with
    # the cached point: the same as the first comparison scored, and summing to its bits per byte
    a, b = (np.load(next((tmp_path / d / "runs").iterdir()) / "valid_scores.npz") for d in "ab")
    np.testing.assert_array_equal(b["doc_nll_nats_start"], a["doc_nll_nats_start"])
    assert a["doc_nll_nats_start"].sum() / np.log(2) / a["doc_bytes"].sum() == pytest.approx(
        first["valid_bits_per_byte"], rel=1e-9)
    # other validation text: scored again, and kept beside the first
    other = tmp_path / "valid2.txt"
    other.write_text(valid.read_text(encoding="utf-8")[:-200], encoding="utf-8")
    third = roundtable.compare(out=tmp_path / "c", **{**kw, "valid": other}).runs[0].curve[0].raw
    assert "cached" not in third and third["valid_bits_per_byte"] != pytest.approx(first["valid_bits_per_byte"], abs=0)
    assert len(list((tmp_path / "cache" / "start-points").glob("*.json"))) == 2

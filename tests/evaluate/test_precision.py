"""precision.py: the number format is chosen by measurement, and bf16 scores like fp32."""

from __future__ import annotations

import pytest
import torch

from roundtable.arms import arm_defaults
from roundtable.arms.factory import ArmFactory
from roundtable.core.errors import UserError
from roundtable.data.corpus import Record
from roundtable.evaluate import precision
from roundtable.evaluate.scorer import score
from roundtable.tasks import LMTask


@pytest.mark.parametrize("speedup,expected", [(0.05, "fp32"), (1.0, "fp32"), (1.49, "fp32"), (1.5, "bf16"), (5.0, "bf16")])
def test_auto_on_cpu_follows_the_probe(monkeypatch, speedup, expected):
    monkeypatch.setattr(precision, "probe_speedup", lambda: speedup)  # the probe's answer, forced
    assert precision.resolve("auto", "cpu") == expected
    assert precision.resolve("auto", "cpu", speedup=speedup) == expected


def test_explicit_choices_are_kept_and_the_probe_is_not_run(monkeypatch):
    def no_probe():
        raise AssertionError("probed")

    monkeypatch.setattr(precision, "probe_speedup", no_probe)
    assert precision.resolve("fp32", "cpu") == "fp32"
    assert precision.resolve("bf16", "cpu") == "bf16"
    assert precision.resolve("auto", "mps") == "fp32"
    with pytest.raises(UserError, match="--precision must be one of auto, fp32, bf16"):
        precision.resolve("fp16", "cpu")


def test_auto_on_cuda_is_bf16_where_supported(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert precision.resolve("auto", "cuda") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert precision.resolve("auto", "cuda") == "fp32"
    with pytest.raises(UserError, match="does not support bf16"):
        precision.resolve("bf16", "cuda")


def test_the_probe_measures_a_positive_ratio_once_per_process():
    precision.probe_speedup.cache_clear()
    first = precision.probe_speedup()
    assert first > 0
    assert precision.probe_speedup() == first  # cached: one probe per process
    assert precision.probe_speedup.cache_info().hits >= 1


def test_autocast_runs_matmuls_in_bf16_only_when_asked():
    layer = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with precision.autocast("cpu", "bf16"):
        assert layer(x).dtype == torch.bfloat16
    with precision.autocast("cpu", "fp32"):
        assert layer(x).dtype == torch.float32


def test_bf16_and_fp32_give_the_same_bits_per_byte_on_a_tiny_model(paragraphs):
    """Tolerance 2^-9 of the value (0.2%): bf16 keeps 8 significant bits, so each
    product in a logit is off by at most 2^-8 of itself (2^-9 after rounding to
    nearest); the errors of a sum and of the thousands of scored tokens have both
    signs and mostly cancel, so the mean loss moves by far less than one rounding of
    the result. A score that depends on the format beyond that is a bug (an fp32-only
    log-softmax, say). Measured here: 8e-5 relative, with logits scaled to tens."""
    arm = arm_defaults("scratch-transformer", n_layer=1, n_embd=32, n_head=2, block_size=64)
    train = [Record(text=p) for p in paragraphs[:40]]
    factory = ArmFactory("unused")
    tok = factory.tokenizer(arm, [r.text for r in train])
    model = factory.model(arm, tok, seed=0)
    with torch.no_grad():  # large logits, where rounding matters most (untrained ones are near zero)
        model.get_output_embeddings().weight.mul_(30)
    es = LMTask().eval_set(tok, [Record(text=p) for p in paragraphs[400:420]])
    fp32 = score(model, es, 64, 48, progress=False, precision="fp32")
    bf16 = score(model, es, 64, 48, progress=False, precision="bf16")
    assert fp32.n_tokens == bf16.n_tokens and fp32.n_bytes == bf16.n_bytes
    assert bf16.bits_per_byte != fp32.bits_per_byte  # bf16 really ran
    assert bf16.bits_per_byte == pytest.approx(fp32.bits_per_byte, rel=2**-9)

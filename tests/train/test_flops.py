"""flops.py: training FLOPs per token by the stated formula, with parameter counts done by hand."""

from __future__ import annotations

import pytest
from torch import nn

from roundtable.arms.lstm import build_lstm
from roundtable.arms.transformer import build_transformer
from roundtable.train.flops import flops_per_token, matmul_params


def test_linear_counts_weights_not_biases():
    assert matmul_params(nn.Linear(3, 4)) == 12
    assert matmul_params(nn.Sequential(nn.Embedding(100, 4), nn.Linear(4, 5, bias=False))) == 20  # no lookups


def test_shared_weight_counted_once():
    a, b = nn.Linear(8, 8), nn.Linear(8, 8)
    b.weight = a.weight
    assert matmul_params(nn.Sequential(a, b)) == 64


def test_lstm_flops_per_token():
    model = build_lstm(259, 16, 16, 2, 0.0, seed=0)
    # 2 layers x (W_ih 64x16 + W_hh 64x16) = 4096, head 259x16 = 4144; embedding and biases excluded
    assert matmul_params(model) == 4096 + 4144
    assert flops_per_token(model, 32) == 6.0 * 8240  # no attention term for an LSTM


@pytest.mark.parametrize("context", [32, 256])
def test_small_transformer_flops_per_token(context):
    model = build_transformer(259, 2, 16, 2, context, 0.0, 0, 256, 257, 258)
    ff = 8 * ((8 * 16 // 3 + 7) // 8)  # 48: the SwiGLU width transformer.py uses
    per_layer = 4 * 16 * 16 + 3 * 16 * ff  # q, k, v, o + gate, up, down
    head = 259 * 16  # tied to the embedding: counted once, as the output projection
    assert matmul_params(model) == 2 * per_layer + head == 10800
    assert flops_per_token(model, context) == 6.0 * 10800 + 6 * 2 * context * 16

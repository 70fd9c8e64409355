"""Training FLOPs, estimated with a stated formula.

Per training token: 6 x (parameters that take part in a matrix multiply) + 6 x
n_layer x context x d_model for attention scores (Kaplan et al. 2020, "Scaling Laws
for Neural Language Models", table 1: forward 2N + 2 n_layer n_ctx d_attn; backward
twice the forward). Embedding lookups are not matrix multiplies and do not count; a
tied output head does. LoRA: frozen weights still run forward and backward through
activations, so the count stays the same (the weight-gradient third is saved, which
this estimate ignores).
"""

from __future__ import annotations

from torch import nn


def matmul_params(model: nn.Module) -> int:
    """Parameters used in matrix multiplies (Linear, Conv1D, LSTM), each counted once."""
    seen, total = set(), 0
    for m in model.modules():
        ws = []
        if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D":
            ws = [m.weight]
        elif isinstance(m, (nn.LSTM, nn.GRU, nn.RNN)):
            ws = [p for n, p in m.named_parameters() if n.startswith("weight")]
        for w in ws:
            if id(w) not in seen:
                seen.add(id(w))
                total += w.numel()
    return total


def flops_per_token(model: nn.Module, context: int) -> float:
    """Training FLOPs per token (forward + backward) at sequence length ``context``."""
    cfg = getattr(model, "config", None)
    attn = 0
    if cfg is not None and hasattr(cfg, "num_hidden_layers") and hasattr(cfg, "hidden_size"):
        attn = 6 * cfg.num_hidden_layers * context * cfg.hidden_size
    return 6.0 * matmul_params(model) + attn


FORMULA = "6 x matmul parameters x tokens + 6 x n_layer x context x d_model x tokens (Kaplan et al. 2020)"

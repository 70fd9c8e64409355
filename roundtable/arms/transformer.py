"""A small randomly initialised decoder (Llama block: RoPE, RMSNorm, SwiGLU)."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def build_transformer(
    vocab_size: int, n_layer: int, n_embd: int, n_head: int, block_size: int | None, dropout: float,
    seed: int, bos_id: int, eos_id: int, pad_id: int,
) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=n_embd,
        intermediate_size=8 * ((8 * n_embd // 3 + 7) // 8),
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_head,
        max_position_embeddings=max(block_size or 0, 2048),
        attention_dropout=dropout,
        tie_word_embeddings=True,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    return LlamaForCausalLM(config)

"""The classic LSTM language model: Embedding(128) -> 2 x LSTM(128) -> Linear.

Written as a ``transformers`` model so the one ``Trainer`` trains it, ``generate``
samples from it, and ``save_pretrained`` writes safetensors like every other arm.
Generation carries the recurrent state (h, c) from step to step as the model's
``cache``, as attention models carry their keys and values, so each new token costs one
LSTM step instead of re-reading the whole context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import AutoConfig, AutoModelForCausalLM, GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput


class LSTMConfig(PretrainedConfig):
    model_type = "roundtable-lstm"

    def __init__(self, vocab_size: int = 259, n_embd: int = 128, n_hidden: int = 128, n_layer: int = 2,
                 dropout: float = 0.0, **kwargs: Any) -> None:
        self.vocab_size = vocab_size
        self.n_embd = n_embd
        self.n_hidden = n_hidden
        self.n_layer = n_layer
        self.dropout = dropout
        super().__init__(**kwargs)


@dataclass
class LSTMOutput(CausalLMOutput):
    cache: tuple[torch.Tensor, torch.Tensor] | None = None
    """(h, c), each (n_layer, B, H): the state after the last input token."""


class LSTMForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = LSTMConfig
    main_input_name = "input_ids"
    _no_split_modules: list[str] = []
    _is_stateful = True  # no assisted generation: a state cannot be rolled back
    supports_left_padding = True  # left padding is skipped (packed), never run through the recurrence

    def __init__(self, config: LSTMConfig):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.lstm = nn.LSTM(
            config.n_embd, config.n_hidden, num_layers=config.n_layer, batch_first=True,
            dropout=config.dropout if config.n_layer > 1 else 0.0,
        )
        self.head = nn.Linear(config.n_hidden, config.vocab_size)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # keep PyTorch's own initialisation (the classic recipe), not the HF normal(0.02)
        return

    def get_input_embeddings(self) -> nn.Module:
        return self.embed

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.embed = cast(nn.Embedding, value)

    def get_output_embeddings(self) -> nn.Module:
        return self.head

    def forward(self, input_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, cache: Any = None, use_cache: bool | None = None,
                **kwargs: Any) -> CausalLMOutput:
        """``cache``: the (h, c) state to continue from, with ``input_ids`` the tokens
        after it; ``use_cache`` returns the new state (generation)."""
        x = self.embed(input_ids)  # (B, T, E)
        h, state = self._recur(x, attention_mask if cache is None else None, cache)  # (B, T, H)
        logits = self.head(h)  # (B, T, V)
        loss = None
        if labels is not None:
            # HF causal LMs' own loss (labels shifted here) with their loss kwargs: given the
            # Trainer's num_items_in_batch, it is the sum over the tokens divided by the
            # tokens of the whole accumulated, all-process batch, as for every other arm
            loss = self.loss_function(logits, labels, self.config.vocab_size, **kwargs)
        return LSTMOutput(loss=loss, logits=logits, cache=state if use_cache else None)

    @torch.autocast("cpu", enabled=False)
    def _recur(self, x: torch.Tensor, mask: torch.Tensor | None, state: Any) -> tuple[torch.Tensor, Any]:
        """The LSTM over ``x``. Right padding needs nothing (padding comes after every real
        token); where padding precedes real tokens (left-padded prompts for batched
        generation), each row's real tokens are packed so the recurrence never sees the
        padding, and their outputs are put back at their own positions (zeros at padding).

        Always fp32 on CPUs: oneDNN has no bf16 LSTM where the CPU lacks bf16 instructions
        (it fails outright), and at this width the recurrence is bound by its sequential
        steps, not by matmul speed; under bf16 autocast the output layer still runs in bf16."""
        if mask is None or not bool((mask[:, 1:] > mask[:, :-1]).any()):
            return self.lstm(x, state)
        real = mask.bool()
        order = torch.argsort((~real).to(torch.int8), dim=1, stable=True)  # each row's real positions first
        idx = order[..., None].expand(-1, -1, x.shape[-1])
        lengths = real.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(x.gather(1, idx), lengths, batch_first=True, enforce_sorted=False)
        out, state = self.lstm(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # (B, T, H), zeros past length
        return out.new_zeros(out.shape).scatter(1, order[..., None].expand(-1, -1, out.shape[-1]), out), state

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # the state is ours, not a key/value cache

    def prepare_inputs_for_generation(self, input_ids: torch.Tensor, cache: Any = None,
                                      attention_mask: torch.Tensor | None = None, use_cache: bool | None = None,
                                      **kwargs: Any) -> dict:
        """The whole prompt first; then, with the state carried, only the newest token."""
        if cache is not None:
            return {"input_ids": input_ids[:, -1:], "cache": cache, "use_cache": use_cache}
        return {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": use_cache}

    def _reorder_cache(self, cache: Any, beam_idx: torch.Tensor) -> Any:
        """Beam search: each beam continues from the state of the beam it extends."""
        return tuple(t.index_select(1, beam_idx.to(t.device)) for t in cache)


AutoConfig.register(LSTMConfig.model_type, LSTMConfig)
AutoModelForCausalLM.register(LSTMConfig, LSTMForCausalLM)


def build_lstm(vocab_size: int, n_embd: int, n_hidden: int, n_layer: int, dropout: float, seed: int) -> LSTMForCausalLM:
    torch.manual_seed(seed)
    return LSTMForCausalLM(LSTMConfig(vocab_size=vocab_size, n_embd=n_embd, n_hidden=n_hidden, n_layer=n_layer, dropout=dropout))

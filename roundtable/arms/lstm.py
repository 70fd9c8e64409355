"""The classic LSTM language model: Embedding(128) -> 2 x LSTM(128) -> Linear.

Written as a ``transformers`` model so the one ``Trainer`` trains it, ``generate``
samples from it, and ``save_pretrained`` writes safetensors like every other arm.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput


class LSTMConfig(PretrainedConfig):
    model_type = "roundtable-lstm"

    def __init__(self, vocab_size=259, n_embd=128, n_hidden=128, n_layer=2, dropout=0.0, **kwargs):
        self.vocab_size = vocab_size
        self.n_embd = n_embd
        self.n_hidden = n_hidden
        self.n_layer = n_layer
        self.dropout = dropout
        super().__init__(**kwargs)


class LSTMForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = LSTMConfig
    main_input_name = "input_ids"
    _no_split_modules: list[str] = []
    supports_left_padding = False  # padding would run through the recurrence

    def __init__(self, config: LSTMConfig):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.lstm = nn.LSTM(
            config.n_embd, config.n_hidden, num_layers=config.n_layer, batch_first=True,
            dropout=config.dropout if config.n_layer > 1 else 0.0,
        )
        self.head = nn.Linear(config.n_hidden, config.vocab_size)
        self.post_init()

    def _init_weights(self, module):
        # keep PyTorch's own initialisation (the classic recipe), not the HF normal(0.02)
        return

    def get_input_embeddings(self):
        return self.embed

    def set_input_embeddings(self, value):
        self.embed = value

    def get_output_embeddings(self):
        return self.head

    def forward(self, input_ids=None, labels=None, attention_mask=None, **kwargs):
        x = self.embed(input_ids)  # (B, T, E)
        h, _ = self.lstm(x)  # (B, T, H)
        logits = self.head(h)  # (B, T, V)
        loss = None
        if labels is not None:
            # HF causal LMs' own loss (labels shifted here) with their loss kwargs: given the
            # Trainer's num_items_in_batch, it is the sum over the tokens divided by the
            # tokens of the whole accumulated, all-process batch, as for every other arm
            loss = self.loss_function(logits, labels, self.config.vocab_size, **kwargs)
        return CausalLMOutput(loss=loss, logits=logits)

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # the LSTM keeps no key/value cache

    def prepare_inputs_for_generation(self, input_ids, **kwargs):
        # no recurrent cache: re-read the whole (short) context each step
        return {"input_ids": input_ids}


AutoConfig.register(LSTMConfig.model_type, LSTMConfig)
AutoModelForCausalLM.register(LSTMConfig, LSTMForCausalLM)


def build_lstm(vocab_size: int, n_embd: int, n_hidden: int, n_layer: int, dropout: float, seed: int) -> LSTMForCausalLM:
    torch.manual_seed(seed)
    return LSTMForCausalLM(LSTMConfig(vocab_size=vocab_size, n_embd=n_embd, n_hidden=n_hidden, n_layer=n_layer, dropout=dropout))

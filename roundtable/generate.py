"""Sample from a trained arm of a comparison folder."""

from __future__ import annotations

from pathlib import Path

import torch

from roundtable.errors import UserError
from roundtable.results import read_json
from roundtable.tokenization import encode_texts, task_token_ids


def find_run(out: Path, arm: str) -> dict:
    path = out / "results.json"
    if not path.is_file():
        raise UserError(f"no results.json in {out}")
    runs = [r for r in read_json(path)["runs"] if r["arm"] == arm and r["status"] == "ok"]
    if not runs:
        arms = sorted({r["arm"] for r in read_json(path)["runs"]})
        raise UserError(f"no finished run of arm {arm!r} in {out} (arms: {', '.join(arms) or 'none'})")
    runs.sort(key=lambda r: (-r["fraction"], r["seed"]))
    for r in runs:
        if (out / r["run_dir"] / "model").is_dir():
            return r
    raise UserError(f"the model of arm {arm!r} was not kept in {out}")


def load_trained(model_dir: Path, results: dict | None = None):
    """Load a saved arm: full model (safetensors) or LoRA adapter over the base model."""
    import roundtable.arms.lstm  # noqa: F401 - registers the LSTM with the Auto classes
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    if (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        from roundtable.arms import ArmFactory

        factory = ArmFactory(results["config"]["model"], results["config"].get("trust_remote_code", False))
        base = factory.pretrained.model()
        base.resize_token_embeddings(len(tok), mean_resizing=False)
        model = PeftModel.from_pretrained(base, model_dir)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True)
    model.eval()
    return model, tok


@torch.inference_mode()
def complete(model, tok, prompt_ids: list[int], max_new_tokens: int, greedy: bool, temperature: float = 0.8,
             num_beams: int = 1) -> list[int]:
    """Continue ``prompt_ids`` until [TASK_END] or the length limit; returns the new ids."""
    _, end = task_token_ids(tok)
    x = torch.tensor([prompt_ids], device=model.device)
    kw = dict(do_sample=False, num_beams=num_beams) if greedy else dict(do_sample=True, temperature=temperature, top_k=50)
    out = model.generate(
        input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=max_new_tokens,
        eos_token_id=end, pad_token_id=tok.pad_token_id, **kw,
    )[0, x.shape[1]:].tolist()
    return out[: out.index(end)] if end in out else out


def generate(out: Path, arm: str, prompt: str, max_new_tokens: int = 100, greedy: bool = False,
             temperature: float = 0.8, seed: int = 0) -> str:
    run = find_run(out, arm)
    model, tok = load_trained(out / run["run_dir"] / "model", read_json(out / "results.json"))
    torch.manual_seed(seed)
    start, _ = task_token_ids(tok)
    ids = [start] + encode_texts(tok, [prompt])[0]
    new = complete(model, tok, ids, max_new_tokens, greedy, temperature)
    return prompt + tok.decode(new, skip_special_tokens=True)

"""``roundtable generate``: a trained arm of a comparison folder continues a prompt."""

from __future__ import annotations

import math
from pathlib import Path

from roundtable.arms.trained import load_trained
from roundtable.config.settings import DEFAULT_MODEL
from roundtable.core.errors import UserError
from roundtable.data.tokenization import encode_texts, task_token_ids
from roundtable.evaluate.generate import complete
from roundtable.results import Results, Run, load_results


def find_run(results: Results, out: Path, arm: str) -> Run:
    """The arm's finished run with the most data and the lowest seed whose model was kept."""
    runs = sorted((r for r in results.runs_of(arm) if r.ok), key=lambda r: (-r.fraction, r.seed))
    if not runs:
        arms = sorted({r.arm for r in results.runs})
        raise UserError(f"no finished run of arm {arm!r} in {out} (arms: {', '.join(arms) or 'none'})")
    for r in runs:
        if (out / r.run_dir / "model").is_dir():
            return r
    raise UserError(f"the model of arm {arm!r} was not kept in {out}")


def generate(out: Path, arm: str, prompt: str, max_new_bytes: int = 200, sample: bool = False,
             temperature: float = 0.8, seed: int = 0) -> str:
    """A continuation of ``prompt`` of at most ``max_new_bytes`` bytes, the same unit for
    every arm whatever its tokenizer; greedy by default, like the report's samples."""
    import torch

    results = load_results(out)
    run = find_run(results, out, arm)
    model, tok = load_trained(out / run.run_dir / "model", results.config.get("model") or DEFAULT_MODEL,
                              results.config.get("trust_remote_code", False))
    torch.manual_seed(seed)
    start, _ = task_token_ids(tok)
    ids = [start] + encode_texts(tok, [prompt])[0]
    bytes_per_token = run.train_bytes / run.train_tokens if run.train_bytes and run.train_tokens else 1.0
    new = complete(model, tok, ids, max(1, math.ceil(max_new_bytes / bytes_per_token)), not sample, temperature)
    text = tok.decode(new, skip_special_tokens=True).encode()[:max_new_bytes].decode("utf-8", errors="ignore")
    return prompt + text

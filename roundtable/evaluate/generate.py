"""Generation from any arm's model through its own ``generate``: greedy or sampled
continuations, batched where the model takes left padding, and generation speed. An
arm's model brings its own cache (attention keys and values, the LSTM's recurrent
state), so nothing here knows which arm it is."""

from __future__ import annotations

import torch

from roundtable.data.tokenization import encode_texts, task_token_ids


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


def _left_padding_ok(model) -> bool:
    """Attention models take left-padded batches, and the LSTM (it packs each row's real
    tokens, see LSTMForCausalLM._recur); a model that says it cannot goes one by one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(base, "supports_left_padding", True)


@torch.inference_mode()
def complete_many(model, tok, prompts: list[list[int]], max_new_tokens: int, num_beams: int = 1,
                  batch_size: int = 8) -> list[list[int]]:
    """Greedy (or beam) continuations of many prompts, each until [TASK_END]. Batched
    with left padding where the model allows it (every arm here: the same tokens as one
    at a time, several times faster), one at a time otherwise."""
    if not _left_padding_ok(model):
        return [complete(model, tok, p, max_new_tokens, greedy=True, num_beams=num_beams) for p in prompts]
    _, end = task_token_ids(tok)
    pad = tok.pad_token_id
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths: less padding
    results: dict[int, list[int]] = {}
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        width = max(len(prompts[j]) for j in idx)
        x = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros_like(x)
        for r, j in enumerate(idx):
            x[r, width - len(prompts[j]) :] = torch.tensor(prompts[j])
            mask[r, width - len(prompts[j]) :] = 1
        gen = model.generate(
            input_ids=x.to(model.device), attention_mask=mask.to(model.device), max_new_tokens=max_new_tokens,
            do_sample=False, num_beams=num_beams, eos_token_id=end, pad_token_id=pad,
        )[:, width:].tolist()
        for r, j in enumerate(idx):
            row = gen[r]
            results[j] = row[: row.index(end)] if end in row else row  # rows pad only after [TASK_END]
    return [results[j] for j in range(len(prompts))]


@torch.inference_mode()
def generation_speed(model, tok, new_tokens: int = 32, prompt: str = "The") -> dict:
    """Tokens/s and bytes/s generating exactly ``new_tokens`` greedy tokens after a fixed
    prompt (no early stop), with the model's own cache where it has one."""
    import time

    start, _ = task_token_ids(tok)
    x = torch.tensor([[start] + encode_texts(tok, [prompt])[0]], device=model.device)
    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    out = model.generate(
        input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
        do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=None,
    )[0, x.shape[1]:]
    seconds = time.perf_counter() - t0
    if was_training:
        model.train()
    n_bytes = len(tok.decode(out, skip_special_tokens=True).encode())
    return {
        "new_tokens": int(out.numel()), "seconds": seconds,
        "tokens_per_second": out.numel() / seconds, "bytes_per_second": n_bytes / seconds,
    }


def lm_samples(model, tok, prompts: list[str], new_bytes: int, bytes_per_token: float) -> list[dict]:
    """Greedy continuations of fixed prompts, about ``new_bytes`` long for every arm."""
    start, _ = task_token_ids(tok)
    n = max(1, int(new_bytes / max(bytes_per_token, 1e-6)))
    ids = [[start] + row for row in encode_texts(tok, prompts)]
    news = complete_many(model, tok, ids, n)  # one batch: the same greedy tokens as one at a time
    return [{"prompt": p, "text": tok.decode(new, skip_special_tokens=True)} for p, new in zip(prompts, news)]

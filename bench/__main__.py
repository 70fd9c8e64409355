"""roundtable benchmarks: ratios measured in one run on this machine.

(a) training tokens/s of each arm through roundtable's training path against a bare
    PyTorch loop on the same model, batch and data (goal >= 0.95);
(b) achieved FLOP/s of the fine-tune arm against the fp32 matmul peak measured here
    (goal >= 0.70 on CPU);
(c) LoRA step time against full fine-tuning (goal: LoRA >= 1.3x faster per step);
(d) tokenization throughput and peak memory for 10 MB and 100 MB of text.

Each figure is printed as one JSON line: name, value, unit, and goal where one applies.
``python -m bench --quick`` uses fewer steps and only the 10 MB corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch


def emit(name: str, value: float, unit: str, goal: str | None = None, **extra) -> None:
    row = {"name": name, "value": round(value, 4), "unit": unit}
    if goal:
        row["goal"] = goal
    row.update(extra)
    print(json.dumps(row), flush=True)


def matmul_peak(n: int = 2048, repeat: int = 5) -> float:
    """Best fp32 GFLOP/s of an n x n matrix multiply with this process's threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def bare_loop(model, data, arm, steps: int) -> float:
    """Tokens/s of a plain loop: AdamW, forward, backward, clip, step; same batches."""
    from torch.utils.data import DataLoader

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=arm.learning_rate,
                            weight_decay=arm.weight_decay)
    def batches():
        while True:  # epochs, as the Trainer does
            yield from DataLoader(data, batch_size=arm.batch_size, shuffle=True)

    loader = batches()
    model.train()
    tokens, t0 = 0, time.perf_counter()
    for _ in range(steps):
        batch = next(loader)
        loss = model(**batch, use_cache=False).loss  # as the Trainer trains: no key/value cache
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), arm.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    return tokens / (time.perf_counter() - t0)


def through_roundtable(model, tok, data, evaluator, arm, steps: int, tmp: Path) -> tuple[float, float]:
    """Tokens/s of train_run under a --max-steps budget (evaluation is not timed)."""
    from roundtable.config import BudgetConfig
    from roundtable.train import train_run

    out = train_run(model, tok, data, evaluator, arm, BudgetConfig(seconds=None, max_steps=steps, curve_points=0),
                    tmp / arm.name, tmp / "tb" / arm.name, seed=0, device="cpu", progress=False)
    return out.train_tokens / out.train_seconds, out.train_flops / out.train_seconds


def arm_setup(name: str, texts: list[str], valid: list[str], factory):
    from roundtable.config import CompareConfig, arm_defaults
    from roundtable.data import Record
    from roundtable.evaluate import ArmEvaluator
    from roundtable.tasks import LMTask
    from roundtable.tokenization import block_for, bytes_per_token

    arm = arm_defaults(name)
    train = [Record(text=t) for t in texts]
    tok = factory.tokenizer(arm, train)
    context = CompareConfig.__dataclass_fields__["context_bytes"].default  # the comparison's default
    arm = replace(arm, block_size=block_for(context, bytes_per_token(tok, texts)))
    data = LMTask().train_dataset(tok, train, arm.block_size, arm.name)
    es = LMTask().eval_set(tok, [Record(text=t) for t in valid])
    ev = ArmEvaluator(full=es, subset=None, window=arm.block_size, stride=arm.block_size, progress=False)
    return arm, tok, data, ev


def bench_training(steps: dict[str, int], tmp: Path) -> None:
    from roundtable.arms import ArmFactory
    from roundtable.demo import reference_topics
    from roundtable.flops import flops_per_token

    texts = reference_topics()
    valid = [texts[-1][:2000]]
    factory = ArmFactory("smollm2-135m")
    peak = matmul_peak()
    emit("matmul_peak_fp32", peak / 1e9, "GFLOP/s", threads=torch.get_num_threads())
    step_time = {}
    for name, n in steps.items():
        arm, tok, data, ev = arm_setup(name, texts[:-1], valid, factory)
        bare_loop(factory.model(arm, tok, seed=1), data, arm, 2)  # warm the allocator for whichever runs first
        torch.manual_seed(0)
        bare = bare_loop(factory.model(arm, tok, seed=0), data, arm, n)
        rt, flops_s = through_roundtable(factory.model(arm, tok, seed=0), tok, data, ev, arm, n, tmp)
        emit(f"train_tokens_per_s[{name}]", rt, "tokens/s", bare_tokens_per_s=round(bare, 1))
        emit(f"roundtable_vs_bare_loop[{name}]", rt / bare, "ratio", goal=">= 0.95")
        if name == "finetune":
            model = factory.model(arm, tok, seed=0)
            achieved = flops_per_token(model, arm.block_size) * rt
            emit("finetune_achieved_flops", achieved / 1e9, "GFLOP/s")
            emit("finetune_mfu_vs_matmul_peak", achieved / peak, "ratio", goal=">= 0.70")
        if name in ("finetune", "finetune-lora"):
            step_time[name] = arm.batch_size * arm.block_size / rt
    if len(step_time) == 2:
        emit("lora_speedup_per_step", step_time["finetune"] / step_time["finetune-lora"], "ratio", goal=">= 1.3")


_TOKENIZE = r"""
import json, sys, time
from pathlib import Path
from transformers import AutoTokenizer
from roundtable.tokencache import lm_blocks
tok = AutoTokenizer.from_pretrained(sys.argv[2])
texts = Path(sys.argv[1]).read_text(encoding="utf-8").split("\n\n")
t0 = time.perf_counter()
blocks = lm_blocks(tok, texts, 256)
first = time.perf_counter() - t0
t0 = time.perf_counter()
lm_blocks(tok, texts, 256)
second = time.perf_counter() - t0
# VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across exec
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"first": first, "second": second, "tokens": blocks.stream_tokens, "peak_rss_mb": int(hwm) / 1024}))
"""


def bench_tokenization(sizes_mb: list[int], tmp: Path) -> None:
    """Tokenize a corpus of the given size (the Python reference, repeated with a
    counter so no two documents are equal) in a fresh process, twice."""
    from roundtable.arms import ArmFactory
    from roundtable.config import arm_defaults
    from roundtable.demo import reference_topics

    # the fine-tune arm's tokenizer, saved as plain files: the child process measures
    # tokenization, not the loading of the GGUF model file
    tok_dir = tmp / "tokenizer"
    ArmFactory("smollm2-135m").tokenizer(arm_defaults("finetune"), []).save_pretrained(tok_dir)
    base = "\n\n".join(reference_topics())
    for mb in sizes_mb:
        path = tmp / f"corpus-{mb}mb.txt"
        with open(path, "w", encoding="utf-8") as f:
            written, i = 0, 0
            while written < mb * 1_000_000:
                chunk = f"Copy {i}.\n\n{base}\n\n"
                f.write(chunk)
                written += len(chunk.encode())
                i += 1
        env = {**os.environ, "ROUNDTABLE_CACHE": str(tmp / "cache")}
        done = subprocess.run([sys.executable, "-c", _TOKENIZE, str(path), str(tok_dir)], capture_output=True,
                              text=True, env=env)
        if done.returncode:
            emit(f"tokenize_{mb}mb_failed", 0, "error", error=done.stderr.strip().splitlines()[-1])
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        emit(f"tokenize_{mb}mb_seconds", r["first"], "s", goal="about 60 s for 100 MB" if mb == 100 else None)
        emit(f"tokenize_{mb}mb_throughput", mb / r["first"], "MB/s", tokens=r["tokens"])
        emit(f"tokenize_{mb}mb_cached_seconds", r["second"], "s")
        emit(f"tokenize_{mb}mb_peak_rss", r["peak_rss_mb"], "MB")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps; only the 10 MB corpus")
    args = p.parse_args()
    import transformers

    transformers.logging.set_verbosity_error()
    n_ft = 3 if args.quick else 8
    steps = {"scratch-lstm": 30 if args.quick else 100, "scratch-transformer": 20 if args.quick else 60,
             "finetune": n_ft, "finetune-lora": n_ft}
    with tempfile.TemporaryDirectory(prefix="roundtable-bench-") as d:
        bench_training(steps, Path(d))
        bench_tokenization([10] if args.quick else [10, 100], Path(d))


if __name__ == "__main__":
    main()

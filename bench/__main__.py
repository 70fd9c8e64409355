"""roundtable benchmarks: ratios measured in one run on this machine.

(a) wall clock of the demo comparisons (whole command, model load, scoring, samples and
    report included) over their summed budgets: language modelling (two arms, 120 s
    each; goal <= 1.25) and summarization (180 s each; goal <= 1.5); and of a
    summarization set roundtable was not tuned on (bench/unseen.py, 180 s each; goal <= 1.5);
(b) the matmul peaks of fp32 and bf16 measured here, the precision ``auto`` chooses, and
    fine-tune tokens/s under ``auto`` over fp32 (goal >= 2.0 on a CPU with AMX, >= 1.0
    anywhere);
(c) training tokens/s of each arm through roundtable's training path against a bare
    PyTorch loop on the same model, batch, data and precision (goal >= 0.95), and the
    share of training time spent waiting for batches (goal <= 0.01);
(d) MFU of the fine-tune arm against the peak of the precision it used (goal >= 0.70);
(e) LoRA step time against full fine-tuning (goal: LoRA >= 1.3x faster per step);
(f) tokenization throughput and peak memory for 10 MB and 100 MB of text;
(g) ``shared`` (bench/shared_machine.py): two shards of one comparison side by side on
    this machine, their cores divided against each with every core, in total training
    steps per second (goal >= 1.6 on 2 cores);
(h) ``calibration`` (bench/calibration.py), only when named in ``--only``: the verdict's
    error rates (A/A, A/B, coverage) over many small comparisons, about 30 minutes. Its
    budgets are optimizer steps, so it needs no quiet machine, unlike (a)-(g), and its
    figures are for the documentation, not for each speed check.
(i) ``sizing`` (bench/sizing.py), only when named in ``--only``: the scratch transformer at
    the size ``size: auto`` chooses against sizes around it at three budgets in FLOPs (goal:
    the rule's size within 0.02 bits per byte of the best measured), about 40 minutes;
(j) ``forecast`` (bench/forecast.py), only when named in ``--only``: forecasts at 4x and 10x
    run for real there, 32 of them on two splits each of two corpora, calibrated on 56 of
    other splits; about 60 minutes on 2 cores.

Each figure is printed as one JSON line: name, value, unit, and goal where one applies.
``python -m bench --quick`` uses fewer steps, 30 s demo budgets (fixed costs weigh more
than at the goals' budgets, so no goal is printed for them) and only the 10 MB corpus;
``--only`` picks parts.
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

from roundtable.evaluate.precision import PROBE_N, autocast, matmul_gflops, probe_speedup, resolve
from roundtable.results import RESULTS

PARTS = ("demo", "unseen", "training", "tokenize", "shared", "calibration", "sizing", "forecast")
DEFAULT_PARTS = PARTS[:5]


def emit(name: str, value: float, unit: str, goal: str | None = None, **extra) -> None:
    row = {"name": name, "value": round(value, 4), "unit": unit}
    if goal:
        row["goal"] = goal
    row.update(extra)
    print(json.dumps(row), flush=True)


def bench_wall(task: str, budget: str, tmp: Path, goal: str | None) -> None:
    """The demo as a user runs it, in a fresh process: wall clock over summed budgets.

    Twice: first as a user's first comparison on this data (no step-0 score kept yet:
    the start-point cache is empty, the default model converted as ``make install``
    leaves it), then again (``_rerun``), when the pretrained model's step-0 score is
    read from the machine's cache (startcache.py)."""
    names = (f"wall_over_budget_{task}", f"wall_over_budget_{task}_rerun")
    wall_of([["demo", "--task", task]] * 2, names, budget, tmp / f"cache-{task}", goal)


def bench_unseen(budget: str, tmp: Path, goal: str | None) -> None:
    """Summarization on a set roundtable was not tuned on (bench/unseen.py: about 6,000
    docstring pairs, 600 held out), the default arms, as a user's first comparison."""
    from bench.unseen import write

    data = tmp / "unseen-pairs.jsonl"
    n = write(data)
    wall_of([["compare", "--task", "summarize", "--data", str(data)]], ["wall_over_budget_summarize_unseen"], budget,
            tmp / "cache-unseen", goal, pairs=n)


def wall_of(commands: list[list[str]], names: list[str], budget: str, cache: Path, goal: str | None, **extra) -> None:
    """Each command in a fresh process, one after another on one roundtable cache (its own
    start points and scoring speeds; the converted models shared): wall clock over summed budgets."""
    import os

    from roundtable.arms.pretrained import file_sha256, offline_default_path
    from roundtable.core.paths import cache_root

    # the default model is converted from GGUF once per machine (make install): say whether it was
    models = cache_root() / "models"
    warm = (models / file_sha256(offline_default_path()) / "config.json").is_file()
    cache.mkdir()
    if models.is_dir():
        (cache / "models").symlink_to(models.resolve(), target_is_directory=True)
    for name, command in zip(names, commands):
        out = cache.parent / name
        cmd = [sys.executable, "-m", "roundtable", *command, "--budget", budget, "--out", str(out), "--no-progress"]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "ROUNDTABLE_CACHE": str(cache)})
        wall = time.perf_counter() - t0
        if done.returncode:
            emit(f"{name}_failed", 0, "error", error=(done.stderr.strip().splitlines() or ["?"])[-1])
            return
        results = json.loads((out / RESULTS).read_text())
        runs = results["runs"]
        ladder = results.get("ladder") or []  # the forecast's extra runs: their own part of the budget
        budgets = results["config"]["budget"]["seconds"] * (len(runs) + sum(r.get("budget_share", 0) for r in ladder))
        emit(name, wall / budgets, "ratio", goal=goal, wall_seconds=round(wall, 1), budget_seconds=budgets,
             forecast_extra_runs=len(ladder), forecast_extra_wall_seconds=round(sum(r.get("wall_seconds", 0)
                                                                                   for r in ladder), 1),
             runs=len(runs), precision=sorted({r.get("precision", "?") for r in runs}), model_cache_warm=warm,
             step0_cached=any(r["curve"][0].get("cached") for r in runs if r.get("curve")),
             train_seconds=round(sum(r.get("train_seconds", 0) for r in runs), 1),
             eval_seconds=round(sum(r.get("eval_seconds", 0) for r in runs), 1),
             cost_seconds=round(sum(r.get("cost_seconds", 0) for r in runs), 1),
             lr_search_seconds=round(results.get("lr_search_seconds", 0), 1),
             scored_valid_bytes=results["data"].get("scored_valid_bytes"),
             valid_bytes=results["data"].get("valid_bytes"), **extra)


def bench_peaks() -> dict[str, float]:
    """GFLOP/s of fp32 and bf16 matrix multiply, measured here. Emulated bf16 (a CPU
    without bf16 instructions) is measured at the probe's size: at 2048 one multiply
    would take minutes."""
    speedup = probe_speedup()
    emulated = speedup < 0.5
    peaks = {"fp32": matmul_gflops(torch.float32, 2048, deadline=5.0),
             "bf16": matmul_gflops(torch.bfloat16, PROBE_N if emulated else 2048, deadline=5.0)}
    threads = torch.get_num_threads()
    emit("peak_fp32_gflops", peaks["fp32"], "GFLOP/s", n=2048, threads=threads)
    emit("peak_bf16_gflops", peaks["bf16"], "GFLOP/s", n=PROBE_N if emulated else 2048, threads=threads)
    emit("precision_probe_bf16_over_fp32", speedup, "ratio", chosen=resolve("auto", "cpu"))
    return peaks


def bare_loop(model, data, arm, steps: int, precision: str) -> float:
    """Tokens/s of a plain loop: AdamW, forward (under the same autocast), backward, clip,
    step; same batches."""
    from torch.utils.data import DataLoader

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=arm.learning_rate,
                            weight_decay=arm.weight_decay)
    def batches():
        while True:  # epochs, as the Trainer does
            yield from DataLoader(data, batch_size=arm.batch_size, shuffle=True, collate_fn=data.collate)

    loader = batches()
    model.train()
    tokens, t0 = 0, time.perf_counter()
    for _ in range(steps):
        batch = next(loader)
        with autocast("cpu", precision):
            loss = model(**batch, use_cache=False).loss  # as the Trainer trains: no key/value cache
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), arm.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    return tokens / (time.perf_counter() - t0)


def through_roundtable(model, tok, data, evaluator, arm, steps: int, tmp: Path, precision: str):
    """train_run under a --max-steps budget (evaluation is not timed): its TrainOutcome."""
    from roundtable.config.settings import BudgetConfig
    from roundtable.train.trainer import train_run

    return train_run(model, tok, data, evaluator, arm, BudgetConfig(seconds=None, max_steps=steps, curve_points=0),
                     tmp / f"{arm.name}-{precision}", tmp / "tb" / arm.name, seed=0, device="cpu", progress=False,
                     precision=precision)


def arm_setup(name: str, texts: list[str], valid: list[str], factory):
    from roundtable.arms import arm_defaults
    from roundtable.config.settings import CompareConfig
    from roundtable.data.corpus import Record
    from roundtable.data.tokenization import block_for, bytes_per_token
    from roundtable.evaluate.scorer import ArmEvaluator
    from roundtable.tasks import LMTask

    arm = arm_defaults(name)
    if arm.size == "auto":  # the speed bench times one fixed shape (4 x 128), the same on every machine
        arm = replace(arm, size="fixed")
    train = [Record(text=t) for t in texts]
    tok = factory.tokenizer(arm, [r.text for r in train])
    context = CompareConfig.__dataclass_fields__["context_bytes"].default  # the comparison's default
    arm = replace(arm, block_size=block_for(context, bytes_per_token(tok, texts)))
    data = LMTask().train_dataset(tok, train, arm.block_size, arm.name)
    es = LMTask().eval_set(tok, [Record(text=t) for t in valid])
    ev = ArmEvaluator(full=es, subset=None, window=arm.block_size, stride=arm.block_size, progress=False)
    return arm, tok, data, ev


def bench_training(steps: dict[str, int], tmp: Path) -> None:
    from roundtable.arms import DEFAULT_MODEL
    from roundtable.arms.factory import ArmFactory
    from roundtable.data.demo import reference_topics
    from roundtable.train.flops import flops_per_token

    texts = reference_topics()
    valid = [texts[-1][:2000]]
    factory = ArmFactory(DEFAULT_MODEL)
    peaks = bench_peaks()
    chosen = resolve("auto", "cpu")
    step_time = {}
    for name, n in steps.items():
        arm, tok, data, ev = arm_setup(name, texts[:-1], valid, factory)
        bare_loop(factory.model(arm, tok, seed=1), data, arm, 2, chosen)  # warm the allocator for whichever runs first
        torch.manual_seed(0)
        bare = bare_loop(factory.model(arm, tok, seed=0), data, arm, n, chosen)
        out = through_roundtable(factory.model(arm, tok, seed=0), tok, data, ev, arm, n, tmp, chosen)
        rt = out.train_tokens / out.train_seconds
        emit(f"train_tokens_per_s[{name}]", rt, "tokens/s", bare_tokens_per_s=round(bare, 1), precision=chosen)
        emit(f"roundtable_vs_bare_loop[{name}]", rt / bare, "ratio", goal=">= 0.95", precision=chosen)
        emit(f"data_wait_share[{name}]", out.data_wait_seconds / out.train_seconds, "ratio", goal="<= 0.01",
             data_wait_seconds=round(out.data_wait_seconds, 3), steps=out.steps)
        if name == "finetune":
            achieved = flops_per_token(factory.model(arm, tok, seed=0), arm.block_size) * rt
            emit("finetune_achieved_flops", achieved / 1e9, "GFLOP/s", precision=chosen)
            emit("finetune_mfu", achieved / 1e9 / peaks[chosen], "ratio", goal=">= 0.70", precision=chosen,
                 peak_gflops=round(peaks[chosen], 1))
            if chosen == "fp32":  # auto is fp32 here: the same run, by definition
                emit("finetune_auto_over_fp32", 1.0, "ratio", goal=">= 2.0 with AMX; >= 1.0 anywhere",
                     auto="fp32", note="auto resolved to fp32 on this CPU")
            else:
                fp32 = through_roundtable(factory.model(arm, tok, seed=0), tok, data, ev, arm, n, tmp, "fp32")
                emit("finetune_auto_over_fp32", rt / (fp32.train_tokens / fp32.train_seconds), "ratio",
                     goal=">= 2.0 with AMX; >= 1.0 anywhere", auto=chosen)
        if name in ("finetune", "finetune-lora"):
            step_time[name] = arm.batch_size * arm.block_size / rt
    if len(step_time) == 2:
        emit("lora_speedup_per_step", step_time["finetune"] / step_time["finetune-lora"], "ratio", goal=">= 1.3")


_TOKENIZE = r"""
import json, sys, time
from pathlib import Path
from transformers import AutoTokenizer
from roundtable.data.tokencache import lm_blocks
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
    from roundtable.arms import DEFAULT_MODEL, arm_defaults
    from roundtable.arms.factory import ArmFactory
    from roundtable.data.demo import reference_topics

    # the fine-tune arm's tokenizer, saved as plain files: the child process measures
    # tokenization, not the loading of the GGUF model file
    tok_dir = tmp / "tokenizer"
    ArmFactory(DEFAULT_MODEL).tokenizer(arm_defaults("finetune"), []).save_pretrained(tok_dir)
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
    p.add_argument("--quick", action="store_true", help="fewer steps, 30 s demo budgets, only the 10 MB corpus")
    p.add_argument("--only", default=",".join(DEFAULT_PARTS),
                   help=f"comma-separated parts to run: {', '.join(PARTS)} (default all but calibration, sizing and forecast)")
    p.add_argument("--keep", default=None, metavar="DIR",
                   help="calibration, forecast: keep each comparison's folder under DIR, to judge its runs again")
    args = p.parse_args()
    parts = {x.strip() for x in args.only.split(",") if x.strip()}
    if parts - set(PARTS):
        p.error(f"--only takes {', '.join(PARTS)}")
    import transformers

    transformers.logging.set_verbosity_error()
    n_ft = 3 if args.quick else 8
    steps = {"scratch-lstm": 30 if args.quick else 100, "scratch-transformer": 20 if args.quick else 60,
             "finetune": n_ft, "finetune-lora": n_ft}
    with tempfile.TemporaryDirectory(prefix="roundtable-bench-") as d:
        if "demo" in parts:
            bench_wall("lm", "30s" if args.quick else "120s", Path(d), None if args.quick else "<= 1.25")
            bench_wall("summarize", "30s" if args.quick else "180s", Path(d), None if args.quick else "<= 1.5")
        if "unseen" in parts:
            bench_unseen("30s" if args.quick else "180s", Path(d), None if args.quick else "<= 1.5")
        if "training" in parts:
            bench_training(steps, Path(d))
        if "tokenize" in parts:
            bench_tokenization([10] if args.quick else [10, 100], Path(d))
        if "shared" in parts:
            from bench.shared_machine import bench_shared

            bench_shared(args.quick, Path(d), emit)
        if "calibration" in parts:
            from bench.calibration import bench_calibration

            keep = Path(args.keep) if args.keep else None  # the comparisons' folders, to judge again
            bench_calibration(args.quick, keep or Path(d), lambda row: emit(**row), keep=keep is not None)
        if "sizing" in parts:
            from bench.sizing import bench_sizing

            bench_sizing(args.quick, Path(d), emit)
        if "forecast" in parts:
            from bench.forecast import bench_forecast

            keep = Path(args.keep) if args.keep else None
            bench_forecast(args.quick, keep or Path(d), lambda **row: print(json.dumps(row, default=str), flush=True))


if __name__ == "__main__":
    main()

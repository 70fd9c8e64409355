"""Two shards of one comparison side by side on this machine: their cores divided between
them (the default: core/threads.py) against each with every core (``--threads`` set to
the mask's cores, as before shards divided them), in total training steps per second.

Two torch processes with a thread per core each on the same cores slow each other far
more than twice (OpenMP threads spin-wait while the other process holds the core), so
the divided pair should train at least 1.6x the steps per second of the undivided pair
on 2 cores. The budget is wall clock and the same for both pairs; each run's steps over
its training seconds (evaluation is off the clock) is its rate, and the two shards'
rates, which run at the same time, add up. The comparison: one arm (the seed-sized
LSTM) and two seeds, so each shard trains one run of the same model; no learning-rate
search and no scored sample, so both shards start training together.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from roundtable.core.threads import CHILD_VARS, mask_cores
from roundtable.results import RESULTS

GOAL = ">= 1.6 on 2 cores"


def cpu_name() -> str:
    """The CPU's model name, as lscpu gives it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_data(folder: Path) -> tuple[Path, Path]:
    from roundtable.data.demo import reference_topics

    texts = reference_topics()
    folder.mkdir(parents=True, exist_ok=True)
    train, valid = folder / "train.txt", folder / "valid.txt"
    train.write_text("\n\n".join(texts[:-20]), encoding="utf-8")
    valid.write_text("\n\n".join(texts[-20:])[:4000], encoding="utf-8")
    return train, valid


def pair(train: Path, valid: Path, out: Path, budget: str, threads: int | None) -> dict:
    """Shards 0/2 and 1/2 started together; their runs' steps, training seconds and cores."""
    env = {k: v for k, v in os.environ.items() if k not in CHILD_VARS}  # the default: the affinity mask's cores
    env["TOKENIZERS_PARALLELISM"] = "false"
    cmd = [sys.executable, "-m", "roundtable", "compare", "--task", "lm", "--data", str(train), "--valid", str(valid),
           "--arms", "scratch-lstm", "--seeds", "2", "--budget", budget, "--lr-search", "0", "--eval-share", "0",
           "--curve-points", "0", "--out", str(out), "--no-progress", "--device", "cpu", "--keep-models", "none",
           "--report-to", "tensorboard"]
    if threads:
        cmd += ["--threads", str(threads)]
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*cmd, "--shard", f"{k}/2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for k in (0, 1)]
    errors = [(p.communicate()[1], p.returncode) for p in procs]
    wall = time.perf_counter() - t0
    for err, rc in errors:
        if rc:
            raise RuntimeError((err.strip().splitlines() or ["?"])[-1])
    runs = json.loads((out / RESULTS).read_text())["runs"]
    return {"steps_per_second": sum(r["steps"] / r["train_seconds"] for r in runs),
            "steps": [r["steps"] for r in runs], "train_seconds": [round(r["train_seconds"], 1) for r in runs],
            "threads": [r.get("threads") for r in runs], "cores": [r.get("cores") for r in runs],
            "machine_busy": [r.get("machine_busy") for r in runs], "wall_seconds": round(wall, 1)}


def bench_shared(quick: bool, tmp: Path, emit: Callable[..., None]) -> None:
    cores = len(mask_cores())
    if cores < 2:
        emit("shared_machine_split_over_unsplit_failed", 0, "error", error="needs 2 cores or more in the affinity mask")
        return
    budget = "10s" if quick else "30s"
    train, valid = write_data(tmp / "shared-data")
    unsplit = pair(train, valid, tmp / "shared-unsplit", budget, threads=cores)
    split = pair(train, valid, tmp / "shared-split", budget, threads=None)
    emit("shared_machine_split_over_unsplit", split["steps_per_second"] / unsplit["steps_per_second"], "ratio",
         goal=None if quick or cores != 2 else GOAL, cpu=cpu_name(), cores=cores, budget=budget,
         split=split, unsplit=unsplit)

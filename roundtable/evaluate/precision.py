"""The number format of training and evaluation: chosen by measurement, the same for every arm.

On CPUs with AMX (and, less, AVX512-BF16) bf16 matrix multiply is several times faster
than fp32; on others it is emulated and far slower. ``auto`` therefore asks the
machine: a short matmul probe at start-up, once per process. Where bf16 wins, every
arm trains and is scored under bf16 autocast (fp32 master weights, fp32 log-softmax),
so the choice never favours one arm.
"""

from __future__ import annotations

import contextlib
import functools
import time

import torch

from roundtable.core import dist
from roundtable.core.errors import UserError

CHOICES = ("auto", "fp32", "bf16")
MIN_SPEEDUP = 1.5
"""bf16 must beat fp32 by this factor for ``auto`` to pick it on a CPU: below it, the
rounding is not worth a speed-up that a busy machine could erase."""
PROBE_N = 512
"""Matrix size of the probe: large enough for AMX tiles to pay off and for fp32 to use
its threads fully (smaller multiplies are dominated by thread start-up on a busy
machine, which would flatter bf16), small enough to take well under a millisecond
where bf16 is fast."""


def matmul_gflops(dtype: torch.dtype, n: int, repeat: int = 5, deadline: float = 0.1) -> float:
    """Best GFLOP/s of an n x n matrix multiply in ``dtype`` on this process's threads.

    The first multiply warms kernels and threads up and counts only if it alone passes
    ``deadline`` seconds: then the format is slow (emulated bf16 multiplies at about
    1 GFLOP/s on an AMD EPYC) and one slow answer is answer enough."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    times, t_end = [], time.perf_counter() + deadline
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > t_end:
            break
    return 2 * n**3 / max(min(times[1:] or times), 1e-9) / 1e9


@functools.lru_cache(maxsize=1)
def probe_speedup() -> float:
    """bf16 over fp32 matmul speed on this CPU, measured once per process (about 0.3 s
    where bf16 is emulated, milliseconds where it is fast)."""
    return matmul_gflops(torch.bfloat16, PROBE_N) / matmul_gflops(torch.float32, PROBE_N)


@functools.lru_cache(maxsize=2)
def peak_gflops(precision: str) -> float:
    """This CPU's matmul speed in the precision used (1024 x 1024, best of a few), once
    per process: what bounds how many steps a slice of seconds can hold."""
    return matmul_gflops(torch.bfloat16 if precision == "bf16" else torch.float32, 1024, deadline=1.0)


def resolve(requested: str, device: str, speedup: float | None = None) -> str:
    """``fp32`` or ``bf16`` for ``--precision`` on ``device`` (cpu, cuda, mps).

    auto: bf16 on CUDA GPUs that support it; on CPUs, bf16 when the probe (or
    ``speedup``, which tests pass to force its answer) finds it at least MIN_SPEEDUP
    times faster; fp32 otherwise. Under torchrun every process probes and the slowest
    answer wins, so all train in one format: a collective, called by every process."""
    if requested not in CHOICES:
        raise UserError(f"--precision must be one of {', '.join(CHOICES)}, got {requested!r}")
    kind = torch.device(device).type
    cuda_bf16 = kind == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if requested == "bf16" and kind == "cuda" and not cuda_bf16:
        raise UserError("--precision bf16 but this GPU does not support bf16; use --precision fp32 or auto")
    if requested != "auto":
        return requested
    if kind == "cuda":
        return "bf16" if cuda_bf16 else "fp32"
    if kind != "cpu":
        return "fp32"
    ratio = probe_speedup() if speedup is None else speedup
    (slowest,) = dist.all_max([-ratio])
    return "bf16" if -slowest >= MIN_SPEEDUP else "fp32"


def autocast(device, precision: str):
    """bf16 autocast on ``device`` when ``precision`` is bf16; nothing otherwise."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()

"""The few collective operations roundtable needs under torchrun / accelerate.

Every helper is a no-op in a single process, so the same code runs on a laptop.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


def init(cpu: bool) -> None:
    """Join the process group at start-up when launched by torchrun / accelerate, so
    the first collective (before any Trainer exists) already has every process. The
    state is accelerate's, shared with the Trainer that comes later."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not (dist.is_available() and dist.is_initialized()):
        from accelerate import PartialState

        PartialState(cpu=cpu)


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else int(os.environ.get("RANK", 0))


def world() -> int:
    return dist.get_world_size() if active() else int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    """Only the main process writes results, reports and models."""
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def _device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_max(values: list[float]) -> list[float]:
    """Element-wise maximum over processes: used so every rank takes the same decision."""
    if not active():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def all_sum(array: np.ndarray) -> np.ndarray:
    if not active():
        return array
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64)).to(_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().numpy()


def all_gather_objects(obj: Any) -> list:
    if not active():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out

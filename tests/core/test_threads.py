"""threads.py: one number sets every library's threads; processes of one job on one host
divide its cores, and follow siblings as they come and go."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from roundtable.core import threads
from roundtable.core.threads import Siblings, share_of

linux = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity masks are Linux's")


@pytest.fixture(autouse=True)
def restore():
    """Every test leaves the process's threads, mask and variables as it found them."""
    before, mask = torch.get_num_threads(), threads.mask_cores()
    env = {v: os.environ.get(v) for v in (*threads.CHILD_VARS, "TOKENIZERS_PARALLELISM")}
    yield
    torch.set_num_threads(before)
    threads.pin(mask)
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_share_of_divides_the_cores_into_contiguous_equal_slices():
    cores = [0, 1, 2, 3, 4, 5, 6]
    # equal, the remainder idle: arms in two shards under one wall-clock budget get the same compute
    assert [share_of(cores, i, 2) for i in range(2)] == [[0, 1, 2], [3, 4, 5]]
    assert [share_of(cores, i, 3) for i in range(3)] == [[0, 1], [2, 3], [4, 5]]
    assert share_of(cores, 0, 1) == cores
    # more processes than cores: one core each, shared round-robin
    assert [share_of([0, 1], i, 3) for i in range(3)] == [[0], [1], [0]]


def test_threads_come_from_the_flag_then_omp_num_threads_then_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(threads, "_USER_THREADS", 3)
    assert threads.resolve(5) == (5, "--threads")
    assert threads.resolve(None) == (3, "OMP_NUM_THREADS")
    monkeypatch.setattr(threads, "_USER_THREADS", None)
    assert threads.resolve(None) == (len(threads.mask_cores()), "the CPU affinity mask")


def test_apply_sets_torch_and_the_variables_children_and_pools_read():
    setting = threads.apply(2, "--threads")
    assert torch.get_num_threads() == 2 and setting.threads == 2
    assert all(os.environ[v] == "2" for v in threads.CHILD_VARS)
    # the inter-op pool is sized once per process: a second size is no error, and the setting says what it is
    again = threads.apply(1, "--threads")
    assert again.interop_threads == torch.get_num_interop_threads() >= 1
    assert torch.get_num_threads() == 1 and os.environ["TOKENIZERS_PARALLELISM"] == "false"
    assert threads.current() == {"threads": 1, "cores": len(threads.mask_cores())}


def _marker(folder, name: str, pid: int, host: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}-{pid}.json").write_text(json.dumps(
        {"host": host or socket.gethostname(), "pid": pid, "started": threads._started(pid), "name": name}))


@linux
def test_siblings_on_one_host_divide_the_cores_and_follow_them_as_they_come_and_go(tmp_path, monkeypatch):
    pinned = []
    monkeypatch.setattr(threads, "_BASE_CORES", [0, 1, 2, 3])
    monkeypatch.setattr(threads, "pin", pinned.append)  # cores this machine may not have
    me = Siblings(tmp_path, "shard0-rank0")
    me.join()
    assert me.follow(force=True).threads == 4 and pinned[-1] == [0, 1, 2, 3]  # alone: every core

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _marker(tmp_path, "shard1-rank0", other.pid)
        _marker(tmp_path, "shard2-rank0", other.pid, host="another-host")  # another machine's cores are its own
        assert me.follow() is None  # looked less than CHECK_SECONDS ago
        setting = me.follow(force=True, grow=False)  # a sibling came during a run: the share shrinks at once
        assert pinned[-1] == [0, 1] and setting.threads == 2 == torch.get_num_threads()
        assert "2 of the host's 4 cores" in setting.source
        assert me.follow(force=True) is None  # nothing changed
    finally:
        other.kill()
        other.wait()
    # the sibling ended (its marker left behind, as a killed process leaves it): during a run
    # the share does not grow (its peers elsewhere did not get more); at the next run it does
    assert me.follow(force=True, grow=False) is None and pinned[-1] == [0, 1]
    assert me.follow(force=True).threads == 4 and pinned[-1] == [0, 1, 2, 3]
    me.leave()
    assert not me.marker.exists()


@linux
def test_a_cap_from_omp_num_threads_holds_within_the_share(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "_BASE_CORES", [0, 1, 2, 3])
    monkeypatch.setattr(threads, "pin", lambda cores: None)
    me = Siblings(tmp_path, "shard0-rank0", cap=1)
    me.join()
    assert me.follow(force=True).threads == 1


@linux
def test_divided_leaves_a_marker_while_it_runs_and_restores_the_mask(tmp_path):
    mask = threads.mask_cores()
    with threads.divided(tmp_path, "shard0-rank0", requested=None):
        (marker,) = tmp_path.glob("*.json")
        assert json.loads(marker.read_text())["pid"] == os.getpid()
        assert threads.mask_cores() == mask  # alone on the host: every core it had
    assert not list(tmp_path.glob("*.json")) and threads.mask_cores() == mask
    with threads.divided(tmp_path / "given", "shard0-rank0", requested=1):  # --threads: no division
        assert not (tmp_path / "given").exists()


@linux
def test_a_share_that_may_not_grow_mid_run_moves_within_the_new_division(tmp_path, monkeypatch):
    # three shards on 6 cores (2 each); the first ends while this one (the middle) trains:
    # it keeps 2 cores, taken from its new share (0-2), never the last one's new share (3-5)
    pinned = []
    monkeypatch.setattr(threads, "_BASE_CORES", [0, 1, 2, 3, 4, 5])
    monkeypatch.setattr(threads, "pin", pinned.append)
    first, last = (subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2))
    try:
        _marker(tmp_path, "shard0-rank0", first.pid)
        _marker(tmp_path, "shard2-rank0", last.pid)
        me = Siblings(tmp_path, "shard1-rank0")
        me.join()
        assert me.follow(force=True).threads == 2 and pinned[-1] == [2, 3]
        first.kill()
        first.wait()
        assert me.follow(force=True, grow=False).threads == 2 and pinned[-1] == [0, 1]
        assert set(pinned[-1]).isdisjoint(threads.share_of([0, 1, 2, 3, 4, 5], 1, 2))  # the last shard's new share
        assert me.follow(force=True).threads == 3 and pinned[-1] == [0, 1, 2]  # the next run: its whole share
    finally:
        for p in (first, last):
            p.kill()
            p.wait()

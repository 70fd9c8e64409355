"""The threads and cores of this process: how many threads every library that spins its
own uses, and which cores it may run on.

Two processes on the same cores, each with a thread per core, slow each other far more
than twice (OpenMP threads spin-wait for each other while the other process holds the
core): 100 LSTM steps took 20.8 s alone and 86-99 s each with two side by side on 2
cores, 24 s each with one thread per process. So every library's thread count is set
from one number (``--threads``; by default ``OMP_NUM_THREADS`` where the user set it,
else the cores in the CPU affinity mask, which ``taskset`` and Slurm's ``--cpus-per-task``
set), and processes of one job on one host divide the mask's cores between them
(``Siblings``): each finds the others by the markers they leave in a folder they share,
each naming its host and process.

torch's inter-op pool can be sized once per process, before any inter-op work: a second
size is ignored (``ThreadSetting.interop_threads`` says what it is). ``RAYON_NUM_THREADS``
(the tokenizers' pool) is read when that pool starts, at the first parallel
tokenization, so it holds from the comparison's start; ``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` are set for child processes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from roundtable.core.files import write_json

logger = logging.getLogger(__name__)

CHILD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")
"""What child processes and lazily started pools (OpenMP, MKL, the tokenizers' rayon) read."""
CHECK_SECONDS = 2.0
"""How often a process sharing its host looks for siblings that came or went."""


def _user_threads() -> int | None:
    """``OMP_NUM_THREADS`` as the user set it before roundtable set its own."""
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


_USER_THREADS = _user_threads()


def mask_cores() -> list[int]:
    """The cores this process may run on now (its CPU affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


_BASE_CORES = mask_cores()
"""The mask the process started with, before any ``Siblings`` share narrowed it."""


def pin(cores: list[int]) -> None:
    """Run every thread of this process on ``cores`` (Linux sets a mask per thread: the
    pools already started keep theirs unless each is set)."""
    if not hasattr(os, "sched_setaffinity"):
        return
    tids = [int(t) for t in os.listdir("/proc/self/task")] if os.path.isdir("/proc/self/task") else [0]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cores)
        except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
            pass


@dataclass(frozen=True)
class ThreadSetting:
    threads: int
    """torch intra-op threads; OpenMP, MKL and rayon threads of the pools that start later."""
    interop_threads: int
    cores: int
    """Cores in the affinity mask."""
    source: str
    """Where the number came from: --threads, OMP_NUM_THREADS, the affinity mask, or a
    share of the host's cores divided between sibling processes."""


def resolve(requested: int | None) -> tuple[int, str]:
    """``--threads`` where given, else ``OMP_NUM_THREADS`` where the user set it, else the
    cores in the affinity mask."""
    if requested:
        return int(requested), "--threads"
    if _USER_THREADS:
        return _USER_THREADS, "OMP_NUM_THREADS"
    return len(mask_cores()), "the CPU affinity mask"


def apply(threads: int, source: str) -> ThreadSetting:
    """Set ``threads`` for every library that spins its own (see the module's docstring)."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # sized already in this process (an earlier comparison, or inter-op work)
        pass
    for var in CHILD_VARS:
        os.environ[var] = str(threads)
    if threads == 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    return ThreadSetting(threads, torch.get_num_interop_threads(), len(mask_cores()), source)


def start(requested: int | None) -> ThreadSetting:
    """The comparison's threads, set at its start: ``--threads`` or its default."""
    return apply(*resolve(requested))


def share_of(cores: list[int], index: int, n: int) -> list[int]:
    """The ``index``-th of ``n`` contiguous slices of ``cores``, all of one size (one core
    each, shared round-robin, when there are fewer cores than processes). Equal, not near
    equal: shards often train one arm each, and under a wall-clock budget an arm on 4 cores
    beside one on 3 would be given a third more compute; the remainder stays idle."""
    if n <= 1:
        return list(cores)
    if len(cores) < n:
        return [cores[index % len(cores)]]
    k = len(cores) // n
    return cores[index * k : (index + 1) * k]


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22):
    with the pid, it names one process, whatever pid reuse happens later."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    return started is None or _started(pid) in (None, started)


@dataclass
class Siblings:
    """Processes of one job (the shards of one comparison) on this host, found by the
    markers in ``folder``: each divides the cores of its affinity mask with the live
    ones, in the order of their names, and follows them as they come and go (``follow``)."""

    folder: Path
    name: str
    cap: int | None = None
    """Threads at most (``OMP_NUM_THREADS`` as the user set it), whatever the share."""
    host: str = field(default_factory=socket.gethostname)
    cores: list[int] = field(default_factory=list)
    """This process's share as last applied."""
    checked: float = 0.0

    @property
    def marker(self) -> Path:
        return self.folder / f"{self.host}-{os.getpid()}.json"

    def join(self) -> None:
        write_json(self.marker, {"host": self.host, "pid": os.getpid(), "started": _started(os.getpid()),
                                 "name": self.name})

    def leave(self) -> None:
        self.marker.unlink(missing_ok=True)

    def live(self) -> list[str]:
        """The names of the live processes on this host with a marker here, this one's included."""
        names = set()
        for path in self.folder.glob("*.json"):
            try:
                m = json.loads(path.read_text())
                pid = int(m["pid"])
            except (OSError, ValueError, KeyError, TypeError):  # being written, or not a marker
                continue
            if m.get("host") == self.host and (pid == os.getpid() or _alive(pid, m.get("started"))):
                names.add(f"{m.get('name')}\0{pid}")
        return sorted(names)

    def share(self, live: list[str]) -> list[int]:
        """This process's slice of the cores it started with, among the ``live`` processes."""
        me = f"{self.name}\0{os.getpid()}"
        return share_of(_BASE_CORES, live.index(me) if me in live else 0, max(len(live), 1))

    def follow(self, force: bool = False, grow: bool = True) -> ThreadSetting | None:
        """Take this process's share of the cores anew when siblings came or went (at
        most every CHECK_SECONDS unless ``force``): the new setting, or None if unchanged.
        ``grow`` False (during a run): a smaller share is taken at once, so that a sibling
        that came is not crowded; a larger one is cut to the cores the run has now, taken
        from the start of the new share (which no sibling's overlaps), and the rest waits
        for the next run, so that a run under a wall-clock budget does not gain cores its
        peers in other shards did not have."""
        now = time.monotonic()
        if not force and now - self.checked < CHECK_SECONDS:
            return None
        self.checked = now
        live = self.live()
        cores = self.share(live)
        if not grow and self.cores and len(cores) > len(self.cores):
            cores = cores[: len(self.cores)]  # within the new share, which no sibling's overlaps
        if cores == self.cores:
            return None
        self.cores = cores
        pin(cores)
        n = len(cores) if self.cap is None else min(self.cap, len(cores))
        others = len(live) - 1
        setting = apply(n, f"{len(cores)} of the host's {len(_BASE_CORES)} cores, beside {others} other processes "
                           "of this comparison" if others else "the CPU affinity mask")
        logger.info(f"  {self.name}: {setting.threads} threads on cores {_ranges(cores)} ({setting.source})")
        return setting


def _ranges(cores: list[int]) -> str:
    """``0-3,8``: the cores as taskset writes them."""
    out: list[str] = []
    for c in cores:
        if out and out[-1].split("-")[-1] == str(c - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{c}"
        else:
            out.append(str(c))
    return ",".join(out)


_SIBLINGS: Siblings | None = None
"""The siblings this process divides its host's cores with, while it does."""


@contextmanager
def divided(folder: Path, name: str, requested: int | None) -> Iterator[None]:
    """Divide the host's cores with the live processes that use the same ``folder`` (the
    shards of one comparison in their shared ``--out``), unless ``requested`` (``--threads``)
    says how many threads this process takes. The mask and threads it started with are
    back afterwards."""
    global _SIBLINGS
    if requested or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = mask_cores()
    _SIBLINGS = Siblings(Path(folder), name, cap=_USER_THREADS)
    _SIBLINGS.join()
    try:
        _SIBLINGS.follow(force=True)
        yield
    finally:
        _SIBLINGS.leave()
        _SIBLINGS = None
        pin(before)
        start(None)


def follow(force: bool = False, grow: bool = True) -> ThreadSetting | None:
    """Called at a run's start and between its steps, on the thread that trains (OpenMP's
    thread count is that thread's own): the share of the cores anew when siblings came or
    went (``Siblings.follow``; between steps with ``grow`` False)."""
    return _SIBLINGS.follow(force, grow) if _SIBLINGS is not None else None


def current() -> dict:
    """This process's threads and cores now, as a run records them."""
    return {"threads": torch.get_num_threads(), "cores": len(mask_cores())}

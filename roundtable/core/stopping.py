"""Graceful stop: the first Ctrl-C or SIGTERM finishes the current step, checkpoints and
writes results; a second one stops at once."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopFlag:
    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        print(
            f"\nroundtable: {self.signal_name}: stopping at the next step boundary and checkpointing "
            "(send it again to stop at once)",
            file=sys.stderr,
        )

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        """Install the handlers (main thread only) and restore the old ones afterwards."""
        try:
            old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not the main thread: leave signals alone
            yield self
            return
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


STOP = StopFlag()

"""User-facing errors: one line, exit code 2, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (paths, data, flags).

    The CLI prints ``error: <message>`` and exits with code 2. ``where`` is a
    ``file:line`` prefix when the problem has a location.
    """

    exit_code = 2

    def __init__(self, message: str, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class DataError(UserError):
    """The data cannot be read or is unusable."""


class Diverged(RuntimeError):
    """A run produced a non-finite loss; it is stopped and marked diverged."""

    def __init__(self, step: int, loss: float):
        self.step = step
        self.loss = loss
        super().__init__(f"loss became {loss} at step {step}")


class Interrupted(Exception):
    """The user asked to stop (Ctrl-C / SIGTERM); state so far was checkpointed."""

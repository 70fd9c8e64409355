"""Where the comparison's plain lines go: one ``logging`` logger per module, under
``roundtable``, and one place that decides where their lines are written.

Modules write ``log.info(line)`` with ``log = logging.getLogger(__name__)`` and know
nothing of the reader. The package logger has no handler of its own (a library stays
quiet unless asked); ``lines_to(write)`` sends its lines, each as written, to
``write`` for the length of a block: the command line's writer keeps a progress bar on
screen intact, the Python API's default writes to stderr, and ``None`` is quiet.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PACKAGE = "roundtable"

logging.getLogger(PACKAGE).addHandler(logging.NullHandler())


class _Lines(logging.Handler):
    """Each record as its message alone, one line to ``write``."""

    def __init__(self, write: Callable[[str], None]):
        super().__init__(logging.INFO)
        self.write = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(record.getMessage())
        except Exception:  # noqa: BLE001 - logging's own rule: a failing handler never stops the caller
            self.handleError(record)


@contextmanager
def lines_to(write: Callable[[str], None] | None) -> Iterator[None]:
    """The package's INFO lines go to ``write`` (None: nowhere) inside the block, and not
    to the root logger's handlers, so a caller's own logging set-up does not print them twice."""
    logger = logging.getLogger(PACKAGE)
    handler = _Lines(write) if write is not None else None
    level, propagate = logger.level, logger.propagate
    if handler is not None:
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        if handler is not None:
            logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def quiet_libraries(progress: bool = True) -> None:
    """The libraries' own warnings and info lines off (the comparison says what matters),
    and their progress bars too without ``progress``. Imports transformers: call it once
    the input is checked."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    if not progress:  # read by tqdm when it is first imported (by transformers, below)
        os.environ["TQDM_DISABLE"] = "1"  # bars libraries draw with tqdm directly (GGUF dequantization)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    import transformers

    transformers.logging.set_verbosity_error()
    if not progress:
        import huggingface_hub

        transformers.utils.logging.disable_progress_bar()
        huggingface_hub.utils.disable_progress_bars()

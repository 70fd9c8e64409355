"""The Python API: a comparison from a notebook or a script, without a shell.

``roundtable.compare(**settings)`` takes the command line's flags as keyword
arguments (dashes as underscores, lists as lists), runs the comparison exactly as
``roundtable compare`` does (the same settings parser, the same ``Comparison``, the same
report) and returns its results as typed records (roundtable.results). Bad input raises
``roundtable.core.errors.UserError`` with the line the command line would print.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from roundtable.results import Results


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def compare(
    task: str | None = None,
    data: str | Path | None = None,
    *,
    config: str | Path | None = None,
    no_progress: bool = False,
    log: Callable[[str], None] | None = _stderr,
    **settings,
) -> Results:
    """Run a comparison and return its results (also written to ``out``: results.json
    and the report), e.g. ``compare(task="lm", data="train.txt", arms=["finetune",
    "scratch-lstm"], budget="120s", out="runs/x")``.

    ``config`` is a YAML/JSON file of settings, which keyword arguments override, as
    flags do; ``no_progress`` hides progress bars; ``log`` receives the lines the command
    line writes to stderr (None: silent). With ``shard="K/N"`` it runs that shard's runs
    and returns what is merged so far (runs of other shards not yet done are pending)."""
    from roundtable.comparison.settings import compare_config, read_settings

    given = {"task": task, "data": data, **settings}
    given = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in given.items()}  # as flags give them
    settings = read_settings(os.fspath(config) if config is not None else None, given)
    cfg = compare_config(settings)  # a bad setting is refused before torch is imported
    from roundtable.comparison.runner import Comparison
    from roundtable.core import dist
    from roundtable.core.logging import lines_to
    from roundtable.report import render

    with _library_output(progress=not no_progress), lines_to(log if dist.is_main() else None):
        comp = Comparison(cfg, progress=not no_progress)
        comp.prepare()
        if cfg.shard:  # this shard's runs; the results merged so far (complete once every shard is done)
            from roundtable.comparison.shards import Shard

            raw, merged = Shard(comp, cfg.shard, settings).run()
        else:
            raw, merged = comp.run(), True
        if merged and dist.is_main():
            render(Path(cfg.out))
    return Results.from_dict(raw)


@contextmanager
def _library_output(progress: bool):
    """The command line's quiet libraries for the comparison's length, then the
    caller's settings back (a notebook keeps its own warnings and progress bars)."""
    import huggingface_hub
    import transformers

    from roundtable.core.logging import quiet_libraries

    verbosity = transformers.logging.get_verbosity()
    bars = transformers.utils.logging.is_progress_bar_enabled(), not huggingface_hub.utils.are_progress_bars_disabled()
    with warnings.catch_warnings():
        quiet_libraries(progress)
        try:
            yield
        finally:
            transformers.logging.set_verbosity(verbosity)
            if bars[0]:
                transformers.utils.logging.enable_progress_bar()
            if bars[1]:
                huggingface_hub.utils.enable_progress_bars()


def table(results: Results) -> str:
    """The table ``roundtable compare`` prints at the end, of any results."""
    from roundtable.report.table import format_table, summary_rows

    return format_table(summary_rows(results))

"""report.html, report.md and plots/*.png from results.json: the evidence behind the verdict.

Nothing here trains or evaluates. The report is rebuilt from results.json and the files
the runs left behind, so ``roundtable report DIR`` is cheap and safe to rerun. The layers,
each reading only what the one before it made: load.py (results.json into typed records,
once), figures.py and curves.py (the plots), page.py and samples.py (the page as a list
of blocks), html.py and markdown.py (the same blocks written twice).
"""

from __future__ import annotations

from pathlib import Path

from roundtable.report.figures import make_plots
from roundtable.report.html import to_html
from roundtable.report.load import load
from roundtable.report.markdown import to_markdown
from roundtable.report.page import build_blocks
from roundtable.report.table import DASH
from roundtable.results import REPORT_HTML, REPORT_MD

__all__ = ["render"]


def render(out: Path) -> Path:
    """Write report.html, report.md and plots/ into ``out`` from its results.json; return report.html."""
    out = Path(out)
    results, problem = load(out)
    plots = make_plots(results, out)
    blocks = build_blocks(results, out, plots, problem)
    (out / REPORT_MD).write_text(to_markdown(blocks), encoding="utf-8")
    path = out / REPORT_HTML
    path.write_text(to_html(blocks, f"roundtable report: {DASH if problem else results.task}"), encoding="utf-8")
    return path

"""The page as Markdown, for a repository or a pull request: the same blocks as the HTML
page, the plots linked from plots/ beside it, and text escaped as HTML would be
(Markdown passes HTML through).
"""

from __future__ import annotations

import html

from roundtable.report.figures import PLOTS
from roundtable.report.page import Block


def _md(text) -> str:
    """Markdown passes HTML through, so escape it like the HTML page does."""
    return html.escape(str(text), quote=False)


def _md_cell(text) -> str:
    return _md(text).replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _md_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def _md_block(b: Block) -> str:
    if b.kind == "h1":
        return f"# {_md(b.text)}"
    if b.kind == "h2":
        return f"## {_md(b.text)}"
    if b.kind == "h3":
        return f"### {_md(b.text)}"
    if b.kind == "headline":
        return f"> **{_md(b.text)}**"
    if b.kind == "note":
        return f"> {_md(b.text)}"
    if b.kind == "kv":
        return "\n".join(f"- **{_md(k)}**: {_md(v)}" for k, v in b.rows)
    if b.kind in ("table", "samples"):
        return _md_table(b.rows)
    if b.kind == "figure":
        return f"![{_md(b.plot.name)}]({PLOTS}/{b.plot.name}.png)\n\n_{_md(b.text)}_"
    if b.kind == "pre":
        fence = "~~~~" if "```" in b.text else "```"
        return f"{fence}json\n{b.text}\n{fence}"
    return _md(b.text)


def to_markdown(blocks: list[Block]) -> str:
    return "\n\n".join(_md_block(b) for b in blocks) + "\n"

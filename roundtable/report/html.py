"""The page as one self-contained HTML file: plots inlined as base64 PNG, inline CSS, no
script, and a Content-Security-Policy that forbids any load, so it opens anywhere,
offline, and sample text cannot run in a reader's browser (every string is escaped).
"""

from __future__ import annotations

import base64
import html

from roundtable.report.page import Block

CSS = """
body{margin:0;background:#f4f4f1;color:#1f2328;font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1000px;margin:0 auto;padding:28px 32px 64px;background:#fff;min-height:100vh}
h1{font-size:1.6em;margin:.2em 0 .6em;line-height:1.25}
h2{font-size:1.2em;margin:2em 0 .7em;padding-bottom:.25em;border-bottom:1px solid #e1e1dc}
h3{font-size:1em;margin:1.4em 0 .4em;color:#3a3f44}
td.bad{color:#b3261e;font-weight:600}
.headline{font-size:1.12em;margin:0 0 1em;padding:14px 18px;border-left:5px solid #4C72B0;background:#eef3fa;
border-radius:4px}
.note{color:#8a4b00;background:#fff6e5;padding:8px 12px;border-radius:4px}
.scroll{overflow-x:auto;margin:.5em 0}
table{border-collapse:collapse;font-size:.88em;font-variant-numeric:tabular-nums}
th,td{padding:5px 10px;border-bottom:1px solid #e6e6e1;text-align:left;vertical-align:top}
th{background:#f3f3ef;font-weight:600}
table.kv th{background:none;color:#57606a;font-weight:normal;white-space:nowrap}
table.samples td{white-space:pre-wrap;min-width:14em;max-width:30em}
figure{margin:1.4em 0}
figure img{display:block;max-width:100%;height:auto}
figcaption{color:#57606a;font-size:.88em;margin-top:.3em}
pre{background:#f6f8fa;padding:12px 14px;border-radius:4px;overflow-x:auto;font-size:.82em}
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(text) -> str:
    return html.escape(str(text))


def _html_cell(text: str) -> str:
    """A run that diverged or failed stands out wherever its status is shown."""
    cls = ' class="bad"' if text in ("diverged", "failed") else ""
    return f"<td{cls}>{_e(text)}</td>"


def _html_table(rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(_html_cell(c) for c in r) + "</tr>" for r in rows[1:])
    attr = f' class="{cls}"' if cls else ""
    return f'<div class="scroll"><table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _html_kv(rows: list[list[str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


def _html_figure(b: Block) -> str:
    data = base64.b64encode(b.plot.png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(b.plot.name)}">'
            f"<figcaption>{_e(b.text)}</figcaption></figure>")


def _html_block(b: Block) -> str:
    simple = {"h1": "h1", "h2": "h2", "h3": "h3", "p": "p"}
    if b.kind in simple:
        return f"<{simple[b.kind]}>{_e(b.text)}</{simple[b.kind]}>"
    if b.kind in ("headline", "note"):
        return f'<p class="{b.kind}">{_e(b.text)}</p>'
    if b.kind == "kv":
        return _html_kv(b.rows)
    if b.kind in ("table", "samples"):
        return _html_table(b.rows, "samples" if b.kind == "samples" else "")
    if b.kind == "figure":
        return _html_figure(b)
    return f"<pre>{_e(b.text)}</pre>"


def to_html(blocks: list[Block], title: str) -> str:
    """One file that opens anywhere, offline: no script, no external resource, CSP forbids loads."""
    body = "\n".join(_html_block(b) for b in blocks)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{_e(title)}</title><style>{CSS}</style></head>\n'
        f"<body><main>\n{body}\n</main></body></html>\n"
    )

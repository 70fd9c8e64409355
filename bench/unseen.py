"""A summarization set roundtable was never tuned on, built here without a download:
about 6,000 (document, summary) pairs from the docstrings in the source files of the
standard library and of installed numpy and torch (parsed with ``ast``, nothing
imported): a docstring's first line (or first sentence) is the summary, the rest the
document. It is larger than the demo's 901 pairs and drawn from other code (tests,
private functions, numerical libraries), so its validation split (10%) is the size a
user's would be.
"""

from __future__ import annotations

import ast
import json
import random
import re
import sysconfig
from pathlib import Path

N_PAIRS = 6000


def _roots() -> list[Path]:
    roots = [Path(sysconfig.get_paths()["stdlib"])]
    site = Path(sysconfig.get_paths()["purelib"])
    roots += [site / p for p in ("numpy", "torch/nn", "torch/distributions", "torch/optim",
                                 "transformers/generation") if (site / p).is_dir()]
    return roots


def _pair(doc: str) -> tuple[str, str] | None:
    if "\n\n" in doc:
        head, body = doc.split("\n\n", 1)
    else:
        m = re.match(r"(.{20,200}?[.])\s+(.*)", " ".join(doc.split()))
        if not m:
            return None
        head, body = m.group(1), m.group(2)
    summary, body = " ".join(head.split()), body.strip()
    return (body, summary) if 20 <= len(summary) <= 200 and len(body) >= 60 else None


def pairs(n: int = N_PAIRS) -> list[dict]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    seen, out = set(), []
    for root in _roots():
        for path in sorted(root.rglob("*.py")):
            if root == stdlib and "site-packages" in path.parts:
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
                    doc = ast.get_docstring(node)
                    p = _pair(doc) if doc else None
                    if p and p[0] not in seen:
                        seen.add(p[0])
                        out.append({"document": p[0], "summary": p[1]})
    random.Random(0).shuffle(out)
    return out[:n]


def write(path: Path, n: int = N_PAIRS) -> int:
    rows = pairs(n)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return len(rows)

"""The built-in demo: data made at run time from text every Python installation carries.

Language modelling uses the Python Language Reference that ships inside the standard
library (``pydoc_data.topics``: 79 topics, about 465 KB of English prose with code),
each topic cut into documents of a few paragraphs (``reference_sections``). Summarization pairs each docstring of the standard
library's modules, classes and functions (its body) with its own first line (the
summary). Nothing is downloaded and none of the text is ours.
"""

from __future__ import annotations

import json
from pathlib import Path

LM_FILE, SUMMARIZE_FILE = "python-reference.jsonl", "stdlib-docstrings.jsonl"


def is_demo_data(path: str | Path) -> bool:
    """Whether ``path`` is a file the demo wrote (by its name): text that a pretrained
    model may have read in pretraining, which the verdict must say."""
    return Path(path).name in (LM_FILE, SUMMARIZE_FILE)


def reference_topics() -> list[str]:
    from pydoc_data.topics import topics

    return [topics[k].strip() for k in sorted(topics) if topics[k].strip()]


DOCUMENT_BYTES = 500
"""The demo's documents: a topic's paragraphs, joined until they hold this many bytes."""


def reference_sections(min_bytes: int = DOCUMENT_BYTES) -> list[str]:
    """Each topic cut at blank lines into documents of ``min_bytes`` or more (a topic's
    last piece joins the one before it if shorter). Many short documents rather than 79
    long ones: the text the verdict scores is sized to the budget, and within the few
    kilobytes the pretrained model can score in a demo's share of it, short documents
    give the bootstrap enough units to resample, where a long one read after its own
    context gives one or two."""
    out = []
    for topic in reference_topics():
        pieces: list[str] = []
        piece = ""
        for part in topic.split("\n\n"):
            piece = f"{piece}\n\n{part}" if piece else part
            if len(piece.encode()) >= min_bytes:
                pieces.append(piece)
                piece = ""
        if piece:
            if pieces:
                pieces[-1] = f"{pieces[-1]}\n\n{piece}"
            else:
                pieces.append(piece)
        out.extend(pieces)
    return out


def write_lm_data(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LM_FILE
    with open(path, "w", encoding="utf-8") as f:
        for text in reference_sections():
            f.write(json.dumps({"text": text}) + "\n")
    return path


# Collected in a child process: importing the standard library has side effects we keep
# out of the comparison's own process.
_DOCSTRINGS = r'''
import contextlib, importlib, inspect, io, json, sys, warnings
warnings.filterwarnings("ignore")
SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test", "lib2to3", "ensurepip",
        "venv", "pydoc_data", "msilib", "winreg", "winsound", "msvcrt", "nt", "crypt", "nis", "spwd",
        "ossaudiodev", "xxlimited", "xxsubtype", "idle", "pty", "tty", "readline", "webbrowser"}
seen, out = set(), []
def add(obj):
    doc = inspect.getdoc(obj)
    if not doc or "\n\n" not in doc:
        return
    head, body = doc.split("\n\n", 1)
    summary, body = " ".join(head.split()), body.strip()
    if 20 <= len(summary) <= 200 and len(body) >= 80 and body not in seen:
        seen.add(body)
        out.append({"document": body, "summary": summary})
for name in sorted(sys.stdlib_module_names):
    if name.startswith("_") or name in SKIP:
        continue
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            mod = importlib.import_module(name)
    except BaseException:
        continue
    add(mod)
    for key, obj in sorted(vars(mod).items()):
        if key.startswith("_") or getattr(obj, "__module__", None) != name:
            continue
        if inspect.isfunction(obj):
            add(obj)
        elif inspect.isclass(obj):
            add(obj)
            for mkey, meth in sorted(vars(obj).items()):
                if not mkey.startswith("_") and inspect.isfunction(meth):
                    add(meth)
json.dump(out, sys.stdout)
'''


def docstring_pairs() -> list[dict]:
    """(document, summary) pairs from the standard library's docstrings: the summary is
    a docstring's first line, the document the paragraphs that follow it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _DOCSTRINGS], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def write_summarize_data(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SUMMARIZE_FILE
    with open(path, "w", encoding="utf-8") as f:
        for row in docstring_pairs():
            f.write(json.dumps(row) + "\n")
    return path

"""The built-in demo: data made at run time from text every Python installation carries.

Language modelling uses the Python Language Reference that ships inside the standard
library (``pydoc_data.topics``: 79 topics, about 465 KB of English prose with code);
each topic is one document. Nothing is downloaded and none of the text is ours.
"""

from __future__ import annotations

import json
from pathlib import Path


def reference_topics() -> list[str]:
    from pydoc_data.topics import topics

    return [topics[k].strip() for k in sorted(topics) if topics[k].strip()]


def write_lm_data(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "python-reference.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for text in reference_topics():
            f.write(json.dumps({"text": text}) + "\n")
    return path

"""Helpers shared by the tests (plain functions; the fixtures are in conftest.py)."""

from __future__ import annotations

from pathlib import Path

# Tiny settings for every arm: the whole suite must run in a few minutes on 2 CPU cores.
TINY_ARMS = {
    "finetune": {"batch_size": 2},
    "finetune-lora": {"batch_size": 2, "lora_r": 2, "lora_alpha": 4},
    "scratch-same": {"batch_size": 2},
    "scratch-lstm": {"lstm_embed": 16, "lstm_hidden": 16, "batch_size": 4},
    "scratch-transformer": {"n_layer": 1, "n_embd": 16, "n_head": 2, "batch_size": 4},
}
TINY_CONTEXT_BYTES = 32
"""Every arm's context in bytes in the tests: 32-byte blocks for the byte-level arms."""


def english_paragraphs() -> list[str]:
    """Distinct paragraphs of English prose (whitespace normalised), in a fixed order.

    Each paragraph is 40..600 characters; about 200 of the ~1,600 hold non-ASCII
    characters, so bytes and characters differ.
    """
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    seen: set[str] = set()
    out = []
    for block in text.split("\n\n"):
        p = " ".join(block.split())
        if 40 <= len(p) <= 600 and p not in seen:
            seen.add(p)
            out.append(p)
    return out


def write_paragraphs(path: Path, paragraphs: list[str]) -> Path:
    """A .txt file whose documents are ``paragraphs`` (blank line between them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return path


def write_yaml(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def load_task_corpus(data, task: str = "lm"):
    """The corpus ``data`` (a DataConfig) gives for the named task's record fields."""
    from roundtable.data import load_corpus
    from roundtable.tasks import task_class

    return load_corpus(data, task_class(task).record_fields(data), task)

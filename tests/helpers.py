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
    from roundtable.data.corpus import load_corpus
    from roundtable.tasks import task_class

    return load_corpus(data, task_class(task).record_fields(data), task)


def results_stub(**fields) -> dict:
    """A results.json of a comparison that has started and run nothing yet, as roundtable
    writes it (it follows the schema); ``fields`` replace its values."""
    stub = {
        "task": "lm", "complete": False, "kept_bytes": 0, "data": {}, "runs": [], "lr_search": {}, "ladder": [],
        "forecast": None, "lr_search_seconds": 0.0, "budget": {"kind": "seconds", "value": 120.0}, "baselines": {},
        "pretrained_model": None, "wall_seconds": 0.0, "verdict": None, "config": {}, "config_key": {},
        "flops_formula": "6 x matmul parameters x tokens", "environment": {},
    }
    return {**stub, **fields}


# Folders a comparison fills with many files and never with a results.json.
_NO_RESULTS_BELOW = {"tensorboard", "checkpoints", "model", "plots", "lr-search", "__pycache__"}


def results_files(root: Path):
    """Every results.json under ``root``."""
    import os

    from roundtable.results import RESULTS

    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if d not in _NO_RESULTS_BELOW]
        if RESULTS in files:
            yield Path(folder) / RESULTS


def schema_problem(path: Path) -> str | None:
    """Why the results.json at ``path`` does not follow the published schema, or None."""
    import json

    import jsonschema

    from roundtable.results import validate

    try:
        validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except ValueError as e:
        return f"{path}: not JSON: {e}"
    except jsonschema.ValidationError as e:
        return f"{path}: {'/'.join(map(str, e.absolute_path)) or 'top level'}: {e.message[:300]}"
    return None


def finished_run(arm: str, seed: int = 0, fraction: float = 1.0, **fields) -> dict:
    """A run record as roundtable writes it for a run that finished (status ok); ``fields``
    replace its values."""
    point = {"step": 0, "seconds": 0.0, "train_tokens": 0, "train_bytes": 0, "flops": 0.0, "scope": "full",
             "valid_bits_per_byte": 8.0, "subset_bits_per_byte": 8.0}
    run = {
        "arm": arm, "seed": seed, "fraction": fraction, "status": "ok", "budget_share": 1.0, "model": arm,
        "run_dir": f"runs/{arm}-seed{seed}-frac{fraction:g}", "recipe": {"name": arm, "learning_rate": 1e-3},
        "params": 1000, "trainable_params": 1000, "steps": 4, "train_seconds": 1.0, "train_tokens": 512,
        "train_bytes": 512, "train_flops": 3e6, "eval_seconds": 0.5, "checkpoint_bytes": 4000, "curve": [point],
        "final": {"valid_bits_per_byte": 7.5},
    }
    return {**run, **fields}

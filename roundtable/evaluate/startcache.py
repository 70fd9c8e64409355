"""The pretrained model's step-0 score, kept per machine.

The pretrained weights as they are score the same on the same validation text every
time, and on a CPU that one score can cost half of a two-minute budget. So it is kept in
the roundtable cache under a key of everything it depends on: the weights (their file
hash, hub commit, or a local folder's file sizes and times), the arm's model settings,
the tokenized validation text and curve subset, the window, stride and batch, the task's
extra evaluator (ROUGE prompts and references), the precision, device and library
versions. A later comparison on the same data reuses it (marked ``cached`` in its curve
point); anything that could change the number changes the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from roundtable.core.paths import cache_root
from roundtable.core.version import __version__
from roundtable.results import read_json, write_json

TRAINING_ONLY = ("learning_rate", "weight_decay", "batch_size", "schedule", "warmup_fraction", "max_grad_norm",
                 "lora_merge")
"""Arm settings that act only once training starts: they cannot change a step-0 score."""


def weights_identity(info: dict | None) -> str | None:
    """What pins the pretrained weights: a file's SHA-256, a hub commit, or a local
    folder's files with their sizes and modification times; None when nothing does."""
    if not info:
        return None
    if info.get("sha256") or info.get("commit"):
        return f"{info.get('sha256')}|{info.get('commit')}|{info.get('file')}"
    folder = Path(str(info.get("location") or ""))
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return json.dumps([[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in files])


def _eval_set_bytes(h, eval_set) -> None:
    if eval_set is None:
        h.update(b"none")
        return
    h.update(f"pad={eval_set.pad_id}|n={len(eval_set.sequences)}|".encode())
    for s in eval_set.sequences:
        for a in (s.ids, s.scored, s.doc):
            h.update(np.ascontiguousarray(a).tobytes())
    h.update(np.ascontiguousarray(eval_set.doc_bytes).tobytes())


def key(info: dict | None, arm, evaluator, precision: str, device: str) -> str | None:
    """The cache key of an arm's step-0 score, or None when it cannot be pinned (weights
    of unknown identity, or an extra evaluator that cannot say what it scores)."""
    weights = weights_identity(info)
    extra = evaluator.extra
    if weights is None or (extra is not None and not hasattr(extra, "fingerprint")):
        return None
    h = hashlib.sha256()
    settings = {k: v for k, v in asdict(arm).items() if k not in TRAINING_ONLY}
    kind = torch.device(device).type
    where = torch.cuda.get_device_name() if kind == "cuda" else kind
    h.update(json.dumps({"weights": weights, "arm": settings, "window": evaluator.window, "stride": evaluator.stride,
                         "batch_tokens": evaluator.batch_tokens, "precision": precision, "device": where,
                         "versions": [__version__, torch.__version__, __import__("transformers").__version__],
                         "extra": extra.fingerprint() if extra is not None else None},
                        sort_keys=True, default=str).encode())
    _eval_set_bytes(h, evaluator.full)
    _eval_set_bytes(h, evaluator.subset)
    return h.hexdigest()


def _path(digest: str) -> Path:
    return cache_root() / "start-points" / f"{digest}.json"


def _scores_path(digest: str) -> Path:
    return cache_root() / "start-points" / f"{digest}.npy"


def load(digest: str | None) -> dict | None:
    """The point, or None; an entry without its per-document scores (the verdict's
    comparison with the model as it is needs them) is scored again."""
    if digest is None or not _scores_path(digest).is_file():
        return None
    try:
        point = read_json(_path(digest))
    except (OSError, ValueError):  # none yet, or unreadable: score again
        return None
    return point if isinstance(point, dict) and point.get("step") == 0 else None


def load_scores(digest: str | None) -> np.ndarray | None:
    """Per-document NLL (nats) of the step-0 point, or None."""
    if digest is None:
        return None
    try:
        return np.load(_scores_path(digest))
    except (OSError, ValueError):
        return None


def save(digest: str | None, point: dict, doc_nll_nats: np.ndarray | None = None) -> None:
    """Written atomically: a half-written entry never exists under its name. The scores
    go first, so a point on disk always has them."""
    if digest is None:
        return
    if doc_nll_nats is not None:
        path = _scores_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(doc_nll_nats, np.float64))
        os.replace(tmp, path)
    write_json(_path(digest), {k: v for k, v in point.items() if k not in ("reused", "cached")})

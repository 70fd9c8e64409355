"""Writing results so that a file never looks complete when it is not: whole files,
replaced atomically, readable by the group that shares the output folder."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def _clean(obj: Any) -> Any:
    """JSON has no NaN/Infinity: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def group_readable(path: Path) -> None:
    """Give files the permissions the user's umask gives any new file: temporary files
    (``mkstemp``, and the safetensors writer) are created 0600, which other readers of a
    shared output folder cannot open."""
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o666 & ~umask
    for f in [Path(path)] if Path(path).is_file() else Path(path).rglob("*"):
        if f.is_file():
            os.chmod(f, mode)


def publish_dir(tmp: Path, final: Path, marker: str) -> None:
    """Rename a finished cache folder into place. A folder a crash left unfinished (no
    ``marker`` file) is replaced; if another process finished the same entry first, its
    copy stays and ours is dropped."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not (final / marker).is_file():
        shutil.rmtree(final, ignore_errors=True)
    try:
        tmp.rename(final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def _temp_json(path: Path, data: Any) -> str:
    """``data`` written, synced and made group-readable in a temporary file beside ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(_clean(data), f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        group_readable(Path(tmp))
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_json(path: Path, data: Any) -> None:
    """Write to a temporary file in the same folder, then atomically replace."""
    tmp = _temp_json(Path(path), data)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_json_once(path: Path, data: Any) -> Any:
    """``data`` written to ``path`` unless another process wrote it first; what ``path``
    holds afterwards, for every process the same (a hard link publishes the whole file at
    once, and fails where one is there)."""
    tmp = _temp_json(Path(path), data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return read_json(path)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def dir_bytes(path: Path) -> int:
    path = Path(path)
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

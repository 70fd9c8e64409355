"""requirements.lock: every dependency of ``.[test]`` pinned, torch as the CPU wheel.

``make`` installs with the lock as constraints and ``make lock`` regenerates it
(``uv pip compile``); these checks catch a pyproject.toml changed without a new lock.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+, the Python the lock is for
ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"


def pins() -> dict[str, Version]:
    out = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)(\s*;.*)?", line)
            assert m, f"not an exact pin: {line!r}"
            out[canonicalize_name(m.group(1))] = Version(m.group(2))
    return out


def direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def test_every_direct_requirement_is_pinned_within_its_range():
    locked = pins()
    for req in direct_requirements():
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is not in {LOCK.name}: run make lock"
        assert req.specifier.contains(locked[name], prereleases=True), f"{name}=={locked[name]} is outside {req}"


def test_torch_is_the_pinned_cpu_build_without_cuda_packages():
    locked = pins()
    assert locked["torch"].public == "2.13.0"
    assert locked["torch"].local in (None, "cpu")
    assert not [n for n in locked if n.startswith("nvidia-") or n == "triton"]


def test_the_lock_is_closed_under_the_installed_packages_requirements():
    """Each locked package's own requirements (for this Python) are locked too."""
    locked = pins()
    checked = 0
    for name in locked:
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: nothing to read its requirements from
        checked += 1
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                assert canonicalize_name(req.name) in locked, f"{name} needs {req}, which is not locked"
    if not checked:
        pytest.skip("none of the locked packages is installed here")

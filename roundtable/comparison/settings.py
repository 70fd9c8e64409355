"""A comparison's settings from wherever they come from, checked against the arm and task
tables: what the command line, the Python API and a sharded comparison's
comparison.json all go through. Light: no torch, so a mistake is one line at once."""

from __future__ import annotations

from roundtable.arms import arm_configs
from roundtable.config.settings import CompareConfig, build_config, load_config_file
from roundtable.tasks import task_class


def compare_config(values: dict) -> CompareConfig:
    """A CompareConfig from settings by name (config.settings()); the arms get their
    recipes from the arm table, and an unknown task is one line naming the registered ones."""
    cfg = build_config(values, arm_configs)
    task_class(cfg.task)
    return cfg


def read_settings(config: str | None, given: dict) -> dict:
    """A config file's settings (``config``: its path, or None), overridden by those
    ``given`` (flags, keyword arguments) that are not None."""
    s = load_config_file(config) if config else {}
    s.update({k: v for k, v in given.items() if v is not None})
    return s

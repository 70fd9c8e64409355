"""Tasks by name: one module per task, one registry, one way in (``get_task``).

Everything outside ``tasks/`` reads what a task declares (its metric, whether lower is
better, its curve and per-document keys, its unit) from the task object and never
compares a task's name. A new task is a subclass of ``Task`` registered here or with
``register_task``: the command line, data loading, training, evaluation, the verdict
and the report then take it as they take the built-in two (tests/tasks/test_tasks.py adds a
toy one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roundtable.config.settings import CompareConfig

from roundtable.core.errors import UserError
from roundtable.tasks.base import Task, TrainingData
from roundtable.tasks.lm import LMTask
from roundtable.tasks.summarize import SummarizeTask

_REGISTRY: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Make ``cls`` available as ``--task cls.name``; usable as a class decorator."""
    _REGISTRY[cls.name] = cls
    return cls


def unregister_task(name: str) -> None:
    _REGISTRY.pop(name, None)


def task_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def task_classes() -> tuple[type[Task], ...]:
    return tuple(_REGISTRY.values())


def task_class(name: str) -> type[Task]:
    """The task's class: its declared facts (metric, unit, keys), without its settings."""
    if name not in _REGISTRY:
        raise UserError(f"unknown --task {name!r}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def get_task(cfg: CompareConfig) -> Task:
    """The task of a comparison, with the comparison's settings."""
    return task_class(cfg.task).from_config(cfg)


register_task(LMTask)
register_task(SummarizeTask)

__all__ = ["LMTask", "SummarizeTask", "Task", "TrainingData", "get_task", "register_task", "task_class",
           "task_classes", "task_names", "unregister_task"]

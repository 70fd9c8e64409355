"""results.json as one dict: the runs with what a reader needs beside them, the
baselines, the pretrained model's origin, the environment, and, once every run is done,
the verdict with its warnings. Built whole each time it is written, so a file read
mid-comparison is complete as far as it goes."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import torch

from roundtable.arms import own_settings, uses_pretrained
from roundtable.arms.factory import ArmFactory
from roundtable.config.settings import CompareConfig
from roundtable.core.version import __version__
from roundtable.data.corpus import Corpus
from roundtable.data.demo import is_demo_data
from roundtable.decide.caveats import (
    busy_machine_warning,
    lossy_warning,
    pretrained_baseline,
    sample_warning,
    token_budget_warning,
    unequal_threads_warning,
    warnings_for,
)
from roundtable.decide.deployment import Limit, deployment_verdict
from roundtable.decide.verdict import Setting, verdict
from roundtable.forecast import forecast_sentence
from roundtable.results import dir_bytes
from roundtable.tasks import Task
from roundtable.train.flops import FORMULA


def pretrained_model_info(cfg: CompareConfig, factory: ArmFactory) -> dict | None:
    """Where the pretrained model came from; None unless an arm uses it (its weights or
    its architecture)."""
    if not any(uses_pretrained(a.name) for a in cfg.arms):
        return None
    return factory.model_info()


def baselines(runs: list[dict], task: Task, corpus: Corpus | None) -> dict:
    """The pretrained model as it is (step 0), and the task's own (summarize: the lead sentence)."""
    out = {}
    pretrained = pretrained_baseline(runs, task)
    if pretrained:
        out["pretrained"] = pretrained
    if corpus:
        out.update(task.baselines(corpus.valid))
    return out


def verdict_block(runs: list[dict], task: Task, out: Path, cfg: CompareConfig, *, model: dict | None,
                  forecast: dict | None, baselines: dict, ladder: list[dict], train_bytes: dict[float, int],
                  sample: dict | None, wall_seconds: float) -> dict:
    """The verdict (decide/verdict.py) with every warning about thin evidence, the
    forecast's sentence where there is a forecast, and the verdict under a deployment
    limit where one is given (decide/deployment.py)."""
    setting = Setting(cfg.budget.max_steps, model, is_demo_data(cfg.data.path))
    v = verdict(runs, task, out, setting)
    v["warnings"] = v.get("warnings", []) + warnings_for(
        runs + ladder, task, train_bytes, baselines, cfg.budget.seconds, wall_seconds)
    kind = cfg.budget.kind[0]
    v["warnings"] += (token_budget_warning(runs, kind) + busy_machine_warning(runs, kind)
                      + unequal_threads_warning(runs, kind))
    if forecast:
        v["forecast_sentence"] = forecast_sentence(forecast, answer=v.get("winner"))
        v["sentence"] += " " + v["forecast_sentence"]
    v["warnings"] += sample_warning(sample) + lossy_warning(runs)
    limit = Limit(cfg.max_params, cfg.min_gen_tokens_per_s)
    if limit:
        v["deployment"] = deployment_verdict(runs, task, out, limit, setting)
    return v


def environment(device: str, precision: str) -> dict:
    """What the runs ran on, as results.json records it."""
    import transformers

    return {
        "roundtable": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
        "transformers": transformers.__version__, "platform": platform.platform(),
        "device": device, "threads": torch.get_num_threads(), "precision": precision,
    }


def results_dict(cfg: CompareConfig, task: Task, out: Path, runs: list[dict], *, complete: bool,
                 corpus: Corpus | None, scored_valid_bytes: int, search: dict[str, dict], tuning: dict | None,
                 sample: dict | None, ladder: list[dict], forecast: dict | None, model: dict | None,
                 train_bytes: dict[float, int], wall_seconds: float, key: dict, device: str,
                 precision: str) -> dict:
    """results.json: the verdict only when ``complete`` (every planned run done)."""
    base = baselines(runs, task, corpus)
    data = corpus.summary() if corpus else {}
    data["scored_valid_bytes"] = scored_valid_bytes
    return {
        "task": cfg.task,
        "task_facts": task.facts(),
        "complete": complete,
        "kept_bytes": dir_bytes(out / "runs"),
        "data": data,
        "runs": runs,
        "lr_search": search,
        "lr_search_tuning": tuning,
        "eval_sample": sample,
        "arm_own_settings": {a.name: list(own_settings(a.name)) for a in cfg.arms},
        "ladder": ladder,
        "forecast": forecast,
        "lr_search_seconds": sum(v["seconds"] for v in search.values()),
        "budget": dict(zip(("kind", "value"), cfg.budget.kind)),
        "baselines": base,
        "pretrained_model": model,
        "wall_seconds": wall_seconds,
        "verdict": verdict_block(runs, task, out, cfg, model=model, forecast=forecast, baselines=base,
                                 ladder=ladder, train_bytes=train_bytes, sample=sample,
                                 wall_seconds=wall_seconds) if complete else None,
        "config": cfg.to_dict(),
        "config_key": key,
        "flops_formula": FORMULA,
        "environment": environment(device, precision),
    }

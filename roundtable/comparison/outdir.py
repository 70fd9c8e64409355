"""The output folder of a comparison: whether --out may be written, what an earlier
comparison there gives back to --resume, the key that says two comparisons are the same,
and which trained models stay on disk at the end."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from roundtable.config.settings import CompareConfig
from roundtable.core import dist
from roundtable.core.errors import UserError
from roundtable.data.corpus import Corpus
from roundtable.results import REPORT_HTML, REPORT_MD, RESULTS, dir_bytes, read_json
from roundtable.tasks import Task

SEARCH_IN_BUDGET = "search_in_budget"
"""Marks the comparison key of versions whose search is paid for out of the budget."""

SIZING_DIR = "sizing"
"""Each ``size: auto`` arm's first choice of shape, per budget and training text
(``prepare.agree_sizes``): every shard and resumed session trains that one."""
NOT_IN_KEY = ("resume", "overwrite", "out", "device", "keep_models", "shard", "threads", "max_params",
              "min_gen_tokens_per_s")
"""Settings that change where or how a comparison runs, or what the verdict is asked, not what it measures."""


def config_key(cfg: CompareConfig, corpus: Corpus | None) -> dict:
    """What makes two comparisons the same: every setting that changes what is measured,
    and the data's fingerprint. A comparison resumes only under the same key."""
    d = cfg.to_dict()
    for k in NOT_IN_KEY:
        d.pop(k, None)
    d["data_sha256"] = corpus.fingerprint() if corpus else None
    d[SEARCH_IN_BUDGET] = True  # runs of an earlier roundtable trained on all of the budget: not to be mixed
    return d


@dataclass
class Resumed:
    """What an earlier session of the same comparison leaves to this one."""

    runs: list[dict]
    """Its finished runs (ok or diverged); failed ones run again."""
    search: dict[str, dict]
    sample: dict | None
    ladder: list[dict]
    wall_seconds: float
    """Wall-clock seconds of the earlier sessions."""


def check_out(out: Path, cfg: CompareConfig, key: dict) -> Resumed | None:
    """May this comparison write to ``out``? What it resumes there (None when it starts
    afresh); a one-line UserError naming the flag to pass otherwise. With --overwrite the
    earlier comparison's files are removed."""
    path = out / RESULTS
    if not path.exists():
        if out.exists() and any(out.iterdir()) and not (cfg.overwrite or cfg.resume):
            raise UserError(f"--out {out} exists and is not empty; pass --overwrite or choose another folder")
        return None
    try:
        old = read_json(path)
    except (OSError, ValueError):  # unreadable or not JSON: not a comparison to resume
        old = {}
    same = old.get("config_key") == key
    if cfg.resume and same:
        return Resumed(
            runs=[r for r in old.get("runs", []) if r.get("status") in ("ok", "diverged")],
            search=dict(old.get("lr_search") or {}), sample=old.get("eval_sample"),
            ladder=[r for r in old.get("ladder") or [] if r.get("status") in ("ok", "diverged")],
            wall_seconds=float(old.get("wall_seconds") or 0.0),
        )
    if cfg.overwrite:
        if dist.is_main():
            for sub in ("runs", "tensorboard", "plots", SIZING_DIR):
                shutil.rmtree(out / sub, ignore_errors=True)
            for f in (RESULTS, REPORT_HTML, REPORT_MD):
                (out / f).unlink(missing_ok=True)
        return None
    if cfg.resume:
        raise UserError(_why_not_resumed(out, dict(old.get("config_key") or {}), key))
    if same:
        raise UserError(f"--out {out} holds this comparison already; pass --resume to continue it, "
                        "--overwrite to start again, or another --out")
    raise UserError(f"--out {out} holds a different comparison; pass --overwrite to replace it, or another --out")


def _why_not_resumed(out: Path, old_key: dict, key: dict) -> str:
    """The one line that says why the comparison in ``out`` cannot be resumed under ``key``."""
    new_key = {k: v for k, v in key.items() if k != "data_sha256"}
    if old_key.pop("data_sha256", None) != key["data_sha256"] and old_key == new_key:
        return (f"--out {out}: the data files changed since this comparison started, so its runs were "
                "scored on other text; cannot --resume (pass --overwrite to start again)")
    if old_key and SEARCH_IN_BUDGET not in old_key and {**old_key, SEARCH_IN_BUDGET: True} == new_key:
        return (f"--out {out} was started by an earlier roundtable, whose learning-rate search ran outside "
                "the budget, so its runs trained on more of it; cannot --resume (pass --overwrite to start again)")
    return (f"--out {out} holds a different comparison; cannot --resume it (pass --overwrite "
            "to replace it, or another --out)")


def keep_models(out: Path, runs: list[dict], policy: str, task: Task) -> None:
    """--keep-models: all, none, or best (per arm, its best run on the largest fraction:
    what generate and the report need). Resume checkpoints are already gone when a run
    finishes. Records in each run whether its model was kept and what its folder holds."""
    metric, lower = task.primary_metric, task.lower_is_better
    keep: set[str] = set()
    if policy == "all":
        keep = {r["run_dir"] for r in runs}
    elif policy == "best":
        for arm in {r["arm"] for r in runs}:
            ok = [r for r in runs if r["arm"] == arm and r["status"] == "ok"]
            if ok:
                top = max(r["fraction"] for r in ok)
                cands = [r for r in ok if r["fraction"] == top]
                best = min(cands, key=lambda r: r["final"][metric] * (1 if lower else -1))
                keep.add(best["run_dir"])
    for r in runs:
        model_dir = out / r["run_dir"] / "model"
        if r["run_dir"] not in keep:
            shutil.rmtree(model_dir, ignore_errors=True)
        r["model_kept"] = model_dir.is_dir()
        r["kept_bytes"] = dir_bytes(out / r["run_dir"])

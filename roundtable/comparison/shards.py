"""Sharded comparisons: ``--shard K/N`` runs the K-th of N disjoint slices of a
comparison's runs (arms x seeds x fractions, and the forecast's rungs) into one
``--out`` folder on a shared file system, so a Slurm job array or a Kubernetes indexed
Job runs them at once; each shard may itself be a ``torchrun`` job.

Nothing two shards write is the same file: each run writes its own
``runs/<name>/run.json`` (atomically, when it ends); an arm's learning-rate search is
run by the first shard to reach it (it creates ``lr-search/<arm>.lock``) and read by
the others from ``lr-search/<arm>.json`` (every shard needs every arm's search before its
first run: the budget the searches set aside is every arm's), and so is ``eval-sample.json`` (how much of
the validation text every run is scored on), and so is each ``size: auto`` arm's shape
(``sizing/``, which a seconds budget would otherwise turn into FLOPs at each host's own
speed); ``comparison.json`` names the comparison
and is written once, by whichever shard comes first. The shard that finds every run
done when it ends takes ``merge.lock`` and writes results.json and the report;
``roundtable report DIR`` merges whatever is there at any time, marking runs not yet
done as pending. While it runs, each shard's process leaves ``hosts/<host>-<pid>.json``:
shards started on one machine find each other there and divide its cores
(``core.threads.divided``), as two torch processes with every core each slow each other
4-5x.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

from roundtable.core import dist, threads
from roundtable.core.errors import Interrupted, UserError
from roundtable.core.stopping import STOP
from roundtable.forecast.ladder import extra_shares
from roundtable.results import COMPARISON, RESULTS, RUN_FILE, read_json, write_json

logger = logging.getLogger(__name__)

WAIT_SECONDS = 2.0
SAMPLE_FILE = "eval-sample.json"
HOSTS = "hosts"
"""Where each running shard's process leaves a marker naming its host: siblings on one host divide its cores."""


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` with 0 <= K < N: Slurm's ``$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT``
    (an array ``--array=0-(N-1)``) and Kubernetes' ``$JOB_COMPLETION_INDEX/N``."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not int(m.group(1)) < int(m.group(2)):
        raise UserError(f"--shard {text!r}: give K/N with 0 <= K < N, e.g. 0/4")
    return int(m.group(1)), int(m.group(2))


def _create(path: Path) -> bool:
    """Create ``path`` if nobody has: True for the one process that did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


class Shard:
    """One shard of a ``Comparison`` (already prepared)."""

    def __init__(self, comp, spec: str, settings: dict):
        self.comp = comp
        self.settings = settings
        """The command's settings, kept in comparison.json so ``report`` can merge alone."""
        self.k, self.n = parse_shard(spec)
        self.out: Path = comp.out

    def units(self) -> list[tuple[str, int, float, float]]:
        """Every run of the comparison, (arm, seed, fraction, budget share), in one fixed order."""
        cfg = self.comp.cfg
        units = [(a.name, s, f, 1.0) for f in cfg.fractions for s in range(cfg.seeds) for a in cfg.arms]
        if cfg.forecast_budget:
            top = max(cfg.fractions)
            units += [(a.name, s, top, share) for a in cfg.arms for share in extra_shares(a.schedule)
                      for s in range(cfg.seeds)]
        return units

    def run_file(self, unit) -> Path:
        arm, seed, fraction, share = unit
        return self.out / "runs" / self.comp.run_dir_name(arm, seed, fraction, share) / RUN_FILE

    def claim(self) -> None:
        """Join the comparison in --out, or start it; a different comparison is refused."""
        key = self.comp.config_key()
        path = self.out / COMPARISON
        if dist.is_main() and _create(path.with_suffix(".lock")):
            write_json(path, {"config_key": key, "shards": self.n, "settings": self.settings})
        deadline = time.monotonic() + 60
        while not path.is_file():  # the shard that created the lock is writing it
            if time.monotonic() > deadline:
                raise UserError(f"--out {self.out}: {COMPARISON}.lock exists but no {COMPARISON}; remove the lock")
            time.sleep(0.2)
        old = read_json(path)
        if old.get("config_key") != key or old.get("shards") != self.n:
            raise UserError(f"--out {self.out} holds shards of a different comparison; give another --out")

    def _once(self, result: Path, compute, waiting: str) -> dict:
        """``compute()`` run by the first shard that needs it (it creates ``result``'s
        lock) and written to ``result``; the others wait for that file and read it."""
        # under torchrun the main process takes the lock and every process of the shard computes
        ours = not result.is_file() and dist.is_main() and _create(result.with_suffix(".lock"))
        if dist.all_max([float(ours)])[0]:
            found = compute()
            if dist.is_main():
                write_json(result, found)
            dist.barrier()
        waited = False
        while not result.is_file():
            if not waited:
                logger.info(f"  waiting for another shard's {waiting}")
                waited = True
            time.sleep(WAIT_SECONDS)
        return read_json(result)

    def rate(self, arm) -> None:
        """The arm's searched learning rate: searched here, or by the shard that got there first."""
        found = self._once(self.out / "lr-search" / f"{arm.name}.json", lambda: self.comp.search_arm(arm),
                           f"learning-rate search of {arm.name}")
        self.comp.search[arm.name] = found
        self.comp.use_rate(arm.name, found["chosen_rate"])

    def sample(self) -> None:
        """The validation text every run is scored on: sized here, or by the shard that got there first."""
        self.comp.apply_sample(self._once(self.out / SAMPLE_FILE, self.comp.size_sample, "scoring-speed probe"))

    def run(self) -> tuple[dict, bool]:
        """Run this shard's runs; returns (results merged so far, whether this shard wrote them).
        Shards on one host divide its cores between them (core/threads.py) unless
        ``--threads`` says how many threads each takes."""
        self.claim()
        with threads.divided(self.out / HOSTS, f"shard{self.k}-rank{dist.rank()}", self.comp.cfg.threads):
            return self._run()

    def _run(self) -> tuple[dict, bool]:
        self.comp.agree_sizes()
        self.sample()
        arms = {a.name: a for a in self.comp.cfg.arms}
        mine = self.units()[self.k :: self.n]
        logger.info(f"shard {self.k}/{self.n}: {len(mine)} of {len(self.units())} runs")
        with STOP.installed():
            todo = {unit[0] for unit in mine if not self.run_file(unit).is_file()}
            # an arm's search sets aside its own budget only (Comparison.reserve): this shard searches
            # the arms it runs; each shard starts with another arm, so they search side by side
            order = [a for a in arms.values() if a.name in todo]
            for arm in order[self.k % max(len(order), 1):] + order[: self.k % max(len(order), 1)]:
                self.rate(arm)
            for unit in mine:
                if self.run_file(unit).is_file():
                    continue  # done by an earlier try of this shard
                if STOP.requested:
                    raise Interrupted("stopped between runs")
                arm, seed, fraction, share = unit
                logger.info(f"[shard {self.k}/{self.n}] {self.comp.run_dir_name(arm, seed, fraction, share)}")
                record = self.comp.run_one(arms[arm], seed, fraction, share)
                if dist.is_main():
                    write_json(self.run_file(unit), record)
                dist.barrier()
        results = self.merge(write=False)
        if results["complete"] and dist.is_main() and _create(self.out / "merge.lock"):
            return self.merge(write=True), True
        return results, False

    def merge(self, write: bool) -> dict:
        """results.json from the runs done so far; runs not done are marked pending."""
        runs, ladder = [], []
        for unit in self.units():
            arm, seed, fraction, share = unit
            f = self.run_file(unit)
            r = read_json(f) if f.is_file() else {"arm": arm, "seed": seed, "fraction": fraction,
                                                  "budget_share": share, "status": "pending"}
            (runs if share == 1.0 else ladder).append(r)
        for f in sorted((self.out / "lr-search").glob("*.json")):
            self.comp.search[f.stem] = read_json(f)
        self.comp.ladder = ladder
        if (self.out / SAMPLE_FILE).is_file():
            self.comp.sample = read_json(self.out / SAMPLE_FILE)
        complete = all(r["status"] != "pending" for r in runs + ladder)
        if complete and write:
            self.comp.apply_keep_policy(runs)
        results = self.comp.results(runs, complete=complete)
        if write:
            write_json(self.out / RESULTS, results)
        return results

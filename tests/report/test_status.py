"""status.py: `roundtable status DIR` on a real comparison's folder, then on that folder
as it looks mid-comparison (a run in progress with a checkpoint and a TensorBoard log,
a run not started, a diverged run)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import pytest

import roundtable
from roundtable.report.status import read_status
from roundtable.results import COMPARISON, RUN_FILE, STATE_FILE, write_json
from tests.helpers import finished_run, results_stub

ARMS = ["scratch-lstm", "scratch-transformer"]
MAX_STEPS = 4


@pytest.fixture(scope="module")
def finished(tmp_path_factory, lm_files, tiny_config):
    """A real comparison: 2 scratch arms x 2 data fractions, 4 steps each."""
    train, valid = lm_files
    out = tmp_path_factory.mktemp("status") / "out"
    roundtable.compare(task="lm", data=train, valid=valid, arms=ARMS, fractions=[0.5, 1.0], max_steps=MAX_STEPS,
                       lr_search=0, curve_eval_bytes=1500, config=tiny_config, out=out, device="cpu",
                       no_progress=True, log=None)
    return out


@pytest.fixture
def midway(finished, tmp_path):
    """The finished folder rewound: frac 1 runs have no entry yet, scratch-lstm frac 1 is
    at step 3 (checkpoint at step 2), scratch-transformer frac 1 has not started, and
    scratch-transformer frac 0.5 diverged."""
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    results["runs"] = [r for r in results["runs"] if r["fraction"] == 0.5]
    diverged = results["runs"][1]
    for k in ("final", "curve", "steps", "train_seconds", "generation", "samples", "checkpoint_bytes"):
        diverged.pop(k)
    diverged.update(status="diverged", diverged_step=3, error="loss became nan at step 3")
    results["complete"], results["verdict"] = False, None
    write_json(out / "results.json", results)
    for arm in ARMS:
        shutil.rmtree(out / "runs" / f"{arm}-seed0-frac1", ignore_errors=True)
        shutil.rmtree(out / "tensorboard" / f"{arm}-seed0-frac1")
    ckpt = out / "runs" / "scratch-lstm-seed0-frac1" / "checkpoints" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    curve = [{"step": 0, "valid_bits_per_byte": 8.0, "subset_bits_per_byte": 8.0},
             {"step": 2, "subset_bits_per_byte": 5.25}]
    (ckpt / STATE_FILE).write_text(json.dumps({"spent_seconds": 0.5, "curve": curve}), encoding="utf-8")
    (out / "runs" / "scratch-lstm-seed0-frac1" / "checkpoints" / "checkpoint-3").mkdir()  # being written: no state yet
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(out / "tensorboard" / "scratch-lstm-seed0-frac1")) as w:
        for step in (1, 3):
            w.add_scalar("train/loss", 5.0, step)
    return out


def test_finished_comparison_every_run_done_with_its_score(finished, run_cli):
    results = json.loads((finished / "results.json").read_text(encoding="utf-8"))
    status = read_status(finished)
    assert status.complete and status.task == "lm"
    assert [(r.name, r.status, r.step, r.progress) for r in status.runs] == [
        (f"{a}-seed0-frac{f}", "done", MAX_STEPS, 1.0) for f in ("0.5", "1") for a in ARMS]
    assert [r.bits_per_byte for r in status.runs] == [r["final"]["valid_bits_per_byte"] for r in results["runs"]]
    rc, out, err = run_cli(["status", finished])
    assert rc == 0 and not err
    assert f"{finished}: lm, 4 runs: 4 done\n" in out
    assert re.search(r"scratch-lstm-seed0-frac0\.5\s+done\s+100%\s+4\s+\d\.\d{3}", out), out


def test_midway_done_running_pending_diverged(midway, run_cli):
    rc, out, err = run_cli(["status", midway, "--json"])
    assert rc == 0 and not err
    s = json.loads(out)
    assert s["counts"] == {"done": 1, "running": 1, "stopped": 0, "pending": 1, "diverged": 1, "failed": 0}
    assert s["stopped"] is None
    assert s["complete"] is False
    rows = {r["name"]: r for r in s["runs"]}
    assert list(rows) == ["scratch-lstm-seed0-frac0.5", "scratch-transformer-seed0-frac0.5",
                          "scratch-lstm-seed0-frac1", "scratch-transformer-seed0-frac1"]
    assert rows["scratch-transformer-seed0-frac0.5"]["status"] == "diverged"
    assert rows["scratch-transformer-seed0-frac0.5"]["error"] == "loss became nan at step 3"
    running = rows["scratch-lstm-seed0-frac1"]
    # step 3 from TensorBoard; a step budget of 4: 3/4 spent; the curve point of the step-2 checkpoint
    assert (running["status"], running["step"], running["progress"], running["bits_per_byte"]) == (
        "running", 3, 0.75, 5.25)
    assert 0 <= running["updated_seconds_ago"] < 600
    assert rows["scratch-transformer-seed0-frac1"] == {
        "name": "scratch-transformer-seed0-frac1", "arm": "scratch-transformer", "seed": 0, "fraction": 1.0,
        "status": "pending", "step": None, "progress": None, "bits_per_byte": None, "updated_seconds_ago": None,
        "error": None, "note": None}
    rc, table, _ = run_cli(["status", midway])
    assert "4 runs: 1 done, 1 running, 1 pending, 1 diverged (not complete)" in table
    assert re.search(r"scratch-lstm-seed0-frac1\s+running\s+75%\s+3\s+5\.250\s+\d+s ago", table), table


def test_wall_clock_budget_progress_and_learning_rate_search(tmp_path):
    """Spent seconds from the newest complete checkpoint over the budget; the search phase."""
    config = {"arms": [{"name": "finetune"}, {"name": "scratch-lstm"}], "seeds": 2, "fractions": [1.0],
              "budget": {"seconds": 120.0, "max_steps": None}}
    rung = finished_run("scratch-lstm", steps=9, budget_share=0.25, run_dir="runs/scratch-lstm-seed0-frac1-budget0.25",
                        final={"valid_bits_per_byte": 3.5})
    search = {"arm": "finetune", "recipe_rate": 5e-5, "chosen_rate": 5e-5, "kept_recipe": True, "reason": "search off",
              "seconds": 0.0, "candidates": []}
    write_json(tmp_path / "results.json", results_stub(task="summarize", ladder=[rung], lr_search={"finetune": search},
                                                       config=config))
    # a forecast rung at half the budget (60 s), 30 s spent
    half = tmp_path / "runs" / "finetune-seed0-frac1-budget0.5" / "checkpoints" / "checkpoint-5"
    half.mkdir(parents=True)
    (half / STATE_FILE).write_text(json.dumps({"spent_seconds": 30.0, "curve": []}), encoding="utf-8")
    ckpt = tmp_path / "runs" / "finetune-seed1-frac1" / "checkpoints" / "checkpoint-40"
    ckpt.mkdir(parents=True)
    (ckpt / STATE_FILE).write_text(json.dumps({"spent_seconds": 30.0, "curve": []}), encoding="utf-8")
    (tmp_path / "runs" / "scratch-lstm-seed1-frac1" / "model").mkdir(parents=True)  # trained, being scored
    (tmp_path / "lr-search" / "scratch-lstm" / "lr0.01").mkdir(parents=True)
    status = read_status(tmp_path, now=(ckpt / STATE_FILE).stat().st_mtime + 5)
    assert [(r.name, r.status, r.progress, r.step) for r in status.runs] == [
        ("finetune-seed0-frac1", "pending", None, None), ("scratch-lstm-seed0-frac1", "pending", None, None),
        ("finetune-seed1-frac1", "running", 0.25, 40), ("scratch-lstm-seed1-frac1", "running", 1.0, 0),
        ("scratch-lstm-seed0-frac1-budget0.25", "done", 1.0, 9), ("finetune-seed0-frac1-budget0.5", "running", 0.5, 5)]
    assert status.runs[2].updated_seconds_ago == pytest.approx(5, abs=1)
    assert status.searching == "scratch-lstm (1 rate tried or under way)"
    assert "learning-rate search under way: scratch-lstm" in status.table()


def test_progress_is_over_the_training_budget_once_the_search_has_set_its_share_aside(tmp_path):
    """The LSTM's three 10% slices ran: it trains on 84 s of a 120 s budget, so 42 s is half;
    the fine-tune arm's slice was too short to run: it trains on all 120 s, 42 s is 35%."""
    config = {"arms": [{"name": "scratch-lstm"}, {"name": "finetune"}], "budget": {"seconds": 120.0},
              "lr_search": {"share": 0.1}}
    ran = [{"learning_rate": r, "steps": 40, "subset_bits_per_byte": 4.0, "status": "ok"} for r in (0.01, 0.003, 0.03)]
    search = {"arm": "scratch-lstm", "recipe_rate": 0.01, "chosen_rate": 0.01, "kept_recipe": True, "reason": "",
              "seconds": 36.0, "candidates": ran}
    none = {**search, "arm": "finetune", "seconds": 0.0,
            "candidates": [{"learning_rate": 5e-5, "steps": 2, "subset_bits_per_byte": None, "status": "not run"}]}
    write_json(tmp_path / "results.json",
               results_stub(lr_search={"scratch-lstm": search, "finetune": none}, config=config))
    for arm in ("scratch-lstm", "finetune"):
        ckpt = tmp_path / "runs" / f"{arm}-seed0-frac1" / "checkpoints" / "checkpoint-40"
        ckpt.mkdir(parents=True)
        (ckpt / STATE_FILE).write_text(json.dumps({"spent_seconds": 42.0, "curve": []}), encoding="utf-8")
    runs = {r.arm: r for r in read_status(tmp_path).runs}
    assert (runs["scratch-lstm"].status, runs["scratch-lstm"].progress) == ("running", pytest.approx(0.5))
    assert (runs["finetune"].status, runs["finetune"].progress) == ("running", pytest.approx(0.35))


def test_progress_under_a_byte_budget_is_the_bytes_trained_on(tmp_path):
    """The checkpoint records the bytes of text trained on: 2,500 of a 10 kB budget is 25%."""
    config = {"arms": [{"name": "scratch-lstm"}], "budget": {"seconds": None, "bytes": 10_000.0}}
    write_json(tmp_path / "results.json", results_stub(config=config))
    ckpt = tmp_path / "runs" / "scratch-lstm-seed0-frac1" / "checkpoints" / "checkpoint-20"
    ckpt.mkdir(parents=True)
    (ckpt / STATE_FILE).write_text(json.dumps({"spent_seconds": 99.0, "spent_bytes": 2500.0, "curve": []}),
                                   encoding="utf-8")
    (run,) = read_status(tmp_path).runs
    assert (run.status, run.progress) == ("running", pytest.approx(0.25))


def test_a_shard_midway_from_its_run_files(tmp_path, lm_files, tiny_config):
    """Shard 0 of 2 has run its runs (runs/<name>/run.json; no results.json, since the
    other shard's runs are not done), shard 1 is in its first run."""
    train, valid = lm_files
    out = tmp_path / "out"
    partial = roundtable.compare(task="lm", data=train, valid=valid, arms=ARMS, seeds=2, max_steps=MAX_STEPS,
                                 lr_search=0, curve_eval_bytes=1500, config=tiny_config, out=out, device="cpu",
                                 no_progress=True, log=None, shard="0/2")
    assert not partial.complete and [r.status for r in partial.runs] == ["ok", "pending", "ok", "pending"]
    assert not (out / "results.json").exists() and (out / COMPARISON).is_file()
    # the names status reads are those a shard's finished runs were written under
    assert sorted(p.parent.name for p in (out / "runs").glob(f"*/{RUN_FILE}")) == [
        "scratch-lstm-seed0-frac1", "scratch-lstm-seed1-frac1"]
    (out / "tensorboard" / "scratch-transformer-seed0-frac1").mkdir(parents=True)  # shard 1 has just started
    status = read_status(out)
    assert status.task == "lm" and not status.complete
    assert [(r.name, r.status) for r in status.runs] == [
        ("scratch-lstm-seed0-frac1", "done"), ("scratch-transformer-seed0-frac1", "running"),
        ("scratch-lstm-seed1-frac1", "done"), ("scratch-transformer-seed1-frac1", "pending")]
    assert [r.bits_per_byte for r in status.runs if r.status == "done"] == [
        r.bits_per_byte for r in partial.runs if r.status == "ok"]


def test_no_comparison_is_one_line_and_exit_2(tmp_path, run_cli):
    rc, out, err = run_cli(["status", tmp_path])
    assert rc == 2 and err.strip() == f"roundtable: error: no results.json in {tmp_path}: no comparison has started there"


def _set_mtime(folder, t: float) -> None:
    for p in [folder, *folder.rglob("*")]:
        os.utime(p, (t, t))


def test_a_comparison_stopped_by_sigterm_shows_stopped_at_its_checkpoint_and_resume(tmp_path, run_cli):
    """What a SIGTERM leaves (tests/comparison/test_resume.py makes it for real): results.json not
    complete, the stopped run's one checkpoint, its TensorBoard log, and stopped.json
    written last. The run is stopped at its checkpoint (30 s of a 120 s budget: 25%), not
    "running 100%"; once a resumed session writes to its folder, it is running again."""
    from roundtable.report.status import STOPPED

    config = {"arms": [{"name": "scratch-lstm"}], "seeds": 2, "budget": {"seconds": 120.0}}
    write_json(tmp_path / "results.json", results_stub(config=config, runs=[finished_run("scratch-lstm", seed=0)]))
    run = tmp_path / "runs" / "scratch-lstm-seed1-frac1"
    ckpt = run / "checkpoints" / "checkpoint-40"
    ckpt.mkdir(parents=True)
    curve = [{"step": 0, "valid_bits_per_byte": 8.0}, {"step": 40, "subset_bits_per_byte": 4.5}]
    (ckpt / STATE_FILE).write_text(json.dumps({"spent_seconds": 30.0, "curve": curve}), encoding="utf-8")
    (tmp_path / "tensorboard" / "scratch-lstm-seed1-frac1").mkdir(parents=True)
    t = time.time() - 600
    _set_mtime(run, t)
    _set_mtime(tmp_path / "tensorboard", t)
    write_json(tmp_path / STOPPED, {"signal": "SIGTERM", "time": "2025-01-01T00:00:00+00:00"})
    os.utime(tmp_path / STOPPED, (t + 0.5, t + 0.5))

    status = read_status(tmp_path)
    row = status.runs[1]
    assert (row.name, row.status, row.progress, row.step, row.bits_per_byte) == (
        "scratch-lstm-seed1-frac1", "stopped", pytest.approx(0.25), 40, 4.5)
    assert row.note == "stopped at step 40; continue with the same command and --resume"
    assert status.stopped == "SIGTERM" and status.counts()["stopped"] == 1 and status.counts()["running"] == 0
    rc, out, _ = run_cli(["status", tmp_path])
    assert rc == 0 and "stopped by SIGTERM: continue with the same command and --resume" in out
    assert re.search(r"scratch-lstm-seed1-frac1\s+stopped\s+25%\s+40\s+4\.500\s+\d+s ago\s+stopped at step 40", out)

    _set_mtime(run, t + 60)  # a resumed session trains it again
    status = read_status(tmp_path)
    assert status.runs[1].status == "running" and status.stopped is None and status.runs[1].note is None

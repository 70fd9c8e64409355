"""Stop and resume: SIGTERM checkpoints and exits; SIGKILL never leaves results that
look complete; --resume finishes the same set of runs with sane curves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roundtable.report.status import read_status
from tests.helpers import results_stub

ARMS = ["scratch-lstm", "scratch-transformer"]
SEEDS = 2


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from pydoc_data.topics import topics

    d = tmp_path_factory.mktemp("resume-data")
    texts = [topics[k] for k in sorted(topics)]
    (d / "train.txt").write_text("\n\n".join(texts[:20]), encoding="utf-8")
    (d / "valid.txt").write_text("\n\n".join(texts[20:23])[:6000], encoding="utf-8")
    (d / "config.yaml").write_text(
        "arm_settings:\n"
        "  scratch-lstm: {lstm_hidden: 32, lstm_embed: 32, block_size: 64, batch_size: 8}\n"
        "  scratch-transformer: {n_layer: 1, n_embd: 32, n_head: 2, block_size: 64, batch_size: 8}\n",
        encoding="utf-8",
    )
    return d


def _cmd(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "roundtable", "compare", "--task", "lm", "--data", str(data / "train.txt"),
        "--valid", str(data / "valid.txt"), "--config", str(data / "config.yaml"), "--arms", ",".join(ARMS),
        "--seeds", str(SEEDS), "--budget", "3s", "--curve-points", "3", "--curve-eval-bytes", "2000",
        "--out", str(out), "--no-progress", *extra,
    ]


def _start(cmd) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_training(out: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while not (out / "runs").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout
        time.sleep(0.2)


def _check_complete(out: Path) -> None:
    results = json.loads((out / "results.json").read_text())
    assert results["complete"] is True
    keys = sorted((r["arm"], r["seed"]) for r in results["runs"])
    assert keys == sorted((a, s) for a in ARMS for s in range(SEEDS))  # every run, once
    for r in results["runs"]:
        assert r["status"] == "ok", r.get("error")
        steps = [p["step"] for p in r["curve"]]
        assert steps[0] == 0 and r["curve"][0]["seconds"] == 0
        assert all(b > a for a, b in zip(steps, steps[1:])), steps  # no duplicate or backwards points
        secs = [p["seconds"] for p in r["curve"]]
        assert all(b >= a for a, b in zip(secs, secs[1:])), secs
        assert r["curve"][-1]["scope"] == "full"
        assert r["final"]["valid_bits_per_byte"] < 8.1  # trained below a uniform guess
        assert not (out / r["run_dir"] / "checkpoints").exists()  # resume checkpoints are cleaned up


@pytest.mark.slow
def test_sigterm_checkpoints_then_resume_completes(data, tmp_path):
    out = tmp_path / "out"
    proc = _start(_cmd(data, out))
    _wait_for_training(out, proc)
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err
    partial = json.loads((out / "results.json").read_text())
    assert partial["complete"] is False
    assert len(partial["runs"]) < len(ARMS) * SEEDS
    # the interrupted run left exactly one complete checkpoint to resume from
    ckpts = list((out / "runs").glob("*/checkpoints/checkpoint-*"))
    assert len(ckpts) == 1 and (ckpts[0] / "roundtable_state.json").is_file()
    # status reads that checkpoint as training wrote it: its step and its last curve score
    status = read_status(out)
    row = next(r for r in status.runs if r.name == ckpts[0].parent.parent.name)
    assert row.step >= int(ckpts[0].name.split("-")[-1]) and row.bits_per_byte is not None
    # stopped, not running: at its checkpoint, with the way to continue named
    assert (out / "stopped.json").is_file() and status.stopped == "SIGTERM"
    assert row.status == "stopped" and row.step == int(ckpts[0].name.split("-")[-1]), row
    assert row.note == f"stopped at step {row.step}; continue with the same command and --resume"
    assert not any(r.status == "running" for r in status.runs) and "--resume" in status.table()

    done = subprocess.run(_cmd(data, out, "--resume"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    _check_complete(out)


@pytest.mark.slow
def test_sigkill_at_several_moments_never_looks_complete(data, tmp_path):
    out = tmp_path / "out"
    for delay in (0.5, 2.5, 4.5):
        proc = _start(_cmd(data, out, "--resume"))
        _wait_for_training(out, proc)
        time.sleep(delay)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
            results = out / "results.json"
            if results.exists():
                assert json.loads(results.read_text())["complete"] is False
            for model in out.glob("runs/*/model"):  # a model folder, once renamed into place, is whole
                assert (model / "model.safetensors").is_file() and (model / "config.json").is_file()
        else:
            proc.communicate()
    done = subprocess.run(_cmd(data, out, "--resume"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    _check_complete(out)


def test_out_folder_with_another_comparison_is_refused(data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps(results_stub(config_key={"other": 1})))
    for extra in ([], ["--resume"]):
        done = subprocess.run(_cmd(data, out, *extra), capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("roundtable: error:")

"""shard.py: two shards of one comparison, run at once as separate processes, merge into
the results an unsharded comparison gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from roundtable.comparison.shards import parse_shard
from roundtable.core.errors import UserError
from tests.helpers import write_paragraphs, write_yaml

ARMS = "scratch-lstm,scratch-transformer"


def test_parse_shard():
    assert parse_shard("0/4") == (0, 4) and parse_shard(" 3 / 4 ") == (3, 4)
    for bad in ("4/4", "1", "-1/2", "a/b"):
        with pytest.raises(UserError):
            parse_shard(bad)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, paragraphs):
    d = tmp_path_factory.mktemp("shard")
    train = write_paragraphs(d / "train.txt", paragraphs[:60])
    valid = write_paragraphs(d / "valid.txt", paragraphs[1200:1210])
    config = write_yaml(d / "c.yaml", {"context_bytes": 32, "arm_settings": {
        "scratch-lstm": {"lstm_embed": 16, "lstm_hidden": 16, "batch_size": 4},
        "scratch-transformer": {"n_layer": 1, "n_embd": 16, "n_head": 2, "batch_size": 4}}})
    return d, train, valid, config


def cmd(setup, out, *extra):
    d, train, valid, config = setup
    return [sys.executable, "-m", "roundtable", "compare", "--task", "lm", "--data", str(train), "--valid", str(valid),
            "--arms", ARMS, "--seeds", "2", "--max-steps", "6", "--curve-points", "1", "--config", str(config),
            "--out", str(out), "--no-progress", "--device", "cpu", *extra]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.mark.slow
def test_two_concurrent_shards_merge_into_the_unsharded_results(setup, tmp_path):
    out = tmp_path / "sharded"
    procs = [subprocess.Popen(cmd(setup, out, "--shard", f"{k}/2"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=ENV) for k in (0, 1)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, e) in zip(procs, outs):
        assert p.returncode == 0, e[-3000:]
    merged = json.loads((out / "results.json").read_text())
    assert merged["complete"] is True
    assert sum("results:" in o for o, _ in outs) == 1  # exactly one shard merged and wrote the results
    # each run was run by one shard: every run folder holds its own run.json
    names = sorted(p.parent.name for p in out.glob("runs/*/run.json"))
    assert len(names) == 4 and len(set(names)) == 4  # 2 arms x 2 seeds
    # the learning-rate search ran once per arm, whichever shard got there first
    assert sorted(p.stem for p in (out / "lr-search").glob("*.json")) == sorted(ARMS.split(","))
    # so was the sizing of the scored validation text: every shard scored the same bytes
    assert merged["eval_sample"] == json.loads((out / "eval-sample.json").read_text())
    # each shard left a marker naming its host while it ran (siblings divide the host's cores), and took it away
    assert (out / "hosts").is_dir() and not list((out / "hosts").iterdir())
    assert all(r["cores"] >= 1 and r["threads"] == 1 for r in merged["runs"])  # OMP_NUM_THREADS=1 caps the share

    single = tmp_path / "single"
    done = subprocess.run(cmd(setup, single), capture_output=True, text=True, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    alone = json.loads((single / "results.json").read_text())
    key = lambda r: (r["arm"], r["seed"], r["fraction"])  # noqa: E731
    assert sorted(map(key, merged["runs"])) == sorted(map(key, alone["runs"]))
    finals = {key(r): r["final"]["valid_bits_per_byte"] for r in alone["runs"]}
    for r in merged["runs"]:  # --max-steps on CPU, the same seeds: the same numbers
        assert r["final"]["valid_bits_per_byte"] == pytest.approx(finals[key(r)], abs=1e-6)
    for k in ("winner", "runner_up", "separated"):
        assert merged["verdict"][k] == alone["verdict"][k]
    assert merged["verdict"]["margin"] == pytest.approx(alone["verdict"]["margin"], abs=1e-6)
    assert (out / "report.html").is_file()


def test_a_shard_of_another_comparison_is_refused(setup, tmp_path, run_cli):
    out = tmp_path / "out"
    out.mkdir()
    (out / "comparison.json").write_text(json.dumps({"config_key": {"other": 1}, "shards": 2, "settings": {}}))
    (out / "comparison.lock").write_text("")
    rc, _, err = run_cli(cmd(setup, out, "--shard", "0/2")[3:])
    assert rc == 2 and err.count("\n") == 1 and "different comparison" in err, err


def test_report_merges_a_partial_sharded_comparison_with_pending_runs(setup, tmp_path, run_cli):
    out = tmp_path / "out"
    rc, _, err = run_cli(cmd(setup, out, "--shard", "0/4")[3:])
    assert rc == 0, err
    assert not (out / "results.json").exists()  # three shards still to come: nobody merged
    rc, _, err = run_cli(["report", str(out)])
    assert rc == 0, err
    results = json.loads((out / "results.json").read_text())
    assert results["complete"] is False and results["verdict"] is None
    statuses = sorted(r["status"] for r in results["runs"])
    assert statuses.count("ok") == 1 and statuses.count("pending") == 3  # one of four runs is shard 0's


def test_a_sized_arm_trains_the_first_shape_chosen_in_its_out_folder(tmp_path, monkeypatch):
    """Under a wall-clock budget each process turns seconds into FLOPs at the peak it
    measures: a shard on a slower or busier host, or a resumed session, would choose
    another shape for the same arm. The first choice in --out is everyone's."""
    from types import SimpleNamespace

    from roundtable.comparison import prepare
    from roundtable.comparison.settings import compare_config

    cfg = compare_config({"task": "lm", "data": "x.txt", "budget": "120s", "arms": "scratch-transformer",
                          "out": str(tmp_path)})
    (arm,) = cfg.arms
    assert arm.size == "auto"
    arm = prepare.replace(arm, block_size=128)
    data = SimpleNamespace(n_tokens=1_000_000, bytes_per_token=1.0)
    chosen = []
    for peak in (1e9, 1e12):  # a machine 1000x faster chooses a much larger model on its own
        monkeypatch.setattr(prepare, "flops_per_second", lambda device, precision, p=peak: p)
        sized, record = prepare.size_arm(cfg, arm, data, 259, "cpu", "fp32")
        own = record["shape"]
        prep = SimpleNamespace(arm=sized, sizing=record)
        prepare.agree_sizes(tmp_path, cfg, {(arm.name, 1.0): prep})
        chosen.append((own, prep.sizing["shape"], (prep.arm.n_layer, prep.arm.n_embd, prep.arm.n_head)))
    (first, first_kept, first_shape), (second, second_kept, second_shape) = chosen
    assert second != first  # the faster process alone would have trained another shape
    assert second_kept == first_kept == first and second_shape == first_shape

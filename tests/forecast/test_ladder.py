"""ladder.py: the comparison's forecast, end to end on a tiny CPU comparison."""

from __future__ import annotations

import json

import pytest

from roundtable.config.settings import BudgetConfig
from roundtable.core.errors import UserError
from roundtable.forecast.ladder import forecast_target
from tests.helpers import write_paragraphs, write_yaml


def test_forecast_target_parses_multiples_and_durations():
    assert forecast_target("4x", BudgetConfig(seconds=120)) == (480.0, "s")
    assert forecast_target("2h", BudgetConfig(seconds=120)) == (7200.0, "s")
    assert forecast_target("10x", BudgetConfig(seconds=None, max_steps=50)) == (500.0, "steps")
    with pytest.raises(UserError, match="multiple"):
        forecast_target("2h", BudgetConfig(seconds=None, max_steps=50))
    with pytest.raises(UserError, match="larger than the budget"):
        forecast_target("60s", BudgetConfig(seconds=120))


def test_a_tiny_forecast_end_to_end(tmp_path, paragraphs, run_cli):
    train = write_paragraphs(tmp_path / "train.txt", paragraphs[:200])
    valid = write_paragraphs(tmp_path / "valid.txt", paragraphs[1200:1230])
    config = write_yaml(tmp_path / "c.yaml", {"arm_settings": {
        "scratch-lstm": {"lstm_embed": 16, "lstm_hidden": 16, "batch_size": 4},
        "scratch-transformer": {"n_layer": 1, "n_embd": 16, "n_head": 2, "batch_size": 4}}})
    out = tmp_path / "out"
    rc, _, err = run_cli([
        "compare", "--task", "lm", "--data", train, "--valid", valid, "--arms", "scratch-lstm,scratch-transformer",
        "--max-steps", "40", "--forecast-budget", "4x", "--context-bytes", "32", "--curve-points", "0",
        "--lr-search", "0", "--config", config, "--out", out, "--no-progress", "--device", "cpu",
    ])
    assert rc == 0, err
    results = json.loads((out / "results.json").read_text())
    ladder = results["ladder"]
    # every arm at 1/4 and 1/2 of the budget, with its own schedule over its own steps
    assert sorted((r["arm"], r["budget_share"], r["steps"]) for r in ladder) == [
        ("scratch-lstm", 0.25, 10), ("scratch-lstm", 0.5, 20),
        ("scratch-transformer", 0.25, 10), ("scratch-transformer", 0.5, 20)]
    assert all(not (out / r["run_dir"] / "model").exists() for r in ladder)  # rungs keep no model
    assert {r["budget_share"] for r in results["runs"]} == {1.0}  # the verdict's runs are the full budget's
    f = results["forecast"]
    assert f["target_seconds"] == 160 and f["unit"] == "steps"
    for arm in ("scratch-lstm", "scratch-transformer"):
        a = f["arms"][arm]
        assert a["metric"] == "valid_bits_per_byte"
        assert a["ci95"][0] <= a["ci80"][0] <= a["value"] <= a["ci80"][1] <= a["ci95"][1]
        assert [m["at"] for m in a["measured"]] == [10, 20, 40]
    # the backtest refits without the full budget and predicts what that run measured
    finals = {r["arm"]: r["final"]["valid_bits_per_byte"] for r in results["runs"]}
    assert {b["arm"]: b["actual"] for b in f["backtest"]} == pytest.approx(finals)
    assert results["verdict"]["forecast_sentence"].startswith("At 160 steps")
    assert results["verdict"]["forecast_sentence"] in results["verdict"]["sentence"]
    assert (out / "plots" / "forecast.png").is_file()  # the fan chart
    assert "plots/forecast.png" in (out / "report.md").read_text()

"""ladder.py: the comparison's forecast, end to end on a tiny CPU comparison."""

from __future__ import annotations

import json

import pytest

from roundtable.config.settings import BudgetConfig
from roundtable.core.errors import UserError
from roundtable.forecast.arm import MIN_STEPS
from roundtable.forecast.ladder import FORECAST_POINTS, forecast_target
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
        "--max-steps", "160", "--forecast-budget", "4x", "--context-bytes", "32", "--curve-points", "0",
        "--lr-search", "0", "--config", config, "--out", out, "--no-progress", "--device", "cpu",
    ])
    assert rc == 0, err
    results = json.loads((out / "results.json").read_text())
    # the LSTM's constant rate needs no extra run (its curve's prefixes are shorter runs); the
    # transformer's cosine gets one at a quarter of the budget, with its own full schedule
    ladder = results["ladder"]
    assert [(r["arm"], r["budget_share"], r["steps"]) for r in ladder] == [("scratch-transformer", 0.25, 40)]
    assert all(not (out / r["run_dir"] / "model").exists() for r in ladder)  # extra runs keep no model
    assert {r["budget_share"] for r in results["runs"]} == {1.0}  # the verdict's runs are the full budget's
    f = results["forecast"]
    # at most a quarter more training: here one arm of two at a quarter, in bytes
    extra = f["extra_training"]
    assert extra["runs"] == 1 and extra["share"] == pytest.approx(0.125, rel=0.02) and extra["share"] <= 0.25
    for r in results["runs"] + ladder:  # whole curves: every run has FORECAST_POINTS points between step 0 and its end
        assert len([p for p in r["curve"] if 0 < p["step"] < r["steps"]]) >= FORECAST_POINTS - 1
    assert f["target_seconds"] == 640 and f["unit"] == "steps"
    for arm in ("scratch-lstm", "scratch-transformer"):
        a = f["arms"][arm]
        assert a["metric"] == "valid_bits_per_byte" and a["problem"] is None
        assert a["ci95"][0] <= a["ci80"][0] <= a["value"] <= a["ci80"][1] <= a["ci95"][1]
        assert a["measured"][0]["at"] == 160 and len(a["curve"]) >= FORECAST_POINTS
        assert a["steps"] == pytest.approx(640)
    finals = {r["arm"]: r["final"]["valid_bits_per_byte"] for r in results["runs"]}
    assert {b["arm"]: b["actual"] for b in f["backtest"]} == pytest.approx(finals)
    assert all(b["from_share"] == 0.5 for b in f["backtest"])
    assert results["verdict"]["forecast_sentence"].startswith("At 640 steps")
    assert results["verdict"]["forecast_sentence"] in results["verdict"]["sentence"]
    assert (out / "plots" / "forecast.png").is_file()  # the fan chart
    md = (out / "report.md").read_text()
    assert md.index("plots/forecast.png") < md.index("plots/verdict.png")  # the report opens with it


def test_an_arm_too_short_to_fit_gets_no_forecast_and_the_reason(tmp_path, paragraphs, run_cli):
    train = write_paragraphs(tmp_path / "train.txt", paragraphs[:200])
    valid = write_paragraphs(tmp_path / "valid.txt", paragraphs[1200:1230])
    config = write_yaml(tmp_path / "c.yaml", {"arm_settings": {
        "scratch-transformer": {"n_layer": 1, "n_embd": 16, "n_head": 2, "batch_size": 4}}})
    out = tmp_path / "out"
    rc, _, err = run_cli([
        "compare", "--task", "lm", "--data", train, "--valid", valid, "--arms", "scratch-transformer",
        "--max-steps", "60", "--forecast-budget", "10x", "--context-bytes", "32", "--lr-search", "0",
        "--config", config, "--out", out, "--no-progress", "--device", "cpu",
    ])
    assert rc == 0, err
    results = json.loads((out / "results.json").read_text())
    # a quarter of 60 steps could not be fitted: the extra run is not trained, and the forecast says why
    assert results["ladder"] == [] and "no extra run at 0.25 of the budget" in err
    a = results["forecast"]["arms"]["scratch-transformer"]
    assert a["value"] is None and f"a quarter of its 60 steps is fewer than the {MIN_STEPS}" in a["problem"]
    assert "scratch-transformer cannot be forecast: its rate decays" in results["verdict"]["forecast_sentence"]


def test_an_arm_sized_to_its_budget_says_which_size_the_rule_would_train_at_the_target():
    from roundtable.arms.sizing import shape_for
    from roundtable.forecast.ladder import size_at_target

    trained = shape_for(3e11, 300_000, 260, 128)
    got = size_at_target([{"sizing": trained.to_dict()}], 10.0)
    at_target = shape_for(3e12, 300_000, 260, 128)  # ten times the FLOPs, the same text
    assert got == {"trained": str(trained.shape), "rule_at_target": str(at_target.shape),
                   "params_at_target": at_target.params, "budget_flops_at_target": 3e12}
    assert at_target.params > trained.params  # more compute, a larger model
    assert size_at_target([{"sizing": None}], 10.0) is None  # a fixed-size arm says nothing

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


def test_a_tiny_forecast_end_to_end(tmp_path, paragraphs, run_cli, monkeypatch):
    from roundtable.comparison import prepare

    # runs of 160 steps of models of 16 widths are still in their first transient, which
    # the gate withholds (test_transient.py, and the next test end to end): here, the machinery
    monkeypatch.setattr(prepare, "train_bigram", lambda cfg, corpus: None)
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


def _one_arm(tmp_path, paragraphs, run_cli, arm: str, settings: dict, steps: int, multiple: str) -> tuple[dict, str]:
    """A tiny comparison of one arm with a forecast: (results.json, stderr)."""
    train = write_paragraphs(tmp_path / "train.txt", paragraphs[:200])
    valid = write_paragraphs(tmp_path / "valid.txt", paragraphs[1200:1230])
    config = write_yaml(tmp_path / "c.yaml", {"arm_settings": {arm: settings}})
    out = tmp_path / "out"
    rc, _, err = run_cli([
        "compare", "--task", "lm", "--data", train, "--valid", valid, "--arms", arm, "--max-steps", str(steps),
        "--forecast-budget", multiple, "--context-bytes", "32", "--lr-search", "0", "--config", config,
        "--out", out, "--no-progress", "--device", "cpu",
    ])
    assert rc == 0, err
    return json.loads((out / "results.json").read_text()), err


def test_an_arm_too_short_to_fit_gets_no_forecast_and_the_reason(tmp_path, paragraphs, run_cli):
    results, err = _one_arm(tmp_path, paragraphs, run_cli, "scratch-transformer",
                            {"n_layer": 1, "n_embd": 16, "n_head": 2, "batch_size": 4}, 60, "10x")
    # a quarter of 60 steps could not be fitted: the extra run is not trained, and the forecast says why
    assert results["ladder"] == [] and "no extra run at 0.25 of the budget" in err
    a = results["forecast"]["arms"]["scratch-transformer"]
    assert a["value"] is None and f"a quarter of its 60 steps is fewer than the {MIN_STEPS}" in a["problem"]
    assert "scratch-transformer cannot be forecast: its rate decays" in results["verdict"]["forecast_sentence"]
    # the transient gate's bigram entropy of the training text is recorded: English prose's is 3-4 bits per byte
    assert 3.0 < results["forecast"]["bigram_bits_per_byte"] < 4.0


def test_a_run_still_in_its_first_transient_gets_no_forecast_end_to_end(tmp_path, paragraphs, run_cli):
    results, _ = _one_arm(tmp_path, paragraphs, run_cli, "scratch-lstm",
                          {"lstm_embed": 16, "lstm_hidden": 16, "batch_size": 4}, 80, "4x")
    f = results["forecast"]
    a, final = f["arms"]["scratch-lstm"], results["runs"][0]["final"]["valid_bits_per_byte"]
    assert final > f["bigram_bits_per_byte"]  # 80 steps of a 16-wide LSTM: not yet past byte pairs
    assert a["value"] is None and "not yet below" in a["problem"] and f"{final:.2f} bits per byte" in a["problem"]
    assert "scratch-lstm cannot be forecast: its score at the budget" in results["verdict"]["forecast_sentence"]


def test_an_arm_sized_to_its_budget_is_forecast_at_the_size_the_rule_chooses_at_the_target(tmp_path):
    from roundtable.arms.sizing import flops_for_tokens, shape_for
    from roundtable.forecast.ladder import build
    from roundtable.forecast.size import SizeTerm
    from roundtable.tasks import task_class
    from tests.helpers import finished_run

    trained = shape_for(flops_for_tokens(250_000), 300_000, 259, 128)
    steps = 240
    curve = [{"step": s, "subset_bits_per_byte": 1.0 + 3.0 * (s + 50) ** -0.3} for s in range(20, steps + 1, 20)]
    record = lambda arm, sizing: finished_run(  # noqa: E731
        arm, steps=steps, train_bytes=steps * 1024, curve=curve, sizing=sizing,
        recipe={"name": arm, "schedule": "constant"}, final={"valid_bits_per_byte": curve[-1]["subset_bits_per_byte"]})
    runs = [record("scratch-transformer", trained.to_dict()), record("scratch-lstm", None)]
    block = build(runs, [], task_class("lm")(), tmp_path, BudgetConfig(seconds=None, bytes=250_000), "10x",
                  {1.0: 300_000})
    auto, fixed = block["arms"]["scratch-transformer"], block["arms"]["scratch-lstm"]
    term = SizeTerm.from_record(trained.to_dict(), "bytes")
    rule = shape_for(flops_for_tokens(2_500_000), 300_000, 259, 128)  # the same tokens ten times over
    assert auto["size"]["trained"] == str(trained.shape) and auto["size"]["rule_at_target"] == str(rule.shape)
    assert auto["size"]["params_at_target"] == rule.params > trained.params
    # the same curves: the sized arm's forecast is the fixed one's plus the step to the rule's shape
    assert auto["value"] == pytest.approx(fixed["value"] + term.delta(10.0)) and term.delta(10.0) < 0
    assert any(f"forecast for {rule.shape}" in n for n in auto["notes"])
    assert "size" not in fixed
    from roundtable.forecast import forecast_sentence

    assert f"scratch-transformer (at {rule.shape}, the size chosen for that budget)" in forecast_sentence(block)
